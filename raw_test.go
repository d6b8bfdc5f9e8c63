package tfc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// projectsDoc is the shape of a projects document, an endpoint tfc does not wrap.
type projectsDoc struct {
	Data []struct {
		ID         string `json:"id"`
		Attributes struct {
			Name string `json:"name"`
		} `json:"attributes"`
	} `json:"data"`
}

func TestDoReadsAnUnwrappedEndpoint(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/my org/projects", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.EscapedPath(); got != "/api/v2/organizations/my%20org/projects" {
			t.Errorf("path sent as %q", got)
		}
		if got := r.URL.Query().Get("filter[names]"); got != "networking" {
			t.Errorf("filter[names] = %q", got)
		}
		if r.ContentLength != 0 {
			t.Errorf("a GET carried a body of %d bytes", r.ContentLength)
		}
		w.Header().Set("X-Request-Id", "req-1")
		fmt.Fprint(w, `{"data":[{"id":"prj-1","type":"projects","attributes":{"name":"networking"}}]}`)
	})
	var doc projectsDoc
	resp, err := api.client.Do(context.Background(), RawRequest{Method: http.MethodGet, Path: "organizations/my org/projects",
		Query: url.Values{"filter[names]": {"networking"}}}, &doc)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") != "req-1" {
		t.Errorf("response = %v", resp)
	}
	if len(doc.Data) != 1 || doc.Data[0].ID != "prj-1" || doc.Data[0].Attributes.Name != "networking" {
		t.Errorf("decoded %+v", doc)
	}
	if got := fmt.Sprint(resp); got != "tfc.RawResponse(200 OK, request id req-1)" {
		t.Errorf("a RawResponse prints as %q", got)
	}
}

func TestDoSendsABody(t *testing.T) {
	api := newTestAPI(t)
	const created = `{"data":{"id":"prj-2","type":"projects","attributes":{"name":"payments"}}}`
	api.handle("POST /api/v2/organizations/my-org/projects", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), []byte(`{"data":{"type":"projects","attributes":{"name":"payments"}}}`))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, created)
	})
	api.handle("DELETE /api/v2/projects/prj-2", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	api.handle("HEAD /api/v2/projects/prj-2", func(w http.ResponseWriter, r *http.Request) {})
	ctx := context.Background()

	body := json.RawMessage(`{"data":{"type":"projects","attributes":{"name":"payments"}}}`)
	var raw json.RawMessage
	resp, err := api.client.Do(ctx, RawRequest{Method: http.MethodPost, Path: "organizations/my-org/projects", Body: body}, &raw)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("Do = %v, %v", resp, err)
	}
	assertJSONEqual(t, raw, []byte(created))

	untouched := projectsDoc{}
	resp, err = api.client.Do(ctx, RawRequest{Method: http.MethodDelete, Path: "projects/prj-2"}, &untouched)
	if err != nil || resp.StatusCode != http.StatusNoContent || untouched.Data != nil {
		t.Errorf("Do = %v, %v; out %+v", resp, err, untouched)
	}
	if resp, err = api.client.Do(ctx, RawRequest{Method: http.MethodHead, Path: "projects/prj-2"}, &untouched); err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD = %v, %v", resp, err)
	}
}

// A run action answers 202 with no body: the service acted, so Do must not report an
// error that invites a second, non-idempotent POST.
func TestDoTakesAnEmptyAcceptedBody(t *testing.T) {
	api := newTestAPI(t)
	var hits atomic.Int32
	api.handle("POST /api/v2/runs/run-1/actions/force-cancel", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})
	var out json.RawMessage
	resp, err := api.client.Do(context.Background(), RawRequest{Method: http.MethodPost, Path: "runs/run-1/actions/force-cancel"}, &out)
	if err != nil || resp.StatusCode != http.StatusAccepted || out != nil || hits.Load() != 1 {
		t.Errorf("Do = %v, %v; out %q; %d requests", resp, err, out, hits.Load())
	}
}

