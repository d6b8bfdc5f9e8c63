package tfc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// The life of one accepted delivery, the same for the in-process path (admission.go)
// and for Process on a worker: it begins when the delivery is accepted (heartbeats
// start, its deadline counts from its receipt), its check runs once it has a slot, and
// it ends with exactly one final callback.

// newDelivery begins the life of a delivery received at receivedAt (a time in the
// future counts as now): its context ends at the check deadline or with parent. Its
// heartbeats start with it; if it is not accepted, the caller discards it.
func (r *Receiver) newDelivery(parent context.Context, rt *RunTaskRequest, receivedAt time.Time, log *slog.Logger) *Delivery {
	if now := r.now(); receivedAt.IsZero() || receivedAt.After(now) {
		receivedAt = now
	}
	ctx, cancel := context.WithCancelCause(parent)
	ctx, stopDeadline := context.WithDeadlineCause(ctx, receivedAt.Add(r.checkTimeout), errCheckDeadline)
	d := &Delivery{
		Request:      rt,
		receiver:     r,
		log:          log,
		ctx:          ctx,
		cancel:       cancel,
		stopDeadline: stopDeadline,
		receivedAt:   receivedAt,
	}
	d.finishing, d.startFinishing = context.WithCancel(context.Background())
	d.beats = d.startHeartbeats(r.heartbeat)
	return d
}

// discard undoes newDelivery for a delivery that was not accepted.
func (d *Delivery) discard() {
	d.finish()
	d.stopDeadline()
	d.cancel(nil)
}

// runDelivery runs the check of d, unless its context ended while it waited, passes
// its check slot on (if it holds one) once the check has returned, and reports the
// final result. It returns what Process returns.
func (r *Receiver) runDelivery(d *Delivery, holdsSlot bool) error {
	var checkReturned <-chan struct{} = closedChan
	var update TaskResultUpdate
	var send bool
	// The receiver's own context is asked too: while Shutdown's cancellation spreads
	// through the deliveries, this one's may not have been reached yet.
	if d.ctx.Err() != nil || r.ctx.Err() != nil {
		update, send = r.unstarted(d)
	} else {
		update, send, checkReturned = r.runCheck(d)
	}
	d.finish()
	if holdsSlot {
		r.handOn(d.Request.TaskResultID, checkReturned)
	}
	var err error
	if send {
		err = r.sendFinal(d, update)
	} else {
		err = d.unsentError()
	}
	d.end()
	return err
}

// errShutdownHandBack is the cause Process calls end with when Shutdown gives up on a
// receiver built WithHandBackOnShutdown.
var errShutdownHandBack = fmt.Errorf("%w: %w", ErrHandBack, ErrReceiverClosed)

// stopCause is why d's context ended, or, while Shutdown's cancellation spreads and has
// not reached d yet, why the receiver's did (as it will reach d).
func (d *Delivery) stopCause() error {
	if cause := context.Cause(d.ctx); cause != nil {
		return cause
	}
	cause := context.Cause(d.receiver.ctx)
	if cause != nil && d.caller != nil && d.receiver.handBackOnShutdown {
		return errShutdownHandBack
	}
	return cause
}

// handedBack returns the cause a Process call was handed back with (ErrHandBack), or
// nil.
func (d *Delivery) handedBack() error {
	if d.caller == nil {
		return nil
	}
	if cause := context.Cause(d.caller); errors.Is(cause, ErrHandBack) {
		return cause
	}
	return nil
}

