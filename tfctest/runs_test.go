package tfctest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// deletionCheck fails plans that delete anything, with one outcome per deletion, and
// reads the configuration too, so that both downloads are exercised.
func deletionCheck(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if err := d.Progress(ctx, "Reading the plan."); err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	cv, err := d.ConfigurationVersion(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	cv.Close()
	if !d.HasPlan() {
		return tfc.Passed("No plan yet."), nil
	}
	plan, err := d.Plan(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	var u tfc.TaskResultUpdate
	for _, rc := range plan.ResourceChanges {
		if rc.Change.Actions.Delete() || rc.Change.Actions.Replace() {
			u.Outcomes = append(u.Outcomes, tfc.Outcome{ID: rc.Address, Description: rc.Address + " would be deleted.",
				Tags: map[string][]tfc.Tag{"Severity": {{Label: "High", Level: tfc.TagError}}}})
		}
	}
	if len(u.Outcomes) > 0 {
		u.Status, u.Message = tfc.TaskResultFailed, "Resources would be deleted."
		return u, nil
	}
	return tfc.Passed("Nothing is deleted."), nil
}

func TestRunPassesWithRealReceiver(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	task := attach(t, s, ws, "guard", serveReceiver(t, deletionCheck), tfc.EnforcementMandatory, tfc.StagePostPlan)

	r := settledRun(t, s, ws.ID, readPlan(t, "plan_safe.json"), tfctest.WithRunMessage("safe change"))
	stages := r.TaskStages()
	if len(stages) != 1 || stages[0].Stage != tfc.StagePostPlan || stages[0].Status != tfc.TaskStagePassed {
		t.Fatalf("stages %+v", stages)
	}
	tr := stages[0].TaskResults[0]
	if tr.Status != tfc.TaskResultPassed || tr.Message != "Nothing is deleted." || tr.TaskID != task.ID ||
		tr.WorkspaceTaskEnforcementLevel != tfc.EnforcementMandatory {
		t.Errorf("task result %+v", tr)
	}
	if r.Status() != "applied" {
		t.Errorf("run status %q", r.Status())
	}

	// The delivery as the receiver got it: signed, every documented field.
	var delivery *tfctest.Delivery
	for _, d := range s.Deliveries() {
		if !d.Verification {
			delivery = &d
		}
	}
	if delivery == nil || delivery.StatusCode != http.StatusOK || delivery.TaskResultID != tr.ID {
		t.Fatalf("deliveries %+v", s.Deliveries())
	}
	verifier, err := tfc.NewSignatureVerifier(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifier.VerifyHex(delivery.Signature, delivery.Body); err != nil {
		t.Errorf("signature: %v", err)
	}
	var p map[string]any
	if err := json.Unmarshal(delivery.Body, &p); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"payload_version", "stage", "access_token", "capabilities", "configuration_version_download_url",
		"configuration_version_id", "is_speculative", "organization_name", "plan_json_api_url", "run_app_url", "run_created_at",
		"run_created_by", "run_id", "run_message", "task_result_callback_url", "task_result_enforcement_level", "task_result_id",
		"vcs_branch", "vcs_commit_url", "vcs_commit_hash", "vcs_pull_request_url", "vcs_repo_url", "workspace_app_url",
		"workspace_id", "workspace_name", "workspace_working_directory"} {
		if _, ok := p[key]; !ok {
			t.Errorf("payload has no %s", key)
		}
	}
	if p["stage"] != "post_plan" || p["run_id"] != r.ID || p["run_message"] != "safe change" || p["workspace_id"] != ws.ID ||
		p["capabilities"].(map[string]any)["outcomes"] != true ||
		!strings.HasPrefix(p["task_result_callback_url"].(string), s.URL+"/api/v2/task-results/") {
		t.Errorf("payload %s", delivery.Body)
	}
	if s.BlobReceivedAuthorization() {
		t.Error("the blob store received an Authorization header")
	}
}

func TestRunStopsAtAwaitingOverrideUntilOverridden(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	attach(t, s, ws, "guard", serveReceiver(t, deletionCheck), tfc.EnforcementMandatory, tfc.StagePostPlan, tfc.StagePreApply)
	client := s.Client()

	r := settledRun(t, s, ws.ID, readPlan(t, "plan_deletes.json"))
	stages := r.TaskStages()
	if len(stages) != 2 || stages[0].Status != tfc.TaskStageAwaitingOverride || stages[1].Status != tfc.TaskStagePending ||
		r.Status() != "post_plan_awaiting_decision" {
		t.Fatalf("stages %s %s, run %s", stages[0].Status, stages[1].Status, r.Status())
	}
	failed := stages[0].TaskResults[0]
	outcomes := s.Outcomes(failed.ID)
	if failed.Status != tfc.TaskResultFailed || failed.OutcomesCount != 3 || len(outcomes) != 3 ||
		outcomes[0].ID != "aws_db_instance.main" || outcomes[0].Tags["Severity"][0].Level != tfc.TagError {
		t.Fatalf("failed result %+v, outcomes %+v", failed, outcomes)
	}

	// The API shows the same, with the result included.
	ts, err := client.TaskStages.Read(ctx(t), stages[0].ID, &tfc.TaskStageReadOptions{Include: []tfc.TaskStageInclude{tfc.TaskStageIncludeTaskResults}})
	if err != nil {
		t.Fatal(err)
	}
	if !ts.IsOverridable || ts.RunID != r.ID || len(ts.TaskResults) != 1 || ts.TaskResults[0].Message != "Resources would be deleted." {
		t.Errorf("task stage %+v", ts)
	}
	if _, ok := ts.StatusTimestamps.At("awaiting_override"); !ok {
		t.Errorf("timestamps %v", ts.StatusTimestamps)
	}

	overridden, err := client.TaskStages.Override(ctx(t), stages[0].ID, &tfc.TaskStageOverrideOptions{Comment: "intended"})
	if err != nil {
		t.Fatal(err)
	}
	if overridden.Status != tfc.TaskStagePassed || overridden.IsOverridable {
		t.Errorf("after override %+v", overridden)
	}
	if err := r.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The pre_apply stage ran after the override, and the guard failed it too.
	if st := r.TaskStages()[1]; st.Status != tfc.TaskStageAwaitingOverride {
		t.Errorf("pre_apply stage %s", st.Status)
	}
	if _, err := client.TaskStages.Override(ctx(t), stages[0].ID, nil); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("second override: %v", err)
	}
}

func TestAdvisoryFailureDoesNotBlock(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	attach(t, s, ws, "guard", serveReceiver(t, deletionCheck), tfc.EnforcementAdvisory, tfc.StagePostPlan)
	r := settledRun(t, s, ws.ID, readPlan(t, "plan_deletes.json"))
	st := r.TaskStages()[0]
	if st.Status != tfc.TaskStagePassed || st.TaskResults[0].Status != tfc.TaskResultFailed {
		t.Errorf("stage %s, result %s", st.Status, st.TaskResults[0].Status)
	}
}

func TestProgressDeadlineErrorsTheResult(t *testing.T) {
	s := newServer(t, tfctest.WithProgressDeadline(30*time.Millisecond))
	ws := s.AddWorkspace("acme", "networking")
	// Acknowledges every delivery and never calls back.
	attach(t, s, ws, "silent", serveStatus(t, ok, nil), tfc.EnforcementMandatory, tfc.StagePostPlan, tfc.StagePostApply)
	r := settledRun(t, s, ws.ID, readPlan(t, "plan_safe.json"))
	stages := r.TaskStages()
	tr := stages[0].TaskResults[0]
	if stages[0].Status != tfc.TaskStageErrored || tr.Status != tfc.TaskResultErrored || !strings.Contains(tr.Message, "progress") {
		t.Errorf("stage %s, result %s %q", stages[0].Status, tr.Status, tr.Message)
	}
	if stages[1].Status != tfc.TaskStageCanceled || stages[1].TaskResults[0].Status != tfc.TaskResultCanceled || r.Status() != "errored" {
		t.Errorf("later stage %s, run %s", stages[1].Status, r.Status())
	}
}

func TestUnansweredDeliveriesEndUnreachable(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	attach(t, s, ws, "broken", serveStatus(t, verificationOnly(http.StatusServiceUnavailable), nil), tfc.EnforcementMandatory, tfc.StagePrePlan)
	r := settledRun(t, s, ws.ID, readPlan(t, "plan_safe.json"))
	st := r.TaskStages()[0]
	if st.Status != tfc.TaskStageErrored || st.TaskResults[0].Status != tfc.TaskResultUnreachable {
		t.Errorf("stage %s, result %s", st.Status, st.TaskResults[0].Status)
	}
	attempts := 0
	for _, d := range s.Deliveries() {
		if !d.Verification {
			attempts++
			if d.StatusCode != http.StatusServiceUnavailable || d.Attempt != attempts {
				t.Errorf("delivery %+v", d)
			}
		}
	}
	if attempts != 4 {
		t.Errorf("%d attempts, want 4", attempts)
	}
}

// captureDelivery attaches a task whose URL only records deliveries, starts a run and
// returns the decoded request of its first task result.
func captureDelivery(t *testing.T, s *tfctest.Server) (*tfctest.Run, *tfc.RunTaskRequest) {
	t.Helper()
	ws := s.AddWorkspace("acme", "networking")
	bodies := make(chan []byte, 8)
	attach(t, s, ws, "recorder", serveStatus(t, ok, bodies), tfc.EnforcementMandatory, tfc.StagePostPlan)
	<-bodies // the verification request
	r, err := s.StartRun(ws.ID, readPlan(t, "plan_safe.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req tfc.RunTaskRequest
	if err := json.Unmarshal(<-bodies, &req); err != nil {
		t.Fatal(err)
	}
	return r, &req
}

func TestCallbacksNeedTheAccessTokenAndFollowTheRules(t *testing.T) {
	s := newServer(t)
	r, req := captureDelivery(t, s)
	callbackURL := req.TaskResultCallbackURL
	patch := func(token, body string) (int, []byte) {
		resp, b := rawRequest(t, http.MethodPatch, callbackURL, token, body)
		return resp.StatusCode, b
	}
	running := `{"data":{"type":"task-results","attributes":{"status":"running","message":"Working."}}}`
	if code, _ := patch(s.Token, running); code != http.StatusUnauthorized {
		t.Errorf("callback with the API token: %d", code)
	}
	if code, _ := patch("", running); code != http.StatusUnauthorized {
		t.Errorf("callback without a token: %d", code)
	}
	token := string(req.AccessToken)
	for name, body := range map[string]string{
		"status":      `{"data":{"type":"task-results","attributes":{"status":"errored"}}}`,
		"message":     `{"data":{"type":"task-results","attributes":{"status":"running","message":"` + strings.Repeat("x", 1001) + `"}}}`,
		"url":         `{"data":{"type":"task-results","attributes":{"status":"running","url":"ftp://example.com"}}}`,
		"type":        `{"data":{"type":"tasks","attributes":{"status":"running"}}}`,
		"outcome-id":  `{"data":{"type":"task-results","attributes":{"status":"running"},"relationships":{"outcomes":{"data":[{"type":"task-result-outcomes","attributes":{"description":"d"}}]}}}}`,
		"tag level":   `{"data":{"type":"task-results","attributes":{"status":"running"},"relationships":{"outcomes":{"data":[{"type":"task-result-outcomes","attributes":{"outcome-id":"x","description":"d","tags":{"Severity":[{"label":"High","level":"fatal"}]}}}]}}}}`,
		"not JSON":    `{`,
		"no document": `{}`,
	} {
		code, b := patch(token, body)
		if code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", name, code, b)
			continue
		}
		if src, _ := errorObjects(t, b)[0]["source"].(map[string]any); src["pointer"] == "" {
			t.Errorf("%s: no pointer in %s", name, b)
		}
	}

	client := s.Client()
	if err := client.TaskResults.Callback(ctx(t), tfc.CallbackTarget{URL: callbackURL, AccessToken: req.AccessToken, Outcomes: true}, tfc.TaskResultUpdate{Status: tfc.TaskResultRunning, Message: "Halfway."}); err != nil {
		t.Fatal(err)
	}
	tr, err := client.TaskResults.Read(ctx(t), req.TaskResultID)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != tfc.TaskResultRunning || tr.Message != "Halfway." || tr.TaskStageID == "" {
		t.Errorf("after running: %+v", tr)
	}
	final := tfc.TaskResultUpdate{Status: tfc.TaskResultPassed, Message: "Done.", URL: "https://example.com/report",
		Outcomes: []tfc.Outcome{{ID: "ok", Description: "All good."}}}
	if err := client.TaskResults.Callback(ctx(t), tfc.CallbackTarget{URL: callbackURL, AccessToken: req.AccessToken, Outcomes: true}, final); err != nil {
		t.Fatal(err)
	}
	if err := client.TaskResults.Callback(ctx(t), tfc.CallbackTarget{URL: callbackURL, AccessToken: req.AccessToken, Outcomes: true}, final); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("callback after the final one: %v", err)
	}
	if err := r.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if tr := r.TaskStages()[0].TaskResults[0]; tr.Status != tfc.TaskResultPassed || tr.URL != "https://example.com/report" || tr.OutcomesCount != 1 {
		t.Errorf("final result %+v", tr)
	}
	if resp, _ := rawRequest(t, http.MethodPatch, s.URL+"/api/v2/task-results/00000000-0000-0000-0000-000000000000/callback", token, running); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown callback URL: %d", resp.StatusCode)
	}
}

