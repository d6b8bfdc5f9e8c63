package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/tfkit/tfc"
)

// The loopback benchmarks run a full call against an httptest server: tfc, go-tfe, and
// the floor, a bare net/http request decoded with encoding/json into a typed struct.

func loopbackServer(body []byte) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.api+json")
		_, _ = w.Write(body)
	}))
}

type rawRunTask struct {
	ID         string `json:"id"`
	Attributes struct {
		Name        string `json:"name"`
		URL         string `json:"url"`
		Description string `json:"description"`
		Category    string `json:"category"`
		Enabled     bool   `json:"enabled"`
	} `json:"attributes"`
}

func rawGet(b *testing.B, hc *http.Client, url string, out any) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/vnd.api+json")
	req.Header.Set("Authorization", "Bearer bench-token")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatal(err, resp.Status)
	}
}

func BenchmarkLoopbackRead(b *testing.B) {
	srv := loopbackServer([]byte(RunTaskDoc))
	defer srv.Close()
	ctx := context.Background()
	b.Run("tfc", func(b *testing.B) {
		c, _ := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("bench-token"), tfc.WithRateLimit(0))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Read(ctx, "task-7oD7doVTQdAFnMLV", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-tfe", func(b *testing.B) {
		c, err := tfe.NewClient(&tfe.Config{Address: srv.URL, Token: "bench-token"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Read(ctx, "task-7oD7doVTQdAFnMLV"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		b.ReportAllocs()
		for b.Loop() {
			var doc struct {
				Data rawRunTask `json:"data"`
			}
			rawGet(b, hc, srv.URL+"/api/v2/tasks/task-7oD7doVTQdAFnMLV", &doc)
		}
	})
}

func BenchmarkLoopbackList(b *testing.B) {
	srv := loopbackServer(RunTaskPage(100, 1, 100))
	defer srv.Close()
	ctx := context.Background()
	b.Run("tfc", func(b *testing.B) {
		c, _ := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("bench-token"), tfc.WithRateLimit(0))
		opts := &tfc.RunTaskListOptions{ListOptions: tfc.ListOptions{PageSize: 100}}
		b.ReportAllocs()
		for b.Loop() {
			if p, err := c.RunTasks.List(ctx, "hashicorp", opts); err != nil || len(p.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-tfe", func(b *testing.B) {
		c, err := tfe.NewClient(&tfe.Config{Address: srv.URL, Token: "bench-token"})
		if err != nil {
			b.Fatal(err)
		}
		opts := &tfe.RunTaskListOptions{ListOptions: tfe.ListOptions{PageSize: 100}}
		b.ReportAllocs()
		for b.Loop() {
			if p, err := c.RunTasks.List(ctx, "hashicorp", opts); err != nil || len(p.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		b.ReportAllocs()
		for b.Loop() {
			var doc struct {
				Data []rawRunTask `json:"data"`
			}
			rawGet(b, hc, srv.URL+"/api/v2/organizations/hashicorp/tasks?page%5Bsize%5D=100", &doc)
		}
	})
}
