package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/internal/printguard"
)

// Queue is a durable queue of run task jobs on a JetStream work-queue stream. It is the
// tfc.Executor of a receiver (tfc.WithExecutor(q)), and starts the workers that run
// the jobs (StartWorker). Its methods are safe for concurrent use.
type Queue struct {
	cfg  Config
	log  *slog.Logger
	srv  *server.Server // the embedded server; nil with Config.URL
	lock *dirLock       // the embedded server's state directory
	nc   *nats.Conn     // publishes jobs and answers Ready
	js   jetstream.JetStream
	// openedAt is when the embedded store was opened: a job stored before then was
	// stored by an earlier process, which may have run it (see Queue.attempt).
	openedAt time.Time

	mu      sync.Mutex
	closed  bool
	workers map[*Worker]struct{}
}

// maxAckPending bounds the jobs handed to workers and not yet settled, over all
// workers of the consumer. Workers take no more than their Concurrency, so this only
// needs to exceed the sum of those.
const maxAckPending = 4096

// Open connects to the queue, creating or updating its stream and consumer:
//
//   - With Config.URL empty it starts a NATS server with JetStream in this process,
//     its file store under Config.StateDir (created if missing, locked against a
//     second process), and connects to it in memory: no port is opened unless
//     Config.Listen names one. Jobs stored before a crash are there after a restart on
//     the same directory.
//   - With Config.URL it connects to that NATS server or cluster, waiting within ctx
//     while the servers cannot be reached or JetStream has no leader yet.
//
// The stream (Config.Stream) takes Config.Subject with work-queue retention and file
// storage, Config.Replicas copies, Config.DuplicateWindow de-duplication on
// Nats-Msg-Id, at most Config.MaxBytes, and refuses new jobs when full rather than
// discard stored ones. The durable pull consumer (Config.Consumer) acknowledges
// explicitly, waits Config.AckWait before it redelivers, and never stops redelivering
// a job (workers decide when a job is over; see Worker).
//
// Errors: ErrInvalidConfig for a Config it cannot use; otherwise the reason the server
// could not start, the connection failed, or JetStream refused the stream or consumer
// (for example a stream of that name with another retention policy). Open leaves
// nothing running when it fails.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, log: cfg.Logger, workers: make(map[*Worker]struct{})}
	if cfg.URL == "" {
		q.openedAt = time.Now()
		if q.srv, q.lock, err = startEmbedded(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if q.nc, err = q.connect("publisher"); err != nil {
		q.shutdownServer()
		return nil, err
	}
	if q.js, err = jetstream.New(q.nc); err != nil {
		q.nc.Close()
		q.shutdownServer()
		return nil, fmt.Errorf("natsqueue: %w", err)
	}
	if err := q.provision(ctx); err != nil {
		q.nc.Close()
		q.shutdownServer()
		return nil, err
	}
	where := "embedded server in " + cfg.StateDir
	if cfg.URL != "" {
		where = redactURLs(cfg.URL)
	}
	q.log.Info("natsqueue: queue open", slog.String("stream", cfg.Stream), slog.String("subject", cfg.Subject),
		slog.Int("replicas", cfg.Replicas), slog.String("servers", where))
	return q, nil
}

// String names the queue's stream and servers, without credentials.
func (q *Queue) String() string {
	return fmt.Sprintf("natsqueue.Queue(stream %s on %s)", q.cfg.Stream, q.where())
}

// GoString is String, so that %#v does not print the configuration's URLs either.
func (q *Queue) GoString() string { return q.String() }

// Format prints String whatever the verb, so that no verb reaches the configuration.
func (q *Queue) Format(f fmt.State, verb rune) { printguard.Format(f, verb, q) }

// connect opens a connection for one role (the publisher, or one worker): in memory to
// the embedded server, or to Config.URL, reconnecting forever.
func (q *Queue) connect(role string) (*nats.Conn, error) {
	log := q.log.With(slog.String("connection", role))
	opts := []nats.Option{
		nats.Name("tfc-natsqueue " + role),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2 * time.Second),
		nats.RetryOnFailedConnect(true), // Open and the workers wait for the servers
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("natsqueue: disconnected from NATS", slog.String("error", err.Error()))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("natsqueue: reconnected to NATS", slog.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("natsqueue: NATS error", slog.String("error", err.Error()))
		}),
	}
	url := q.cfg.URL
	if q.srv != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(q.srv))
	} else {
		opts = append(opts, q.cfg.NATSOptions...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, q.connectError(err)
	}
	return nc, nil
}

