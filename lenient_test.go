package tfc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The official run task samples print "enabled" as a string; tfc reads them as
// printed.
func TestRunTaskSamplesAsPrinted(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/hashicorp/tasks", serveFixture(t, http.StatusOK, "runtasks_list_response.json"))
	api.handle("GET /api/v2/tasks/task-7oD7doVTQdAFnMLV", serveFixture(t, http.StatusOK, "runtasks_show_response.json"))
	api.handle("PATCH /api/v2/tasks/task-7oD7doVTQdAFnMLV", serveFixture(t, http.StatusOK, "runtasks_update_response.json"))
	ctx := context.Background()
	for _, name := range []string{"runtasks_list_response.json", "runtasks_show_response.json", "runtasks_create_response.json", "runtasks_update_response.json"} {
		if !strings.Contains(string(fixture(t, name)), `"enabled": "`) {
			t.Errorf("%s no longer holds the printed string boolean", name)
		}
	}
	page, err := api.client.RunTasks.List(ctx, "hashicorp", nil)
	if err != nil || len(page.Items) != 1 || !page.Items[0].Enabled {
		t.Errorf("List = %v, %v; want one enabled task", page, err)
	}
	task, err := api.client.RunTasks.Read(ctx, "task-7oD7doVTQdAFnMLV", nil)
	if err != nil || !task.Enabled {
		t.Errorf("Read = %+v, %v; want an enabled task", task, err)
	}
	task, err = api.client.RunTasks.Update(ctx, "task-7oD7doVTQdAFnMLV", RunTaskUpdateOptions{Enabled: Ptr(false)})
	if err != nil || task.Enabled || task.GlobalConfiguration == nil || task.GlobalConfiguration.Enabled {
		t.Errorf("Update = %+v, %v; want a disabled task", task, err)
	}
}

// One odd attribute never fails a page: each is read as its zero value, and the rest
// of the item and of the page as sent.
func TestOddAttributeDoesNotFailAPage(t *testing.T) {
	const page = `{"data":[
		{"id":"task-1","type":"tasks","attributes":{"name":"plain","enabled":"true","created-at":"2026-11-01T10:00:00Z"}},
		{"id":"task-2","type":"tasks","attributes":{"name":5,"url":"https://b.example","enabled":"maybe","created-at":"yesterday"}},
		{"id":"task-3","type":"tasks","attributes":{"name":"third","enabled":1,"global-configuration":{"enabled":"true","stages":["post_plan",7],"enforcement-level":["x"]}}},
		{"id":"task-4","type":"tasks","attributes":{"name":"fourth","global-configuration":"all"}}],
		"meta":{"pagination":{"current-page":1,"page-size":20,"total-pages":1,"total-count":4}}}`
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/acme/tasks", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, page) })
	got, err := api.client.RunTasks.List(context.Background(), "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 4 {
		t.Fatalf("%d items, want 4", len(got.Items))
	}
	t1, t2, t3, t4 := got.Items[0], got.Items[1], got.Items[2], got.Items[3]
	if t1.Name != "plain" || !t1.Enabled || t1.CreatedAt.IsZero() {
		t.Errorf("task-1 = %+v", t1)
	}
	if t2.ID != "task-2" || t2.Name != "" || t2.URL != "https://b.example" || t2.Enabled || !t2.CreatedAt.IsZero() {
		t.Errorf("task-2 = %+v; want the odd name, enabled and created-at as zero values", t2)
	}
	want := &RunTaskGlobalConfiguration{Enabled: true, Stages: []Stage{StagePostPlan, ""}}
	if t3.Enabled || !reflect.DeepEqual(t3.GlobalConfiguration, want) {
		t.Errorf("task-3 = %+v, global %+v; want %+v", t3, t3.GlobalConfiguration, want)
	}
	if t4.Name != "fourth" || t4.GlobalConfiguration == nil || t4.GlobalConfiguration.Enabled {
		t.Errorf("task-4 = %+v", t4)
	}
	if got.Pagination == nil || got.Pagination.TotalCount != 4 {
		t.Errorf("pagination %+v", got.Pagination)
	}
}

