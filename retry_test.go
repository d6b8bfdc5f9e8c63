package tfc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// flaky answers the first len(statuses) requests with those statuses (and headers), then
// serves the fixture.
func flaky(t *testing.T, attempts *atomic.Int64, fixtureName string, failures ...func(http.ResponseWriter)) http.HandlerFunc {
	ok := serveFixture(t, http.StatusOK, fixtureName)
	return func(w http.ResponseWriter, r *http.Request) {
		n := int(attempts.Add(1))
		if n <= len(failures) {
			failures[n-1](w)
			return
		}
		ok(w, r)
	}
}

func status(code int, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		if code == http.StatusTooManyRequests {
			_, _ = w.Write([]byte(`{"errors":[{"detail":"You have exceeded the API's rate limit.","status":429,"title":"Too many requests"}]}`))
		}
	}
}

// dropConnection closes the connection without answering.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestRetriedThenSucceeds(t *testing.T) {
	tests := map[string][]func(http.ResponseWriter){
		"429 with X-RateLimit-Reset":    {status(429, "X-RateLimit-Reset", "0.002")},
		"429 with Retry-After date":     {status(429, "Retry-After", time.Now().Add(time.Second).UTC().Format(http.TimeFormat))},
		"503 then 200":                  {status(503)},
		"502 and 500":                   {status(502), status(500)},
		"malformed X-RateLimit-Reset":   {status(429, "X-RateLimit-Reset", "soon"), status(429, "X-RateLimit-Reset", "NaN")},
		"malformed Retry-After":         {status(503, "Retry-After", "Tuesday-ish")},
		"dropped connection":            {dropConnection},
		"negative X-RateLimit-Reset":    {status(429, "X-RateLimit-Reset", "-3")},
		"huge Retry-After is capped":    {status(429, "Retry-After", "99999999999999999999")},
		"huge X-RateLimit-Reset capped": {status(429, "X-RateLimit-Reset", "1e300")},
	}
	for name, failures := range tests {
		t.Run(name, func(t *testing.T) {
			api := newTestAPI(t)
			var attempts atomic.Int64
			api.handle("GET /api/v2/tasks/task-1", flaky(t, &attempts, "runtasks_show_response.json", failures...))
			task, err := api.client.RunTasks.Read(context.Background(), "task-1", nil)
			if err != nil {
				t.Fatal(err)
			}
			if task.ID == "" {
				t.Error("empty task")
			}
			if got, want := attempts.Load(), int64(len(failures)+1); got != want {
				t.Errorf("attempts = %d, want %d", got, want)
			}
		})
	}
}

func TestPostNotRetriedOnServerError(t *testing.T) {
	for name, failure := range map[string]func(http.ResponseWriter){
		"500":                status(500),
		"503":                status(503),
		"dropped connection": dropConnection,
	} {
		t.Run(name, func(t *testing.T) {
			api := newTestAPI(t)
			var attempts atomic.Int64
			api.handle("POST /api/v2/task-stages/ts-1/actions/override", flaky(t, &attempts, "task_stage_override_response.json", failure))
			_, err := api.client.TaskStages.Override(context.Background(), "ts-1", nil)
			if err == nil {
				t.Fatal("no error")
			}
			if attempts.Load() != 1 {
				t.Errorf("attempts = %d, want 1: a POST that may have been processed was repeated", attempts.Load())
			}
		})
	}
}

// A run task update that carries task configs may create them, so a 503 is not
// retried; the same update without them is.
func TestRunTaskUpdateWithTaskConfigsRetriedLikeAPost(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     RunTaskUpdateOptions
		attempts int64
	}{
		{"with task configs", RunTaskUpdateOptions{Organization: "org", TaskConfigs: []TaskConfigOptions{
			{Global: true, EnforcementLevel: EnforcementMandatory, AllowedStages: []Stage{StagePrePlan}}}}, 1},
		{"without", RunTaskUpdateOptions{Enabled: Ptr(true)}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t)
			var attempts atomic.Int64
			api.handle("PATCH /api/v2/tasks/task-1", flaky(t, &attempts, "runtasks_update_response.json", status(503)))
			_, _ = api.client.RunTasks.Update(context.Background(), "task-1", tt.opts)
			if attempts.Load() != tt.attempts {
				t.Errorf("attempts = %d, want %d", attempts.Load(), tt.attempts)
			}
		})
	}
}

func TestPostRetriedOn429(t *testing.T) {
	api := newTestAPI(t)
	var attempts atomic.Int64
	api.handle("POST /api/v2/task-stages/ts-1/actions/override", flaky(t, &attempts, "task_stage_override_response.json", status(429, "X-RateLimit-Reset", "0.001")))
	if _, err := api.client.TaskStages.Override(context.Background(), "ts-1", nil); err != nil {
		t.Fatal(err)
	}
	if attempts.Load() != 2 {
		t.Errorf("attempts = %d, want 2", attempts.Load())
	}
}

