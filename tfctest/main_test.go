package tfctest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// TestMain fails the package when a test leaves a goroutine behind: a closed Server,
// CTSServer and receiver must leave none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// hmacKey is the HMAC key of the run tasks the tests create.
const hmacKey = "tfctest-hmac-key"

// newServer starts a Server that closes when the test ends (after anything the test
// registers later, such as receivers that call it back).
func newServer(t *testing.T, opts ...tfctest.Option) *tfctest.Server {
	t.Helper()
	s := tfctest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// ctx returns a context that ends with the test, bounded so that a hung test fails
// rather than stalls.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// serveReceiver serves check with a tfc.Receiver verifying hmacKey, its callbacks
// retried fast, and returns its URL. The receiver is shut down when the test ends,
// before the Server is closed.
func serveReceiver(t *testing.T, check tfc.CheckFunc) string {
	t.Helper()
	callbacks, err := tfc.NewClient(tfc.WithRetryPolicy(tfctest.RetryPolicy()), tfc.WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	// Any service host, since the helper serves many Servers; the callback client is
	// a plain one (no dial guard), so the fake on loopback is reachable.
	receiver, err := tfc.NewReceiver(check, tfc.WithHMACKeys(hmacKey), tfc.WithCallbackClient(callbacks),
		tfc.InsecureAllowAnyServiceHost(), tfc.InsecureAllowHTTP())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(receiver)
	t.Cleanup(func() {
		srv.Close()
		if err := receiver.Shutdown(context.Background()); err != nil {
			t.Errorf("receiver shutdown: %v", err)
		}
	})
	return srv.URL
}

// serveStatus serves a run task URL that answers every POST with status, and sends
// each body it gets on bodies (if not nil).
func serveStatus(t *testing.T, status func(body []byte) int, bodies chan<- []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bodies != nil {
			bodies <- b
		}
		w.WriteHeader(status(b))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// ok answers 200 to everything.
func ok([]byte) int { return http.StatusOK }

// verificationOnly answers 200 to verification requests and status to the rest.
func verificationOnly(status int) func([]byte) int {
	return func(b []byte) int {
		if strings.Contains(string(b), `"access_token":"test-token"`) {
			return http.StatusOK
		}
		return status
	}
}

// attach creates a run task at url (with hmacKey) in the workspace's organization
// and attaches it at stages with level.
func attach(t *testing.T, s *tfctest.Server, ws tfctest.Workspace, name, url string, level tfc.EnforcementLevel, stages ...tfc.Stage) *tfc.RunTask {
	t.Helper()
	c := s.Client()
	task, err := c.RunTasks.Create(ctx(t), ws.Organization, tfc.RunTaskCreateOptions{Name: name, URL: url, HMACKey: hmacKey})
	if err != nil {
		t.Fatalf("create run task: %v", err)
	}
	if _, err := c.WorkspaceRunTasks.Create(ctx(t), ws.ID, tfc.WorkspaceRunTaskCreateOptions{
		RunTaskID: task.ID, EnforcementLevel: level, Stages: stages,
	}); err != nil {
		t.Fatalf("attach run task: %v", err)
	}
	return task
}

// rawRequest sends a request to the server with the given bearer token ("" for none)
// and returns the answer with its body read.
func rawRequest(t *testing.T, method, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	client.CloseIdleConnections()
	return resp, b
}

// errorObjects decodes a JSON:API error body.
func errorObjects(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var doc struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Errors) == 0 {
		t.Fatalf("not a JSON:API error body: %s", body)
	}
	return doc.Errors
}

// settledRun starts a run and waits for it to settle.
func settledRun(t *testing.T, s *tfctest.Server, workspaceID string, plan []byte, opts ...tfctest.RunOption) *tfctest.Run {
	t.Helper()
	r, err := s.StartRun(workspaceID, plan, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return r
}

// readPlan reads a plan fixture of the repository.
func readPlan(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
