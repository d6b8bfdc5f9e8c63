package tfc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RetryPolicy says how many times and how patiently a failed attempt is retried.
//
// What is retried:
//   - 429 Too Many Requests, for every method: the service refused the request
//     without acting on it.
//   - 5xx (except 501) and transport errors (reset or dropped connections, timeouts)
//     for GET, HEAD, PUT, DELETE and PATCH. Every PATCH in these APIs sets absolute
//     values, so repeating one is harmless.
//   - POST only on 429 or when the connection could not be opened at all, the only
//     cases where the service surely did not act on it.
//
// Never retried: other 4xx; transport errors that do not go away by waiting (a host
// name that does not resolve, a certificate that does not verify, a TLS handshake
// with something that does not speak TLS, too many redirects); and anything after
// the request's context is done.
//
// The wait before a retry is the server's own advice when it gives one (Retry-After in
// seconds or as an HTTP date, on 429 and 503; X-RateLimit-Reset in float seconds, on
// 429), otherwise an exponential backoff from MinWait with jitter. Every wait is capped
// at MaxWait and ends early when the context is done. A malformed header falls back to
// the backoff. TransportBudget bounds the time spent on transport errors, so that a
// wrong address or a daemon that is not running fails in seconds.
//
// An error after transport failures says how many attempts were made and why the
// last one was not retried.
type RetryPolicy struct {
	// MaxRetries is how many attempts may follow the first one. Zero disables retries.
	MaxRetries int
	// MinWait is the first backoff; each further retry doubles it.
	MinWait time.Duration
	// MaxWait caps every wait, including waits the server asks for.
	MaxWait time.Duration
	// TransportBudget bounds retries after transport errors (no response at all),
	// counted from the start of the first attempt: a retry whose backoff could end
	// past the budget is not made. Answers the service gave (429, 5xx) do not count
	// against it; it advises its own waits. Zero sets no bound besides MaxRetries.
	TransportBudget time.Duration
}

// DefaultRetryPolicy is what NewClient and NewCTSClient use: up to 6 retries, waits
// from 500 ms up to 30 s, and transport errors retried for at most 5 s (four attempts,
// 2 to 4 s in all, against a connection that is refused).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 6, MinWait: 500 * time.Millisecond, MaxWait: 30 * time.Second,
		TransportBudget: 5 * time.Second}
}

// NoRetries is a RetryPolicy that sends every request once.
func NoRetries() RetryPolicy { return RetryPolicy{} }

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxRetries < 0:
		return invalidArg("retry policy", "MaxRetries must not be negative")
	case p.MaxRetries == 0:
		return nil
	case p.MinWait <= 0:
		return invalidArg("retry policy", "MinWait must be positive when retries are enabled")
	case p.MaxWait < p.MinWait:
		return invalidArg("retry policy", "MaxWait must be at least MinWait")
	case p.TransportBudget < 0:
		return invalidArg("retry policy", "TransportBudget must not be negative")
	}
	return nil
}

// wait returns how long to wait before retry number attempt+1, given the response of
// the failed attempt (nil after a transport error).
func (p RetryPolicy) wait(attempt int, resp *http.Response, now time.Time) time.Duration {
	if resp != nil {
		if d, ok := serverAdvisedWait(resp.StatusCode, resp.Header, now); ok {
			// A little jitter keeps goroutines that were refused together from all
			// coming back in the same millisecond.
			d += randDuration(d/10 + 10*time.Millisecond)
			return min(d, p.MaxWait)
		}
	}
	return p.backoff(attempt)
}

// backoff is MinWait·2^attempt capped at MaxWait, of which the upper half is random.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.backoffCap(attempt)
	return d/2 + randDuration(d/2)
}

// backoffCap is the longest backoff after attempt: MinWait·2^attempt capped at MaxWait.
func (p RetryPolicy) backoffCap(attempt int) time.Duration {
	if attempt < 32 {
		if b := p.MinWait << attempt; b > 0 && b < p.MaxWait {
			return b
		}
	}
	return p.MaxWait
}

