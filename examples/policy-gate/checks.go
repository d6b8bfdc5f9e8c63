package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/tfkit/tfc"
)

// checks gates on the run's policy checks: it waits for each (stopping at soft_failed),
// overrides soft failures when asked, reports each, and returns the checks that block
// the run.
func (g *gate) checks(ctx context.Context) ([]string, error) {
	var blocked []string
	n := 0
	for listed, err := range g.client.PolicyChecks.All(ctx, g.runID, nil) {
		if err != nil {
			return nil, err
		}
		n++
		check, err := g.client.PolicyChecks.Wait(ctx, listed.ID, &tfc.PolicyCheckWaitOptions{StopAtSoftFailed: true, PollInterval: g.poll})
		if err != nil {
			return nil, err
		}
		if check.Status == tfc.PolicyCheckSoftFailed && g.override {
			report(g.out, check)
			if check.CanOverride != nil && !*check.CanOverride {
				fmt.Fprintln(g.out, "  the token may not override this check; trying anyway")
			}
			if check, err = g.client.PolicyChecks.Override(ctx, check.ID); err != nil {
				return nil, fmt.Errorf("overriding %s: %w", listed.ID, err)
			}
		}
		report(g.out, check)
		if check.Status != tfc.PolicyCheckPassed && check.Status != tfc.PolicyCheckOverridden {
			blocked = append(blocked, check.ID+" "+string(check.Status))
		}
	}
	if n == 0 {
		fmt.Fprintf(g.out, "run %s has no policy checks\n", g.runID)
	}
	return blocked, nil
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
