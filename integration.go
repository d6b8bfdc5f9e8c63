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
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
)

// CheckFunc decides one run task delivery. It runs in the background, after the
// delivery was acknowledged, with a context that ends at the check deadline, when the
// service says the result is already final, or when Shutdown gives up waiting. It
// returns Passed(…) or Failed(…), optionally with a URL and outcomes.
//
// An error or a panic ends the task result as failed with a generic message: the error
// itself is only logged, since it may hold internal details. To fail a run with your
// own words, return Failed(message) and a nil error.
type CheckFunc func(ctx context.Context, d *Delivery) (TaskResultUpdate, error)

// Receiver is an http.Handler that receives run task requests from HCP Terraform or
// Terraform Enterprise and answers them with callbacks. Mount it at any path:
//
//	receiver, err := tfc.NewReceiver(check, tfc.WithHMACKeys(key))
//	http.Handle("/run-task", receiver)
//
// For each POST it caps and reads the raw body, verifies its signature
// (X-TFC-Task-Signature, or the 2021 name X-TFC-Run-Task-Signature) against the HMAC
// keys, decodes it, answers a verification request (access token "test-token") with
// 200 and nothing else, and otherwise answers 200 at once and runs the check in the
// background. The result goes back to task_result_callback_url with the request's
// access token, retried on 429, 5xx and transport errors.
//
// Guarantees: every accepted delivery ends in exactly one final callback (passed or
// failed), also when the check errs, panics or overruns its deadline; "running"
// heartbeats keep a long check inside the service's 10-minute progress window; a
// repeated delivery of a task result that is in flight or just finished is not run
// again; when WithMaxInFlight checks are running, new deliveries get 503 so the
// service retries them. Logs carry run, task result, stage and workspace, never tokens,
// keys, signatures or URLs that hold credentials.
//
// Answers: 405 (with Allow: POST) to other methods, 413 to bodies over the cap, 401 to
// a missing or wrong signature, 400 to malformed JSON or a request without what a
// callback needs, 403 to URLs outside WithAllowedHosts, 503 when full or shutting down.
type Receiver struct {
	check         CheckFunc
	verifier      *SignatureVerifier // nil with AllowUnsignedDeliveries
	client        *Client
	ownClient     bool // client was made here, so Shutdown closes its idle connections
	logger        *slog.Logger
	maxBody       int64
	checkTimeout  time.Duration
	heartbeat     time.Duration
	finalTimeout  time.Duration
	dedupeWindow  time.Duration
	allowedHosts  map[string]bool // nil allows any host
	afterRun      func(id string) // test hook: a delivery's slot was freed
	executor      Executor        // nil runs checks in this process
	slots         chan struct{}   // in-process checks running now
	now           func() time.Time
	ctx           context.Context // parent of every check; cancelled when Shutdown gives up
	cancel        context.CancelCauseFunc
	mu            sync.Mutex
	closing       bool
	seen          map[string]time.Time // task result ID → until when a delivery of it is a duplicate
	seenPruneSize int
	wg            sync.WaitGroup // checks running in this process
}

// Executor takes accepted deliveries elsewhere, for example onto an existing job queue,
// so that the receiver can run as several replicas and checks run on workers. See
// WithExecutor.
type Executor interface {
	// Submit hands over an accepted delivery. It must return quickly. An error (a full
	// or unreachable queue) makes the receiver answer 503, so the service retries.
	Submit(ctx context.Context, job Job) error
}

// Job is an accepted delivery as it travels through a queue: the raw body as signed by
// the service and its signature, so that the worker can verify it again and nothing
// unsigned is ever acted on. TaskResultID is a natural de-duplication key for the
// queue. The body holds the run's access token: a Job prints (String, GoString,
// LogValue) as its task result ID and size only, but its JSON form is whole, so the
// queue must be trusted like the receiver.
type Job struct {
	Body         []byte `json:"body"`
	Signature    string `json:"signature,omitempty"`
	TaskResultID string `json:"task_result_id"`
	// ReceivedAt is when the receiver accepted the delivery. Process counts the check
	// deadline from it, so that time spent in the queue does not stretch the check past
	// the service's own limit. Zero counts from the start of Process.
	ReceivedAt time.Time `json:"received_at,omitzero"`
}

