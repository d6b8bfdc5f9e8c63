package tfc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoopbackRead compares a full RunTasks.Read over loopback with the floor: a
// bare net/http request decoded with encoding/json into the same wire struct.
func BenchmarkLoopbackRead(b *testing.B) {
	body, err := readTestdata("runtasks_show_response.json")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaTypeJSONAPI)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	ctx := context.Background()

	b.Run("tfc", func(b *testing.B) {
		c, err := NewClient(WithAddress(srv.URL), WithToken(testToken), WithRateLimit(0))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Read(ctx, "task-7oD7doVTQdAFnMLV", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := &http.Client{Transport: newDefaultTransport()}
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v2/tasks/task-7oD7doVTQdAFnMLV", nil)
			req.Header.Set("Accept", mediaTypeJSONAPI)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var doc document[resource[runTaskAttrs, runTaskRels]]
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp.Status)
			}
		}
	})
}

// BenchmarkListAllUnderCeiling lists 9,000 run tasks (90 pages of 100) from a server
// that answers 429 to a 31st request within any one second, with the default client.
// It reports the sustained request rate as a share of the 30 rps ceiling and the 429s
// drawn. Run it with -benchtime=1x: one listing takes about three seconds.
func BenchmarkListAllUnderCeiling(b *testing.B) {
	srv, stats := newCeilingServer(9000, 30)
	defer srv.Close()
	c, err := NewClient(WithAddress(srv.URL), WithToken(testToken))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		stats.reset()
		start := time.Now()
		n := 0
		for _, err := range c.RunTasks.All(context.Background(), "hashicorp", nil) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		elapsed := time.Since(start)
		if n != 9000 {
			b.Fatalf("listed %d", n)
		}
		// The window admits bursts, so the sustained rate is measured the way the rule
		// counts: request k+30 may arrive one window after request k at the earliest,
		// and 30 over the mean of those gaps is the rate the client sustains.
		rate := stats.sustainedRate(30)
		b.ReportMetric(elapsed.Seconds(), "s/listing")
		b.ReportMetric(rate, "req/s")
		b.ReportMetric(100*rate/30, "%ceiling")
		b.ReportMetric(float64(stats.refused.Load()), "429s")
	}
}

// ceilingStats counts what a ceiling server served and refused.
type ceilingStats struct {
	refused  atomic.Int64
	mu       sync.Mutex
	arrivals []time.Time // of served requests
}

func (s *ceilingStats) reset() {
	s.refused.Store(0)
	s.mu.Lock()
	s.arrivals = s.arrivals[:0]
	s.mu.Unlock()
}

func (s *ceilingStats) served(at time.Time) {
	s.mu.Lock()
	s.arrivals = append(s.arrivals, at)
	s.mu.Unlock()
}

// sustainedRate is n divided by the mean time between arrival k and arrival k+n.
func (s *ceilingStats) sustainedRate(n int) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.arrivals) <= n {
		return 0
	}
	var sum time.Duration
	for k := n; k < len(s.arrivals); k++ {
		sum += s.arrivals[k].Sub(s.arrivals[k-n])
	}
	mean := sum / time.Duration(len(s.arrivals)-n)
	return float64(n) / mean.Seconds()
}

// newCeilingServer serves total run tasks under /api/v2/organizations/hashicorp/tasks
// and refuses, with 429 and X-RateLimit-Reset, any request that would be the
// (limit+1)-th to arrive within one second.
func newCeilingServer(total, limit int) (*httptest.Server, *ceilingStats) {
	stats := &ceilingStats{}
	window := NewWindowLimiter(limit, time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := window.Allow(); !ok {
			stats.refused.Add(1)
			w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
			w.Header().Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", wait.Seconds()))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		stats.served(time.Now())
		q := r.URL.Query()
		w.Header().Set("Content-Type", mediaTypeJSONAPI)
		_, _ = w.Write(runTaskPageJSON(total, atoiOr(q.Get("page[number]"), 1), atoiOr(q.Get("page[size]"), 20), nil))
	}))
	return srv, stats
}
