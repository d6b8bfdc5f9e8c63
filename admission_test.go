package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// faultyCallbacks fails a third of callback attempts, chosen by a hash of the task
// result and the attempt (so a run is repeatable): 503, 429 or a dropped connection.
func faultyCallbacks(id string, n int, _ TaskResultStatus) int {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", id, n)
	switch v := h.Sum32() % 9; v {
	case 0:
		return http.StatusServiceUnavailable
	case 1:
		return http.StatusTooManyRequests
	case 2:
		return dropCallback
	}
	return 0
}

// TestReceiverBurstUnderCallbackFaults: 1,000 signed deliveries sent at once to a
// receiver with default bounds are all answered 200, and each ends in exactly one
// accepted final callback while a third of callback attempts fail.
func TestReceiverBurstUnderCallbackFaults(t *testing.T) {
	const n = 1000
	f := newFakeService(t, testHMACKey)
	f.respond = faultyCallbacks
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if err := d.Progress(ctx, "checking"); err != nil {
			return TaskResultUpdate{}, err
		}
		return Passed("fine"), nil
	}, WithCallbackRetryPolicy(RetryPolicy{MaxRetries: 30, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}))

	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i], _ = json.Marshal(f.request(fmt.Sprintf("taskrs-%04d", i), StagePostPlan, false))
	}
	// Plenty of connections, so that the burst really arrives at once.
	sender := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer sender.CloseIdleConnections()
	gate := make(chan struct{})
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(bodies[i]))
			req.Header.Set(SignatureHeader, Sign(f.key, bodies[i]))
			<-gate
			resp, err := sender.Do(req)
			if err != nil {
				t.Errorf("delivery %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(gate)
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("delivery %d answered %d", i, s)
		}
	}
	for range n {
		f.waitFinal()
	}
	all := f.allCallbacks()
	if len(all) != n {
		t.Fatalf("callbacks for %d task results, want %d", len(all), n)
	}
	attempts, failed := 0, 0
	for id, cbs := range all {
		accepted := 0
		for _, cb := range cbs {
			attempts++
			if cb.HTTPStatus != http.StatusOK {
				failed++
			} else if cb.Status != TaskResultRunning {
				accepted++
			}
		}
		if accepted != 1 {
			t.Errorf("%s: %d accepted final callbacks", id, accepted)
		}
	}
	if share := float64(failed) / float64(attempts); share < 0.25 || share > 0.42 {
		t.Errorf("%.0f%% of callback attempts failed, want about a third", 100*share)
	}
}

// TestReceiverPendingBound: with one slot busy and the queue full, a delivery gets 503
// with Retry-After; it is not remembered, so the service's retry runs it later.
func TestReceiverPendingBound(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	release := make(chan struct{})
	started := make(chan string, 4)
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		started <- d.Request.TaskResultID
		<-release
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithMaxPending(2, DefaultMaxPendingBytes), WithHeartbeat(0))
	ended := make(chan string, 4)
	r.afterEnd = func(id string) { ended <- id }
	for _, id := range []string{"taskrs-a", "taskrs-b", "taskrs-c"} {
		if got := f.deliver(srv.URL, f.request(id, StagePostPlan, false)); got != 200 {
			t.Fatalf("%s: %d", id, got)
		}
	}
	<-started
	if rec := f.serve(r, "taskrs-d"); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("full queue: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(release)
	for range 3 {
		<-ended // reported, and no longer counted against the bound
	}
	if got := f.deliver(srv.URL, f.request("taskrs-d", StagePostPlan, false)); got != 200 {
		t.Errorf("retried delivery: %d", got)
	}
	for range 3 {
		f.waitFinal()
	}
	if cb := f.waitFinal(); cb.TaskResultID != "taskrs-d" {
		t.Errorf("final for %s", cb.TaskResultID)
	}
	// The queue ran in order of arrival.
	if order := []string{<-started, <-started, <-started}; strings.Join(order, ",") != "taskrs-b,taskrs-c,taskrs-d" {
		t.Errorf("order %v", order)
	}
}

