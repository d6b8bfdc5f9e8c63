package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/tfkit/tfc"
)

// BenchmarkListUnderCeiling lists 9,000 run tasks (90 pages of 100) from a server that
// answers 429 (with X-RateLimit-Reset) to a 31st request within any one second, as
// HCP Terraform limits a user to 30 requests per second. Each client runs with its
// defaults: tfc's window ceiling of 30 per second, go-tfe's limiter sized from the ping's
// X-RateLimit-Limit. Reported: wall time per listing and the 429s drawn. Run with
// -benchtime=1x.
func BenchmarkListUnderCeiling(b *testing.B) {
	const total, limit = 9000, 30
	var refused, served atomic.Int64
	window := tfc.NewWindowLimiter(limit, time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
		if ok, wait := window.Allow(); !ok {
			refused.Add(1)
			w.Header().Set("X-RateLimit-Reset", fmt.Sprintf("%.3f", wait.Seconds()))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"errors":[{"detail":"You have exceeded the API's rate limit.","status":429,"title":"Too many requests"}]}`))
			return
		}
		served.Add(1)
		if r.URL.Path == "/api/v2/ping" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		q := r.URL.Query()
		number, _ := strconv.Atoi(q.Get("page[number]"))
		size, _ := strconv.Atoi(q.Get("page[size]"))
		w.Header().Set("Content-Type", "application/vnd.api+json")
		_, _ = w.Write(RunTaskPage(total, max(number, 1), max(size, 20)))
	}))
	defer srv.Close()
	ctx := context.Background()
	report := func(b *testing.B, start time.Time, n int) {
		if n != total {
			b.Fatalf("listed %d", n)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/listing")
		b.ReportMetric(float64(refused.Load()), "429s")
	}
	// Each run starts with a fresh second on the server.
	settle := func(b *testing.B) {
		b.StopTimer()
		time.Sleep(1100 * time.Millisecond)
		refused.Store(0)
		served.Store(0)
		b.StartTimer()
	}

	b.Run("tfc", func(b *testing.B) {
		c, _ := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("bench-token"))
		for b.Loop() {
			settle(b)
			start, n := time.Now(), 0
			for _, err := range c.RunTasks.All(ctx, "hashicorp", nil) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			report(b, start, n)
		}
	})
	b.Run("go-tfe", func(b *testing.B) {
		settle(b)
		c, err := tfe.NewClient(&tfe.Config{Address: srv.URL, Token: "bench-token"})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			settle(b)
			start, n := time.Now(), 0
			opts := &tfe.RunTaskListOptions{ListOptions: tfe.ListOptions{PageSize: 100}}
			for {
				page, err := c.RunTasks.List(ctx, "hashicorp", opts)
				if err != nil {
					b.Fatal(err)
				}
				n += len(page.Items)
				if page.NextPage == 0 {
					break
				}
				opts.PageNumber = page.NextPage
			}
			report(b, start, n)
		}
	})
}
