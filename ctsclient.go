package tfc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tfkit/tfc/internal/printguard"
)

// DefaultCTSAddress is where a Consul-Terraform-Sync daemon listens unless its
// configuration says otherwise.
const DefaultCTSAddress = "http://localhost:8558"

// ctsBasePath is the prefix of every CTS route; v1 is the API's only version.
const ctsBasePath = "/v1/"

// CTSClient talks to the HTTP API of a Consul-Terraform-Sync (CTS) daemon: plain JSON
// under /v1/, no token, optionally TLS with a client certificate. It shares the request
// pipeline of Client (retries, logging, *APIError) but not its JSON:API encoding. One
// CTSClient is safe for use by many goroutines.
//
// In a high-availability cluster only the leader serves /v1/tasks and /v1/status;
// a follower answers 400 and the call fails with an error matching ErrNotLeader (see
// NotLeaderError).
//
// Calls that run Terraform (a create or update with CTSRunNow or CTSRunInspect) answer
// only when the run or plan ends, so the default transport sets no response timeout:
// bound calls with their context.
type CTSClient struct {
	pipeline

	// Tasks lists, reads, creates, enables and disables, and deletes the daemon's tasks
	// (/v1/tasks), and reads their status (/v1/status/tasks).
	Tasks *CTSTasksService
}

// CTSTasksService is the task API of a CTS daemon; use it through CTSClient.Tasks.
type CTSTasksService struct {
	client *CTSClient
}

// CTSOption configures a CTSClient. Options apply in the order given; a later option
// wins.
type CTSOption func(*ctsSettings) error

// ctsSettings collects what the options ask for before NewCTSClient validates it all.
type ctsSettings struct {
	address    string
	httpClient *http.Client
	tlsConfig  *tls.Config
	caFile     string
	caPath     string
	certFile   string
	keyFile    string
	skipVerify *bool // nil leaves InsecureSkipVerify as the TLS config has it
	userAgent  string
	logger     *slog.Logger
	retry      RetryPolicy
}

// NewCTSClient returns a CTSClient configured by opts. It makes no network call and
// reads no environment variable (see CTSFromEnv); it does read the certificate files
// that TLS options name, and fails when one cannot be read or holds no certificate, or
// when an option is invalid (an address that is not an http(s) URL, a client
// certificate without its key).
//
// Without options the client talks to http://localhost:8558/v1/ with the default retry
// policy and no rate ceiling (the daemon is local and unmetered). Transport errors and
// 5xx answers are retried for calls that are safe to repeat: the GETs (but Health),
// Tasks.Delete, and Tasks.Update unless it runs the task. Tasks.Create, and
// Tasks.Update with CTSRunNow, are retried only on 429 or when the request surely never
// reached the daemon.
func NewCTSClient(opts ...CTSOption) (*CTSClient, error) {
	s := ctsSettings{address: DefaultCTSAddress, retry: DefaultRetryPolicy()}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if err := s.retry.validate(); err != nil {
		return nil, err
	}
	base, err := ctsBaseURL(s.address)
	if err != nil {
		return nil, err
	}
	hc, err := s.buildHTTPClient()
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
	c := &CTSClient{pipeline: pipeline{
		base:       base,
		baseStr:    base.String(),
		userAgent:  ua,
		mediaType:  mediaTypeJSON,
		logger:     logger,
		retry:      s.retry,
		parseError: parseCTSError,
		wrapError:  wrapCTSError,
	}}
	c.http = c.newRetryClient(hc)
	c.Tasks = &CTSTasksService{client: c}
	return c, nil
}

// BaseURL returns the URL every CTS path is resolved against, for example
// http://localhost:8558/v1/.
func (c *CTSClient) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// String describes the client by its base URL; it exists so that printing a CTSClient
// (%v, %+v, %#v) cannot reach its TLS configuration and client key.
func (c CTSClient) String() string { return "tfc.CTSClient(" + c.baseStr + ")" }

// GoString is String.
func (c CTSClient) GoString() string { return c.String() }

// Format prints String whatever the verb, so that no verb reaches the fields behind it.
func (c CTSClient) Format(f fmt.State, verb rune) { printguard.Format(f, verb, c) }

// WithCTSAddress sets the daemon's address: an http or https URL with a host, for
// example "https://cts.example.com:8558" (default http://localhost:8558). A path in the
// URL is kept as a prefix in front of /v1/. The scheme is required, as for CTS_ADDRESS.
func WithCTSAddress(address string) CTSOption {
	return func(s *ctsSettings) error {
		s.address = address
		return nil
	}
}

