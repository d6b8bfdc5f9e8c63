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
	"strings"
	"sync"
	"time"

	"github.com/google/go-querystring/query"
	"github.com/hashicorp/go-retryablehttp"
)

// Media types of the APIs tfc speaks.
const (
	mediaTypeJSONAPI = "application/vnd.api+json"
	mediaTypeJSON    = "application/json"
)

// Bounds on what tfc reads from a response into memory. Streams handed to the caller
// (plan JSON, policy output) are not bounded here.
const (
	maxResponseBody = 64 << 20 // a decoded JSON document
	maxErrorBody    = 64 << 10 // an error body kept for *APIError
	drainLimit      = 4 << 10  // what is read from an unused body so the connection is reused
)

// pipeline is the one path every request takes: URL building, encoding, auth, the rate
// ceiling, retries, status mapping and decoding. Client embeds it for the JSON:API
// services; the CTS client embeds its own with plain JSON.
type pipeline struct {
	base      *url.URL
	baseStr   string
	creds     *credentials // nil for the CTS client, which sends neither a token nor extra headers
	userAgent string
	mediaType string // Accept, and Content-Type of bodies
	logger    *slog.Logger
	retry     RetryPolicy
	limiter   Limiter
	http      *retryablehttp.Client
	// parseError fills e from an error response body of this API.
	parseError func(e *APIError, body []byte)
	// wrapError, if set, may turn an *APIError into a more specific error (which should
	// unwrap to it).
	wrapError func(e *APIError) error
}

// credentials are what a request carries besides its own content. They sit behind a
// pointer: fmt prints a pointer inside a struct as an address, and it does not call
// String methods on unexported fields, so only a pointer keeps them out of every printed
// form of a Client, also when a value holding a *Client is printed with a verb such as
// %s, which makes fmt spell out the pointed-to struct.
type credentials struct {
	token   Secret      // bearer token; never logged, never in errors
	headers http.Header // extra headers sent with every request, which may be secrets too
}

// call is one logical API call; send turns it into attempts.
type call struct {
	method string
	path   string // relative to the base URL, built with apiPath
	url    string // an absolute URL the service handed out (a callback URL); overrides path
	query  any    // a go-querystring struct, url.Values, or nil
	body   any    // encoded as JSON, or nil
	token  Secret // overrides the client token, for run task access tokens
	// urlName names url in argument errors, for example "task_result_callback_url".
	urlName string
	// notIdempotent makes a non-POST call retry like a POST: only on 429 or when the
	// request surely never left (a PATCH that also runs something).
	notIdempotent bool
	// limiter, if set, paces this call's attempts on top of the client's ceiling: a run
	// task delivery's window per access token.
	limiter Limiter
	// attempt, if set, is told the outcome of every attempt (a receiver's metrics).
	attempt func(*http.Response, error)
}

// callInfo rides on the request context so that the retry hooks and the transport,
// which go-retryablehttp calls without the call, can see it.
type callInfo struct {
	method     string
	path       string // display form of the URL: path only, no query, no secret
	host       string // the host the call was addressed to
	idempotent bool
	start      time.Time // when the first attempt began
	attempts   int       // attempts made
	retries    int       // retries decided, at most one more than made when they ran out
	stopped    string    // why the last transport error was not retried, when checkRetry knows
	limiter    Limiter   // the call's own limiter, if any
	attempt    func(*http.Response, error)
}

type callInfoKey struct{}

func callInfoFrom(ctx context.Context) *callInfo {
	info, _ := ctx.Value(callInfoKey{}).(*callInfo)
	return info
}

// do sends c and decodes a successful response body into out (unless out is nil or the
// status is 204 No Content).
func (p *pipeline) do(ctx context.Context, c call, out any) error {
	resp, info, err := p.send(ctx, c)
	if err != nil {
		return err
	}
	defer drainAndClose(resp.Body)
	return decodeJSON(resp, info, out)
}

// decodeJSON decodes a successful response body into out with encoding/json, unless
// out is nil or the status is 204 No Content. The body stays open for the caller.
func decodeJSON(resp *http.Response, info *callInfo, out any) error {
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(&cappedReader{r: resp.Body, n: maxResponseBody}).Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("tfc: %s %s: the response (%s) has no body", info.method, info.path, resp.Status)
		}
		return fmt.Errorf("tfc: %s %s: decoding the response: %w", info.method, info.path, err)
	}
	return nil
}

