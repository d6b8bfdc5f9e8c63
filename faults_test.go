package tfc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// These tests run the client and the receiver against tfctest with its fault
// injection: repeatable (seeded) shares of 429s, 5xx answers and dropped connections.

func fastPolicy(retries int) tfc.RetryPolicy {
	return tfc.RetryPolicy{MaxRetries: retries, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}
}

// TestAllUnderFaults: an All iterator through 429s, 5xx and dropped connections yields
// every item exactly once, or stops with a clear error when retries run out.
func TestAllUnderFaults(t *testing.T) {
	s := tfctest.NewServer(tfctest.WithFaults(tfctest.Faults{Seed: 7, RateLimited: 0.15, ServerErrors: 0.15, DroppedConnections: 0.1}))
	defer s.Close()
	const runID, n = "run-faults", 250
	for range n {
		s.AddPolicyCheck(runID, tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed})
	}
	ctx := context.Background()

	client := s.Client(tfc.WithRetryPolicy(fastPolicy(15)))
	seen := map[string]int{}
	for pc, err := range client.PolicyChecks.All(ctx, runID, nil) {
		if err != nil {
			t.Fatal(err)
		}
		seen[pc.ID]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct checks, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s yielded %d times", id, k)
		}
	}
	if s.FaultsInjected() == 0 {
		t.Fatal("no fault was injected")
	}

	// Without retries the first fault ends the iteration with an error that says what
	// happened, after items that were all distinct.
	client = s.Client(tfc.WithRetryPolicy(tfc.NoRetries()))
	var last error
	distinct := map[string]bool{}
	for pc, err := range client.PolicyChecks.All(ctx, runID, nil) {
		if err != nil {
			last = err
			continue
		}
		if distinct[pc.ID] {
			t.Fatalf("%s yielded twice", pc.ID)
		}
		distinct[pc.ID] = true
	}
	var apiErr *tfc.APIError
	if last == nil || !(errors.As(last, &apiErr) || strings.Contains(last.Error(), "EOF")) || !strings.Contains(last.Error(), "/policy-checks") {
		t.Errorf("error = %v, want an API or transport error naming the call", last)
	}
}

// callbackLog counts the answers to run task callbacks, per callback URL.
type callbackLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	got  map[string][]int // status codes; 0 for a transport error
}

func (c *callbackLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if req.Method == http.MethodPatch {
		code := 0
		if err == nil {
			code = resp.StatusCode
		}
		c.mu.Lock()
		c.got[req.URL.Path] = append(c.got[req.URL.Path], code)
		c.mu.Unlock()
	}
	return resp, err
}

