package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const testHMACKey Secret = "hmac-key-Zm9vYmFyYmF6"

// newTestReceiver serves a receiver for f's deliveries, with a callback client that
// retries fast and has no ceiling.
func newTestReceiver(t *testing.T, f *fakeService, check CheckFunc, opts ...ReceiverOption) (*Receiver, *httptest.Server) {
	t.Helper()
	cc, err := NewClient(WithRetryPolicy(fastRetries), WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	base := []ReceiverOption{WithHMACKeys(f.key), WithCallbackClient(cc)}
	r, err := NewReceiver(check, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r, srv
}

func passCheck(context.Context, *Delivery) (TaskResultUpdate, error) { return Passed("ok"), nil }

func TestNewReceiverNeedsKeysOrOptIn(t *testing.T) {
	if _, err := NewReceiver(passCheck); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no keys: %v", err)
	}
	if _, err := NewReceiver(passCheck, WithHMACKeys()); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty key list: %v", err)
	}
	if _, err := NewReceiver(passCheck, WithHMACKeys("")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty key: %v", err)
	}
	if _, err := NewReceiver(nil, WithHMACKeys("k")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil check: %v", err)
	}
	r, err := NewReceiver(passCheck, AllowUnsignedDeliveries())
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Shutdown(context.Background())
}

func TestReceiverRefusesBadDeliveries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var ran atomic.Int64
	check := func(context.Context, *Delivery) (TaskResultUpdate, error) { ran.Add(1); return Passed("ok"), nil }
	_, srv := newTestReceiver(t, f, check, WithMaxBodyBytes(64<<10))
	valid, _ := json.Marshal(f.request("taskrs-valid", StagePostPlan, true))
	signed := func(b []byte) (string, string) { return SignatureHeader, Sign(f.key, b) }
	mutate := func(change func(map[string]any)) []byte {
		p := f.request("taskrs-bad", StagePostPlan, true)
		change(p)
		b, _ := json.Marshal(p)
		return b
	}

	tests := []struct {
		name   string
		body   []byte
		header string
		sig    string
		want   int
	}{
		{"no signature", valid, "", "", 401},
		{"empty signature", valid, SignatureHeader, "", 401},
		{"wrong key", valid, SignatureHeader, Sign("other-key", valid), 401},
		{"not hex", valid, SignatureHeader, strings.Repeat("zz", 64), 401},
		{"signature of other bytes", valid, SignatureHeader, Sign(f.key, append([]byte(" "), valid...)), 401},
		{"malformed JSON", []byte(`{"payload_version":1,`), "", "", 400},
		{"payload version 2", mutate(func(p map[string]any) { p["payload_version"] = 2 }), "", "", 400},
		{"no callback URL", mutate(func(p map[string]any) { delete(p, "task_result_callback_url") }), "", "", 400},
		{"relative callback URL", mutate(func(p map[string]any) { p["task_result_callback_url"] = "/api/v2/task-results/x/callback" }), "", "", 400},
		{"no access token", mutate(func(p map[string]any) { p["access_token"] = "" }), "", "", 400},
		{"no task result id", mutate(func(p map[string]any) { p["task_result_id"] = "" }), "", "", 400},
		{"plan URL elsewhere", mutate(func(p map[string]any) { p["plan_json_api_url"] = "https://evil.example/steal" }), "", "", 403},
		{"configuration URL elsewhere", mutate(func(p map[string]any) {
			p["configuration_version_download_url"] = "http://169.254.169.254/latest/meta-data"
		}), "", "", 403},
		{"body over the cap", bytes.Repeat([]byte(" "), 65<<10), "", "", 413},
	}
	for _, tt := range tests {
		header, sig := tt.header, tt.sig
		if header == "" && tt.want != 401 {
			header, sig = signed(tt.body)
		}
		if got := f.deliverRaw(srv.URL, tt.body, header, sig); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}

	// Other methods get 405 with Allow.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// A chunked body over the cap (no Content-Length) is cut off, not read whole.
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 100 { // 3.2 MB offered
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked oversize: %d", resp.StatusCode)
		}
	}
	pr.CloseWithError(io.ErrClosedPipe)

	if ran.Load() != 0 || len(f.allCallbacks()) != 0 {
		t.Errorf("refused deliveries ran %d checks and made callbacks %v", ran.Load(), f.allCallbacks())
	}
}

