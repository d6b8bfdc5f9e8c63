// Command policy-gate is a deploy gate on the policy checks of a run. It lists the
// run's policy checks, waits for each to finish (or to soft-fail), prints each check
// and each policy's result (Scalr's policies; on HCP Terraform, what its Sentinel
// data says), overrides soft failures when asked, and exits non-zero when the run may
// not go on:
//
//	policy-gate -run RUN_ID [-override] [-scalr-account NAME]
//
// Exit status: 0 when every check passed or was overridden, 1 on a hard failure, a soft
// failure left alone (no -override), an errored, canceled or unreachable check, or any
// error, 2 on bad usage.
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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
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

// run is the gate. It returns nil when the run may go on, an error wrapping errBlocked
// when its policy checks stop it, and another error when the gate could not decide.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy-gate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	runID := fs.String("run", "", "ID of the run whose policy checks to gate on (required)")
	override := fs.Bool("override", false, "override soft-failed checks (needs the override permission)")
	scalrAccount := fs.String("scalr-account", "", "talk to this Scalr account instead of HCP Terraform")
	poll := fs.Duration("poll", 2*time.Second, "first interval between reads of a running check")
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

	var blocked []string
	n := 0
	for listed, err := range client.PolicyChecks.All(ctx, *runID, nil) {
		if err != nil {
			return err
		}
		n++
		check, err := client.PolicyChecks.Wait(ctx, listed.ID, &tfc.PolicyCheckWaitOptions{StopAtSoftFailed: true, PollInterval: *poll})
		if err != nil {
			return err
		}
		if check.Status == tfc.PolicyCheckSoftFailed && *override {
			report(stdout, check)
			if check.CanOverride != nil && !*check.CanOverride {
				fmt.Fprintln(stdout, "  the token may not override this check; trying anyway")
			}
			if check, err = client.PolicyChecks.Override(ctx, check.ID); err != nil {
				return fmt.Errorf("overriding %s: %w", listed.ID, err)
			}
		}
		report(stdout, check)
		if check.Status != tfc.PolicyCheckPassed && check.Status != tfc.PolicyCheckOverridden {
			blocked = append(blocked, check.ID+" "+string(check.Status))
		}
	}
	if n == 0 {
		fmt.Fprintf(stdout, "run %s has no policy checks\n", *runID)
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

// report prints a check and its policies: Scalr lists them in the result, HCP
// Terraform in its Sentinel data.
func report(w io.Writer, pc *tfc.PolicyCheck) {
	r := pc.Result
	fmt.Fprintf(w, "%s %s: %d passed, %d failed (%d hard, %d soft, %d advisory)\n",
		pc.ID, pc.Status, r.Passed, r.TotalFailed, r.HardFailed, r.SoftFailed, r.AdvisoryFailed)
	if pc.ErrorMessage != "" {
		fmt.Fprintf(w, "  error: %s\n", pc.ErrorMessage)
	}
	policies := r.Policies
	if policies == nil {
		policies = sentinelPolicies(r.Sentinel)
	}
	for _, p := range policies {
		fmt.Fprintf(w, "  %s: %s\n", p.Name, p.Result)
		for _, m := range p.Messages {
			fmt.Fprintf(w, "    %s\n", m)
		}
	}
}

// sentinelPolicies reads each policy's result from HCP Terraform's Sentinel data
// (data.<policy set>.policies[].policy and result). The API documents that structure
// as subject to change, so whatever does not read as expected is left out rather than
// failing the gate, which decides on the status alone.
func sentinelPolicies(raw json.RawMessage) []tfc.PolicyCheckPolicy {
	var sentinel struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &sentinel) != nil {
		return nil
	}
	var out []tfc.PolicyCheckPolicy
	for _, name := range slices.Sorted(maps.Keys(sentinel.Data)) {
		var set struct {
			Policies []struct {
				Policy         string `json:"policy"`
				Result         *bool  `json:"result"`
				AllowedFailure bool   `json:"allowed-failure"`
			} `json:"policies"`
		}
		if json.Unmarshal(sentinel.Data[name], &set) != nil {
			continue
		}
		for _, p := range set.Policies {
			if p.Policy == "" || p.Result == nil {
				continue
			}
			result := "passed"
			switch {
			case *p.Result:
			case p.AllowedFailure:
				result = "advisory_failed"
			default:
				result = "failed"
			}
			out = append(out, tfc.PolicyCheckPolicy{Name: p.Policy, Result: result})
		}
	}
	return out
}