func randDuration(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return rand.N(n)
}

// serverAdvisedWait reads the wait the server asks for: Retry-After (seconds or an HTTP
// date) on 429 and 503, X-RateLimit-Reset (float seconds until the budget refills) on
// 429. ok is false when neither header is present and well formed.
func serverAdvisedWait(status int, h http.Header, now time.Time) (time.Duration, bool) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0, false
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		return d, true
	}
	if status == http.StatusTooManyRequests {
		return parseRateLimitReset(h.Get("X-RateLimit-Reset"))
	}
	return 0, false
}

// maxAdvisedWait bounds parsed header values before they become Durations, so that
// absurd values cannot overflow; RetryPolicy.MaxWait caps them further.
const maxAdvisedWait = 24 * time.Hour

// parseRetryAfter parses a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	secs, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err == nil && secs <= uint64(maxAdvisedWait/time.Second):
		return time.Duration(secs) * time.Second, true
	case err == nil || errors.Is(err, strconv.ErrRange):
		return maxAdvisedWait, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		return min(max(d, 0), maxAdvisedWait), true
	}
	return 0, false
}

// parseRateLimitReset parses X-RateLimit-Reset: float seconds until the rate limit
// budget refills, as HCP Terraform sends it.
func parseRateLimitReset(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	if f > maxAdvisedWait.Seconds() {
		return maxAdvisedWait, true
	}
	return time.Duration(f * float64(time.Second)), true
}

// checkRetry decides whether an attempt is retried; it is go-retryablehttp's CheckRetry.
// It counts the attempts and, when it stops after a transport error, notes why, for
// transportError.
func (p *pipeline) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	info := callInfoFrom(ctx)
	if info == nil {
		info = &callInfo{idempotent: true} // a request sent around send; counts nothing
	}
	info.attempts++
	if info.attempt != nil {
		info.attempt(resp, err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	var reason string
	switch {
	case err != nil:
		if why := permanentTransportError(err); why != "" {
			info.stopped = "not retried: " + why
			return false, nil
		}
		if !info.idempotent && !neverSent(err) {
			info.stopped = "not retried: the " + info.method + " may have reached the service"
			return false, nil
		}
		if b := p.retry.TransportBudget; b > 0 && !info.start.IsZero() &&
			time.Since(info.start)+p.retry.backoffCap(info.retries) > b {
			info.stopped = fmt.Sprintf("transport errors are retried for at most %v", b)
			return false, nil
		}
		reason = "transport error"
	case resp.StatusCode == http.StatusTooManyRequests:
		reason = "429 Too Many Requests"
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && info.idempotent:
		reason = resp.Status
	default:
		return false, nil
	}
	info.retries++
	if info.retries <= p.retry.MaxRetries {
		p.logger.LogAttrs(ctx, slog.LevelWarn, "tfc: retrying request",
			slog.String("method", info.method), slog.String("path", info.path),
			slog.String("reason", reason), slog.Int("retry", info.retries))
	}
	return true, nil
}

// backoff is go-retryablehttp's Backoff hook.
func (p *pipeline) backoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	return p.retry.wait(attempt, resp, time.Now())
}

// permanentTransportError says why a transport error cannot go away by retrying, or
// returns "" when it may: the name does not resolve (a typo in an address), the
// certificate does not verify, the other end does not speak TLS, the redirects loop,
// or the request itself is wrong. Timeouts and temporary DNS failures are retried.
func permanentTransportError(err error) string {
	if errors.Is(err, context.Canceled) {
		return "the request was canceled"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "a deadline passed"
	}
	if errors.Is(err, errTooManyRedirects) {
		return "too many redirects"
	}
	if refusedByPolicy(err) {
		return "the receiver's egress policy refused the address"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return "the host name does not resolve"
	}
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return "the server's certificate does not verify"
	case errors.As(err, &recordErr):
		return "the server does not speak TLS"
	case errors.As(err, &alertErr):
		return "the server refused the TLS handshake"
	}
	// net/http turns the record error of an HTTP answer into a plain error.
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return "the server does not speak TLS"
	}
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "unsupported protocol scheme") {
		return "unsupported URL scheme"
	}
	return ""
}