func TestReceiverAllowList(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, passCheck, WithAllowedHosts("app.terraform.io"))
	if got := f.deliver(srv.URL, f.request("taskrs-1", StagePostPlan, false)); got != 403 {
		t.Errorf("delivery to a host off the allow-list: %d, want 403", got)
	}
	_, srv2 := newTestReceiver(t, f, passCheck, WithAllowedHosts(strings.TrimPrefix(f.api.URL, "http://")))
	if got := f.deliver(srv2.URL, f.request("taskrs-2", StagePostPlan, false)); got != 200 {
		t.Errorf("allowed host: %d", got)
	}
	f.waitFinal()
	if len(f.callbacksFor("taskrs-1")) != 0 {
		t.Error("a refused delivery was called back")
	}
}

func TestReceiverVerificationRequest(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var ran atomic.Int64
	_, srv := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		ran.Add(1)
		return Passed(""), nil
	})
	p := f.request("taskrs-test", StageTest, false)
	p["access_token"] = VerificationAccessToken
	p["task_result_enforcement_level"] = "test"
	p["run_created_at"] = "placeholder"
	if got := f.deliver(srv.URL, p); got != 200 {
		t.Fatalf("verification: %d", got)
	}
	// A verification request must still be signed correctly.
	body, _ := json.Marshal(p)
	if got := f.deliverRaw(srv.URL, body, SignatureHeader, Sign("wrong", body)); got != 401 {
		t.Errorf("badly signed verification: %d", got)
	}
	if ran.Load() != 0 || len(f.allCallbacks()) != 0 {
		t.Error("a verification request ran the check or was called back")
	}
}

func TestReceiverLegacySignatureHeaderAndRotation(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, passCheck, WithHMACKeys("new-key", testHMACKey))
	body, _ := json.Marshal(f.request("taskrs-legacy", StagePrePlan, false))
	if got := f.deliverRaw(srv.URL, body, LegacySignatureHeader, strings.ToUpper(Sign(testHMACKey, body))); got != 200 {
		t.Fatalf("legacy header, old key of a rotation, upper-case hex: %d", got)
	}
	if cb := f.waitFinal(); cb.Status != TaskResultPassed {
		t.Errorf("final = %+v", cb)
	}
}

func TestReceiverPlanAndOutcomes(t *testing.T) {
	for _, outcomes := range []bool{true, false} {
		t.Run(fmt.Sprintf("outcomes=%v", outcomes), func(t *testing.T) {
			f := newFakeService(t, testHMACKey)
			_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
				plan, err := d.Plan(ctx)
				if err != nil {
					return TaskResultUpdate{}, err
				}
				u := Failed(fmt.Sprintf("%d resource changes", len(plan.ResourceChanges)))
				u.URL = "https://checks.example.com/runs/" + d.Request.RunID
				for _, rc := range plan.ResourceChanges {
					u.Outcomes = append(u.Outcomes, Outcome{ID: rc.Address, Description: "changes " + rc.Address,
						Tags: map[string][]Tag{"Severity": {{Label: "High", Level: TagError}}}})
				}
				return u, nil
			})
			if got := f.deliver(srv.URL, f.request("taskrs-plan", StagePostPlan, outcomes)); got != 200 {
				t.Fatalf("delivery: %d", got)
			}
			cb := f.waitFinal()
			if cb.Status != TaskResultFailed || cb.Message != "5 resource changes" || cb.URL != "https://checks.example.com/runs/run-i3Df5to9ELvibKpQ" {
				t.Errorf("final = %+v", cb)
			}
			if want := map[bool]int{true: 5, false: 0}[outcomes]; len(cb.Outcomes) != want {
				t.Errorf("outcomes sent: %d, want %d", len(cb.Outcomes), want)
			}
			if cb.Auth != "Bearer "+accessTokenFor("taskrs-plan") {
				t.Error("the callback did not carry the delivery's access token")
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.blobAuth) != 1 || f.blobAuth[0] != "" {
				t.Errorf("blob host saw Authorization %q", f.blobAuth)
			}
		})
	}
}

