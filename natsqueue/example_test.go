package natsqueue_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/natsqueue"
	"github.com/tfkit/tfc/tfctest"
)

// One binary on one machine: the receiver answers 200 once a delivery is stored in the
// embedded JetStream server, and a worker in the same process runs the check and calls
// back. Here the service is tfctest's fake HCP Terraform.
func Example() {
	ctx := context.Background()
	service := tfctest.NewServer()
	defer service.Close()

	stateDir, err := os.MkdirTemp("", "runtask-server-data")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(stateDir)
	q, err := natsqueue.Open(ctx, natsqueue.Config{StateDir: stateDir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()

	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		return tfc.Passed("Checked " + d.Request.RunID[:4] + "…"), nil
	}
	receiver, err := tfc.NewReceiver(check, append(service.ReceiverOptions(),
		tfc.WithHMACKeys("hmac-secret"), tfc.WithExecutor(q))...)
	if err != nil {
		fmt.Println(err)
		return
	}
	worker, err := q.StartWorker(receiver, natsqueue.WorkerOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		// On shutdown: stop taking deliveries first, then let the worker finish.
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = worker.Stop(stopCtx)
	}()
	integration := httptest.NewServer(receiver)
	defer integration.Close()

	// Create the run task and attach it, as on HCP Terraform, and run a plan through it.
	client := service.Client()
	ws := service.AddWorkspace("my-org", "networking")
	task, err := client.RunTasks.Create(ctx, "my-org", tfc.RunTaskCreateOptions{
		Name: "durable-check", URL: integration.URL, HMACKey: "hmac-secret",
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
	run, err := service.StartRun(ws.ID, []byte(`{"format_version":"1.2","resource_changes":[]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	result := run.TaskStages()[0].TaskResults[0]
	fmt.Println("task result:", result.Status, "-", result.Message)
	// Output:
	// task result: passed - Checked run-…
}
