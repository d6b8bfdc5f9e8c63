package tfc

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tfkit/tfc/internal/printguard"
)

// Version is the version of this SDK, sent in the User-Agent header.
const Version = "0.1.0"

// Defaults used by NewClient when no option overrides them.
const (
	// DefaultAddress is HCP Terraform.
	DefaultAddress = "https://app.terraform.io"
	// DefaultBasePath is the path prefix of the HCP Terraform and Terraform Enterprise API.
	DefaultBasePath = "/api/v2/"
	// DefaultRateLimit is the client-side ceiling: HCP Terraform allows 30 requests per
	// second per user.
	DefaultRateLimit = 30
)

// Client talks to the HCP Terraform / Terraform Enterprise API (or Scalr's, with the
// Scalr option). One Client is safe for use by many goroutines; they share its rate
// ceiling and its connection pool, so create one per identity and reuse it.
type Client struct {
	pipeline

	common service // shared by the services below, so building a Client allocates them once

	// RunTasks manages organization run tasks (/organizations/:org/tasks, /tasks/:id).
	RunTasks *RunTasksService
	// WorkspaceRunTasks attaches run tasks to workspaces (/workspaces/:id/tasks).
	WorkspaceRunTasks *WorkspaceRunTasksService
	// TaskStages reads and overrides the task stages of a run.
	TaskStages *TaskStagesService
	// TaskResults reads task results and sends run task callbacks.
	TaskResults *TaskResultsService
	// Organizations reads an organization's entitlement set and module test settings.
	Organizations *OrganizationsService
	// PolicyChecks lists, reads, waits on and overrides the policy checks of runs and
	// streams their output, on HCP Terraform (/api/v2) and Scalr (/api/iacp/v3).
	PolicyChecks *PolicyChecksService
	// TestConfigurations turns OIDC dynamic credentials for registry module tests on
	// and off (/registry-modules/…/test-configuration).
	TestConfigurations *TestConfigurationsService
	// PolicyEvaluations lists the policy evaluations of task stages
	// (/task-stages/:id/policy-evaluations), the successor of policy checks.
	PolicyEvaluations *PolicyEvaluationsService
	// PolicySetOutcomes lists and reads the per-policy results of policy evaluations
	// (/policy-evaluations/:id/policy-set-outcomes, /policy-set-outcomes/:id).
	PolicySetOutcomes *PolicySetOutcomesService
	// TaskConfigs lists, creates and updates the configurations of run tasks
	// (/organizations/:org/task-configs, /task-configs/:id).
	TaskConfigs *TaskConfigsService
	// Workspaces reads workspaces by organization and name or by ID.
	Workspaces *WorkspacesService
	// Runs reads, lists, applies, discards and cancels runs.
	Runs *RunsService
}

// service is the value every service type is converted from.
type service struct {
	client *Client
}

// Option configures a Client. Options apply in the order given; a later option wins.
type Option func(*settings) error

// settings collects what the options ask for before NewClient validates it all.
type settings struct {
	token       Secret
	address     string
	basePath    string
	httpClient  *http.Client
	userAgent   string
	headers     http.Header
	logger      *slog.Logger
	limiter     Limiter
	retry       RetryPolicy
	environment func(string) string
}

