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
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tfkit/tfc/internal/syncbuf"
)

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
			var logs syncbuf.Buffer
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
	var logs syncbuf.Buffer
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
		var logs syncbuf.Buffer
		r, srv := newTestReceiver(t, f, passCheck, WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		f.deliver(srv.URL, f.request("taskrs-refused", StagePostPlan, false))
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		// A plain result (no URL, no outcomes) has no plainer form to fall back to.
		if n := len(f.callbacksFor("taskrs-refused")); n != 1 {
			t.Errorf("%d: %d attempts; a refused final callback must not be retried", status, n)
		}
		if !strings.Contains(logs.String(), "could not be reported") {
			t.Errorf("%d: the refusal is not reported in the logs:\n%s", status, logs.String())
		}
	}
}

// TestReceiverFinal422SendsPlainForm: when the service refuses a final result with
// details (422), the status and message go once more alone, with a note.
func TestReceiverFinal422SendsPlainForm(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.respond = func(_ string, n int, _ TaskResultStatus) int {
		if n == 1 {
			return http.StatusUnprocessableEntity
		}
		return 0
	}
	_, srv := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		u := Failed("2 resources would be deleted.")
		u.URL = "https://checks.example.com/r/1"
		u.Outcomes = []Outcome{{ID: "a", Description: "a is deleted"}, {ID: "b", Description: "b is deleted"}}
		return u, nil
	}, WithHeartbeat(0))
	f.deliver(srv.URL, f.request("taskrs-422", StagePostPlan, true))
	cb := f.waitFinal()
	cbs := f.callbacksFor("taskrs-422")
	if len(cbs) != 2 || len(cbs[0].Outcomes) != 2 || cbs[0].URL == "" {
		t.Fatalf("callbacks %+v", cbs)
	}
	if cb.Status != TaskResultFailed || cb.URL != "" || len(cb.Outcomes) != 0 ||
		cb.Message != "2 resources would be deleted. "+detailsRefusedNote {
		t.Errorf("plain form: %s %q, URL %q, %d outcomes", cb.Status, cb.Message, cb.URL, len(cb.Outcomes))
	}
}

// TestReceiverOversizedOutcomesLand: a result the service would refuse whole (an
// outcome ID over 64 characters, 300 outcomes) lands with its outcomes, made
// sendable.
func TestReceiverOversizedOutcomesLand(t *testing.T) {
	long := "module.networking.module.subnets.aws_subnet.private[\"eu-west-1a-private-0123456789\"]"
	tests := map[string][]Outcome{
		"long ID":      {{ID: long, Description: "deleted"}, {ID: long + "x", Description: "deleted too"}},
		"300 outcomes": make([]Outcome, 300),
	}
	for i := range tests["300 outcomes"] {
		tests["300 outcomes"][i] = Outcome{ID: fmt.Sprintf("o-%d", i), Description: "finding"}
	}
	for name, outcomes := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeService(t, testHMACKey)
			_, srv := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
				u := Failed("found problems")
				u.Outcomes = outcomes
				return u, nil
			}, WithHeartbeat(0))
			f.deliver(srv.URL, f.request("taskrs-big", StagePostPlan, true))
			cb := f.waitFinal()
			if n := len(f.callbacksFor("taskrs-big")); n != 1 {
				t.Errorf("%d callback attempts, want 1", n)
			}
			want := min(len(outcomes), MaxOutcomes)
			if cb.Status != TaskResultFailed || len(cb.Outcomes) != want {
				t.Fatalf("final %s %q with %d outcomes, want %d", cb.Status, cb.Message, len(cb.Outcomes), want)
			}
			if len(outcomes) > MaxOutcomes && !strings.Contains(cb.Message, "50 more findings") {
				t.Errorf("message %q does not say what was cut", cb.Message)
			}
			if name == "long ID" && string(cb.Outcomes[0]) == string(cb.Outcomes[1]) {
				t.Error("two long IDs were shortened to the same")
			}
		})
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

func TestReceiverShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFakeService(t, testHMACKey)
	started := make(chan struct{}, 10)
	r, err := NewReceiver(func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if d.Request.TaskResultID == "taskrs-quick" {
			return Passed("quick"), nil
		}
		started <- struct{}{}
		<-ctx.Done() // a check that only ends when told to
		return TaskResultUpdate{}, ctx.Err()
	}, WithHMACKeys(f.key), WithAllowedHosts(f.host()), InsecureAllowHTTP(), WithCallbackRetryPolicy(fastRetries),
		WithHeartbeat(0), WithMaxInFlight(4))
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
	f.waitFinal()
	// Two more wait for a slot: the stuck checks hold three, and one more is taken by
	// the next to arrive.
	for i := range 3 {
		f.deliver(srv.URL, f.request(fmt.Sprintf("taskrs-waiting-%d", i), StagePostPlan, false))
	}
	<-started
	srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's error after failing the stuck checks", err)
	}
	for _, id := range []string{"taskrs-stuck-0", "taskrs-stuck-1", "taskrs-stuck-2", "taskrs-waiting-0"} {
		cbs := f.callbacksFor(id)
		if len(cbs) != 1 || cbs[0].Status != TaskResultFailed || !strings.Contains(cbs[0].Message, "shut down before the check finished") {
			t.Errorf("%s: %+v", id, cbs)
		}
	}
	for _, id := range []string{"taskrs-waiting-1", "taskrs-waiting-2"} {
		cbs := f.callbacksFor(id)
		if len(cbs) != 1 || cbs[0].Status != TaskResultFailed || !strings.Contains(cbs[0].Message, "shut down before the check started") {
			t.Errorf("%s: %+v", id, cbs)
		}
	}
	if cbs := f.callbacksFor("taskrs-quick"); len(cbs) != 1 || cbs[0].Status != TaskResultPassed {
		t.Errorf("quick check: %+v", cbs)
	}
	// After Shutdown deliveries are refused with 503 so the service tries again.
	if rec := f.serve(r, "taskrs-late"); rec.Code != 503 {
		t.Errorf("delivery after Shutdown: %d", rec.Code)
	}
	f.close()
}

// TestReceiverShutdownReturnsWhenContextEnds: with a callback host that never answers
// and a patient retry policy, Shutdown returns once its context has ended and the
// shutdown grace is over, not when the retries would end.
func TestReceiverShutdownReturnsWhenContextEnds(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	hung := make(chan struct{}, 8)
	blackhole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hung <- struct{}{}
		<-r.Context().Done()
	}))
	defer blackhole.Close()
	started := make(chan struct{})
	r, err := NewReceiver(func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		close(started)
		<-ctx.Done()
		return Passed("late"), nil
	}, WithHMACKeys(f.key), WithAllowedHosts(strings.TrimPrefix(blackhole.URL, "http://")), InsecureAllowHTTP(),
		WithCallbackRetryPolicy(RetryPolicy{MaxRetries: 10, MinWait: time.Minute, MaxWait: time.Minute}),
		WithHeartbeat(0), WithShutdownGrace(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	p := f.request("taskrs-unreachable", StagePostPlan, false)
	p["task_result_callback_url"] = blackhole.URL + "/api/v2/task-results/x/callback"
	delete(p, "plan_json_api_url")
	p["configuration_version_download_url"] = nil
	if got := f.deliver(srv.URL, p); got != 200 {
		t.Fatal(got)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v", err)
	}
	// The failed final was attempted (and hung) within the grace.
	<-hung
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Shutdown took %v", took)
	}
}

