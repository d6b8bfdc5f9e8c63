// Command quickstart runs a whole run task round trip on this machine, with no account
// and no network beyond loopback:
//
//	go run ./examples/quickstart
//
// It starts an in-memory HCP Terraform (package tfctest) and the deletion guard of
// examples/runtask-server (a tfc.Receiver running examples/internal/deletionguard),
// creates the run task with the tfc client, attaches it to a workspace as mandatory
// after the plan, and runs two plans through it: one that deletes nothing (the task
// passes) and one that deletes resources (the task fails with an outcome per deletion,
// and the run waits for an override). Each step is printed as it happens.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/examples/internal/deletionguard"
	"github.com/tfkit/tfc/tfctest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run plays the round trip and writes what happens to out.
func run(ctx context.Context, out io.Writer) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	say("tfc quickstart: a run task round trip on this machine, with no account.")
	say("")
	hcp := tfctest.NewServer()
	defer hcp.Close()
	say("1. Started an in-memory HCP Terraform at %s (package tfctest).", hcp.URL)

	hcpHost := strings.TrimPrefix(hcp.URL, "http://")
	guardURL, stopGuard, err := startDeletionGuard(hcpHost)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopGuard()) }()
	say("2. Started the deletion guard, a run task integration, at %s", guardURL)
	say("   (tfc.NewReceiver running the check in examples/internal/deletionguard).")
	say("   For this local run only, it opts in to plain http and to the fake's loopback address:")
	say("   tfc.InsecureAllowHTTP() and tfc.WithAllowedHosts(%q). By default a receiver", hcpHost)
	say("   needs https and refuses loopback and private addresses; runtask-server allows")
	say("   app.terraform.io unless told otherwise.")

	client := hcp.Client()
	ws := hcp.AddWorkspace("my-org", "networking")
	task, err := client.RunTasks.Create(ctx, ws.Organization, tfc.RunTaskCreateOptions{
		Name: "deletion-guard", URL: guardURL, HMACKey: guardKey, Description: "Fails runs that would delete resources.",
	})
	if err != nil {
		return fmt.Errorf("creating the run task: %w", err)
	}
	say("3. Created the run task %q (%s).", task.Name, task.ID)
	say("   HCP Terraform sent it a signed verification request; it answered 200, so the task was created.")
	_, err = client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{
		RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory, Stages: []tfc.Stage{tfc.StagePostPlan},
	})
	if err != nil {
		return fmt.Errorf("attaching the run task: %w", err)
	}
	say("4. Attached it to workspace %s/%s (%s): mandatory, after the plan (post_plan).", ws.Organization, ws.Name, ws.ID)

	say("")
	say("5. A run whose plan deletes nothing:")
	if _, err := runPlan(ctx, out, hcp, client, ws, tfctest.SamplePlanSafe()); err != nil {
		return err
	}

	say("")
	say("6. A run whose plan deletes resources:")
	stage, err := runPlan(ctx, out, hcp, client, ws, tfctest.SamplePlanDeletes())
	if err != nil {
		return err
	}
	if stage.Status != tfc.TaskStageAwaitingOverride {
		return fmt.Errorf("the task stage is %s, not awaiting_override", stage.Status)
	}
	say("   Next: change the configuration so that nothing is deleted, or, if the deletion is")
	say("   intended, override the stage: client.TaskStages.Override(ctx, %q, nil)", stage.ID)

	say("")
	overridden, err := client.TaskStages.Override(ctx, stage.ID, &tfc.TaskStageOverrideOptions{Comment: "The deletion is intended."})
	if err != nil {
		return fmt.Errorf("overriding the task stage: %w", err)
	}
	say("7. Overrode task stage %s: it is now %s, and the run goes on.", overridden.ID, overridden.Status)

	say("")
	say("Done. To use the same check with HCP Terraform, serve it on a public HTTPS URL")
	say("(cd examples/runtask-server && go run .) and create the run task there; see the README.")
	return nil
}

// guardKey is the HMAC key the run task signs deliveries with and the guard verifies.
var guardKey = tfc.Secret(rand.Text())

// startDeletionGuard serves the deletion guard on a loopback port, accepting
// deliveries from the fake HCP Terraform at hcpHost, and returns its URL and a function
// that stops it.
func startDeletionGuard(hcpHost string) (string, func() error, error) {
	receiver, err := tfc.NewReceiver(deletionguard.Check,
		tfc.WithHMACKeys(guardKey),
		tfc.WithAllowedHosts(hcpHost), // the fake service, on loopback
		tfc.InsecureAllowHTTP(),       // the fake service speaks plain http
	)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := deletionguard.NewServer(ln.Addr().String(), receiver)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := errors.Join(srv.Shutdown(ctx), receiver.Shutdown(ctx))
		if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// runPlan starts a run with plan, waits for its task stage, prints it as the API
// returns it, and returns it.
func runPlan(ctx context.Context, out io.Writer, hcp *tfctest.Server, client *tfc.Client, ws tfctest.Workspace, plan []byte) (*tfc.TaskStage, error) {
	r, err := hcp.StartRun(ws.ID, plan)
	if err != nil {
		return nil, err
	}
	if err := r.Wait(ctx); err != nil {
		return nil, fmt.Errorf("waiting for run %s: %w", r.ID, err)
	}
	page, err := client.TaskStages.List(ctx, r.ID, &tfc.TaskStageListOptions{Include: []tfc.TaskStageInclude{tfc.TaskStageIncludeTaskResults}})
	if err != nil {
		return nil, fmt.Errorf("reading the task stages of run %s: %w", r.ID, err)
	}
	if len(page.Items) != 1 || len(page.Items[0].TaskResults) != 1 {
		return nil, fmt.Errorf("run %s has %d task stages, want 1 with 1 result", r.ID, len(page.Items))
	}
	stage, result := page.Items[0], page.Items[0].TaskResults[0]
	fmt.Fprintf(out, "   Run %s, task stage %s (%s): %s", r.ID, stage.Stage, stage.ID, stage.Status)
	if stage.Status == tfc.TaskStageAwaitingOverride {
		fmt.Fprint(out, " - the run stops here")
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "   %s: %s - %s\n", result.TaskName, result.Status, result.Message)
	if outcomes := hcp.Outcomes(result.ID); len(outcomes) > 0 {
		fmt.Fprintln(out, "   Outcomes:")
		for _, o := range outcomes {
			fmt.Fprintf(out, "   - %s %s\n", o.Description, tags(o.Tags))
		}
	}
	return stage, nil
}

// tags formats an outcome's tags as "[Action: Delete, Severity: High]", headers sorted.
func tags(t map[string][]tfc.Tag) string {
	var parts []string
	for header, labels := range t {
		names := make([]string, len(labels))
		for i, l := range labels {
			names[i] = l.Label
		}
		parts = append(parts, header+": "+strings.Join(names, "/"))
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}
