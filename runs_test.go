package tfc

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// documentedRun is the run of the documented samples, field by field.
func documentedRun(t *testing.T) Run {
	t.Helper()
	queueable, err := time.Parse(time.RFC3339, "2021-05-24T07:38:04+00:00")
	if err != nil {
		t.Fatal(err)
	}
	return Run{
		ID: "run-CZcmD7eagjhyX0vN", Status: RunPending, StatusTimestamps: StatusTimestamps{"plan-queueable-at": queueable},
		Message: "Custom message", Source: RunSourceAPI, TriggerReason: "manual",
		Variables: []RunVariable{},
		Actions:   RunActions{IsCancelable: true},
		Permissions: RunPermissions{CanApply: true, CanCancel: true, CanComment: true, CanDiscard: true, CanForceExecute: true,
			CanForceCancel: true, CanOverridePolicyCheck: true},
		CreatedAt: time.Date(2021, 5, 24, 7, 38, 4, 171e6, time.UTC),
	}
}

func TestRunsRead(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/runs/run-CZcmD7eagjhyX0vN", serveSample(t, http.StatusOK, "run_show_response.json"))
	api.handle("GET /api/v2/runs/run-gone", serveFixture(t, http.StatusNotFound, "error_404.json"))
	ctx := context.Background()
	run, err := api.client.Runs.Read(ctx, "run-CZcmD7eagjhyX0vN")
	if err != nil {
		t.Fatal(err)
	}
	if want := documentedRun(t); !reflect.DeepEqual(*run, want) {
		t.Errorf("got  %+v\nwant %+v", *run, want)
	}
	if run.Status.IsFinal() || !RunDiscarded.IsFinal() || !RunPlannedAndFinished.IsFinal() {
		t.Error("IsFinal")
	}
	if _, err := api.client.Runs.Read(ctx, "run-gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v", err)
	}
}

// TestRunsReadWithCostEstimate: include=cost_estimate fills Run.CostEstimate from the
// included resource.
func TestRunsReadWithCostEstimate(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/runs/run-1", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("include"); got != "cost_estimate" {
			t.Errorf("include=%q", got)
		}
		_, _ = w.Write([]byte(`{"data":{"id":"run-1","type":"runs","attributes":{"status":"cost_estimated"},
			"relationships":{"cost-estimate":{"data":{"id":"ce-1","type":"cost-estimates"}}}},
			"included":[{"id":"ce-1","type":"cost-estimates","attributes":{"status":"finished","delta-monthly-cost":"25.488",
			"prior-monthly-cost":"0.0","proposed-monthly-cost":"25.488","resources-count":4,"matched-resources-count":4}}]}`))
	})
	api.handle("GET /api/v2/runs/run-2", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			t.Errorf("query %q without options", r.URL.RawQuery)
		}
		_, _ = w.Write([]byte(`{"data":{"id":"run-2","type":"runs","attributes":{"status":"planned"}}}`))
	})
	ctx := context.Background()
	run, err := api.client.Runs.ReadWithOptions(ctx, "run-1", &RunReadOptions{Include: []RunInclude{RunIncludeCostEstimate}})
	if err != nil {
		t.Fatal(err)
	}
	want := &CostEstimate{ID: "ce-1", Status: "finished", DeltaMonthlyCost: "25.488", PriorMonthlyCost: "0.0",
		ProposedMonthlyCost: "25.488", ResourcesCount: 4, MatchedResourcesCount: 4}
	if run.CostEstimateID != "ce-1" || !reflect.DeepEqual(run.CostEstimate, want) {
		t.Errorf("cost estimate %+v", run.CostEstimate)
	}
	if run, err := api.client.Runs.ReadWithOptions(ctx, "run-2", nil); err != nil || run.CostEstimate != nil {
		t.Errorf("without options: %v, %v", run, err)
	}
	if _, err := api.client.Runs.ReadWithOptions(ctx, "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no ID: %v", err)
	}
}

