package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReceiverAck measures how fast the receiver acknowledges signed deliveries
// (read, verify, decode, admit, answer 200) with c deliveries in flight, on loopback.
// Checks pass at once and call back to a local server, so their work competes with
// the acks as it would in production. Reported: deliveries per second and the p50 and
// p99 ack latency.
func BenchmarkReceiverAck(b *testing.B) {
	callbacks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer callbacks.Close()
	var template map[string]any
	if err := json.Unmarshal(mustRead(b, "runtask_request_post_plan.json"), &template); err != nil {
		b.Fatal(err)
	}
	for _, conc := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("concurrent=%d", conc), func(b *testing.B) {
			cc, _ := NewClient(WithRateLimit(0))
			r, err := NewReceiver(passCheck, WithHMACKeys(testHMACKey), WithCallbackClient(cc), WithMaxInFlight(4096))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(r)
			defer srv.Close()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}}

			bodies := make([][]byte, b.N)
			sigs := make([]string, b.N)
			for i := range bodies {
				template["task_result_id"] = fmt.Sprintf("taskrs-%s-%d-%d", b.Name(), conc, i)
				template["task_result_callback_url"] = callbacks.URL + "/cb"
				delete(template, "plan_json_api_url")
				delete(template, "configuration_version_download_url")
				bodies[i], _ = json.Marshal(template)
				sigs[i] = Sign(testHMACKey, bodies[i])
			}
			latencies := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							return
						}
						req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(bodies[i]))
						req.Header.Set(SignatureHeader, sigs[i])
						t0 := time.Now()
						resp, err := hc.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						resp.Body.Close()
						latencies[i] = time.Since(t0)
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(latencies)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
			_ = r.Shutdown(context.Background())
			hc.CloseIdleConnections()
		})
	}
}

func mustRead(b *testing.B, name string) []byte {
	data, err := readTestdata(name)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
