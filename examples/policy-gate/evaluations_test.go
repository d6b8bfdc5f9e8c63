package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// hcp starts tfctest and points the gate's environment at it.
func hcp(t *testing.T) (*tfctest.Server, tfctest.Workspace) {
	t.Helper()
	s := tfctest.NewServer()
	t.Cleanup(s.Close)
	t.Setenv("TFE_TOKEN", s.Token)
	t.Setenv("TFE_ADDRESS", s.URL)
	return s, s.AddWorkspace("acme", "networking")
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// policySets: a set whose mandatory policy fails, and one with an advisory failure.
func policySets(overridable bool) []tfctest.PolicySet {
	return []tfctest.PolicySet{
		{Name: "s3", Overridable: overridable, Outcomes: []tfc.PolicyOutcome{
			{PolicyName: "deny-public", Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementMandatory,
				Description: "No public buckets", Output: []string{"bucket logs is public"}},
			{PolicyName: "encryption", Status: tfc.PolicyOutcomePassed, EnforcementLevel: tfc.EnforcementMandatory},
		}},
		{Name: "tags", Outcomes: []tfc.PolicyOutcome{
			{PolicyName: "owner-tag", Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementAdvisory},
		}},
	}
}

// settled starts a run with opts and waits for it to settle.
func settled(t *testing.T, s *tfctest.Server, ws tfctest.Workspace, opts ...tfctest.RunOption) *tfctest.Run {
	t.Helper()
	r, err := s.StartRun(ws.ID, tfctest.SamplePlanSafe(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(testContext(t)); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGatePolicyEvaluationsNameFailedPolicies: a run held by a failed mandatory policy
// is blocked, naming the policy, and passes once overridden with -override.
func TestGatePolicyEvaluationsNameFailedPolicies(t *testing.T) {
	s, ws := hcp(t)
	r := settled(t, s, ws, tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: policySets(true)}))
	stage := r.TaskStages()[0]
	evaluation := stage.PolicyEvaluations[0].ID

	var out bytes.Buffer
	err := run(testContext(t), []string{"-run", r.ID, "-poll", "1ms"}, &out)
	if !errors.Is(err, errBlocked) || !strings.Contains(err.Error(), evaluation+" failed: s3/deny-public") ||
		strings.Contains(err.Error(), "owner-tag") || strings.Contains(err.Error(), "encryption") {
		t.Errorf("without -override: %v", err)
	}
	for _, want := range []string{
		evaluation + " failed (opa 0.61.0, post_plan task stage " + stage.ID + " awaiting_override): 1 passed, 2 failed (1 mandatory, 1 advisory), 0 errored\n",
		"  s3/deny-public: failed (mandatory) - No public buckets\n    bucket logs is public\n",
		"  s3/encryption: passed (mandatory)\n",
		"  tags/owner-tag: failed (advisory)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "policy checks") || r.Status() != "post_plan_awaiting_decision" {
		t.Errorf("the gate fell back to policy checks or moved the run (%s):\n%s", r.Status(), out.String())
	}

	out.Reset()
	if err := run(testContext(t), []string{"-run", r.ID, "-override", "-poll", "1ms"}, &out); err != nil {
		t.Fatalf("with -override: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), stage.ID+" overridden") {
		t.Errorf("with -override:\n%s", out.String())
	}
	if err := r.Wait(testContext(t)); err != nil || r.Status() != "applied" {
		t.Errorf("after the override the run is %s (%v)", r.Status(), err)
	}
}

func TestGatePolicyEvaluationOutcomes(t *testing.T) {
	s, ws := hcp(t)
	// Advisory failures pass.
	advisory := settled(t, s, ws, tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: policySets(false)[1:]}))
	var out bytes.Buffer
	if err := run(testContext(t), []string{"-run", advisory.ID}, &out); err != nil || !strings.Contains(out.String(), "tags/owner-tag: failed (advisory)") {
		t.Errorf("advisory: %v\n%s", err, out.String())
	}
	// A failure that may not be overridden blocks even with -override.
	hard := settled(t, s, ws, tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: policySets(false)}))
	out.Reset()
	err := run(testContext(t), []string{"-run", hard.ID, "-override"}, &out)
	if !errors.Is(err, errBlocked) || !strings.Contains(err.Error(), "s3/deny-public") || strings.Contains(out.String(), "overridden") {
		t.Errorf("not overridable: %v\n%s", err, out.String())
	}
	// An erroring set is named.
	broken := settled(t, s, ws, tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: []tfctest.PolicySet{{Name: "broken", Error: "rego parse error"}}}))
	out.Reset()
	err = run(testContext(t), []string{"-run", broken.ID}, &out)
	if !errors.Is(err, errBlocked) || !strings.Contains(err.Error(), "errored: broken (error)") || !strings.Contains(out.String(), "  broken: error: rego parse error\n") {
		t.Errorf("errored: %v\n%s", err, out.String())
	}
}

