package tfc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// testToken is the API token of test clients; tests assert that it never leaks.
const testToken = "tok-4QEuyyxug1f2rw.atlasv1.secretsecretsecret"

// fastRetries keeps retry tests quick: waits of a few milliseconds, capped, so that a
// server asking for seconds is honoured in shape (see TestRetryWait) but not in time.
var fastRetries = RetryPolicy{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}

// testAPI is an httptest server that speaks under /api/v2/, like the service, with a
// client pointed at it.
type testAPI struct {
	t      *testing.T
	mux    *http.ServeMux
	server *httptest.Server
	client *Client
	hits   atomic.Int64 // requests that reached the mux
}

func newTestAPI(t *testing.T, opts ...Option) *testAPI {
	t.Helper()
	api := &testAPI{t: t, mux: http.NewServeMux()}
	api.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.hits.Add(1)
		api.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(api.server.Close)
	base := []Option{WithAddress(api.server.URL), WithToken(testToken), WithRetryPolicy(fastRetries), WithRateLimit(0)}
	c, err := NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	api.client = c
	return api
}

// handle registers a handler for "METHOD /api/v2/path" that checks the common request
// headers first.
func (api *testAPI) handle(pattern string, h http.HandlerFunc) {
	api.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			api.t.Errorf("%s: Authorization header is not the client token", pattern)
		}
		if got := r.Header.Get("Accept"); got != mediaTypeJSONAPI {
			api.t.Errorf("%s: Accept = %q", pattern, got)
		}
		if r.ContentLength > 0 && r.Header.Get("Content-Type") != mediaTypeJSONAPI {
			api.t.Errorf("%s: Content-Type = %q", pattern, r.Header.Get("Content-Type"))
		}
		h(w, r)
	})
}

// serveFixture answers with status and a testdata file as a JSON:API body.
func serveFixture(t *testing.T, status int, name string) http.HandlerFunc {
	return serveBody(status, fixture(t, name))
}

// serveBody answers with status and body as a JSON:API body.
func serveBody(status int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaTypeJSONAPI)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readTestdata(name)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

func readTestdata(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}

// assertJSONEqual fails unless got and want hold the same JSON value.
func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", compact(got), compact(want))
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func readBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("reading request body: %v", err)
	}
	return b
}

// assertRefused fails the test for each call whose error does not match
// ErrInvalidArgument.
func assertRefused(t *testing.T, calls map[string]func() error) {
	t.Helper()
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// failTransport fails the test if any request is attempted.
type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("unexpected request: %s %s", r.Method, r.URL.Path)
	return nil, io.ErrUnexpectedEOF
}