func TestDownloadsNeedTheAccessTokenAndRedirectToTheBlobStore(t *testing.T) {
	s := newServer(t)
	_, req := captureDelivery(t, s)
	for _, token := range []string{"", s.Token, "wrong"} {
		if resp, _ := rawRequest(t, http.MethodGet, req.PlanJSONAPIURL, token, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("plan with token %q: %d", token, resp.StatusCode)
		}
	}
	resp, _ := rawRequest(t, http.MethodGet, req.PlanJSONAPIURL, string(req.AccessToken), "")
	blobURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || strings.HasPrefix(blobURL, s.URL) {
		t.Fatalf("plan: %d to %q", resp.StatusCode, blobURL)
	}
	resp, body := rawRequest(t, http.MethodGet, blobURL, "", "")
	if resp.StatusCode != http.StatusOK || string(body) != string(readPlan(t, "plan_safe.json")) {
		t.Errorf("blob: %d %.40s", resp.StatusCode, body)
	}
	resp, _ = rawRequest(t, http.MethodGet, *req.ConfigurationVersionDownloadURL, string(req.AccessToken), "")
	if resp.StatusCode != http.StatusFound {
		t.Errorf("configuration: %d", resp.StatusCode)
	}
	if s.BlobReceivedAuthorization() {
		t.Fatal("no Authorization was sent to the blob store yet")
	}
	rawRequest(t, http.MethodGet, blobURL, "leaked", "")
	if !s.BlobReceivedAuthorization() {
		t.Error("an Authorization header at the blob store went unnoticed")
	}
}