// String describes the job without its body or signature.
func (j Job) String() string {
	return fmt.Sprintf("tfc.Job(%s, %d bytes)", j.TaskResultID, len(j.Body))
}

// GoString is String, so that %#v does not print the body either.
func (j Job) GoString() string { return j.String() }

// LogValue logs the task result ID, the body's size and the receipt time only.
func (j Job) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("task_result_id", j.TaskResultID),
		slog.Int("body_bytes", len(j.Body)),
		slog.Time("received_at", j.ReceivedAt),
	)
}

// Errors of the receiver and its deliveries.
var (
	// ErrNoPlan: the delivery's stage has no plan (pre_plan) or carries no plan URL.
	ErrNoPlan = errors.New("tfc: this run task stage has no plan")
	// ErrNoConfigurationVersion: the delivery carries no configuration download URL.
	ErrNoConfigurationVersion = errors.New("tfc: this run task request has no downloadable configuration version")
	// ErrDeliveryFinished: a progress update after the final result was reported.
	ErrDeliveryFinished = errors.New("tfc: the run task result was already reported")
	// ErrJobRefused: Process was given a job it must never act on (a bad signature or
	// body). A queue should drop such a job rather than deliver it again.
	ErrJobRefused = errors.New("tfc: run task job refused")
	// ErrFinalNotReported: Process ran the job but the service did not accept its
	// final result (it stayed unreachable, or refused the token, within the final
	// callback timeout). A queue should deliver the job again: Process resumes it
	// within the original deadline, or reports it failed at once past it.
	ErrFinalNotReported = errors.New("tfc: the run task result could not be reported")
	// ErrReceiverShutdown: Process was called on, or interrupted by, a receiver that is
	// shutting down. A queue should deliver the job again, to another worker.
	ErrReceiverShutdown = errors.New("tfc: the run task receiver shut down")
)

// Reasons a check's context ends, besides the caller's own.
var (
	errCheckDeadline = errors.New("tfc: the check ran past its deadline")
	errShutdown      = ErrReceiverShutdown
	errAlreadyFinal  = errors.New("tfc: the service reports the task result as final already")
	errTokenRejected = errors.New("tfc: the service no longer accepts the run task access token")
	errCheckExited   = errors.New("tfc: the check's goroutine exited without returning (runtime.Goexit)")
)

// ReceiverOption configures a Receiver.
type ReceiverOption func(*Receiver) error

// Defaults of NewReceiver.
const (
	DefaultMaxBodyBytes = 1 << 20
	// DefaultCheckTimeout ends a check in time for its failed result to reach the
	// service before the service's own 60-minute cap, counted from when it sent the
	// request.
	DefaultCheckTimeout = 55 * time.Minute
	// DefaultHeartbeat is well inside the service's 10-minute progress window.
	DefaultHeartbeat    = 4 * time.Minute
	DefaultMaxInFlight  = 128
	DefaultFinalTimeout = 4 * time.Minute
	DefaultDedupeWindow = 15 * time.Minute
)

