// Command policy-gate is a deploy gate on the policies of a run. It exits non-zero when
// the run's policies do not let it go on:
//
//	policy-gate -run RUN_ID [-override] [-scalr-account NAME]
//
// On HCP Terraform, a run whose task stages have policy evaluations (agent-based OPA
// or Sentinel, the successor of policy checks) is gated on them: the gate waits for each
// such stage to finish, prints each evaluation, each policy set and each policy's
// result (with its description and printed output), overrides a stage that awaits an
// override when asked, and names every failed policy. Any other run, and every run on
// Scalr, is gated on its policy checks: the gate waits for each check to finish (or to
// soft-fail), prints each check and each policy's result (Scalr's policies; on HCP
// Terraform, what its Sentinel data says) and overrides soft failures when asked.
//
// Exit status: 0 when every evaluation or check passed or was overridden (advisory
// failures are printed, never blocking); 1 on a mandatory or hard failure, a failure
// left alone (no -override), an errored, canceled or unreachable evaluation or check,
// or any error; 2 on bad usage.
//
// HCP Terraform and Terraform Enterprise: the token and address come from TFE_TOKEN
// and TFE_ADDRESS (default https://app.terraform.io).
//
// Scalr: with -scalr-account NAME the client talks to https://NAME.scalr.io/api/iacp/v3
// with the token in SCALR_TOKEN; SCALR_ADDRESS, if set, replaces the host (a
// self-hosted Scalr).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/tfkit/tfc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "policy-gate:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "policy-gate:", err)
		os.Exit(1)
	}
}

// usageError is a problem with the command line.
type usageError struct{ error }

// errBlocked says the gate refuses the run.
var errBlocked = errors.New("the run is blocked by its policy checks")

// gate holds what a gate decision needs.
type gate struct {
	client   *tfc.Client
	runID    string
	override bool
	poll     time.Duration
	out      io.Writer
}

// run is the gate. It returns nil when the run may go on, an error wrapping errBlocked
// when its policy evaluations or checks stop it, and another error when the gate could
// not decide.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy-gate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	runID := fs.String("run", "", "ID of the run whose policies to gate on (required)")
	override := fs.Bool("override", false, "override soft-failed checks and failed policy evaluations (needs the override permission)")
	scalrAccount := fs.String("scalr-account", "", "talk to this Scalr account instead of HCP Terraform")
	poll := fs.Duration("poll", 2*time.Second, "first interval between reads of a running check or task stage")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *runID == "" || fs.NArg() > 0 {
		return usageError{errors.New("usage: policy-gate -run RUN_ID [-override] [-scalr-account NAME]")}
	}
	client, err := newClient(*scalrAccount)
	if err != nil {
		return err
	}

	g := &gate{client: client, runID: *runID, override: *override, poll: *poll, out: stdout}
	var blocked []string
	evaluated := false
	if *scalrAccount == "" { // Scalr has no task stages
		evaluated, blocked, err = g.evaluations(ctx)
		if err != nil {
			return err
		}
	}
	if !evaluated {
		if blocked, err = g.checks(ctx); err != nil {
			return err
		}
	}
	if len(blocked) > 0 {
		return fmt.Errorf("%w: %s", errBlocked, strings.Join(blocked, ", "))
	}
	return nil
}

// newClient builds the client for HCP Terraform (TFE_TOKEN, TFE_ADDRESS) or, with a
// Scalr account, for Scalr (SCALR_TOKEN, SCALR_ADDRESS).
func newClient(scalrAccount string) (*tfc.Client, error) {
	opts := []tfc.Option{tfc.WithUserAgent("policy-gate")}
	if scalrAccount == "" {
		opts = append(opts, tfc.FromEnv())
	} else {
		// Scalr documents every policy check call with the preview profile.
		opts = append(opts, tfc.WithScalr(scalrAccount), tfc.WithScalrPreview(), tfc.WithToken(os.Getenv("SCALR_TOKEN")))
		if addr := os.Getenv("SCALR_ADDRESS"); addr != "" {
			opts = append(opts, tfc.WithAddress(addr))
		}
	}
	return tfc.NewClient(opts...)
}