// connectError names the servers without credentials. A URL that does not parse comes
// back from nats.Connect as a *url.Error quoting it whole, password included; such an
// error keeps its words with the credentials taken out, and is not wrapped, so that
// unwrapping cannot reach the original text either.
func (q *Queue) connectError(err error) error {
	text := err.Error()
	if scrubbed := scrubCredentials(text, q.cfg.URL); scrubbed != text {
		return fmt.Errorf("natsqueue: connecting to %s: %s", q.where(), scrubbed)
	}
	return fmt.Errorf("natsqueue: connecting to %s: %w", q.where(), err)
}

func (q *Queue) where() string {
	if q.srv != nil {
		return "the embedded server"
	}
	return redactURLs(q.cfg.URL)
}

// streamConfig is the stream every replica of a receiver creates or updates to.
func (q *Queue) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        q.cfg.Stream,
		Description: "tfc run task jobs: one message per accepted delivery, Nats-Msg-Id = task result ID",
		Subjects:    []string{q.cfg.Subject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    q.cfg.Replicas,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    q.cfg.MaxBytes,
		MaxMsgs:     -1,
		Duplicates:  q.cfg.DuplicateWindow,
	}
}

// consumerConfig is the durable consumer all workers share.
func (q *Queue) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       q.cfg.Consumer,
		Description:   "tfc run task workers",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
		FilterSubject: q.cfg.Subject,
	}
}

// provision creates or updates the stream and the consumer, asking again while the
// answer is one a starting or recovering cluster gives, until ctx ends.
func (q *Queue) provision(ctx context.Context) error {
	pause := 100 * time.Millisecond
	for {
		err := q.provisionOnce(ctx)
		if err == nil || !transient(err) {
			return err
		}
		q.log.Debug("natsqueue: JetStream not ready yet", slog.String("error", err.Error()))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (waited for JetStream at %s until: %w)", err, q.where(), ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Second)
	}
}

func (q *Queue) provisionOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := q.js.CreateOrUpdateStream(ctx, q.streamConfig()); err != nil {
		return fmt.Errorf("natsqueue: stream %s: %w", q.cfg.Stream, err)
	}
	if _, err := q.js.CreateOrUpdateConsumer(ctx, q.cfg.Stream, q.consumerConfig()); err != nil {
		return fmt.Errorf("natsqueue: consumer %s: %w", q.cfg.Consumer, err)
	}
	return nil
}

// jsErrCodeNoPeersForPlacement is JetStream's JSClusterNoPeersErr.
const jsErrCodeNoPeersForPlacement jetstream.ErrorCode = 10005

// transient reports whether err is what a cluster that is starting, electing a leader
// or briefly unreachable answers, so that asking again may succeed.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 10005, no suitable peers for placement: the meta leader does not know enough
		// servers yet. On a cluster too small for Config.Replicas it stays so, and
		// Open returns it when ctx ends.
		return apiErr.Code == 503 || apiErr.Code == 408 || apiErr.ErrorCode == jsErrCodeNoPeersForPlacement
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

// Submit stores job in the stream and returns once JetStream acknowledged it (with
// Config.Replicas copies), so that the receiver answers 200 only for a stored job. It
// implements tfc.Executor.
//
// On the wire: a publish on Config.Subject whose data is job.Body as the service
// signed it, with the headers Nats-Msg-Id (the task result ID), Tfc-Task-Signature,
// Tfc-Received-At and Tfc-Job-Version (see the package documentation), answered by the
// stream leader. A job whose task result ID the stream has seen within
// Config.DuplicateWindow is acknowledged as a duplicate and not stored again: Submit
// returns an error matching tfc.ErrDuplicateJob for it, which the receiver answers 200
// (the first copy is stored) and counts as a duplicate.
//
// Errors (the receiver then answers 503 and the service delivers again): the queue
// is closed, the job has no task result ID, the job exceeds the servers' message size,
// the stream is full (Config.MaxBytes), or no acknowledgement came within
// Config.PublishTimeout or ctx. Errors name the task result ID, never the body.
func (q *Queue) Submit(ctx context.Context, job tfc.Job) error {
	if job.TaskResultID == "" {
		return errors.New("natsqueue: the job has no task result ID")
	}
	if q.isClosed() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	ack, err := q.js.PublishMsg(ctx, encodeJob(q.cfg.Subject, job), jetstream.WithExpectStream(q.cfg.Stream))
	if err != nil {
		return fmt.Errorf("natsqueue: storing the job of task result %s: %w", job.TaskResultID, err)
	}
	log := q.log.With(slog.String("task_result_id", job.TaskResultID), slog.Uint64("stream_seq", ack.Sequence))
	if ack.Duplicate {
		log.Info("natsqueue: job stored already (duplicate delivery)")
		return fmt.Errorf("%w: task result %s (stream sequence %d)", tfc.ErrDuplicateJob, job.TaskResultID, ack.Sequence)
	}
	log.Debug("natsqueue: job stored")
	return nil
}