func TestDeliveryDownloads(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.planNotReady = 2
	type got struct {
		planErr, prePlanErr, cvErr error
		cv                         string
	}
	results := make(chan got, 2)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		var g got
		if d.Request.Stage == StagePrePlan {
			_, g.prePlanErr = d.Plan(ctx)
		} else {
			rc, err := d.PlanJSON(ctx)
			if err == nil {
				rc.Close()
			}
			g.planErr = err
		}
		rc, err := d.ConfigurationVersion(ctx)
		g.cvErr = err
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			g.cv = string(b)
		}
		results <- g
		return Passed("ok"), nil
	})
	f.deliver(srv.URL, f.request("taskrs-post", StagePostPlan, false))
	if g := <-results; g.planErr != nil || g.cvErr != nil || !strings.HasSuffix(g.cv, "fake tar.gz") {
		t.Errorf("post_plan downloads: %+v", g)
	}
	p := f.request("taskrs-pre", StagePrePlan, false)
	p["configuration_version_download_url"] = nil
	f.deliver(srv.URL, p)
	if g := <-results; !errors.Is(g.prePlanErr, ErrNoPlan) || !errors.Is(g.cvErr, ErrNoConfigurationVersion) {
		t.Errorf("pre_plan downloads: %+v", g)
	}
	f.waitFinal()
	f.waitFinal()
}

func TestReceiverManyConcurrentDeliveries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	const n = 300
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if strings.HasSuffix(d.Request.TaskResultID, "7") {
			return Failed("sevens fail"), nil
		}
		return Passed("fine"), nil
	}, WithMaxInFlight(n))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := f.deliver(srv.URL, f.request(fmt.Sprintf("taskrs-%04d", i), StagePostPlan, false)); got != 200 {
				t.Errorf("delivery %d: %d", i, got)
			}
		}()
	}
	wg.Wait()
	for range n {
		f.waitFinal()
	}
	all := f.allCallbacks()
	if len(all) != n {
		t.Fatalf("callbacks for %d task results, want %d", len(all), n)
	}
	for id, cbs := range all {
		finals := 0
		for _, cb := range cbs {
			if cb.Status != TaskResultRunning {
				finals++
			}
		}
		if finals != 1 {
			t.Errorf("%s: %d final callbacks", id, finals)
		}
	}
}

func TestReceiverCheckFailuresBecomeFailed(t *testing.T) {
	tests := []struct {
		name  string
		check CheckFunc
		want  string
	}{
		{"panic", func(context.Context, *Delivery) (TaskResultUpdate, error) { panic("boom: " + string(testHMACKey)) },
			"The check failed with an internal error."},
		{"error", func(context.Context, *Delivery) (TaskResultUpdate, error) {
			return TaskResultUpdate{}, errors.New("db password is hunter2")
		}, "The check failed with an internal error."},
		{"running is not a result", func(context.Context, *Delivery) (TaskResultUpdate, error) {
			return TaskResultUpdate{Status: TaskResultRunning}, nil
		}, "The check returned an invalid result."},
		{"zero result", func(context.Context, *Delivery) (TaskResultUpdate, error) { return TaskResultUpdate{}, nil },
			"The check returned an invalid result."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeService(t, testHMACKey)
			var logs syncBuffer
			_, srv := newTestReceiver(t, f, tt.check, WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			f.deliver(srv.URL, f.request("taskrs-x", StagePostPlan, false))
			cb := f.waitFinal()
			if cb.Status != TaskResultFailed || cb.Message != tt.want {
				t.Errorf("final = %s %q, want failed %q", cb.Status, cb.Message, tt.want)
			}
			if strings.Contains(string(cb.Body), "hunter2") || strings.Contains(string(cb.Body), "boom") {
				t.Error("the check's error text reached the service")
			}
		})
	}
}