// TestReceiverShutdownClosesItsOwnClient: a receiver that made its own callback client
// leaves no connection goroutine behind after Shutdown.
func TestReceiverShutdownClosesItsOwnClient(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	before := goleak.IgnoreCurrent()
	r, err := NewReceiver(passCheck, WithHMACKeys(f.key), WithAllowedHosts(f.host()), InsecureAllowHTTP(), WithHeartbeat(0))
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
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		<-heartbeat // a heartbeat failed and now waits a minute to retry
		return Passed("done"), nil
	}, WithCallbackRetryPolicy(RetryPolicy{MaxRetries: 5, MinWait: time.Minute, MaxWait: time.Minute}), WithHeartbeat(time.Millisecond))
	f.deliver(srv.URL, f.request("taskrs-hb", StagePostPlan, false))
	if cb := f.waitFinal(); cb.Status != TaskResultPassed {
		t.Errorf("final = %+v", cb)
	}
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
	var out syncbuf.Buffer
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
	if err := worker.Process(context.Background(), got); err == nil {
		t.Error("a tampered job was processed")
	}
	// A queue that cannot take the job makes the service retry.
	q.full = true
	if got := f.deliver(front.URL, f.request("taskrs-r", StagePostPlan, false)); got != 503 {
		t.Errorf("full queue: %d", got)
	}
	// The queue's own error stays in the logs: the service sees a fixed reason.
	rec := f.serve(frontReceiver, "taskrs-s")
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "queue is full") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("full queue answer: %d %q", rec.Code, rec.Body.String())
	}
	if job.ReceivedAt.IsZero() || !got.ReceivedAt.Equal(job.ReceivedAt) {
		t.Errorf("receipt time %v, after the queue %v", job.ReceivedAt, got.ReceivedAt)
	}
}

// slowQueue is an Executor whose Submit waits to be told how it ends, as a queue
// whose publish is slow to be acknowledged.
type slowQueue struct {
	entered chan struct{}
	outcome chan error
	stored  atomic.Int64
}

func (q *slowQueue) Submit(ctx context.Context, _ Job) error {
	q.entered <- struct{}{}
	err := <-q.outcome
	if err == nil {
		q.stored.Add(1)
	}
	return err
}

// TestExecutorRepeatWhileStoring: the service retries a delivery while the first
// request's Submit is still waiting. The repeat must not be answered 200 as a
// duplicate, since the first Submit may fail and leave nothing stored.
func TestExecutorRepeatWhileStoring(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	q := &slowQueue{entered: make(chan struct{}), outcome: make(chan error)}
	front, _ := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		return Passed("unused"), nil
	}, WithExecutor(q))

	first := make(chan int)
	go func() { first <- f.serve(front, "taskrs-slow").Code }()
	<-q.entered
	if rec := f.serve(front, "taskrs-slow"); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("repeat during the first Submit: %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	q.outcome <- errors.New("publish not acknowledged")
	if code := <-first; code != http.StatusServiceUnavailable {
		t.Errorf("first request after a failed Submit: %d", code)
	}

	// The service's next try is a new delivery, stored and acknowledged; one after that
	// is a duplicate.
	second := make(chan int)
	go func() { second <- f.serve(front, "taskrs-slow").Code }()
	<-q.entered
	q.outcome <- nil
	if code := <-second; code != http.StatusOK || q.stored.Load() != 1 {
		t.Errorf("retry: %d, %d stored", code, q.stored.Load())
	}
	if rec := f.serve(front, "taskrs-slow"); rec.Code != http.StatusOK || q.stored.Load() != 1 {
		t.Errorf("duplicate after storing: %d, %d stored", rec.Code, q.stored.Load())
	}
}

