package interop

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

const hmacKey = "interop-hmac-key"

// refuse is a run task check that fails every run with one outcome.
func refuse(context.Context, *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	u := tfc.Failed("Refused by the interop check.")
	u.Outcomes = []tfc.Outcome{{ID: "INTEROP-1", Description: "Always refused."}}
	return u, nil
}

// setup starts tfctest with a workspace and a receiver serving refuse, and a go-tfe
// client for it.
func setup(t *testing.T) (*tfctest.Server, tfctest.Workspace, string, *tfe.Client) {
	t.Helper()
	s := tfctest.NewServer()
	t.Cleanup(s.Close)
	receiver, err := tfc.NewReceiver(refuse, append(s.ReceiverOptions(), tfc.WithHMACKeys(hmacKey))...)
	if err != nil {
		t.Fatal(err)
	}
	integration := httptest.NewServer(receiver)
	t.Cleanup(func() {
		integration.Close()
		_ = receiver.Shutdown(context.Background())
	})
	client, err := tfe.NewClient(&tfe.Config{Address: s.URL, Token: s.Token})
	if err != nil {
		t.Fatalf("tfe.NewClient (its ping): %v", err)
	}
	return s, s.AddWorkspace("acme", "networking"), integration.URL, client
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewClientPing(t *testing.T) {
	_, _, _, client := setup(t)
	if client.RemoteAPIVersion() == "" || !client.IsCloud() {
		t.Errorf("ping headers: API version %q, cloud %v", client.RemoteAPIVersion(), client.IsCloud())
	}
}

func TestRunTasks(t *testing.T) {
	s, ws, url, client := setup(t)
	ctx := testContext(t)

	created, err := client.RunTasks.Create(ctx, "acme", tfe.RunTaskCreateOptions{
		Name: "guard", URL: url, Category: "task", Description: tfe.String("Refuses everything"),
		HMACKey: tfe.String(hmacKey), Enabled: tfe.Bool(true),
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(created.ID, "task-") || created.Name != "guard" || created.URL != url || created.Category != "task" ||
		created.Description != "Refuses everything" || !created.Enabled || created.HMACKey != nil ||
		created.Organization == nil || created.Organization.Name != "acme" {
		t.Errorf("created %+v", created)
	}
	if d := s.Deliveries(); len(d) != 1 || !d[0].Verification || d[0].StatusCode != 200 {
		t.Errorf("verification %+v", d)
	}

	list, err := client.RunTasks.List(ctx, "acme", nil)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].ID != created.ID || list.Pagination == nil || list.TotalCount != 1 || list.CurrentPage != 1 {
		t.Errorf("list %+v %+v", list.Items, list.Pagination)
	}

	updated, err := client.RunTasks.Update(ctx, created.ID, tfe.RunTaskUpdateOptions{Description: tfe.String("Still refuses")})
	if err != nil || updated.Description != "Still refuses" || updated.URL != url {
		t.Errorf("update: %+v %v", updated, err)
	}

	attached, err := client.WorkspaceRunTasks.Create(ctx, ws.ID, tfe.WorkspaceRunTaskCreateOptions{
		EnforcementLevel: tfe.Mandatory, RunTask: created, Stages: &[]tfe.Stage{tfe.PostPlan},
	})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	//lint:ignore SA1019 the service still sends the deprecated stage, and go-tfe must decode it
	deprecatedStage := attached.Stage
	if !strings.HasPrefix(attached.ID, "wstask-") || attached.EnforcementLevel != tfe.Mandatory || deprecatedStage != tfe.PostPlan ||
		len(attached.Stages) != 1 || attached.Stages[0] != tfe.PostPlan || attached.RunTask == nil || attached.RunTask.ID != created.ID ||
		attached.Workspace == nil || attached.Workspace.ID != ws.ID {
		t.Errorf("attached %+v", attached)
	}
	wlist, err := client.WorkspaceRunTasks.List(ctx, ws.ID, nil)
	if err != nil || len(wlist.Items) != 1 || wlist.Items[0].ID != attached.ID || wlist.TotalCount != 1 {
		t.Errorf("workspace list: %+v %v", wlist, err)
	}

	read, err := client.RunTasks.ReadWithOptions(ctx, created.ID, &tfe.RunTaskReadOptions{
		Include: []tfe.RunTaskIncludeOpt{tfe.RunTaskWorkspaceTasks, tfe.RunTaskWorkspace},
	})
	if err != nil {
		t.Fatalf("read with include: %v", err)
	}
	if len(read.WorkspaceRunTasks) != 1 || read.WorkspaceRunTasks[0].ID != attached.ID ||
		read.WorkspaceRunTasks[0].EnforcementLevel != tfe.Mandatory || read.WorkspaceRunTasks[0].Workspace == nil ||
		read.WorkspaceRunTasks[0].Workspace.Name != "networking" {
		t.Errorf("read: %+v", read.WorkspaceRunTasks)
	}

	if err := client.RunTasks.Delete(ctx, created.ID); err == nil {
		t.Error("deleted a run task that is still attached")
	}
	if err := client.WorkspaceRunTasks.Delete(ctx, ws.ID, attached.ID); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := client.RunTasks.Delete(ctx, created.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := client.RunTasks.Read(ctx, created.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("read after delete: %v", err)
	}
}

func TestTaskStagesAndResults(t *testing.T) {
	s, ws, url, client := setup(t)
	ctx := testContext(t)
	task, err := client.RunTasks.Create(ctx, "acme", tfe.RunTaskCreateOptions{Name: "guard", URL: url, Category: "task", HMACKey: tfe.String(hmacKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WorkspaceRunTasks.Create(ctx, ws.ID, tfe.WorkspaceRunTaskCreateOptions{
		EnforcementLevel: tfe.Mandatory, RunTask: task, Stages: &[]tfe.Stage{tfe.PostPlan},
	}); err != nil {
		t.Fatal(err)
	}
	run, err := s.StartRun(ws.ID, []byte(`{"format_version":"1.2","resource_changes":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	held := run.TaskStages()[0]
	heldResult := held.TaskResults[0]

	stages, err := client.TaskStages.List(ctx, run.ID, nil)
	if err != nil {
		t.Fatalf("list task stages: %v", err)
	}
	if len(stages.Items) != 1 {
		t.Fatalf("%d task stages", len(stages.Items))
	}
	ts := stages.Items[0]
	if ts.ID != held.ID || ts.Stage != tfe.PostPlan || ts.Status != tfe.TaskStageAwaitingOverride || ts.Run == nil || ts.Run.ID != run.ID ||
		ts.Actions == nil || ts.Actions.IsOverridable == nil || !*ts.Actions.IsOverridable || ts.CreatedAt.IsZero() ||
		ts.StatusTimestamps.RunningAt.IsZero() || len(ts.TaskResults) != 1 || ts.TaskResults[0].ID != heldResult.ID {
		t.Errorf("task stage %+v", ts)
	}

	read, err := client.TaskStages.Read(ctx, ts.ID, &tfe.TaskStageReadOptions{Include: []tfe.TaskStageIncludeOpt{tfe.TaskStageTaskResults}})
	if err != nil {
		t.Fatalf("read task stage: %v", err)
	}
	if len(read.TaskResults) != 1 || read.TaskResults[0].Status != tfe.TaskFailed || read.TaskResults[0].Message != heldResult.Message {
		t.Errorf("included task results %+v", read.TaskResults)
	}

	tr, err := client.TaskResults.Read(ctx, heldResult.ID)
	if err != nil {
		t.Fatalf("read task result: %v", err)
	}
	if tr.ID != heldResult.ID || tr.Status != tfe.TaskFailed || tr.Message != "Refused by the interop check." || tr.TaskID != task.ID ||
		tr.TaskName != "guard" || tr.TaskURL != url || tr.WorkspaceTaskID != heldResult.WorkspaceTaskID ||
		tr.WorkspaceTaskEnforcementLevel != tfe.Mandatory || tr.StatusTimestamps.FailedAt.IsZero() || tr.CreatedAt.IsZero() {
		t.Errorf("task result %+v", tr)
	}
	if outcomes := s.Outcomes(tr.ID); len(outcomes) != 1 || outcomes[0].ID != "INTEROP-1" {
		t.Errorf("outcomes %+v", outcomes)
	}

	over, err := client.TaskStages.Override(ctx, ts.ID, tfe.TaskStageOverrideOptions{Comment: tfe.String("intended")})
	if err != nil {
		t.Fatalf("override: %v", err)
	}
	if over.ID != ts.ID || over.Status != tfe.TaskStagePassed || run.TaskStages()[0].Status != tfc.TaskStagePassed {
		t.Errorf("after override %+v", over)
	}
}

func TestPolicyChecks(t *testing.T) {
	s, _, _, client := setup(t)
	ctx := testContext(t)
	soft := s.AddPolicyCheck("run-interop000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckSoftFailed})
	hard := s.AddPolicyCheck("run-interop000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckHardFailed})

	list, err := client.PolicyChecks.List(ctx, "run-interop000000000", nil)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("%d policy checks", len(list.Items))
	}
	pc := list.Items[0]
	if pc.ID != soft || pc.Status != tfe.PolicySoftFailed || pc.Scope != tfe.PolicyScopeOrganization || pc.Result == nil ||
		pc.Result.SoftFailed != 1 || pc.Result.TotalFailed != 1 || pc.Result.Result || pc.Actions == nil || !pc.Actions.IsOverridable ||
		pc.Permissions == nil || !pc.Permissions.CanOverride || pc.StatusTimestamps == nil || pc.StatusTimestamps.SoftFailedAt.IsZero() ||
		pc.StatusTimestamps.QueuedAt.IsZero() || pc.Run == nil || pc.Run.ID != "run-interop000000000" {
		t.Errorf("policy check %+v", pc)
	}
	read, err := client.PolicyChecks.Read(ctx, hard)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if read.ID != hard || read.Status != tfe.PolicyHardFailed || read.Result.HardFailed != 1 || read.Actions.IsOverridable {
		t.Errorf("read %+v", read)
	}
}

func TestWorkspacesAndRuns(t *testing.T) {
	s, ws, url, client := setup(t)
	ctx := testContext(t)

	byName, err := client.Workspaces.Read(ctx, "acme", "networking")
	if err != nil {
		t.Fatalf("read by name: %v", err)
	}
	if byName.ID != ws.ID || byName.Name != "networking" || byName.Organization == nil || byName.Organization.Name != "acme" ||
		byName.Project == nil || byName.Project.ID != ws.ProjectID || byName.ExecutionMode != "remote" || !byName.AutoApply ||
		byName.Locked || byName.TerraformVersion == "" || byName.Permissions == nil || !byName.Permissions.CanQueueRun ||
		byName.Actions == nil || !byName.Actions.IsDestroyable || byName.CreatedAt.IsZero() {
		t.Errorf("workspace by name %+v", byName)
	}

	// A run that waits for confirmation after its post-plan task, which refuses it.
	task, err := client.RunTasks.Create(ctx, "acme", tfe.RunTaskCreateOptions{Name: "guard", URL: url, Category: "task", HMACKey: tfe.String(hmacKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WorkspaceRunTasks.Create(ctx, ws.ID, tfe.WorkspaceRunTaskCreateOptions{
		EnforcementLevel: tfe.Advisory, RunTask: task, Stages: &[]tfe.Stage{tfe.PostPlan},
	}); err != nil {
		t.Fatal(err)
	}
	waiting, err := s.StartRun(ws.ID, tfctest.SamplePlanSafe(), tfctest.WithManualApply(), tfctest.WithRunMessage("interop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := waiting.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	run, err := client.Runs.Read(ctx, waiting.ID)
	if err != nil {
		t.Fatalf("read run: %v", err)
	}
	if run.ID != waiting.ID || run.Status != tfe.RunPostPlanCompleted || run.Message != "interop" || run.Source != tfe.RunSourceAPI ||
		run.Actions == nil || !run.Actions.IsConfirmable || !run.Actions.IsDiscardable || run.Permissions == nil || !run.Permissions.CanApply ||
		!run.HasChanges || run.StatusTimestamps == nil || run.StatusTimestamps.PostPlanCompletedAt.IsZero() ||
		run.StatusTimestamps.PlanQueueableAt.IsZero() || run.Workspace == nil || run.Workspace.ID != ws.ID ||
		len(run.TaskStages) != 1 || run.Plan == nil || run.ConfigurationVersion == nil || run.CreatedAt.IsZero() {
		t.Errorf("run %+v", run)
	}
	byID, err := client.Workspaces.ReadByID(ctx, ws.ID)
	if err != nil {
		t.Fatalf("read by ID: %v", err)
	}
	if byID.CurrentRun == nil || byID.CurrentRun.ID != waiting.ID || byID.RunsCount != 1 {
		t.Errorf("workspace by ID %+v", byID)
	}

	// go-tfe turns the 409 into the error objects' text.
	if err := client.Runs.Cancel(ctx, run.ID, tfe.RunCancelOptions{}); err == nil || !strings.Contains(err.Error(), "cancel not allowed") {
		t.Errorf("cancel while waiting for confirmation: %v", err)
	}
	if err := client.Runs.Apply(ctx, run.ID, tfe.RunApplyOptions{Comment: tfe.String("Looks good to me")}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := waiting.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if run, err = client.Runs.Read(ctx, run.ID); err != nil || run.Status != tfe.RunApplied || run.StatusTimestamps.AppliedAt.IsZero() {
		t.Errorf("after apply: %v %+v", err, run)
	}

	// Discard one waiting run; list with filters.
	second, err := s.StartRun(ws.ID, []byte(`{}`), tfctest.WithManualApply())
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := client.Runs.Discard(ctx, second.ID, tfe.RunDiscardOptions{Comment: tfe.String("not today")}); err != nil {
		t.Fatalf("discard: %v", err)
	}
	list, err := client.Runs.List(ctx, ws.ID, &tfe.RunListOptions{Status: string(tfe.RunDiscarded)})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].ID != second.ID || list.Items[0].Status != tfe.RunDiscarded || list.Pagination == nil ||
		list.TotalCount != 1 {
		t.Errorf("discarded runs %+v", list)
	}
	all, err := client.Runs.List(ctx, ws.ID, nil)
	if err != nil || len(all.Items) != 2 || all.Items[0].ID != second.ID {
		t.Errorf("all runs: %v %+v", err, all)
	}

	// The organization's runs, a pagination without totals.
	orgRuns, err := client.Runs.ListForOrganization(ctx, "acme", &tfe.RunListForOrganizationOptions{WorkspaceNames: "networking"})
	if err != nil || len(orgRuns.Items) != 2 || orgRuns.Items[0].ID != second.ID || orgRuns.Items[1].ID != run.ID ||
		orgRuns.PaginationNextPrev == nil || orgRuns.CurrentPage != 1 {
		t.Errorf("organization runs: %v %+v", err, orgRuns)
	}
	// The workspace with its current run included.
	withRun, err := client.Workspaces.ReadWithOptions(ctx, "acme", "networking", &tfe.WorkspaceReadOptions{Include: []tfe.WSIncludeOpt{tfe.WSCurrentRun}})
	if err != nil || withRun.CurrentRun == nil || withRun.CurrentRun.ID != second.ID || withRun.CurrentRun.Status != tfe.RunDiscarded {
		t.Errorf("workspace with its current run: %v %+v", err, withRun)
	}
	// tfctest's cancel is immediate, so force-cancel conflicts.
	if err := client.Runs.ForceCancel(ctx, run.ID, tfe.RunForceCancelOptions{Comment: tfe.String("stuck")}); err == nil {
		t.Error("force-cancel of an applied run succeeded")
	}
}

func TestPolicyEvaluationsAndOutcomes(t *testing.T) {
	s, ws, _, client := setup(t)
	ctx := testContext(t)
	run, err := s.StartRun(ws.ID, tfctest.SamplePlanSafe(), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: []tfctest.PolicySet{
		{Name: "opa-policies-vcs", Overridable: true, Outcomes: []tfc.PolicyOutcome{
			{PolicyName: "policyVCS", Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementMandatory, Query: "data.terraform.main.main",
				Description: "No VCS", Output: []string{"denied"}},
			{PolicyName: "tags", Status: tfc.PolicyOutcomePassed, EnforcementLevel: tfc.EnforcementAdvisory, Query: "data.terraform.tags"},
		}},
		{Name: "quiet", Outcomes: []tfc.PolicyOutcome{{PolicyName: "ok", Status: tfc.PolicyOutcomePassed, EnforcementLevel: tfc.EnforcementMandatory}}},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	stage := run.TaskStages()[0]

	evaluations, err := client.PolicyEvaluations.List(ctx, stage.ID, nil)
	if err != nil {
		t.Fatalf("list evaluations: %v", err)
	}
	if len(evaluations.Items) != 1 {
		t.Fatalf("%d evaluations", len(evaluations.Items))
	}
	pe := evaluations.Items[0]
	if pe.ID != stage.PolicyEvaluations[0].ID || pe.Status != tfe.PolicyEvaluationFailed || pe.PolicyKind != tfe.OPA ||
		pe.ResultCount == nil || pe.ResultCount.MandatoryFailed != 1 || pe.ResultCount.Passed != 2 ||
		pe.StatusTimestamps.FailedAt.IsZero() || pe.StatusTimestamps.RunningAt.IsZero() || pe.CreatedAt.IsZero() ||
		pe.TaskStage == nil {
		t.Errorf("evaluation %+v", pe)
	}
	// go-tfe's PolicyAttachable reads id and type as attributes, which a relationship's
	// resource identifier does not have: it gets the relationship, not the stage's ID.
	if pe.TaskStage.ID != "" && pe.TaskStage.ID != stage.ID {
		t.Errorf("policy-attachable %+v", pe.TaskStage)
	}

	outcomes, err := client.PolicySetOutcomes.List(ctx, pe.ID, &tfe.PolicySetOutcomeListOptions{
		Filter: map[string]tfe.PolicySetOutcomeListFilter{"0": {Status: "errored"}, "1": {Status: "failed", EnforcementLevel: "mandatory"}}})
	if err != nil {
		t.Fatalf("list outcomes: %v", err)
	}
	if len(outcomes.Items) != 1 {
		t.Fatalf("%d outcomes", len(outcomes.Items))
	}
	o := outcomes.Items[0]
	if o.PolicySetName != "opa-policies-vcs" || o.Overridable == nil || !*o.Overridable || o.Error != "" || len(o.Outcomes) != 2 ||
		o.Outcomes[0].PolicyName != "policyVCS" || o.Outcomes[0].Status != "failed" || o.Outcomes[0].EnforcementLevel != tfe.EnforcementMandatory ||
		o.Outcomes[0].Query != "data.terraform.main.main" || o.Outcomes[0].Description != "No VCS" ||
		len(o.Outcomes[0].Output) != 1 || o.Outcomes[0].Output[0].Print != "denied" ||
		o.PolicyEvaluation == nil || o.PolicyEvaluation.ID != pe.ID {
		t.Errorf("outcome %+v", o)
	}
	// go-tfe reads the counts from "result_count"; the service and tfctest send the
	// documented "result-count", so go-tfe's ResultCount stays zero.
	if o.ResultCount != (tfe.PolicyResultCount{}) {
		t.Errorf("go-tfe read counts from result-count: %+v", o.ResultCount)
	}
	read, err := client.PolicySetOutcomes.Read(ctx, o.ID)
	if err != nil || read.ID != o.ID || read.PolicySetName != "opa-policies-vcs" {
		t.Errorf("read outcome: %v %+v", err, read)
	}
	unfiltered, err := client.PolicySetOutcomes.List(ctx, pe.ID, nil)
	if err != nil || len(unfiltered.Items) != 2 {
		t.Errorf("unfiltered: %v %+v", err, unfiltered)
	}
}