func TestRunsList(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/workspaces/ws-yF7z4gyEQRhaCNG9/runs", func(w http.ResponseWriter, r *http.Request) {
		want := map[string]string{
			"page[number]": "2", "page[size]": "20",
			"filter[operation]": "plan_only,plan_and_apply", "filter[status]": "planned,policy_override",
			"filter[source]": "tfe-api", "filter[agent_pool_names]": "pool-a,pool-b", "filter[status_group]": "discardable",
			"filter[timeframe]": "2025", "search[user]": "octocat", "search[commit]": "abc123", "search[basic]": "hotfix",
		}
		q := r.URL.Query()
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, q.Get(k), v)
			}
		}
		if len(q) != len(want) {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		serveSample(t, http.StatusOK, "runs_list_response.json")(w, r)
	})
	page, err := api.client.Runs.List(context.Background(), "ws-yF7z4gyEQRhaCNG9", &RunListOptions{
		ListOptions: ListOptions{PageNumber: 2, PageSize: 20},
		Operation:   []RunOperation{RunOperationPlanOnly, RunOperationPlanAndApply},
		Status:      []RunStatus{RunPlanned, RunPolicyOverride},
		Source:      []RunSource{RunSourceAPI}, AgentPoolNames: []string{"pool-a", "pool-b"},
		StatusGroup: RunStatusGroupDiscardable, Timeframe: "2025",
		SearchUser: "octocat", SearchCommit: "abc123", Search: "hotfix",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Pagination{CurrentPage: 2, NextPage: 3, PrevPage: 1, PageSize: 20, TotalCount: 384105, TotalPages: 19206}
	if len(page.Items) != 1 || page.Pagination == nil || *page.Pagination != want {
		t.Fatalf("page = %+v", page)
	}
	if run := documentedRun(t); !reflect.DeepEqual(*page.Items[0], run) {
		t.Errorf("got  %+v\nwant %+v", *page.Items[0], run)
	}
}

// TestRunsListInOrganization: the organization's run list sends the workspace list's
// filters and filter[workspace_names], decodes the documented sample (no totals in its
// pagination), and All follows next-page through a list without totals.
func TestRunsListInOrganization(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/hashicorp/runs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("filter[workspace_names]") == "" {
			serveSample(t, http.StatusOK, "runs_org_list_response.json")(w, r)
			return
		}
		if got := q.Get("filter[workspace_names]"); got != "networking,app" || q.Get("filter[status_group]") != "final" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		// Two pages of one run each, without totals, as the service pages this list.
		page := q.Get("page[number]")
		next := `"next-page":2`
		if page == "2" {
			next = `"next-page":null`
		}
		_, _ = w.Write([]byte(`{"data":[{"id":"run-p` + page + `","type":"runs","attributes":{"status":"applied"}}],
			"meta":{"pagination":{"current-page":` + page + `,"page-size":1,` + next + `}}}`))
	})
	ctx := context.Background()
	page, err := api.client.Runs.ListInOrganization(ctx, "hashicorp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Pagination == nil || *page.Pagination != (Pagination{CurrentPage: 1, NextPage: 2, PageSize: 20}) {
		t.Fatalf("page %+v %+v", page.Items, page.Pagination)
	}
	if want := documentedRun(t); !reflect.DeepEqual(*page.Items[0], want) {
		t.Errorf("got  %+v\nwant %+v", *page.Items[0], want)
	}
	opts := &RunOrganizationListOptions{WorkspaceNames: []string{"networking", "app"},
		RunListOptions: RunListOptions{ListOptions: ListOptions{PageSize: 1}, StatusGroup: RunStatusGroupFinal}}
	var ids []string
	for run, err := range api.client.Runs.AllInOrganization(ctx, "hashicorp", opts) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	if !reflect.DeepEqual(ids, []string{"run-p1", "run-p2"}) {
		t.Errorf("runs %v", ids)
	}
	for _, bad := range []*RunOrganizationListOptions{{WorkspaceNames: []string{""}}, {WorkspaceNames: []string{"a,b"}},
		{RunListOptions: RunListOptions{StatusGroup: "someday"}}} {
		if _, err := api.client.Runs.ListInOrganization(ctx, "hashicorp", bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := api.client.Runs.ListInOrganization(ctx, "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no organization: %v", err)
	}
}