// NewReceiver returns a Receiver that runs check for every delivery. One of WithHMACKeys
// and AllowUnsignedDeliveries is required: a receiver does not accept unsigned requests
// by accident.
func NewReceiver(check CheckFunc, opts ...ReceiverOption) (*Receiver, error) {
	if check == nil {
		return nil, invalidArg("check", "must not be nil")
	}
	r := &Receiver{
		check:        check,
		maxBody:      DefaultMaxBodyBytes,
		checkTimeout: DefaultCheckTimeout,
		heartbeat:    DefaultHeartbeat,
		finalTimeout: DefaultFinalTimeout,
		dedupeWindow: DefaultDedupeWindow,
		slots:        make(chan struct{}, DefaultMaxInFlight),
		now:          time.Now,
		seen:         make(map[string]time.Time),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(r); err != nil {
			return nil, err
		}
	}
	if r.verifier == nil {
		return nil, invalidArg("HMAC keys", "none configured: use WithHMACKeys, or AllowUnsignedDeliveries for local testing")
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.client == nil {
		c, err := NewClient(WithRetryPolicy(RetryPolicy{MaxRetries: 10, MinWait: 500 * time.Millisecond, MaxWait: 30 * time.Second}),
			WithLogger(r.logger))
		if err != nil {
			return nil, err
		}
		r.client, r.ownClient = c, true
	}
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	return r, nil
}

// unsignedMarker is the verifier value AllowUnsignedDeliveries leaves behind.
var unsignedMarker = &SignatureVerifier{}

func (r *Receiver) allowUnsigned() bool { return r.verifier == unsignedMarker }

// WithHMACKeys sets the keys deliveries are verified against: the run task's hmac-key,
// or several during a key rotation.
func WithHMACKeys(keys ...Secret) ReceiverOption {
	return func(r *Receiver) error {
		v, err := NewSignatureVerifier(keys...)
		if err != nil {
			return err
		}
		r.verifier = v
		return nil
	}
}

// AllowUnsignedDeliveries accepts deliveries without a signature, for local testing of
// a run task created without an HMAC key. Anyone who can reach the receiver can then
// make it call the URLs of their choosing: combine it with WithAllowedHosts.
func AllowUnsignedDeliveries() ReceiverOption {
	return func(r *Receiver) error {
		r.verifier = unsignedMarker
		return nil
	}
}

// WithMaxBodyBytes caps request bodies (default 1 MiB); larger ones get 413.
func WithMaxBodyBytes(n int64) ReceiverOption {
	return func(r *Receiver) error {
		if n <= 0 {
			return invalidArg("max body bytes", "must be positive")
		}
		r.maxBody = n
		return nil
	}
}

// WithCheckTimeout bounds how long a check may run (default 55 minutes); past it the
// task result is reported failed.
func WithCheckTimeout(d time.Duration) ReceiverOption {
	return func(r *Receiver) error {
		if d <= 0 {
			return invalidArg("check timeout", "must be positive")
		}
		r.checkTimeout = d
		return nil
	}
}

// WithHeartbeat sets how often a running check reports "running" (default 4 minutes;
// the service errors a task result with no update for 10). Zero turns heartbeats off.
func WithHeartbeat(interval time.Duration) ReceiverOption {
	return func(r *Receiver) error {
		if interval < 0 {
			return invalidArg("heartbeat", "must not be negative")
		}
		r.heartbeat = interval
		return nil
	}
}

// WithFinalCallbackTimeout bounds the final callback with its retries (default 4
// minutes).
func WithFinalCallbackTimeout(d time.Duration) ReceiverOption {
	return func(r *Receiver) error {
		if d <= 0 {
			return invalidArg("final callback timeout", "must be positive")
		}
		r.finalTimeout = d
		return nil
	}
}

// WithMaxInFlight bounds the checks running at once in this process (default 128).
// Deliveries beyond it are answered 503, so the service retries them later.
func WithMaxInFlight(n int) ReceiverOption {
	return func(r *Receiver) error {
		if n <= 0 {
			return invalidArg("max in flight", "must be positive")
		}
		r.slots = make(chan struct{}, n)
		return nil
	}
}

// WithDuplicateWindow sets how long after a task result finished a new delivery of it
// is treated as a duplicate and only acknowledged (default 15 minutes).
func WithDuplicateWindow(d time.Duration) ReceiverOption {
	return func(r *Receiver) error {
		if d < 0 {
			return invalidArg("duplicate window", "must not be negative")
		}
		r.dedupeWindow = d
		return nil
	}
}

// WithAllowedHosts restricts the hosts of the callback, plan and configuration URLs of
// a delivery, for example to "app.terraform.io" or a Terraform Enterprise host (with
// ":port" to pin a port). A delivery naming another host is refused with 403 before any
// token is sent.
func WithAllowedHosts(hosts ...string) ReceiverOption {
	return func(r *Receiver) error {
		if len(hosts) == 0 {
			return invalidArg("allowed hosts", "at least one host is required")
		}
		r.allowedHosts = make(map[string]bool, len(hosts))
		for _, h := range hosts {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "" || strings.ContainsAny(h, "/?#@") {
				return invalidArg("allowed hosts", "entries must be host names, optionally with :port")
			}
			r.allowedHosts[h] = true
		}
		return nil
	}
}

// WithCallbackClient sets the Client used for callbacks and downloads (for a custom
// *http.Client, proxy, retry policy or rate ceiling). Its address and token are not
// used: callbacks go to the URL and with the token each delivery carries.
func WithCallbackClient(c *Client) ReceiverOption {
	return func(r *Receiver) error {
		if c == nil {
			return invalidArg("callback client", "must not be nil")
		}
		r.client = c
		return nil
	}
}

// WithReceiverLogger sets the logger for deliveries, checks and callbacks.
func WithReceiverLogger(l *slog.Logger) ReceiverOption {
	return func(r *Receiver) error {
		r.logger = l
		return nil
	}
}

// WithExecutor hands accepted deliveries to e instead of running them in this process.
// A typical setup runs the receiver behind a load balancer as several replicas, each
// submitting jobs to a shared queue; workers take jobs off the queue and call
// Receiver.Process (on a Receiver built with the same keys and check), which verifies
// the job again and gives it every guarantee of the in-process path. De-duplicate on
// Job.TaskResultID in the queue: the receiver only knows the deliveries it saw itself.
func WithExecutor(e Executor) ReceiverOption {
	return func(r *Receiver) error {
		r.executor = e
		return nil
	}
}

// ServeHTTP receives one delivery; see Receiver.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, req, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, status := r.readBody(w, req)
	if status != 0 {
		r.refuse(w, req, status, http.StatusText(status))
		return
	}
	signature := signatureFrom(req.Header)
	rt, status, reason := r.accept(body, signature)
	if status != 0 {
		r.refuse(w, req, status, reason)
		return
	}
	if rt.IsVerification() {
		r.logger.Info("tfc: run task verification request answered", slog.String("organization", rt.OrganizationName))
		w.WriteHeader(http.StatusOK)
		return
	}
	log := r.logger.With(deliveryAttrs(rt)...)
	switch r.admit(rt.TaskResultID) {
	case admitDuplicate:
		log.Info("tfc: duplicate run task delivery acknowledged")
		w.WriteHeader(http.StatusOK)
		return
	case admitClosing:
		r.busy(w, req, "shutting down")
		return
	}
	if err := r.start(req.Context(), rt, body, signature); err != nil {
		r.forget(rt.TaskResultID)
		log.Warn("tfc: run task delivery not accepted", slog.String("reason", err.Error()))
		// The executor's error stays in the log: it may describe the queue's address.
		reason := "the job queue did not take the delivery"
		if errors.Is(err, errFull) {
			reason = errFull.Error()
		}
		r.busy(w, req, reason)
		return
	}
	log.Info("tfc: run task delivery accepted")
	w.WriteHeader(http.StatusOK)
}

