package tfctest

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tfkit/tfc"
)

// Server is an in-memory HCP Terraform listening on loopback. Its methods are safe for
// concurrent use. Close it when the test ends; a closed Server has no goroutine left.
type Server struct {
	// URL is the service's address, "http://127.0.0.1:port", without a path: the API
	// is under URL+"/api/v2/" (URL+"/api/iacp/v3/" with WithScalr). It is what
	// tfc.WithAddress and go-tfe's Config.Address take.
	URL string
	// Token is the API token the service accepts, as "Authorization: Bearer " + Token.
	// Requests without it are answered 401.
	Token string

	cfg      config
	api      *httptest.Server
	blob     *httptest.Server // the blob store downloads redirect to
	mux      *http.ServeMux
	outbound *http.Client // deliveries and verification requests to run task URLs
	faults   *faultInjector
	ctx      context.Context // ends at Close; parent of every delivery
	cancel   context.CancelFunc
	wg       sync.WaitGroup // deliveries and their progress watchdogs

	mu      sync.Mutex
	closed  bool
	changed chan struct{} // closed and replaced on every change of a run's state
	state
}

// state is everything the fake holds; it is guarded by Server.mu.
type state struct {
	orgs              map[string]*organization
	workspaces        map[string]*workspace
	tasks             map[string]*runTask
	wsTasks           map[string]*workspaceTask
	runs              map[string]*run
	stages            map[string]*taskStage
	results           map[string]*taskResult
	callbacks         map[string]*taskResult // by the callback URL's GUID
	plans             map[string]*run        // by plan ID
	configs           map[string]*run        // by configuration version ID
	policyChecks      map[string]*policyCheck
	taskConfigs       map[string]*taskConfig
	policyEvaluations map[string]*policyEvaluation
	policySetOutcomes map[string]*policySetOutcome
	modules           map[string]*registryModule // by RegistryModuleAddress.String()
	blobs             map[string]blob            // by the secret part of the blob URL
	deliveries        []Delivery
	callbackLog       []Callback // every callback answered, in order (Callbacks)
	runSeq            uint64     // runs started so far
	planHold          *PlanHold  // holds plan downloads while set (HoldPlans)
	blobSawAuth       bool
	limiters          map[string]*tfc.WindowLimiter // by bearer token
	denied            map[string]bool               // IDs and module addresses the token may not touch (Deny)
	defaultConfig     []byte                        // the configuration tar.gz of runs that bring none, once built
}

// Option configures a Server.
type Option func(*config)

type config struct {
	rateLimit        int
	faults           Faults
	progressDeadline time.Duration
	scalr            bool
}

// DefaultProgressDeadline is how long a task result may go without an update before it
// is errored, as on the service.
const DefaultProgressDeadline = 10 * time.Minute

// advertisedRateLimit is the X-RateLimit-Limit the service sends: 30 requests per
// second.
const advertisedRateLimit = 30

// WithRateLimit makes the server enforce at most n requests in any sliding one-second
// window per bearer token (per remote address for requests without one), like the
// service's ceiling of 30. A request over the ceiling is answered 429 with the
// documented error body, X-RateLimit-Limit: n and X-RateLimit-Reset: the float seconds
// until a slot frees up. n <= 0 turns enforcement off (the default). Every response
// carries X-RateLimit-Limit, n or 30 without enforcement.
func WithRateLimit(n int) Option {
	return func(c *config) { c.rateLimit = max(n, 0) }
}

// WithProgressDeadline sets how long a task result may go without a callback (its
// delivery acknowledged, or a "running" update) before it ends errored. The default is
// DefaultProgressDeadline; tests use milliseconds. A tfc.Receiver whose checks take
// longer keeps its results alive with heartbeats (tfc.WithHeartbeat) shorter than d.
// d <= 0 keeps the default.
func WithProgressDeadline(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.progressDeadline = d
		}
	}
}

// WithScalr makes the server a Scalr account instead of HCP Terraform: it serves
// Scalr's policy check endpoints under /api/iacp/v3/ (list, read, override, output) in
// Scalr's shape (OPA results with policies, no scope, absolute links), and nothing
// under /api/v2/. Client returns a client made with tfc.WithScalr for the server's
// address.
func WithScalr() Option {
	return func(c *config) { c.scalr = true }
}

