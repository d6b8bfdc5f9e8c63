package natsqueue

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc"
)

// startWorker starts a worker stopped (gracefully) when the test ends.
func startWorker(t testing.TB, q *Queue, r *tfc.Receiver, opts WorkerOptions) *Worker {
	t.Helper()
	w, err := q.StartWorker(r, opts)
	if err != nil {
		t.Fatalf("StartWorker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// kill makes w die as a process would: its connection is gone at once, nothing is
// acknowledged or reported in progress, and its Process calls are left where they are.
func (w *Worker) kill() { w.nc.Close() }

// gate is a check that blocks until opened, and counts its runs.
type gate struct {
	open    chan struct{}
	started chan string // task result IDs, as checks start
	runs    atomic.Int64
}

func newGate() *gate { return &gate{open: make(chan struct{}), started: make(chan string, 1024)} }

func (g *gate) check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	g.runs.Add(1)
	g.started <- d.Request.TaskResultID
	select {
	case <-g.open:
		return passPlan(ctx, d)
	case <-ctx.Done():
		return tfc.TaskResultUpdate{}, ctx.Err()
	}
}

// counting returns a check that reads the plan and passes, counting its runs.
func counting(runs *atomic.Int64) tfc.CheckFunc {
	return func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		runs.Add(1)
		return passPlan(ctx, d)
	}
}

// submit stores jobs in q as a receiver would.
func submit(t testing.TB, q *Queue, jobs ...tfc.Job) {
	t.Helper()
	for _, job := range jobs {
		if err := q.Submit(context.Background(), job); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
}

// killMidCheck submits a job, lets a worker with r start its check (r's check must be
// g.check), and kills the worker; it returns the job.
func killMidCheck(t testing.TB, svc *fakeService, q *Queue, r *tfc.Receiver, g *gate) tfc.Job {
	t.Helper()
	dying := startWorker(t, q, r, WorkerOptions{})
	job := svc.newJob()
	submit(t, q, job)
	waitStarted(t, g)
	dying.kill()
	return job
}

func waitStarted(t testing.TB, g *gate) string {
	t.Helper()
	select {
	case id := <-g.started:
		return id
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for a check to start")
		return ""
	}
}

// From POST to final through the embedded queue: every delivery is answered 200 once
// stored, runs once, ends in exactly one accepted final, and leaves the stream.
// Nothing secret reaches the logs.
func TestDeliveriesEndInOneFinalEach(t *testing.T) {
	logger, logs := captureLogs()
	svc := newFakeService(t)
	q := openEmbedded(t, func(c *Config) { c.Logger = logger })
	var runs atomic.Int64
	check := counting(&runs)
	front := newFrontEnd(t, svc, q, tfc.WithReceiverLogger(logger))
	back := newReceiver(t, svc, check, tfc.WithReceiverLogger(logger))
	startWorker(t, q, back, WorkerOptions{Concurrency: 4})

	const n = 20
	ids := make([]string, n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := svc.deliver(ctx, front.server.Client(), front.server.URL)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	svc.waitFinal(t, ids...)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, ids...)
	if got := runs.Load(); got != n {
		t.Errorf("checks ran %d times for %d deliveries", got, n)
	}
	eventually(t, "an empty stream", func() bool { return streamMsgs(t, q) == 0 })

	text := logs.String()
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for id, res := range svc.results {
		if strings.Contains(text, res.token) {
			t.Fatalf("the access token of %s is in the logs", id)
		}
	}
	if !strings.Contains(text, `"task_result_id":"`+ids[0]+`"`) {
		t.Error("logs do not name task results")
	}
}

// The service answers 409 for a result that is final already: the job is done.
func TestFinalAnsweredConflictIsAcknowledged(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	job := svc.newJob()
	svc.mu.Lock()
	svc.results[job.TaskResultID].finals = []tfc.TaskResultStatus{tfc.TaskResultFailed} // errored by the service meanwhile
	svc.mu.Unlock()
	submit(t, q, job)
	startWorker(t, q, newReceiver(t, svc, passPlan), WorkerOptions{})
	svc.waitUntil(t, "a 409 on the final", func() bool { return svc.results[job.TaskResultID].conflicts == 1 })
	eventually(t, "the job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
	if res := svc.snapshot(job.TaskResultID); res.conflicts != 1 || len(res.finals) != 1 {
		t.Errorf("finals %v conflicts %d: the job was run again after the 409", res.finals, res.conflicts)
	}
}

// A job whose body does not match its signature is terminated: never checked, never
// called back, gone from the stream.
func TestTamperedJobIsTerminated(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	tampered := svc.newJob()
	tampered.Body = []byte(strings.Replace(string(tampered.Body), `"networking"`, `"production"`, 1))
	good := svc.newJob()
	submit(t, q, tampered, good)
	var runs atomic.Int64
	check := counting(&runs)
	startWorker(t, q, newReceiver(t, svc, check), WorkerOptions{Concurrency: 1})
	svc.waitFinal(t, good.TaskResultID)
	eventually(t, "both jobs settled", func() bool { return streamMsgs(t, q) == 0 })
	if res := svc.snapshot(tampered.TaskResultID); len(res.finals)+res.conflicts+res.running != 0 {
		t.Errorf("the tampered job was called back: %+v", res)
	}
	if got := runs.Load(); got != 1 {
		t.Errorf("checks ran %d times, want 1 (the good job)", got)
	}
}

// A message on the subject that this package did not write is terminated.
func TestForeignMessageIsTerminated(t *testing.T) {
	q := openEmbedded(t)
	svc := newFakeService(t)
	ctx := context.Background()
	if _, err := q.js.Publish(ctx, q.cfg.Subject, []byte(`{"hello":"world"}`)); err != nil {
		t.Fatal(err)
	}
	startWorker(t, q, newReceiver(t, svc, passPlan), WorkerOptions{})
	eventually(t, "the foreign message terminated", func() bool { return streamMsgs(t, q) == 0 })
}

// A worker dies mid-check: its job is delivered to another worker within the ack wait
// and ends in one accepted final. The dead worker's late final is answered 409.
func TestWorkerKilledMidCheck(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	g := newGate()
	job := killMidCheck(t, svc, q, newReceiver(t, svc, g.check), g)
	killedAt := time.Now()

	var runs atomic.Int64
	check := counting(&runs)
	startWorker(t, q, newReceiver(t, svc, check), WorkerOptions{})
	svc.waitFinal(t, job.TaskResultID)
	took := time.Since(killedAt)
	t.Logf("redelivered and finished %v after the worker died (ack wait %v)", took, testAckWait)
	if took > 10*testAckWait {
		t.Errorf("the job took %v to finish after its worker died, with an ack wait of %v", took, testAckWait)
	}
	close(g.open) // the zombie's check returns: its final must not count
	svc.waitUntil(t, "the dead worker's late final", func() bool { return svc.results[job.TaskResultID].conflicts == 1 })
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
	if runs.Load() != 1 {
		t.Errorf("the second worker ran the check %d times", runs.Load())
	}
	eventually(t, "the job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
}

// A job redelivered after its deadline (counted from the receipt) is reported failed
// at once, without running the check again.
func TestRedeliveredPastDeadlineFailsAtOnce(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	const checkTimeout = time.Second // shorter than the ack wait: any redelivery is late
	g := newGate()
	// The dying worker's process cannot reach the service: it reports nothing.
	dyingReceiver := newReceiverWithClient(t, svc.host(), deadTransport{}, g.check, tfc.WithCheckTimeout(checkTimeout))
	job := killMidCheck(t, svc, q, dyingReceiver, g)

	var runs atomic.Int64
	check := counting(&runs)
	startWorker(t, q, newReceiver(t, svc, check, tfc.WithCheckTimeout(checkTimeout)), WorkerOptions{})
	svc.waitFinal(t, job.TaskResultID)
	svc.assertExactlyOneFinal(t, tfc.TaskResultFailed, job.TaskResultID)
	if msg := svc.snapshot(job.TaskResultID).message; !strings.Contains(msg, "could not start within") {
		t.Errorf("final message %q does not say the check could not start in time", msg)
	}
	if runs.Load() != 0 {
		t.Errorf("the check ran %d times past its deadline", runs.Load())
	}
	eventually(t, "the job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
	close(g.open)
}

// While the service refuses final results (down), the job is delivered again after a
// delay until the service takes one.
func TestServiceDownJobIsDeliveredAgain(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	var down atomic.Bool
	down.Store(true)
	svc.setAnswerFinal(func(string) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	var runs atomic.Int64
	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		if runs.Add(1) == 2 {
			down.Store(false) // back up while the second delivery runs
		}
		return passPlan(ctx, d)
	}
	r := newReceiver(t, svc, check, tfc.WithFinalCallbackTimeout(200*time.Millisecond))
	startWorker(t, q, r, WorkerOptions{RetryDelay: 50 * time.Millisecond})
	job := svc.newJob()
	submit(t, q, job)
	svc.waitFinal(t, job.TaskResultID)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
	if res := svc.snapshot(job.TaskResultID); res.refused == 0 {
		t.Error("the service was never asked while down")
	}
	eventually(t, "the job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
}

// A final result the service refuses for good (403 here) is not delivered again: the
// check would run again to the same refusal for hours.
func TestFinalRefusedForGoodIsTerminated(t *testing.T) {
	logger, logs := captureLogs()
	svc := newFakeService(t)
	q := openEmbedded(t, func(c *Config) { c.Logger = logger })
	svc.setAnswerFinal(func(string) int { return http.StatusForbidden })
	var runs atomic.Int64
	startWorker(t, q, newReceiver(t, svc, counting(&runs)), WorkerOptions{RetryDelay: time.Millisecond})
	job := svc.newJob()
	submit(t, q, job)
	eventually(t, "the job terminated", func() bool { return streamMsgs(t, q) == 0 })
	if runs.Load() != 1 {
		t.Errorf("the check ran %d times, want once", runs.Load())
	}
	if !strings.Contains(logs.String(), "refused the final result for good") {
		t.Errorf("the termination is not logged:\n%s", logs.String())
	}
}

// A job still unreported long after its receipt is terminated without a callback.
func TestJobPastGiveUpIsTerminated(t *testing.T) {
	logger, logs := captureLogs()
	svc := newFakeService(t)
	q := openEmbedded(t, func(c *Config) { c.Logger = logger })
	job := svc.newJob()
	job.ReceivedAt = time.Now().Add(-3 * time.Hour)
	submit(t, q, job)
	startWorker(t, q, newReceiver(t, svc, passPlan), WorkerOptions{})
	eventually(t, "the job terminated", func() bool { return streamMsgs(t, q) == 0 })
	if res := svc.snapshot(job.TaskResultID); len(res.finals)+res.conflicts+res.running != 0 {
		t.Errorf("a job past the give-up time was called back: %+v", res)
	}
	if !strings.Contains(logs.String(), "job dropped") || !strings.Contains(logs.String(), job.TaskResultID) {
		t.Error("the dropped job was not logged with its task result ID")
	}
}

// Stop with time to spare waits for the running check and acknowledges its job.
func TestStopWaitsForRunningJobs(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	g := newGate()
	w := startWorker(t, q, newReceiver(t, svc, g.check), WorkerOptions{})
	job := svc.newJob()
	submit(t, q, job)
	waitStarted(t, g)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	<-w.pulled // Stop has begun: the worker asks for nothing more
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a check was running", err)
	default:
	}
	close(g.open)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
	if n := streamMsgs(t, q); n != 0 {
		t.Errorf("stream holds %d jobs after a graceful stop", n)
	}
}

// Stop out of time hands the running job back at once and unreported: the check's
// context ends with tfc.ErrHandBack, Stop returns once Process has, nothing final is
// sent by the stopped worker, and another worker finishes the job long before the ack
// wait would have redelivered it, after asking the service first.
func TestStopOutOfTimeHandsJobsBack(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t, func(c *Config) { c.AckWait = time.Minute })
	causes := make(chan error, 1)
	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return tfc.Passed("from the stopped worker"), nil
	}
	r := newReceiver(t, svc, check)
	w := startWorker(t, q, r, WorkerOptions{})
	job := svc.newJob()
	submit(t, q, job)
	eventually(t, "the check running", func() bool { return r.Stats().InFlight == 1 })
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Stop(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want context.Canceled", err)
	}
	if cause := <-causes; !errors.Is(cause, tfc.ErrHandBack) {
		t.Errorf("the check's context ended with %v, want tfc.ErrHandBack", cause)
	}
	if s := r.Stats(); s.InFlight != 0 {
		t.Errorf("Stop returned with Process still running: %+v", s)
	}
	start := time.Now()
	var runs atomic.Int64
	startWorker(t, q, newReceiver(t, svc, counting(&runs)), WorkerOptions{})
	svc.waitFinal(t, job.TaskResultID)
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the handed-back job took %v, as long as the ack wait", took)
	}
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
	res := svc.snapshot(job.TaskResultID)
	if res.conflicts != 0 || res.message == "from the stopped worker" || runs.Load() != 1 {
		t.Errorf("finals: %+v, checks run by the second worker: %d", res, runs.Load())
	}
	eventually(t, "the job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
}

// A worker dies after the service accepted its final result but before JetStream
// heard the acknowledgement: the job is delivered again, the next worker learns from
// the service (409 on its "running" update) that the result is final, and
// acknowledges the job without running the check again.
func TestRedeliveryAfterReportedFinalIsNotRunAgain(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	g := newGate()
	job := killMidCheck(t, svc, q, newReceiver(t, svc, g.check), g) // its acknowledgement will not reach JetStream
	close(g.open)
	svc.waitFinal(t, job.TaskResultID)

	var runs atomic.Int64
	startWorker(t, q, newReceiver(t, svc, counting(&runs)), WorkerOptions{})
	eventually(t, "the job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
	if runs.Load() != 0 {
		t.Errorf("the check ran %d times again for a reported result", runs.Load())
	}
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
	if res := svc.snapshot(job.TaskResultID); res.conflicts != 0 || res.resumes != 1 {
		t.Errorf("service saw %+v, want one resume update and no second final", res)
	}
}

// A job whose access token the service no longer accepts (401 on the resume update:
// the task result is over) is terminated, without running the check.
func TestRedeliveryWithExpiredTokenIsTerminated(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	g := newGate()
	job := killMidCheck(t, svc, q, newReceiver(t, svc, g.check), g)
	svc.mu.Lock()
	svc.results[job.TaskResultID].token = "expired" // every call with the job's token is now 401
	svc.mu.Unlock()

	logger, logs := captureLogs()
	var runs atomic.Int64
	startWorker(t, q, newReceiver(t, svc, counting(&runs)), WorkerOptions{Logger: logger})
	eventually(t, "the job terminated", func() bool { return streamMsgs(t, q) == 0 })
	if runs.Load() != 0 {
		t.Errorf("the check ran %d times with an expired token", runs.Load())
	}
	if !strings.Contains(logs.String(), "no longer accepts the job's access token") {
		t.Errorf("the termination is not logged:\n%s", logs.String())
	}
	close(g.open)
}

// A worker whose receiver shuts down hands jobs back and stops pulling; a worker with
// a live receiver takes them.
func TestReceiverShutdownHandsJobsBack(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	closing := newReceiver(t, svc, passPlan)
	if err := closing.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, q, closing, WorkerOptions{})
	job := svc.newJob()
	submit(t, q, job)
	select {
	case <-w.pulled:
	case <-time.After(60 * time.Second):
		t.Fatal("the worker of a shut-down receiver kept pulling")
	}
	startWorker(t, q, newReceiver(t, svc, passPlan), WorkerOptions{})
	svc.waitFinal(t, job.TaskResultID)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
}

// The worker asks for no more jobs than it can run: with one slot busy, a second job
// waits in the stream, undelivered, rather than in the worker.
func TestWorkerTakesOnlyWhatItCanRun(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	g := newGate()
	startWorker(t, q, newReceiver(t, svc, g.check), WorkerOptions{Concurrency: 1})
	first, second := svc.newJob(), svc.newJob()
	submit(t, q, first, second)
	waitStarted(t, g)
	stats, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.InFlight != 1 || stats.Waiting != 1 {
		t.Errorf("stats %+v, want 1 in flight and 1 waiting", stats)
	}
	close(g.open)
	svc.waitFinal(t, first.TaskResultID, second.TaskResultID)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, first.TaskResultID, second.TaskResultID)
}

// Progress reports keep a check that runs past the ack wait with its worker: the job
// is not delivered again.
func TestLongCheckIsNotRedelivered(t *testing.T) {
	svc := newFakeService(t)
	const ackWait = time.Second
	q := openEmbedded(t, func(c *Config) { c.AckWait = ackWait })
	var runs atomic.Int64
	check := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		runs.Add(1)
		select { // a check that takes three ack waits
		case <-time.After(3 * ackWait):
		case <-ctx.Done():
			return tfc.TaskResultUpdate{}, ctx.Err()
		}
		return passPlan(ctx, d)
	}
	startWorker(t, q, newReceiver(t, svc, check), WorkerOptions{})
	startWorker(t, q, newReceiver(t, svc, check), WorkerOptions{}) // would take a redelivery
	job := svc.newJob()
	submit(t, q, job)
	svc.waitFinal(t, job.TaskResultID)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, job.TaskResultID)
	if got := runs.Load(); got != 1 {
		t.Errorf("the check ran %d times: the job was redelivered while it ran", got)
	}
}
