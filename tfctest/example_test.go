package tfctest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// A test of your own run task check: the fake service creates the run task (its
// verification request reaches your receiver), starts a run with a plan, delivers it
// signed, and records the result your check calls back with.
func Example() {
	ctx := context.Background()
	s := tfctest.NewServer()
	defer s.Close()

	// The check under test, served as in production.
	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		plan, err := d.Plan(ctx)
		if err != nil {
			return tfc.TaskResultUpdate{}, err
		}
		if n := len(plan.ResourceChanges); n > 10 {
			return tfc.Failed(fmt.Sprintf("%d changes is too many for one run.", n)), nil
		}
		return tfc.Passed(fmt.Sprintf("%d change(s), within the limit.", len(plan.ResourceChanges))), nil
	}
	// ReceiverOptions allows the fake's host and plain http, as a test needs.
	receiver, err := tfc.NewReceiver(check, append(s.ReceiverOptions(), tfc.WithHMACKeys("hmac-secret"))...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer receiver.Shutdown(ctx)
	integration := httptest.NewServer(receiver)
	defer integration.Close()

	// Create the run task and attach it, as you would on HCP Terraform.
	client := s.Client()
	ws := s.AddWorkspace("my-org", "networking")
	task, err := client.RunTasks.Create(ctx, "my-org", tfc.RunTaskCreateOptions{
		Name: "change-limit", URL: integration.URL, HMACKey: "hmac-secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{
		RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory, Stages: []tfc.Stage{tfc.StagePostPlan},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Run a plan through it and wait for the task stage to settle.
	plan := []byte(`{"format_version":"1.2","resource_changes":[
		{"address":"null_resource.a","mode":"managed","type":"null_resource","name":"a","change":{"actions":["create"]}}]}`)
	run, err := s.StartRun(ws.ID, plan)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	stage := run.TaskStages()[0]
	result := stage.TaskResults[0]
	fmt.Println("task stage:", stage.Status)
	fmt.Println("task result:", result.Status, "-", result.Message)
	// Output:
	// task stage: passed
	// task result: passed - 1 change(s), within the limit.
}

// A policy gate under test: the run's policy evaluation fails a mandatory policy, the
// gate names it from the policy set outcomes, and overriding the task stage lets the
// run apply.
func ExampleWithPolicyEvaluation() {
	ctx := context.Background()
	s := tfctest.NewServer()
	defer s.Close()
	ws := s.AddWorkspace("my-org", "networking")
	run, err := s.StartRun(ws.ID, tfctest.SamplePlanSafe(), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{
		PolicySets: []tfctest.PolicySet{{Name: "s3", Overridable: true, Outcomes: []tfc.PolicyOutcome{
			{PolicyName: "deny-public", Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementMandatory},
			{PolicyName: "encryption", Status: tfc.PolicyOutcomePassed, EnforcementLevel: tfc.EnforcementMandatory},
		}}},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}

	client := s.Client()
	for stage, err := range client.TaskStages.All(ctx, run.ID, nil) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(stage.Stage, stage.Status)
		for _, pe := range stage.PolicyEvaluations {
			for set, err := range client.PolicySetOutcomes.All(ctx, pe.ID, nil) {
				if err != nil {
					fmt.Println(err)
					return
				}
				for _, p := range set.Failed() {
					fmt.Printf("%s/%s %s (%s)\n", set.PolicySetName, p.PolicyName, p.Status, p.EnforcementLevel)
				}
			}
		}
		if _, err := client.TaskStages.Override(ctx, stage.ID, nil); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("run:", run.Status())
	// Output:
	// post_plan awaiting_override
	// s3/deny-public failed (mandatory)
	// run: applied
}

// A deploy tool under test: the run waits for confirmation, the tool reads it and
// applies it through the API.
func ExampleWithManualApply() {
	ctx := context.Background()
	s := tfctest.NewServer()
	defer s.Close()
	ws := s.AddWorkspace("my-org", "networking")
	run, err := s.StartRun(ws.ID, tfctest.SamplePlanSafe(), tfctest.WithManualApply())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}

	client := s.Client()
	r, err := client.Runs.Read(ctx, run.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Status, "confirmable:", r.Actions.IsConfirmable)
	if err := client.Runs.Apply(ctx, r.ID, &tfc.RunActionOptions{Comment: "Ship it."}); err != nil {
		fmt.Println(err)
		return
	}
	if err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(run.Status())
	// Output:
	// planned confirmable: true
	// applied
}
