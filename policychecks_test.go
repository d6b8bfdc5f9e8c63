package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

// newScalrTestAPI is newTestAPI with a client built by the Scalr preset, its address
// then pointed at the test server (base path /api/iacp/v3/ stays).
func newScalrTestAPI(t *testing.T, opts ...Option) *testAPI {
	t.Helper()
	api := newTestAPI(t)
	base := []Option{WithScalr("my"), WithAddress(api.server.URL), WithToken(testToken), WithRetryPolicy(fastRetries), WithRateLimit(0)}
	c, err := NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	api.client = c
	return api
}

// offlineClient is a client at address whose every request fails the test.
func offlineClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithToken(testToken), WithHTTPClient(&http.Client{Transport: failTransport{t}})}
	c, err := NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withStatus returns a policy check fixture with its status replaced.
func withStatus(t *testing.T, name string, status PolicyCheckStatus) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(fixture(t, name), &doc); err != nil {
		t.Fatal(err)
	}
	doc["data"].(map[string]any)["attributes"].(map[string]any)["status"] = string(status)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWithScalr(t *testing.T) {
	for account, want := range map[string]string{
		"my":                          "https://my.scalr.io/api/iacp/v3/",
		"Acme-Corp":                   "https://acme-corp.scalr.io/api/iacp/v3/",
		"a1":                          "https://a1.scalr.io/api/iacp/v3/",
		"x" + strings.Repeat("y", 62): "https://x" + strings.Repeat("y", 62) + ".scalr.io/api/iacp/v3/",
	} {
		c, err := NewClient(WithScalr(account))
		if err != nil {
			t.Errorf("WithScalr(%q): %v", account, err)
			continue
		}
		if got := c.BaseURL().String(); got != want {
			t.Errorf("WithScalr(%q) base = %q, want %q", account, got, want)
		}
	}
	for _, account := range []string{"", "-a", "a-", "a.b", "my_acct", "a/b", "évian", "a b", strings.Repeat("z", 64), "evil.com#"} {
		if _, err := NewClient(WithScalr(account)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("WithScalr(%q) error = %v, want ErrInvalidArgument", account, err)
		}
	}
	c, err := NewClient(WithScalr("my"), WithAddress("scalr.internal:8443"))
	if err != nil || c.BaseURL().String() != "https://scalr.internal:8443/api/iacp/v3/" {
		t.Errorf("WithAddress after WithScalr: %v, %v", c, err)
	}
}

