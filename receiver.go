package tfc

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tfkit/tfc/internal/printguard"
)

// The run task receiver is split by role:
//
//	receiver.go         the Receiver, its options, NewReceiver and Shutdown
//	receiver_http.go    ServeHTTP: the body, its signature, what the request may name
//	admission.go        duplicates, the pending queue and the check slots
//	delivery_run.go     the life of one delivery: check, heartbeats, final callback; Process
//	delivery.go         what a check sees: Delivery, Plan, PlanJSON, Progress
//	receiver_egress.go  where a delivery's calls may go and how fast: per-token windows,
//	                    the dial guard, the receiver's own client
//	receiver_hooks.go   what it counts, for metrics: ReceiverHooks, Stats

// CheckFunc decides one run task delivery. It runs in the background, after the
// delivery was acknowledged and a check slot came free (WithMaxInFlight), with a
// context that ends at the check deadline (counted from when the delivery arrived),
// when the service says the result is already final, or when Shutdown gives up
// waiting. It returns Passed(…) or Failed(…), optionally with a URL and outcomes.
//
// An error or a panic ends the task result as failed with a generic message: the error
// itself is only logged, since it may hold internal details. To fail a run with your
// own words, return Failed(message) and a nil error.
//
// A check should return when its context ends. One that does not is reported failed
// at the deadline all the same, but it keeps its check slot until it returns.
type CheckFunc func(ctx context.Context, d *Delivery) (TaskResultUpdate, error)

// Receiver is an http.Handler that receives run task requests from HCP Terraform or
// Terraform Enterprise and answers them with callbacks. Mount it at any path, behind
// an http.Server with timeouts:
//
//	receiver, err := tfc.NewReceiver(check,
//		tfc.WithHMACKeys(key), tfc.WithAllowedHosts("app.terraform.io"))
//	mux.Handle("/run-task", receiver)
//
// For each POST it reads the raw body under a cap, verifies its signature
// (X-TFC-Task-Signature, or the 2021 name X-TFC-Run-Task-Signature) against the HMAC
// keys, decodes it, checks that every URL it names is https on an allowed host,
// answers a verification request (access token "test-token") with 200 and nothing
// else, and otherwise queues the delivery and answers 200 at once. Checks run in the
// background, at most WithMaxInFlight at a time, each with a deadline and heartbeats;
// each result goes back to task_result_callback_url with the request's access token,
// retried on 429, 5xx and transport errors.
//
// Guarantees: every accepted delivery ends in exactly one final callback (passed or
// failed), also when the check errs, panics or overruns its deadline, and also while
// it waits for a slot; "running" heartbeats keep it inside the service's 10-minute
// progress window, queued or running; a repeated delivery of a task result that is in
// flight or just finished is not run again; a delivery's calls are held to the
// service's limit per access token; its downloads and callbacks never connect to a
// loopback, private or link-local address unless that host is on the allow-list.
// Logs carry run, task result, stage and workspace, never tokens, keys, signatures or
// URLs that hold credentials.
//
// Answers: 405 (with Allow: POST) to other methods, 413 to bodies over the cap, 401 to
// a missing or wrong signature, 400 to malformed JSON or a request without what a
// callback needs, 403 to URLs that are plain http or outside the allow-list, 503
// (with Retry-After) when the pending queue is full or the receiver is shutting down.
type Receiver struct {
	check    CheckFunc
	verifier *SignatureVerifier // unsignedMarker with AllowUnsignedDeliveries
	logger   *slog.Logger
	now      func() time.Time

	// What a delivery may be and cost.
	maxBody         int64
	maxPending      int
	maxPendingBytes int64
	maxInFlight     int
	checkTimeout    time.Duration
	heartbeat       time.Duration
	finalTimeout    time.Duration
	shutdownGrace   time.Duration
	dedupeWindow    time.Duration
	maxPlanBytes    int64
	maxPlans        int

	// Where a delivery's calls may go, and how fast (receiver_egress.go).
	allowedHosts  map[string]bool // host or host:port, lower case
	anyHost       bool            // InsecureAllowAnyServiceHost
	allowHTTP     bool            // InsecureAllowHTTP
	tokens        *tokenLimiters
	client        *Client
	ownClient     bool // client was made here: Shutdown closes its idle connections
	callbackRetry *RetryPolicy
	// lookupIP, if set, resolves host names for the dial guard (tests use it to point
	// names at loopback); nil leaves resolution to the dialer.
	lookupIP func(ctx context.Context, host string) ([]netip.Addr, error)

	executor Executor // nil runs checks in this process

	hooks              ReceiverHooks
	handBackOnShutdown bool         // WithHandBackOnShutdown
	waitingProcess     atomic.Int64 // Process calls waiting for a check slot

	ctx          context.Context // ends with ErrReceiverClosed when Shutdown gives up, and with it every delivery
	cancel       context.CancelCauseFunc
	shardCtxs    [16]context.Context // children of ctx, the parents of deliveries, so that they do not all share one context's lock
	cancelShards [16]context.CancelFunc
	finalsCtx    context.Context // bounds every final callback; ends when the shutdown grace is over
	cancelFinals context.CancelFunc
	lives        sync.WaitGroup // accepted deliveries, until their final callback is done
	slots        chan struct{}  // one per check running, held until the check returns
	plans        chan struct{}  // one per Plan reading and decoding
	beats        chan struct{}  // heartbeats in flight at once, across deliveries
	held         atomic.Int64   // bytes of bodies being read and of deliveries waiting
	seed         maphash.Seed   // for the body sums of the duplicate check

	mu            sync.Mutex
	closing       bool
	pending       deliveryQueue
	unfinished    int                     // in-process deliveries accepted and not yet ended
	seen          map[string]seenDelivery // by task result ID
	seenPruneSize int

	afterRun func(id string) // test hook: a check slot was released or handed on
	afterEnd func(id string) // test hook: an in-process delivery ended
}

