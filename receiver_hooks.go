package tfc

import (
	"net/http"
	"time"
)

// What a receiver counts, for metrics: ReceiverHooks are called as things happen
// (counters, durations), Receiver.Stats is read when asked (gauges). Neither needs a
// metrics library: wire them to Prometheus, OpenTelemetry or expvar in a few lines
// (examples/runtask-server does it for Prometheus).

// ReceiverHooks are functions a Receiver calls as deliveries arrive, checks end and
// callbacks are answered, for metrics. Every field is optional: a nil one is skipped.
// They are called synchronously on the receiver's own goroutines (the HTTP handler's,
// a check's, a heartbeat's), so they must be quick, must not block and must not
// panic: increment a counter, observe a histogram. They are never given a token, a
// key or a URL.
//
// A struct of functions rather than an interface, so that hooks added later leave
// existing code compiling, and a user sets only the ones they need.
type ReceiverHooks struct {
	// DeliveryAccepted is called when a delivery is answered 200 and taken on: queued
	// or started in this process, or stored by the executor (WithExecutor). Not for
	// the verification request, nor for duplicates.
	DeliveryAccepted func()

	// DeliveryRefused is called when a POST or other request is answered with an error
	// status: 400, 401, 403, 405, 413, or 503 (the pending queue or the executor is
	// full, or the receiver is shutting down).
	DeliveryRefused func(status int)

	// DeliveryDuplicate is called when a repeated delivery of a task result that this
	// receiver has in flight or finished within the duplicate window is answered 200
	// and not run again, and, with an executor, when Submit says the queue holds the
	// job already (ErrDuplicateJob: a repeat first seen by another replica, say).
	DeliveryDuplicate func()

	// CheckDone is called when a check's run ends: it returned, or its context ended
	// first (deadline, shutdown, hand-back, the service reporting the result final).
	// Checks that never started (their delivery ended while it waited for a slot) are
	// not counted.
	CheckDone func(CheckRun)

	// CallbackAttempt is called after every HTTP attempt of a callback, retries
	// included: "running" updates (heartbeats, Delivery.Progress, the resume probe of a
	// job delivered again) and final results.
	CallbackAttempt func(CallbackAttempt)

	// FinalReported is called once per final result a delivery sent, with how it ended:
	// accepted, already final at the service (409: another attempt's result landed
	// first, which counts as reported), or not reported (the service kept refusing it,
	// or could not be reached, within the final callback timeout). A final result cut
	// short by a hand-back (ErrHandBack) is not counted: its job runs again.
	FinalReported func(FinalReport)
}

// WithReceiverHooks sets the functions the receiver calls for metrics; see
// ReceiverHooks. Gauges (deliveries pending, checks in flight) come from
// Receiver.Stats.
func WithReceiverHooks(h ReceiverHooks) ReceiverOption {
	return func(r *Receiver) error {
		r.hooks = h
		return nil
	}
}

// CheckRun is one run of a check, as ReceiverHooks.CheckDone sees it.
type CheckRun struct {
	// Result is how the run ended.
	Result CheckResult
	// Duration is from the check's start to its return, or to its context's end when
	// that came first.
	Duration time.Duration
}

// CheckResult is how a check's run ended.
type CheckResult string

// Check results.
const (
	// CheckPassed and CheckFailed: the check returned that status.
	CheckPassed CheckResult = "passed"
	CheckFailed CheckResult = "failed"
	// CheckError: the check returned an error, panicked, exited its goroutine, or
	// returned a status other than passed or failed. The result is reported failed.
	CheckError CheckResult = "error"
	// CheckTimeout: the check deadline (WithCheckTimeout) passed first.
	CheckTimeout CheckResult = "timeout"
	// CheckStopped: the check's context ended for another reason first: Shutdown, a
	// hand-back (ErrHandBack), the caller of Process, or the service answering that the
	// result is final or that the token is no longer valid.
	CheckStopped CheckResult = "stopped"
)

// CallbackKind tells progress updates from final results.
type CallbackKind string

// Callback kinds.
const (
	CallbackProgress CallbackKind = "progress"
	CallbackFinal    CallbackKind = "final"
)

// CallbackAttempt is one HTTP attempt of a callback (PATCH task_result_callback_url).
type CallbackAttempt struct {
	Kind CallbackKind
	// StatusCode is the service's answer (200, 401, 409, 422, 429, 5xx), or 0 when no
	// answer came: a transport error, a timeout, or an attempt cancelled before it
	// was sent.
	StatusCode int
}

// FinalReport is the end of one final callback, as ReceiverHooks.FinalReported sees
// it.
type FinalReport struct {
	// Status is the final status sent: passed or failed.
	Status TaskResultStatus
	// Outcome is how the service took it.
	Outcome FinalOutcome
}

// FinalOutcome is how the service took a final result.
type FinalOutcome string

// Final outcomes.
const (
	// FinalAccepted: the service answered 200.
	FinalAccepted FinalOutcome = "accepted"
	// FinalAlreadyFinal: the service answered 409, it has a final result already.
	FinalAlreadyFinal FinalOutcome = "already_final"
	// FinalNotReported: the retries ran out, or the service refused it (401, 422).
	FinalNotReported FinalOutcome = "not_reported"
)

// ReceiverStats is a snapshot of a receiver's load, for gauges.
type ReceiverStats struct {
	// Pending counts deliveries accepted and waiting for a check slot: those queued in
	// this process, and Process calls waiting for a slot.
	Pending int
	// PendingBytes counts the bytes held against the pending bound (WithMaxPending):
	// bodies being received and bodies of queued deliveries.
	PendingBytes int64
	// InFlight counts the checks holding a slot (WithMaxInFlight), Process calls
	// included; a check that overran its deadline and ignores its context holds its
	// slot until it returns.
	InFlight int
}

// Stats returns the receiver's current load. It is cheap (one short lock), for a
// gauge read at every scrape.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	pending := r.pending.len()
	r.mu.Unlock()
	return ReceiverStats{
		Pending:      pending + int(r.waitingProcess.Load()),
		PendingBytes: r.held.Load(),
		InFlight:     len(r.slots),
	}
}

// The calls of the hooks, each a no-op when its hook is not set.

func (r *Receiver) countAccepted() {
	if f := r.hooks.DeliveryAccepted; f != nil {
		f()
	}
}

func (r *Receiver) countRefused(status int) {
	if f := r.hooks.DeliveryRefused; f != nil {
		f(status)
	}
}

func (r *Receiver) countDuplicate() {
	if f := r.hooks.DeliveryDuplicate; f != nil {
		f()
	}
}

func (r *Receiver) countCheck(result CheckResult, took time.Duration) {
	if f := r.hooks.CheckDone; f != nil {
		f(CheckRun{Result: result, Duration: took})
	}
}

func (r *Receiver) countFinal(status TaskResultStatus, outcome FinalOutcome) {
	if f := r.hooks.FinalReported; f != nil {
		f(FinalReport{Status: status, Outcome: outcome})
	}
}

// attemptObserver returns what the pipeline calls after each attempt of a callback of
// kind, or nil when no hook wants it (the pipeline then does nothing extra).
func (r *Receiver) attemptObserver(kind CallbackKind) func(*http.Response, error) {
	f := r.hooks.CallbackAttempt
	if f == nil {
		return nil
	}
	return func(resp *http.Response, err error) {
		a := CallbackAttempt{Kind: kind}
		if err == nil && resp != nil {
			a.StatusCode = resp.StatusCode
		}
		f(a)
	}
}
