package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fixture returns a document of the SDK's testdata, with its first "status" replaced
// when status is not empty.
func fixture(t *testing.T, name, status string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if status != "" {
		b = bytes.Replace(b, []byte(`"status": "`), []byte(`"status": "`+status+`", "was": "`), 1)
	}
	return b
}

// server serves routes ("METHOD /path" to body) after checking the token.
func server(t *testing.T, token string, routes map[string]func() []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := routes[r.Method+" "+r.URL.Path]
		if strings.HasPrefix(r.URL.Path, "/api/iacp/v3/") && r.Header.Get("Prefer") != "profile=preview" {
			t.Errorf("%s %s without Prefer: profile=preview, as Scalr documents it", r.Method, r.URL.Path)
		}
		if !ok || r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func static(b []byte) func() []byte { return func() []byte { return b } }

// noTaskStages is a run's task stage list without stages.
var noTaskStages = []byte(`{"data":[]}`)

func TestGateHCPSoftFailure(t *testing.T) {
	var overrides atomic.Int64
	srv := server(t, "hcp-token", map[string]func() []byte{
		"GET /api/v2/runs/run-veDoQbv6xh6TbnJD/task-stages":   static(noTaskStages),
		"GET /api/v2/runs/run-veDoQbv6xh6TbnJD/policy-checks": static(fixture(t, "hcp_policy_checks_list_response.json", "")),
		"GET /api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum":   static(fixture(t, "hcp_policy_check_show_response.json", "")),
		"POST /api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum/actions/override": func() []byte {
			overrides.Add(1)
			return fixture(t, "hcp_policy_check_override_response.json", "")
		},
	})
	t.Setenv("TFE_TOKEN", "hcp-token")
	t.Setenv("TFE_ADDRESS", srv.URL)
	ctx := context.Background()

	var out bytes.Buffer
	err := run(ctx, []string{"-run", "run-veDoQbv6xh6TbnJD", "-poll", "1ms"}, &out)
	if !errors.Is(err, errBlocked) || !strings.Contains(err.Error(), "polchk-9VYRc9bpfJEsnwum soft_failed") {
		t.Errorf("without -override: %v", err)
	}
	if !strings.Contains(out.String(), "polchk-9VYRc9bpfJEsnwum soft_failed: 0 passed, 1 failed (0 hard, 1 soft, 0 advisory)") || overrides.Load() != 0 {
		t.Errorf("without -override, output:\n%s", out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"-run", "run-veDoQbv6xh6TbnJD", "-override", "-poll", "1ms"}, &out); err != nil {
		t.Errorf("with -override: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "may not override") || !strings.Contains(out.String(), " overridden: ") || overrides.Load() != 1 {
		t.Errorf("with -override, output:\n%s", out.String())
	}
}

// TestGateHCPSentinelPolicies: on HCP Terraform each policy's result comes from the
// Sentinel data; a policy set that does not read as expected is left out.
func TestGateHCPSentinelPolicies(t *testing.T) {
	const sentinel = `"sentinel": {"schema-version": "1.0.0", "data": {
		"networking": {"can-override": false, "error": null, "result": false, "policies": [
			{"allowed-failure": false, "error": null, "policy": "networking/restrict-ingress", "result": false, "trace": {}},
			{"allowed-failure": true, "error": null, "policy": "networking/tags", "result": false},
			{"allowed-failure": false, "error": null, "policy": "networking/regions", "result": true}]},
		"odd": {"policies": "not a list"}}}`
	show := bytes.Replace(fixture(t, "hcp_policy_check_show_response.json", "hard_failed"), []byte(`"sentinel": {}`), []byte(sentinel), 1)
	srv := server(t, "hcp-token", map[string]func() []byte{
		"GET /api/v2/runs/run-veDoQbv6xh6TbnJD/task-stages":   static(noTaskStages),
		"GET /api/v2/runs/run-veDoQbv6xh6TbnJD/policy-checks": static(fixture(t, "hcp_policy_checks_list_response.json", "")),
		"GET /api/v2/policy-checks/polchk-9VYRc9bpfJEsnwum":   static(show),
	})
	t.Setenv("TFE_TOKEN", "hcp-token")
	t.Setenv("TFE_ADDRESS", srv.URL)

	var out bytes.Buffer
	err := run(context.Background(), []string{"-run", "run-veDoQbv6xh6TbnJD", "-poll", "1ms"}, &out)
	if !errors.Is(err, errBlocked) {
		t.Errorf("hard failure: %v", err)
	}
	want := "  networking/restrict-ingress: failed\n  networking/tags: advisory_failed\n  networking/regions: passed\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks the Sentinel policies:\n%s", out.String())
	}
}

func TestGateScalrHardFailure(t *testing.T) {
	var reads atomic.Int64
	srv := server(t, "scalr-token", map[string]func() []byte{
		"GET /api/iacp/v3/runs/run-t61g5rlk9qbudh0/policy-checks": func() []byte {
			return fixture(t, "scalr_policy_checks_list_response.json", "")
		},
		"GET /api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8": func() []byte {
			// pending, then running, then the documented passed check
			status := map[int64]string{1: "pending", 2: "running"}[reads.Add(1)]
			return fixture(t, "scalr_policy_check_show_response.json", status)
		},
	})
	t.Setenv("SCALR_TOKEN", "scalr-token")
	t.Setenv("SCALR_ADDRESS", srv.URL)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"-run", "run-t61g5rlk9qbudh0", "-scalr-account", "my", "-poll", "1ms"}, &out); err != nil {
		t.Fatalf("passed check: %v", err)
	}
	for _, want := range []string{
		"pchk-t61g5rsa61i18c8 passed: 2 passed, 1 failed (0 hard, 0 soft, 1 advisory)",
		"  cost-check: advisory_failed\n    Plan is too expensive: $733.35, while up to $500 is allowed\n",
		"  instance_types: passed\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if reads.Load() != 3 {
		t.Errorf("reads = %d, want 3 (the gate waits for the final status)", reads.Load())
	}

	hard := fixture(t, "scalr_policy_check_override_response.json", "hard_failed")
	srv = server(t, "scalr-token", map[string]func() []byte{
		"GET /api/iacp/v3/runs/run-1/policy-checks":           static(fixture(t, "scalr_policy_checks_page_2_response.json", "")),
		"GET /api/iacp/v3/policy-checks/pchk-t61gbtus33m5eu8": static(hard),
	})
	t.Setenv("SCALR_ADDRESS", srv.URL)
	out.Reset()
	err := run(context.Background(), []string{"-run", "run-1", "-scalr-account", "my", "-override", "-poll", "1ms"}, &out)
	if !errors.Is(err, errBlocked) || !strings.Contains(err.Error(), "pchk-t61gbtus33m5eu8 hard_failed") {
		t.Errorf("hard failure: %v\n%s", err, out.String())
	}
}

func TestGateUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-run"}, {"-run", "run-1", "extra"}, {"-bogus"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); !errors.As(err, new(usageError)) {
			t.Errorf("%q: error = %v, want a usage error", args, err)
		}
	}
	t.Setenv("SCALR_TOKEN", "t")
	if err := run(context.Background(), []string{"-run", "run-1", "-scalr-account", "not_a_label"}, new(bytes.Buffer)); err == nil {
		t.Error("a bad Scalr account was accepted")
	}
}
