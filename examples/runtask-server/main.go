// Command runtask-server is a run task integration for HCP Terraform and Terraform
// Enterprise. By default it is a deletion guard: at a stage with a plan it fails the
// run when any resource would be deleted (plainly or by a replacement), naming each
// one, and passes otherwise with the plan's summary; at pre_plan it passes. With
// -policy DIR it runs the conftest-style Rego policies under DIR instead (package
// regocheck): deny and violation messages fail the run, warn messages are advice.
//
//	RUN_TASK_HMAC_KEY=… go run . -addr 0.0.0.0:8080   # in examples/runtask-server
//
// Deliveries are served at / (POST). The HMAC key (the run task's hmac-key) comes from
// the environment variable RUN_TASK_HMAC_KEY and is required unless -insecure-no-hmac
// is given. -allowed-host is the comma-separated list of service hosts deliveries may
// name (default app.terraform.io; a Terraform Enterprise user names their host, with
// :port if needed). Service URLs must be https unless -allow-http is given, for local
// testing against a fake service.
//
// Durable by default: a delivery is answered 200 only once it is stored in a NATS
// JetStream file store under -state DIR (default ./runtask-server-data in the working
// directory; an embedded server, no port opened, nothing else to run), and a worker in
// the same process runs the checks from there. Killed and started again on the same
// directory, the server finishes every delivery it had answered, each with exactly one
// accepted final result. The directory holds the deliveries' access tokens until
// their results are reported: keep it private (it is created with mode 0700). With
// -nats URL (comma-separated, for a cluster) it uses an existing NATS cluster with
// JetStream instead, and any number of replicas behind a load balancer share the work;
// -nats-replicas sets how many servers keep each job (3 on a cluster of three or more)
// and -nats-creds a credentials file.
//
// On the same address, GET /healthz answers 200 when the queue takes writes and 503
// otherwise, and GET /metrics serves Prometheus metrics: deliveries accepted, refused
// (by status) and duplicate, deliveries pending and checks in flight, check durations
// (by result), callback attempts (by kind and answer), final results (by status and
// outcome), and the queue's jobs waiting, in flight and redelivered.
//
// On SIGINT or SIGTERM it stops accepting, lets the running checks finish for at most
// 30 seconds, and hands the others back to the queue unreported, for the next start
// (or another replica) to run.
//
// Build it with `cd examples/runtask-server && go build .`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/examples/internal/deletionguard"
	"github.com/tfkit/tfc/natsqueue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp): // -h: the usage was printed
	case err != nil:
		fmt.Fprintln(os.Stderr, "runtask-server:", err)
		os.Exit(1)
	}
}

// Timeouts of the server's life.
const (
	// openTimeout bounds the wait for the queue at start: the embedded server's store,
	// or a NATS cluster to answer with a JetStream leader.
	openTimeout = time.Minute
	// shutdownTimeout is how long the running checks may take to finish once a signal
	// came; the others are handed back to the queue.
	shutdownTimeout = 30 * time.Second
)

// config is what the command line and the environment say.
type config struct {
	addr         string
	hosts        []string
	key          tfc.Secret
	unsigned     bool
	allowHTTP    bool
	policyDir    string
	stateDir     string
	natsURL      string
	natsReplicas int
	natsCreds    string
}

// parseConfig reads the flags and the environment, and refuses a combination that
// cannot work before anything is opened.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("runtask-server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to listen on (deliveries at /, /healthz, /metrics)")
	fs.BoolVar(&c.unsigned, "insecure-no-hmac", false, "accept unsigned deliveries (local testing only)")
	allowed := fs.String("allowed-host", "app.terraform.io", "comma-separated service `hosts` deliveries may name (your Terraform Enterprise host, with :port if needed)")
	fs.BoolVar(&c.allowHTTP, "allow-http", false, "accept plain-http service URLs (local testing against a fake service only)")
	fs.StringVar(&c.policyDir, "policy", "", "run the conftest-style Rego policies under `DIR` instead of the deletion guard")
	fs.StringVar(&c.stateDir, "state", "runtask-server-data", "`DIR` of the embedded queue's store (holds access tokens until reported: keep it private)")
	fs.StringVar(&c.natsURL, "nats", "", "use the NATS cluster with JetStream at `URL` (comma-separated) instead of the embedded queue")
	fs.IntVar(&c.natsReplicas, "nats-replicas", 1, "with -nats: how many servers keep each job (`N`, 1 to 5; 3 on a cluster of three or more)")
	fs.StringVar(&c.natsCreds, "nats-creds", "", "with -nats: a NATS credentials `FILE`")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, h := range strings.Split(*allowed, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.hosts = append(c.hosts, h)
		}
	}
	switch {
	case len(c.hosts) == 0:
		return c, errors.New("-allowed-host names no host")
	case c.natsURL != "" && set["state"]:
		return c, errors.New("-state and -nats exclude each other: the embedded queue keeps its store in -state, a NATS cluster its own")
	case c.natsURL == "" && (set["nats-replicas"] || set["nats-creds"]):
		return c, errors.New("-nats-replicas and -nats-creds apply only with -nats")
	case c.natsReplicas < 1 || c.natsReplicas > 5:
		return c, errors.New("-nats-replicas must be between 1 and 5")
	case strings.TrimSpace(c.stateDir) == "":
		return c, errors.New("-state names no directory")
	}
	switch key := getenv("RUN_TASK_HMAC_KEY"); {
	case key != "":
		c.key = tfc.Secret(key)
	case !c.unsigned:
		return c, errors.New("RUN_TASK_HMAC_KEY is not set (or pass -insecure-no-hmac for local testing)")
	}
	return c, nil
}

