package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tfkit/tfc"
)

// WorkerOptions shape a Worker. The zero value is a working default.
type WorkerOptions struct {
	// Concurrency bounds the jobs this worker runs at once (default 64). The worker
	// asks JetStream for a job only when it has room for it, so a job never waits in
	// this process unreported.
	Concurrency int

	// RetryDelay is how long a job whose final result could not be reported waits
	// before it is delivered again (default 10 seconds), doubling with each delivery
	// up to MaxRetryDelay (default 5 minutes). Process already retried the callback
	// for its final callback timeout before giving the job back.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration

	// GiveUpAfter ends a job that is still not reported this long after the receiver
	// accepted it (default 2 hours). The service errors a task result 60 minutes after
	// its request at the latest, so by then nothing sent can change the run: the job
	// is terminated with an error log that names its task result. Until then a job
	// is delivered again for as long as its final result is not accepted.
	GiveUpAfter time.Duration

	// Logger receives the worker's logs (default: the queue's).
	Logger *slog.Logger
}

// Defaults of WorkerOptions.
const (
	DefaultConcurrency   = 64
	DefaultRetryDelay    = 10 * time.Second
	DefaultMaxRetryDelay = 5 * time.Minute
	DefaultGiveUpAfter   = 2 * time.Hour
)

// pollTimeout bounds one pull request: an idle worker asks the consumer leader again
// this often.
const pollTimeout = 5 * time.Second

// Worker takes jobs off the queue and runs each with Receiver.Process, with its own
// connection, so that a worker that stops or dies affects only its own jobs.
//
// On the wire: pull requests ($JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>) for as
// many jobs as it has room for; for every job it runs, "+WPI" (in progress) every
// Config.AckWait/3 while Process runs, then one of:
//
//   - "+ACK" (confirmed by the server) when Process returned nil: the service accepted
//     the final result, or answered 409 because the result was final already;
//   - "+TERM" when Process returned tfc.ErrJobRefused (a bad signature or body: the
//     job is never acted on; or an access token the service no longer accepts: the
//     task result is over), and for a message that is not a job of this package;
//   - "+TERM" when Process returned tfc.ErrResultNotReported for a refusal no retry
//     changes (a 4xx other than 408 and 429: 401, 403, 404, or 422 for the plain form
//     too), logged as an error;
//   - "-NAK" with a delay when Process returned tfc.ErrResultNotReported for any other
//     cause (a 5xx, 408, 429, the network), or any other error: RetryDelay doubling per
//     delivery up to MaxRetryDelay;
//   - "-NAK" without delay when Process returned tfc.ErrHandBack (Stop ran out of
//     time) or tfc.ErrReceiverClosed (and then the worker stops pulling): another
//     worker takes the job at once.
//
// Each job is given to Process with tfc.Job.Attempt set to JetStream's delivery count
// (at least 2 for a job an embedded queue held before this process opened it, since a
// crash can lose the count), so that a job delivered again first asks the service
// whether its result is still open (a "running" update; 409 means an earlier run reported it, and the job is
// acknowledged without running the check again). A job delivered again past
// GiveUpAfter is terminated with an error log. A worker that dies stops sending
// "+WPI", and JetStream delivers its jobs to other workers within Config.AckWait;
// Process then resumes each within its original deadline (or reports it failed at
// once past it). Logs name the task result ID, the stream sequence and the delivery
// count, never the job's body.
type Worker struct {
	q        *Queue
	receiver *tfc.Receiver
	opts     WorkerOptions
	log      *slog.Logger
	nc       *nats.Conn
	consumer jetstream.Consumer
	slots    chan struct{} // one per job running here

	pullCtx  context.Context // cancelled to stop pulling
	stopPull context.CancelFunc
	pulled   chan struct{} // closed when the pull loop has returned
	beats    chan struct{} // closed when the progress loop has returned
	stopping atomic.Bool

	mu       sync.Mutex
	inFlight map[uint64]*activeJob // by stream sequence
	idle     chan struct{}         // closed once stopping with nothing in flight
	idleOnce sync.Once
	stopOnce sync.Once
	stopErr  error
}