// withBody sends c and hands the successful response's body, read whole into a pooled
// buffer, to use (nil for 204 No Content). The buffer is reused once use returns, so
// use must finish with it: decode and convert, keep nothing that aliases it.
func (p *pipeline) withBody(ctx context.Context, c call, use func(body []byte) error) error {
	resp, info, err := p.send(ctx, c)
	if err != nil {
		return err
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode == http.StatusNoContent {
		return use(nil)
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer releaseBuffer(buf)
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength <= maxResponseBody {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(&cappedReader{r: resp.Body, n: maxResponseBody}); err != nil {
		return fmt.Errorf("tfc: %s %s: reading the response: %w", info.method, info.path, err)
	}
	if buf.Len() == 0 {
		return fmt.Errorf("tfc: %s %s: the response (%s) has no body", info.method, info.path, resp.Status)
	}
	if err := use(buf.Bytes()); err != nil {
		return fmt.Errorf("tfc: %s %s: decoding the response: %w", info.method, info.path, err)
	}
	return nil
}

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// releaseBuffer pools buf unless it grew large: one huge response should not pin its
// memory for the life of the process.
func releaseBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		bodyBuffers.Put(buf)
	}
}

// send runs c through the pipeline and returns the successful (2xx) response with its
// body open; the caller closes it. Any other outcome is an error: *ArgumentError before
// the network, *APIError for a non-2xx status, or a transport error.
func (p *pipeline) send(ctx context.Context, c call) (*http.Response, *callInfo, error) {
	if ctx == nil {
		return nil, nil, invalidArg("context", "must not be nil")
	}
	target, info, err := p.resolve(c)
	if err != nil {
		return nil, nil, err
	}
	token := c.token
	if token == "" && p.creds != nil {
		token = p.creds.token
	}
	if token == "" && p.mediaType == mediaTypeJSONAPI {
		return nil, nil, errNoToken
	}
	var body any // left nil, not a nil []byte, so that bodiless requests carry no Content-Length
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, nil, fmt.Errorf("tfc: %s %s: encoding the request body: %w", info.method, info.path, err)
		}
		body = b
	}

	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, callInfoKey{}, info), c.method, target, body)
	if err != nil {
		return nil, nil, fmt.Errorf("tfc: %s %s: building the request failed", info.method, info.path)
	}
	h := req.Header
	if p.creds != nil {
		for k, v := range p.creds.headers {
			h[k] = v
		}
	}
	h.Set("Accept", p.mediaType)
	if body != nil {
		h.Set("Content-Type", p.mediaType)
	}
	h.Set("User-Agent", p.userAgent)
	if token != "" {
		h.Set("Authorization", "Bearer "+string(token))
	}

	info.start = time.Now()
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, nil, transportError(info, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, p.apiError(info, resp)
	}
	return resp, info, nil
}

// resolve builds the absolute URL of c and the call's display form.
func (p *pipeline) resolve(c call) (string, *callInfo, error) {
	info := &callInfo{method: c.method, idempotent: c.method != http.MethodPost && !c.notIdempotent, limiter: c.limiter, attempt: c.attempt}
	if c.url != "" {
		u, err := url.Parse(c.url)
		if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL itself is not repeated: it may carry a secret.
			return "", nil, invalidArg(c.urlName, "is not an absolute http(s) URL")
		}
		info.host, info.path = u.Host, u.EscapedPath()
		return c.url, info, nil
	}
	target := p.baseStr + c.path
	info.host, info.path = p.base.Host, p.base.Path+c.path
	if c.query != nil {
		v, ok := c.query.(url.Values)
		if !ok {
			var err error
			if v, err = query.Values(c.query); err != nil {
				return "", nil, fmt.Errorf("tfc: %s %s: encoding the query: %w", info.method, info.path, err)
			}
		}
		if q := v.Encode(); q != "" {
			target += "?" + q
		}
	}
	return target, info, nil
}

// apiError turns a non-2xx response into an *APIError and closes its body.
func (p *pipeline) apiError(info *callInfo, resp *http.Response) error {
	defer resp.Body.Close()
	e := &APIError{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Method:     info.method,
		Path:       info.path,
		RequestID:  resp.Header.Get("X-Request-Id"),
	}
	if d, ok := serverAdvisedWait(resp.StatusCode, resp.Header, time.Now()); ok {
		e.RetryAfter = d
	}
	// After a redirect to another host (a blob store), the body may repeat the signed
	// URL, so only bodies from the host the call was addressed to are read.
	if resp.Request == nil || resp.Request.URL.Host == info.host {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		p.parseError(e, body)
	}
	if p.wrapError != nil {
		return p.wrapError(e)
	}
	return e
}

// transportError describes a failure to get any response, without the request URL that
// *url.Error would repeat (it may be a signed blob URL or carry a callback code). It
// says how many attempts were made and, when it is known, why there were no more.
func transportError(info *callInfo, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = redactNetHTTPError(err)
	attempts := max(info.attempts, 1)
	noun := "attempt"
	if attempts > 1 {
		noun = fmt.Sprintf("attempts in %v", time.Since(info.start).Round(10*time.Millisecond))
	}
	why := info.stopped
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		why = "" // the error says it
	}
	if why != "" {
		why = " (" + why + ")"
	}
	return fmt.Errorf("tfc: %s %s: giving up after %d %s%s: %w", info.method, info.path, attempts, noun, why, err)
}