// ErrClosed is returned by the methods of a Queue after Close.
var ErrClosed = errors.New("natsqueue: the queue is closed")

// Ready reports whether the queue accepts jobs now: nil when the publishing connection
// is up and the stream has a leader with a quorum of current replicas (so a Submit
// would be stored), the reason otherwise. It backs a health check: it asks the stream
// leader for the stream's state ($JS.API.STREAM.INFO), bounded by ctx and
// Config.PublishTimeout.
func (q *Queue) Ready(ctx context.Context) error {
	if q.isClosed() {
		return ErrClosed
	}
	if status := q.nc.Status(); status != nats.CONNECTED {
		return fmt.Errorf("natsqueue: not connected to NATS (%s)", status)
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	stream, err := q.js.Stream(ctx, q.cfg.Stream)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("natsqueue: stream %s did not answer in time (no leader, or no quorum): %w", q.cfg.Stream, err)
	}
	if err != nil {
		return fmt.Errorf("natsqueue: stream %s: %w", q.cfg.Stream, err)
	}
	info := stream.CachedInfo()
	if info.Cluster == nil || info.Config.Replicas <= 1 {
		return nil
	}
	if info.Cluster.Leader == "" {
		return fmt.Errorf("natsqueue: stream %s has no leader", q.cfg.Stream)
	}
	current := 1 // the leader
	for _, peer := range info.Cluster.Replicas {
		if peer.Current && !peer.Offline {
			current++
		}
	}
	if current <= info.Config.Replicas/2 {
		return fmt.Errorf("natsqueue: stream %s has %d of %d replicas current, short of a quorum", q.cfg.Stream, current, info.Config.Replicas)
	}
	return nil
}

// Stats is a snapshot of the queue's consumer.
type Stats struct {
	// Waiting counts stored jobs no worker has taken yet.
	Waiting uint64
	// InFlight counts jobs handed to a worker and not yet settled.
	InFlight int
	// Redelivered counts jobs in flight that were handed out more than once.
	Redelivered int
}

// Stats asks the consumer's leader for the queue's counts ($JS.API.CONSUMER.INFO).
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	if q.isClosed() {
		return Stats{}, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	c, err := q.js.Consumer(ctx, q.cfg.Stream, q.cfg.Consumer)
	if err != nil {
		return Stats{}, fmt.Errorf("natsqueue: consumer %s: %w", q.cfg.Consumer, err)
	}
	info := c.CachedInfo()
	return Stats{Waiting: info.NumPending, InFlight: info.NumAckPending, Redelivered: info.NumRedelivered}, nil
}

// Close stops the workers still running as Stop does with a context that has ended
// (their jobs in flight go back to the stream at once; see Worker.Stop), closes the
// connection, and shuts the embedded server down, flushing its store. Jobs stay in the
// stream for the next Open. Close is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	workers := make([]*Worker, 0, len(q.workers))
	for w := range q.workers {
		workers = append(workers, w)
	}
	q.mu.Unlock()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, w := range workers {
		_ = w.Stop(ended) // ctx.Err(): the hand-back is what was asked for
	}
	q.nc.Close()
	q.shutdownServer()
	return nil
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *Queue) shutdownServer() {
	if q.srv != nil {
		q.srv.Shutdown()
		q.srv.WaitForShutdown()
	}
	q.lock.release()
}
