package check

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// The check under test: refuse plans that delete anything.
func check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	plan, err := d.Plan(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	for _, rc := range plan.ResourceChanges {
		if rc.Change != nil && rc.Change.Actions.Delete() {
			return tfc.Failed(rc.Address + " would be deleted."), nil
		}
	}
	return tfc.Passed("Nothing is deleted."), nil
}

func TestCheckFailsDeletingPlans(t *testing.T) {
	ctx := t.Context()
	hcp := tfctest.NewServer() // an in-memory HCP Terraform
	defer hcp.Close()

	// The fake's host on the allow-list, plain http allowed: for tests only.
	receiver, err := tfc.NewReceiver(check, append(hcp.ReceiverOptions(), tfc.WithHMACKeys("test-key"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Shutdown(ctx)
	integration := httptest.NewServer(receiver)
	defer integration.Close()

	// Create and attach the run task, as on HCP Terraform: the fake verifies the URL.
	client := hcp.Client()
	ws := hcp.AddWorkspace("my-org", "networking")
	task, err := client.RunTasks.Create(ctx, "my-org", tfc.RunTaskCreateOptions{
		Name: "deletion-guard", URL: integration.URL, HMACKey: "test-key",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{
		RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory,
	})
	if err != nil {
		t.Fatal(err)
	}

	// A run with a destroying plan: signed delivery, plan behind a redirect, callback.
	run, err := hcp.StartRun(ws.ID, tfctest.SamplePlanDeletes())
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	stage := run.TaskStages()[0]
	if stage.Status != tfc.TaskStageAwaitingOverride || stage.TaskResults[0].Status != tfc.TaskResultFailed {
		t.Errorf("stage %s, result %s: %s", stage.Status, stage.TaskResults[0].Status, stage.TaskResults[0].Message)
	}
}