// TestProcessWaitingForASlot: a Process call waiting behind a busy check keeps the
// task result alive with "waiting" heartbeats, and one whose deadline passes while it
// waits is reported failed without running its check, as a delivery waiting in
// process would be.
func TestProcessWaitingForASlot(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	release := make(chan struct{})
	started := make(chan string, 4)
	worker, _ := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		started <- d.Request.TaskResultID
		if d.Request.TaskResultID == "taskrs-busy" {
			<-release
		}
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithHeartbeat(time.Millisecond), WithCheckTimeout(time.Hour))
	busy := make(chan error, 1)
	go func() { busy <- worker.Process(context.Background(), jobFor(f, "taskrs-busy", 1)) }()
	if id := <-started; id != "taskrs-busy" {
		t.Fatalf("started %s", id)
	}

	waiting := make(chan error, 1)
	go func() { waiting <- worker.Process(context.Background(), jobFor(f, "taskrs-waiting", 1)) }()
	for cb := range f.running {
		if cb.TaskResultID == "taskrs-waiting" {
			if cb.Message != queuedProgressMessage {
				t.Errorf("heartbeat while waiting says %q", cb.Message)
			}
			break
		}
	}

	// Its deadline passes while it waits: failed at once, the check not run.
	late := jobFor(f, "taskrs-late", 1)
	late.ReceivedAt = time.Now().Add(-time.Hour + 20*time.Millisecond)
	if err := worker.Process(context.Background(), late); err != nil {
		t.Errorf("job whose deadline passed while waiting: %v", err)
	}
	if cb := f.waitFinal(); cb.TaskResultID != "taskrs-late" || cb.Status != TaskResultFailed || !strings.Contains(cb.Message, "could not start within 1h0m0s") {
		t.Errorf("final = %+v", cb)
	}

	close(release)
	if err := <-busy; err != nil {
		t.Errorf("busy job: %v", err)
	}
	if err := <-waiting; err != nil {
		t.Errorf("waiting job: %v", err)
	}
	for range 2 {
		if cb := f.waitFinal(); cb.Status != TaskResultPassed {
			t.Errorf("final = %+v", cb)
		}
	}
	close(started)
	for id := range started {
		if id == "taskrs-late" {
			t.Error("the check ran for the job past its deadline")
		}
	}
}

// TestProgressInFlightDoesNotDelayTheFinal: a check leaves a Progress call running
// with a context that never ends, against a service that answers it 503 with long
// retry waits; the final result goes out at once and the Progress call ends.
func TestProgressInFlightDoesNotDelayTheFinal(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	refused := make(chan struct{}, 1)
	f.respond = func(_ string, _ int, status TaskResultStatus) int {
		if status == TaskResultRunning {
			select {
			case refused <- struct{}{}:
			default:
			}
			return http.StatusServiceUnavailable
		}
		return 0
	}
	progressed := make(chan error, 1)
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		go func() { progressed <- d.Progress(context.Background(), "still looking") }()
		<-refused // its first attempt was answered 503; the next waits an hour
		return Passed("done"), nil
	}, WithHeartbeat(0), WithCallbackRetryPolicy(RetryPolicy{MaxRetries: 5, MinWait: time.Hour, MaxWait: time.Hour}))
	f.deliver(srv.URL, f.request("taskrs-progress", StagePostPlan, false))
	if cb := f.waitFinal(); cb.Status != TaskResultPassed {
		t.Errorf("final = %+v", cb)
	}
	if err := <-progressed; !errors.Is(err, ErrDeliveryFinished) {
		t.Errorf("the cut Progress returned %v, want ErrDeliveryFinished", err)
	}
}

// storedElsewhere is an Executor whose queue holds every job already, as after the
// service retried a delivery onto another replica.
type storedElsewhere struct{}

func (storedElsewhere) Submit(context.Context, Job) error {
	return fmt.Errorf("queue: %w", ErrDuplicateJob)
}