// TestReceiverSlotHeldUntilCheckReturns: with one slot, a check that ignores its
// context is reported failed at its deadline but keeps the slot, so the deliveries
// after it start only once it returns: two checks never run at once.
func TestReceiverSlotHeldUntilCheckReturns(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var running, most, ran atomic.Int64
	stuck := make(chan struct{})
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		now := running.Add(1)
		defer running.Add(-1)
		ran.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		if d.Request.TaskResultID == "taskrs-stuck" {
			<-stuck // ignores ctx
		}
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithCheckTimeout(500*time.Millisecond), WithHeartbeat(0))
	freed := make(chan string, 8)
	r.afterRun = func(id string) { freed <- id }
	f.deliver(srv.URL, f.request("taskrs-stuck", StagePostPlan, false))
	// The stuck check is failed at its deadline...
	if cb := f.waitFinal(); cb.TaskResultID != "taskrs-stuck" || cb.Status != TaskResultFailed {
		t.Fatalf("first final %+v", cb)
	}
	// ...but keeps its slot: later deliveries wait.
	for i := range 4 {
		if got := f.deliver(srv.URL, f.request(fmt.Sprintf("taskrs-%d", i), StagePostPlan, false)); got != 200 {
			t.Fatal(got)
		}
	}
	select {
	case id := <-freed:
		t.Fatalf("the slot was freed (%s) while the check still ran", id)
	default:
	}
	if n := ran.Load(); n != 1 {
		t.Fatalf("%d checks started while the slot was taken", n)
	}
	close(stuck)
	for range 4 {
		if cb := f.waitFinal(); cb.Status != TaskResultPassed {
			t.Errorf("final %+v", cb)
		}
	}
	if m := most.Load(); m != 1 || ran.Load() != 5 {
		t.Errorf("%d checks ran, at most %d at once with WithMaxInFlight(1)", ran.Load(), m)
	}
}

// TestReceiverQueuedHeartbeats: a delivery waiting for a slot reports "running" with
// a message that says it waits, inside the service's progress window.
func TestReceiverQueuedHeartbeats(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	release := make(chan struct{})
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		if d.Request.TaskResultID == "taskrs-first" {
			<-release
		}
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithHeartbeat(time.Millisecond))
	f.deliver(srv.URL, f.request("taskrs-first", StagePostPlan, false))
	f.deliver(srv.URL, f.request("taskrs-queued", StagePostPlan, false))
	for cb := range f.running {
		if cb.TaskResultID == "taskrs-queued" {
			if cb.Message != queuedProgressMessage {
				t.Errorf("queued heartbeat says %q", cb.Message)
			}
			break
		}
	}
	close(release)
	f.waitFinal()
	f.waitFinal()
}

// TestReceiverDuplicateDeliveries: a delivery of a task result in flight or just
// finished is acknowledged and not run again; one whose body differs is logged.
func TestReceiverDuplicateDeliveries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var runs atomic.Int64
	release := make(chan struct{})
	var logs syncbuf.Buffer
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		runs.Add(1)
		<-release
		return Passed("ok"), nil
	}, WithHeartbeat(0), WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	p := f.request("taskrs-dup", StagePostPlan, false)
	for range 3 { // in flight
		if got := f.deliver(srv.URL, p); got != 200 {
			t.Fatal(got)
		}
	}
	if strings.Contains(logs.String(), "different body") {
		t.Error("identical repeats were logged as differing")
	}
	close(release)
	f.waitFinal()
	p["run_message"] = "changed"
	if got := f.deliver(srv.URL, p); got != 200 { // just finished, and different
		t.Fatal(got)
	}
	if runs.Load() != 1 || len(f.callbacksFor("taskrs-dup")) != 1 {
		t.Errorf("runs %d, callbacks %d; want 1 and 1", runs.Load(), len(f.callbacksFor("taskrs-dup")))
	}
	if !strings.Contains(logs.String(), "different body") || !strings.Contains(logs.String(), "task_result_id=taskrs-dup") {
		t.Errorf("the differing duplicate is not logged:\n%s", logs.String())
	}
}

func TestDeliveryQueue(t *testing.T) {
	var q deliveryQueue
	ds := make([]*Delivery, 10)
	for i := range ds {
		ds[i] = &Delivery{weight: int64(i)}
	}
	for _, d := range ds[:6] {
		q.push(d)
	}
	for i := range 4 {
		if d := q.pop(); d != ds[i] {
			t.Fatalf("pop %d = %v", i, d)
		}
	}
	for _, d := range ds[6:] {
		q.push(d) // compacts
	}
	if q.len() != 6 {
		t.Fatalf("len %d", q.len())
	}
	if rest := q.drain(); len(rest) != 6 || rest[0] != ds[4] || rest[5] != ds[9] || q.len() != 0 || q.pop() != nil {
		t.Errorf("drain %v, len %d", rest, q.len())
	}
}
