package tfctest_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// opaSets are two policy sets: one whose mandatory policy fails (overridable as
// given), one that passes with an advisory failure.
func opaSets(overridable bool) []tfctest.PolicySet {
	return []tfctest.PolicySet{
		{Name: "s3", Description: "Bucket rules", Overridable: overridable, Outcomes: []tfc.PolicyOutcome{
			{PolicyName: "deny-public", Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementMandatory,
				Query: "data.terraform.deny", Description: "No public buckets", Output: []string{"bucket logs is public"}},
			{PolicyName: "encryption", Status: tfc.PolicyOutcomePassed, EnforcementLevel: tfc.EnforcementMandatory, Query: "data.terraform.enc"},
		}},
		{Name: "tags", Outcomes: []tfc.PolicyOutcome{
			{PolicyName: "owner-tag", Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementAdvisory, Query: "data.terraform.tags"},
		}},
	}
}

func TestPolicyEvaluationsStopTheRunUntilOverridden(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	client := s.Client()
	r := settledRun(t, s, ws.ID, tfctest.SamplePlanSafe(), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: opaSets(true)}))
	if r.Status() != "post_plan_awaiting_decision" {
		t.Fatalf("run status %s", r.Status())
	}
	held := r.TaskStages()
	if len(held) != 1 || held[0].Stage != tfc.StagePostPlan || held[0].Status != tfc.TaskStageAwaitingOverride ||
		len(held[0].PolicyEvaluations) != 1 || len(held[0].TaskResults) != 0 {
		t.Fatalf("stages %+v", held)
	}

	// The stage names its evaluation; the evaluation lists its outcomes.
	c := ctx(t)
	ts, err := client.TaskStages.Read(c, held[0].ID, &tfc.TaskStageReadOptions{Include: []tfc.TaskStageInclude{tfc.TaskStageIncludePolicyEvaluations}})
	if err != nil {
		t.Fatal(err)
	}
	pe := ts.PolicyEvaluations[0]
	if len(ts.PolicyEvaluations) != 1 || pe.ID != held[0].PolicyEvaluations[0].ID || pe.Status != tfc.PolicyEvaluationFailed ||
		pe.PolicyKind != tfc.PolicyKindOPA || pe.PolicyToolVersion != "0.61.0" || pe.TaskStageID != ts.ID ||
		pe.ResultCount != (tfc.PolicyResultCount{Passed: 1, MandatoryFailed: 1, AdvisoryFailed: 1}) {
		t.Errorf("included evaluation %+v", pe)
	}
	for _, status := range []string{"queued", "running", "failed"} {
		if _, ok := pe.StatusTimestamps.At(status); !ok {
			t.Errorf("no %s-at in %v", status, pe.StatusTimestamps)
		}
	}
	page, err := client.PolicyEvaluations.List(c, ts.ID, nil)
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != pe.ID || page.Items[0].TaskStageID != ts.ID {
		t.Fatalf("list evaluations: %v %+v", err, page)
	}
	var names []string
	for o, err := range client.PolicySetOutcomes.All(c, pe.ID, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, o.PolicySetName)
		if o.PolicyEvaluationID != pe.ID || o.PolicyToolVersion != "0.61.0" {
			t.Errorf("outcome %+v", o)
		}
	}
	if len(names) != 2 {
		t.Errorf("outcomes of %v", names)
	}

	// Mandatory failures only: the tags set (advisory) is left out.
	failed, err := client.PolicySetOutcomes.List(c, pe.ID, &tfc.PolicySetOutcomeListOptions{Filters: []tfc.PolicySetOutcomeFilter{
		{Status: tfc.PolicyOutcomeErrored}, {Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementMandatory}}})
	if err != nil || len(failed.Items) != 1 {
		t.Fatalf("filtered: %v %+v", err, failed)
	}
	s3 := failed.Items[0]
	if s3.PolicySetName != "s3" || s3.PolicySetDescription != "Bucket rules" || !s3.Overridable || len(s3.Outcomes) != 2 ||
		s3.ResultCount != (tfc.PolicyResultCount{Passed: 1, MandatoryFailed: 1}) {
		t.Errorf("s3 %+v", s3)
	}
	if f := s3.Failed(); len(f) != 1 || f[0].PolicyName != "deny-public" || f[0].Description != "No public buckets" ||
		f[0].Query != "data.terraform.deny" || len(f[0].Output) != 1 || f[0].EnforcementLevel != tfc.EnforcementMandatory {
		t.Errorf("failed policies %+v", f)
	}
	read, err := client.PolicySetOutcomes.Read(c, s3.ID)
	if err != nil || read.PolicySetName != "s3" {
		t.Errorf("read %v %+v", err, read)
	}
	if _, err := client.PolicySetOutcomes.Read(c, "psout-unknown"); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("unknown outcome: %v", err)
	}

	// Overriding the stage overrides the evaluation and lets the run apply.
	if _, err := client.TaskStages.Override(c, ts.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(c); err != nil {
		t.Fatal(err)
	}
	if r.Status() != "applied" || r.TaskStages()[0].PolicyEvaluations[0].Status != tfc.PolicyEvaluationOverridden {
		t.Errorf("after the override: run %s, stages %+v", r.Status(), r.TaskStages())
	}
}