// TestDeliveriesUnderCallbackFaults: 1,000 deliveries, started together, to a receiver
// with its default bounds (128 checks at once, the rest queued), whose callbacks fail
// 30% of the time (429, 5xx, dropped connections): every delivery is answered 200 on
// its first attempt, ends in exactly one accepted final callback, and every run's task
// stage settles.
func TestDeliveriesUnderCallbackFaults(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	s := tfctest.NewServer(tfctest.WithFaults(tfctest.Faults{Seed: 11, RateLimited: 0.1, ServerErrors: 0.1, DroppedConnections: 0.1, CallbacksOnly: true}))
	defer s.Close()
	log := &callbackLog{base: http.DefaultTransport.(*http.Transport).Clone(), got: map[string][]int{}}
	cc, err := tfc.NewClient(tfc.WithHTTPClient(&http.Client{Transport: log}), tfc.WithRetryPolicy(fastPolicy(20)), tfc.WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := tfc.NewReceiver(func(context.Context, *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		return tfc.Passed("fine"), nil
	}, append(s.ReceiverOptions(), tfc.WithHMACKeys("faults-key"), tfc.WithCallbackClient(cc), tfc.WithHeartbeat(0))...)
	if err != nil {
		t.Fatal(err)
	}
	integration := httptest.NewServer(receiver)
	defer integration.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := s.Client()
	ws := s.AddWorkspace("acme", "faults")
	task, err := client.RunTasks.Create(ctx, "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: integration.URL, HMACKey: "faults-key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory}); err != nil {
		t.Fatal(err)
	}
	plan, err := os.ReadFile("testdata/plan_safe.json")
	if err != nil {
		t.Fatal(err)
	}
	runs := make([]*tfctest.Run, n)
	for i := range runs {
		if runs[i], err = s.StartRun(ws.ID, plan); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range runs {
		if err := run.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		st := run.TaskStages()[0]
		if st.Status != tfc.TaskStagePassed || st.TaskResults[0].Status != tfc.TaskResultPassed {
			t.Fatalf("run %s: stage %s, result %s", run.ID, st.Status, st.TaskResults[0].Status)
		}
	}
	if err := receiver.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range s.Deliveries() {
		if d.StatusCode != http.StatusOK || d.Attempt != 1 {
			t.Fatalf("delivery of %s, attempt %d: %d %v", d.TaskResultID, d.Attempt, d.StatusCode, d.Err)
		}
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.got) != n {
		t.Fatalf("callbacks to %d task results, want %d", len(log.got), n)
	}
	attempts, failed := 0, 0
	for path, codes := range log.got {
		ok := 0
		for _, c := range codes {
			attempts++
			switch {
			case c >= 200 && c < 300:
				ok++
			case c == http.StatusConflict:
				t.Errorf("%s: a final callback was repeated after it was accepted: %v", path, codes)
			default:
				failed++
			}
		}
		if ok != 1 {
			t.Errorf("%s: %d accepted final callbacks, want 1 (%v)", path, ok, codes)
		}
	}
	if share := float64(failed) / float64(attempts); share < 0.2 || share > 0.4 {
		t.Errorf("%.0f%% of callback attempts failed, want about 30%%", 100*share)
	}
}

// TestCancelReturnsPromptly cancels each kind of call while the service is not
// answering: every one returns context.Canceled instead of waiting.
func TestCancelReturnsPromptly(t *testing.T) {
	arrived := make(chan struct{}, 16)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body first lets the server notice the client hang up: net/http
		// watches the connection for a close only once the request body is consumed.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done() // never answers
	}))
	defer hang.Close()
	client, err := tfc.NewClient(tfc.WithAddress(hang.URL), tfc.WithToken("t"), tfc.WithRetryPolicy(fastPolicy(3)))
	if err != nil {
		t.Fatal(err)
	}
	cts, err := tfc.NewCTSClient(tfc.WithCTSAddress(hang.URL))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(context.Context) error{
		"read": func(ctx context.Context) error { _, err := client.RunTasks.Read(ctx, "task-1", nil); return err },
		"create": func(ctx context.Context) error {
			_, err := client.RunTasks.Create(ctx, "o", tfc.RunTaskCreateOptions{Name: "n", URL: "https://x"})
			return err
		},
		"all": func(ctx context.Context) error {
			for _, err := range client.RunTasks.All(ctx, "o", nil) {
				return err
			}
			return nil
		},
		"callback": func(ctx context.Context) error {
			return client.TaskResults.Callback(ctx, tfc.CallbackTarget{URL: hang.URL + "/cb", AccessToken: "tok"}, tfc.Passed("x"))
		},
		"policy output": func(ctx context.Context) error {
			_, err := client.PolicyChecks.Output(ctx, "polchk-1", nil)
			return err
		},
		"policy wait": func(ctx context.Context) error { _, err := client.PolicyChecks.Wait(ctx, "polchk-1", nil); return err },
		"cts list":    func(ctx context.Context) error { _, err := cts.Tasks.List(ctx); return err },
	}
	for name, call := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		<-arrived
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", name, err)
		}
	}
}

