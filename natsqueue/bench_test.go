package natsqueue

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/natsqueue/natsqueuetest"
)

// benchTransport keeps connections to the loopback servers open across requests.
func benchTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return t
}

// BenchmarkDeliveryToFinal measures deliveries from the service's POST to its
// accepted final callback, a burst of b.N from 32 senders, with a check that fetches
// the plan: in process (no executor); through the embedded queue with its file store
// flushed after every write (the default) and every two minutes (NATS's default);
// through the embedded server over loopback TCP instead of the in-memory connection;
// and through a three-server cluster with three replicas. One op is one delivery.
// Rounds interleave the variants, so drift on a shared machine hits each alike:
//
//	go test -c -o /tmp/nq.test . && for i in 1 2 3 4; do
//	  /tmp/nq.test -test.run '^$' -test.bench DeliveryToFinal -test.benchtime 1000x; done
func BenchmarkDeliveryToFinal(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		svc := newFakeService(b)
		r := newReceiverWithClient(b, svc.host(), benchTransport(), passPlan)
		benchDeliveries(b, svc, serve(b, r))
	})
	for _, sync := range []time.Duration{0, 2 * time.Minute} {
		name := "embedded/sync=always"
		if sync > 0 {
			name = "embedded/sync=" + sync.String()
		}
		b.Run(name, func(b *testing.B) {
			svc := newFakeService(b)
			q := openEmbedded(b, func(c *Config) { c.SyncInterval = sync; c.AckWait = 15 * time.Second })
			benchQueue(b, svc, q, q)
		})
	}
	b.Run("embedded-over-tcp/sync=always", func(b *testing.B) {
		svc := newFakeService(b)
		server := openEmbedded(b, func(c *Config) { c.Listen = "127.0.0.1:0" })
		q := openQueue(b, Config{URL: server.srv.ClientURL(), AckWait: 15 * time.Second})
		benchQueue(b, svc, q, q)
	})
	b.Run("cluster-R3", func(b *testing.B) {
		svc := newFakeService(b)
		c := natsqueuetest.StartCluster(b, 3)
		cfg := Config{URL: c.URLs(), Replicas: 3, AckWait: 15 * time.Second}
		front, back := openQueue(b, cfg), openQueue(b, cfg)
		benchQueue(b, svc, front, back)
	})
}

// benchQueue runs the deliveries through front (the receiver's executor) and a worker
// on back.
func benchQueue(b *testing.B, svc *fakeService, front, back *Queue) {
	worker := newReceiverWithClient(b, svc.host(), benchTransport(), passPlan)
	startWorker(b, back, worker, WorkerOptions{})
	r := newReceiverWithClient(b, svc.host(), benchTransport(), passPlan, tfc.WithExecutor(front))
	benchDeliveries(b, svc, serve(b, r))
}

// benchDeliveries sends b.N deliveries with 32 senders and waits for every final; it
// reports deliveries per second and the POST-to-final latency.
func benchDeliveries(b *testing.B, svc *fakeService, f *frontEnd) {
	client := &http.Client{Transport: benchTransport()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const senders = 32
	var next atomic.Int64
	var mu sync.Mutex
	posted := make(map[string]time.Time, b.N)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				at := time.Now()
				id, err := svc.deliver(ctx, client, f.server.URL)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				posted[id] = at
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ids := make([]string, 0, len(posted))
	for id := range posted {
		ids = append(ids, id)
	}
	svc.waitFinal(b, ids...)
	elapsed := time.Since(start)
	b.StopTimer()
	latencies := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		res := svc.snapshot(id)
		if len(res.finals) != 1 {
			b.Fatalf("task result %s: %d accepted finals", id, len(res.finals))
		}
		latencies = append(latencies, res.finalAt.Sub(posted[id]))
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkRedeliveryAfterWorkerDeath measures the time from a worker's death mid-check
// to its job's check starting on another worker, for two ack waits. One op is one
// death.
//
//	go test -run '^$' -bench RedeliveryAfterWorkerDeath -benchtime 3x ./
func BenchmarkRedeliveryAfterWorkerDeath(b *testing.B) {
	for _, ackWait := range []time.Duration{2 * time.Second, DefaultAckWait} {
		b.Run(fmt.Sprintf("ack-wait=%v", ackWait), func(b *testing.B) {
			svc := newFakeService(b)
			q := openEmbedded(b, func(c *Config) { c.AckWait = ackWait })
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				total += redeliveryAfterDeath(b, svc, q)
			}
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/redelivery")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// redeliveryAfterDeath kills a worker mid-check and returns how long its job took to
// start again on another worker.
func redeliveryAfterDeath(b *testing.B, svc *fakeService, q *Queue) time.Duration {
	g := newGate()
	dying, err := q.StartWorker(newReceiver(b, svc, g.check), WorkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	job := svc.newJob()
	submit(b, q, job)
	waitStarted(b, g)
	dying.kill()
	died := time.Now()
	again := newGate()
	close(again.open)
	other, err := q.StartWorker(newReceiver(b, svc, again.check), WorkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	waitStarted(b, again)
	took := time.Since(died)
	svc.waitFinal(b, job.TaskResultID)
	close(g.open)
	ctx := context.Background()
	_ = dying.Stop(ctx)
	_ = other.Stop(ctx)
	return took
}