// unsentError is what Process returns for a delivery that ended without sending a
// final result, by why: the hand-back itself; ErrJobRefused when the service no longer
// takes the token; for a job that never started, ErrReceiverClosed or the cause of
// Process's own context (the queue delivers it again); nil when the service has a
// final result already.
func (d *Delivery) unsentError() error {
	cause := d.stopCause()
	switch {
	case errors.Is(cause, ErrHandBack):
		return cause
	case errors.Is(cause, errTokenRejected):
		return fmt.Errorf("%w: %w", ErrJobRefused, cause)
	case errors.Is(cause, errAlreadyFinal):
		return nil
	case d.callerCtx != nil && d.callerCtx.Err() != nil:
		return context.Cause(d.callerCtx)
	case d.caller != nil && errors.Is(cause, ErrReceiverClosed):
		return ErrReceiverClosed
	}
	return nil
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// unstarted is the final result of a delivery whose context ended before its check
// could start, and whether to send it: not when the service already has a final
// result or no longer takes the token, nor when the job was handed back.
func (r *Receiver) unstarted(d *Delivery) (TaskResultUpdate, bool) {
	cause := d.stopCause()
	switch {
	case errors.Is(cause, ErrHandBack):
		d.log.Info("tfc: run task job handed back before its check started; nothing reported")
		return TaskResultUpdate{}, false
	case errors.Is(cause, errAlreadyFinal):
		d.log.Info("tfc: run task result already final at the service; the check is not run")
		return TaskResultUpdate{}, false
	}
	if !errors.Is(cause, errCheckDeadline) && d.caller != nil {
		// A Process call that ends before its check started leaves the job to its
		// queue, which delivers it again: Process returns the cause (unsentError).
		switch {
		case d.callerCtx.Err() != nil:
			d.log.Info("tfc: run task job's context ended before its check started; nothing reported", slog.String("cause", cause.Error()))
			return TaskResultUpdate{}, false
		case errors.Is(cause, ErrReceiverClosed):
			d.log.Info("tfc: the receiver shut down before the job's check started; nothing reported")
			return TaskResultUpdate{}, false
		}
	}
	d.log.Warn("tfc: run task check not started", slog.String("cause", cause.Error()))
	switch {
	case errors.Is(cause, errCheckDeadline):
		return Failed(fmt.Sprintf("The check could not start within %v of the request.", r.checkTimeout)), true
	case errors.Is(cause, ErrReceiverClosed):
		return Failed("The run task service shut down before the check started. Re-run to check again."), true
	case errors.Is(cause, errAlreadyFinal), errors.Is(cause, errTokenRejected):
		return TaskResultUpdate{}, false
	}
	return Failed("The check was stopped before it started."), true
}

// checkOutcome is what the check's goroutine reports.
type checkOutcome struct {
	update   TaskResultUpdate
	err      error
	panicked any
	stack    []byte
}

// runCheck runs the check and turns whatever happens into a final update, and whether
// to send it (not for a hand-back). It returns at the check's return or when the
// delivery's context ends, whichever comes first, with a channel closed when the
// check's goroutine has returned.
func (r *Receiver) runCheck(d *Delivery) (TaskResultUpdate, bool, <-chan struct{}) {
	log := d.log
	start := r.now()
	d.mu.Lock()
	d.started = true
	d.mu.Unlock()
	outcome := make(chan checkOutcome, 1) // buffered: a check that outlives its deadline can still finish
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		ok := false
		defer func() {
			if ok {
				return
			}
			if v := recover(); v != nil {
				outcome <- checkOutcome{panicked: v, stack: debug.Stack()}
				return
			}
			// Neither a return nor a panic: runtime.Goexit, as t.FailNow calls.
			outcome <- checkOutcome{err: errCheckExited}
		}()
		u, err := r.check(d.ctx, d)
		ok = true
		outcome <- checkOutcome{update: u, err: err}
	}()
	var o checkOutcome
	select {
	case o = <-outcome:
	case <-d.ctx.Done():
		took := r.now().Sub(start)
		cause := d.stopCause()
		if errors.Is(cause, errCheckDeadline) {
			r.countCheck(CheckTimeout, took)
		} else {
			r.countCheck(CheckStopped, took)
		}
		if errors.Is(cause, ErrHandBack) {
			log.Info("tfc: run task job handed back while its check ran; nothing reported, the check is abandoned")
			return TaskResultUpdate{}, false, returned
		}
		log.Warn("tfc: run task check ended before it returned", slog.String("cause", cause.Error()))
		switch {
		case errors.Is(cause, errCheckDeadline):
			return Failed(fmt.Sprintf("The check did not finish within %v.", r.checkTimeout)), true, returned
		case errors.Is(cause, ErrReceiverClosed):
			return Failed("The run task service shut down before the check finished. Re-run to check again."), true, returned
		default:
			return Failed("The check was stopped before it finished."), true, returned
		}
	}
	took := r.now().Sub(start)
	elapsed := slog.Duration("duration", took)
	switch {
	case o.panicked != nil:
		log.Error("tfc: run task check panicked", slog.String("panic", fmt.Sprint(o.panicked)), slog.String("stack", string(o.stack)), elapsed)
		r.countCheck(CheckError, took)
		return Failed("The check failed with an internal error."), true, returned
	case o.err != nil:
		log.Error("tfc: run task check returned an error", slog.String("error", o.err.Error()), elapsed)
		r.countCheck(CheckError, took)
		return Failed("The check failed with an internal error."), true, returned
	case o.update.Status != TaskResultPassed && o.update.Status != TaskResultFailed:
		log.Error("tfc: run task check returned a result that is neither passed nor failed", slog.String("status", string(o.update.Status)))
		r.countCheck(CheckError, took)
		return Failed("The check returned an invalid result."), true, returned
	}
	log.Info("tfc: run task check finished", slog.String("status", string(o.update.Status)), elapsed)
	r.countCheck(CheckResult(o.update.Status), took)
	return o.update, true, returned
}