// TestGateFallsBackToPolicyChecks: a run without policy evaluations is gated on its
// policy checks.
func TestGateFallsBackToPolicyChecks(t *testing.T) {
	s, ws := hcp(t)
	r := settled(t, s, ws)
	s.AddPolicyCheck(r.ID, tfctest.PolicyCheck{Status: tfc.PolicyCheckHardFailed})
	var out bytes.Buffer
	err := run(testContext(t), []string{"-run", r.ID, "-poll", "1ms"}, &out)
	if !errors.Is(err, errBlocked) || !strings.Contains(err.Error(), "hard_failed") || !strings.Contains(out.String(), "0 passed, 1 failed (1 hard") {
		t.Errorf("%v\n%s", err, out.String())
	}
	// A Terraform Enterprise without task stages answers 404 for them.
	tfe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/task-stages") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.api+json")
		_, _ = w.Write([]byte(`{"data":[]}`))
	}))
	defer tfe.Close()
	t.Setenv("TFE_ADDRESS", tfe.URL)
	out.Reset()
	if err := run(testContext(t), []string{"-run", "run-old"}, &out); err != nil || !strings.Contains(out.String(), "run run-old has no policy checks") {
		t.Errorf("without task stages: %v\n%s", err, out.String())
	}
}

// TestGateWaitsForTheStage: the gate reads a running stage until it is final. The run
// task of the stage answers only once the gate has read the stage while it runs.
func TestGateWaitsForTheStage(t *testing.T) {
	s, ws := hcp(t)
	release := make(chan struct{})
	var once sync.Once
	receiver, err := tfc.NewReceiver(func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		select {
		case <-release:
			return tfc.Passed("done"), nil
		case <-ctx.Done():
			return tfc.TaskResultUpdate{}, ctx.Err()
		}
	}, append(s.ReceiverOptions(), tfc.WithHMACKeys("gate-key"))...)
	if err != nil {
		t.Fatal(err)
	}
	integration := httptest.NewServer(receiver)
	t.Cleanup(func() {
		once.Do(func() { close(release) })
		integration.Close()
		_ = receiver.Shutdown(context.Background())
	})
	client := s.Client()
	ctx := testContext(t)
	task, err := client.RunTasks.Create(ctx, "acme", tfc.RunTaskCreateOptions{Name: "slow", URL: integration.URL, HMACKey: "gate-key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory}); err != nil {
		t.Fatal(err)
	}
	r, err := s.StartRun(ws.ID, tfctest.SamplePlanSafe(), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: policySets(false)[1:]}))
	if err != nil {
		t.Fatal(err)
	}
	stage := r.TaskStages()[0].ID

	// A proxy in front of tfctest releases the task once the gate has read the stage
	// running.
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/api/v2/task-stages/"+stage {
			once.Do(func() { close(release) })
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	t.Setenv("TFE_ADDRESS", front.URL)

	var out bytes.Buffer
	if err := run(ctx, []string{"-run", r.ID, "-poll", "1ms"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "task stage "+stage+" passed") {
		t.Errorf("output:\n%s", out.String())
	}
}