func TestRunWithoutTasksSettlesAtOnce(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "empty")
	r, err := s.StartRun(ws.ID, []byte(`{}`), tfctest.WithSpeculative())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx(t)); err != nil || len(r.TaskStages()) != 0 || r.Status() != "planned_and_finished" {
		t.Errorf("wait %v, stages %d, status %s", err, len(r.TaskStages()), r.Status())
	}
	if _, err := s.StartRun("ws-doesnotexist", []byte(`{}`)); err == nil {
		t.Error("a run on an unknown workspace")
	}
	if _, err := s.StartRun(ws.ID, []byte(`not json`)); err == nil {
		t.Error("a run with a plan that is not JSON")
	}
}

func TestWaitEndsWithContextOrClose(t *testing.T) {
	s := tfctest.NewServer()
	ws := s.AddWorkspace("acme", "networking")
	attach(t, s, ws, "silent", serveStatus(t, ok, nil), tfc.EnforcementMandatory, tfc.StagePostPlan)
	r, err := s.StartRun(ws.ID, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with a short context: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Wait(context.Background()) }()
	s.Close()
	if err := <-done; err == nil {
		t.Error("wait returned nil after Close")
	}
}

func TestGlobalRunTasksRunEverywhere(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	_, err := s.Client().RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{
		Name: "global", URL: serveReceiver(t, deletionCheck), HMACKey: hmacKey,
		GlobalConfiguration: &tfc.RunTaskGlobalConfigurationOptions{Enabled: tfc.Ptr(true), Stages: []tfc.Stage{tfc.StagePrePlan}, EnforcementLevel: tfc.EnforcementMandatory},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := settledRun(t, s, ws.ID, []byte(`{}`))
	st := r.TaskStages()
	if len(st) != 1 || st[0].Stage != tfc.StagePrePlan || st[0].Status != tfc.TaskStagePassed || st[0].TaskResults[0].WorkspaceTaskID != "" {
		t.Errorf("stages %+v", st)
	}
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); !strings.Contains(string(b), `"test-token"`) {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	s := tfctest.NewServer()
	ws := s.AddWorkspace("acme", "networking")
	client := s.Client()
	for name, url := range map[string]string{"silent": silent.URL, "failing": failing.URL} {
		task, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: name, URL: url})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.WorkspaceRunTasks.Create(ctx(t), ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementAdvisory}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.StartRun(ws.ID, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// A watchdog waits on the silent task's deadline, a delivery backs off from the
	// failing one; Close ends both.
	s.Close()
	silent.Close()
	failing.Close()
	goleak.VerifyNone(t, before)
}

// TestHoldPlansAndCallbacks: held plan requests wait until released, while the run
// waits with them; Callbacks lists what the integration sent and how it was answered,
// a final after the final one answered 409.
func TestHoldPlansAndCallbacks(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	attach(t, s, ws, "guard", serveReceiver(t, deletionCheck), tfc.EnforcementMandatory, tfc.StagePostPlan)
	hold := s.HoldPlans()
	if again := s.HoldPlans(); again != hold {
		t.Error("a second HoldPlans made a second hold")
	}
	r, err := s.StartRun(ws.ID, readPlan(t, "plan_safe.json"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for hold.Waiting() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the plan request was not held")
		}
		time.Sleep(time.Millisecond)
	}
	if st := r.TaskStages()[0]; st.TaskResults[0].Status != tfc.TaskResultRunning {
		t.Errorf("while the plan is held: %s", st.TaskResults[0].Status)
	}
	hold.Release()
	hold.Release()
	if err := r.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	tr := r.TaskStages()[0].TaskResults[0]
	var req tfc.RunTaskRequest
	for _, d := range s.Deliveries() {
		if d.TaskResultID == tr.ID {
			_ = json.Unmarshal(d.Body, &req)
		}
	}
	// One more final, as a second worker would send it.
	err = s.Client().TaskResults.Callback(ctx(t), req.CallbackTarget(), tfc.Failed("late"))
	if !errors.Is(err, tfc.ErrConflict) {
		t.Fatalf("a second final: %v", err)
	}
	want := []tfctest.Callback{
		{TaskResultID: tr.ID, Status: tfc.TaskResultRunning, Message: "Reading the plan.", StatusCode: 200},
		{TaskResultID: tr.ID, Status: tfc.TaskResultPassed, Message: "Nothing is deleted.", StatusCode: 200},
		{TaskResultID: tr.ID, Status: tfc.TaskResultFailed, Message: "late", StatusCode: 409},
	}
	if got := s.Callbacks(); !slices.Equal(got, want) {
		t.Errorf("callbacks\n%+v\nwant\n%+v", got, want)
	}
}
