package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/natsqueue"
)

// What an operator watches: /healthz for a load balancer or an orchestrator, /metrics
// for Prometheus. Neither shows a token, a key or a delivery's content.

// probeTimeout bounds what /healthz and a scrape of the queue's counts wait for
// JetStream.
const probeTimeout = 5 * time.Second

// probeFreshFor is how long an answer from JetStream serves /healthz and /metrics.
// They share the delivery address, unauthenticated, so without it every request to
// them would cost JetStream API calls.
const probeFreshFor = time.Second

// probe is one question to JetStream whose answer is shared for probeFreshFor; callers
// meanwhile wait for the one question in flight rather than ask again.
type probe[T any] struct {
	ask func(context.Context) (T, error)

	mu    sync.Mutex
	asked time.Time
	value T
	err   error
}

func newProbe[T any](ask func(context.Context) (T, error)) *probe[T] {
	return &probe[T]{ask: ask}
}

func (p *probe[T]) get() (T, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.asked.IsZero() || time.Since(p.asked) >= probeFreshFor {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		p.value, p.err = p.ask(ctx)
		cancel()
		p.asked = time.Now()
	}
	return p.value, p.err
}

// queueProbes are the queue's two questions: does it take writes, and what it holds.
type queueProbes struct {
	ready *probe[struct{}]
	stats *probe[natsqueue.Stats]
}

func newQueueProbes(q *natsqueue.Queue) queueProbes {
	return queueProbes{
		ready: newProbe(func(ctx context.Context) (struct{}, error) { return struct{}{}, q.Ready(ctx) }),
		stats: newProbe(q.Stats),
	}
}

// healthz answers GET /healthz: 200 "ok" when the queue takes writes (a delivery
// would be stored and answered 200), 503 with the reason otherwise (no JetStream
// leader or quorum, disconnected, closed); the answer is at most probeFreshFor old.
func healthz(probes queueProbes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if _, err := probes.ready.get(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
}

// metrics are the server's Prometheus metrics, on a registry of their own: the
// receiver's counts (tfc.ReceiverHooks, Receiver.Stats), the queue's
// (natsqueue.Queue.Stats, Ready), and the Go runtime's and the process's.
type metrics struct {
	registry     *prometheus.Registry
	accepted     prometheus.Counter
	refused      *prometheus.CounterVec
	duplicates   prometheus.Counter
	checkSeconds *prometheus.HistogramVec
	attempts     *prometheus.CounterVec
	finals       *prometheus.CounterVec
}

// checkBuckets spans checks from tens of milliseconds to the 55-minute deadline.
var checkBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3300}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tfc_receiver_deliveries_accepted_total",
			Help: "Run task deliveries answered 200 and stored in the queue.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfc_receiver_deliveries_refused_total",
			Help: "Requests answered with an error status (400, 401, 403, 405, 413, 503), by status.",
		}, []string{"code"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tfc_receiver_deliveries_duplicate_total",
			Help: "Repeated deliveries of a task result answered 200 and not run again.",
		}),
		checkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tfc_receiver_check_duration_seconds",
			Help:    "How long checks ran, by result (passed, failed, error, timeout, stopped).",
			Buckets: checkBuckets,
		}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfc_receiver_callback_attempts_total",
			Help: `HTTP attempts of callbacks, by kind (progress, final) and answer (the status code, or "error" when none came).`,
		}, []string{"kind", "code"}),
		finals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfc_receiver_finals_total",
			Help: "Final results sent, by status (passed, failed) and outcome (accepted, already_final, not_reported).",
		}, []string{"status", "outcome"}),
	}
	// The series a dashboard expects exist from the start, at zero.
	for _, result := range []tfc.CheckResult{tfc.CheckPassed, tfc.CheckFailed, tfc.CheckError, tfc.CheckTimeout, tfc.CheckStopped} {
		m.checkSeconds.WithLabelValues(string(result))
	}
	for _, status := range []tfc.TaskResultStatus{tfc.TaskResultPassed, tfc.TaskResultFailed} {
		for _, outcome := range []tfc.FinalOutcome{tfc.FinalAccepted, tfc.FinalAlreadyFinal, tfc.FinalNotReported} {
			m.finals.WithLabelValues(string(status), string(outcome))
		}
	}
	m.registry.MustRegister(m.accepted, m.refused, m.duplicates, m.checkSeconds, m.attempts, m.finals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// hooks are the receiver's hooks that feed the counters.
func (m *metrics) hooks() tfc.ReceiverHooks {
	return tfc.ReceiverHooks{
		DeliveryAccepted:  m.accepted.Inc,
		DeliveryRefused:   func(status int) { m.refused.WithLabelValues(strconv.Itoa(status)).Inc() },
		DeliveryDuplicate: m.duplicates.Inc,
		CheckDone: func(c tfc.CheckRun) {
			m.checkSeconds.WithLabelValues(string(c.Result)).Observe(c.Duration.Seconds())
		},
		CallbackAttempt: func(a tfc.CallbackAttempt) {
			code := "error"
			if a.StatusCode != 0 {
				code = strconv.Itoa(a.StatusCode)
			}
			m.attempts.WithLabelValues(string(a.Kind), code).Inc()
		},
		FinalReported: func(f tfc.FinalReport) {
			m.finals.WithLabelValues(string(f.Status), string(f.Outcome)).Inc()
		},
	}
}

// watch adds the gauges read at every scrape: the receiver's load and the queue's
// counts.
func (m *metrics) watch(r *tfc.Receiver, probes queueProbes) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tfc_receiver_deliveries_pending",
			Help: "Deliveries accepted and waiting for a check slot in this process.",
		}, func() float64 { return float64(r.Stats().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tfc_receiver_checks_in_flight",
			Help: "Checks running in this process.",
		}, func() float64 { return float64(r.Stats().InFlight) }),
		queueCollector{probes},
	)
}

