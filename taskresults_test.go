package tfc

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestTaskStagesList(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/runs/run-XdgtChJuuUwLoSmw/task-stages", serveFixture(t, http.StatusOK, "task_stages_list_response.json"))
	page, err := api.client.TaskStages.List(context.Background(), "run-XdgtChJuuUwLoSmw", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Pagination != nil {
		t.Fatalf("page = %+v", page)
	}
	ts := page.Items[0]
	passedAt, ok := ts.StatusTimestamps.At("passed")
	if ts.ID != "ts-rL5ZsuwfjqfPJcdi" || ts.Status != TaskStagePassed || ts.Stage != StagePostPlan ||
		ts.Duration != time.Second || ts.RunID != "run-XdgtChJuuUwLoSmw" || !ok ||
		!passedAt.Equal(time.Date(2022, 6, 8, 12, 32, 12, 0, time.UTC)) {
		t.Errorf("stage = %+v", ts)
	}
	// Without include the results and evaluations hold only their IDs.
	if len(ts.TaskResults) != 1 || !reflect.DeepEqual(*ts.TaskResults[0], TaskResult{ID: "taskrs-EmnmsEDL1jgd1GTP"}) ||
		len(ts.PolicyEvaluations) != 1 || ts.PolicyEvaluations[0].ID != "poleval-iouaha9KLgGWkBRQ" {
		t.Errorf("relationships: %+v %+v", ts.TaskResults, ts.PolicyEvaluations)
	}
	n := 0
	for _, err := range api.client.TaskStages.All(context.Background(), "run-XdgtChJuuUwLoSmw", nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("All yielded %d", n)
	}
}

func TestTaskStagesReadInclude(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-stages/ts-rL5ZsuwfjqfPJcdi", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("include"); got != "task_results,policy_evaluations" {
			t.Errorf("include = %q", got)
		}
		serveFixture(t, http.StatusOK, "task_stage_show_include_response.json")(w, r)
	})
	ts, err := api.client.TaskStages.Read(context.Background(), "ts-rL5ZsuwfjqfPJcdi", &TaskStageReadOptions{
		Include: []TaskStageInclude{TaskStageIncludeTaskResults, TaskStageIncludePolicyEvaluations},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Status != TaskStageAwaitingOverride || !ts.Status.IsFinal() || !ts.IsOverridable ||
		ts.Permissions != (TaskStagePermissions{CanOverridePolicy: true, CanOverride: true}) {
		t.Errorf("stage = %+v", ts)
	}
	if _, ok := ts.StatusTimestamps.At(string(TaskStageAwaitingOverride)); !ok {
		t.Error("awaiting-override-at missing")
	}
	tr := ts.TaskResults[0]
	if tr.Status != TaskResultFailed || tr.TaskName != "deletion-guard" || tr.OutcomesCount != 2 ||
		tr.WorkspaceTaskEnforcementLevel != EnforcementMandatory || tr.TaskStageID != "ts-rL5ZsuwfjqfPJcdi" || tr.AgentPoolID != "" {
		t.Errorf("task result = %+v", tr)
	}
	pe := ts.PolicyEvaluations[0]
	if pe.Status != "passed" || pe.PolicyKind != "opa" || pe.ResultCount != (PolicyResultCount{AdvisoryFailed: 1, Passed: 3}) {
		t.Errorf("policy evaluation = %+v", pe)
	}
}

func TestTaskStagesOverride(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/task-stages/ts-rL5ZsuwfjqfPJcdi/actions/override", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), []byte(`{"comment":"accepted by the on-call"}`))
		serveFixture(t, http.StatusOK, "task_stage_override_response.json")(w, r)
	})
	api.handle("POST /api/v2/task-stages/ts-nocomment/actions/override", func(w http.ResponseWriter, r *http.Request) {
		if b := readBody(t, r); len(b) != 0 {
			t.Errorf("override without a comment sent %s", b)
		}
		serveFixture(t, http.StatusOK, "task_stage_override_response.json")(w, r)
	})
	api.handle("POST /api/v2/task-stages/ts-passed/actions/override", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"errors":[{"status":"409","title":"conflict","detail":"Task stage is not overridable"}]}`))
	})
	ctx := context.Background()
	ts, err := api.client.TaskStages.Override(ctx, "ts-rL5ZsuwfjqfPJcdi", &TaskStageOverrideOptions{Comment: "accepted by the on-call"})
	if err != nil {
		t.Fatal(err)
	}
	if ts.ID == "" || ts.Status == "" {
		t.Errorf("stage = %+v", ts)
	}
	if _, err := api.client.TaskStages.Override(ctx, "ts-nocomment", nil); err != nil {
		t.Fatal(err)
	}
	_, err = api.client.TaskStages.Override(ctx, "ts-passed", nil)
	var apiErr *APIError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &apiErr) || apiErr.Errors[0].Detail != "Task stage is not overridable" {
		t.Errorf("error = %v", err)
	}
}

func TestTaskResultsRead(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-results/taskrs-EmnmsEDL1jgd1GZz", serveFixture(t, http.StatusOK, "task_result_show_response.json"))
	tr, err := api.client.TaskResults.Read(context.Background(), "taskrs-EmnmsEDL1jgd1GZz")
	if err != nil {
		t.Fatal(err)
	}
	want := TaskResult{
		ID: "taskrs-EmnmsEDL1jgd1GZz", Status: TaskResultPassed, Message: "No issues found.\nSeverity threshold is set to low.",
		URL: "https://external.service/project/task-123abc", Duration: time.Second,
		TaskID: "task-b6MaHZmGopHDtqhn", TaskName: "example-task", TaskURL: "https://external.service/task-123abc",
		Stage: StagePostPlan, WorkspaceTaskID: "wstask-258juqenQeWb3DZz", WorkspaceTaskEnforcementLevel: EnforcementMandatory,
		TaskStageID: "ts-rL5ZsuwfjqfPJczZ",
		CreatedAt:   time.Date(2022, 6, 8, 12, 31, 56, 954e6, time.UTC),
		UpdatedAt:   time.Date(2022, 6, 8, 12, 32, 12, 270e6, time.UTC),
	}
	got := *tr
	got.StatusTimestamps = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if !tr.Status.IsFinal() || TaskResultRunning.IsFinal() || len(tr.StatusTimestamps) != 2 {
		t.Errorf("status helpers or timestamps wrong: %+v", tr.StatusTimestamps)
	}
}

func TestUnknownStatusKept(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-results/taskrs-1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"taskrs-1","type":"task-results","attributes":{"status":"quantum","status-timestamps":{"quantum-at":"not a time","running-at":"2022-06-08T20:32:11+08:00"},"brand-new-attribute":{"x":1}}}}`))
	})
	tr, err := api.client.TaskResults.Read(context.Background(), "taskrs-1")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != "quantum" || tr.Status.IsFinal() || len(tr.StatusTimestamps) != 1 {
		t.Errorf("result = %+v", tr)
	}
}
