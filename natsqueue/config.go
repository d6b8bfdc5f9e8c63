package natsqueue

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tfkit/tfc/internal/printguard"
)

// Config says where the queue lives and how its stream and consumer are shaped. The
// zero value of every field but StateDir (or URL) is a working default.
type Config struct {
	// URL names an existing NATS server or cluster with JetStream enabled, as
	// nats.Connect takes it: one URL, or several separated by commas
	// ("nats://n1:4222,nats://n2:4222"). Empty starts an embedded server in this
	// process instead, with its file store under StateDir.
	URL string

	// StateDir is where the embedded server keeps its JetStream file store (under
	// StateDir/jetstream) and its lock file. Required when URL is empty, ignored
	// otherwise. Two processes never share one: Open fails on a directory in use.
	StateDir string

	// Listen makes the embedded server also accept NATS clients at host:port, for
	// example "127.0.0.1:4222" for the nats CLI. Empty (the default) opens no port:
	// this process talks to its server in memory. The port has no authentication and
	// the jobs hold run access tokens: anyone who can connect can read them, so name
	// a loopback address on a machine whose users are trusted, or leave it empty.
	Listen string

	// Stream is the JetStream stream's name (default "TFC_RUN_TASK_JOBS").
	Stream string
	// Subject is the subject jobs are published on and the stream's only subject
	// (default "tfc.run-task.jobs").
	Subject string
	// Consumer is the durable pull consumer's name, shared by every worker (default
	// "tfc-run-task-workers").
	Consumer string

	// Replicas is how many servers keep a copy of each job (default 1). On a cluster of
	// three or more, 3 keeps the queue writable with one server down.
	Replicas int

	// DuplicateWindow is how long the stream remembers a task result ID, so that a
	// second delivery of it (the service retrying a delivery whose 200 it did not see,
	// onto this replica or another) is acknowledged and not run again (default
	// DefaultDuplicateWindow).
	DuplicateWindow time.Duration

	// MaxBytes bounds the bytes of jobs waiting in the stream (default 1 GiB). When it
	// is reached new jobs are refused (the receiver answers 503 and the service
	// retries); jobs already stored are never discarded to make room.
	MaxBytes int64

	// PublishTimeout bounds how long Submit waits for JetStream to store a job, within
	// the caller's context (default 5 seconds), so that the receiver answers 503 rather
	// than hold the service's request.
	PublishTimeout time.Duration

	// AckWait is how long JetStream waits for a worker's word on a job before it
	// delivers the job to another worker (default DefaultAckWait). Workers report
	// progress every AckWait/3 while a check runs, so AckWait is also about how long a
	// dead worker's job waits before it is redelivered.
	AckWait time.Duration

	// SyncInterval is how often the embedded server flushes its file store to disk.
	// Zero (the default) flushes after every write, so that an acknowledged job
	// survives a power loss and not only a crash of this process; a positive interval
	// trades that for throughput. Ignored with URL (the cluster's configuration rules).
	SyncInterval time.Duration

	// NATSOptions are passed to every connection made with URL: credentials, TLS,
	// a connection name. Reconnection is always on (forever, every 2 seconds), since
	// a queue must outlive a restart of its servers.
	NATSOptions []nats.Option

	// Logger receives the queue's logs (default: discarded). They name task result IDs
	// and stream sequences, never a job's body.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultStream   = "TFC_RUN_TASK_JOBS"
	DefaultSubject  = "tfc.run-task.jobs"
	DefaultConsumer = "tfc-run-task-workers"

	// DefaultDuplicateWindow covers the whole life of a task result at the service:
	// it errors a result that runs past 60 minutes from its request, so no delivery of
	// a task result can come later than that. Whatever the service's (undocumented)
	// retry schedule, a repeated delivery falls inside the window, and so does one
	// retried onto another receiver replica. Remembering an ID costs the stream a few
	// dozen bytes for the window's length.
	DefaultDuplicateWindow = 60 * time.Minute

	DefaultMaxBytes       = 1 << 30
	DefaultPublishTimeout = 5 * time.Second

	// DefaultAckWait redelivers a dead worker's job within seconds; live workers
	// report progress three times per AckWait.
	DefaultAckWait = 15 * time.Second

	// embeddedMaxPayload is the embedded server's message size limit: room for a
	// delivery at the receiver's default body cap (1 MiB) with its headers.
	embeddedMaxPayload = 8 << 20
)