// NewServer starts a fake HCP Terraform on 127.0.0.1 and a second loopback server
// that plays its blob store. Like httptest.NewServer it panics when it cannot listen,
// the one failure a test cannot work around.
func NewServer(opts ...Option) *Server {
	cfg := config{progressDeadline: DefaultProgressDeadline}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	s := &Server{
		Token:   "tfctest." + newSecret(),
		cfg:     cfg,
		faults:  newFaultInjector(cfg.faults),
		changed: make(chan struct{}),
		state: state{
			orgs: map[string]*organization{}, workspaces: map[string]*workspace{}, tasks: map[string]*runTask{},
			wsTasks: map[string]*workspaceTask{}, runs: map[string]*run{}, stages: map[string]*taskStage{},
			results: map[string]*taskResult{}, callbacks: map[string]*taskResult{}, plans: map[string]*run{},
			configs: map[string]*run{}, policyChecks: map[string]*policyCheck{}, modules: map[string]*registryModule{},
			taskConfigs: map[string]*taskConfig{}, policyEvaluations: map[string]*policyEvaluation{},
			policySetOutcomes: map[string]*policySetOutcome{},
			blobs:             map[string]blob{}, limiters: map[string]*tfc.WindowLimiter{}, denied: map[string]bool{},
		},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.outbound = &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, ResponseHeaderTimeout: deliveryTimeout},
		Timeout:   deliveryTimeout,
		// The service does not follow redirects from run task URLs.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.mux = http.NewServeMux()
	if cfg.scalr {
		s.routeScalr()
	} else {
		s.routeHCP()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("no such endpoint: "+r.Method+" "+r.URL.Path))
	})
	s.blob = httptest.NewServer(http.HandlerFunc(s.serveBlob))
	// URL is set before the API serves, since its handlers build links from it.
	s.api = httptest.NewUnstartedServer(http.HandlerFunc(s.serveAPI))
	s.URL = "http://" + s.api.Listener.Addr().String()
	s.api.Start()
	return s
}

// Close cancels the deliveries in flight, waits for them, and shuts both loopback
// servers down, blocking until their handlers return. Runs still waiting (Run.Wait)
// return an error. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.api.Close()
	s.blob.Close()
	s.outbound.CloseIdleConnections()
}

// Client returns a *tfc.Client for the server: its address and token, no client-side
// rate ceiling unless WithRateLimit is set (then the same n), and retries fast enough
// for tests (up to 10, from 2 ms, each wait at most 1 s so that X-RateLimit-Reset is
// honoured). opts are applied after these and may override them. With WithScalr the
// client is made with tfc.WithScalr and then pointed at URL.
//
// Like httptest.NewRequest, Client panics on error, for ease of use in tests: the only
// error is an invalid option in opts.
func (s *Server) Client(opts ...tfc.Option) *tfc.Client {
	base := []tfc.Option{}
	if s.cfg.scalr {
		base = append(base, tfc.WithScalr("tfctest"))
	}
	base = append(base,
		tfc.WithAddress(s.URL),
		tfc.WithToken(s.Token),
		tfc.WithRateLimit(s.cfg.rateLimit),
		tfc.WithRetryPolicy(RetryPolicy()),
	)
	c, err := tfc.NewClient(append(base, opts...)...)
	if err != nil {
		panic("tfctest: Client: " + err.Error())
	}
	return c
}

// RetryPolicy is the retry policy of Client: up to 10 retries, waits from 2 ms,
// none longer than a second. Use it for other clients of the fake, such as a
// tfc.Receiver's callback client (tfc.WithCallbackClient), so that injected faults cost
// milliseconds.
func RetryPolicy() tfc.RetryPolicy {
	return tfc.RetryPolicy{MaxRetries: 10, MinWait: 2 * time.Millisecond, MaxWait: time.Second}
}