// run serves until ctx ends. ready, if not nil, receives the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready chan<- string) error {
	cfg, err := parseConfig(args, getenv, logOut)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	check, checkName, err := chooseCheck(cfg.policyDir, logger)
	if err != nil {
		return err
	}
	q, err := openQueue(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer q.Close()

	m := newMetrics()
	opts := []tfc.ReceiverOption{
		tfc.WithReceiverLogger(logger),
		tfc.WithAllowedHosts(cfg.hosts...),
		tfc.WithExecutor(q),
		tfc.WithHandBackOnShutdown(),
		tfc.WithReceiverHooks(m.hooks()),
	}
	if cfg.unsigned {
		opts = append(opts, tfc.AllowUnsignedDeliveries())
	} else {
		opts = append(opts, tfc.WithHMACKeys(cfg.key))
	}
	if cfg.allowHTTP {
		opts = append(opts, tfc.InsecureAllowHTTP())
	}
	// One receiver plays both parts: ServeHTTP stores each delivery in the queue, and
	// the worker calls its Process for each job it takes off the queue.
	receiver, err := tfc.NewReceiver(check, opts...)
	if err != nil {
		return err
	}
	worker, err := q.StartWorker(receiver, natsqueue.WorkerOptions{Logger: logger})
	if err != nil {
		return err
	}
	probes := newQueueProbes(q)
	m.watch(receiver, probes)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		stopWorker(worker)
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", healthz(probes))
	mux.Handle("/metrics", m.handler())
	mux.Handle("/", receiver)
	srv := deletionguard.NewServer(cfg.addr, mux)
	// The first words stay those of earlier releases: scripts wait for this line.
	listening := "deletion guard listening"
	if cfg.policyDir != "" {
		listening = "rego policies listening"
	}
	logger.Info(listening, "addr", ln.Addr().String(), "check", checkName, "queue", q.String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		stopWorker(worker)
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, serveErr, worker, receiver, logger)
}

// stopWorker stops the worker on an error path within shutdownTimeout: checks still
// running then are handed back to the queue, for the next start or another replica,
// rather than holding the exit for up to their 55-minute deadline.
func stopWorker(worker *natsqueue.Worker) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = worker.Stop(ctx)
}

// shutdown stops in the order that loses nothing: no new deliveries (the service
// retries those elsewhere or later), then the worker, whose running checks finish or,
// after shutdownTimeout, are handed back to the queue unreported; the queue closes
// after (run's defer), flushing its store.
func shutdown(srv *http.Server, serveErr <-chan error, worker *natsqueue.Worker, receiver *tfc.Receiver, logger *slog.Logger) error {
	logger.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(ctx)
	if err := worker.Stop(ctx); err != nil {
		logger.Warn("checks still running were handed back to the queue, for the next start or another replica", "error", err.Error())
	}
	// Nothing runs on the receiver any more; this closes its idle connections.
	_ = receiver.Shutdown(ctx)
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(httpErr, err)
	}
	return httpErr
}

// openQueue opens the embedded queue on cfg.stateDir, or the NATS cluster at
// cfg.natsURL, waiting for it at most openTimeout.
func openQueue(ctx context.Context, cfg config, logger *slog.Logger) (*natsqueue.Queue, error) {
	qc := natsqueue.Config{StateDir: cfg.stateDir, Logger: logger}
	if cfg.natsURL != "" {
		qc = natsqueue.Config{URL: cfg.natsURL, Replicas: cfg.natsReplicas, Logger: logger}
		if cfg.natsCreds != "" {
			qc.NATSOptions = []nats.Option{nats.UserCredentials(cfg.natsCreds)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	q, err := natsqueue.Open(ctx, qc)
	if err != nil {
		return nil, fmt.Errorf("opening the queue: %w", err)
	}
	return q, nil
}