// maxScrapesAtOnce bounds the scrapes served at once; more get 503.
const maxScrapesAtOnce = 4

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{MaxRequestsInFlight: maxScrapesAtOnce})
}

// queueCollector reads the queue's counts from JetStream, at most once a probeFreshFor.
type queueCollector struct{ probes queueProbes }

var (
	queueReadyDesc = prometheus.NewDesc("tfc_queue_ready",
		"1 when the queue takes writes (as /healthz), 0 otherwise.", nil, nil)
	queueWaitingDesc = prometheus.NewDesc("tfc_queue_jobs_waiting",
		"Jobs stored and not yet taken by a worker (all replicas).", nil, nil)
	queueInFlightDesc = prometheus.NewDesc("tfc_queue_jobs_in_flight",
		"Jobs taken by a worker and not yet settled (all replicas).", nil, nil)
	queueRedeliveredDesc = prometheus.NewDesc("tfc_queue_jobs_redelivered",
		"Jobs in flight that were handed out more than once (all replicas).", nil, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueReadyDesc
	ch <- queueWaitingDesc
	ch <- queueInFlightDesc
	ch <- queueRedeliveredDesc
}

// Collect reports whether the queue is ready, and its counts when JetStream answers
// (none otherwise: a missing series, not a false zero).
func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ready := 0.0
	if _, err := c.probes.ready.get(); err == nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(queueReadyDesc, prometheus.GaugeValue, ready)
	stats, err := c.probes.stats.get()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(queueWaitingDesc, prometheus.GaugeValue, float64(stats.Waiting))
	ch <- prometheus.MustNewConstMetric(queueInFlightDesc, prometheus.GaugeValue, float64(stats.InFlight))
	ch <- prometheus.MustNewConstMetric(queueRedeliveredDesc, prometheus.GaugeValue, float64(stats.Redelivered))
}
