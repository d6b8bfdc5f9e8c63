package natsqueue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfkit/tfc"
)

// testKey is the HMAC key the fake service signs deliveries with.
const testKey tfc.Secret = "natsqueue-test-hmac-key"

// fakeService plays the service's side of the run task protocol on loopback: it
// signs deliveries and POSTs them (retrying until answered 200, as the service does),
// serves each run's plan to its access token, and records callbacks. Like the real
// service it accepts only the first final result of a task result and answers every
// later one 409.
type fakeService struct {
	t      testing.TB
	server *httptest.Server

	mu      sync.Mutex
	results map[string]*fakeResult // by task result ID
	// answerFinal, when set, may answer a final callback with its own status (for
	// example 503 while "down"); 0 lets the service answer as usual.
	answerFinal func(taskResultID string) int
	changed     chan struct{} // a token after every callback
}

// fakeResult is what the service saw of one task result.
type fakeResult struct {
	token     string
	finals    []tfc.TaskResultStatus // finals answered 200: exactly one when all is well
	message   string                 // the accepted final's message
	finalAt   time.Time              // when the final was accepted
	conflicts int                    // finals answered 409 (already final)
	refused   int                    // finals answered by answerFinal
	running   int                    // progress callbacks
	resumes   int                    // "Resuming …" progress callbacks of jobs delivered again, answered or not
}

func newFakeService(t testing.TB) *fakeService {
	s := &fakeService{t: t, results: make(map[string]*fakeResult), changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /api/v2/task-results/{id}/callback", s.callback)
	mux.HandleFunc("GET /api/v2/plans/{id}/json-output", s.plan)
	s.server = httptest.NewServer(mux)
	t.Cleanup(s.server.Close)
	return s
}

// host is the service's host:port, for the receiver's allow-list.
func (s *fakeService) host() string {
	u, _ := url.Parse(s.server.URL)
	return u.Host
}

// newDelivery registers a task result and returns its signed delivery body and
// signature.
func (s *fakeService) newDelivery() (id string, body []byte, signature string) {
	id = "taskrs-" + randomHex(8)
	token := randomHex(16) + ".atlasv1." + randomHex(16)
	s.mu.Lock()
	s.results[id] = &fakeResult{token: token}
	s.mu.Unlock()
	payload := map[string]any{
		"payload_version":                    1,
		"stage":                              "post_plan",
		"access_token":                       token,
		"capabilities":                       map[string]bool{"outcomes": true},
		"configuration_version_download_url": nil,
		"configuration_version_id":           "cv-" + randomHex(4),
		"is_speculative":                     false,
		"organization_name":                  "acme",
		"plan_json_api_url":                  s.server.URL + "/api/v2/plans/plan-" + id + "/json-output",
		"run_app_url":                        s.server.URL + "/app/acme/networking/runs/run-" + id,
		"run_created_at":                     time.Now().UTC().Format(time.RFC3339),
		"run_created_by":                     "natsqueue-test",
		"run_id":                             "run-" + id,
		"run_message":                        "natsqueue test",
		"task_result_callback_url":           s.server.URL + "/api/v2/task-results/" + id + "/callback",
		"task_result_enforcement_level":      "mandatory",
		"task_result_id":                     id,
		"workspace_app_url":                  s.server.URL + "/app/acme/networking",
		"workspace_id":                       "ws-natsqueue",
		"workspace_name":                     "networking",
		"workspace_working_directory":        "",
	}
	body, err := json.Marshal(payload)
	if err != nil {
		s.t.Fatalf("encoding a delivery: %v", err)
	}
	return id, body, tfc.Sign(testKey, body)
}

// newJob is a delivery as the receiver would submit it, received now.
func (s *fakeService) newJob() tfc.Job {
	id, body, sig := s.newDelivery()
	return tfc.Job{Body: body, Signature: sig, TaskResultID: id, ReceivedAt: time.Now()}
}

// deliver POSTs a new delivery to url until it is answered 200, within ctx, backing off
// like a service would; it returns the task result ID.
func (s *fakeService) deliver(ctx context.Context, client *http.Client, url string) (string, error) {
	id, body, sig := s.newDelivery()
	wait := 20 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return id, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-TFC-Task-Signature", sig)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return id, nil
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return id, fmt.Errorf("delivery of %s not accepted: %w", id, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

func (s *fakeService) result(r *http.Request) (*fakeResult, int) {
	res := s.results[r.PathValue("id")]
	if res == nil {
		return nil, http.StatusNotFound
	}
	if r.Header.Get("Authorization") != "Bearer "+res.token {
		return nil, http.StatusUnauthorized
	}
	return res, 0
}

func (s *fakeService) plan(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.PathValue("id"), "plan-")
	s.mu.Lock()
	r.SetPathValue("id", id)
	_, status := s.result(r)
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"format_version":"1.2","resource_changes":[{"address":"null_resource.a","mode":"managed",`+
		`"type":"null_resource","name":"a","change":{"actions":["create"]}}]}`)
}

func (s *fakeService) callback(w http.ResponseWriter, r *http.Request) {
	var doc struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				Status  tfc.TaskResultStatus `json:"status"`
				Message string               `json:"message"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || doc.Data.Type != "task-results" {
		http.Error(w, "malformed callback", http.StatusUnprocessableEntity)
		return
	}
	status := s.record(r, doc.Data.Attributes.Status, doc.Data.Attributes.Message)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.api+json")
	fmt.Fprint(w, `{"data":{"type":"task-results"}}`)
}

// record applies one callback and returns the status to answer it with.
func (s *fakeService) record(r *http.Request, status tfc.TaskResultStatus, message string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, code := s.result(r)
	switch {
	case code != 0:
		return code
	case status == tfc.TaskResultRunning:
		if strings.HasPrefix(message, "Resuming") {
			res.resumes++
		}
		if len(res.finals) > 0 {
			return http.StatusConflict
		}
		res.running++
		return http.StatusOK
	case status != tfc.TaskResultPassed && status != tfc.TaskResultFailed:
		return http.StatusUnprocessableEntity
	}
	if s.answerFinal != nil {
		if code := s.answerFinal(r.PathValue("id")); code != 0 {
			res.refused++
			return code
		}
	}
	if len(res.finals) > 0 {
		res.conflicts++
		return http.StatusConflict
	}
	res.finals = append(res.finals, status)
	res.message = message
	res.finalAt = time.Now()
	return http.StatusOK
}

// snapshot copies what the service saw of one task result.
func (s *fakeService) snapshot(id string) fakeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.results[id]
	if res == nil {
		s.t.Fatalf("no task result %s", id)
	}
	return *res
}

