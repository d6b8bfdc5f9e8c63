package regocheck

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/internal/syncbuf"
	"github.com/tfkit/tfc/tfctest"
)

// testKey is the HMAC key the fake HCP Terraform and the receivers share.
const testKey = tfc.Secret("test-hmac-key")

// loadPolicies loads the policies under dir, or fails the test.
func loadPolicies(t *testing.T, dir string) *Policies {
	t.Helper()
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serveCheck serves check behind a tfc.Receiver on a loopback server, as in
// production, and returns its URL.
func serveCheck(t *testing.T, hcp *tfctest.Server, check tfc.CheckFunc, log *slog.Logger, opts ...tfc.ReceiverOption) string {
	t.Helper()
	return serve(t, newReceiver(t, hcp, check, log, opts...))
}

// newReceiver makes a tfc.Receiver for check that accepts the fake HCP Terraform's
// deliveries, with opts after the defaults, and shuts it down when the test ends. It
// is the one place that knows the receiver's options.
func newReceiver(t *testing.T, hcp *tfctest.Server, check tfc.CheckFunc, log *slog.Logger, opts ...tfc.ReceiverOption) *tfc.Receiver {
	t.Helper()
	all := append(hcp.ReceiverOptions(), tfc.WithHMACKeys(testKey))
	if log != nil {
		all = append(all, tfc.WithReceiverLogger(log))
	}
	receiver, err := tfc.NewReceiver(check, append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { receiver.Shutdown(context.Background()) })
	return receiver
}

// serve serves h on a loopback server until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// attachPolicies creates the run task on the fake HCP Terraform (which verifies the
// URL) and attaches it, mandatory, to a new workspace at stages.
func attachPolicies(t *testing.T, hcp *tfctest.Server, url string, stages ...tfc.Stage) tfctest.Workspace {
	t.Helper()
	ctx := t.Context()
	client := hcp.Client()
	ws := hcp.AddWorkspace("my-org", "networking")
	task, err := client.RunTasks.Create(ctx, "my-org", tfc.RunTaskCreateOptions{Name: "policies", URL: url, HMACKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{
		RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory, Stages: stages,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// runPlan starts a run with the plan in file and waits for its task stages to settle.
func runPlan(t *testing.T, hcp *tfctest.Server, ws tfctest.Workspace, file string) *tfctest.Run {
	t.Helper()
	plan, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	run, err := hcp.StartRun(ws.ID, plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestPolicyRoundTrip runs the policy directory through a whole run task round trip,
// as a user would test their policies: the fake HCP Terraform verifies the task,
// starts runs, delivers them signed, serves the plan behind a redirect, and records
// the result and outcomes the check calls back with.
func TestPolicyRoundTrip(t *testing.T) {
	policies := loadPolicies(t, "testdata/policy")
	hcp := tfctest.NewServer()
	defer hcp.Close()
	ws := attachPolicies(t, hcp, serveCheck(t, hcp, policies.Check, nil), tfc.StagePrePlan, tfc.StagePostPlan)

	run := runPlan(t, hcp, ws, "testdata/plans/violations.json")
	stages := run.TaskStages()
	if len(stages) != 2 {
		t.Fatalf("%d task stages", len(stages))
	}
	pre, post := stages[0].TaskResults[0], stages[1].TaskResults[0]
	if pre.Status != tfc.TaskResultPassed || pre.Message != "No plan yet at pre_plan: nothing to check." {
		t.Errorf("pre_plan: %s %q", pre.Status, pre.Message)
	}
	if stages[1].Status != tfc.TaskStageAwaitingOverride || post.Status != tfc.TaskResultFailed {
		t.Errorf("post_plan: stage %s, result %s", stages[1].Status, post.Status)
	}
	wantMessage := "3 errors, 2 warnings: aws_db_instance.main would be destroyed, and aws_db_instance is a protected type; " +
		"aws_s3_bucket_acl.logs grants the public-read ACL; module.web.aws_instance.app[0] uses instance type m5.4xlarge, which is not allowed; " +
		"and 2 more. Plan: 5 to add, 1 to change, 2 to destroy."
	if post.Message != wantMessage {
		t.Errorf("message\n%s\nwant\n%s", post.Message, wantMessage)
	}
	var got []string
	for _, o := range hcp.Outcomes(post.ID) {
		got = append(got, o.Tags["Severity"][0].Label+" "+o.ID+": "+o.Description)
	}
	want := []string{
		"Error main.deny: aws_db_instance.main would be destroyed, and aws_db_instance is a protected type",
		"Error main.deny_public_bucket: aws_s3_bucket_acl.logs grants the public-read ACL",
		"Error main.violation: module.web.aws_instance.app[0] uses instance type m5.4xlarge, which is not allowed",
		"Warning main.warn_ssh_open: aws_security_group.ssh opens SSH (port 22) to the internet",
		"Warning main.warn_tags: module.web.aws_instance.app[0] is missing required tags: owner",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outcomes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	run = runPlan(t, hcp, ws, "testdata/plans/clean.json")
	post = run.TaskStages()[1].TaskResults[0]
	if post.Status != tfc.TaskResultPassed || post.Message != "No findings. Plan: 1 to add, 0 to change, 0 to destroy." || len(hcp.Outcomes(post.ID)) != 0 {
		t.Errorf("clean plan: %s %q, %d outcomes", post.Status, post.Message, len(hcp.Outcomes(post.ID)))
	}
}

// TestEvaluationErrorRoundTrip: a rule that fails to evaluate fails the run with the
// receiver's generic message; the log names the rule, the code and the policy line,
// and never a value of the plan.
func TestEvaluationErrorRoundTrip(t *testing.T) {
	policies, err := LoadFS(policyFS(map[string]string{"conflict.rego": `package main

import rego.v1

name := rc.change.before.name if {
	some rc in input.resource_changes
}

deny contains msg if {
	startswith(name, "prod")
	msg := "production"
}
`}))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hcp := tfctest.NewServer()
	defer hcp.Close()
	ws := attachPolicies(t, hcp, serveCheck(t, hcp, policies.Check, log), tfc.StagePostPlan)

	run := runPlan(t, hcp, ws, "testdata/plans/violations.json") // two before.name values: a conflict
	result := run.TaskStages()[0].TaskResults[0]
	if result.Status != tfc.TaskResultFailed || result.Message != "The check failed with an internal error." {
		t.Errorf("result %s %q", result.Status, result.Message)
	}
	out := logs.String()
	if !strings.Contains(out, "evaluating data.main.deny") || !strings.Contains(out, "eval_conflict_error at conflict.rego:5") {
		t.Errorf("the log does not name the cause:\n%s", out)
	}
	for _, planValue := range []string{"hunter2-not-real", "acme-logs", "ami-0c55b159cbfafe1f0", `"ssh"`, `"ci"`, "=ssh", "=ci"} {
		if strings.Contains(out, planValue) {
			t.Errorf("the log holds %q from the plan:\n%s", planValue, out)
		}
	}
}

// TestPolicy2021Delivery: a delivery in the 2021 format has no stage, only a plan URL
// (run tasks then ran after the plan alone), and its plan is judged like any other.
func TestPolicy2021Delivery(t *testing.T) {
	policies := loadPolicies(t, "testdata/policy")
	hcp := tfctest.NewServer()
	defer hcp.Close()
	receiver := newReceiver(t, hcp, policies.Check, nil)
	ws := attachPolicies(t, hcp, serve(t, as2021Delivery(t, receiver)), tfc.StagePostPlan)

	result := runPlan(t, hcp, ws, "testdata/plans/violations.json").TaskStages()[0].TaskResults[0]
	if result.Status != tfc.TaskResultFailed || !strings.HasPrefix(result.Message, "3 errors, 2 warnings: ") {
		t.Errorf("2021 delivery: %s %q", result.Status, result.Message)
	}
}

// as2021Delivery passes the fake's deliveries to next rewritten as the 2021 document
// had them: without stage and the fields added since, signed under the header's 2021
// name.
func as2021Delivery(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Error(err)
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		if doc["access_token"] != "test-token" { // the verification request stays as it is
			if doc["plan_json_api_url"] == nil {
				t.Error("the fake's delivery has no plan_json_api_url")
			}
			for _, added := range []string{"stage", "is_speculative", "capabilities",
				"configuration_version_id", "configuration_version_download_url", "workspace_working_directory"} {
				delete(doc, added)
			}
			if body, err = json.Marshal(doc); err != nil {
				t.Error(err)
			}
		}
		r.Header.Del(tfc.SignatureHeader)
		r.Header.Set(tfc.LegacySignatureHeader, tfc.Sign(testKey, body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// TestPlanOverCap: a plan larger than the receiver's cap (tfc.WithMaxPlanBytes) is not
// evaluated: the run fails with the receiver's generic message, and the log says why,
// without any of the plan.
func TestPlanOverCap(t *testing.T) {
	policies := loadPolicies(t, "testdata/policy")
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hcp := tfctest.NewServer()
	defer hcp.Close()
	const limit = 4 << 10 // violations.json is 14 KiB
	ws := attachPolicies(t, hcp, serveCheck(t, hcp, policies.Check, log, tfc.WithMaxPlanBytes(limit)), tfc.StagePostPlan)

	result := runPlan(t, hcp, ws, "testdata/plans/violations.json").TaskStages()[0].TaskResults[0]
	if result.Status != tfc.TaskResultFailed || result.Message != "The check failed with an internal error." {
		t.Errorf("result %s %q", result.Status, result.Message)
	}
	out := logs.String()
	if !strings.Contains(out, "the plan is larger than the receiver's cap") || !strings.Contains(out, "larger than the cap of 4096 bytes") {
		t.Errorf("the log does not name the cause:\n%s", out)
	}
	for _, planValue := range []string{"aws_db_instance", "acme-logs", "resource_changes"} {
		if strings.Contains(out, planValue) {
			t.Errorf("the log holds %q from the plan:\n%s", planValue, out)
		}
	}

	// Under the cap, the same receiver judges a plan.
	result = runPlan(t, hcp, ws, "testdata/plans/clean.json").TaskStages()[0].TaskResults[0]
	if result.Status != tfc.TaskResultPassed {
		t.Errorf("a plan under the cap: %s %q", result.Status, result.Message)
	}
}