// ErrInvalidConfig is matched (errors.Is) by every error Open returns for a Config it
// cannot use, before anything is started or dialled.
var ErrInvalidConfig = errors.New("natsqueue: invalid configuration")

// withDefaults returns c with its zero fields set and checks it.
func (c Config) withDefaults() (Config, error) {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.URL = strings.TrimSpace(c.URL)
	switch {
	case c.URL == "" && strings.TrimSpace(c.StateDir) == "":
		return c, invalid("StateDir is required for the embedded server (or set URL to use a NATS cluster)")
	case c.URL != "" && c.Listen != "":
		return c, invalid("Listen applies to the embedded server only; it cannot be combined with URL")
	case c.URL == "" && c.Replicas != 1:
		return c, invalid(fmt.Sprintf("Replicas is %d, but the embedded server is a single server: use 1, or URL for a cluster", c.Replicas))
	case c.Replicas < 1 || c.Replicas > 5:
		return c, invalid("Replicas must be between 1 and 5 (JetStream's limit)")
	case strings.ContainsAny(c.Stream, " \t\r\n.*>/\\"):
		return c, invalid("Stream must be a name without spaces, dots, wildcards or slashes")
	case strings.ContainsAny(c.Consumer, " \t\r\n.*>/\\"):
		return c, invalid("Consumer must be a name without spaces, dots, wildcards or slashes")
	case strings.ContainsAny(c.Subject, " \t\r\n*>") || strings.HasPrefix(c.Subject, ".") ||
		strings.HasSuffix(c.Subject, ".") || strings.Contains(c.Subject, ".."):
		return c, invalid("Subject must be a literal subject (dot-separated tokens, no wildcards)")
	case c.DuplicateWindow < 0 || c.MaxBytes < 0 || c.PublishTimeout < 0 || c.SyncInterval < 0:
		return c, invalid("durations and sizes must not be negative")
	case c.AckWait < time.Second/2:
		// Progress goes out every AckWait/3: much less and a busy machine misses one,
		// and a live worker's job is handed to another.
		return c, invalid("AckWait must be at least 500ms")
	}
	return c, nil
}

func invalid(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidConfig, reason) }

// redactURLs prints the configured server URLs without user information, for logs and
// errors: a URL may carry a user and password.
// scrubCredentials replaces in text the user information of every URL of the
// comma-separated list raw (user:password, or a token), and each password alone.
func scrubCredentials(text, raw string) string {
	var secrets []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		userinfo := p[:at]
		if s := strings.Index(userinfo, "://"); s >= 0 {
			userinfo = userinfo[s+3:]
		}
		if userinfo == "" {
			continue
		}
		secrets = append(secrets, userinfo)
		if _, password, ok := strings.Cut(userinfo, ":"); ok && password != "" {
			secrets = append(secrets, password)
		}
	}
	// Longest first, so that a user:password goes whole before its password alone.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, "[redacted]")
	}
	return text
}

func redactURLs(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				scheme = p[:s+3]
			}
			p = scheme + "[redacted]@" + p[at+1:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// String describes the configuration with the server URLs' user information (a user
// and password, or a token) left out, so that printing a Config never shows them.
func (c Config) String() string {
	return fmt.Sprintf("natsqueue.Config{URL: %q, StateDir: %q, Listen: %q, Stream: %q, Subject: %q, Consumer: %q, Replicas: %d, "+
		"DuplicateWindow: %v, MaxBytes: %d, PublishTimeout: %v, AckWait: %v, SyncInterval: %v, NATSOptions: %d}",
		redactURLs(c.URL), c.StateDir, c.Listen, c.Stream, c.Subject, c.Consumer, c.Replicas,
		c.DuplicateWindow, c.MaxBytes, c.PublishTimeout, c.AckWait, c.SyncInterval, len(c.NATSOptions))
}

// GoString is String, so that %#v leaves the credentials out too.
func (c Config) GoString() string { return c.String() }

// Format prints String whatever the verb, so that %d or %t cannot print the URLs'
// credentials field by field.
func (c Config) Format(f fmt.State, verb rune) { printguard.Format(f, verb, c) }

// LogValue logs the configuration as String prints it.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