// StartWorker starts a worker that runs the queue's jobs with receiver, which must be
// built with the same HMAC keys (and check) as the receivers that accepted them. It
// opens the worker's own connection and starts pulling at once.
//
// Errors: ErrClosed, a nil receiver, the connection failing, or the consumer not found.
func (q *Queue) StartWorker(receiver *tfc.Receiver, opts WorkerOptions) (*Worker, error) {
	if receiver == nil {
		return nil, errors.New("natsqueue: StartWorker: the receiver is nil")
	}
	if opts.Concurrency < 0 || opts.RetryDelay < 0 || opts.MaxRetryDelay < 0 || opts.GiveUpAfter < 0 {
		return nil, errors.New("natsqueue: StartWorker: options must not be negative")
	}
	opts = opts.withDefaults(q.log)
	if q.isClosed() {
		return nil, ErrClosed
	}
	nc, err := q.connect("worker")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsqueue: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.PublishTimeout)
	consumer, err := js.Consumer(ctx, q.cfg.Stream, q.cfg.Consumer)
	cancel()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsqueue: consumer %s: %w", q.cfg.Consumer, err)
	}
	w := &Worker{
		q: q, receiver: receiver, opts: opts, log: opts.Logger, nc: nc, consumer: consumer,
		slots:    make(chan struct{}, opts.Concurrency),
		pulled:   make(chan struct{}),
		beats:    make(chan struct{}),
		inFlight: make(map[uint64]*activeJob),
		idle:     make(chan struct{}),
	}
	w.pullCtx, w.stopPull = context.WithCancel(context.Background())
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	q.workers[w] = struct{}{}
	q.mu.Unlock()
	go w.pull()
	go w.reportProgress()
	return w, nil
}

func (o WorkerOptions) withDefaults(logger *slog.Logger) WorkerOptions {
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = DefaultMaxRetryDelay
	}
	o.MaxRetryDelay = max(o.MaxRetryDelay, o.RetryDelay)
	if o.GiveUpAfter == 0 {
		o.GiveUpAfter = DefaultGiveUpAfter
	}
	if o.Logger == nil {
		o.Logger = logger
	}
	return o
}

