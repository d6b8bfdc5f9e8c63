package tfctest_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

func TestManualApplyWaitsForConfirmation(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	guard := serveReceiver(t, deletionCheck)
	attach(t, s, ws, "plan-guard", guard, tfc.EnforcementMandatory, tfc.StagePostPlan)
	attach(t, s, ws, "apply-guard", guard, tfc.EnforcementAdvisory, tfc.StagePreApply)
	client := s.Client()
	c := ctx(t)

	r := settledRun(t, s, ws.ID, tfctest.SamplePlanSafe(), tfctest.WithManualApply(), tfctest.WithRunMessage("ship it"))
	run, err := client.Runs.Read(c, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != tfc.RunPostPlanCompleted || r.Status() != "post_plan_completed" || !run.Actions.IsConfirmable ||
		!run.Actions.IsDiscardable || run.Actions.IsCancelable || run.AutoApply || !run.HasChanges || run.Message != "ship it" ||
		run.WorkspaceID != ws.ID || len(run.TaskStageIDs) != 2 || run.PlanID == "" || run.ConfigurationVersionID == "" ||
		run.Source != tfc.RunSourceAPI || !run.Permissions.CanApply {
		t.Fatalf("run %+v", run)
	}
	for _, status := range []string{"pending", "plan-queueable", "post_plan_running", "post_plan_completed"} {
		if _, ok := run.StatusTimestamps.At(status); !ok {
			t.Errorf("no %s-at in %v", status, run.StatusTimestamps)
		}
	}
	if err := client.Runs.Cancel(c, r.ID, nil); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("cancel while waiting for confirmation: %v", err)
	}
	// The fake's cancel ends a run at once, so force-cancel always conflicts; its runs
	// never wait behind a lock, so force-execute is always forbidden.
	if err := client.Runs.ForceCancel(c, r.ID, &tfc.RunActionOptions{Comment: "stuck"}); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("force-cancel: %v", err)
	}
	if err := client.Runs.ForceExecute(c, r.ID); !errors.Is(err, tfc.ErrForbidden) {
		t.Errorf("force-execute: %v", err)
	}
	if err := client.Runs.ForceCancel(c, "run-missing", nil); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("force-cancel of no run: %v", err)
	}
	// A documented include is taken (the fake has no cost estimate to include); an
	// unknown one is refused as the service refuses it.
	if got, err := client.Runs.ReadWithOptions(c, r.ID, &tfc.RunReadOptions{Include: []tfc.RunInclude{tfc.RunIncludeCostEstimate}}); err != nil || got.ID != r.ID {
		t.Errorf("read with include=cost_estimate: %v, %v", got, err)
	}
	var apiErr *tfc.APIError
	if _, err := client.Runs.ReadWithOptions(c, r.ID, &tfc.RunReadOptions{Include: []tfc.RunInclude{"workspace.nope"}}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("read with an unknown include: %v", err)
	}

	if err := client.Runs.Apply(c, r.ID, &tfc.RunActionOptions{Comment: "Looks good to me"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(c); err != nil {
		t.Fatal(err)
	}
	run, err = client.Runs.Read(c, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != tfc.RunApplied || run.Actions.IsConfirmable || r.TaskStages()[1].Status != tfc.TaskStagePassed {
		t.Errorf("after apply: %+v, stages %+v", run, r.TaskStages())
	}
	for _, status := range []string{"confirmed", "apply_queued", "pre_apply_running", "applied"} {
		if _, ok := run.StatusTimestamps.At(status); !ok {
			t.Errorf("no %s-at in %v", status, run.StatusTimestamps)
		}
	}
	if err := client.Runs.Apply(c, r.ID, nil); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("apply twice: %v", err)
	}
	if err := client.Runs.Discard(c, r.ID, nil); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("discard an applied run: %v", err)
	}
}