func TestScalrPresetRequests(t *testing.T) {
	for _, preview := range []bool{false, true} {
		var opts []Option
		if preview {
			opts = append(opts, WithScalrPreview(), WithScalrPreview()) // twice still sends one value
		}
		api := newScalrTestAPI(t, opts...)
		api.handle("GET /api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8", func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Values("Prefer")
			if preview && (len(got) != 1 || got[0] != "profile=preview") || !preview && len(got) != 0 {
				t.Errorf("preview=%v: Prefer = %q", preview, got)
			}
			w.Header().Set("Preference-Applied", "profile=preview")
			serveFixture(t, http.StatusOK, "scalr_policy_check_show_response.json")(w, r)
		})
		if _, err := api.client.PolicyChecks.Read(context.Background(), "pchk-t61g5rsa61i18c8", nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyCheckReadScalr(t *testing.T) {
	api := newScalrTestAPI(t)
	api.handle("GET /api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8", serveFixture(t, http.StatusOK, "scalr_policy_check_show_response.json"))
	pc, err := api.client.PolicyChecks.Read(context.Background(), "pchk-t61g5rsa61i18c8", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.ID != "pchk-t61g5rsa61i18c8" || pc.Status != PolicyCheckPassed || pc.Scope != "" || pc.RunID != "" {
		t.Errorf("check = %+v", pc)
	}
	if pc.IsOverridable != nil || pc.CanOverride != nil || pc.Overridable() {
		t.Error("Scalr sends neither is-overridable nor can-override; they should be nil")
	}
	if pc.Permissions != nil || pc.ErrorMessage != "" {
		t.Errorf("permissions %s, error message %q: the fixture has neither", pc.Permissions, pc.ErrorMessage)
	}
	if pc.OutputLink != "https://my.scalr.io/api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8/output" {
		t.Errorf("output link = %q", pc.OutputLink)
	}
	if at, ok := pc.StatusTimestamps.At("passed"); !ok || !at.Equal(time.Date(2020, 11, 6, 16, 37, 40, 0, time.UTC)) {
		t.Errorf("passed-at = %v, %v", at, ok)
	}
	if len(pc.StatusTimestamps) != 3 {
		t.Errorf("timestamps = %v", pc.StatusTimestamps)
	}
	r := pc.Result
	if r.Result || r.Passed != 2 || r.TotalFailed != 1 || r.AdvisoryFailed != 1 || r.HardFailed != 0 || r.SoftFailed != 0 ||
		r.Duration != 74*time.Millisecond || r.Sentinel != nil {
		t.Errorf("result = %+v", r)
	}
	want := []PolicyCheckPolicy{
		{Name: "cost-check", Result: "advisory_failed", Messages: []string{"Plan is too expensive: $733.35, while up to $500 is allowed"}},
		{Name: "credential-limit", Result: "passed", Messages: []string{}},
		{Name: "instance_types", Result: "passed", Messages: []string{}},
	}
	if fmt.Sprintf("%q", r.Policies) != fmt.Sprintf("%q", want) {
		t.Errorf("policies = %q", r.Policies)
	}
}

// TestPolicyCheckErroredDetails: an errored check carries its error-message, and
// Scalr's free-form permissions object is kept as sent.
func TestPolicyCheckErroredDetails(t *testing.T) {
	api := newScalrTestAPI(t)
	const doc = `{"data":{"id":"pchk-err","type":"policy-checks","attributes":{"status":"errored",
		"error-message":"OPA evaluation failed: rego_parse_error","permissions":{"policy-checks:override":false},
		"result":{"result":false,"passed":0,"total-failed":0,"hard-failed":0,"soft-failed":0,"advisory-failed":0,"duration-ms":3,"policies":[]},
		"status-timestamps":{"errored-at":"2026-11-06T16:37:40Z"}},"links":{"output":"https://my.scalr.io/x"}}}`
	api.handle("GET /api/iacp/v3/policy-checks/pchk-err", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.api+json")
		_, _ = io.WriteString(w, doc)
	})
	pc, err := api.client.PolicyChecks.Read(context.Background(), "pchk-err", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Status != PolicyCheckErrored || !pc.Status.IsFinal() || pc.ErrorMessage != "OPA evaluation failed: rego_parse_error" {
		t.Errorf("status %s, error message %q", pc.Status, pc.ErrorMessage)
	}
	if string(pc.Permissions) != `{"policy-checks:override":false}` || pc.CanOverride != nil {
		t.Errorf("permissions %s, can-override %v", pc.Permissions, pc.CanOverride)
	}
}

func TestPolicyCheckReadHCP(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("include"); got != "run,run.workspace" {
			t.Errorf("include = %q", got)
		}
		serveFixture(t, http.StatusOK, "hcp_policy_check_show_include_response.json")(w, r)
	})
	api.handle("GET /api/v2/policy-checks/polchk-plain", serveFixture(t, http.StatusOK, "hcp_policy_check_show_response.json"))
	ctx := context.Background()

	pc, err := api.client.PolicyChecks.Read(ctx, "polchk-plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Status != PolicyCheckSoftFailed || pc.Scope != PolicyScopeOrganization || pc.RunID != "run-veDoQbv6xh6TbnJD" ||
		pc.OutputLink != "/api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum/output" || pc.RunStatus != "" || pc.WorkspaceName != "" {
		t.Errorf("check = %+v", pc)
	}
	if pc.IsOverridable == nil || !*pc.IsOverridable || pc.CanOverride == nil || *pc.CanOverride || !pc.Overridable() {
		t.Errorf("is-overridable/can-override = %v/%v", pc.IsOverridable, pc.CanOverride)
	}
	var perms bytes.Buffer
	if err := json.Compact(&perms, pc.Permissions); err != nil || perms.String() != `{"can-override":false}` {
		t.Errorf("permissions = %s (%v)", pc.Permissions, err)
	}
	if r := pc.Result; r.Result || r.TotalFailed != 1 || r.SoftFailed != 1 || string(r.Sentinel) != "{}" || r.Policies != nil {
		t.Errorf("result = %+v", r)
	}
	if _, ok := pc.StatusTimestamps.At("soft_failed"); !ok {
		t.Errorf("timestamps = %v", pc.StatusTimestamps)
	}

	pc, err = api.client.PolicyChecks.Read(ctx, "polchk-9VYRc9bpfJEsnwum",
		&PolicyCheckReadOptions{Include: []PolicyCheckInclude{PolicyCheckIncludeRun, PolicyCheckIncludeRunWorkspace}})
	if err != nil {
		t.Fatal(err)
	}
	if pc.RunStatus != "policy_checked" || pc.WorkspaceID != "ws-SihZTyXKfNXUWuUa" || pc.WorkspaceName != "networking-prod" ||
		pc.Scope != PolicyScopeWorkspace || pc.Status != PolicyCheckHardFailed || pc.Overridable() {
		t.Errorf("check = %+v", pc)
	}
	if pc.Result.Duration != 1520*time.Millisecond || !json.Valid(pc.Result.Sentinel) || !strings.Contains(string(pc.Result.Sentinel), "sentinel-policy-networking") {
		t.Errorf("result = %+v", pc.Result)
	}
}

func TestPolicyCheckUnknownStatusKept(t *testing.T) {
	api := newTestAPI(t)
	body := withStatus(t, "hcp_policy_check_show_response.json", "awaiting_quorum")
	api.handle("GET /api/v2/policy-checks/polchk-1", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	pc, err := api.client.PolicyChecks.Read(context.Background(), "polchk-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Status != "awaiting_quorum" || pc.Status.IsFinal() || pc.Status.IsTransient() || pc.Overridable() {
		t.Errorf("status = %q", pc.Status)
	}
}

func TestPolicyCheckStatusHelpers(t *testing.T) {
	final := []PolicyCheckStatus{PolicyCheckPassed, PolicyCheckHardFailed, PolicyCheckOverridden, PolicyCheckErrored, PolicyCheckCanceled, PolicyCheckUnreachable}
	transient := []PolicyCheckStatus{PolicyCheckPending, PolicyCheckQueued, PolicyCheckRunning, PolicyCheckSoftFailed}
	for _, s := range final {
		if !s.IsFinal() || s.IsTransient() || s.CanBeOverridden() {
			t.Errorf("%s: final=%v transient=%v overridable=%v", s, s.IsFinal(), s.IsTransient(), s.CanBeOverridden())
		}
	}
	for _, s := range transient {
		if s.IsFinal() || !s.IsTransient() || s.CanBeOverridden() != (s == PolicyCheckSoftFailed) {
			t.Errorf("%s: final=%v transient=%v overridable=%v", s, s.IsFinal(), s.IsTransient(), s.CanBeOverridden())
		}
	}
}

func TestPolicyCheckList(t *testing.T) {
	ctx := context.Background()
	t.Run("hcp", func(t *testing.T) {
		api := newTestAPI(t)
		api.handle("GET /api/v2/runs/run-veDoQbv6xh6TbnJD/policy-checks", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery != "" {
				t.Errorf("query = %q, want none (the service then returns every check)", r.URL.RawQuery)
			}
			serveFixture(t, http.StatusOK, "hcp_policy_checks_list_response.json")(w, r)
		})
		page, err := api.client.PolicyChecks.List(ctx, "run-veDoQbv6xh6TbnJD", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Pagination != nil || page.Items[0].ID != "polchk-9VYRc9bpfJEsnwum" || page.Items[0].Status != PolicyCheckSoftFailed {
			t.Errorf("page = %+v", page)
		}
	})
	t.Run("scalr", func(t *testing.T) {
		api := newScalrTestAPI(t)
		api.handle("GET /api/iacp/v3/runs/run-t61g5rlk9qbudh0/policy-checks", func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query(); got.Get("page[number]") != "1" || got.Get("page[size]") != "20" || got.Get("include") != "run" {
				t.Errorf("query = %v", got)
			}
			serveFixture(t, http.StatusOK, "scalr_policy_checks_list_response.json")(w, r)
		})
		page, err := api.client.PolicyChecks.List(ctx, "run-t61g5rlk9qbudh0", &PolicyCheckListOptions{
			ListOptions: ListOptions{PageNumber: 1, PageSize: 20}, Include: []PolicyCheckInclude{PolicyCheckIncludeRun}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Pagination == nil || page.Pagination.TotalPages != 1 || page.Pagination.NextPage != 0 ||
			len(page.Items[0].Result.Policies) != 3 {
			t.Errorf("page = %+v", page)
		}
	})
}

func TestPolicyCheckAllAcrossPages(t *testing.T) {
	api := newScalrTestAPI(t)
	api.handle("GET /api/iacp/v3/runs/run-t61g5rlk9qbudh0/policy-checks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("page[size]") != "100" {
			t.Errorf("page size = %q", q.Get("page[size]"))
		}
		serveFixture(t, http.StatusOK, "scalr_policy_checks_page_"+q.Get("page[number]")+"_response.json")(w, r)
	})
	opts := &PolicyCheckListOptions{}
	var got []string
	for pc, err := range api.client.PolicyChecks.All(context.Background(), "run-t61g5rlk9qbudh0", opts) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pc.ID+" "+string(pc.Status))
	}
	if strings.Join(got, ",") != "pchk-t61g5rsa61i18c8 passed,pchk-t61gbtus33m5eu8 soft_failed" {
		t.Errorf("checks = %q", got)
	}
	if opts.PageNumber != 0 || opts.PageSize != 0 {
		t.Errorf("All modified opts: %+v", opts)
	}
}

