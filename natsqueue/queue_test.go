package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/internal/syncbuf"
)

// testAckWait is the ack wait of the tests' queues: redeliveries within seconds, with
// room for a loaded machine to send progress in time.
const testAckWait = 2 * time.Second

// openEmbedded opens a queue on an embedded server in a new state directory, closed
// when the test ends.
func openEmbedded(t testing.TB, modify ...func(*Config)) *Queue {
	t.Helper()
	cfg := Config{StateDir: t.TempDir(), AckWait: testAckWait, SyncInterval: time.Second}
	for _, m := range modify {
		m(&cfg)
	}
	return openQueue(t, cfg)
}

func openQueue(t testing.TB, cfg Config) *Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// streamMsgs counts the jobs stored in q's stream.
func streamMsgs(t testing.TB, q *Queue) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := q.js.Stream(ctx, q.cfg.Stream)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return s.CachedInfo().State.Msgs
}

// eventually polls cond until it holds, within a generous bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestConfigRefusedBeforeAnythingStarts(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"neither URL nor state", Config{}, "StateDir is required"},
		{"listen with URL", Config{URL: "nats://127.0.0.1:4222", Listen: "127.0.0.1:0"}, "Listen applies to the embedded server"},
		{"replicas on embedded", Config{StateDir: "x", Replicas: 3}, "embedded server is a single server"},
		{"too many replicas", Config{URL: "nats://127.0.0.1:4222", Replicas: 7}, "between 1 and 5"},
		{"wildcard subject", Config{StateDir: "x", Subject: "tfc.>"}, "literal subject"},
		{"empty token in subject", Config{StateDir: "x", Subject: "tfc..jobs"}, "literal subject"},
		{"dotted stream", Config{StateDir: "x", Stream: "a.b"}, "Stream must be a name"},
		{"short ack wait", Config{StateDir: "x", AckWait: time.Millisecond}, "AckWait must be at least"},
		{"negative window", Config{StateDir: "x", DuplicateWindow: -time.Second}, "must not be negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := Open(context.Background(), c.cfg)
			if err == nil {
				q.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want ErrInvalidConfig mentioning %q", err, c.want)
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://user:pa55@n1:4222, tls://tok@n2:4222,nats://n3:4222")
	if strings.Contains(got, "pa55") || strings.Contains(got, "tok@") {
		t.Errorf("credentials kept: %s", got)
	}
	if want := "nats://[redacted]@n1:4222,tls://[redacted]@n2:4222,nats://n3:4222"; got != want {
		t.Errorf("redactURLs = %s, want %s", got, want)
	}
}

// A job is stored as the service signed it, with its ID for de-duplication, and a
// second submission of the same task result is acknowledged without a second copy and
// reported as a duplicate.
func TestSubmitStoresOneMessagePerTaskResult(t *testing.T) {
	svc := newFakeService(t)
	q := openEmbedded(t)
	job := svc.newJob()
	ctx := context.Background()
	if err := q.Submit(ctx, job); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	again := job
	again.ReceivedAt = job.ReceivedAt.Add(time.Minute) // the service retried onto another replica
	if err := q.Submit(ctx, again); !errors.Is(err, tfc.ErrDuplicateJob) {
		t.Fatalf("Submit of a duplicate: %v, want tfc.ErrDuplicateJob", err)
	}
	if n := streamMsgs(t, q); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	s, err := q.js.Stream(ctx, q.cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw.Data) != string(job.Body) {
		t.Errorf("data is not the signed body")
	}
	for header, want := range map[string]string{
		"Nats-Msg-Id":        job.TaskResultID,
		"Tfc-Task-Signature": job.Signature,
		"Tfc-Received-At":    job.ReceivedAt.UTC().Format(time.RFC3339Nano),
		"Tfc-Job-Version":    "1",
	} {
		if got := raw.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	back, err := decodeJob(raw.Header, raw.Data)
	if err != nil {
		t.Fatal(err)
	}
	if back.TaskResultID != job.TaskResultID || back.Signature != job.Signature || !back.ReceivedAt.Equal(job.ReceivedAt) {
		t.Errorf("decoded %v, want %v", back, job)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.Retention != jetstream.WorkQueuePolicy || c.Storage != jetstream.FileStorage || c.Discard != jetstream.DiscardNew ||
		c.Duplicates != DefaultDuplicateWindow || c.MaxAge != 0 {
		t.Errorf("stream config: retention %v storage %v discard %v duplicates %v max age %v",
			c.Retention, c.Storage, c.Discard, c.Duplicates, c.MaxAge)
	}
}

func TestSubmitRefusesWhatCannotBeStored(t *testing.T) {
	q := openEmbedded(t, func(c *Config) { c.MaxBytes = 4096 })
	svc := newFakeService(t)
	ctx := context.Background()
	if err := q.Submit(ctx, tfc.Job{Body: []byte("{}")}); err == nil {
		t.Error("a job without a task result ID was stored")
	}
	// The stream is full: new jobs are refused, stored ones kept.
	var stored int
	var err error
	for range 10 {
		if err = q.Submit(ctx, svc.newJob()); err != nil {
			break
		}
		stored++
	}
	if err == nil || stored == 0 {
		t.Fatalf("stored %d jobs of ~1.2 KiB in 4 KiB, last error %v", stored, err)
	}
	if n := streamMsgs(t, q); n != uint64(stored) {
		t.Errorf("stream holds %d, want the %d stored before it was full", n, stored)
	}
	q.Close()
	if err := q.Submit(ctx, svc.newJob()); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	if err := q.Ready(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Ready after Close: %v, want ErrClosed", err)
	}
}

// The embedded server keeps stored jobs across a restart on the same state directory,
// and refuses a second process (or Open) on a directory in use.
func TestEmbeddedStateSurvivesRestart(t *testing.T) {
	svc := newFakeService(t)
	dir := t.TempDir()
	cfg := Config{StateDir: dir, AckWait: testAckWait}
	ctx := context.Background()
	q := openQueue(t, cfg)
	if err := q.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open on the same directory: %v, want an in-use error", err)
	}
	for range 3 {
		if err := q.Submit(ctx, svc.newJob()); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	q = openQueue(t, cfg)
	if n := streamMsgs(t, q); n != 3 {
		t.Errorf("after a restart the stream holds %d jobs, want 3", n)
	}
	stats, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Waiting != 3 || stats.InFlight != 0 {
		t.Errorf("stats %+v, want 3 waiting", stats)
	}
}

// A stream of the same name that is not a work queue is not silently changed.
func TestOpenRefusesAnIncompatibleStream(t *testing.T) {
	q := openEmbedded(t, func(c *Config) { c.Listen = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := q.js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.jobs"}}); err != nil {
		t.Fatal(err)
	}
	url := q.srv.ClientURL()
	_, err := Open(ctx, Config{URL: url, Stream: "OTHER", Subject: "other.jobs"})
	if err == nil || !strings.Contains(err.Error(), "stream OTHER") {
		t.Fatalf("Open on a limits stream: %v, want the stream's refusal", err)
	}
	if ctx.Err() != nil {
		t.Error("Open waited for its context on a permanent refusal")
	}
}

// A server URL that does not parse is reported without its credentials: nats.Connect
// returns a *url.Error that quotes the URL whole.
func TestOpenErrorLeavesCredentialsOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, url := range []string{
		"nats://alice:s3cr3tpw@bad host:4222",
		"nats://127.0.0.1:4222,nats://bob:s3cr3tpw@[::1:4222",
		"nats://s3cr3tpw@bad host:4222",
	} {
		_, err := Open(ctx, Config{URL: url})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "s3cr3tpw") || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("Open(%q): %v", url, err)
		}
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), "s3cr3tpw") {
				t.Errorf("Open(%q): a wrapped error holds the password: %v", url, e)
			}
		}
	}
}

// Printing a configuration or a queue never shows the credentials in a server URL,
// whatever the verb.
func TestPrintingLeavesCredentialsOut(t *testing.T) {
	const secret = "s3cr3t-pa55"
	cfg := Config{URL: "nats://app:" + secret + "@127.0.0.1:4222,nats://" + secret + "@127.0.0.2:4222", Replicas: 3}
	q := &Queue{cfg: cfg}
	var logged syncbuf.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", slog.Any("cfg", cfg), slog.Any("queue", q))
	for _, out := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v %+v %#v", q, q, q),
		fmt.Sprintf("%+v", []any{cfg, q}), logged.String(),
		fmt.Sprintf("%d %t %e", cfg, cfg, q), fmt.Sprintf("%d", []any{cfg, q}),
	} {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("credentials printed: %s", out)
		}
		if !strings.Contains(out, "127.0.0.2:4222") {
			t.Errorf("hosts left out: %s", out)
		}
	}
}