// TestNoSecretsEndToEnd runs the whole product against tfctest with every logger at
// debug level and checks the logs and error strings for every secret in play: the API
// token, the HMAC key, each delivery's access token and signature, Authorization
// headers and the signed blob URLs.
func TestNoSecretsEndToEnd(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	const hmacKey = "e2e-hmac-key-Zm9vYmFy"

	s := tfctest.NewServer()
	defer s.Close()
	ctx := context.Background()
	client := s.Client(tfc.WithLogger(logger))
	cc, _ := tfc.NewClient(tfc.WithLogger(logger), tfc.WithRetryPolicy(fastPolicy(3)))
	receiver, err := tfc.NewReceiver(func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		if _, err := d.Plan(ctx); err != nil {
			return tfc.TaskResultUpdate{}, err
		}
		_ = d.Progress(ctx, "read the plan")
		u := tfc.Failed("deletes things")
		u.Outcomes = []tfc.Outcome{{ID: "x", Description: "x would be deleted"}}
		return u, nil
	}, append(s.ReceiverOptions(), tfc.WithHMACKeys(hmacKey), tfc.WithCallbackClient(cc), tfc.WithReceiverLogger(logger))...)
	if err != nil {
		t.Fatal(err)
	}
	integration := httptest.NewServer(receiver)
	defer integration.Close()

	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%v %+v", err, err))
		}
	}
	ws := s.AddWorkspace("acme", "prod")
	task, err := client.RunTasks.Create(ctx, "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: integration.URL, HMACKey: hmacKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory})
	note(err)
	plan, _ := os.ReadFile("testdata/plan_deletes.json")
	run, err := s.StartRun(ws.ID, plan)
	if err != nil {
		t.Fatal(err)
	}
	note(run.Wait(ctx))
	stage := run.TaskStages()[0]
	_, err = client.TaskStages.Override(ctx, stage.ID, &tfc.TaskStageOverrideOptions{Comment: "ok"})
	note(err)
	_, err = client.TaskStages.Override(ctx, stage.ID, nil) // 409 now
	note(err)
	_, err = client.RunTasks.Update(ctx, task.ID, tfc.RunTaskUpdateOptions{HMACKey: tfc.Set[tfc.Secret]("not-this-one")})
	note(err) // verification fails: the receiver only knows the old key

	pcID := s.AddPolicyCheck(run.ID, tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed, Output: "all good"})
	if out, err := client.PolicyChecks.Output(ctx, pcID, nil); err == nil {
		_, _ = io.Copy(io.Discard, out)
		out.Close()
	} else {
		note(err)
	}
	mod := s.AddRegistryModule("acme", "vpc", "aws")
	_, err = client.TestConfigurations.EnableOIDC(ctx, mod.Address, &tfc.AWSOIDCConfiguration{RoleARN: "arn:aws:iam::123456789012:role/tests"})
	note(err)
	_, err = client.RunTasks.Read(ctx, "task-missing", nil)
	note(err)

	if err := receiver.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// "/v1/object/" is the path of tfctest's signed blob URLs, the secret part included.
	secrets := []string{s.Token, hmacKey, "not-this-one", "Bearer", "/v1/object/"}
	for _, d := range s.Deliveries() {
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(d.Body, &body) == nil && body.AccessToken != "" && body.AccessToken != tfc.VerificationAccessToken {
			secrets = append(secrets, body.AccessToken)
		}
		if d.Signature != "" {
			secrets = append(secrets, d.Signature)
		}
	}
	if len(secrets) < 7 {
		t.Fatalf("the flow produced too few secrets to check: %d", len(secrets))
	}
	if s.BlobReceivedAuthorization() {
		t.Error("the blob store received an Authorization header")
	}
	mu.Lock()
	all := logs.String() + strings.Join(errs, "\n")
	mu.Unlock()
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			t.Errorf("%q appears in the logs or errors", secret)
		}
	}
	if !strings.Contains(all, "[redacted]") || !strings.Contains(all, "tfc: http attempt") {
		t.Errorf("the debug logs are missing what they should show:\n%.2000s", all)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