func TestPolicyEvaluationOutcomes(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	for _, tt := range []struct {
		name        string
		sets        []tfctest.PolicySet
		stage, run  string
		evalStatus  tfc.PolicyEvaluationStatus
		stageStatus tfc.TaskStageStatus
	}{
		{"passed", []tfctest.PolicySet{{Name: "ok", Outcomes: []tfc.PolicyOutcome{{PolicyName: "p", Status: tfc.PolicyOutcomePassed, EnforcementLevel: tfc.EnforcementMandatory}}}},
			"pre_plan", "applied", tfc.PolicyEvaluationPassed, tfc.TaskStagePassed},
		{"advisory only", opaSets(false)[1:], "post_plan", "applied", tfc.PolicyEvaluationPassed, tfc.TaskStagePassed},
		{"not overridable", opaSets(false), "post_plan", "errored", tfc.PolicyEvaluationFailed, tfc.TaskStageFailed},
		{"errored", []tfctest.PolicySet{{Name: "broken", Error: "parse error"}}, "pre_apply", "errored", tfc.PolicyEvaluationErrored, tfc.TaskStageErrored},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := settledRun(t, s, ws.ID, tfctest.SamplePlanSafe(), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{
				Stage: tfc.Stage(tt.stage), PolicySets: tt.sets}))
			st := r.TaskStages()
			if r.Status() != tt.run || len(st) != 1 || st[0].Status != tt.stageStatus || st[0].PolicyEvaluations[0].Status != tt.evalStatus {
				t.Errorf("run %s, stages %+v", r.Status(), st)
			}
		})
	}
	if _, err := s.StartRun(ws.ID, []byte(`{}`), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{Stage: "plan"})); err == nil {
		t.Error("an evaluation at an unknown stage")
	}
}

// TestPolicySetOutcomeFiltersOnTheWire: the documented filter spelling and go-tfe's,
// and the 400 for values the service refuses.
func TestPolicySetOutcomeFiltersOnTheWire(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	r := settledRun(t, s, ws.ID, []byte(`{}`), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: opaSets(true)}))
	pe := r.TaskStages()[0].PolicyEvaluations[0].ID
	base := s.URL + "/api/v2/policy-evaluations/" + pe + "/policy-set-outcomes"
	for query, want := range map[string]int{
		"":                          2,
		"?filter[0][status]=passed": 1,
		"?filter[0][status]=failed": 2,
		"?filter[x][status]=failed&filter[x][enforcementLevel]=mandatory": 1,
		"?filter[0][status]=failed&filter[0][enforcement_level]=advisory": 1,
		"?filter[0][status]=errored&filter[0][enforcementLevel]=advisory": 0,
	} {
		resp, body := rawRequest(t, http.MethodGet, base+query, s.Token, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, body)
		}
		if got := len(shapeOf(t, query, body)["data"].([]any)); got != want {
			t.Errorf("%s: %d sets, want %d", query, got, want)
		}
	}
	for _, query := range []string{"?filter[0][status]=soft_failed", "?filter[0][enforcementLevel]=mandatory", "?filter[0][status]=failed&filter[0][enforcementLevel]=hard"} {
		if resp, body := rawRequest(t, http.MethodGet, base+query, s.Token, ""); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", query, resp.StatusCode, body)
		}
	}
}