func TestReceiverDeadline(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		<-ctx.Done()
		return Passed("too late"), nil
	}, WithCheckTimeout(20*time.Millisecond), WithHeartbeat(0))
	f.deliver(srv.URL, f.request("taskrs-slow", StagePostPlan, false))
	cb := f.waitFinal()
	if cb.Status != TaskResultFailed || cb.Message != "The check did not finish within 20ms." {
		t.Errorf("final = %s %q", cb.Status, cb.Message)
	}
	if n := len(f.callbacksFor("taskrs-slow")); n != 1 {
		t.Errorf("%d callbacks, want exactly one final", n)
	}
}

func TestReceiverHeartbeatsAndProgress(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if err := d.Progress(ctx, "Scanning 12 resources"); err != nil {
			return TaskResultUpdate{}, err
		}
		// Wait for the progress update and two heartbeats: the check is "long".
		for range 3 {
			select {
			case <-f.running:
			case <-ctx.Done():
				return TaskResultUpdate{}, ctx.Err()
			}
		}
		return Passed("done"), nil
	}, WithHeartbeat(2*time.Millisecond))
	f.deliver(srv.URL, f.request("taskrs-long", StagePostPlan, false))
	cb := f.waitFinal()
	cbs := f.callbacksFor("taskrs-long")
	if cb.Status != TaskResultPassed || len(cbs) < 4 {
		t.Fatalf("callbacks: %+v", cbs)
	}
	for i, c := range cbs[:len(cbs)-1] {
		if c.Status != TaskResultRunning || c.Message != "Scanning 12 resources" {
			t.Errorf("callback %d = %s %q, want running with the last progress message", i, c.Status, c.Message)
		}
	}
	if last := cbs[len(cbs)-1]; last.Status != TaskResultPassed {
		t.Errorf("the final callback is not last: %+v", last)
	}
}

func TestReceiverStopsCheckWhenServiceSaysFinal(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.respond = func(_ string, _ int, status TaskResultStatus) int { return http.StatusConflict }
	stopped := make(chan error, 1)
	var logs syncBuffer
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		err := d.Progress(ctx, "working")
		<-ctx.Done()
		stopped <- errors.Join(err, context.Cause(ctx))
		return Passed("x"), nil
	}, WithHeartbeat(0), WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	f.deliver(srv.URL, f.request("taskrs-gone", StagePostPlan, false))
	err := <-stopped
	if !errors.Is(err, ErrConflict) || !errors.Is(err, errAlreadyFinal) {
		t.Errorf("check saw %v", err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The final result is still sent once; its 409 is logged, not retried.
	cbs := f.callbacksFor("taskrs-gone")
	if len(cbs) != 2 || cbs[0].Status != TaskResultRunning || cbs[1].Status == TaskResultRunning || cbs[1].HTTPStatus != http.StatusConflict {
		t.Errorf("callbacks: %+v", cbs)
	}
	if !strings.Contains(logs.String(), "already final") {
		t.Errorf("the 409 is not in the logs:\n%s", logs.String())
	}
}

func TestReceiverCallbackRetries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.respond = func(_ string, n int, _ TaskResultStatus) int {
		return map[int]int{1: http.StatusServiceUnavailable, 2: http.StatusTooManyRequests, 3: http.StatusBadGateway}[n]
	}
	_, srv := newTestReceiver(t, f, passCheck)
	f.deliver(srv.URL, f.request("taskrs-flaky", StagePostPlan, false))
	if cb := f.waitFinal(); cb.Status != TaskResultPassed {
		t.Errorf("final = %+v", cb)
	}
	if n := len(f.callbacksFor("taskrs-flaky")); n != 4 {
		t.Errorf("callback attempts = %d, want 4", n)
	}
}