// pull asks for as many jobs as there is room for, and starts each, until stopped.
func (w *Worker) pull() {
	defer close(w.pulled)
	pause := 100 * time.Millisecond
	for {
		room := w.takeSlots()
		if room == 0 {
			return
		}
		started, err := w.fetch(room)
		w.releaseSlots(room - started)
		if w.pullCtx.Err() != nil {
			return
		}
		switch {
		case err == nil || errors.Is(err, context.DeadlineExceeded):
			pause = 100 * time.Millisecond
			continue
		case errors.Is(err, nats.ErrConnectionClosed):
			w.log.Error("natsqueue: worker connection closed; the worker stops pulling")
			return
		}
		// No consumer leader, a reconnect: ask again after a pause, not in a hot loop.
		w.log.Warn("natsqueue: pulling jobs failed", slog.String("error", err.Error()), slog.Duration("retry_in", pause))
		t := time.NewTimer(pause)
		select {
		case <-w.pullCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// fetch makes one pull request for up to room jobs and starts those that come. It
// returns how many it started (each holds a slot).
func (w *Worker) fetch(room int) (started int, err error) {
	ctx, cancel := context.WithTimeout(w.pullCtx, pollTimeout)
	defer cancel()
	batch, err := w.consumer.Fetch(room, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, err
	}
	for msg := range batch.Messages() {
		if w.start(msg) {
			started++
		}
	}
	return started, batch.Error()
}

// takeSlots waits for room for one job and takes whatever more is free, up to the
// concurrency. It returns 0 when the worker is stopping.
func (w *Worker) takeSlots() int {
	select {
	case w.slots <- struct{}{}:
	case <-w.pullCtx.Done():
		return 0
	}
	n := 1
	for n < cap(w.slots) {
		select {
		case w.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (w *Worker) releaseSlots(n int) {
	for range n {
		<-w.slots
	}
}

// start begins one delivered message's job, holding a slot, and reports whether it
// did. A message that is not a job is terminated; a job that arrives while stopping
// is handed back; a new delivery of a job running here only refreshes its handle.
func (w *Worker) start(msg jetstream.Msg) bool {
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("natsqueue: message without JetStream metadata ignored", slog.String("error", err.Error()))
		return false
	}
	log := w.log.With(slog.Uint64("stream_seq", meta.Sequence.Stream), slog.Uint64("deliveries", meta.NumDelivered))
	job, err := decodeJob(msg.Headers(), msg.Data())
	if err != nil {
		log.Error("natsqueue: message terminated", slog.String("reason", err.Error()))
		_ = msg.TermWithReason(errNotAJob.Error())
		return false
	}
	log = log.With(slog.String("task_result_id", job.TaskResultID))
	if w.stopping.Load() {
		log.Info("natsqueue: job handed back: the worker is stopping")
		_ = msg.Nak()
		return false
	}
	w.mu.Lock()
	if running := w.inFlight[meta.Sequence.Stream]; running != nil {
		// JetStream redelivered a job that runs here (its progress reports came too
		// late): keep the one run, and settle through the newest delivery.
		running.msg.Store(&msg)
		w.mu.Unlock()
		_ = msg.InProgress()
		log.Warn("natsqueue: job delivered again while it runs here; progress reports were late")
		return false
	}
	job.Attempt = w.q.attempt(meta)
	a := &activeJob{job: job, meta: meta, log: log}
	a.ctx, a.handBack = context.WithCancelCause(context.Background())
	a.msg.Store(&msg)
	w.inFlight[meta.Sequence.Stream] = a
	w.mu.Unlock()
	go w.run(a)
	return true
}

// attempt is the job's tfc.Job.Attempt: JetStream's delivery count, and at least 2
// for a job the embedded store held before this process opened it. The process that
// stored it may have run it and reported its result, and the consumer's delivery
// count, which the server writes to disk from time to time rather than at every
// delivery, may not have survived that process's crash; a job it never ran costs one
// "running" update more.
func (q *Queue) attempt(meta *jetstream.MsgMetadata) int {
	n := int(meta.NumDelivered)
	if n < 2 && q.srv != nil && meta.Timestamp.Before(q.openedAt) {
		return 2
	}
	return n
}

// reportProgress tells JetStream every AckWait/3 that the jobs running here are in
// progress, so that it redelivers only a dead worker's jobs.
func (w *Worker) reportProgress() {
	defer close(w.beats)
	t := time.NewTicker(w.q.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-w.idle:
			return
		case <-t.C:
		}
		for _, a := range w.running() {
			a.inProgress()
		}
	}
}

// finished removes a job from the jobs in flight and frees its slot.
func (w *Worker) finished(a *activeJob) {
	w.mu.Lock()
	delete(w.inFlight, a.meta.Sequence.Stream)
	w.mu.Unlock()
	<-w.slots
	if w.stopping.Load() {
		w.idleIfDone()
	}
}

// running lists the jobs in flight.
func (w *Worker) running() []*activeJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	jobs := make([]*activeJob, 0, len(w.inFlight))
	for _, a := range w.inFlight {
		jobs = append(jobs, a)
	}
	return jobs
}

// idleIfDone marks a stopping worker idle once nothing is in flight.
func (w *Worker) idleIfDone() {
	w.mu.Lock()
	empty := len(w.inFlight) == 0
	w.mu.Unlock()
	if empty {
		w.idleOnce.Do(func() { close(w.idle) })
	}
}

// Stop stops the worker: it stops pulling, waits for the jobs it runs to be settled,
// and closes its connection. If ctx ends first, the jobs still running are handed
// back: their Process calls are cancelled with tfc.ErrHandBack as the cause, so that
// no final result is sent for them (their checks are abandoned), and once they have
// returned each job gets a "-NAK" without delay, so that another worker takes it at
// once; that worker asks the service whether the result is still open before it runs
// the check again (tfc.Job.Attempt). Stop then closes the connection and returns
// ctx's error. A Process call that has not returned handBackGrace (5 s) after the
// hand-back has its job handed back all the same, and may still report a final
// result later (the service then answers one of the two finals 409).
//
// Stop is idempotent; later calls return the first call's result.
func (w *Worker) Stop(ctx context.Context) error {
	w.stopOnce.Do(func() {
		w.stopping.Store(true)
		w.stopPull()
		<-w.pulled
		w.idleIfDone()
		select {
		case <-w.idle:
		case <-ctx.Done():
			select {
			case <-w.idle: // finished as ctx ended: nothing to hand back
			default:
				w.handBack()
				w.idleOnce.Do(func() { close(w.idle) })
				w.stopErr = ctx.Err()
			}
		}
		<-w.beats
		// Settlements are published asynchronously: flush them before closing.
		if err := w.nc.FlushTimeout(w.q.cfg.PublishTimeout); err != nil && w.stopErr == nil && !errors.Is(err, nats.ErrConnectionClosed) {
			w.log.Warn("natsqueue: flushing the worker's last acknowledgements failed", slog.String("error", err.Error()))
		}
		w.nc.Close()
		w.q.mu.Lock()
		delete(w.q.workers, w)
		w.q.mu.Unlock()
	})
	return w.stopErr
}

// handBackGrace bounds how long Stop, out of time, waits for the Process calls it
// handed back to return before it hands their jobs back itself.
const handBackGrace = 5 * time.Second

// handBack gives every job still running here back to the stream: it ends their
// Process calls with tfc.ErrHandBack (each then naks its job unreported, see run) and
// waits for them, for at most handBackGrace, then naks what is left.
func (w *Worker) handBack() {
	for _, a := range w.running() {
		a.handBack(tfc.ErrHandBack)
	}
	t := time.NewTimer(handBackGrace)
	defer t.Stop()
	select {
	case <-w.idle:
		return
	case <-t.C:
	}
	for _, a := range w.running() {
		a.settle(func(msg jetstream.Msg) error { return msg.Nak() },
			"natsqueue: job handed back to the queue: its Process call did not return in time after the hand-back")
	}
}