// readBody reads the raw body under the cap. A declared length over the cap is refused
// without reading.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, int) {
	if req.ContentLength > r.maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, req.Body, r.maxBody)); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge
		}
		return nil, http.StatusBadRequest
	}
	return buf.Bytes(), 0
}

// accept verifies and decodes a body. It returns an HTTP status and a reason when the
// delivery is refused.
func (r *Receiver) accept(body []byte, signature string) (*RunTaskRequest, int, string) {
	if r.allowUnsigned() {
		if strings.TrimSpace(signature) != "" {
			return nil, http.StatusBadRequest, "the request is signed but no HMAC key is configured"
		}
	} else if err := r.verifier.VerifyHex(signature, body); err != nil {
		return nil, http.StatusUnauthorized, err.Error()
	}
	var rt RunTaskRequest
	if err := scanWith(body, rt.decodeFields); err != nil {
		return nil, http.StatusBadRequest, "malformed JSON"
	}
	if rt.PayloadVersion != 1 {
		return nil, http.StatusBadRequest, fmt.Sprintf("unsupported payload_version %d", rt.PayloadVersion)
	}
	if rt.IsVerification() {
		return &rt, 0, ""
	}
	if status, reason := r.checkTargets(&rt); status != 0 {
		return nil, status, reason
	}
	return &rt, 0, ""
}