// WithCTSHTTPClient sets the *http.Client requests go through. The client is copied.
// When TLS options are given too, its Transport must be nil or an *http.Transport,
// which is cloned and given the TLS configuration. Its Timeout, if any, bounds each
// attempt, including a create or update that runs Terraform.
func WithCTSHTTPClient(hc *http.Client) CTSOption {
	return func(s *ctsSettings) error {
		if hc == nil {
			return invalidArg("CTS http client", "must not be nil")
		}
		s.httpClient = hc
		return nil
	}
}

// WithCTSTLSConfig sets the TLS configuration to start from. It is cloned; the CA,
// client certificate and verification options apply on top of the clone.
func WithCTSTLSConfig(conf *tls.Config) CTSOption {
	return func(s *ctsSettings) error {
		if conf == nil {
			return invalidArg("CTS TLS config", "must not be nil")
		}
		s.tlsConfig = conf
		return nil
	}
}

// WithCTSCACert verifies the daemon's certificate against the PEM certificates in file
// instead of the system roots (CTS_CACERT). When a CA directory is set too, the file
// wins, as in the CTS command line.
func WithCTSCACert(file string) CTSOption {
	return func(s *ctsSettings) error {
		s.caFile = file
		return nil
	}
}

// WithCTSCAPath verifies the daemon's certificate against the PEM certificates of every
// file below dir instead of the system roots (CTS_CAPATH). Each file must hold at least
// one certificate.
func WithCTSCAPath(dir string) CTSOption {
	return func(s *ctsSettings) error {
		s.caPath = dir
		return nil
	}
}

// WithCTSClientCert presents the certificate and key in the given PEM files to the
// daemon, for a daemon that verifies incoming connections (mutual TLS; CTS_CLIENT_CERT
// and CTS_CLIENT_KEY). Both files are required.
func WithCTSClientCert(certFile, keyFile string) CTSOption {
	return func(s *ctsSettings) error {
		if certFile == "" || keyFile == "" {
			return invalidArg("CTS client certificate", "needs both a certificate file and a key file")
		}
		s.certFile, s.keyFile = certFile, keyFile
		return nil
	}
}

// WithCTSInsecureSkipVerify turns verification of the daemon's certificate off (skip
// true, what CTS_SSL_VERIFY=false asks for) or back on. Only for tests and local
// daemons with self-signed certificates.
func WithCTSInsecureSkipVerify(skip bool) CTSOption {
	return func(s *ctsSettings) error {
		s.skipVerify = &skip
		return nil
	}
}

// WithCTSUserAgent puts product in front of tfc's own User-Agent, for example
// "cts-toggle/1.0 tfc-go/0.1.0".
func WithCTSUserAgent(product string) CTSOption {
	return func(s *ctsSettings) error {
		if strings.ContainsAny(product, "\r\n") {
			return invalidArg("user agent", "must not contain line breaks")
		}
		s.userAgent = product
		return nil
	}
}

// WithCTSLogger sets the logger for request and retry events (debug level for each
// attempt, warn for retries): method, path, status and duration.
func WithCTSLogger(logger *slog.Logger) CTSOption {
	return func(s *ctsSettings) error {
		s.logger = logger
		return nil
	}
}

// WithCTSRetryPolicy sets how failed attempts are retried; see RetryPolicy and
// NewCTSClient for which calls are retried on what.
func WithCTSRetryPolicy(p RetryPolicy) CTSOption {
	return func(s *ctsSettings) error {
		s.retry = p
		return nil
	}
}

