package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tfkit/tfc"
)

// maxPoll bounds the wait between two reads of a task stage.
const maxPoll = 15 * time.Second

// evaluations gates on the policy evaluations of the run's task stages. It reports
// whether the run has any (when not, the caller gates on policy checks), and the
// evaluations that block the run, each with its failed policies named.
func (g *gate) evaluations(ctx context.Context) (bool, []string, error) {
	var stages []string
	for st, err := range g.client.TaskStages.All(ctx, g.runID, nil) {
		if errors.Is(err, tfc.ErrNotFound) {
			// A Terraform Enterprise without task stages; the policy checks will say
			// whether the run exists.
			return false, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
		if len(st.PolicyEvaluations) > 0 {
			stages = append(stages, st.ID)
		}
	}
	if len(stages) == 0 {
		return false, nil, nil
	}
	var blocked []string
	for _, id := range stages {
		st, err := g.waitStage(ctx, id)
		if err != nil {
			return true, nil, err
		}
		var stageBlocked []string
		for _, pe := range st.PolicyEvaluations {
			sets, err := g.outcomes(ctx, pe.ID)
			if err != nil {
				return true, nil, err
			}
			reportEvaluation(g.out, st, pe, sets)
			if pe.Status != tfc.PolicyEvaluationPassed && pe.Status != tfc.PolicyEvaluationOverridden {
				stageBlocked = append(stageBlocked, blockingPolicies(pe, sets))
			}
		}
		if len(stageBlocked) == 0 {
			continue
		}
		if st.Status == tfc.TaskStageAwaitingOverride && g.override {
			if !st.Permissions.CanOverridePolicy {
				fmt.Fprintln(g.out, "  the token may not override the policies of this stage; trying anyway")
			}
			over, err := g.client.TaskStages.Override(ctx, st.ID, &tfc.TaskStageOverrideOptions{Comment: "Overridden by policy-gate"})
			if err != nil {
				return true, nil, fmt.Errorf("overriding %s: %w", st.ID, err)
			}
			fmt.Fprintf(g.out, "%s overridden (now %s)\n", st.ID, over.Status)
			continue
		}
		blocked = append(blocked, stageBlocked...)
	}
	return true, blocked, nil
}

// waitStage reads a task stage, with its policy evaluations, until it is final (passed,
// failed, awaiting an override, errored, canceled or unreachable), backing off from
// the poll interval.
func (g *gate) waitStage(ctx context.Context, id string) (*tfc.TaskStage, error) {
	opts := &tfc.TaskStageReadOptions{Include: []tfc.TaskStageInclude{tfc.TaskStageIncludePolicyEvaluations}}
	wait := g.poll
	for {
		st, err := g.client.TaskStages.Read(ctx, id, opts)
		if err != nil {
			return nil, err
		}
		if st.Status.IsFinal() {
			return st, nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("waiting for task stage %s (%s): %w", id, st.Status, ctx.Err())
		case <-timer.C:
		}
		wait = min(2*wait, max(maxPoll, g.poll))
	}
}

// outcomes lists every policy set outcome of an evaluation.
func (g *gate) outcomes(ctx context.Context, evaluationID string) ([]*tfc.PolicySetOutcome, error) {
	var sets []*tfc.PolicySetOutcome
	for o, err := range g.client.PolicySetOutcomes.All(ctx, evaluationID, nil) {
		if err != nil {
			return nil, err
		}
		sets = append(sets, o)
	}
	return sets, nil
}

// reportEvaluation prints an evaluation, its counts, and each policy of each set with
// its result, description and printed output.
func reportEvaluation(w io.Writer, st *tfc.TaskStage, pe *tfc.PolicyEvaluation, sets []*tfc.PolicySetOutcome) {
	c := pe.ResultCount
	fmt.Fprintf(w, "%s %s (%s %s, %s task stage %s %s): %d passed, %d failed (%d mandatory, %d advisory), %d errored\n",
		pe.ID, pe.Status, pe.PolicyKind, pe.PolicyToolVersion, st.Stage, st.ID, st.Status,
		c.Passed, c.MandatoryFailed+c.AdvisoryFailed, c.MandatoryFailed, c.AdvisoryFailed, c.Errored)
	for _, set := range sets {
		if set.Error != "" {
			fmt.Fprintf(w, "  %s: error: %s\n", set.PolicySetName, set.Error)
		}
		for _, p := range set.Outcomes {
			line := fmt.Sprintf("  %s/%s: %s", set.PolicySetName, p.PolicyName, p.Status)
			if p.EnforcementLevel != "" {
				line += " (" + string(p.EnforcementLevel) + ")"
			}
			if p.Description != "" {
				line += " - " + p.Description
			}
			fmt.Fprintln(w, line)
			for _, out := range p.Output {
				fmt.Fprintf(w, "    %s\n", out)
			}
		}
	}
}

// blockingPolicies names what makes an evaluation block the run: its mandatory
// failures, errored policies and erroring sets ("poleval-… failed: set/policy, …").
func blockingPolicies(pe *tfc.PolicyEvaluation, sets []*tfc.PolicySetOutcome) string {
	var names []string
	for _, set := range sets {
		if set.Error != "" {
			names = append(names, set.PolicySetName+" (error)")
		}
		for _, p := range set.Outcomes {
			if p.Status == tfc.PolicyOutcomeErrored || p.Status == tfc.PolicyOutcomeFailed && p.EnforcementLevel != tfc.EnforcementAdvisory {
				names = append(names, set.PolicySetName+"/"+p.PolicyName)
			}
		}
	}
	desc := pe.ID + " " + string(pe.Status)
	if len(names) > 0 {
		desc += ": " + strings.Join(names, ", ")
	}
	return desc
}