// checkTargets checks what the callback and downloads need, and where they would go:
// all URLs on one host (the service's), and that host allowed.
func (r *Receiver) checkTargets(rt *RunTaskRequest) (int, string) {
	switch {
	case rt.TaskResultID == "":
		return http.StatusBadRequest, "task_result_id is missing"
	case rt.AccessToken == "":
		return http.StatusBadRequest, "access_token is missing"
	}
	callback, err := url.Parse(rt.TaskResultCallbackURL)
	if err != nil || (callback.Scheme != "http" && callback.Scheme != "https") || callback.Host == "" || callback.User != nil {
		return http.StatusBadRequest, "task_result_callback_url is not an absolute http(s) URL"
	}
	if !r.hostAllowed(callback) {
		return http.StatusForbidden, "task_result_callback_url names a host that is not allowed"
	}
	for name, raw := range map[string]string{"plan_json_api_url": rt.PlanJSONAPIURL, "configuration_version_download_url": deref(rt.ConfigurationVersionDownloadURL)} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.User != nil || !strings.EqualFold(u.Host, callback.Host) || u.Scheme != callback.Scheme {
			return http.StatusForbidden, name + " is not on the callback URL's host"
		}
	}
	return 0, ""
}

func (r *Receiver) hostAllowed(u *url.URL) bool {
	if r.allowedHosts == nil {
		return true
	}
	return r.allowedHosts[strings.ToLower(u.Host)] || r.allowedHosts[strings.ToLower(u.Hostname())]
}

type admission int

const (
	admitNew admission = iota
	admitDuplicate
	admitClosing
)

// forever marks a task result that is in flight in this process.
var forever = time.Unix(1<<62, 0)

// admit records a task result as in flight, unless it is a duplicate or the receiver is
// closing. A new in-process admission is counted in wg under the same lock that
// Shutdown takes, so Shutdown never misses it.
func (r *Receiver) admit(id string) admission {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return admitClosing
	}
	now := r.now()
	if until, ok := r.seen[id]; ok && now.Before(until) {
		return admitDuplicate
	}
	if len(r.seen) > 2*r.seenPruneSize+64 {
		for k, until := range r.seen {
			if !now.Before(until) {
				delete(r.seen, k)
			}
		}
		r.seenPruneSize = len(r.seen)
	}
	if r.executor != nil {
		r.seen[id] = now.Add(r.dedupeWindow)
	} else {
		r.seen[id] = forever
		r.wg.Add(1)
	}
	return admitNew
}

// forget undoes admit for a delivery that could not be started.
func (r *Receiver) forget(id string) {
	r.mu.Lock()
	delete(r.seen, id)
	r.mu.Unlock()
	if r.executor == nil {
		r.wg.Done()
	}
}

// finished starts the duplicate window of a task result that ran here.
func (r *Receiver) finished(id string) {
	r.mu.Lock()
	r.seen[id] = r.now().Add(r.dedupeWindow)
	r.mu.Unlock()
}

var errFull = errors.New("the maximum number of checks is running")

// start hands an admitted delivery to the executor, or runs it in this process if a
// slot is free.
func (r *Receiver) start(ctx context.Context, rt *RunTaskRequest, body []byte, signature string) error {
	if r.executor != nil {
		job := Job{Body: bytes.Clone(body), Signature: signature, TaskResultID: rt.TaskResultID, ReceivedAt: r.now()}
		return r.executor.Submit(ctx, job)
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return errFull
	}
	go func() {
		defer r.wg.Done()
		_ = r.run(r.ctx, rt, r.checkTimeout) // logged by sendFinal; nothing retries in-process deliveries
		r.finished(rt.TaskResultID)
		<-r.slots
		if r.afterRun != nil {
			r.afterRun(rt.TaskResultID)
		}
	}()
	return nil
}