func TestReceiverFinalCallbackRefused(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusUnprocessableEntity} {
		f := newFakeService(t, testHMACKey)
		f.respond = func(string, int, TaskResultStatus) int { return status }
		var logs syncBuffer
		r, srv := newTestReceiver(t, f, passCheck, WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		f.deliver(srv.URL, f.request("taskrs-refused", StagePostPlan, false))
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(f.callbacksFor("taskrs-refused")); n != 1 {
			t.Errorf("%d: %d attempts; a refused final callback must not be retried", status, n)
		}
		if !strings.Contains(logs.String(), "could not be reported") {
			t.Errorf("%d: the refusal is not reported in the logs:\n%s", status, logs.String())
		}
	}
}

func TestReceiverInvalidOutcomesStillReport(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		u := Failed("found problems")
		u.Outcomes = []Outcome{{ID: "", Description: "no id"}}
		return u, nil
	})
	f.deliver(srv.URL, f.request("taskrs-badout", StagePostPlan, true))
	cb := f.waitFinal()
	// The outcome is made sendable (an ID is given), not dropped.
	if cb.Status != TaskResultFailed || len(cb.Outcomes) != 1 || !strings.Contains(string(cb.Outcomes[0]), `"outcome-id":"outcome-1"`) || cb.Message != "found problems" {
		t.Errorf("final = %s %q with outcomes %+v", cb.Status, cb.Message, cb.Outcomes)
	}
}

func TestReceiverFullAnswers503(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		started <- struct{}{}
		<-release
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithHeartbeat(0))
	freed := make(chan string, 2)
	r.afterRun = func(id string) { freed <- id }
	if got := f.deliver(srv.URL, f.request("taskrs-a", StagePostPlan, false)); got != 200 {
		t.Fatal(got)
	}
	<-started
	body, _ := json.Marshal(f.request("taskrs-b", StagePostPlan, false))
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set(SignatureHeader, Sign(f.key, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("full receiver: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(release)
	f.waitFinal()
	<-freed
	// The refused delivery is not remembered as seen: the service's retry runs it.
	if got := f.deliver(srv.URL, f.request("taskrs-b", StagePostPlan, false)); got != 200 {
		t.Errorf("retried delivery: %d", got)
	}
	if cb := f.waitFinal(); cb.TaskResultID != "taskrs-b" {
		t.Errorf("final for %s", cb.TaskResultID)
	}
}

func TestReceiverDuplicateDeliveries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var runs atomic.Int64
	release := make(chan struct{})
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		runs.Add(1)
		<-release
		return Passed("ok"), nil
	}, WithHeartbeat(0))
	p := f.request("taskrs-dup", StagePostPlan, false)
	for range 3 { // in flight
		if got := f.deliver(srv.URL, p); got != 200 {
			t.Fatal(got)
		}
	}
	close(release)
	f.waitFinal()
	if got := f.deliver(srv.URL, p); got != 200 { // just finished
		t.Fatal(got)
	}
	if runs.Load() != 1 || len(f.callbacksFor("taskrs-dup")) != 1 {
		t.Errorf("runs %d, callbacks %d; want 1 and 1", runs.Load(), len(f.callbacksFor("taskrs-dup")))
	}
}

func TestReceiverShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFakeService(t, testHMACKey)
	cc, _ := NewClient(WithRetryPolicy(fastRetries), WithRateLimit(0))
	started := make(chan struct{}, 10)
	r, err := NewReceiver(func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if d.Request.TaskResultID == "taskrs-quick" {
			return Passed("quick"), nil
		}
		started <- struct{}{}
		<-ctx.Done() // a check that only ends when told to
		return TaskResultUpdate{}, ctx.Err()
	}, WithHMACKeys(f.key), WithCallbackClient(cc), WithHeartbeat(0))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	for i := range 3 {
		f.deliver(srv.URL, f.request(fmt.Sprintf("taskrs-stuck-%d", i), StagePostPlan, false))
	}
	for range 3 {
		<-started
	}
	f.deliver(srv.URL, f.request("taskrs-quick", StagePostPlan, false))
	srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's error after failing the stuck checks", err)
	}
	for i := range 3 {
		cbs := f.callbacksFor(fmt.Sprintf("taskrs-stuck-%d", i))
		if len(cbs) != 1 || cbs[0].Status != TaskResultFailed || !strings.Contains(cbs[0].Message, "shut down") {
			t.Errorf("stuck check %d: %+v", i, cbs)
		}
	}
	if cbs := f.callbacksFor("taskrs-quick"); len(cbs) != 1 || cbs[0].Status != TaskResultPassed {
		t.Errorf("quick check: %+v", cbs)
	}
	// After Shutdown deliveries are refused with 503 so the service tries again.
	rec := httptest.NewRecorder()
	body, _ := json.Marshal(f.request("taskrs-late", StagePostPlan, false))
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set(SignatureHeader, Sign(f.key, body))
	r.ServeHTTP(rec, req)
	if rec.Code != 503 {
		t.Errorf("delivery after Shutdown: %d", rec.Code)
	}
	f.close()
	cc.CloseIdleConnections()
}

// TestReceiverShutdownClosesItsOwnClient: a receiver that made its own callback client
// leaves no connection goroutine behind after Shutdown.
func TestReceiverShutdownClosesItsOwnClient(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	before := goleak.IgnoreCurrent()
	r, err := NewReceiver(passCheck, WithHMACKeys(f.key), WithHeartbeat(0))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	f.deliver(srv.URL, f.request("taskrs-own", StagePostPlan, false))
	f.waitFinal()
	srv.Close()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}

// TestReceiverFinalDoesNotWaitForHeartbeatRetries: when the check returns while a
// heartbeat is retrying, the heartbeat is abandoned and the final result goes at once,
// even with retry waits of a minute.
func TestReceiverFinalDoesNotWaitForHeartbeatRetries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	heartbeat := make(chan struct{}, 16)
	f.respond = func(_ string, _ int, status TaskResultStatus) int {
		if status == TaskResultRunning {
			heartbeat <- struct{}{}
			return http.StatusServiceUnavailable
		}
		return 0
	}
	slow, err := NewClient(WithRetryPolicy(RetryPolicy{MaxRetries: 5, MinWait: time.Minute, MaxWait: time.Minute}), WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		<-heartbeat // a heartbeat failed and now waits a minute to retry
		return Passed("done"), nil
	}, WithCallbackClient(slow), WithHeartbeat(time.Millisecond))
	f.deliver(srv.URL, f.request("taskrs-hb", StagePostPlan, false))
	if cb := f.waitFinal(); cb.Status != TaskResultPassed {
		t.Errorf("final = %+v", cb)
	}
	slow.CloseIdleConnections()
}

// TestReceiverCheckGoexit: a check that ends its goroutine with runtime.Goexit (as
// t.FailNow does) is reported failed at once, not at the deadline.
func TestReceiverCheckGoexit(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		runtime.Goexit()
		return Passed("unreachable"), nil
	}, WithHeartbeat(0))
	f.deliver(srv.URL, f.request("taskrs-goexit", StagePostPlan, false))
	if cb := f.waitFinal(); cb.Status != TaskResultFailed || !strings.Contains(cb.Message, "internal error") {
		t.Errorf("final = %+v", cb)
	}
}