func TestPostRetriedWhenNeverSent(t *testing.T) {
	// Every dial is refused, so the service surely saw nothing and even a POST may be
	// retried.
	c, err := NewClient(WithAddress("http://"+closedPort(t)), WithToken(testToken), WithRetryPolicy(fastRetries), WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.TaskStages.Override(context.Background(), "ts-1", nil)
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Fatalf("error = %v, want it to give up after 4 attempts", err)
	}
	if strings.Contains(err.Error(), "http://") {
		t.Errorf("error repeats the URL: %v", err)
	}
}

func TestRetriesRunOut(t *testing.T) {
	api := newTestAPI(t)
	var attempts atomic.Int64
	api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		status(429, "X-RateLimit-Reset", "0.001")(w)
	})
	_, err := api.client.RunTasks.Read(context.Background(), "task-1", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("error = %v, want an *APIError matching ErrRateLimited", err)
	}
	if apiErr.RetryAfter != time.Millisecond {
		t.Errorf("RetryAfter = %v, want 1ms", apiErr.RetryAfter)
	}
	if got := attempts.Load(); got != int64(fastRetries.MaxRetries+1) {
		t.Errorf("attempts = %d, want %d", got, fastRetries.MaxRetries+1)
	}
}

func TestNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 409, 422, 501} {
		api := newTestAPI(t)
		var attempts atomic.Int64
		api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			w.WriteHeader(code)
		})
		if _, err := api.client.RunTasks.Read(context.Background(), "task-1", nil); err == nil {
			t.Errorf("%d: no error", code)
		}
		if attempts.Load() != 1 {
			t.Errorf("%d: attempts = %d, want 1", code, attempts.Load())
		}
	}
}

