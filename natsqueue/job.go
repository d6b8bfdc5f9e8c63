package natsqueue

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tfkit/tfc"
)

// activeJob is one job running in a worker: the job, the delivery it came with (the
// newest, should JetStream deliver it again meanwhile), whether it was settled, and
// how to hand it back (cancel Process's context with tfc.ErrHandBack).
type activeJob struct {
	job      tfc.Job
	meta     *jetstream.MsgMetadata
	log      *slog.Logger
	msg      atomic.Pointer[jetstream.Msg]
	settled  atomic.Bool
	ctx      context.Context // Process's
	handBack context.CancelCauseFunc
}

// run is the life of one job in a worker: too old to matter, or Process and then
// exactly one settlement by Process's answer.
func (w *Worker) run(a *activeJob) {
	defer w.finished(a)
	received := a.job.ReceivedAt
	if received.IsZero() {
		received = a.meta.Timestamp // when the stream stored it
	}
	if age := time.Since(received); age > w.opts.GiveUpAfter {
		a.log.Error("natsqueue: job dropped: its final result was not accepted within the give-up time; "+
			"the service has ended the task result by now", slog.Duration("age", age), slog.Duration("give_up_after", w.opts.GiveUpAfter))
		a.settle(func(msg jetstream.Msg) error { return msg.TermWithReason("final result not reported in time") }, "")
		return
	}
	// Stop cancels the context with tfc.ErrHandBack only: Process then sends nothing
	// final and returns, and the job goes to another worker.
	defer a.handBack(nil)
	err := w.receiver.Process(a.ctx, a.job)
	switch {
	case err == nil:
		a.settle(w.ack, "natsqueue: job done")
	case errors.Is(err, tfc.ErrJobRefused) && errors.Is(err, tfc.ErrUnauthorized):
		a.log.Warn("natsqueue: the service no longer accepts the job's access token (its task result is over); terminated",
			slog.String("reason", err.Error()))
		a.settle(func(msg jetstream.Msg) error { return msg.TermWithReason("refused: the access token expired") }, "")
	case errors.Is(err, tfc.ErrResultNotReported) && refusedForGood(err):
		// A 4xx other than 408 and 429 (after the receiver's own plain-form retry of a
		// 422): delivering the job again would run the check again to the same answer.
		a.log.Error("natsqueue: the service refused the final result for good; terminated", slog.String("reason", err.Error()))
		a.settle(func(msg jetstream.Msg) error { return msg.TermWithReason("final result refused by the service") }, "")
	case errors.Is(err, tfc.ErrJobRefused):
		a.log.Warn("natsqueue: job refused by the receiver; terminated", slog.String("reason", err.Error()))
		a.settle(func(msg jetstream.Msg) error { return msg.TermWithReason("refused: bad signature or body") }, "")
	case errors.Is(err, tfc.ErrHandBack) && !errors.Is(err, tfc.ErrReceiverClosed):
		// Handed back by Stop: another worker takes it at once.
		a.settle(func(msg jetstream.Msg) error { return msg.Nak() },
			"natsqueue: job handed back to the queue unreported: the worker is stopping")
	case errors.Is(err, tfc.ErrReceiverClosed):
		// This worker's receiver takes no more jobs: hand this one to another worker at
		// once, and stop asking for more.
		w.stopPull()
		a.settle(func(msg jetstream.Msg) error { return msg.Nak() },
			"natsqueue: job handed back: the receiver is shutting down; the worker stops pulling")
	default:
		delay := w.retryDelay(a.meta.NumDelivered)
		a.log.Warn("natsqueue: job will be delivered again", slog.String("error", err.Error()), slog.Duration("delay", delay))
		a.settle(func(msg jetstream.Msg) error { return msg.NakWithDelay(delay) }, "")
	}
}

// refusedForGood reports whether the service answered the final result with a status
// that no retry changes: a 4xx other than 408 Request Timeout and 429 Too Many
// Requests (409 never gets here: Process counts it as reported).
func refusedForGood(err error) bool {
	var apiErr *tfc.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.StatusCode
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// ack acknowledges a done job and waits for the server to confirm it. Unconfirmed,
// the job may be delivered again: Process then gets 409 from the service and the job
// is acknowledged as done.
func (w *Worker) ack(msg jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.q.cfg.PublishTimeout)
	defer cancel()
	return msg.DoubleAck(ctx)
}

// retryDelay is RetryDelay doubled per earlier delivery, capped at MaxRetryDelay.
func (w *Worker) retryDelay(deliveries uint64) time.Duration {
	d := w.opts.RetryDelay
	for i := uint64(1); i < deliveries && d < w.opts.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, w.opts.MaxRetryDelay)
}

// settle acknowledges, terminates or hands back the job through its newest delivery,
// once: the first call wins (a job handed back by Stop is not settled again when its
// Process returns). ok is logged at info level when the settlement went out.
func (a *activeJob) settle(do func(jetstream.Msg) error, ok string) {
	if !a.settled.CompareAndSwap(false, true) {
		return
	}
	if err := do(*a.msg.Load()); err != nil {
		a.log.Warn("natsqueue: settling the job failed; JetStream will deliver it again after the ack wait",
			slog.String("error", err.Error()))
		return
	}
	if ok != "" {
		a.log.Info(ok)
	}
}

// inProgress tells JetStream the job is still running, unless it was settled.
func (a *activeJob) inProgress() {
	if a.settled.Load() {
		return
	}
	if err := (*a.msg.Load()).InProgress(); err != nil {
		a.log.Debug("natsqueue: progress report failed", slog.String("error", err.Error()))
	}
}