func TestDoRefusesBeforeTheNetwork(t *testing.T) {
	c := offlineClient(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", ""},
		{"GET", "/organizations/my-org"},
		{"GET", "/api/v2/organizations/my-org"},
		{"GET", "https://evil.example/api/v2/organizations"},
		{"GET", "//evil.example/api/v2/organizations"},
		{"GET", "evil.example://x"},
		{"GET", "organizations/../../../admin"},
		{"GET", "organizations/./x"},
		{"GET", ".."},
		{"GET", "organizations//x"},
		{"GET", "organizations/x/"},
		{"GET", "organizations?page[size]=100"},
		{"GET", "organizations#x"},
		{"CONNECT", "organizations"},
		{"get", "organizations"},
		{"", "organizations"},
	} {
		_, err := c.Do(context.Background(), RawRequest{Method: tt.method, Path: tt.path}, nil)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s %q: error = %v, want ErrInvalidArgument", tt.method, tt.path, err)
		}
	}
	noToken, err := NewClient(WithHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noToken.Do(context.Background(), RawRequest{Method: "GET", Path: "ping"}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("without a token: %v", err)
	}
	// Escaping keeps whatever a segment holds inside it.
	for path, want := range map[string]string{
		"organizations/a%2F..%2Fb/projects": "organizations/a%252F..%252Fb/projects",
		"workspaces/ws 1/vars":              "workspaces/ws%201/vars",
		"a/..b/c.":                          "a/..b/c.",
	} {
		if got, err := rawPath(path); err != nil || got != want {
			t.Errorf("rawPath(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
}

func TestDoErrorsAndRetries(t *testing.T) {
	var logs syncbuf.Buffer
	api := newTestAPI(t, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	var gets, posts, limited atomic.Int64
	api.handle("GET /api/v2/projects/prj-1", flaky(t, &gets, "runtasks_show_response.json", status(503), status(502)))
	api.handle("POST /api/v2/projects/prj-1/actions/lock", func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	api.handle("POST /api/v2/projects/prj-1/actions/unlock", flaky(t, &limited, "runtasks_show_response.json", status(429, "X-RateLimit-Reset", "0.001")))
	api.handle("GET /api/v2/projects/prj-missing", serveFixture(t, http.StatusNotFound, "error_404.json"))
	api.handle("PATCH /api/v2/projects/prj-1", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"errors":[{"status":"409","title":"conflict","detail":"locked"}]}`)
	})
	ctx := context.Background()

	if _, err := api.client.Do(ctx, RawRequest{Method: "GET", Path: "projects/prj-1", Query: url.Values{"secret-ish": {"q"}}}, nil); err != nil || gets.Load() != 3 {
		t.Errorf("GET after 503 and 502: %v after %d attempts, want success after 3", err, gets.Load())
	}
	_, err := api.client.Do(ctx, RawRequest{Method: "POST", Path: "projects/prj-1/actions/lock"}, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || posts.Load() != 1 {
		t.Errorf("POST answered 503: %v after %d attempts; want the *APIError after 1", err, posts.Load())
	}
	if _, err := api.client.Do(ctx, RawRequest{Method: "POST", Path: "projects/prj-1/actions/unlock"}, nil); err != nil || limited.Load() != 2 {
		t.Errorf("POST answered 429: %v after %d attempts, want success after 2", err, limited.Load())
	}
	if _, err := api.client.Do(ctx, RawRequest{Method: "GET", Path: "projects/prj-missing"}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	_, err = api.client.Do(ctx, RawRequest{Method: "PATCH", Path: "projects/prj-1", Body: map[string]any{"data": nil}}, nil)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "PATCH /api/v2/projects/prj-1: 409 Conflict: conflict: locked") {
		t.Errorf("409: %v", err)
	}
	assertNoSecrets(t, "debug logs", logs.String(), testToken, "secret-ish")
}

func TestDoWaitsOnTheRateCeiling(t *testing.T) {
	counter := &countingLimiter{}
	api := newTestAPI(t, WithRateLimiter(counter))
	api.handle("GET /api/v2/ping", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for range 3 {
		if _, err := api.client.Do(context.Background(), RawRequest{Method: "GET", Path: "ping"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if counter.waits.Load() != 3 {
		t.Errorf("the limiter was asked %d times, want 3", counter.waits.Load())
	}
}

func TestCTSDo(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/status", serveCTS(t, http.StatusOK, "cts_status_response.json"))
	api.handle("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"redirect requests to leader 'cts-01' at cts-01.example:8558"},"request_id":"r1"}`)
	})
	var status struct {
		TaskSummary struct {
			Enabled map[string]int `json:"enabled"`
		} `json:"task_summary"`
	}
	resp, err := api.client.Do(context.Background(), RawRequest{Method: "GET", Path: "status"}, &status)
	if err != nil || resp.StatusCode != 200 || len(status.TaskSummary.Enabled) == 0 {
		t.Errorf("Do = %v, %v; decoded %+v", resp, err, status)
	}
	_, err = api.client.Do(context.Background(), RawRequest{Method: "POST", Path: "tasks", Body: map[string]any{"task": nil}}, nil)
	var notLeader *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &notLeader) || notLeader.LeaderAddress != "cts-01.example:8558" {
		t.Errorf("follower answer: %v", err)
	}
	if _, err := api.client.Do(context.Background(), RawRequest{Method: "GET", Path: "../ui"}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a path out of /v1/: %v", err)
	}
}
