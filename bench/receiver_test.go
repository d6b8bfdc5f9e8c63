package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc"
)

const benchKey tfc.Secret = "bench-hmac-key"

// deliveries builds n signed run task requests, shaped like the documented post_plan
// payload, whose callbacks go to callbackURL.
func deliveries(b *testing.B, n int, prefix, callbackURL string) ([][]byte, []string) {
	raw, err := os.ReadFile("../testdata/runtask_request_post_plan.json")
	if err != nil {
		b.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		b.Fatal(err)
	}
	delete(p, "plan_json_api_url")
	delete(p, "configuration_version_download_url")
	p["task_result_callback_url"] = callbackURL
	bodies, sigs := make([][]byte, n), make([]string, n)
	for i := range n {
		p["task_result_id"] = fmt.Sprintf("taskrs-%s-%d", prefix, i)
		p["access_token"] = fmt.Sprintf("at-%s-%d.atlasv1", prefix, i) // one per task result, as the service sends
		bodies[i], _ = json.Marshal(p)
		sigs[i] = tfc.Sign(benchKey, bodies[i])
	}
	return bodies, sigs
}

// timedHandler records how long the receiver's ServeHTTP takes for each delivery.
type timedHandler struct {
	h     http.Handler
	mu    sync.Mutex
	times []time.Duration
}

func (t *timedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t.h.ServeHTTP(w, r)
	d := time.Since(start)
	t.mu.Lock()
	t.times = append(t.times, d)
	t.mu.Unlock()
}

type receiverRig struct {
	receiver  *tfc.Receiver
	timed     *timedHandler
	srv       *httptest.Server
	callbacks *httptest.Server
	finals    atomic.Int64
	finalSeen chan struct{} // gets a value for every final callback
	hc        *http.Client
}

// newReceiverRig serves a receiver with its default bounds (128 checks at once, the
// rest queued), its own client (per-token windows, the dial guard) and a callback
// server on loopback that it is told to allow.
func newReceiverRig(b *testing.B, conns int) *receiverRig {
	rig := &receiverRig{finalSeen: make(chan struct{}, 1<<16)}
	rig.callbacks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bytes.Contains(readAll(r), []byte(`"status":"passed"`)) {
			rig.finals.Add(1)
			rig.finalSeen <- struct{}{}
		}
	}))
	r, err := tfc.NewReceiver(func(context.Context, *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		return tfc.Passed("ok"), nil
	}, tfc.WithHMACKeys(benchKey), tfc.WithAllowedHosts(strings.TrimPrefix(rig.callbacks.URL, "http://")), tfc.InsecureAllowHTTP())
	if err != nil {
		b.Fatal(err)
	}
	rig.receiver = r
	rig.timed = &timedHandler{h: r}
	rig.srv = httptest.NewServer(rig.timed)
	rig.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxIdleConns: conns}}
	return rig
}

func (rig *receiverRig) close() {
	_ = rig.receiver.Shutdown(context.Background())
	rig.srv.Close()
	rig.callbacks.Close()
	rig.hc.CloseIdleConnections()
}

func (rig *receiverRig) deliver(b *testing.B, body []byte, sig string) time.Duration {
	req, _ := http.NewRequest(http.MethodPost, rig.srv.URL, bytes.NewReader(body))
	req.Header.Set(tfc.SignatureHeader, sig)
	start := time.Now()
	resp, err := rig.hc.Do(req)
	if err != nil {
		b.Error(err)
		return 0
	}
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
	}
	return d
}

func readAll(r *http.Request) []byte {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r.Body)
	return buf.Bytes()
}

func percentile(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, len(s)*p/100)].Microseconds()) / 1000
}

// BenchmarkReceiverAck measures the receiver acknowledging signed deliveries on
// loopback, with its default bounds (128 checks at once, the rest queued).
// closed-loop-c=N keeps N deliveries in flight all the time (each client sends its
// next one as soon as the last is answered) and reports the throughput; its latency is
// N divided by that throughput, whatever the receiver does. burst-256 and burst-1000
// send 256 or 1,000 deliveries at once, wait for them and their callbacks, and
// repeat: the ack latency of a burst as the service would see it (client) and the time
// the receiver's handler takes (handler). Checks pass at once and call back to a local
// server, so their work competes with the acks on the same two cores. Every delivery
// must be answered 200.
func BenchmarkReceiverAck(b *testing.B) {
	for _, conc := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("closed-loop-c=%d", conc), func(b *testing.B) {
			rig := newReceiverRig(b, conc)
			defer rig.close()
			bodies, sigs := deliveries(b, b.N, fmt.Sprintf("cl%d-%d", conc, b.N), rig.callbacks.URL+"/cb")
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
						lat[i] = rig.deliver(b, bodies[i], sigs[i])
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
			b.ReportMetric(percentile(lat, 50), "p50-ms")
			b.ReportMetric(percentile(lat, 99), "p99-ms")
			b.ReportMetric(percentile(rig.timed.times, 99), "handler-p99-ms")
		})
	}
	for _, burst := range []int{256, 1000} {
		b.Run(fmt.Sprintf("burst-%d", burst), func(b *testing.B) {
			rig := newReceiverRig(b, burst)
			defer rig.close()
			var client []time.Duration
			for round := 0; b.Loop(); round++ {
				b.StopTimer()
				bodies, sigs := deliveries(b, burst, fmt.Sprintf("burst%d-%d", burst, round), rig.callbacks.URL+"/cb")
				want := rig.finals.Load() + int64(burst)
				lat := make([]time.Duration, burst)
				gate := make(chan struct{})
				var wg sync.WaitGroup
				for i := range burst {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						lat[i] = rig.deliver(b, bodies[i], sigs[i])
					}()
				}
				b.StartTimer()
				close(gate)
				wg.Wait()
				b.StopTimer()
				client = append(client, lat...)
				for rig.finals.Load() < want { // let the burst's callbacks finish
					<-rig.finalSeen
				}
				b.StartTimer()
			}
			b.ReportMetric(percentile(client, 50), "p50-ms")
			b.ReportMetric(percentile(client, 99), "p99-ms")
			b.ReportMetric(percentile(rig.timed.times, 50), "handler-p50-ms")
			b.ReportMetric(percentile(rig.timed.times, 99), "handler-p99-ms")
		})
	}
}

// BenchmarkReceiverThroughput measures deliveries per second through to the final
// callback: b.N signed deliveries sent by 64 senders, timed from the first send to
// the last final callback received, with the receiver's default bounds. The check
// passes at once, so this is the receiver's own cost: verify, decode, queue, run,
// call back.
func BenchmarkReceiverThroughput(b *testing.B) {
	const senders = 64
	rig := newReceiverRig(b, senders)
	defer rig.close()
	bodies, sigs := deliveries(b, b.N, fmt.Sprintf("tp-%d", b.N), rig.callbacks.URL+"/cb")
	want := rig.finals.Load() + int64(b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
				rig.deliver(b, bodies[i], sigs[i])
			}
		}()
	}
	wg.Wait()
	for rig.finals.Load() < want {
		<-rig.finalSeen
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "finals/s")
	b.ReportMetric(percentile(rig.timed.times, 99), "handler-p99-ms")
}