func TestCancelDuringRetryWait(t *testing.T) {
	// The retry wait is long; the context ends while the client waits, which must end
	// the call at once.
	api := newTestAPI(t, WithRetryPolicy(RetryPolicy{MaxRetries: 5, MinWait: time.Hour, MaxWait: time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		cancel()
	})
	_, err := api.client.RunTasks.Read(ctx, "task-1", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

func TestRetryWait(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p := RetryPolicy{MaxRetries: 5, MinWait: 100 * time.Millisecond, MaxWait: 30 * time.Second}
	resp := func(code int, kv ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	// jitter adds up to a tenth plus 10ms to a server-advised wait.
	advised := func(d time.Duration) [2]time.Duration { return [2]time.Duration{d, d + d/10 + 10*time.Millisecond} }
	tests := []struct {
		name    string
		attempt int
		resp    *http.Response
		want    [2]time.Duration // inclusive lower, exclusive upper bound
	}{
		{"retry-after seconds", 0, resp(429, "Retry-After", "3"), advised(3 * time.Second)},
		{"retry-after date", 0, resp(503, "Retry-After", now.Add(2*time.Second).Format(http.TimeFormat)), advised(2 * time.Second)},
		{"retry-after date in the past", 0, resp(503, "Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), advised(0)},
		{"ratelimit reset float", 0, resp(429, "X-RateLimit-Reset", "0.5"), advised(500 * time.Millisecond)},
		{"retry-after wins over reset", 0, resp(429, "Retry-After", "1", "X-RateLimit-Reset", "5"), advised(time.Second)},
		{"reset ignored on 503", 2, resp(503, "X-RateLimit-Reset", "5"), [2]time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{"capped at MaxWait", 0, resp(429, "Retry-After", "3600"), [2]time.Duration{30 * time.Second, 30*time.Second + 1}},
		{"malformed falls back", 0, resp(429, "X-RateLimit-Reset", "bogus"), [2]time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{"transport error, first retry", 0, nil, [2]time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{"transport error, third retry", 2, nil, [2]time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{"backoff capped", 40, nil, [2]time.Duration{15 * time.Second, 30 * time.Second}},
		{"500 has no advice", 1, resp(500, "Retry-After", "9"), [2]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
	}
	for _, tt := range tests {
		for range 50 { // the jitter is random: check the bounds many times
			got := p.wait(tt.attempt, tt.resp, now)
			if got < tt.want[0] || got >= tt.want[1] {
				t.Errorf("%s: wait = %v, want in [%v, %v)", tt.name, got, tt.want[0], tt.want[1])
				break
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0":                             0,
		" 7 ":                           7 * time.Second,
		"Sun, 22 Nov 2026 12:00:05 GMT": 5 * time.Second,
		"99999999999999999999999":       maxAdvisedWait,
	} {
		if got, ok := parseRetryAfter(v, now); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "1.5", "soon"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", v)
		}
	}
	for _, v := range []string{"", "x", "NaN", "Inf", "-1"} {
		if d, ok := parseRateLimitReset(v); ok {
			t.Errorf("parseRateLimitReset(%q) = %v, accepted", v, d)
		}
	}
}

// closedPort returns a loopback address nobody listens on: a listener that is closed
// again, so that every dial is refused.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// nxdomainResolver is a resolver whose DNS server, on loopback, answers every query
// with NXDOMAIN ("no such host"), as a real server does for a mistyped name.
func nxdomainResolver(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			// The query, turned into a response: QR, RD and RA set, RCODE 3 (NXDOMAIN),
			// the question kept, no answers.
			resp := append([]byte(nil), buf[:n]...)
			resp[2] = 0x81 | resp[2]&0x01
			resp[3] = 0x83
			for i := 6; i < 12; i++ {
				resp[i] = 0
			}
			_, _ = pc.WriteTo(resp, from)
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// countingListener counts the connections a server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestPermanentTransportErrorsNotRetried: a name that does not resolve, a certificate
// that does not verify and a server that does not speak TLS fail after one attempt,
// and the error says so.
func TestPermanentTransportErrorsNotRetried(t *testing.T) {
	slow := RetryPolicy{MaxRetries: 5, MinWait: time.Hour, MaxWait: time.Hour} // a retry would hang the test
	// A server that speaks first and not TLS (an HTTP/1.0 server sending its error at
	// once, an SSH or SMTP banner): the handshake reads its bytes as a bad TLS record.
	bannerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	banner := &countingListener{Listener: bannerLn}
	defer banner.Close()
	go func() {
		for {
			conn, err := banner.Accept()
			if err != nil {
				return
			}
			greeting := "HTTP/1.0 400 Bad Request\r\n\r\n"
			if banner.n.Load()%2 == 0 {
				greeting = "SSH-2.0-OpenSSH_9.6\r\n"
			}
			_, _ = conn.Write([]byte(greeting))
			conn.Close()
		}
	}()
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	tlsLn := &countingListener{Listener: tlsSrv.Listener}
	tlsSrv.Listener = tlsLn
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	resolver := nxdomainResolver(t)

	tests := []struct {
		name    string
		address string
		hc      *http.Client
		conns   *atomic.Int64
		why     string
	}{
		{"no such host", "https://tfe.example.invalid", &http.Client{Transport: &http.Transport{
			DialContext: (&net.Dialer{Resolver: resolver}).DialContext}}, nil, "the host name does not resolve"},
		{"untrusted certificate", tlsSrv.URL, nil, &tlsLn.n, "the server's certificate does not verify"},
		{"https to an HTTP server", "https://" + bannerLn.Addr().String(), nil, &banner.n, "the server does not speak TLS"},
		{"https to an SSH server", "https://" + bannerLn.Addr().String(), nil, nil, "the server does not speak TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []Option{WithAddress(tt.address), WithToken(testToken), WithRetryPolicy(slow), WithRateLimit(0)}
			if tt.hc != nil {
				opts = append(opts, WithHTTPClient(tt.hc))
			}
			c, err := NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.RunTasks.Read(context.Background(), "task-1", nil)
			want := "tfc: GET /api/v2/tasks/task-1: giving up after 1 attempt (not retried: " + tt.why + "): "
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error = %v\nwant it to start with %q", err, want)
			}
			if tt.conns != nil && tt.conns.Load() != 1 {
				t.Errorf("%d connections, want 1", tt.conns.Load())
			}
		})
	}
}

// TestTransportBudget: against a port nobody listens on, retries stop once the budget
// would be overrun, long before MaxRetries, and the error says how many attempts were
// made.
func TestTransportBudget(t *testing.T) {
	addr := closedPort(t)
	var logs syncbuf.Buffer
	policy := RetryPolicy{MaxRetries: 1000, MinWait: time.Millisecond, MaxWait: 4 * time.Millisecond, TransportBudget: 40 * time.Millisecond}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		c, err := NewClient(WithAddress("http://"+addr), WithToken(testToken), WithRetryPolicy(policy), WithRateLimit(0),
			WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		if method == http.MethodGet {
			_, err = c.RunTasks.Read(context.Background(), "task-1", nil)
		} else {
			_, err = c.TaskStages.Override(context.Background(), "ts-1", nil) // never sent, so retried too
		}
		var attempts int
		if err == nil {
			t.Fatalf("%s: no error", method)
		}
		if _, scanErr := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "giving up after "):], "giving up after %d attempts", &attempts); scanErr != nil {
			t.Fatalf("%s: error %q does not count its attempts", method, err)
		}
		if attempts < 2 || attempts > 1000 || !strings.Contains(err.Error(), "transport errors are retried for at most 40ms") {
			t.Errorf("%s: error = %v; want a few attempts stopped by the budget", method, err)
		}
		if !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: error %q lost the cause", method, err)
		}
	}
}

func TestDefaultRetryPolicyHasATransportBudget(t *testing.T) {
	p := DefaultRetryPolicy()
	if p.TransportBudget <= 0 || p.TransportBudget > 10*time.Second {
		t.Errorf("TransportBudget = %v", p.TransportBudget)
	}
	if err := (RetryPolicy{MaxRetries: 1, MinWait: 1, MaxWait: 1, TransportBudget: -1}).validate(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a negative budget: %v", err)
	}
}