func TestPolicyCheckOverride(t *testing.T) {
	noBody := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if b := readBody(t, r); len(b) != 0 || r.ContentLength > 0 {
				t.Errorf("override sent a body: %q", b)
			}
			next(w, r)
		}
	}
	ctx := context.Background()
	t.Run("scalr", func(t *testing.T) {
		api := newScalrTestAPI(t)
		api.handle("POST /api/iacp/v3/policy-checks/pchk-t61gbtus33m5eu8/actions/override",
			noBody(serveFixture(t, http.StatusOK, "scalr_policy_check_override_response.json")))
		pc, err := api.client.PolicyChecks.Override(ctx, "pchk-t61gbtus33m5eu8")
		if err != nil {
			t.Fatal(err)
		}
		if pc.Status != PolicyCheckOverridden || pc.Result.SoftFailed != 1 || pc.Result.Policies[2].Result != "soft_failed" ||
			pc.Result.Duration != 81*time.Millisecond {
			t.Errorf("check = %+v", pc)
		}
		if _, ok := pc.StatusTimestamps.At("overridden"); !ok {
			t.Error("no overridden-at")
		}
	})
	t.Run("hcp", func(t *testing.T) {
		api := newTestAPI(t)
		api.handle("POST /api/v2/policy-checks/polchk-EasPB4Srx5NAiWAU/actions/override",
			noBody(serveFixture(t, http.StatusOK, "hcp_policy_check_override_response.json")))
		pc, err := api.client.PolicyChecks.Override(ctx, "polchk-EasPB4Srx5NAiWAU")
		if err != nil {
			t.Fatal(err)
		}
		if pc.Status != PolicyCheckOverridden || pc.RunID != "" || pc.OutputLink != "/api/v2/policy-checks/polchk-EasPB4Srx5NAiWAU/output" {
			t.Errorf("check = %+v", pc)
		}
	})
}