// Process runs a job taken off a queue (see WithExecutor) with every guarantee of the
// in-process path: it verifies the signature again, decodes the request, runs the
// check with heartbeats and reports exactly one final result. It blocks until the
// final callback was sent. Cancelling ctx ends the check, which is then reported as
// failed.
//
// Its error tells the queue what to do with the job: nil, acknowledge it (the service
// accepted the final result, or answered 409 because it was final already);
// ErrJobRefused, drop it (nothing was called back); ErrReceiverShutdown or
// ErrFinalNotReported, deliver it again.
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
		return errShutdown
	}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(r.ctx, func() { cancel(context.Cause(r.ctx)) })
	defer stop()
	timeout := r.checkTimeout
	if !job.ReceivedAt.IsZero() {
		timeout -= r.now().Sub(job.ReceivedAt)
	}
	return r.run(ctx, rt, timeout)
}

// Shutdown stops accepting deliveries (they get 503, so the service retries them
// elsewhere or later) and waits for the checks running in this process. If ctx ends
// first, the remaining checks are cancelled and reported as failed; Shutdown then waits
// for those final callbacks (each bounded by the final callback timeout) and returns
// ctx's error. Stop the http.Server first, so that no delivery is half-received.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.cancel(errShutdown)
	<-done
	if r.ownClient {
		r.client.CloseIdleConnections()
	}
	return err
}

// run is the life of one accepted delivery: the check with its deadline (timeout from
// now) and heartbeats, then exactly one final callback. Its error is the final
// callback's, as ErrFinalNotReported.
func (r *Receiver) run(parent context.Context, rt *RunTaskRequest, timeout time.Duration) error {
	log := r.logger.With(deliveryAttrs(rt)...)
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ctx, cancelDeadline := context.WithTimeoutCause(ctx, timeout, errCheckDeadline)
	defer cancelDeadline()

	d := &Delivery{Request: rt, receiver: r, log: log, cancel: cancel}
	if timeout <= 0 {
		// A job that waited in a queue past the deadline: the check would start with
		// no time left, so it does not start at all.
		log.Warn("tfc: run task job reached the worker after the check deadline", slog.Duration("late_by", -timeout))
		d.finish()
		return r.sendFinal(d, Failed(fmt.Sprintf("The check could not start within %v of the request.", r.checkTimeout)), log)
	}
	stopHeartbeats := r.startHeartbeats(ctx, d)
	update := r.runCheck(ctx, d, log)
	stopHeartbeats()
	d.finish()
	return r.sendFinal(d, update, log)
}

// checkOutcome is what the check's goroutine reports.
type checkOutcome struct {
	update   TaskResultUpdate
	err      error
	panicked any
	stack    []byte
}

// runCheck runs the check and turns whatever happens into a final update.
func (r *Receiver) runCheck(ctx context.Context, d *Delivery, log *slog.Logger) TaskResultUpdate {
	start := r.now()
	outcome := make(chan checkOutcome, 1) // buffered: a check that outlives its deadline can still finish
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			if v := recover(); v != nil {
				outcome <- checkOutcome{panicked: v, stack: debug.Stack()}
				return
			}
			// Neither a return nor a panic: runtime.Goexit, as t.FailNow calls.
			outcome <- checkOutcome{err: errCheckExited}
		}()
		u, err := r.check(ctx, d)
		returned = true
		outcome <- checkOutcome{update: u, err: err}
	}()
	var o checkOutcome
	select {
	case o = <-outcome:
	case <-ctx.Done():
		cause := context.Cause(ctx)
		log.Warn("tfc: run task check ended before it returned", slog.String("cause", cause.Error()))
		switch {
		case errors.Is(cause, errCheckDeadline):
			return Failed(fmt.Sprintf("The check did not finish within %v.", r.checkTimeout))
		case errors.Is(cause, errShutdown):
			return Failed("The run task service shut down before the check finished. Re-run to check again.")
		default:
			return Failed("The check was stopped before it finished.")
		}
	}
	elapsed := slog.Duration("duration", r.now().Sub(start))
	switch {
	case o.panicked != nil:
		log.Error("tfc: run task check panicked", slog.String("panic", fmt.Sprint(o.panicked)), slog.String("stack", string(o.stack)), elapsed)
		return Failed("The check failed with an internal error.")
	case o.err != nil:
		log.Error("tfc: run task check returned an error", slog.String("error", o.err.Error()), elapsed)
		return Failed("The check failed with an internal error.")
	case o.update.Status != TaskResultPassed && o.update.Status != TaskResultFailed:
		log.Error("tfc: run task check returned a result that is neither passed nor failed", slog.String("status", string(o.update.Status)))
		return Failed("The check returned an invalid result.")
	}
	log.Info("tfc: run task check finished", slog.String("status", string(o.update.Status)), elapsed)
	return o.update
}

