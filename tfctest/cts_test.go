package tfctest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

func newCTSServer(t *testing.T, opts ...tfctest.CTSOption) *tfctest.CTSServer {
	t.Helper()
	s := tfctest.NewCTSServer(opts...)
	t.Cleanup(s.Close)
	return s
}

var webTask = tfc.CTSTask{Name: "web", Module: "path/to/module",
	Condition: tfc.CTSCondition{Services: &tfc.CTSServicesCondition{Names: []string{"web", "api"}}}}

func TestCTSTasks(t *testing.T) {
	s := newCTSServer(t)
	c := s.Client()

	created, err := c.Tasks.Create(ctx(t), webTask, "")
	if err != nil {
		t.Fatal(err)
	}
	if created.RequestID == "" || created.Task == nil || !created.Task.IsEnabled() || created.Task.BufferPeriod == nil ||
		created.Task.BufferPeriod.Min != 5*time.Second {
		t.Errorf("created %+v", created)
	}
	if _, err := c.Tasks.Create(ctx(t), webTask, ""); err == nil {
		t.Error("a second task named web was created")
	}
	inspected, err := c.Tasks.Create(ctx(t), tfc.CTSTask{Name: "db", Module: "m", Condition: tfc.CTSCondition{Schedule: &tfc.CTSScheduleCondition{Cron: "* * * * *"}}}, tfc.CTSRunInspect)
	if err != nil || inspected.Inspection == nil || !inspected.Inspection.ChangesPresent {
		t.Errorf("inspect: %+v %v", inspected, err)
	}
	if _, err := c.Tasks.Read(ctx(t), "db"); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("an inspection created the task: %v", err)
	}
	if _, err := c.Tasks.Create(ctx(t), tfc.CTSTask{Name: "db", Module: "m", Condition: tfc.CTSCondition{ConsulKV: &tfc.CTSConsulKVCondition{Path: "k"}}}, tfc.CTSRunNow); err != nil {
		t.Fatal(err)
	}

	list, err := c.Tasks.List(ctx(t))
	if err != nil || len(list.Tasks) != 2 || list.Tasks[0].Name != "web" {
		t.Errorf("list: %+v %v", list, err)
	}
	got, err := c.Tasks.Read(ctx(t), "web")
	if err != nil || got.Task.Condition.Kind() != "services" {
		t.Errorf("get: %+v %v", got, err)
	}
	upd, err := c.Tasks.Update(ctx(t), "web", tfc.CTSTaskUpdateOptions{Enabled: tfc.Ptr(false), Run: tfc.CTSRunInspect})
	if err != nil || upd.Inspection == nil {
		t.Errorf("update inspect: %+v %v", upd, err)
	}
	if _, err := c.Tasks.Update(ctx(t), "web", tfc.CTSTaskUpdateOptions{Enabled: tfc.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Tasks.Update(ctx(t), "nope", tfc.CTSTaskUpdateOptions{Enabled: tfc.Ptr(false)}); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("update of an unknown task: %v", err)
	}

	s.AddEvent("web", "terraform apply failed")
	s.AddEvent("web", "terraform apply failed again")
	if s.AddEvent("nope", "") {
		t.Error("AddEvent on an unknown task")
	}
	overall, err := c.Status(ctx(t))
	if err != nil || overall.Critical != 1 || overall.Successful != 1 || overall.Enabled != 1 || overall.Disabled != 1 {
		t.Errorf("status: %+v %v", overall, err)
	}
	statuses, err := c.Tasks.ListStatuses(ctx(t), &tfc.CTSTaskStatusListOptions{Status: tfc.CTSStatusCritical, IncludeEvents: true})
	if err != nil || len(statuses) != 1 || statuses["web"] == nil || len(statuses["web"].Events) != 2 ||
		statuses["web"].Events[0].Error.Message != "terraform apply failed again" || statuses["web"].EventsURL == "" {
		t.Errorf("statuses: %+v %v", statuses, err)
	}
	db, err := c.Tasks.ReadStatus(ctx(t), "db", nil)
	if err != nil || db.Status != tfc.CTSStatusSuccessful || len(db.Events) != 0 {
		t.Errorf("db status: %+v %v", db, err)
	}
	if _, err := c.Tasks.ReadStatus(ctx(t), "nope", nil); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("status of an unknown task: %v", err)
	}

	del, err := c.Tasks.Delete(ctx(t), "web")
	if err != nil || del.RequestID == "" {
		t.Errorf("delete: %+v %v", del, err)
	}
	if _, err := c.Tasks.Delete(ctx(t), "web"); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestCTSHealthAndCluster(t *testing.T) {
	s := newCTSServer(t)
	c := s.Client()
	if err := c.Health(ctx(t)); err != nil {
		t.Fatal(err)
	}
	s.SetHealthy(false)
	var apiErr *tfc.APIError
	if err := c.Health(ctx(t)); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unhealthy: %v", err)
	}
	if _, err := c.ClusterStatus(ctx(t)); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("cluster status without HA: %v", err)
	}
}

func TestCTSFollowerRedirectsToTheLeader(t *testing.T) {
	s := newCTSServer(t, tfctest.WithCTSFollower("cts-01", "cts-01.example.com:8558"))
	s.AddTask(webTask)
	c := s.Client()
	_, err := c.Tasks.List(ctx(t))
	var nl *tfc.NotLeaderError
	if !errors.Is(err, tfc.ErrNotLeader) || !errors.As(err, &nl) || nl.LeaderID != "cts-01" || nl.LeaderAddress != "cts-01.example.com:8558" {
		t.Errorf("list on a follower: %v", err)
	}
	if _, err := c.Status(ctx(t)); !errors.Is(err, tfc.ErrNotLeader) {
		t.Errorf("status on a follower: %v", err)
	}
	cluster, err := c.ClusterStatus(ctx(t))
	if err != nil || len(cluster.Members) != 2 || !cluster.Members[0].Leader {
		t.Errorf("cluster: %+v %v", cluster, err)
	}
	if err := c.Health(ctx(t)); err != nil {
		t.Errorf("health on a follower: %v", err)
	}
	anonymous := newCTSServer(t, tfctest.WithCTSFollower("", ""))
	if _, err := anonymous.Client().Tasks.List(ctx(t)); !errors.As(err, &nl) || nl.LeaderID != "" {
		t.Errorf("follower of an unknown leader: %v", err)
	}
}