// TestPolicyCheckErrors covers every error status of the Scalr document.
func TestPolicyCheckErrors(t *testing.T) {
	api := newScalrTestAPI(t)
	var overrideAttempts atomic.Int64
	api.handle("GET /api/iacp/v3/policy-checks/pchk-forbidden", serveFixture(t, http.StatusForbidden, "scalr_policy_check_error_403.json"))
	api.handle("GET /api/iacp/v3/runs/run-forbidden/policy-checks", serveFixture(t, http.StatusForbidden, "scalr_policy_checks_list_error_403.json"))
	api.handle("POST /api/iacp/v3/policy-checks/pchk-missing/actions/override", serveFixture(t, http.StatusNotFound, "scalr_policy_check_error_404.json"))
	api.handle("POST /api/iacp/v3/policy-checks/pchk-passed/actions/override", func(w http.ResponseWriter, r *http.Request) {
		overrideAttempts.Add(1)
		serveFixture(t, http.StatusConflict, "scalr_policy_check_error_409.json")(w, r)
	})
	api.handle("GET /api/iacp/v3/policy-checks/pchk-missing/output", serveFixture(t, http.StatusNotFound, "scalr_policy_check_error_404.json"))
	ctx := context.Background()

	check := func(name string, err error, sentinel error, detail string) {
		t.Helper()
		var apiErr *APIError
		if !errors.Is(err, sentinel) || !errors.As(err, &apiErr) {
			t.Errorf("%s: error = %v, want an *APIError matching %v", name, err, sentinel)
			return
		}
		if len(apiErr.Errors) != 1 || apiErr.Errors[0].Detail != detail || !strings.Contains(err.Error(), detail) {
			t.Errorf("%s: errors = %+v", name, apiErr.Errors)
		}
	}
	_, err := api.client.PolicyChecks.Read(ctx, "pchk-forbidden", nil)
	check("read 403", err, ErrForbidden, "Policy check not found or user unauthorized to perform action.")
	_, err = api.client.PolicyChecks.List(ctx, "run-forbidden", nil)
	check("list 403", err, ErrForbidden, "Plan not found or user unauthorized to perform action.")
	_, err = api.client.PolicyChecks.Override(ctx, "pchk-missing")
	check("override 404", err, ErrNotFound, "Policy check not found or user unauthorized to perform action.")
	_, err = api.client.PolicyChecks.Override(ctx, "pchk-passed")
	check("override 409", err, ErrConflict, "Override is not possible in a current policy-check or run status.")
	_, err = api.client.PolicyChecks.Output(ctx, "pchk-missing", nil)
	check("output 404", err, ErrNotFound, "Policy check not found or user unauthorized to perform action.")
	if overrideAttempts.Load() != 1 {
		t.Errorf("a 409 override was sent %d times", overrideAttempts.Load())
	}
}