// TestJobPrintsNoSecrets: a Job printed or logged shows its task result ID, never the
// body's access token or the signature.
func TestJobPrintsNoSecrets(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	body, _ := json.Marshal(f.request("taskrs-job", StagePostPlan, false))
	job := Job{Body: body, Signature: Sign(f.key, body), TaskResultID: "taskrs-job", ReceivedAt: time.Now()}
	var out syncBuffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", job, job, job, job)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("job", "job", job)
	slog.New(slog.NewTextHandler(&out, nil)).Info("job", "job", job)
	assertNoSecrets(t, "printed job", out.String(), accessTokenFor("taskrs-job"), job.Signature, "access_token")
	if !strings.Contains(out.String(), "taskrs-job") {
		t.Errorf("the job's task result ID is not shown:\n%s", out.String())
	}
}

// TestProcessCountsTheDeadlineFromReceipt: a job that waited in the queue longer than
// the check's deadline is reported failed without running the check.
func TestProcessCountsTheDeadlineFromReceipt(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	worker, _ := newTestReceiver(t, f, func(ctx context.Context, _ *Delivery) (TaskResultUpdate, error) {
		t.Error("the check ran for a job past its deadline")
		return Passed("too late"), nil
	}, WithCheckTimeout(time.Hour), WithHeartbeat(0))
	body, _ := json.Marshal(f.request("taskrs-stale", StagePostPlan, false))
	job := Job{Body: body, Signature: Sign(f.key, body), TaskResultID: "taskrs-stale", ReceivedAt: time.Now().Add(-2 * time.Hour)}
	if err := worker.Process(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if cb := f.waitFinal(); cb.Status != TaskResultFailed || !strings.Contains(cb.Message, "could not start within 1h0m0s") {
		t.Errorf("final = %+v", cb)
	}
}

// queue is an Executor backed by a channel, standing in for SQS, Pub/Sub and the like.
type queue struct {
	jobs chan Job
	full bool
}

func (q *queue) Submit(_ context.Context, job Job) error {
	if q.full {
		return errors.New("queue is full")
	}
	q.jobs <- job
	return nil
}

func TestReceiverExecutor(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	q := &queue{jobs: make(chan Job, 4)}
	var ran atomic.Int64
	check := func(context.Context, *Delivery) (TaskResultUpdate, error) {
		ran.Add(1)
		return Passed("by a worker"), nil
	}
	frontReceiver, front := newTestReceiver(t, f, check, WithExecutor(q))
	worker, _ := newTestReceiver(t, f, check)

	if got := f.deliver(front.URL, f.request("taskrs-q", StagePostPlan, false)); got != 200 {
		t.Fatal(got)
	}
	job := <-q.jobs
	if ran.Load() != 0 || job.TaskResultID != "taskrs-q" {
		t.Fatalf("the front ran the check or the job is wrong: %+v", job)
	}
	// The queue may carry the job as JSON.
	wire, _ := json.Marshal(job)
	var got Job
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	if err := worker.Process(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if cb := f.waitFinal(); cb.Message != "by a worker" {
		t.Errorf("final = %+v", cb)
	}

	// A job altered in the queue is refused and not called back.
	got.Body = bytes.Replace(got.Body, []byte("taskrs-q"), []byte("taskrs-z"), -1)
	if err := worker.Process(context.Background(), got); !errors.Is(err, ErrJobRefused) {
		t.Errorf("a tampered job: %v, want ErrJobRefused", err)
	}
	// A queue that cannot take the job makes the service retry.
	q.full = true
	if got := f.deliver(front.URL, f.request("taskrs-r", StagePostPlan, false)); got != 503 {
		t.Errorf("full queue: %d", got)
	}
	// The queue's own error stays in the logs: the service sees a fixed reason.
	rec := httptest.NewRecorder()
	body, _ := json.Marshal(f.request("taskrs-s", StagePostPlan, false))
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set(SignatureHeader, Sign(f.key, body))
	frontReceiver.ServeHTTP(rec, req)
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "queue is full") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("full queue answer: %d %q", rec.Code, rec.Body.String())
	}
	if job.ReceivedAt.IsZero() || !got.ReceivedAt.Equal(job.ReceivedAt) {
		t.Errorf("receipt time %v, after the queue %v", job.ReceivedAt, got.ReceivedAt)
	}
}

