package tfc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// jobFor is a signed job of task result id for f's service, as a queue hands it out
// for the attempt-th time.
func jobFor(f *fakeService, id string, attempt int) Job {
	body, _ := json.Marshal(f.request(id, StagePostPlan, false))
	return Job{Body: body, Signature: Sign(f.key, body), TaskResultID: id, ReceivedAt: time.Now(), Attempt: attempt}
}

// processAsync runs Process in a goroutine and returns its answer channel.
func processAsync(r *Receiver, ctx context.Context, job Job) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.Process(ctx, job) }()
	return done
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Process did not return")
		return nil
	}
}

// TestProcessHandBack: a Process call whose context is cancelled with ErrHandBack
// sends no final result, whether its check is running or still waiting for a slot,
// and returns an error matching ErrHandBack; the check's context ends with that cause,
// and the slot is held until the check returns.
func TestProcessHandBack(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	started := make(chan string, 2)
	release := make(chan struct{})
	causes := make(chan error, 2)
	r, _ := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		started <- d.Request.TaskResultID
		<-ctx.Done()
		causes <- context.Cause(ctx)
		<-release // a check that takes its time to return after its context ends
		return Passed("too late"), nil
	}, WithMaxInFlight(1), WithHeartbeat(0))

	running, handBackRunning := context.WithCancelCause(context.Background())
	done := processAsync(r, running, jobFor(f, "taskrs-running", 1))
	<-started
	waiting, handBackWaiting := context.WithCancelCause(context.Background())
	waitingDone := processAsync(r, waiting, jobFor(f, "taskrs-waiting", 1))
	eventually(t, "the second job waiting for the slot", func() bool { return r.Stats().Pending == 1 })

	handBackRunning(ErrHandBack)
	if err := waitErr(t, done); !errors.Is(err, ErrHandBack) {
		t.Errorf("running job: Process = %v, want ErrHandBack", err)
	}
	if cause := <-causes; !errors.Is(cause, ErrHandBack) {
		t.Errorf("the check's context ended with %v", cause)
	}
	if s := r.Stats(); s.InFlight != 1 {
		t.Errorf("stats %+v: the abandoned check must keep its slot until it returns", s)
	}
	handBackWaiting(ErrHandBack)
	if err := waitErr(t, waitingDone); !errors.Is(err, ErrHandBack) {
		t.Errorf("waiting job: Process = %v, want ErrHandBack", err)
	}
	close(release)
	eventually(t, "the slot given back", func() bool { return r.Stats().InFlight == 0 })
	for _, id := range []string{"taskrs-running", "taskrs-waiting"} {
		if cbs := f.callbacksFor(id); len(cbs) != 0 {
			t.Errorf("%s was called back: %+v", id, cbs)
		}
	}
}

// TestProcessHandBackCutsTheFinal: a hand-back while the final result is being sent
// (to a service that does not answer) returns at once with ErrHandBack, not after the
// final callback timeout.
func TestProcessHandBackCutsTheFinal(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	arrived := make(chan struct{}, 8)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer hung.Close()
	r, _ := newTestReceiver(t, f, passCheck, WithAllowedHosts(strings.TrimPrefix(hung.URL, "http://")),
		WithHeartbeat(0), WithFinalCallbackTimeout(time.Hour))
	p := f.request("taskrs-hung", StagePrePlan, false)
	p["task_result_callback_url"] = hung.URL + "/api/v2/task-results/taskrs-hung/callback"
	p["configuration_version_download_url"] = nil
	body, _ := json.Marshal(p)
	ctx, handBack := context.WithCancelCause(context.Background())
	done := processAsync(r, ctx, Job{Body: body, Signature: Sign(f.key, body), TaskResultID: "taskrs-hung"})
	<-arrived
	start := time.Now()
	handBack(ErrHandBack)
	if err := waitErr(t, done); !errors.Is(err, ErrHandBack) || errors.Is(err, ErrResultNotReported) {
		t.Errorf("Process = %v, want ErrHandBack alone", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Process took %v to return after the hand-back", took)
	}
}

// TestShutdownHandsBackProcessCalls: with WithHandBackOnShutdown, Shutdown out of time
// hands the running Process calls back unreported (their error matches ErrHandBack and
// ErrReceiverClosed), while a delivery accepted in process still gets its failed
// result.
func TestShutdownHandsBackProcessCalls(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	started := make(chan string, 2)
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		started <- d.Request.TaskResultID
		<-ctx.Done()
		return TaskResultUpdate{}, ctx.Err()
	}, WithHandBackOnShutdown(), WithHeartbeat(0))
	done := processAsync(r, context.Background(), jobFor(f, "taskrs-queued", 1))
	<-started
	if got := f.deliver(srv.URL, f.request("taskrs-in-process", StagePostPlan, false)); got != 200 {
		t.Fatal(got)
	}
	<-started
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Shutdown(ended); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v", err)
	}
	if err := waitErr(t, done); !errors.Is(err, ErrHandBack) || !errors.Is(err, ErrReceiverClosed) {
		t.Errorf("Process = %v, want ErrHandBack and ErrReceiverClosed", err)
	}
	if cbs := f.callbacksFor("taskrs-queued"); len(cbs) != 0 {
		t.Errorf("the handed-back job was called back: %+v", cbs)
	}
	if cbs := f.callbacksFor("taskrs-in-process"); len(cbs) != 1 || cbs[0].Status != TaskResultFailed {
		t.Errorf("the in-process delivery: %+v, want its failed result", cbs)
	}
}