// CTSFromEnv reads, when the option is applied, the variables the CTS command line
// uses:
//   - CTS_ADDRESS: the daemon's http(s) URL.
//   - CTS_CACERT: a PEM file of CA certificates (as WithCTSCACert).
//   - CTS_CAPATH: a directory of PEM CA certificates (as WithCTSCAPath).
//   - CTS_CLIENT_CERT and CTS_CLIENT_KEY: the client certificate and key files, both
//     or neither.
//   - CTS_SSL_VERIFY: true (the default) or false, which skips verification of the
//     daemon's certificate.
//
// Unset or empty variables leave the current settings alone, so CTSFromEnv can come
// before or after explicit options. A lone CTS_CLIENT_CERT or CTS_CLIENT_KEY, or a
// CTS_SSL_VERIFY that is not a boolean, is an error.
func CTSFromEnv() CTSOption {
	return func(s *ctsSettings) error {
		if v := os.Getenv("CTS_ADDRESS"); v != "" {
			s.address = v
		}
		if v := os.Getenv("CTS_CACERT"); v != "" {
			s.caFile = v
		}
		if v := os.Getenv("CTS_CAPATH"); v != "" {
			s.caPath = v
		}
		cert, key := os.Getenv("CTS_CLIENT_CERT"), os.Getenv("CTS_CLIENT_KEY")
		if (cert == "") != (key == "") {
			return invalidArg("CTS_CLIENT_CERT and CTS_CLIENT_KEY", "must be set together")
		}
		if cert != "" {
			s.certFile, s.keyFile = cert, key
		}
		if v := os.Getenv("CTS_SSL_VERIFY"); v != "" {
			verify, err := strconv.ParseBool(v)
			if err != nil {
				return invalidArg("CTS_SSL_VERIFY", "must be true or false")
			}
			skip := !verify
			s.skipVerify = &skip
		}
		return nil
	}
}

// ctsDo sends c through the pipeline and decodes the plain JSON answer into a new T.
func ctsDo[T any](ctx context.Context, p *pipeline, c call) (*T, error) {
	out := new(T)
	if err := p.do(ctx, c, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ctsBaseURL turns a CTS address into the base URL ending in /v1/. Unlike a Terraform
// address, a CTS address needs its scheme: the daemon defaults to plain http, so
// guessing either scheme would be wrong half the time.
func ctsBaseURL(address string) (*url.URL, error) {
	address = strings.TrimSpace(address)
	if !strings.Contains(address, "://") {
		return nil, invalidArg("CTS address", `must be an http:// or https:// URL, for example "http://localhost:8558"`)
	}
	if u, err := url.Parse(address); err == nil && u.User != nil {
		return nil, invalidArg("CTS address", "must not carry user information")
	}
	return parseBaseURL(address, ctsBasePath)
}

// buildHTTPClient returns the *http.Client the pipeline wraps. Without TLS options a
// caller's client is used as it is; otherwise its transport (or a default one) is
// cloned and given the TLS configuration, so the caller's transport is never changed.
func (s *ctsSettings) buildHTTPClient() (*http.Client, error) {
	conf, err := s.buildTLSConfig()
	if err != nil {
		return nil, err
	}
	if s.httpClient != nil && conf == nil {
		return s.httpClient, nil
	}
	var hc http.Client
	if s.httpClient != nil {
		hc = *s.httpClient
	}
	switch t := hc.Transport.(type) {
	case nil:
		hc.Transport = newCTSTransport(conf)
	case *http.Transport:
		t = t.Clone()
		t.TLSClientConfig = conf
		hc.Transport = t
	default:
		return nil, invalidArg("CTS http client", "TLS options need its Transport to be nil or an *http.Transport; configure TLS on your transport instead")
	}
	return &hc, nil
}

// newCTSTransport is the default transport without the bound on waiting for response
// headers: the daemon answers a call that runs Terraform only when the run ends, which
// can take far longer than any fixed bound, and a retried inspect would plan twice.
func newCTSTransport(conf *tls.Config) *http.Transport {
	t := newDefaultTransport()
	t.ResponseHeaderTimeout = 0
	if conf != nil {
		t.TLSClientConfig = conf
	}
	return t
}

// buildTLSConfig returns the TLS configuration the options ask for, or nil when they
// ask for nothing (the transport's default then applies).
func (s *ctsSettings) buildTLSConfig() (*tls.Config, error) {
	if s.tlsConfig == nil && s.caFile == "" && s.caPath == "" && s.certFile == "" && s.skipVerify == nil {
		return nil, nil
	}
	conf := &tls.Config{}
	if s.tlsConfig != nil {
		conf = s.tlsConfig.Clone()
	}
	switch {
	case s.caFile != "":
		pool, err := loadCAFile(s.caFile)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	case s.caPath != "":
		pool, err := loadCAPath(s.caPath)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	}
	if s.certFile != "" {
		cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			return nil, fmt.Errorf("tfc: CTS client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	if s.skipVerify != nil {
		conf.InsecureSkipVerify = *s.skipVerify
	}
	return conf, nil
}

// loadCAFile reads a PEM file of CA certificates into a new pool.
func loadCAFile(file string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := appendCAFile(pool, file); err != nil {
		return nil, fmt.Errorf("tfc: CTS CA file: %w", err)
	}
	return pool, nil
}

// loadCAPath reads every file below dir into a new pool; each must hold a PEM
// certificate, so that a stray file is reported rather than silently trusted or
// skipped.
func loadCAPath(dir string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		return appendCAFile(pool, path)
	})
	if err == nil && files == 0 {
		err = errors.New("no certificate files in " + dir)
	}
	if err != nil {
		return nil, fmt.Errorf("tfc: CTS CA path: %w", err)
	}
	return pool, nil
}

func appendCAFile(pool *x509.CertPool, file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New(file + " holds no PEM certificate")
	}
	return nil
}