// sendFinal reports the final update, with its own deadline: the check's may be over.
// The update is made sendable first (see TaskResultUpdate.Sendable), so that a detail
// the service would refuse never costs the result.
func (r *Receiver) sendFinal(d *Delivery, update TaskResultUpdate, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.finalTimeout)
	defer cancel()
	if !d.Request.Capabilities.Outcomes {
		update.Outcomes = nil
	}
	if update.Validate() != nil {
		log.Warn("tfc: run task result adjusted to the service's limits before sending")
		update = update.Sendable()
	}
	err := d.callback(ctx, update)
	switch {
	case err == nil:
		log.Info("tfc: run task result reported", slog.String("status", string(update.Status)))
	case errors.Is(err, ErrConflict):
		log.Info("tfc: run task result was already final at the service", slog.String("status", string(update.Status)))
	default:
		log.Error("tfc: run task result could not be reported", slog.String("error", err.Error()))
		return fmt.Errorf("%w: %w", ErrFinalNotReported, err)
	}
	return nil
}

// startHeartbeats sends "running" every heartbeat interval until stopped. The stop
// function cancels a heartbeat in flight (with its retries) and waits for it to end,
// so the final callback is always last and never waits on a heartbeat's backoff.
func (r *Receiver) startHeartbeats(parent context.Context, d *Delivery) (stop func()) {
	if r.heartbeat <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(parent)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(r.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := d.Progress(ctx, ""); err != nil && ctx.Err() == nil {
					d.log.Warn("tfc: run task heartbeat failed", slog.String("error", err.Error()))
				}
			}
		}
	}()
	return func() {
		close(quit)
		cancel()
		<-exited
	}
}

// Delivery is one accepted run task request as the check sees it: the request, and
// helpers for the plan, the configuration and progress updates. Its methods are safe
// for concurrent use.
type Delivery struct {
	// Request is the decoded request.
	Request *RunTaskRequest

	receiver *Receiver
	log      *slog.Logger
	cancel   context.CancelCauseFunc
	mu       sync.Mutex // serialises callbacks
	done     bool
	message  string // the last progress message, repeated by heartbeats
}

// defaultProgressMessage is what heartbeats say before the check said anything.
const defaultProgressMessage = "Check in progress."

// Progress reports "running" with message (and keeps the task result alive: the
// service errors a task result with no update for 10 minutes). Heartbeats repeat the
// last message. If the service answers that the result is already final, or that the
// token is no longer valid, the check's context is cancelled.
//
// PATCH task_result_callback_url with status "running".
func (d *Delivery) Progress(ctx context.Context, message string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return ErrDeliveryFinished
	}
	if message != "" {
		d.message = message
	}
	msg := d.message
	if msg == "" {
		msg = defaultProgressMessage
	}
	err := d.callbackLocked(ctx, TaskResultUpdate{Status: TaskResultRunning, Message: msg})
	switch {
	case errors.Is(err, ErrConflict):
		d.cancel(errAlreadyFinal)
	case errors.Is(err, ErrUnauthorized):
		d.cancel(errTokenRejected)
	}
	return err
}