// detailsRefusedNote ends the message of a final result sent in its plain form.
const detailsRefusedNote = "The details of this result could not be attached: the service refused them."

// sendFinal reports the final update, with its own deadline (the check's may be over)
// that Shutdown and a hand-back can cut short. The update is made sendable first (see
// TaskResultUpdate.Sendable), and if the service still refuses it (422), it is sent
// once more in its plain form, status and message, so that a detail never costs the
// result. A 409 (the service has a final result already) counts as reported.
func (r *Receiver) sendFinal(d *Delivery, update TaskResultUpdate) error {
	ctx, cancel := context.WithTimeout(r.finalsCtx, r.finalTimeout)
	defer cancel()
	if d.caller != nil {
		// A job handed back while its final is on the way: stop sending. The queue
		// delivers it again, and that run asks the service first (Job.Attempt).
		stop := context.AfterFunc(d.caller, func() {
			if d.handedBack() != nil {
				cancel()
			}
		})
		defer stop()
	}
	log := d.log
	if !d.Request.Capabilities.Outcomes {
		update.Outcomes = nil
	}
	if update.Validate() != nil {
		log.Warn("tfc: run task result adjusted to the service's limits before sending")
		update = update.Sendable()
	}
	err := d.callback(ctx, update)
	if errors.Is(err, ErrUnprocessable) && (update.URL != "" || len(update.Outcomes) > 0) {
		log.Warn("tfc: the service refused the run task result (422); sending its status and message alone")
		update = TaskResultUpdate{Status: update.Status, Message: withNotes(update.Message, []string{detailsRefusedNote})}
		err = d.callback(ctx, update)
	}
	switch {
	case err == nil:
		log.Info("tfc: run task result reported", slog.String("status", string(update.Status)))
		r.countFinal(update.Status, FinalAccepted)
		return nil
	case errors.Is(err, ErrConflict):
		log.Info("tfc: run task result was already final at the service", slog.String("status", string(update.Status)))
		r.countFinal(update.Status, FinalAlreadyFinal)
		return nil
	}
	if cause := d.handedBack(); cause != nil {
		log.Info("tfc: run task job handed back while its final result was being sent; the queue delivers it again")
		return cause
	}
	log.Error("tfc: run task result could not be reported", slog.String("error", err.Error()))
	r.countFinal(update.Status, FinalNotReported)
	return fmt.Errorf("%w: %w", ErrResultNotReported, err)
}

