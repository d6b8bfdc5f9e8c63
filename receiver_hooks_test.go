package tfc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// hookRecorder counts what a receiver's hooks report, as a metrics library would.
type hookRecorder struct {
	mu         sync.Mutex
	accepted   int
	duplicates int
	refused    map[int]int
	checks     map[CheckResult]int
	durations  []time.Duration
	attempts   map[string]int // "kind/status"
	finals     map[string]int // "status/outcome"
}

func (h *hookRecorder) hooks() ReceiverHooks {
	h.refused, h.checks = map[int]int{}, map[CheckResult]int{}
	h.attempts, h.finals = map[string]int{}, map[string]int{}
	lock := func(f func()) { h.mu.Lock(); defer h.mu.Unlock(); f() }
	return ReceiverHooks{
		DeliveryAccepted:  func() { lock(func() { h.accepted++ }) },
		DeliveryDuplicate: func() { lock(func() { h.duplicates++ }) },
		DeliveryRefused:   func(status int) { lock(func() { h.refused[status]++ }) },
		CheckDone: func(c CheckRun) {
			lock(func() { h.checks[c.Result]++; h.durations = append(h.durations, c.Duration) })
		},
		CallbackAttempt: func(a CallbackAttempt) {
			lock(func() { h.attempts[fmt.Sprintf("%s/%d", a.Kind, a.StatusCode)]++ })
		},
		FinalReported: func(f FinalReport) { lock(func() { h.finals[fmt.Sprintf("%s/%s", f.Status, f.Outcome)]++ }) },
	}
}

// TestReceiverHooks: every delivery, check, callback attempt and final result is
// counted once, by what happened to it.
func TestReceiverHooks(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var rec hookRecorder
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		switch d.Request.TaskResultID {
		case "taskrs-error":
			return TaskResultUpdate{}, errors.New("boom")
		case "taskrs-slow":
			<-ctx.Done()
			return TaskResultUpdate{}, ctx.Err()
		case "taskrs-deletes":
			return Failed("deletes"), nil
		}
		if err := d.Progress(ctx, "working"); err != nil {
			return TaskResultUpdate{}, err
		}
		return Passed("ok"), nil
	}, WithReceiverHooks(rec.hooks()), WithHeartbeat(0), WithCheckTimeout(time.Second))
	f.respond = func(id string, n int, status TaskResultStatus) int {
		switch {
		case id == "taskrs-flaky" && status != TaskResultRunning && n <= 3:
			return map[int]int{2: http.StatusServiceUnavailable, 3: dropCallback}[n]
		case id == "taskrs-final":
			if status == TaskResultRunning {
				return 0
			}
			return http.StatusConflict
		}
		return 0
	}
	for _, id := range []string{"taskrs-ok", "taskrs-flaky", "taskrs-final", "taskrs-error", "taskrs-deletes", "taskrs-slow"} {
		if got := f.deliver(srv.URL, f.request(id, StagePostPlan, false)); got != 200 {
			t.Fatalf("%s: %d", id, got)
		}
	}
	// A duplicate, a bad signature, a method, a host off the list.
	f.deliver(srv.URL, f.request("taskrs-ok", StagePostPlan, false))
	if got := f.deliverRaw(srv.URL, []byte(`{}`), SignatureHeader, "00"); got != 401 {
		t.Fatal(got)
	}
	if resp, err := http.Get(srv.URL); err != nil || resp.StatusCode != 405 {
		t.Fatal(resp, err)
	} else {
		resp.Body.Close()
	}
	foreign := f.request("taskrs-foreign", StagePostPlan, false)
	foreign["task_result_callback_url"] = "https://elsewhere.example.com/cb"
	if got := f.deliver(srv.URL, foreign); got != 403 {
		t.Fatal(got)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.accepted != 6 || rec.duplicates != 1 {
		t.Errorf("accepted %d, duplicates %d; want 6 and 1", rec.accepted, rec.duplicates)
	}
	if want := map[int]int{401: 1, 403: 1, 405: 1}; !mapsEqual(rec.refused, want) {
		t.Errorf("refused %v, want %v", rec.refused, want)
	}
	if want := map[CheckResult]int{CheckPassed: 3, CheckFailed: 1, CheckError: 1, CheckTimeout: 1}; !mapsEqual(rec.checks, want) {
		t.Errorf("checks %v, want %v", rec.checks, want)
	}
	if slices.ContainsFunc(rec.durations, func(d time.Duration) bool { return d < 0 }) {
		t.Errorf("durations %v", rec.durations)
	}
	// Six finals: taskrs-flaky's after a 503 and a dropped connection; three progress
	// updates from the checks that call Progress.
	want := map[string]int{"progress/200": 3, "final/200": 5, "final/503": 1, "final/0": 1, "final/409": 1}
	if !mapsEqual(rec.attempts, want) {
		t.Errorf("callback attempts %v, want %v", rec.attempts, want)
	}
	want = map[string]int{"passed/accepted": 1 + 1, "passed/already_final": 1, "failed/accepted": 3}
	if !mapsEqual(rec.finals, want) {
		t.Errorf("finals %v, want %v", rec.finals, want)
	}
}

// TestReceiverStats: checks holding slots are in flight, deliveries and Process calls
// waiting for one are pending.
func TestReceiverStats(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		started <- struct{}{}
		<-release
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithHeartbeat(0))
	if s := r.Stats(); s != (ReceiverStats{}) {
		t.Errorf("idle receiver: %+v", s)
	}
	for i := range 3 {
		if got := f.deliver(srv.URL, f.request(fmt.Sprintf("taskrs-%d", i), StagePostPlan, false)); got != 200 {
			t.Fatal(got)
		}
	}
	<-started
	done := processAsync(r, context.Background(), jobFor(f, "taskrs-job", 1))
	eventually(t, "three pending", func() bool { return r.Stats().Pending == 3 })
	if s := r.Stats(); s.InFlight != 1 || s.PendingBytes <= 0 {
		t.Errorf("stats %+v, want 1 in flight and the queued bodies' bytes", s)
	}
	close(release)
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an idle receiver", func() bool { return r.Stats() == ReceiverStats{} })
}

// TestReceiverHooksNeverSeeSecrets: what the hooks get carries no token, key or URL
// (they take only counts, statuses and durations), so printing it is safe.
func TestReceiverHooksNeverSeeSecrets(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var printed syncbuf.Buffer
	_, srv := newTestReceiver(t, f, passCheck, WithHeartbeat(0), WithReceiverHooks(ReceiverHooks{
		CheckDone:       func(c CheckRun) { fmt.Fprintf(&printed, "%+v %#v\n", c, c) },
		CallbackAttempt: func(a CallbackAttempt) { fmt.Fprintf(&printed, "%+v %#v\n", a, a) },
		FinalReported:   func(r FinalReport) { fmt.Fprintf(&printed, "%+v %#v\n", r, r) },
	}))
	f.deliver(srv.URL, f.request("taskrs-print", StagePostPlan, false))
	f.waitFinal()
	eventually(t, "the final reported", func() bool { return strings.Contains(printed.String(), "accepted") })
	for _, secret := range []string{accessTokenFor("taskrs-print"), string(testHMACKey), "cb-secret", f.host()} {
		if strings.Contains(printed.String(), secret) {
			t.Errorf("a hook saw %q:\n%s", secret, printed.String())
		}
	}
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