func TestDiscardAndCancel(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	client := s.Client()
	c := ctx(t)

	// Discard a run waiting for confirmation: its apply stage is canceled.
	attach(t, s, ws, "apply-guard", serveReceiver(t, deletionCheck), tfc.EnforcementMandatory, tfc.StagePreApply)
	waiting := settledRun(t, s, ws.ID, []byte(`{}`), tfctest.WithManualApply())
	if waiting.Status() != "planned" {
		t.Fatalf("status %s", waiting.Status())
	}
	if err := client.Runs.Discard(c, waiting.ID, &tfc.RunActionOptions{Comment: "This run was discarded"}); err != nil {
		t.Fatal(err)
	}
	if st := waiting.TaskStages(); waiting.Status() != "discarded" || st[0].Status != tfc.TaskStageCanceled ||
		st[0].TaskResults[0].Status != tfc.TaskResultCanceled {
		t.Errorf("discarded: %s, %+v", waiting.Status(), st)
	}

	// Discard a run held by a failed mandatory task.
	held := settledRun(t, s, ws.ID, tfctest.SamplePlanSafe(), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: opaSets(true)}))
	if err := client.Runs.Discard(c, held.ID, nil); err != nil || held.Status() != "discarded" {
		t.Errorf("discard at an override: %v, %s", err, held.Status())
	}

	// Cancel a run whose task never answers.
	ws2 := s.AddWorkspace("acme", "silent")
	attach(t, s, ws2, "silent", serveStatus(t, ok, nil), tfc.EnforcementMandatory, tfc.StagePostPlan)
	running, err := s.StartRun(ws2.ID, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Runs.Discard(c, running.ID, nil); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("discard a running run: %v", err)
	}
	if err := client.Runs.Cancel(c, running.ID, &tfc.RunActionOptions{Comment: "stuck"}); err != nil {
		t.Fatal(err)
	}
	if err := running.Wait(c); err != nil {
		t.Fatal(err)
	}
	run, err := client.Runs.Read(c, running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != tfc.RunCanceled || run.CanceledAt.IsZero() || running.TaskStages()[0].TaskResults[0].Status != tfc.TaskResultCanceled {
		t.Errorf("canceled: %+v", run)
	}
	if err := client.Runs.Cancel(c, running.ID, nil); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("cancel twice: %v", err)
	}
	if err := client.Runs.Apply(c, "run-unknown", nil); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("apply an unknown run: %v", err)
	}
	if resp, body := rawRequest(t, http.MethodPost, s.URL+"/api/v2/runs/"+running.ID+"/actions/cancel", s.Token, `{"comment": 5}`); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a comment that is not a string: %d %s", resp.StatusCode, body)
	}
}