// maxHeartbeatsAtOnce bounds the heartbeat callbacks in flight across deliveries, so
// that a queue of thousands does not open thousands of connections at once.
const maxHeartbeatsAtOnce = 64

// heartbeats send "running" every interval for one delivery, from its acceptance
// until its final result, on a timer rather than a goroutine of their own.
type heartbeats struct {
	d        *Delivery
	interval time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	cancel  context.CancelFunc // of the heartbeat in flight
	beating chan struct{}      // closed when the heartbeat in flight ends
}

func (d *Delivery) startHeartbeats(interval time.Duration) *heartbeats {
	if interval <= 0 {
		return nil
	}
	h := &heartbeats{d: d, interval: interval}
	h.mu.Lock()
	h.timer = time.AfterFunc(interval, h.beat)
	h.mu.Unlock()
	return h
}

func (h *heartbeats) beat() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(h.d.ctx)
	done := make(chan struct{})
	h.cancel, h.beating = cancel, done
	h.mu.Unlock()

	beats := h.d.receiver.beats
	select {
	case beats <- struct{}{}:
		if err := h.d.Progress(ctx, ""); err != nil && ctx.Err() == nil {
			h.d.log.Warn("tfc: run task heartbeat failed", slog.String("error", err.Error()))
		}
		<-beats
	case <-ctx.Done():
	}
	cancel()

	h.mu.Lock()
	h.cancel, h.beating = nil, nil
	close(done)
	if !h.stopped {
		h.timer.Reset(h.interval)
	}
	h.mu.Unlock()
}

// stop ends the heartbeats, cancelling one in flight (with its retries) and waiting
// for it, so that the final callback is always last and never waits on a heartbeat's
// backoff.
func (h *heartbeats) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stopped = true
	h.timer.Stop()
	if h.cancel != nil {
		h.cancel()
	}
	done := h.beating
	h.mu.Unlock()
	if done != nil {
		<-done
	}
}

// finish stops the heartbeats and marks the delivery as reported: later Progress
// calls fail.
func (d *Delivery) finish() {
	if d.startFinishing != nil {
		d.startFinishing()
	}
	d.beats.stop()
	d.mu.Lock()
	d.done = true
	d.mu.Unlock()
}

// end closes the life of a delivery after its final callback: its rate window and
// context go, its duplicate window starts, and Shutdown stops counting it.
func (d *Delivery) end() {
	r := d.receiver
	d.giveBackWindow()
	d.stopDeadline()
	d.cancel(ErrDeliveryFinished)
	if d.tracked {
		r.finished(d.Request.TaskResultID)
		if r.afterEnd != nil {
			r.afterEnd(d.Request.TaskResultID)
		}
	}
	r.lives.Done()
}