// BlobReceivedAuthorization reports whether the blob store ever received a request
// with an Authorization header. The service's downloads redirect there with a signed
// URL, and a client that forwards its token across the redirect leaks it; a test
// asserts that this stays false.
func (s *Server) BlobReceivedAuthorization() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobSawAuth
}

// FaultsInjected returns how many requests WithFaults has failed so far.
func (s *Server) FaultsInjected() int { return s.faults.count() }

// serveAPI is the API host: common headers, injected faults, the rate ceiling, then the
// routes.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Request-Id", newID("req-"))
	limit := s.cfg.rateLimit
	if limit == 0 {
		limit = advertisedRateLimit
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	if !s.cfg.scalr {
		h.Set("TFP-API-Version", "2.6")
		h.Set("TFP-AppName", "HCP Terraform")
	}
	if s.faults.inject(w, r) {
		return
	}
	if !s.allow(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// allow enforces WithRateLimit, keyed by the bearer token (or the remote address).
func (s *Server) allow(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.rateLimit <= 0 {
		return true
	}
	key := bearer(r)
	if key == "" {
		key, _, _ = strings.Cut(r.RemoteAddr, ":")
	}
	s.mu.Lock()
	l := s.limiters[key]
	if l == nil {
		l = tfc.NewWindowLimiter(s.cfg.rateLimit, time.Second)
		s.limiters[key] = l
	}
	s.mu.Unlock()
	ok, wait := l.Allow()
	if ok {
		return true
	}
	w.Header().Set("X-RateLimit-Reset", strconv.FormatFloat(wait.Seconds(), 'f', 3, 64))
	writeRateLimited(w)
	return false
}

// writeRateLimited writes the documented 429 body, whose status is a number.
func writeRateLimited(w http.ResponseWriter) {
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"errors": []map[string]any{{
		"detail": "You have exceeded the API's rate limit.", "status": http.StatusTooManyRequests, "title": "Too many requests",
	}}})
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(token)
}

// authed wraps a handler of the API proper: it needs the API token.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(s.Token)) != 1 {
			writeError(w, unauthorized())
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	}
}

// open wraps a handler that does its own authorization (the ping, callbacks and
// downloads).
func open(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	}
}

func unauthorized() *httpError { return newError(http.StatusUnauthorized, "unauthorized", "") }