// TestExecutorDuplicateJob: a job the queue holds already is answered 200 and counted
// as a duplicate, not as accepted.
func TestExecutorDuplicateJob(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var accepted, duplicates atomic.Int64
	front, _ := newTestReceiver(t, f, passCheck, WithExecutor(storedElsewhere{}), WithReceiverHooks(ReceiverHooks{
		DeliveryAccepted:  func() { accepted.Add(1) },
		DeliveryDuplicate: func() { duplicates.Add(1) },
	}))
	if rec := f.serve(front, "taskrs-elsewhere"); rec.Code != http.StatusOK {
		t.Errorf("a job stored already: %d", rec.Code)
	}
	if rec := f.serve(front, "taskrs-elsewhere"); rec.Code != http.StatusOK { // now this receiver's own duplicate
		t.Errorf("its repeat: %d", rec.Code)
	}
	if accepted.Load() != 0 || duplicates.Load() != 2 {
		t.Errorf("accepted %d, duplicates %d; want 0 and 2", accepted.Load(), duplicates.Load())
	}
}

// TestProcessClampsFutureReceipt: a job received "in the future" (a clock ahead of the
// worker's) counts its deadline from now, never past the check timeout.
func TestProcessClampsFutureReceipt(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	deadlines := make(chan time.Duration, 1)
	var logs syncbuf.Buffer
	worker, _ := newTestReceiver(t, f, func(ctx context.Context, _ *Delivery) (TaskResultUpdate, error) {
		d, _ := ctx.Deadline()
		deadlines <- time.Until(d)
		return Passed("ok"), nil
	}, WithCheckTimeout(time.Hour), WithHeartbeat(0), WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	body, _ := json.Marshal(f.request("taskrs-future", StagePostPlan, false))
	job := Job{Body: body, Signature: Sign(f.key, body), TaskResultID: "taskrs-future", ReceivedAt: time.Now().Add(2 * time.Hour)}
	if err := worker.Process(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if left := <-deadlines; left > time.Hour {
		t.Errorf("the check got %v, more than the check timeout", left)
	}
	if !strings.Contains(logs.String(), "in the future") {
		t.Errorf("the clamp is not logged:\n%s", logs.String())
	}
}

// TestProcessErrors: what Process returns tells the queue what to do with the job.
func TestProcessErrors(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	release := make(chan struct{})
	started := make(chan struct{})
	worker, _ := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if d.Request.TaskResultID == "taskrs-busy" {
			close(started)
			<-release
		}
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithHeartbeat(0))
	job := func(id string) Job {
		body, _ := json.Marshal(f.request(id, StagePostPlan, false))
		return Job{Body: body, Signature: Sign(f.key, body), TaskResultID: id}
	}

	tampered := job("taskrs-tampered")
	tampered.Body = append(tampered.Body, ' ')
	if err := worker.Process(context.Background(), tampered); !errors.Is(err, ErrJobRefused) {
		t.Errorf("tampered job: %v", err)
	}

	// The final callback refused for good: not reported, with the cause.
	f.respond = func(id string, _ int, _ TaskResultStatus) int {
		if id == "taskrs-expired" {
			return http.StatusUnauthorized
		}
		return 0
	}
	if err := worker.Process(context.Background(), job("taskrs-expired")); !errors.Is(err, ErrResultNotReported) || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("final refused: %v", err)
	}

	// Process calls share the check slots: with the only slot taken, a job whose
	// context ends while it waits is neither run nor called back.
	busy := make(chan error, 1)
	go func() { busy <- worker.Process(context.Background(), job("taskrs-busy")) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := worker.Process(ctx, job("taskrs-waiting")); !errors.Is(err, context.Canceled) {
		t.Errorf("job whose context ended while waiting: %v", err)
	}
	close(release)
	if err := <-busy; err != nil {
		t.Errorf("busy job: %v", err)
	}
	if n := len(f.callbacksFor("taskrs-waiting")); n != 0 {
		t.Errorf("the job that never ran was called back %d times", n)
	}

	if err := worker.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := worker.Process(context.Background(), job("taskrs-late")); !errors.Is(err, ErrReceiverClosed) {
		t.Errorf("after Shutdown: %v", err)
	}
}