// PlanJSON streams the run's plan in Terraform's JSON format. The caller closes it.
//
// GET plan_json_api_url with the access token; the service redirects to its blob
// store, which is fetched without the token. A stage without a plan gives ErrNoPlan.
// While the service answers 204 (the plan is not ready), it is asked again with
// backoff within ctx.
func (d *Delivery) PlanJSON(ctx context.Context) (io.ReadCloser, error) {
	rt := d.Request
	if !rt.Stage.HasPlan() || rt.PlanJSONAPIURL == "" {
		return nil, fmt.Errorf("%w (stage %s)", ErrNoPlan, rt.Stage)
	}
	return d.download(ctx, rt.PlanJSONAPIURL, "plan_json_api_url")
}

// Plan fetches and decodes the run's plan with github.com/hashicorp/terraform-json.
func (d *Delivery) Plan(ctx context.Context) (*tfjson.Plan, error) {
	body, err := d.PlanJSON(ctx)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var plan tfjson.Plan
	if err := json.NewDecoder(body).Decode(&plan); err != nil {
		return nil, fmt.Errorf("tfc: decoding the plan JSON: %w", err)
	}
	return &plan, nil
}

// ConfigurationVersion streams the run's configuration as a .tar.gz archive. The
// caller closes it.
//
// GET configuration_version_download_url with the access token; the redirect to the
// blob store is followed without it. ErrNoConfigurationVersion when the service offers
// none.
func (d *Delivery) ConfigurationVersion(ctx context.Context) (io.ReadCloser, error) {
	raw := deref(d.Request.ConfigurationVersionDownloadURL)
	if raw == "" {
		return nil, ErrNoConfigurationVersion
	}
	return d.download(ctx, raw, "configuration_version_download_url")
}

// maxNotReady bounds how often a download answered 204 is asked again.
const maxNotReady = 6

func (d *Delivery) download(ctx context.Context, target, name string) (io.ReadCloser, error) {
	p := &d.receiver.client.pipeline
	for attempt := 0; ; attempt++ {
		resp, _, err := p.send(ctx, call{method: http.MethodGet, url: target, urlName: name, token: d.Request.AccessToken})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusNoContent {
			return resp.Body, nil
		}
		drainAndClose(resp.Body)
		if attempt == maxNotReady {
			return nil, fmt.Errorf("tfc: GET %s: the service kept answering 204 No Content (not ready)", name)
		}
		t := time.NewTimer(p.retry.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// finish marks the delivery as reported: later Progress calls fail.
func (d *Delivery) finish() {
	d.mu.Lock()
	d.done = true
	d.mu.Unlock()
}

func (d *Delivery) callback(ctx context.Context, u TaskResultUpdate) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.callbackLocked(ctx, u)
}

func (d *Delivery) callbackLocked(ctx context.Context, u TaskResultUpdate) error {
	rt := d.Request
	return d.receiver.client.TaskResults.Callback(ctx, rt.CallbackTarget(), u)
}

// String describes the delivery without its secrets.
func (d *Delivery) String() string { return "delivery of " + d.Request.String() }

// LogValue logs the delivery as its request's identifying fields.
func (d *Delivery) LogValue() slog.Value { return d.Request.LogValue() }

// refuse answers a delivery that is not accepted, and logs why without its content.
func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, status int, reason string) {
	r.logger.Warn("tfc: run task delivery refused", slog.Int("status", status), slog.String("reason", reason),
		slog.String("remote", req.RemoteAddr))
	http.Error(w, reason, status)
}

// busy answers 503 with a Retry-After, so the service delivers again later.
func (r *Receiver) busy(w http.ResponseWriter, req *http.Request, reason string) {
	w.Header().Set("Retry-After", strconv.Itoa(30))
	r.refuse(w, req, http.StatusServiceUnavailable, reason)
}

func deliveryAttrs(rt *RunTaskRequest) []any {
	return []any{
		slog.String("run_id", rt.RunID),
		slog.String("task_result_id", rt.TaskResultID),
		slog.String("stage", string(rt.Stage)),
		slog.String("workspace", rt.OrganizationName+"/"+rt.WorkspaceName),
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