func TestReceiverUnsigned(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, passCheck, AllowUnsignedDeliveries())
	body, _ := json.Marshal(f.request("taskrs-u", StagePostPlan, false))
	if got := f.deliverRaw(srv.URL, body, SignatureHeader, ""); got != 200 {
		t.Fatalf("unsigned delivery: %d", got)
	}
	f.waitFinal()
	if got := f.deliverRaw(srv.URL, body, SignatureHeader, Sign(f.key, body)); got != 400 {
		t.Errorf("a signed delivery to a receiver without keys: %d, want 400", got)
	}
}

// TestReceiverNoSecretsInLogs runs deliveries through every path with debug logging on
// the receiver and its client, and checks the logs for every secret involved.
func TestReceiverNoSecretsInLogs(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cc, _ := NewClient(WithRetryPolicy(fastRetries), WithRateLimit(0), WithLogger(logger))
	f.respond = func(_ string, n int, _ TaskResultStatus) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("user logs the delivery", "delivery", d, "request", d.Request, "r", *d.Request)
		fmt.Fprintf(&logs, "%v %+v %#v %s\n", d.Request, *d.Request, *d.Request, d)
		if _, err := d.Plan(ctx); err != nil {
			return TaskResultUpdate{}, err
		}
		if d.Request.TaskResultID == "taskrs-err" {
			return TaskResultUpdate{}, errors.New("check failed")
		}
		return Passed("ok"), nil
	}, WithCallbackClient(cc), WithReceiverLogger(logger))
	for _, id := range []string{"taskrs-ok", "taskrs-err"} {
		f.deliver(srv.URL, f.request(id, StagePostPlan, true))
		f.waitFinal()
	}
	body, _ := json.Marshal(f.request("taskrs-forged", StagePostPlan, true))
	forged := Sign("attacker-key", body)
	f.deliverRaw(srv.URL, body, SignatureHeader, forged)

	secrets := []string{string(testHMACKey), accessTokenFor("taskrs-ok"), accessTokenFor("taskrs-err"),
		accessTokenFor("taskrs-forged"), forged, Sign(f.key, body), "Bearer", "url_code", "cb-secret", "plan-signed", "cv-signed"}
	assertNoSecrets(t, "receiver logs", logs.String(), secrets...)
	for _, want := range []string{`"run_id":"run-i3Df5to9ELvibKpQ"`, `"task_result_id":"taskrs-ok"`, `"stage":"post_plan"`, "delivery refused"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

// Process tells a queue what to do with a job: ack (nil, also when the result was
// final already), or deliver again (ErrFinalNotReported, ErrReceiverShutdown).
func TestProcessErrorsTellTheQueue(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.respond = func(id string, n int, status TaskResultStatus) int {
		switch id {
		case "taskrs-down":
			return http.StatusServiceUnavailable
		case "taskrs-final":
			return http.StatusConflict
		}
		return 0
	}
	worker, _ := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		return Passed("ok"), nil
	}, WithHeartbeat(0), WithFinalCallbackTimeout(time.Second))
	job := func(id string) Job {
		body, _ := json.Marshal(f.request(id, StagePostPlan, false))
		return Job{Body: body, Signature: Sign(f.key, body), TaskResultID: id}
	}
	if err := worker.Process(context.Background(), job("taskrs-final")); err != nil {
		t.Errorf("409 on the final: %v, want nil", err)
	}
	if err := worker.Process(context.Background(), job("taskrs-down")); !errors.Is(err, ErrFinalNotReported) || !strings.Contains(err.Error(), "503") {
		t.Errorf("unreachable service: %v, want ErrFinalNotReported", err)
	}
	if err := worker.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := worker.Process(context.Background(), job("taskrs-late")); !errors.Is(err, ErrReceiverShutdown) {
		t.Errorf("after Shutdown: %v, want ErrReceiverShutdown", err)
	}
}