// neverSent reports whether a transport error happened before a connection existed, so
// the server cannot have seen the request.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Limiter paces requests. Wait blocks until one more request may be sent or ctx is done.
// A *rate.Limiter from golang.org/x/time/rate satisfies it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// windowGuard widens the default one-second window a little: the limiter counts when
// requests leave, the service counts when they arrive, and arrival times jitter. With
// the guard, 31 requests never land in one second on the service's clock while 98% of
// the ceiling is still used.
const windowGuard = 20 * time.Millisecond

func defaultLimiter() Limiter {
	return NewWindowLimiter(DefaultRateLimit, time.Second+windowGuard)
}

// WindowLimiter admits at most n requests in any window of the given length: the exact
// rule "no more than 30 requests in any one second", unlike a token bucket, which admits
// burst + rate·T in a window of length T. Requests may burst up to n at once and are
// then paced. Waiters are served in arrival order. It is safe for concurrent use. The
// zero value holds the client's default ceiling: DefaultRateLimit requests a second.
type WindowLimiter struct {
	mu     sync.Mutex
	window time.Duration
	slots  []time.Time // the admission times of the last n requests; slots[next] is the oldest
	next   int
	now    func() time.Time
}

// NewWindowLimiter returns a limiter that admits at most n requests (at least 1) in any
// window of length window.
func NewWindowLimiter(n int, window time.Duration) *WindowLimiter {
	return &WindowLimiter{window: window, slots: make([]time.Time, max(n, 1)), now: time.Now}
}

// Wait reserves the next free slot and blocks until it comes or ctx is done. When the
// slot lies beyond ctx's deadline it returns at once with an error that matches
// context.DeadlineExceeded. A waiter whose context ends gives up its slot unused, which
// only ever makes the limiter stricter.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now, at, err := l.reserve(ctx)
	if err != nil {
		return err
	}
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// initLocked gives a zero WindowLimiter the default ceiling.
func (l *WindowLimiter) initLocked() {
	if l.slots == nil {
		l.slots = make([]time.Time, DefaultRateLimit)
		l.window = time.Second + windowGuard
	}
	if l.now == nil {
		l.now = time.Now
	}
}

// reserve takes the earliest slot at or after now that keeps every window within the
// limit. Slots are handed out in non-decreasing order, so slots[next] is the oldest of
// the last n, and at ≥ slots[next]+window keeps any n+1 consecutive slots a window apart.
func (l *WindowLimiter) reserve(ctx context.Context) (now, at time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initLocked()
	now = l.now()
	at = l.slots[l.next].Add(l.window)
	if at.Before(now) {
		at = now
	}
	if deadline, ok := ctx.Deadline(); ok && at.After(deadline) {
		return now, at, fmt.Errorf("tfc: rate ceiling: the next request slot is %v away, past the context deadline: %w",
			at.Sub(now).Round(time.Millisecond), context.DeadlineExceeded)
	}
	l.slots[l.next] = at
	l.next = (l.next + 1) % len(l.slots)
	return now, at, nil
}

// Allow takes a slot now if the window has one free, without waiting; otherwise it
// reports how long until one frees up. A server enforcing the same ceiling (tfctest
// does) answers 429 when Allow says no.
func (l *WindowLimiter) Allow() (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initLocked()
	now := l.now()
	if at := l.slots[l.next].Add(l.window); at.After(now) {
		return false, at.Sub(now)
	}
	l.slots[l.next] = now
	l.next = (l.next + 1) % len(l.slots)
	return true, 0
}