func TestListRunsFilters(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	applied := settledRun(t, s, ws.ID, []byte(`{}`), tfctest.WithRunMessage("first change"))
	speculative := settledRun(t, s, ws.ID, []byte(`{}`), tfctest.WithSpeculative())
	waiting := settledRun(t, s, ws.ID, []byte(`{}`), tfctest.WithManualApply(), tfctest.WithRunMessage("second change"))
	client := s.Client()
	ids := func(opts *tfc.RunListOptions) []string {
		t.Helper()
		var out []string
		for run, err := range client.Runs.All(ctx(t), ws.ID, opts) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, run.ID)
		}
		return out
	}
	for name, tt := range map[string]struct {
		opts *tfc.RunListOptions
		want []string
	}{
		"default leaves plan-only out, newest first": {nil, []string{waiting.ID, applied.ID}},
		"every operation": {&tfc.RunListOptions{Operation: []tfc.RunOperation{tfc.RunOperationPlanOnly, tfc.RunOperationPlanAndApply}},
			[]string{waiting.ID, speculative.ID, applied.ID}},
		"status":      {&tfc.RunListOptions{Status: []tfc.RunStatus{tfc.RunApplied}}, []string{applied.ID}},
		"final":       {&tfc.RunListOptions{StatusGroup: tfc.RunStatusGroupFinal}, []string{applied.ID}},
		"discardable": {&tfc.RunListOptions{StatusGroup: tfc.RunStatusGroupDiscardable}, []string{waiting.ID}},
		"non final":   {&tfc.RunListOptions{StatusGroup: tfc.RunStatusGroupNonFinal}, []string{waiting.ID}},
		"source":      {&tfc.RunListOptions{Source: []tfc.RunSource{tfc.RunSourceUI}}, nil},
		"search":      {&tfc.RunListOptions{Search: "second"}, []string{waiting.ID}},
		"search ID":   {&tfc.RunListOptions{Search: applied.ID}, []string{applied.ID}},
		"user":        {&tfc.RunListOptions{SearchUser: "octocat"}, nil},
		"past year":   {&tfc.RunListOptions{Timeframe: "year"}, []string{waiting.ID, applied.ID}},
		"agent pools": {&tfc.RunListOptions{AgentPoolNames: []string{"pool"}}, nil},
	} {
		if got := ids(tt.opts); !equalStrings(got, tt.want) {
			t.Errorf("%s: %v, want %v", name, got, tt.want)
		}
	}
	if _, err := client.Runs.List(ctx(t), "ws-unknown", nil); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("unknown workspace: %v", err)
	}
	if resp, _ := rawRequest(t, http.MethodGet, s.URL+"/api/v2/workspaces/"+ws.ID+"/runs?filter[status_group]=done", s.Token, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown status group: %d", resp.StatusCode)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWorkspacesByNameAndID(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	org := s.AddOrganization("acme")
	client := s.Client()
	c := ctx(t)
	byName, err := client.Workspaces.Read(c, "acme", "networking")
	if err != nil {
		t.Fatal(err)
	}
	if byName.ID != ws.ID || byName.Name != "networking" || byName.Organization != "acme" || byName.ProjectID != org.DefaultProjectID ||
		ws.ProjectID != org.DefaultProjectID || byName.ExecutionMode != "remote" || !byName.AutoApply || byName.Locked ||
		byName.CurrentRunID != "" || !byName.Permissions.CanQueueRun || byName.TerraformVersion == "" || byName.CreatedAt.IsZero() {
		t.Errorf("by name %+v", byName)
	}
	r := settledRun(t, s, ws.ID, []byte(`{}`))
	byID, err := client.Workspaces.ReadByID(c, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if byID.Name != "networking" || byID.CurrentRunID != r.ID || byID.RunsCount != 1 || byID.CurrentRun != nil {
		t.Errorf("by ID %+v", byID)
	}
	// The workspace and its current run in one request, by name and by ID.
	opts := &tfc.WorkspaceReadOptions{Include: []tfc.WorkspaceInclude{tfc.WorkspaceIncludeCurrentRun}}
	withRun, err := client.Workspaces.ReadWithOptions(c, "acme", "networking", opts)
	if err != nil || withRun.CurrentRun == nil || withRun.CurrentRun.ID != r.ID || withRun.CurrentRun.WorkspaceID != ws.ID {
		t.Errorf("by name with its current run: %v, %+v", err, withRun)
	}
	if withRun, err := client.Workspaces.ReadByIDWithOptions(c, ws.ID, opts); err != nil || withRun.CurrentRun == nil || withRun.CurrentRun.Status != tfc.RunStatus(r.Status()) {
		t.Errorf("by ID with its current run: %v, %+v", err, withRun)
	}
	var apiErr *tfc.APIError
	if _, err := client.Workspaces.ReadByIDWithOptions(c, ws.ID, &tfc.WorkspaceReadOptions{Include: []tfc.WorkspaceInclude{"runs"}}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("an undocumented include: %v", err)
	}
	if _, err := client.Workspaces.Read(c, "acme", "missing"); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}

// TestOrganizationRuns: the organization's run list spans its workspaces, newest
// first, filters by workspace name, and pages without totals.
func TestOrganizationRuns(t *testing.T) {
	s := newServer(t)
	net := s.AddWorkspace("acme", "networking")
	app := s.AddWorkspace("acme", "app")
	other := s.AddWorkspace("globex", "app")
	first := settledRun(t, s, net.ID, []byte(`{}`))
	second := settledRun(t, s, app.ID, []byte(`{}`))
	settledRun(t, s, other.ID, []byte(`{}`))
	client := s.Client()
	c := ctx(t)
	page, err := client.Runs.ListInOrganization(c, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[0].ID != second.ID || page.Items[1].ID != first.ID ||
		page.Pagination.TotalCount != 0 || page.Pagination.TotalPages != 0 || page.Pagination.CurrentPage != 1 {
		t.Errorf("page %+v %+v", page.Items, page.Pagination)
	}
	var ids []string
	for run, err := range client.Runs.AllInOrganization(c, "acme", &tfc.RunOrganizationListOptions{
		RunListOptions: tfc.RunListOptions{ListOptions: tfc.ListOptions{PageSize: 1}}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	if !slices.Equal(ids, []string{second.ID, first.ID}) {
		t.Errorf("all: %v", ids)
	}
	page, err = client.Runs.ListInOrganization(c, "acme", &tfc.RunOrganizationListOptions{WorkspaceNames: []string{"networking"}})
	if err != nil || len(page.Items) != 1 || page.Items[0].WorkspaceID != net.ID {
		t.Errorf("networking's runs: %v %+v", err, page)
	}
}