// waitFinal waits until the service accepted a final result for every id, within a
// generous bound.
func (s *fakeService) waitFinal(t testing.TB, ids ...string) {
	t.Helper()
	s.waitUntil(t, fmt.Sprintf("a final result for each of %d task results", len(ids)), func() bool {
		for _, id := range ids {
			if len(s.results[id].finals) == 0 {
				return false
			}
		}
		return true
	})
}

// waitUntil waits, woken by every callback, until cond (called with s.mu held) holds.
func (s *fakeService) waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// setAnswerFinal sets (or, with nil, clears) the override of final answers.
func (s *fakeService) setAnswerFinal(f func(string) int) {
	s.mu.Lock()
	s.answerFinal = f
	s.mu.Unlock()
}

// assertExactlyOneFinal checks that each task result got exactly one accepted final,
// of the given status.
func (s *fakeService) assertExactlyOneFinal(t testing.TB, want tfc.TaskResultStatus, ids ...string) {
	t.Helper()
	for _, id := range ids {
		res := s.snapshot(id)
		if len(res.finals) != 1 || res.finals[0] != want {
			t.Errorf("task result %s: accepted finals %v, want exactly one %s", id, res.finals, want)
		}
	}
}

// newReceiver builds the receiver every test uses, for svc: signed deliveries, svc's
// host allowed, fast callback retries and no client-side rate ceiling. Keep receiver
// construction here, so that a change in the receiver's required options lands once.
func newReceiver(t testing.TB, svc *fakeService, check tfc.CheckFunc, opts ...tfc.ReceiverOption) *tfc.Receiver {
	t.Helper()
	return newReceiverWithClient(t, svc.host(), http.DefaultTransport, check, opts...)
}

// newReceiverWithClient is newReceiver for the service at host (host:port), whose
// callbacks and downloads go through rt.
func newReceiverWithClient(t testing.TB, host string, rt http.RoundTripper, check tfc.CheckFunc, opts ...tfc.ReceiverOption) *tfc.Receiver {
	t.Helper()
	client, err := tfc.NewClient(
		tfc.WithHTTPClient(&http.Client{Transport: rt, Timeout: 10 * time.Second}),
		tfc.WithRetryPolicy(tfc.RetryPolicy{MaxRetries: 5, MinWait: 5 * time.Millisecond, MaxWait: 50 * time.Millisecond}),
		tfc.WithRateLimit(0))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	base := []tfc.ReceiverOption{
		tfc.WithHMACKeys(testKey),
		tfc.WithCallbackClient(client),
		tfc.WithAllowedHosts(host),
		tfc.InsecureAllowHTTP(), // the fake service is plain http on loopback
		tfc.WithFinalCallbackTimeout(2 * time.Second),
	}
	r, err := tfc.NewReceiver(check, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewReceiver: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r
}

// frontEnd is a receiver replica as deployed: an HTTP server whose receiver hands
// every accepted delivery to a queue and runs no check itself.
type frontEnd struct {
	receiver *tfc.Receiver
	server   *httptest.Server
}

func newFrontEnd(t testing.TB, svc *fakeService, q tfc.Executor, opts ...tfc.ReceiverOption) *frontEnd {
	t.Helper()
	noCheck := func(context.Context, *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		t.Error("a front end ran a check")
		return tfc.Failed("front ends do not run checks"), nil
	}
	return serve(t, newReceiver(t, svc, noCheck, append([]tfc.ReceiverOption{tfc.WithExecutor(q)}, opts...)...))
}

// serve serves r over HTTP on loopback until the test ends.
func serve(t testing.TB, r *tfc.Receiver) *frontEnd {
	f := &frontEnd{receiver: r, server: httptest.NewServer(r)}
	t.Cleanup(f.server.Close)
	return f
}

// passPlan is a check that reads the plan and passes.
func passPlan(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	plan, err := d.Plan(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	return tfc.Passed(fmt.Sprintf("%d change(s)", len(plan.ResourceChanges))), nil
}

// deadTransport fails every request, as the network of a process that died would.
type deadTransport struct{}

func (deadTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("this worker is dead")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