// NewClient returns a Client configured by opts. It makes no network call and reads no
// environment variable (see FromEnv). It fails when an option is invalid, for example an
// address that is not an http(s) URL or host name.
//
// Without options the client talks to https://app.terraform.io/api/v2/ with no token,
// at most 30 requests per second, and the default retry policy.
func NewClient(opts ...Option) (*Client, error) {
	s := settings{
		address:  DefaultAddress,
		basePath: DefaultBasePath,
		headers:  make(http.Header),
		limiter:  defaultLimiter(),
		retry:    DefaultRetryPolicy(),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if err := validateToken(s.token); err != nil {
		return nil, err
	}
	if err := s.retry.validate(); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(s.address, s.basePath)
	if err != nil {
		return nil, err
	}

	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ua := "tfc-go/" + Version
	if s.userAgent != "" {
		ua = s.userAgent + " " + ua
	}

	c := &Client{pipeline: pipeline{
		base:       base,
		baseStr:    base.String(),
		creds:      &credentials{token: s.token, headers: s.headers},
		userAgent:  ua,
		mediaType:  mediaTypeJSONAPI,
		logger:     logger,
		retry:      s.retry,
		limiter:    s.limiter,
		parseError: parseJSONAPIError,
	}}
	c.http = c.newRetryClient(s.httpClient)

	c.common.client = c
	c.RunTasks = (*RunTasksService)(&c.common)
	c.WorkspaceRunTasks = (*WorkspaceRunTasksService)(&c.common)
	c.TaskStages = (*TaskStagesService)(&c.common)
	c.TaskResults = (*TaskResultsService)(&c.common)
	c.Organizations = (*OrganizationsService)(&c.common)
	c.PolicyChecks = (*PolicyChecksService)(&c.common)
	c.TestConfigurations = (*TestConfigurationsService)(&c.common)
	c.PolicyEvaluations = (*PolicyEvaluationsService)(&c.common)
	c.PolicySetOutcomes = (*PolicySetOutcomesService)(&c.common)
	c.TaskConfigs = (*TaskConfigsService)(&c.common)
	c.Workspaces = (*WorkspacesService)(&c.common)
	c.Runs = (*RunsService)(&c.common)
	return c, nil
}

// BaseURL returns the URL every API path is resolved against, for example
// https://app.terraform.io/api/v2/.
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// WithToken sets the API token sent as "Authorization: Bearer <token>". The token never
// appears in logs or error strings.
func WithToken(token string) Option {
	return func(s *settings) error {
		s.token = Secret(token)
		return nil
	}
}

// WithAddress sets the service address: a host name ("app.terraform.io",
// "tfe.example.com:8443", https is assumed) or an http(s) URL. A path in the URL is kept
// as a prefix in front of the base path.
func WithAddress(address string) Option {
	return func(s *settings) error {
		s.address = address
		return nil
	}
}

// WithBasePath sets the path prefix of every API call (default "/api/v2/").
func WithBasePath(path string) Option {
	return func(s *settings) error {
		if !strings.HasPrefix(path, "/") {
			return invalidArg("base path", "must start with /")
		}
		s.basePath = path
		return nil
	}
}

// WithHTTPClient sets the *http.Client requests go through. The client is copied: tfc
// wraps its transport with the rate ceiling and its redirect policy so that the token
// never follows a redirect to another host. Its Timeout, if any, bounds each attempt;
// streamed downloads are bounded by their context instead, so prefer context deadlines.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return invalidArg("http client", "must not be nil")
		}
		s.httpClient = hc
		return nil
	}
}

// WithUserAgent puts product in front of tfc's own User-Agent, for example
// "my-tool/1.2 tfc-go/0.1.0".
func WithUserAgent(product string) Option {
	return func(s *settings) error {
		if strings.ContainsAny(product, "\r\n") {
			return invalidArg("user agent", "must not contain line breaks")
		}
		s.userAgent = product
		return nil
	}
}

// WithHeader adds a header sent with every request, for example
// WithHeader("Prefer", "profile=preview"). Authorization, Content-Type and Accept are
// set by tfc and cannot be overridden here.
func WithHeader(key, value string) Option {
	return func(s *settings) error {
		ck := http.CanonicalHeaderKey(key)
		switch ck {
		case "Authorization", "Content-Type", "Accept", "User-Agent":
			return invalidArg("header "+ck, "is set by tfc; use the dedicated option")
		}
		if key == "" || strings.ContainsAny(key+value, "\r\n") {
			return invalidArg("header", "name must be non-empty and neither name nor value may contain line breaks")
		}
		s.headers.Add(ck, value)
		return nil
	}
}

// WithLogger sets the logger for request and retry events (debug level for each
// attempt, warn for retries). Log records carry method, path, status, attempt and
// request id, never tokens, keys, Authorization headers or signed blob URLs.
func WithLogger(logger *slog.Logger) Option {
	return func(s *settings) error {
		s.logger = logger
		return nil
	}
}

// WithRateLimit sets the client-side ceiling to at most n requests in any one-second
// window (default 30), counted per attempt, retries included. n <= 0 removes the
// ceiling.
func WithRateLimit(n int) Option {
	return func(s *settings) error {
		if n <= 0 {
			s.limiter = nil
			return nil
		}
		s.limiter = NewWindowLimiter(n, time.Second+windowGuard)
		return nil
	}
}