// Process runs a job taken off a queue (see WithExecutor) with every guarantee of the
// in-process path: it verifies the signature and the URLs again, decodes the request,
// waits for a check slot (WithMaxInFlight counts Process calls too), runs the check
// with heartbeats and a deadline counted from job.ReceivedAt (both from the start, the
// wait for a slot included: a job whose deadline passes while it waits is reported
// failed), and reports exactly one final result. It blocks until the final callback is done; a check that overruns and
// ignores its context keeps its slot, not the caller, after that.
//
// A job delivered again (job.Attempt > 1) may have been reported by an earlier run
// whose acknowledgement was lost, so before anything else Process sends a "running"
// update ("Resuming the check after an interruption.", PATCH
// task_result_callback_url): if the service answers 409 (the result is final) the job
// is done and the check does not run; if it answers 401 (the token expired: the task
// result is over) the job is refused; otherwise the check runs as on a first attempt,
// within the original deadline.
//
// It returns nil when the final result was reported, or the service had one already
// (409), or the job is the service's verification request: the queue acknowledges the
// job. Otherwise it returns an error, and the queue decides what to do with the job:
//
//   - ErrJobRefused: a job it must not act on (a bad signature or body, or URLs not
//     allowed), or whose token the service no longer accepts; running it again cannot
//     help: drop it;
//   - ErrHandBack: ctx was cancelled with ErrHandBack as its cause (or Shutdown gave
//     up on a receiver built WithHandBackOnShutdown; the error then matches
//     ErrReceiverClosed too); nothing final was sent: deliver it again, at once;
//   - ErrReceiverClosed, or ctx's cause (context.Cause): the receiver was shut down,
//     or ctx ended, before the check started; nothing final was sent: deliver it
//     again;
//   - ErrResultNotReported: the check ran, but its final callback did not land (see
//     ErrResultNotReported for which causes a retry may fix): deliver it again later.
//
// Cancelling ctx without ErrHandBack while the check runs ends the check, which is
// then reported failed.
func (r *Receiver) Process(ctx context.Context, job Job) error {
	rt, status, reason := r.accept(job.Body, job.Signature)
	if status != 0 {
		return fmt.Errorf("%w: %s", ErrJobRefused, reason)
	}
	if rt.IsVerification() {
		return nil
	}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return ErrReceiverClosed
	}
	r.lives.Add(1)
	r.mu.Unlock()
	log := r.logger.With(deliveryAttrs(rt)...)
	if now := r.now(); job.ReceivedAt.After(now) {
		log.Warn("tfc: run task job received in the future; its deadline counts from now", slog.Duration("ahead_by", job.ReceivedAt.Sub(now)))
	}
	parent, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	shard := r.parentContext(rt.TaskResultID)
	stop := context.AfterFunc(shard, func() {
		if r.handBackOnShutdown {
			cancel(errShutdownHandBack)
			return
		}
		cancel(context.Cause(shard))
	})
	defer stop()
	// The delivery, with its heartbeats and deadline, exists before the wait for a
	// slot: a job waiting behind busy checks keeps telling the service it is alive,
	// and one whose deadline passes while it waits is reported failed, as in process.
	d := r.newDelivery(parent, rt, job.ReceivedAt, log)
	d.caller = parent
	d.callerCtx = ctx
	if job.Attempt > 1 {
		d.resume(job.Attempt)
	}
	return r.runDelivery(d, r.takeSlot(d))
}

// takeSlot waits for a check slot for a Process call, counted as pending meanwhile,
// and reports whether it got one: not when d's context ended first (its deadline, the
// caller's context, a hand-back, the service's answer to a resume, or Shutdown).
func (r *Receiver) takeSlot(d *Delivery) bool {
	if d.ctx.Err() != nil {
		return false
	}
	r.waitingProcess.Add(1)
	defer r.waitingProcess.Add(-1)
	select {
	case r.slots <- struct{}{}:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// resumeMessage is the "running" update a job delivered again sends first.
const resumeMessage = "Resuming the check after an interruption."

// resume asks the service whether the task result of a job delivered again is still
// open, with a "running" update: a 409 (an earlier run reported it) or a 401 (the token
// expired) ends d's context (see Progress), so that the check does not run. Any other
// failure is logged, and the check runs. A job past its deadline asks nothing: its
// failed result goes out at once.
func (d *Delivery) resume(attempt int) {
	if d.ctx.Err() != nil {
		return
	}
	d.log.Info("tfc: run task job delivered again; asking the service whether its result is still open", slog.Int("attempt", attempt))
	err := d.progress(d.ctx, resumeMessage, false)
	if err != nil && d.ctx.Err() == nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrUnauthorized) {
		d.log.Warn("tfc: the resume update failed; running the check", slog.String("error", err.Error()))
	}
}