// TestProcessResumes: a job delivered again first asks the service with a "running"
// update; a 409 ends it as done and a 401 as refused, without running the check; any
// other answer lets the check run; a job past its deadline asks nothing.
func TestProcessResumes(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var runs atomic.Int64
	r, _ := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		runs.Add(1)
		return Passed("ran"), nil
	}, WithHeartbeat(0))
	f.respond = func(id string, n int, status TaskResultStatus) int {
		switch {
		case id == "taskrs-final" && n == 1:
			return http.StatusConflict
		case id == "taskrs-expired":
			return http.StatusUnauthorized
		case id == "taskrs-flaky" && status == TaskResultRunning:
			return http.StatusInternalServerError
		}
		return 0
	}
	cases := []struct {
		id      string
		attempt int
		check   bool // whether the check runs
		err     []error
		want    []TaskResultStatus // the callbacks, in order
	}{
		{"taskrs-first", 1, true, nil, []TaskResultStatus{TaskResultPassed}},
		{"taskrs-open", 2, true, nil, []TaskResultStatus{TaskResultRunning, TaskResultPassed}},
		{"taskrs-final", 3, false, nil, []TaskResultStatus{TaskResultRunning}},
		{"taskrs-expired", 2, false, []error{ErrJobRefused, ErrUnauthorized}, []TaskResultStatus{TaskResultRunning}},
		{"taskrs-flaky", 2, true, nil, []TaskResultStatus{TaskResultRunning, TaskResultRunning, TaskResultRunning, TaskResultRunning, TaskResultPassed}},
	}
	for _, c := range cases {
		before := runs.Load()
		err := r.Process(context.Background(), jobFor(f, c.id, c.attempt))
		for _, want := range c.err {
			if !errors.Is(err, want) {
				t.Errorf("%s: Process = %v, want %v", c.id, err, want)
			}
		}
		if c.err == nil && err != nil {
			t.Errorf("%s: Process = %v", c.id, err)
		}
		if ran := runs.Load() > before; ran != c.check {
			t.Errorf("%s: check ran %t, want %t", c.id, ran, c.check)
		}
		cbs := f.callbacksFor(c.id)
		var got []TaskResultStatus
		for _, cb := range cbs {
			got = append(got, cb.Status)
		}
		if !equalStatuses(got, c.want) {
			t.Errorf("%s: callbacks %v, want %v", c.id, got, c.want)
		}
		if c.attempt > 1 && (len(cbs) == 0 || cbs[0].Message != resumeMessage) {
			t.Errorf("%s: first callback %+v, want %q", c.id, cbs, resumeMessage)
		}
	}

	// Past its deadline: reported failed at once, without asking first.
	job := jobFor(f, "taskrs-late", 2)
	job.ReceivedAt = time.Now().Add(-2 * DefaultCheckTimeout)
	if err := r.Process(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if cbs := f.callbacksFor("taskrs-late"); len(cbs) != 1 || cbs[0].Status != TaskResultFailed {
		t.Errorf("a late job's callbacks: %+v", cbs)
	}
}

func equalStatuses(a, b []TaskResultStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// eventually polls cond until it holds, within a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