// Executor takes accepted deliveries elsewhere, for example onto a durable job queue,
// so that the receiver can run as several replicas and checks run on workers. See
// WithExecutor.
type Executor interface {
	// Submit hands over an accepted delivery. It must return quickly, and only once
	// the job is stored: the receiver answers the service 200 when Submit returns nil,
	// and from then on the job's final result is the queue's to bring about. An error
	// (a full or unreachable queue) makes the receiver answer 503, so the service
	// retries; an error matching ErrDuplicateJob says the queue held the job already
	// (its de-duplication caught a repeat of the delivery), and the receiver answers
	// 200 and counts a duplicate.
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
	// the service's own limit. Zero, or a time in the future (a clock ahead of the
	// worker's), counts from the start of Process.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Attempt is how many times the queue has handed this job to a worker, this time
	// included (JetStream's NumDelivered, SQS's ApproximateReceiveCount); 0 or 1 for
	// the first. The receiver sets none. From the second attempt on, an earlier run
	// may have reported the result already, so Process asks the service before it runs
	// the check again (see Process).
	Attempt int `json:"attempt,omitempty"`
}

// String describes the job without its body or signature.
func (j Job) String() string {
	return fmt.Sprintf("tfc.Job(%s, %d bytes)", j.TaskResultID, len(j.Body))
}

// GoString is String, so that %#v does not print the body either.
func (j Job) GoString() string { return j.String() }