// Odd values in the other frequent documents: task stages with included results,
// policy checks.
func TestOddAttributesOfStagesResultsAndPolicyChecks(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-stages/ts-1", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":{"id":"ts-1","type":"task-stages","attributes":{"stage":"post_plan","status":"passed",
			"duration":"12","status-timestamps":{"passed-at":"2026-11-01T10:00:00Z","running-at":1700000000},
			"permissions":{"can-override":"true","can-override-policy":null},"actions":{"is-overridable":"false"}},
			"relationships":{"task-results":{"data":[{"id":"taskrs-1","type":"task-results"}]}}},
			"included":[{"id":"taskrs-1","type":"task-results","attributes":{"status":"failed","message":["not","a","string"],
			"is-speculative":"true","task-result-outcomes-count":2.0,"duration":1500}}]}`)
	})
	api.handle("GET /api/v2/policy-checks/polchk-1", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":{"id":"polchk-1","type":"policy-checks","attributes":{"status":"soft_failed",
			"result":{"result":"false","passed":"3","soft-failed":1,"policies":[{"name":"cost","result":"soft_failed","messages":["too expensive",42]}]},
			"actions":{"is-overridable":"true"},"permissions":{"can-override":"true"}}}}`)
	})
	ctx := context.Background()
	stage, err := api.client.TaskStages.Read(ctx, "ts-1", &TaskStageReadOptions{Include: []TaskStageInclude{TaskStageIncludeTaskResults}})
	if err != nil {
		t.Fatal(err)
	}
	if stage.Duration != 0 || !stage.Permissions.CanOverride || stage.IsOverridable || len(stage.StatusTimestamps) != 1 {
		t.Errorf("stage = %+v", stage)
	}
	if len(stage.TaskResults) != 1 {
		t.Fatalf("results %+v", stage.TaskResults)
	}
	res := stage.TaskResults[0]
	if res.Status != TaskResultFailed || res.Message != "" || !res.IsSpeculative || res.OutcomesCount != 0 || res.Duration != 1500*time.Millisecond {
		t.Errorf("result = %+v", res)
	}
	pc, err := api.client.PolicyChecks.Read(ctx, "polchk-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Result.Result || pc.Result.Passed != 0 || pc.Result.SoftFailed != 1 || pc.IsOverridable == nil || !*pc.IsOverridable ||
		pc.CanOverride == nil || !*pc.CanOverride {
		t.Errorf("policy check = %+v", pc)
	}
	if pols := pc.Result.Policies; len(pols) != 1 || !reflect.DeepEqual(pols[0].Messages, []string{"too expensive", ""}) {
		t.Errorf("policies = %+v", pols)
	}
}

// What is not an attribute stays strict: a document whose structure is wrong fails.
func TestMalformedStructureStillFails(t *testing.T) {
	for _, body := range []string{
		`{"data":{"id":"task-1","attributes":"enabled"}}`,
		`{"data":{"id":5,"attributes":{}}}`,
		`{"data":{"id":"task-1","relationships":{"organization":{"data":"hashicorp"}}}}`,
		`{"data":{"id":"task-1","links":{"self":5}}}`,
		`{"data":"task-1"}`,
		`{"data":{"id":"task-1","attributes":{"enabled":"true"}}`,
	} {
		api := newTestAPI(t)
		api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
		if _, err := api.client.RunTasks.Read(context.Background(), "task-1", nil); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}

// newResourceAttrs stands for the attributes of a resource without a fast decoder,
// which decode through encoding/json and unmarshalAttributes.
type newResourceAttrs struct {
	Name   string    `json:"name"`
	Count  int       `json:"count"`
	On     bool      `json:"on"`
	Opt    *bool     `json:"opt"`
	When   time.Time `json:"when"`
	Nested struct {
		Flag bool      `json:"flag"`
		At   time.Time `json:"at"`
		Text string    `json:"text"`
	} `json:"nested"`
	Items  []struct{ N int } `json:"items"`
	Labels map[string]string `json:"labels"`
	Times  StatusTimestamps  `json:"status-timestamps"`
}

func TestEncodingJSONPathIsLenient(t *testing.T) {
	const doc = `{"data":{"id":"new-1","type":"things","attributes":{"name":"x","count":"3","on":"true","opt":"false",
		"when":"not a time","nested":{"flag":"true","at":"bad","text":"kept"},"items":[{"N":1},{"N":"2"},{"N":3}],
		"labels":{"a":"b"},"status-timestamps":{"passed-at":"2026-11-01T10:00:00Z","x-at":5}}}}`
	check := func(how string, a newResourceAttrs) {
		t.Helper()
		if a.Name != "x" || a.Count != 0 || !a.On || a.Opt == nil || *a.Opt || !a.When.IsZero() {
			t.Errorf("%s: scalars %+v", how, a)
		}
		if !a.Nested.Flag || !a.Nested.At.IsZero() || a.Nested.Text != "kept" {
			t.Errorf("%s: nested %+v", how, a.Nested)
		}
		if len(a.Items) != 3 || a.Items[0].N != 1 || a.Items[1].N != 0 || a.Items[2].N != 3 || a.Labels["a"] != "b" || len(a.Times) != 1 {
			t.Errorf("%s: items %+v, labels %v, times %v", how, a.Items, a.Labels, a.Times)
		}
	}
	var viaJSON document[resource[newResourceAttrs, noRelationships]]
	if err := json.Unmarshal([]byte(doc), &viaJSON); err != nil {
		t.Fatal(err)
	}
	check("encoding/json", viaJSON.Data.Attributes)
	var viaScanner document[resource[newResourceAttrs, noRelationships]]
	if err := decodeDocument([]byte(doc), &viaScanner, decodeResource[newResourceAttrs, noRelationships]); err != nil {
		t.Fatal(err)
	}
	check("scanner envelope", viaScanner.Data.Attributes)
	if !reflect.DeepEqual(viaJSON, viaScanner) {
		t.Errorf("the paths differ:\n%+v\n%+v", viaJSON, viaScanner)
	}
}