// ErrNotLeader matches the error of a call answered by a follower of a
// high-availability CTS cluster: only the leader serves /v1/tasks and /v1/status. The
// error is a *NotLeaderError, which names the leader when the follower knows it.
var ErrNotLeader = errors.New("tfc: not the CTS leader")

// NotLeaderError is a follower's 400 answer, "redirect requests to leader 'ID' at
// ADDRESS" (or without the address, or without both). It matches ErrNotLeader with
// errors.Is and unwraps to the *APIError. The call is not retried or redirected: the
// address is what the leader advertises (usually host:port, without a scheme), so
// point a client at it yourself.
type NotLeaderError struct {
	// LeaderID is the leader's instance ID, "" when the follower does not know it.
	LeaderID string
	// LeaderAddress is the leader's advertised address, "" when it has none configured
	// or the follower does not know the leader.
	LeaderAddress string
	// Err is the 400 response.
	Err *APIError
}

// Error returns the 400 response's message, which names the leader when the follower
// knows it.
func (e *NotLeaderError) Error() string {
	if e.Err == nil {
		return ErrNotLeader.Error()
	}
	return e.Err.Error()
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Unwrap returns the *APIError, so that errors.As reaches it.
func (e *NotLeaderError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// parseCTSError fills e from a CTS error body, {"error":{"message":…},"request_id":…},
// or summarises a body that is not one. The message becomes the detail of e's one error
// object, so that the *APIError reads the same for every API.
func parseCTSError(e *APIError, body []byte) {
	var doc struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error != nil && doc.Error.Message != "" {
		e.Errors = []ErrorObject{{Detail: doc.Error.Message}}
		if doc.RequestID != "" {
			e.RequestID = doc.RequestID
		}
		return
	}
	e.Message = summarizeBody(body)
}

// wrapCTSError turns a follower's redirect answer into a *NotLeaderError.
func wrapCTSError(e *APIError) error {
	if e.StatusCode != http.StatusBadRequest || len(e.Errors) == 0 {
		return e
	}
	id, addr, ok := parseLeaderRedirect(e.Errors[0].Detail)
	if !ok {
		return e
	}
	return &NotLeaderError{LeaderID: id, LeaderAddress: addr, Err: e}
}

const leaderRedirectPrefix = "redirect requests to leader"

// parseLeaderRedirect reads the documented follower messages:
//
//	redirect requests to leader 'ID' at ADDRESS
//	redirect requests to leader 'ID'
//	redirect requests to leader
//
// ok is false for any other message. Whatever follows the prefix is read leniently: an
// unterminated quote gives no ID, a missing address gives none.
func parseLeaderRedirect(msg string) (id, addr string, ok bool) {
	msg = strings.TrimSpace(msg)
	if len(msg) < len(leaderRedirectPrefix) || !strings.EqualFold(msg[:len(leaderRedirectPrefix)], leaderRedirectPrefix) {
		return "", "", false
	}
	rest := msg[len(leaderRedirectPrefix):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", "", false // "redirect requests to leadership…" is another message
	}
	rest = strings.TrimSpace(rest)
	quoted, found := strings.CutPrefix(rest, "'")
	if !found {
		return "", "", true
	}
	id, rest, found = strings.Cut(quoted, "'")
	if !found {
		return "", "", true
	}
	if at, found := strings.CutPrefix(strings.TrimSpace(rest), "at "); found {
		if fields := strings.Fields(at); len(fields) > 0 {
			addr = strings.TrimRight(fields[0], ".,;")
		}
	}
	return id, addr, true
}