// Format prints String whatever the verb, so that no verb reaches the body or signature.
func (j Job) Format(f fmt.State, verb rune) { printguard.Format(f, verb, j) }

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
	// ErrNoPlan: the delivery carries no plan URL (pre_plan, or a request without
	// plan_json_api_url).
	ErrNoPlan = errors.New("tfc: this run task delivery has no plan")
	// ErrNoConfigurationVersion: the delivery carries no configuration download URL.
	ErrNoConfigurationVersion = errors.New("tfc: this run task request has no downloadable configuration version")
	// ErrDeliveryFinished: a progress update after the final result was reported.
	ErrDeliveryFinished = errors.New("tfc: the run task result was already reported")
	// ErrPlanTooLarge: the plan JSON is larger than the cap of Plan (WithMaxPlanBytes,
	// Delivery.PlanWithLimit). Stream it with Delivery.PlanJSON instead.
	ErrPlanTooLarge = errors.New("tfc: the plan JSON is larger than the cap")
	// ErrReceiverClosed: the receiver was shut down. Process returns it for a job it
	// did not run, which the queue should deliver again elsewhere.
	ErrReceiverClosed = errors.New("tfc: the run task receiver shut down")
	// ErrJobRefused: Process was given a job it must not act on (a bad signature or
	// body, or URLs the receiver does not allow), or one whose access token the service
	// no longer accepts (it wraps the *APIError of the 401: the task result is over and
	// nothing can be reported for it). Running it again cannot help: drop the job.
	ErrJobRefused = errors.New("tfc: run task job refused")
	// ErrHandBack ends a job without reporting anything, so that the queue delivers it
	// again: cancel the context given to Process with it as the cause
	// (context.WithCancelCause). The check's context ends with the same cause and the
	// check is abandoned (it keeps its slot until it returns, and what it returns is
	// dropped), no final result is sent (one in flight is cut short), and Process
	// returns an error matching ErrHandBack. A worker that must stop uses it to give
	// its jobs to other workers; the service has seen only "running" updates, and the
	// next run of the job (Job.Attempt > 1) checks whether a result landed before it
	// runs the check. See also WithHandBackOnShutdown.
	ErrHandBack = errors.New("tfc: run task job handed back to the queue unreported")
	// ErrDuplicateJob: returned (wrapped or not) by an Executor's Submit for a job its
	// queue holds already: the repeat is stored once and answered 200 as a duplicate.
	ErrDuplicateJob = errors.New("tfc: run task job stored already")
	// ErrResultNotReported: the final result could not be reported. Process wraps the
	// last failure in it: an *APIError for 401 (the token expired) or 422 (the service
	// refused even the plain form), which a retry will not fix, or a transport error or
	// 5xx, which it may.
	ErrResultNotReported = errors.New("tfc: the run task result could not be reported")
)

// Reasons a check's context ends, besides the caller's own and ErrReceiverClosed.
var (
	errCheckDeadline = errors.New("tfc: the check ran past its deadline")
	errAlreadyFinal  = errors.New("tfc: the service reports the task result as final already")
	errTokenRejected = errors.New("tfc: the service no longer accepts the run task access token")
	errCheckExited   = errors.New("tfc: the check's goroutine exited without returning (runtime.Goexit)")
)

// ReceiverOption configures a Receiver.
type ReceiverOption func(*Receiver) error

// Defaults of NewReceiver.
const (
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxPending and DefaultMaxPendingBytes bound the deliveries accepted and
	// waiting for a check slot: ten thousand ordinary deliveries (about 2 KiB each) fit.
	DefaultMaxPending      = 10_000
	DefaultMaxPendingBytes = 64 << 20
	DefaultMaxInFlight     = 128
	// DefaultCheckTimeout ends a check in time for its failed result to reach the
	// service before the service's own 60-minute cap, counted from when it sent the
	// request.
	DefaultCheckTimeout = 55 * time.Minute
	// DefaultHeartbeat is well inside the service's 10-minute progress window.
	DefaultHeartbeat    = 4 * time.Minute
	DefaultFinalTimeout = 4 * time.Minute
	// DefaultShutdownGrace is how long Shutdown lets the failed results of cancelled
	// deliveries try to reach the service after its context ended.
	DefaultShutdownGrace = 5 * time.Second
	DefaultDedupeWindow  = 15 * time.Minute
	// DefaultMaxPlanBytes caps the plan JSON that Delivery.Plan decodes, and
	// DefaultMaxConcurrentPlans how many Plan calls read and decode at once: decoding
	// takes about seven times the plan's size in memory, so plans cost at most about
	// 4 × 7 × 32 MiB. Larger plans are for Delivery.PlanJSON.
	DefaultMaxPlanBytes       = 32 << 20
	DefaultMaxConcurrentPlans = 4
	// DefaultPerTokenRateLimit is the service's limit of calls per second for one
	// access token.
	DefaultPerTokenRateLimit = 30
)

// defaultCallbackRetry is the retry policy of the receiver's own client: patient, since
// a result that does not land errors the run (about 100 s of waits in all, within the
// final callback timeout), but with waits capped at 10 s, so that a blip at the service
// costs seconds, not a minute, while the run waits.
var defaultCallbackRetry = RetryPolicy{MaxRetries: 15, MinWait: 250 * time.Millisecond, MaxWait: 10 * time.Second}