// WithRateLimiter replaces the ceiling with l, which every attempt waits on with the
// request's context. Share one limiter between clients that act as the same user (the
// service counts requests per user, not per token). A *rate.Limiter from
// golang.org/x/time/rate satisfies Limiter. A nil l removes the ceiling.
func WithRateLimiter(l Limiter) Option {
	return func(s *settings) error {
		s.limiter = l
		return nil
	}
}

// WithRetryPolicy sets how failed attempts are retried; see RetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(s *settings) error {
		s.retry = p
		return nil
	}
}

// ScalrBasePath is the path prefix of Scalr's API, version 3.
const ScalrBasePath = "/api/iacp/v3/"

// WithScalr points the client at a Scalr account: https://<account>.scalr.io with the
// base path /api/iacp/v3/. Authentication (a Bearer token), errors and pagination work
// as with HCP Terraform. account must be a DNS label (letters, digits and inner
// hyphens, at most 63). A later WithAddress replaces the host and keeps the base path,
// for a self-hosted Scalr or a test server.
func WithScalr(account string) Option {
	return func(s *settings) error {
		if !isDNSLabel(account) {
			return invalidArg("Scalr account", "must be a DNS label: 1 to 63 letters, digits or inner hyphens")
		}
		s.address = "https://" + strings.ToLower(account) + ".scalr.io"
		s.basePath = ScalrBasePath
		return nil
	}
}

// WithScalrPreview sends "Prefer: profile=preview" with every request, which Scalr's
// preview API documents as required. The current public API answers without it, so it
// is an opt-in.
func WithScalrPreview() Option {
	return func(s *settings) error {
		s.headers.Set("Prefer", "profile=preview")
		return nil
	}
}

// isDNSLabel reports whether s is one host name label (RFC 1123).
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// FromEnv reads TFE_TOKEN and TFE_ADDRESS (the variables go-tfe and the Terraform
// tooling use) when the option is applied. Unset or empty variables leave the current
// settings alone, so FromEnv can come before or after explicit options.
func FromEnv() Option {
	return func(s *settings) error {
		getenv := s.environment
		if getenv == nil {
			getenv = os.Getenv
		}
		if v := getenv("TFE_TOKEN"); v != "" {
			s.token = Secret(v)
		}
		if v := getenv("TFE_ADDRESS"); v != "" {
			s.address = v
		}
		return nil
	}
}

// parseBaseURL joins an address (host or URL) and a base path into an absolute URL that
// ends in "/".
func parseBaseURL(address, basePath string) (*url.URL, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return nil, invalidArg("address", "must not be empty")
	}
	if !strings.Contains(address, "://") {
		address = "https://" + address
	}
	u, err := url.Parse(address)
	if err != nil {
		return nil, invalidArg("address", "is not a valid URL or host name")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, invalidArg("address", fmt.Sprintf("scheme %q is not http or https", u.Scheme))
	case u.Host == "" || u.Hostname() == "":
		return nil, invalidArg("address", "has no host")
	case u.User != nil:
		return nil, invalidArg("address", "must not carry user information; use WithToken")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, invalidArg("address", "must not have a query or fragment")
	}
	prefix := strings.TrimSuffix(u.Path, "/")
	path := prefix + "/" + strings.Trim(basePath, "/") + "/"
	path = strings.ReplaceAll(path, "//", "/")
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: path}, nil
}

// validateToken rejects tokens that could not travel in a header, without echoing them.
func validateToken(token Secret) error {
	for i := 0; i < len(token); i++ {
		if b := token[i]; b <= ' ' || b >= 0x7f {
			return invalidArg("token", "contains whitespace or non-printable characters")
		}
	}
	return nil
}

// errNoToken is returned before the network when a call needs the API token and the
// client has none.
var errNoToken = &ArgumentError{Name: "token", Problem: "no API token is configured (use WithToken or FromEnv)"}

// CloseIdleConnections closes the connections the client keeps open for reuse. Requests
// in flight are not interrupted; later requests open new connections.
func (c *Client) CloseIdleConnections() { c.pipeline.http.HTTPClient.CloseIdleConnections() }

// String describes the client by its base URL, so that printing a Client or a
// *Client (%v, %+v, %#v) shows neither its token (held as a Secret in any case) nor its
// headers.
func (c Client) String() string { return "tfc.Client(" + c.baseStr + ")" }

// GoString is String.
func (c Client) GoString() string { return c.String() }

// Format prints String whatever the verb, so that no verb reaches the fields behind it.
func (c Client) Format(f fmt.State, verb rune) { printguard.Format(f, verb, c) }