// TestPolicyCheckOutputRedirect follows the service's redirect to a second server, the
// blob store, which must never see the token, and reads the output as it streams: the
// blob store holds back the rest until the first part has reached the caller, which a
// buffering client would never let happen.
func TestPolicyCheckOutputRedirect(t *testing.T) {
	release := make(chan struct{})
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("the blob store received an Authorization header")
		}
		if r.URL.Path != "/blobs/pchk-t61g5rsa61i18c8" || r.URL.Query().Get("sig") != "s3cr3t" {
			t.Errorf("blob request %s", r.URL)
		}
		_, _ = io.WriteString(w, "first part\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "\x1b[32mrest\x1b[0m\n")
	}))
	defer blob.Close()

	api := newScalrTestAPI(t)
	api.handle("GET /api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8/output", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("clean"); got != "true" {
			t.Errorf("clean = %q", got)
		}
		http.Redirect(w, r, blob.URL+"/blobs/pchk-t61g5rsa61i18c8?sig=s3cr3t", http.StatusFound)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a safety net, not a timing assertion
	defer cancel()
	rc, err := api.client.PolicyChecks.Output(ctx, "pchk-t61g5rsa61i18c8", &PolicyCheckOutputOptions{Clean: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	first := make([]byte, len("first part\n"))
	if _, err := io.ReadFull(rc, first); err != nil || string(first) != "first part\n" {
		t.Fatalf("first part = %q, %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(rc)
	if err != nil || string(rest) != "\x1b[32mrest\x1b[0m\n" {
		t.Errorf("rest = %q, %v", rest, err)
	}
}

func TestPolicyCheckOutputFromLink(t *testing.T) {
	ctx := context.Background()
	readAll := func(rc io.ReadCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("hcp relative link", func(t *testing.T) {
		api := newTestAPI(t)
		api.handle("GET /api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum/output", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery != "" {
				t.Errorf("query = %q", r.URL.RawQuery)
			}
			_, _ = io.WriteString(w, "Sentinel Result: false\n")
		})
		api.handle("GET /api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum", serveFixture(t, http.StatusOK, "hcp_policy_check_show_response.json"))
		pc, err := api.client.PolicyChecks.Read(ctx, "polchk-9VYRc9bpfJEsnwum", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(api.client.PolicyChecks.OutputFromLink(ctx, pc.OutputLink, nil)); got != "Sentinel Result: false\n" {
			t.Errorf("output = %q", got)
		}
	})

	t.Run("absolute link on the client's host", func(t *testing.T) {
		api := newScalrTestAPI(t)
		api.handle("GET /api/iacp/v3/policy-checks/pchk-1/output", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery != "clean=true" {
				t.Errorf("query = %q", r.URL.RawQuery)
			}
			_, _ = io.WriteString(w, "ok")
		})
		link := api.server.URL + "/api/iacp/v3/policy-checks/pchk-1/output#top"
		if got := readAll(api.client.PolicyChecks.OutputFromLink(ctx, link, &PolicyCheckOutputOptions{Clean: true})); got != "ok" {
			t.Errorf("output = %q", got)
		}
	})

	t.Run("links elsewhere are refused before any request", func(t *testing.T) {
		hcp := offlineClient(t)
		scalr := offlineClient(t, WithScalr("my"))
		for _, tt := range []struct {
			client *Client
			link   string
		}{
			{hcp, ""},
			{hcp, "https://blob.example.com/api/v2/policy-checks/polchk-1/output"},
			{hcp, "//evil.example.com/api/v2/policy-checks/polchk-1/output"},
			{hcp, "http://app.terraform.io/api/v2/policy-checks/polchk-1/output"},
			{hcp, "https://app.terraform.io:8443/api/v2/policy-checks/polchk-1/output"},
			{hcp, "https://user@app.terraform.io/api/v2/policy-checks/polchk-1/output"},
			{hcp, "ftp://app.terraform.io/x"},
			{hcp, "%zz"},
			// The documented override sample's link names scalr.io, not the account's host.
			{scalr, "https://scalr.io/api/iacp/v3/policy-checks/pchk-t61gbtus33m5eu8/output"},
			{scalr, "https://my.scalr.io.evil.example/api/iacp/v3/policy-checks/pchk-1/output"},
		} {
			_, err := tt.client.PolicyChecks.OutputFromLink(ctx, tt.link, nil)
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("OutputFromLink(%q) error = %v, want ErrInvalidArgument", tt.link, err)
			}
		}
	})

	t.Run("scalr link on the account host", func(t *testing.T) {
		var sent atomic.Value
		rt := roundTripper(func(r *http.Request) (*http.Response, error) {
			sent.Store(r.URL.String() + " " + r.Header.Get("Authorization"))
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("log")), Request: r}, nil
		})
		c, err := NewClient(WithScalr("MY"), WithToken(testToken), WithHTTPClient(&http.Client{Transport: rt}))
		if err != nil {
			t.Fatal(err)
		}
		link := "https://my.scalr.io/api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8/output"
		if got := readAll(c.PolicyChecks.OutputFromLink(ctx, link, nil)); got != "log" {
			t.Errorf("output = %q", got)
		}
		if got := sent.Load(); got != link+" Bearer "+testToken {
			t.Errorf("sent %v", got)
		}
	})
}

// roundTripper answers requests with a function.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// deadlineContext is a context whose deadline passes when done is closed, so a test
// can reach a deadline at a chosen point without a clock.
type deadlineContext struct {
	context.Context
	done chan struct{}
}

func (c *deadlineContext) Done() <-chan struct{} { return c.done }

func (c *deadlineContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// answerOnceThenHang answers the first request with body; at the second it calls then
// and holds the request until the client gives up.
func answerOnceThenHang(body []byte, then func()) http.HandlerFunc {
	var reads atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if reads.Add(1) == 1 {
			_, _ = w.Write(body)
			return
		}
		then()
		<-r.Context().Done()
	}
}

func TestPolicyCheckWait(t *testing.T) {
	ctx := context.Background()
	fast := &PolicyCheckWaitOptions{PollInterval: time.Microsecond, MaxPollInterval: 4 * time.Microsecond}
	// serve answers the reads of polchk-1 with the statuses in order, the last one again
	// and again.
	serve := func(t *testing.T, statuses ...PolicyCheckStatus) (*testAPI, *atomic.Int64) {
		api := newTestAPI(t)
		var reads atomic.Int64
		bodies := make([][]byte, len(statuses))
		for i, s := range statuses {
			bodies[i] = withStatus(t, "hcp_policy_check_show_response.json", s)
		}
		api.handle("GET /api/v2/policy-checks/polchk-1", func(w http.ResponseWriter, r *http.Request) {
			n := int(reads.Add(1))
			_, _ = w.Write(bodies[min(n, len(bodies))-1])
		})
		return api, &reads
	}

	t.Run("until final", func(t *testing.T) {
		api, reads := serve(t, PolicyCheckPending, PolicyCheckQueued, PolicyCheckRunning, PolicyCheckSoftFailed, PolicyCheckOverridden)
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-1", fast)
		if err != nil || pc.Status != PolicyCheckOverridden || reads.Load() != 5 {
			t.Errorf("Wait = %v, %v after %d reads", pc, err, reads.Load())
		}
	})
	t.Run("stop at soft_failed", func(t *testing.T) {
		api, reads := serve(t, PolicyCheckQueued, PolicyCheckSoftFailed, PolicyCheckOverridden)
		opts := *fast
		opts.StopAtSoftFailed = true
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-1", &opts)
		if err != nil || pc.Status != PolicyCheckSoftFailed || reads.Load() != 2 {
			t.Errorf("Wait = %v, %v after %d reads", pc, err, reads.Load())
		}
	})
	t.Run("unknown status ends the wait", func(t *testing.T) {
		api, reads := serve(t, PolicyCheckPending, "awaiting_quorum")
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-1", fast)
		if err != nil || pc.Status != "awaiting_quorum" || reads.Load() != 2 {
			t.Errorf("Wait = %v, %v after %d reads", pc, err, reads.Load())
		}
	})
	t.Run("an unreadable status does not end the wait", func(t *testing.T) {
		api, reads := serve(t, PolicyCheckPending, "", PolicyCheckHardFailed)
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-1", fast)
		if err != nil || pc.Status != PolicyCheckHardFailed || reads.Load() != 3 {
			t.Errorf("Wait = %v, %v after %d reads", pc, err, reads.Load())
		}
	})
	t.Run("context ends the wait", func(t *testing.T) {
		api := newTestAPI(t)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		pending := withStatus(t, "hcp_policy_check_show_response.json", PolicyCheckPending)
		api.handle("GET /api/v2/policy-checks/polchk-1", answerOnceThenHang(pending, cancel)) // the caller gives up during the second read
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-1", fast)
		if !errors.Is(err, context.Canceled) || pc == nil || pc.Status != PolicyCheckPending {
			t.Errorf("Wait = %v, %v; want the pending check and context.Canceled", pc, err)
		}
		if want := "tfc: PolicyChecks.Wait polchk-1: stopped after 2 reads (last status: pending): "; !strings.HasPrefix(fmt.Sprint(err), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	})
	t.Run("a deadline names the wait", func(t *testing.T) {
		api := newTestAPI(t)
		ctx := &deadlineContext{Context: ctx, done: make(chan struct{})}
		running := withStatus(t, "hcp_policy_check_show_response.json", PolicyCheckRunning)
		passes := func() { close(ctx.done) } // the deadline passes during the second read
		api.handle("GET /api/v2/policy-checks/polchk-2", answerOnceThenHang(running, passes))
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-2", fast)
		if !errors.Is(err, context.DeadlineExceeded) || pc == nil || pc.Status != PolicyCheckRunning {
			t.Fatalf("Wait = %v, %v; want the running check and context.DeadlineExceeded", pc, err)
		}
		for _, want := range []string{"PolicyChecks.Wait polchk-2", "after 2 reads", "last status: running"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("a failed read ends the wait", func(t *testing.T) {
		api := newTestAPI(t)
		api.handle("GET /api/v2/policy-checks/polchk-1", serveFixture(t, http.StatusNotFound, "error_404.json"))
		pc, err := api.client.PolicyChecks.Wait(ctx, "polchk-1", nil)
		if !errors.Is(err, ErrNotFound) || pc != nil {
			t.Errorf("Wait = %v, %v", pc, err)
		}
	})
}

func TestPolicyCheckArgumentsCheckedOffline(t *testing.T) {
	c := offlineClient(t)
	ctx := context.Background()
	pcs := c.PolicyChecks
	errs := map[string]error{}
	_, errs["list empty run"] = pcs.List(ctx, "", nil)
	_, errs["list run with slash"] = pcs.List(ctx, "run-1/../x", nil)
	_, errs["list page size"] = pcs.List(ctx, "run-1", &PolicyCheckListOptions{ListOptions: ListOptions{PageSize: MaxPageSize + 1}})
	_, errs["read empty"] = pcs.Read(ctx, "", nil)
	_, errs["override empty"] = pcs.Override(ctx, " ")
	_, errs["output empty"] = pcs.Output(ctx, "", nil)
	_, errs["wait empty"] = pcs.Wait(ctx, "", nil)
	_, errs["wait negative"] = pcs.Wait(ctx, "polchk-1", &PolicyCheckWaitOptions{PollInterval: -time.Second})
	_, errs["wait max below min"] = pcs.Wait(ctx, "polchk-1", &PolicyCheckWaitOptions{PollInterval: time.Minute, MaxPollInterval: time.Second})
	for name, err := range errs {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", name, err)
		}
	}
	for pc, err := range pcs.All(ctx, "", nil) {
		if pc != nil || !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("All with no run ID: %v, %v", pc, err)
		}
	}
}

// TestNoSecretsInPolicyCheckAndTestConfigFlows runs the flows of this issue with a debug
// logger: neither logs nor errors may carry the token, the signed blob URL or the OIDC
// configuration values.
func TestNoSecretsInPolicyCheckAndTestConfigFlows(t *testing.T) {
	const signedPath = "/v1/object/c2lnbmVkLWJsb2ItcGF0aA"
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("deny") != "" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<Error><Key>%s</Key></Error>", r.URL.Path)
			return
		}
		_, _ = io.WriteString(w, "policy output")
	}))
	defer blob.Close()
	var logs syncbuf.Buffer
	api := newTestAPI(t, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	api.handle("GET /api/v2/policy-checks/{id}/output", func(w http.ResponseWriter, r *http.Request) {
		target := blob.URL + signedPath + "?sig=blobsig"
		if r.PathValue("id") == "polchk-denied" {
			target += "&deny=1"
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
	api.handle("POST /api/v2/policy-checks/polchk-1/actions/override", serveFixture(t, http.StatusConflict, "scalr_policy_check_error_409.json"))
	api.handle("PATCH /api/v2/registry-modules/private/my-org/vpc/aws/test-configuration", serveFixture(t, http.StatusUnprocessableEntity, "testconfig_error_422_configuration.json"))

	ctx := context.Background()
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%v | %+v | %#v", err, err, err))
		}
	}
	rc, err := api.client.PolicyChecks.Output(ctx, "polchk-ok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "policy output" {
		t.Errorf("output = %q", b)
	}
	rc.Close()
	_, err = api.client.PolicyChecks.Output(ctx, "polchk-denied", nil)
	note(err)
	_, err = api.client.PolicyChecks.Override(ctx, "polchk-1")
	note(err)
	_, err = api.client.PolicyChecks.OutputFromLink(ctx, blob.URL+signedPath+"?sig=blobsig", nil)
	note(err)
	const roleARN = "arn:aws:iam::123456789012:role/terraform-module-test-role"
	module := RegistryModuleAddress{RegistryName: "private", Namespace: "my-org", Name: "vpc", Provider: "aws"}
	_, err = api.client.TestConfigurations.EnableOIDC(ctx, module, &AWSOIDCConfiguration{RoleARN: roleARN, Audience: "aud-value-x"})
	note(err)
	_, err = api.client.TestConfigurations.EnableOIDC(ctx, module, &AWSOIDCConfiguration{RoleARN: "not-an-arn-value"})
	note(err)
	if len(errs) != 5 {
		t.Fatalf("want 5 failing calls, got %q", errs)
	}
	secrets := []string{testToken, "Bearer", signedPath, "blobsig", roleARN, "aud-value-x", "not-an-arn-value"}
	assertNoSecrets(t, "errors", strings.Join(errs, "\n"), secrets...)
	assertNoSecrets(t, "debug logs", logs.String(), secrets...)
	if !strings.Contains(logs.String(), "/[redacted]") {
		t.Errorf("the blob attempts are not logged in redacted form:\n%s", logs.String())
	}
}
