package tfc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewClientAddress(t *testing.T) {
	tests := []struct {
		address, basePath string
		want              string
	}{
		{"", "", "https://app.terraform.io/api/v2/"},
		{"app.terraform.io", "", "https://app.terraform.io/api/v2/"},
		{"tfe.example.com:8443", "", "https://tfe.example.com:8443/api/v2/"},
		{"http://127.0.0.1:8080", "", "http://127.0.0.1:8080/api/v2/"},
		{"https://example.com/tfe/", "", "https://example.com/tfe/api/v2/"},
		{"acme.scalr.io", "/api/iacp/v3", "https://acme.scalr.io/api/iacp/v3/"},
	}
	for _, tt := range tests {
		var opts []Option
		if tt.address != "" {
			opts = append(opts, WithAddress(tt.address))
		}
		if tt.basePath != "" {
			opts = append(opts, WithBasePath(tt.basePath))
		}
		c, err := NewClient(opts...)
		if err != nil {
			t.Errorf("NewClient(%q, %q): %v", tt.address, tt.basePath, err)
			continue
		}
		if got := c.BaseURL().String(); got != tt.want {
			t.Errorf("NewClient(%q, %q).BaseURL() = %q, want %q", tt.address, tt.basePath, got, tt.want)
		}
	}
}

func TestNewClientRejectsBadAddress(t *testing.T) {
	for _, address := range []string{" ", "ftp://example.com", "https://", "https://user:pw@example.com",
		"https://example.com/?x=1", "https://example.com/#frag", "http://[::1", "https://:443"} {
		_, err := NewClient(WithAddress(address))
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewClient(WithAddress(%q)) error = %v, want ErrInvalidArgument", address, err)
		}
	}
	if _, err := NewClient(WithBasePath("api/v2")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("relative base path accepted: %v", err)
	}
}

func TestNewClientMakesNoRequest(t *testing.T) {
	_, err := NewClient(WithToken(testToken), WithHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewClientRejectsBadToken(t *testing.T) {
	const bad = "secret-value\r\nX-Injected: 1"
	_, err := NewClient(WithToken(bad))
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("error = %v, want ErrInvalidArgument", err)
	}
	if strings.Contains(err.Error(), "secret-value") {
		t.Errorf("error repeats the token: %v", err)
	}
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"authorization header": WithHeader("authorization", "Bearer x"),
		"header line break":    WithHeader("X-A", "a\r\nb"),
		"nil http client":      WithHTTPClient(nil),
		"negative retries":     WithRetryPolicy(RetryPolicy{MaxRetries: -1}),
		"retries without wait": WithRetryPolicy(RetryPolicy{MaxRetries: 2}),
		"user agent newline":   WithUserAgent("a\nb"),
	} {
		if _, err := NewClient(opt); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	t.Setenv("TFE_TOKEN", "env-token")
	t.Setenv("TFE_ADDRESS", srv.URL)

	c, err := NewClient(FromEnv())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RunTasks.Delete(context.Background(), "task-1"); err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer env-token" {
		t.Errorf("Authorization = %q, want the TFE_TOKEN bearer", gotAuth)
	}

	// A later explicit option wins over the environment.
	c, err = NewClient(FromEnv(), WithToken("explicit"))
	if err != nil {
		t.Fatal(err)
	}
	if c.creds.token != "explicit" {
		t.Error("WithToken after FromEnv did not win")
	}
}

func TestNewClientReadsNoEnvironmentUnlessAsked(t *testing.T) {
	t.Setenv("TFE_TOKEN", "env-token")
	t.Setenv("TFE_ADDRESS", "https://tfe.example.com")
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if c.creds.token != "" || c.BaseURL().Host != "app.terraform.io" {
		t.Error("NewClient read the environment without FromEnv")
	}
}

func TestNoTokenFailsBeforeNetwork(t *testing.T) {
	c, err := NewClient(WithHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RunTasks.Read(context.Background(), "task-1", nil)
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("error = %v, want ErrInvalidArgument", err)
	}
}

func TestRequestHeaders(t *testing.T) {
	api := newTestAPI(t, WithUserAgent("my-tool/1.2"), WithHeader("Prefer", "profile=preview"))
	api.handle("PATCH /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.Header.Get("User-Agent"), "my-tool/1.2 tfc-go/"+Version; got != want {
			t.Errorf("User-Agent = %q, want %q", got, want)
		}
		if got := r.Header.Get("Prefer"); got != "profile=preview" {
			t.Errorf("Prefer = %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != mediaTypeJSONAPI {
			t.Errorf("Content-Type = %q", got)
		}
		serveFixture(t, 200, "runtasks_update_response.json")(w, r)
	})
	api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "" || r.ContentLength != 0 {
			t.Error("a GET without a body carries Content-Type or a length")
		}
		serveFixture(t, 200, "runtasks_show_response.json")(w, r)
	})
	ctx := context.Background()
	if _, err := api.client.RunTasks.Update(ctx, "task-1", RunTaskUpdateOptions{Enabled: Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.client.RunTasks.Read(ctx, "task-1", nil); err != nil {
		t.Fatal(err)
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	api := newTestAPI(t)
	var got string
	api.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		serveFixture(t, 200, "entitlement_set_response.json")(w, r)
	})
	if _, err := api.client.Organizations.ReadEntitlements(context.Background(), "acme?x=1#y"); err != nil {
		t.Fatal(err)
	}
	if want := "/api/v2/organizations/acme%3Fx=1%23y/entitlement-set"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestRedirectToAnotherHostDropsToken(t *testing.T) {
	var blobAuth = "unset"
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blobAuth = r.Header.Get("Authorization")
		serveFixture(t, 200, "runtasks_show_response.json")(w, r)
	}))
	defer blob.Close()
	api := newTestAPI(t)
	api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		// Same host name, another port: net/http would keep the header; tfc must not.
		http.Redirect(w, r, blob.URL+"/v1/object/signed-secret", http.StatusTemporaryRedirect)
	})
	if _, err := api.client.RunTasks.Read(context.Background(), "task-1", nil); err != nil {
		t.Fatal(err)
	}
	if blobAuth != "" {
		t.Errorf("the blob host received Authorization %q", blobAuth)
	}
}

func TestClientDoesNotPrintToken(t *testing.T) {
	c, err := NewClient(WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, c); strings.Contains(s, testToken) {
			t.Errorf("%s of a Client prints the token: %s", format, s)
		}
	}
}

func TestNilContext(t *testing.T) {
	api := newTestAPI(t)
	//lint:ignore SA1012 a nil context is the point of the test
	_, err := api.client.RunTasks.Read(nil, "task-1", nil) //nolint:staticcheck
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("error = %v, want ErrInvalidArgument", err)
	}
	if api.hits.Load() != 0 {
		t.Error("a request was sent")
	}
}
