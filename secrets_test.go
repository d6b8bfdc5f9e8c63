package tfc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// assertNoSecrets fails if text holds any of the secrets.
func assertNoSecrets(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s leaks %q:\n%s", where, s, text)
		}
	}
}

// TestNoSecretsInLogsOrErrors runs the client's flows with a debug logger and checks
// that neither the logs nor the errors carry the token, the Authorization header or a
// signed blob URL.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const signedPath = "/v1/object/dmF1bHQ6djE6c2lnbmVkLXNlY3JldA"
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<Error><Code>AccessDenied</Code><Key>%s</Key></Error>", r.URL.Path)
	}))
	defer blob.Close()

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api := newTestAPI(t, WithLogger(logger))
	var attempts atomic.Int64
	api.handle("GET /api/v2/tasks/task-ok", flaky(t, &attempts, "runtasks_show_response.json", status(429, "X-RateLimit-Reset", "0.001"), status(503)))
	api.handle("GET /api/v2/tasks/task-missing", serveFixture(t, http.StatusNotFound, "error_404.json"))
	api.handle("GET /api/v2/tasks/task-blob", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, blob.URL+signedPath+"?sig=abc", http.StatusTemporaryRedirect)
	})
	api.handle("GET /api/v2/tasks/task-drop", func(w http.ResponseWriter, r *http.Request) { dropConnection(w) })

	ctx := context.Background()
	var errs []string
	for _, id := range []string{"task-ok", "task-missing", "task-blob", "task-drop"} {
		if _, err := api.client.RunTasks.Read(ctx, id, nil); err != nil {
			errs = append(errs, fmt.Sprintf("%v | %+v | %#v", err, err, err))
		}
	}
	if len(errs) != 3 {
		t.Fatalf("want 3 failing calls, got errors %q", errs)
	}
	secrets := []string{testToken, "Bearer", signedPath, "sig=abc", "dmF1bHQ6"}
	assertNoSecrets(t, "errors", strings.Join(errs, "\n"), secrets...)
	assertNoSecrets(t, "debug logs", logs.String(), secrets...)
	if !strings.Contains(logs.String(), "tfc: http attempt") || !strings.Contains(logs.String(), "tfc: retrying request") {
		t.Errorf("logs lack the attempt and retry records:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "/[redacted]") {
		t.Errorf("the blob attempt is not logged in redacted form:\n%s", logs.String())
	}
}

func TestSecretPrinting(t *testing.T) {
	s := Secret("hmac-key-value")
	opts := RunTaskCreateOptions{Name: "n", URL: "https://x", HMACKey: s}
	update := RunTaskUpdateOptions{HMACKey: Set(s)}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", s, "opts", opts, "update", update)
	out := fmt.Sprintf("%v %+v %#v %s %q %x", s, opts, opts, s, s, s) +
		fmt.Sprintf("%v %+v %#v", update, update, update) + logs.String()
	assertNoSecrets(t, "formatting", out, "hmac-key-value")
	if string(s) != "hmac-key-value" {
		t.Error("the value itself is lost")
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty")
	}
}