// NewReceiver returns a Receiver that runs check for every delivery. It makes no
// network call. It refuses to start (an *ArgumentError) unless it is told:
//
//   - how deliveries are verified: WithHMACKeys, or AllowUnsignedDeliveries for local
//     testing of a task created without a key;
//   - which service hosts deliveries may name: WithAllowedHosts (for example
//     "app.terraform.io" or your Terraform Enterprise host), or the opt-out
//     InsecureAllowAnyServiceHost, which unsigned mode never accepts.
//
// Service URLs must be https unless InsecureAllowHTTP is given.
func NewReceiver(check CheckFunc, opts ...ReceiverOption) (*Receiver, error) {
	if check == nil {
		return nil, invalidArg("check", "must not be nil")
	}
	r := &Receiver{
		check:           check,
		now:             time.Now,
		maxBody:         DefaultMaxBodyBytes,
		maxPending:      DefaultMaxPending,
		maxPendingBytes: DefaultMaxPendingBytes,
		maxInFlight:     DefaultMaxInFlight,
		checkTimeout:    DefaultCheckTimeout,
		heartbeat:       DefaultHeartbeat,
		finalTimeout:    DefaultFinalTimeout,
		shutdownGrace:   DefaultShutdownGrace,
		dedupeWindow:    DefaultDedupeWindow,
		maxPlanBytes:    DefaultMaxPlanBytes,
		maxPlans:        DefaultMaxConcurrentPlans,
		tokens:          newTokenLimiters(DefaultPerTokenRateLimit),
		seen:            make(map[string]seenDelivery),
		seed:            maphash.MakeSeed(),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(r); err != nil {
			return nil, err
		}
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.client == nil {
		c, err := r.newServiceClient()
		if err != nil {
			return nil, err
		}
		r.client, r.ownClient = c, true
	}
	r.slots = make(chan struct{}, r.maxInFlight)
	r.plans = make(chan struct{}, r.maxPlans)
	r.beats = make(chan struct{}, maxHeartbeatsAtOnce)
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	for i := range r.shardCtxs {
		r.shardCtxs[i], r.cancelShards[i] = context.WithCancel(r.ctx)
	}
	r.finalsCtx, r.cancelFinals = context.WithCancel(context.Background())
	if r.anyHost {
		r.logger.Warn("tfc: InsecureAllowAnyServiceHost: deliveries may name any public service host; name your service with WithAllowedHosts instead")
	}
	if r.allowHTTP {
		r.logger.Warn("tfc: InsecureAllowHTTP: service URLs may be plain http, which sends access tokens in clear; for local testing only")
	}
	return r, nil
}

// validate checks the combination of options.
func (r *Receiver) validate() error {
	switch {
	case r.verifier == nil:
		return invalidArg("HMAC keys", "none configured: use WithHMACKeys, or AllowUnsignedDeliveries for local testing")
	case r.allowUnsigned() && r.allowedHosts == nil:
		return invalidArg("allowed hosts", "unsigned deliveries need WithAllowedHosts: otherwise anyone could make the receiver call any host")
	case r.allowedHosts == nil && !r.anyHost:
		return invalidArg("allowed hosts", "none configured: name the service's hosts with WithAllowedHosts (e.g. app.terraform.io), or opt out with InsecureAllowAnyServiceHost")
	case r.allowedHosts != nil && r.anyHost:
		return invalidArg("allowed hosts", "WithAllowedHosts and InsecureAllowAnyServiceHost contradict each other")
	case r.maxBody > r.maxPendingBytes:
		return invalidArg("max body bytes", "must not exceed the pending byte bound (WithMaxPending)")
	}
	return nil
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
// start checks, so it requires WithAllowedHosts.
func AllowUnsignedDeliveries() ReceiverOption {
	return func(r *Receiver) error {
		r.verifier = unsignedMarker
		return nil
	}
}

// WithAllowedHosts names the service hosts a delivery may send the receiver to: the
// host of its callback, plan and configuration URLs, for example "app.terraform.io"
// or a Terraform Enterprise host (with ":port" to pin a port). A delivery naming
// another host is refused with 403 before any token is sent.
//
// A host named here may also resolve to a loopback or private address (a Terraform
// Enterprise on an internal network, a local test server); every other host a
// delivery's calls reach, redirect targets such as the service's blob store included,
// must resolve to public addresses. An entry with a port opens its host name for that
// purpose on every port.
func WithAllowedHosts(hosts ...string) ReceiverOption {
	return func(r *Receiver) error {
		if len(hosts) == 0 {
			return invalidArg("allowed hosts", "at least one host is required")
		}
		r.allowedHosts = make(map[string]bool, len(hosts))
		for _, h := range hosts {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "" || strings.ContainsAny(h, "/?#@ ") {
				return invalidArg("allowed hosts", "entries must be host names, optionally with :port")
			}
			if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
				h = h[1 : len(h)-1] // an IPv6 address without a port, as url.URL.Hostname gives it
			}
			r.allowedHosts[h] = true
		}
		return nil
	}
}

// InsecureAllowAnyServiceHost lets deliveries name any service host, with every
// delivery's access token sent wherever its URLs point. Signed deliveries only carry
// URLs the service chose, so this is safe as long as the HMAC key stays secret; the
// dial guard still refuses non-public addresses. Prefer WithAllowedHosts. Unsigned
// mode refuses this option.
func InsecureAllowAnyServiceHost() ReceiverOption {
	return func(r *Receiver) error {
		r.anyHost = true
		return nil
	}
}

// InsecureAllowHTTP accepts deliveries whose service URLs are plain http, and
// redirects to http, for local testing against a fake service (tfctest, the
// quickstart). Access tokens then travel in clear.
func InsecureAllowHTTP() ReceiverOption {
	return func(r *Receiver) error {
		r.allowHTTP = true
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

// WithMaxPending bounds the deliveries accepted and waiting for a check slot, by
// number (default 10,000) and by bytes (default 64 MiB, counting the bodies of
// deliveries being received too). A delivery beyond either bound is answered 503 with
// Retry-After, so the service delivers it again later. Deliveries whose checks are
// done but whose results are still being reported (to a slow service) count against
// the number too, beyond the WithMaxInFlight running ones.
func WithMaxPending(deliveries int, bytes int64) ReceiverOption {
	return func(r *Receiver) error {
		if deliveries < 0 || bytes <= 0 {
			return invalidArg("max pending", "the number must not be negative and the bytes must be positive")
		}
		r.maxPending, r.maxPendingBytes = deliveries, bytes
		return nil
	}
}

// WithMaxInFlight bounds the checks running at once in this process, Process calls
// included (default 128). Deliveries beyond it wait in the pending queue. A check
// holds its slot until it returns, even past its deadline.
func WithMaxInFlight(n int) ReceiverOption {
	return func(r *Receiver) error {
		if n <= 0 {
			return invalidArg("max in flight", "must be positive")
		}
		r.maxInFlight = n
		return nil
	}
}

// WithCheckTimeout bounds how long a delivery may take from its arrival to its
// check's return, time in the pending queue included (default 55 minutes); past it the
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

// WithHeartbeat sets how often a delivery reports "running" while it waits for a slot
// and while its check runs (default 4 minutes; the service errors a task result with no
// update for 10). Zero turns heartbeats off.
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

// WithShutdownGrace sets how long Shutdown, once its context has ended, lets the
// failed results of the deliveries it cancels try to reach the service (default 5
// seconds). Zero abandons them at once.
func WithShutdownGrace(d time.Duration) ReceiverOption {
	return func(r *Receiver) error {
		if d < 0 {
			return invalidArg("shutdown grace", "must not be negative")
		}
		r.shutdownGrace = d
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

// WithMaxPlanBytes caps the plan JSON that Delivery.Plan reads and decodes, counted
// after any transfer compression is undone (default 32 MiB). Past it, Plan fails with
// ErrPlanTooLarge; Delivery.PlanJSON streams a plan of any size.
func WithMaxPlanBytes(n int64) ReceiverOption {
	return func(r *Receiver) error {
		if n <= 0 {
			return invalidArg("max plan bytes", "must be positive")
		}
		r.maxPlanBytes = n
		return nil
	}
}

// WithMaxConcurrentPlans bounds how many Delivery.Plan calls read and decode a plan at
// once across the receiver (default 4); the others wait, within their context.
// Decoding takes about seven times the plan's size in memory, so the plans in memory
// cost at most about n × 7 × WithMaxPlanBytes. PlanJSON streams are not counted.
func WithMaxConcurrentPlans(n int) ReceiverOption {
	return func(r *Receiver) error {
		if n <= 0 {
			return invalidArg("max concurrent plans", "must be positive")
		}
		r.maxPlans = n
		return nil
	}
}

// WithPerTokenRateLimit holds each delivery's calls (plan and configuration
// downloads, progress updates, the final result) to at most n in any second per access
// token (default 30, the service's limit per token); retries count. Deliveries do not
// share a window, so a burst of them is not slowed by a client-wide ceiling; to add
// one, give WithCallbackClient a client made with WithRateLimit. n <= 0 removes the
// per-token window.
func WithPerTokenRateLimit(n int) ReceiverOption {
	return func(r *Receiver) error {
		r.tokens.rate = max(n, 0)
		return nil
	}
}

// WithCallbackRetryPolicy sets the retry policy of the client the receiver makes for
// callbacks and downloads (default: up to 15 retries, waits from 250 ms to 10 s). With
// WithCallbackClient, that client's own policy applies instead.
func WithCallbackRetryPolicy(p RetryPolicy) ReceiverOption {
	return func(r *Receiver) error {
		if err := p.validate(); err != nil {
			return err
		}
		r.callbackRetry = &p
		return nil
	}
}

// WithCallbackClient sets the Client used for callbacks and downloads, for a proxy, a
// custom *http.Client or a shared rate ceiling. Its address and token are not used:
// callbacks go to the URL and with the token each delivery carries.
//
// The receiver's own client refuses, at dial time, to connect to non-public addresses
// of hosts not on the allow-list, ignores proxy settings from the environment, and
// refuses redirects to plain http unless InsecureAllowHTTP. A client given here is
// used as it is: its transport is responsible for those refusals. The allow-list and
// https checks on the delivery's URLs apply either way.
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
// submitting jobs to a shared durable queue; workers take jobs off the queue and call
// Receiver.Process (on a Receiver built with the same keys, hosts and check), which
// verifies the job again and gives it every guarantee of the in-process path. The
// receiver answers the service 200 only after Submit returned nil. De-duplicate on
// Job.TaskResultID in the queue: the receiver only knows the deliveries it saw itself.
func WithExecutor(e Executor) ReceiverOption {
	return func(r *Receiver) error {
		r.executor = e
		return nil
	}
}

// WithHandBackOnShutdown makes Shutdown hand back the Process calls still running
// when its context ends, as if their contexts had been cancelled with ErrHandBack: no
// failed result is sent for them, and Process returns an error matching both
// ErrHandBack and ErrReceiverClosed, so that the queue gives each job to another
// worker at once. Use it on workers fed by a durable queue (natsqueue). Deliveries
// accepted in this process (no executor) are not handed back: nothing would deliver
// them again, so they keep their failed result.
func WithHandBackOnShutdown() ReceiverOption {
	return func(r *Receiver) error {
		r.handBackOnShutdown = true
		return nil
	}
}

// Shutdown stops accepting deliveries (they get 503, so the service retries them
// elsewhere or later) and waits until every accepted delivery, waiting or running, has
// reported its final result. Like http.Server.Shutdown, it returns when ctx ends, with
// ctx's error: at that moment it cancels the checks still running and fails the
// deliveries still waiting, and lets their failed results try to reach the service for
// at most the shutdown grace (WithShutdownGrace, default 5 s) before returning. A
// check that ignores its cancelled context is left running. With
// WithHandBackOnShutdown, Process calls are handed back unreported instead.
//
// Stop the http.Server first, so that no delivery is half-received. Shutdown may be
// called more than once.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.lives.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		r.cancel(ErrReceiverClosed)
		grace := time.AfterFunc(r.shutdownGrace, r.cancelFinals)
		r.failPending()
		<-done
		grace.Stop()
	}
	r.cancel(ErrReceiverClosed)
	for _, cancel := range r.cancelShards {
		cancel()
	}
	r.cancelFinals()
	if r.ownClient {
		r.client.CloseIdleConnections()
	}
	return err
}
