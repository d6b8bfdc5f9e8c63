package tfc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
	// A listener that is closed again: every dial is refused, so the service surely saw
	// nothing and even a POST may be retried.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient(WithAddress("http://"+addr), WithToken(testToken), WithRetryPolicy(fastRetries), WithRateLimit(0))
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