// giveUp is go-retryablehttp's ErrorHandler: it hands back the last response when the
// retries ran out on a status (so that it becomes an *APIError), and the last error
// otherwise.
func giveUp(resp *http.Response, err error, _ int) (*http.Response, error) {
	if err == nil {
		return resp, nil
	}
	if resp != nil {
		drainAndClose(resp.Body)
	}
	return nil, err
}

// apiPath joins path segments, escaping each one, so that an ID can never change the
// shape of the path.
func apiPath(segments ...string) string {
	var b strings.Builder
	for i, s := range segments {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// newRetryClient wraps hc (copied, or a default one) for the pipeline: every attempt
// waits on the rate ceiling and is logged, redirects never carry the token to another
// host, and go-retryablehttp retries by the policy.
func (p *pipeline) newRetryClient(hc *http.Client) *retryablehttp.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Transport = newDefaultTransport()
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &attemptTransport{base: base, limiter: p.limiter, logger: p.logger}
	c.CheckRedirect = redirectPolicy(c.CheckRedirect)
	return &retryablehttp.Client{
		HTTPClient:   &c,
		RetryWaitMin: p.retry.MinWait,
		RetryWaitMax: p.retry.MaxWait,
		RetryMax:     p.retry.MaxRetries,
		CheckRetry:   p.checkRetry,
		Backoff:      p.backoff,
		ErrorHandler: giveUp,
	}
}

// newDefaultTransport is http.DefaultTransport with a bound on waiting for response
// headers (so a hung server cannot hold a call without a deadline forever) and enough
// idle connections per host for a client shared by many goroutines.
func newDefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = 2 * time.Minute
	return t
}

var errTooManyRedirects = errors.New("stopped after 10 redirects")

// redirectPolicy drops the Authorization header whenever a redirect leaves the host the
// request was sent to (net/http keeps it for subdomains) or downgrades https to http:
// the service redirects downloads to blob storage, which must never see the token.
func redirectPolicy(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if next != nil {
			if err := next(req, via); err != nil {
				return err
			}
		} else if len(via) >= 10 {
			return errTooManyRedirects
		}
		first := via[0].URL
		if req.URL.Host != first.Host || (first.Scheme == "https" && req.URL.Scheme != "https") {
			req.Header.Del("Authorization")
		}
		return nil
	}
}

// attemptTransport waits on the rate ceiling before each attempt (retries and
// redirects included) and logs each attempt at debug level.
type attemptTransport struct {
	base    http.RoundTripper
	limiter Limiter
	logger  *slog.Logger
}

// CloseIdleConnections passes the call on to the transport underneath, so that
// http.Client.CloseIdleConnections reaches it through the wrapper.
func (t *attemptTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for _, l := range [...]Limiter{t.limiter, callLimiter(callInfoFrom(ctx))} {
		if l == nil {
			continue
		}
		if err := l.Wait(ctx); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	if !t.logger.Enabled(ctx, slog.LevelDebug) {
		return t.base.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("path", displayPath(req.URL, callInfoFrom(ctx))),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", redactNetHTTPError(err).Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
		if id := resp.Header.Get("X-Request-Id"); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
	}
	t.logger.LogAttrs(ctx, slog.LevelDebug, "tfc: http attempt", attrs...)
	return resp, err
}

// displayPath is how a URL appears in logs and errors: the path alone on the host the
// call was addressed to (paths there carry IDs, never secrets; queries may), and only
// the host elsewhere (a redirect to blob storage, whose path is the secret).
func displayPath(u *url.URL, info *callInfo) string {
	if info != nil && u.Host == info.host {
		return u.EscapedPath()
	}
	return u.Scheme + "://" + u.Host + "/[redacted]"
}

// cappedReader fails, rather than silently truncating, once more than n bytes are read,
// with tooLarge (errBodyTooLarge when nil).
type cappedReader struct {
	r        io.Reader
	n        int64
	tooLarge error
}

var errBodyTooLarge = fmt.Errorf("tfc: response body exceeds %d MiB", maxResponseBody>>20)

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		// One more byte tells a body of exactly the cap from a larger one.
		var probe [1]byte
		n, err := c.r.Read(probe[:])
		if n > 0 {
			if c.tooLarge != nil {
				return 0, c.tooLarge
			}
			return 0, errBodyTooLarge
		}
		if err != nil && err != io.EOF {
			return 0, err // a failed read (or an inner cap) is not the end of the body
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// drainAndClose reads a little of what is left of body, so the connection can be
// reused, and closes it.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}
