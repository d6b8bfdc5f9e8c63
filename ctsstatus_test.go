package tfc

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

func TestCTSStatus(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/status", serveCTS(t, http.StatusOK, "cts_status_response.json"))
	got, err := api.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &CTSOverallStatus{Successful: 28, Errored: 5, Critical: 1, Unknown: 0, Enabled: 32, Disabled: 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status = %+v, want %+v", got, want)
	}
}

func TestCTSTasksListStatuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  *CTSTaskStatusListOptions
		query string
	}{
		{"no options", nil, ""},
		{"events", &CTSTaskStatusListOptions{IncludeEvents: true}, "include=events"},
		{"errored with events", &CTSTaskStatusListOptions{IncludeEvents: true, Status: CTSStatusErrored}, "include=events&status=errored"},
		{"critical", &CTSTaskStatusListOptions{Status: CTSStatusCritical}, "status=critical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newCTSTestAPI(t)
			api.handle("GET /v1/status/tasks", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.RawQuery != tc.query {
					t.Errorf("query = %q, want %q", r.URL.RawQuery, tc.query)
				}
				serveCTS(t, http.StatusOK, "cts_status_tasks_all_response.json")(w, r)
			})
			statuses, err := api.client.Tasks.ListStatuses(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			a, b := statuses["task_a"], statuses["task_b"]
			if len(statuses) != 2 || a == nil || b == nil {
				t.Fatalf("statuses = %+v", statuses)
			}
			if a.TaskName != "task_a" || a.Status != CTSStatusSuccessful || !a.Enabled ||
				a.EventsURL != "/v1/status/tasks/task_a?include=events" || a.Events != nil {
				t.Errorf("task_a = %+v", a)
			}
			if b.Status != CTSStatusErrored || b.Enabled || !reflect.DeepEqual(b.Providers, []string{"null"}) ||
				!reflect.DeepEqual(b.Services, []string{"web"}) {
				t.Errorf("task_b = %+v", b)
			}
		})
	}
}

func TestCTSTasksReadStatus(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/status/tasks/task_b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "include=events" {
			t.Errorf("query = %q", r.URL.RawQuery)
		}
		serveCTS(t, http.StatusOK, "cts_status_tasks_response.json")(w, r)
	})
	api.handle("GET /v1/status/tasks/task_c", serveCTS(t, http.StatusOK, "cts_status_tasks_unknown_response.json"))
	api.handle("GET /v1/status/tasks/task_x", serveCTS(t, http.StatusNotFound, "cts_error_response.json"))
	api.handle("GET /v1/status/tasks/task_odd", serveCTS(t, http.StatusOK, "cts_status_tasks_response.json"))
	ctx := context.Background()

	st, err := api.client.Tasks.ReadStatus(ctx, "task_b", &CTSTaskStatusOptions{IncludeEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.TaskName != "task_b" || st.Status != CTSStatusErrored || len(st.Events) != 2 {
		t.Fatalf("status = %+v", st)
	}
	failed, ok := st.Events[0], st.Events[1]
	zone := time.FixedZone("", -5*3600)
	wantStart := time.Date(2020, 11, 24, 12, 6, 51, 858292000, zone)
	wantEnd := time.Date(2020, 11, 24, 12, 6, 52, 770165000, zone)
	if failed.ID != "44137ba2-8fc9-6cbe-0e0e-e9305ee4f7f9" || failed.Success || failed.TaskName != "task_b" ||
		!failed.StartTime.Equal(wantStart) || !failed.EndTime.Equal(wantEnd) ||
		failed.Error == nil || failed.Error.Message != "example error: terraform-apply error" {
		t.Errorf("failed event = %+v", failed)
	}
	if failed.Config == nil || failed.Config.Module != "../modules/test_task" || !reflect.DeepEqual(failed.Config.Providers, []string{"null"}) {
		t.Errorf("failed event config = %+v", failed.Config)
	}
	if !ok.Success || ok.Error != nil || ok.EndTime.Sub(ok.StartTime) != 2248884*time.Microsecond {
		t.Errorf("successful event = %+v", ok)
	}

	st, err = api.client.Tasks.ReadStatus(ctx, "task_c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != CTSStatusUnknown || st.EventsURL != "" || st.Providers != nil {
		t.Errorf("never-run task = %+v", st)
	}

	if _, err := api.client.Tasks.ReadStatus(ctx, "task_x", nil); !isNotFound(err) {
		t.Errorf("unknown task: %v", err)
	}
	if _, err := api.client.Tasks.ReadStatus(ctx, "task_odd", nil); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("a response without the task: err = %v", err)
	}
}

func TestCTSClusterStatus(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/status/cluster", serveCTS(t, http.StatusOK, "cts_status_cluster_response.json"))
	got, err := api.client.ClusterStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &CTSClusterStatus{
		RequestID:   "e1bc2236-3d0e-5f5e-dc51-164a1cf6da88",
		ClusterName: "cluster-a",
		Members: []CTSClusterMember{
			{ID: "cts-02", ServiceName: "consul-terraform-sync", Healthy: true, Leader: true, Address: "cts-02.example.com"},
			{ID: "cts-03", ServiceName: "consul-terraform-sync", Healthy: true},
			{ID: "cts-01", ServiceName: "consul-terraform-sync", Healthy: true},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cluster = %+v, want %+v", got, want)
	}
}

func TestCTSHealth(t *testing.T) {
	api := newCTSTestAPI(t)
	var sick atomic.Bool
	var attempts atomic.Int64
	api.handle("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"message":"unhealthy system"}}`))
			return
		}
		serveCTS(t, http.StatusOK, "cts_health_response.json")(w, r)
	})
	ctx := context.Background()
	if err := api.client.Health(ctx); err != nil {
		t.Fatal(err)
	}
	sick.Store(true)
	err := api.client.Health(ctx)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || apiErr.Errors[0].Detail != "unhealthy system" {
		t.Errorf("unhealthy: %v", err)
	}
	if attempts.Load() != 2 {
		t.Errorf("attempts = %d, want 2: an unhealthy answer is not retried", attempts.Load())
	}
}