// routeHCP mounts the HCP Terraform API under /api/v2/.
func (s *Server) routeHCP() {
	routes := map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /api/v2/organizations/{org}":                   s.getOrganization,
		"PATCH /api/v2/organizations/{org}":                 s.updateOrganization,
		"GET /api/v2/organizations/{org}/entitlement-set":   s.getEntitlementSet,
		"GET /api/v2/organizations/{org}/workspaces":        s.listWorkspaces,
		"GET /api/v2/organizations/{org}/workspaces/{name}": s.getWorkspaceByName,
		"GET /api/v2/workspaces/{id}":                       s.getWorkspace,

		"POST /api/v2/organizations/{org}/tasks": s.createRunTask,
		"GET /api/v2/organizations/{org}/tasks":  s.listRunTasks,
		"GET /api/v2/tasks/{id}":                 s.getRunTask,
		"PATCH /api/v2/tasks/{id}":               s.updateRunTask,
		"DELETE /api/v2/tasks/{id}":              s.deleteRunTask,

		"POST /api/v2/organizations/{org}/task-configs": s.createTaskConfig,
		"GET /api/v2/organizations/{org}/task-configs":  s.listTaskConfigs,
		"PATCH /api/v2/task-configs/{id}":               s.updateTaskConfig,

		"POST /api/v2/workspaces/{id}/tasks":            s.createWorkspaceTask,
		"GET /api/v2/workspaces/{id}/tasks":             s.listWorkspaceTasks,
		"GET /api/v2/workspaces/{id}/tasks/{wstask}":    s.getWorkspaceTask,
		"PATCH /api/v2/workspaces/{id}/tasks/{wstask}":  s.updateWorkspaceTask,
		"DELETE /api/v2/workspaces/{id}/tasks/{wstask}": s.deleteWorkspaceTask,

		"GET /api/v2/runs/{id}":                                   s.getRun,
		"GET /api/v2/organizations/{org}/runs":                    s.listOrganizationRuns,
		"GET /api/v2/workspaces/{id}/runs":                        s.listRuns,
		"POST /api/v2/runs/{id}/actions/apply":                    s.applyRun,
		"POST /api/v2/runs/{id}/actions/discard":                  s.discardRun,
		"POST /api/v2/runs/{id}/actions/cancel":                   s.cancelRun,
		"POST /api/v2/runs/{id}/actions/force-cancel":             s.forceCancelRun,
		"POST /api/v2/runs/{id}/actions/force-execute":            s.forceExecuteRun,
		"GET /api/v2/runs/{id}/task-stages":                       s.listTaskStages,
		"GET /api/v2/task-stages/{id}":                            s.getTaskStage,
		"POST /api/v2/task-stages/{id}/actions/override":          s.overrideTaskStage,
		"GET /api/v2/task-stages/{id}/policy-evaluations":         s.listPolicyEvaluations,
		"GET /api/v2/policy-evaluations/{id}/policy-set-outcomes": s.listPolicySetOutcomes,
		"GET /api/v2/policy-set-outcomes/{id}":                    s.getPolicySetOutcome,
		"GET /api/v2/task-results/{id}":                           s.getTaskResult,
		"GET /api/v2/runs/{id}/policy-checks":                     s.listPolicyChecks,
		"GET /api/v2/policy-checks/{id}":                          s.getPolicyCheck,
		"POST /api/v2/policy-checks/{id}/actions/override":        s.overridePolicyCheck,
		"GET /api/v2/policy-checks/{id}/output":                   s.policyCheckOutput,
		"GET " + testConfigurationRoute:                           s.getTestConfiguration,
		"PATCH " + testConfigurationRoute:                         s.updateTestConfiguration,
	}
	for pattern, h := range routes {
		s.mux.Handle(pattern, s.authed(h))
	}
	// These take a run's access token, or nothing, instead of the API token.
	s.mux.Handle("GET /api/v2/ping", open(s.ping))
	s.mux.Handle("PATCH /api/v2/task-results/{guid}/callback", open(s.callback))
	s.mux.Handle("GET /api/v2/plans/{id}/json-output", open(s.planJSON))
	s.mux.Handle("GET /api/v2/configuration-versions/{id}/download", open(s.configurationDownload))
}

// routeScalr mounts Scalr's policy check endpoints under /api/iacp/v3/.
func (s *Server) routeScalr() {
	for pattern, h := range map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /api/iacp/v3/runs/{id}/policy-checks":              s.listPolicyChecks,
		"GET /api/iacp/v3/policy-checks/{id}":                   s.getPolicyCheck,
		"POST /api/iacp/v3/policy-checks/{id}/actions/override": s.overridePolicyCheck,
		"GET /api/iacp/v3/policy-checks/{id}/output":            s.policyCheckOutput,
	} {
		s.mux.Handle(pattern, s.authed(h))
	}
}

// ping answers GET /api/v2/ping: 204 with the headers serveAPI sets (the rate limit,
// the API version and the app name), which is all go-tfe's NewClient reads.
func (s *Server) ping(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// notifyLocked wakes everyone waiting for a change of a run.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// errClosed is what waits return once the server is closed.
var errClosed = errors.New("tfctest: the server is closed")

// blob is something the blob store serves.
type blob struct {
	contentType string
	data        []byte
}

// putBlobLocked stores data under a fresh secret URL on the blob host and returns the
// URL, the "signed URL" downloads redirect to.
func (s *Server) putBlobLocked(contentType string, data []byte) string {
	key := newSecret()
	s.blobs[key] = blob{contentType: contentType, data: data}
	return s.blob.URL + "/v1/object/" + key
}

// serveBlob is the blob store: it serves what putBlobLocked stored, to anyone with the
// URL, and notes whether a request came with an Authorization header.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if r.Header.Get("Authorization") != "" {
		s.blobSawAuth = true
	}
	key, _ := strings.CutPrefix(r.URL.Path, "/v1/object/")
	b, ok := s.blobs[key]
	s.mu.Unlock()
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", b.contentType)
	_, _ = w.Write(b.data)
}
