package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/tfkit/tfc"
)

const streamSize = 200 << 20 // 200 MB

// peakHeap samples the live heap every millisecond while fn runs and returns the
// highest value seen, in MiB, after a GC before the start.
func peakHeap(fn func()) float64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	return float64(peak.Load()) / (1 << 20)
}

// blobServers serves a 200 MB policy check output and plan JSON from a second host,
// behind the API's redirects, as HCP Terraform does.
func blobServers(b *testing.B) (api, blob *httptest.Server) {
	chunk := []byte(strings.Repeat("policy output line with \x1b[1mANSI\x1b[0m and plain text\n", 64))
	blob = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &Repeat{Chunk: chunk, N: streamSize})
	}))
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v2/ping":
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/output"), strings.HasSuffix(r.URL.Path, "/json-output"):
			http.Redirect(w, r, blob.URL+"/v1/object/signed", http.StatusTemporaryRedirect)
		case strings.HasPrefix(r.URL.Path, "/api/v2/policy-checks/"):
			w.Header().Set("Content-Type", "application/vnd.api+json")
			_, _ = w.Write([]byte(`{"data":{"id":"polchk-1","type":"policy-checks","attributes":{"status":"passed"},"links":{"output":"/api/v2/policy-checks/polchk-1/output"}}}`))
		case strings.HasPrefix(r.URL.Path, "/api/v2/task-results/"):
			// run task callbacks
		default:
			http.NotFound(w, r)
		}
	}))
	return api, blob
}

func BenchmarkStream200MB(b *testing.B) {
	api, blob := blobServers(b)
	defer api.Close()
	defer blob.Close()
	ctx := context.Background()

	b.Run("policy-output/tfc", func(b *testing.B) {
		c, _ := tfc.NewClient(tfc.WithAddress(api.URL), tfc.WithToken("bench-token"), tfc.WithRateLimit(0))
		for b.Loop() {
			b.ReportMetric(peakHeap(func() {
				rc, err := c.PolicyChecks.Output(ctx, "polchk-1", nil)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, rc); err != nil || n != streamSize {
					b.Fatal(n, err)
				}
				rc.Close()
			}), "peak-heap-MiB")
		}
	})
	b.Run("policy-output/go-tfe", func(b *testing.B) {
		c, err := tfe.NewClient(&tfe.Config{Address: api.URL, Token: "bench-token"})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			b.ReportMetric(peakHeap(func() {
				r, err := c.PolicyChecks.Logs(ctx, "polchk-1")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != streamSize {
					b.Fatal(n, err)
				}
			}), "peak-heap-MiB")
		}
	})
	b.Run("plan-json/tfc", func(b *testing.B) {
		// The plan is read by a run task check, as an integration reads it.
		got := make(chan int64, 1)
		cc, _ := tfc.NewClient(tfc.WithRateLimit(0))
		r, err := tfc.NewReceiver(func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
			rc, err := d.PlanJSON(ctx)
			if err != nil {
				return tfc.TaskResultUpdate{}, err
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			got <- n
			return tfc.Passed("read"), err
		}, tfc.WithHMACKeys(benchKey), tfc.WithCallbackClient(cc), tfc.WithAllowedHosts(strings.TrimPrefix(api.URL, "http://")), tfc.InsecureAllowHTTP())
		if err != nil {
			b.Fatal(err)
		}
		defer r.Shutdown(ctx)
		srv := httptest.NewServer(r)
		defer srv.Close()
		raw, _ := os.ReadFile("../testdata/runtask_request_post_plan.json")
		for i := 0; b.Loop(); i++ {
			var p map[string]any
			_ = json.Unmarshal(raw, &p)
			p["task_result_id"] = "taskrs-stream-" + string(rune('a'+i%26)) + time.Now().Format("150405.000000")
			p["task_result_callback_url"] = api.URL + "/api/v2/task-results/x/callback"
			p["plan_json_api_url"] = api.URL + "/api/v2/plans/plan-1/json-output"
			delete(p, "configuration_version_download_url")
			body, _ := json.Marshal(p)
			b.ReportMetric(peakHeap(func() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				req.Header.Set(tfc.SignatureHeader, tfc.Sign(benchKey, body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(err)
				}
				resp.Body.Close()
				if n := <-got; n != streamSize {
					b.Fatal(n)
				}
			}), "peak-heap-MiB")
		}
	})
	b.Run("plan-json/go-tfe", func(b *testing.B) {
		c, err := tfe.NewClient(&tfe.Config{Address: api.URL, Token: "bench-token"})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			b.ReportMetric(peakHeap(func() {
				plan, err := c.Plans.ReadJSONOutput(ctx, "plan-1")
				if err != nil || len(plan) != streamSize {
					b.Fatal(len(plan), err)
				}
			}), "peak-heap-MiB")
		}
	})
}
