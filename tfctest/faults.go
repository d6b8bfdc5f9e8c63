package tfctest

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// Faults makes the server fail a share of requests the way a busy or flaky service
// does, so that retry code and iterators get exercised. The fate of each request is
// drawn from a generator seeded with Seed, in the order requests arrive: the n-th
// request in scope meets the same fate for the same seed, so a test that sends its
// requests one after another sees the same faults on every run.
type Faults struct {
	// Seed makes the sequence of faults repeatable.
	Seed uint64
	// RateLimited is the share of requests answered 429, with the documented body and
	// X-RateLimit-Reset: 0.010 (seconds).
	RateLimited float64
	// ServerErrors is the share answered 500, 502 or 503, with a JSON:API error body
	// and no Retry-After.
	ServerErrors float64
	// DroppedConnections is the share whose connection is closed without an answer,
	// which a client sees as a transport error (EOF).
	DroppedConnections float64
	// CallbacksOnly limits the faults to run task callbacks (PATCH on a
	// task_result_callback_url); the rest of the API stays reliable.
	CallbacksOnly bool
}

// WithFaults injects f into the API host's answers (never into the blob store, and
// never into the requests the server itself sends to run task URLs). A fault is
// injected before the request is looked at, so a failed request has no effect and a
// retry of it is the first one to count. Shares are clamped to [0, 1] and scaled down
// in proportion when they add up to more than 1.
func WithFaults(f Faults) Option {
	return func(c *config) { c.faults = f }
}

// faultInjector draws and serves the faults of one server.
type faultInjector struct {
	mu                     sync.Mutex
	rng                    *rand.Rand
	rateLimited, errors    float64 // cumulative thresholds
	dropped                float64
	callbacksOnly, enabled bool
	injected               int
}

func newFaultInjector(f Faults) *faultInjector {
	clamp := func(v float64) float64 { return min(max(v, 0), 1) }
	rl, se, dc := clamp(f.RateLimited), clamp(f.ServerErrors), clamp(f.DroppedConnections)
	if sum := rl + se + dc; sum > 1 {
		rl, se, dc = rl/sum, se/sum, dc/sum
	}
	return &faultInjector{
		rng:           rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)),
		rateLimited:   rl,
		errors:        rl + se,
		dropped:       rl + se + dc,
		callbacksOnly: f.CallbacksOnly,
		enabled:       rl+se+dc > 0,
	}
}

// inject fails r if its draw says so, and reports whether it did.
func (fi *faultInjector) inject(w http.ResponseWriter, r *http.Request) bool {
	if !fi.enabled || (fi.callbacksOnly && !isCallback(r)) {
		return false
	}
	fi.mu.Lock()
	x, pick := fi.rng.Float64(), fi.rng.IntN(3)
	fault := x < fi.dropped
	if fault {
		fi.injected++
	}
	fi.mu.Unlock()
	switch {
	case !fault:
		return false
	case x < fi.rateLimited:
		w.Header().Set("X-RateLimit-Reset", "0.010")
		writeRateLimited(w)
	case x < fi.errors:
		status := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[pick]
		writeError(w, newError(status, http.StatusText(status), "tfctest injected this fault"))
	default:
		drop(w)
	}
	return true
}

func (fi *faultInjector) count() int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.injected
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// A connection that cannot be hijacked (HTTP/2) gets the nearest thing.
	writeError(w, newError(http.StatusBadGateway, "Bad Gateway", "tfctest injected this fault"))
}

// isCallback reports whether r is a run task callback.
func isCallback(r *http.Request) bool {
	return r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/v2/task-results/") &&
		strings.HasSuffix(r.URL.Path, "/callback")
}