// TestRunActions: apply, discard, cancel and force-cancel send the documented bodies
// (none without a comment), take the 202 without a body, and map a 409 to ErrConflict.
func TestRunActions(t *testing.T) {
	api := newTestAPI(t)
	for _, action := range []string{"apply", "discard", "cancel", "force-cancel"} {
		api.handle("POST /api/v2/runs/run-DQGdmrWMX8z9yWQB/actions/"+action, func(w http.ResponseWriter, r *http.Request) {
			assertJSONEqual(t, readBody(t, r), fixture(t, "run_"+strings.ReplaceAll(action, "-", "_")+"_request.json"))
			w.WriteHeader(http.StatusAccepted)
		})
		api.handle("POST /api/v2/runs/run-nocomment/actions/"+action, func(w http.ResponseWriter, r *http.Request) {
			if b := readBody(t, r); len(b) != 0 || r.Header.Get("Content-Type") != "" {
				t.Errorf("%s without a comment sent %q (%s)", action, b, r.Header.Get("Content-Type"))
			}
			w.WriteHeader(http.StatusAccepted)
		})
		api.handle("POST /api/v2/runs/run-applied/actions/"+action, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"errors":[{"status":"409","title":"conflict","detail":"Run was not paused for confirmation; ` + action + ` not allowed."}]}`))
		})
	}
	ctx := context.Background()
	runs := api.client.Runs
	for action, do := range map[string]func(string, *RunActionOptions) error{
		"apply":        func(id string, o *RunActionOptions) error { return runs.Apply(ctx, id, o) },
		"discard":      func(id string, o *RunActionOptions) error { return runs.Discard(ctx, id, o) },
		"cancel":       func(id string, o *RunActionOptions) error { return runs.Cancel(ctx, id, o) },
		"force-cancel": func(id string, o *RunActionOptions) error { return runs.ForceCancel(ctx, id, o) },
	} {
		comment := map[string]string{"apply": "Looks good to me", "discard": "This run was discarded",
			"cancel": "This run was stuck and would never finish.", "force-cancel": "This run was stuck and would never finish."}[action]
		if err := do("run-DQGdmrWMX8z9yWQB", &RunActionOptions{Comment: comment}); err != nil {
			t.Errorf("%s: %v", action, err)
		}
		if err := do("run-nocomment", nil); err != nil {
			t.Errorf("%s without options: %v", action, err)
		}
		if err := do("run-nocomment", &RunActionOptions{}); err != nil {
			t.Errorf("%s with an empty comment: %v", action, err)
		}
		var apiErr *APIError
		if err := do("run-applied", nil); !errors.Is(err, ErrConflict) || !errors.As(err, &apiErr) || len(apiErr.Errors) != 1 {
			t.Errorf("%s on an applied run: %v", action, err)
		}
		if err := do("", nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s without a run: %v", action, err)
		}
	}
}

// TestRunForceExecute: force-execute sends no body, takes the 202, and maps the
// documented 403 to ErrForbidden; a run read says when force-cancel opens, in either
// spelling of the attribute.
func TestRunForceExecute(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/runs/run-pending/actions/force-execute", func(w http.ResponseWriter, r *http.Request) {
		if b := readBody(t, r); len(b) != 0 {
			t.Errorf("force-execute sent %q", b)
		}
		w.WriteHeader(http.StatusAccepted)
	})
	api.handle("POST /api/v2/runs/run-applied/actions/force-execute", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors":[{"status":"403","title":"forbidden","detail":"Run is not pending."}]}`))
	})
	ctx := context.Background()
	if err := api.client.Runs.ForceExecute(ctx, "run-pending"); err != nil {
		t.Error(err)
	}
	if err := api.client.Runs.ForceExecute(ctx, "run-applied"); !errors.Is(err, ErrForbidden) {
		t.Errorf("force-execute of an applied run: %v", err)
	}
	if err := api.client.Runs.ForceExecute(ctx, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("force-execute without a run: %v", err)
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for id, attr := range map[string]string{"run-dashed": "force-cancel-available-at", "run-snake": "force_cancel_available_at"} {
		api.handle("GET /api/v2/runs/"+id, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"data":{"id":"` + id + `","type":"runs","attributes":{"status":"applying","` + attr + `":"2026-12-03T10:00:00Z",
				"actions":{"is-force-cancelable":false}}}}`))
		})
		run, err := api.client.Runs.Read(ctx, id)
		if err != nil || !run.ForceCancelAvailableAt.Equal(at) {
			t.Errorf("%s: %v, force-cancel available at %v", attr, err, run)
		}
	}
}

// TestRunActionsAreNotRetried: a POST that reached the service is not sent twice.
func TestRunActionsAreNotRetried(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/runs/run-1/actions/apply", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	if err := api.client.Runs.Apply(context.Background(), "run-1", nil); err == nil || api.hits.Load() != 1 {
		t.Errorf("error %v after %d requests", err, api.hits.Load())
	}
}

func TestRunListOptionsCheckedBeforeTheNetwork(t *testing.T) {
	c := offlineClient(t)
	for name, opts := range map[string]*RunListOptions{
		"status group":    {StatusGroup: "done"},
		"timeframe":       {Timeframe: "last-week"},
		"short year":      {Timeframe: "25"},
		"empty status":    {Status: []RunStatus{""}},
		"comma in source": {Source: []RunSource{"tfe-api,tfe-ui"}},
		"page size":       {ListOptions: ListOptions{PageSize: 500}},
	} {
		if _, err := c.Runs.List(context.Background(), "ws-1", opts); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Runs.List(context.Background(), "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no workspace: %v", err)
	}
	if _, err := c.Runs.Read(context.Background(), "run 1"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("run ID with a space: %v", err)
	}
}

// TestTaskStagesReadIncludeRun: include=run,run.workspace,cost_estimate gives the run
// with its workspace and cost estimate, typed.
func TestTaskStagesReadIncludeRun(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-stages/ts-rL5ZsuwfjqfPJcdi", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("include"); got != "run,run.workspace,cost_estimate" {
			t.Errorf("include = %q", got)
		}
		serveFixture(t, http.StatusOK, "task_stage_show_include_run_response.json")(w, r)
	})
	ts, err := api.client.TaskStages.Read(context.Background(), "ts-rL5ZsuwfjqfPJcdi", &TaskStageReadOptions{
		Include: []TaskStageInclude{TaskStageIncludeRun, TaskStageIncludeRunWorkspace, TaskStageIncludeCostEstimate},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := ts.Run
	if run == nil || run.ID != "run-CZcmD7eagjhyX0vN" || run.Status != RunPostPlanCompleted || !run.Actions.IsConfirmable ||
		!run.HasChanges || run.WorkspaceID != "ws-6jrRyVDv1J8zQMB5" || run.CostEstimateID != "ce-BPvFFrYCqRV6qVBK" ||
		!reflect.DeepEqual(run.TaskStageIDs, []string{"ts-rL5ZsuwfjqfPJcdi"}) {
		t.Fatalf("run = %+v", run)
	}
	ws := run.Workspace
	if ws == nil || ws.Name != "workspace-1" || ws.Organization != "my-organization" || ws.ProjectID != "prj-hjy7ndEkmCtn31ps" ||
		ws.ExecutionMode != "agent" || ws.ResourceCount != 10 || ws.TerraformVersion != "1.9.4" {
		t.Errorf("workspace = %+v", ws)
	}
	finished, _ := time.Parse(time.RFC3339, "2021-05-24T07:39:05+00:00")
	queued, _ := time.Parse(time.RFC3339, "2021-05-24T07:39:00+00:00")
	want := &CostEstimate{ID: "ce-BPvFFrYCqRV6qVBK", Status: "finished",
		StatusTimestamps: StatusTimestamps{"queued-at": queued, "finished-at": finished},
		PriorMonthlyCost: "0.0", ProposedMonthlyCost: "25.488", DeltaMonthlyCost: "25.488",
		ResourcesCount: 4, MatchedResourcesCount: 4}
	if !reflect.DeepEqual(ts.CostEstimate, want) || run.CostEstimate != ts.CostEstimate {
		t.Errorf("cost estimate = %+v", ts.CostEstimate)
	}
}

// TestTaskStageCostEstimateWithoutRun: with only cost_estimate included, the stage
// still gets it; without includes it has none.
func TestTaskStageCostEstimateWithoutRun(t *testing.T) {
	doc := `{"data":{"id":"ts-1","type":"task-stages","attributes":{"status":"passed"},"relationships":{"run":{"data":{"id":"run-1","type":"runs"}}}},
		"included":[{"id":"ce-1","type":"cost-estimates","attributes":{"status":"finished","proposed-monthly-cost":"1.5"}}]}`
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-stages/ts-1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(doc)) })
	ts, err := api.client.TaskStages.Read(context.Background(), "ts-1", &TaskStageReadOptions{Include: []TaskStageInclude{TaskStageIncludeCostEstimate}})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Run != nil || ts.CostEstimate == nil || ts.CostEstimate.ID != "ce-1" || ts.CostEstimate.ProposedMonthlyCost != "1.5" {
		t.Errorf("stage %+v, cost estimate %+v", ts, ts.CostEstimate)
	}
}
