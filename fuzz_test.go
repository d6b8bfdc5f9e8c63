package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for everything tfc reads from the network. Each asserts that nothing
// panics and that results stay within their bounds; .ci/run runs each for a few
// seconds, seeded from testdata/.

func addFixtures(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
}

// FuzzRunTaskRequest decodes arbitrary run task payloads and checks that what the
// receiver does with them never prints the token.
func FuzzRunTaskRequest(f *testing.F) {
	addFixtures(f, "runtask_request_*.json")
	f.Add([]byte(`{"payload_version":1,"stage":"pre-apply","capabilitites":{"outcomes":true},"run_created_at":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r RunTaskRequest
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		const marker = "tok-MARKER-5d7b2f"
		r.AccessToken = marker
		out, _ := json.Marshal(r)
		for _, s := range []string{r.String(), r.GoString(), string(out), r.LogValue().String()} {
			if strings.Contains(s, marker) {
				t.Fatalf("token printed: %q", s)
			}
		}
	})
}

// FuzzReceiver feeds arbitrary signed bodies to a receiver: it must answer with one of
// its documented statuses and never panic, and it calls nothing back (every callback
// URL points at a server that fails the test).
func FuzzReceiver(f *testing.F) {
	addFixtures(f, "runtask_request_*.json")
	f.Add([]byte(`{"payload_version":1,"access_token":"test-token","stage":"test"}`))
	f.Add([]byte(`{"payload_version":1,"access_token":"t","task_result_id":"x","task_result_callback_url":"http://127.0.0.1:1/cb","plan_json_api_url":"http://127.0.0.1:2/p"}`))
	allowed := map[int]bool{200: true, 400: true, 401: true, 403: true, 413: true, 503: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := NewReceiver(func(context.Context, *Delivery) (TaskResultUpdate, error) {
			return Passed("ok"), nil
		}, WithHMACKeys(testHMACKey), WithAllowedHosts("allowed.example"), WithMaxBodyBytes(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Shutdown(context.Background())
		for _, sig := range []string{Sign(testHMACKey, body), "", "zz"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set(SignatureHeader, sig)
			r.ServeHTTP(rec, req)
			if !allowed[rec.Code] {
				t.Fatalf("status %d for %q", rec.Code, body)
			}
		}
	})
}

// FuzzVerifySignature checks arbitrary signature headers: verification never panics,
// and only the right signature verifies.
func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"payload_version":1}`)
	f.Add(Sign(testHMACKey, body))
	f.Add(strings.ToUpper(Sign(testHMACKey, body)))
	f.Add("")
	f.Add(" " + Sign(testHMACKey, body) + "\t")
	f.Add(strings.Repeat("0", 128))
	v, err := NewSignatureVerifier(testHMACKey, "second-key")
	if err != nil {
		f.Fatal(err)
	}
	want := Sign(testHMACKey, body)
	f.Fuzz(func(t *testing.T, sig string) {
		err := v.VerifyHex(sig, body)
		ok := strings.EqualFold(strings.TrimSpace(sig), want)
		if (err == nil) != ok {
			t.Fatalf("VerifyHex(%q) = %v", sig, err)
		}
	})
}

// FuzzRetryHeaders parses arbitrary Retry-After and X-RateLimit-Reset values: the
// advised wait is never negative, never beyond the cap, and MaxWait always holds.
func FuzzRetryHeaders(f *testing.F) {
	for _, v := range []string{"1", "0.25", "Sun, 22 Nov 2026 12:00:05 GMT", "-1", "NaN", "1e400", "99999999999999999999", ""} {
		f.Add(v, v)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p := RetryPolicy{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: 10 * time.Second}
	f.Fuzz(func(t *testing.T, retryAfter, reset string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("X-RateLimit-Reset", reset)
		for _, status := range []int{429, 503, 500} {
			if d, ok := serverAdvisedWait(status, h, now); ok && (d < 0 || d > maxAdvisedWait) {
				t.Fatalf("advised wait %v", d)
			}
			if w := p.wait(1, &http.Response{StatusCode: status, Header: h}, now); w < 0 || w > p.MaxWait {
				t.Fatalf("wait %v", w)
			}
		}
	})
}

// FuzzErrorBody parses arbitrary error bodies into an *APIError: no panic, and the
// message stays short and printable.
func FuzzErrorBody(f *testing.F) {
	addFixtures(f, "*error*.json")
	f.Add([]byte(`<html><title>502 Bad Gateway</title></html>`))
	f.Add([]byte(`{"errors":["plain",{"status":404},{"status":"x","source":{"pointer":"/data"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := &APIError{StatusCode: 500, Method: "GET", Path: "/x"}
		parseJSONAPIError(e, body)
		if len([]rune(e.Message)) > maxMessage+1 {
			t.Fatalf("message of %d runes", len([]rune(e.Message)))
		}
		_ = e.Error()
		ce := &APIError{StatusCode: 404}
		parseCTSError(ce, body)
		_ = ce.Error()
	})
}

// bodyTransport answers every request 200 with the same body, without a network.
type bodyTransport []byte

func (b bodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/vnd.api+json")
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)),
	}, nil
}

// FuzzResponses serves arbitrary bodies as the answer to every read of every resource,
// on HCP Terraform, Scalr and CTS: each call returns a value or an error, never panics.
// It covers the decoders that FuzzDecode does not compare (entitlements, organizations,
// test configurations, Scalr policy checks, policy set outcomes, task configs,
// workspaces, runs, pagination meta, every CTS response).
func FuzzResponses(f *testing.F) {
	addFixtures(f, "*.json")
	f.Add([]byte(`{"data":[],"meta":{"pagination":{"current-page":1,"next-page":null,"total-pages":-1}}}`))
	f.Add([]byte(`{"data":{"id":"org","attributes":{"module-test-token-ttl":"x"}}}`))
	f.Add([]byte(`{"tasks":[{"name":"t","buffer_period":{"min":"-1s"}}],"task":{"condition":null}}`))
	ctx := context.Background()
	module := RegistryModuleAddress{RegistryName: "private", Namespace: "acme", Name: "vpc", Provider: "aws"}
	f.Fuzz(func(t *testing.T, body []byte) {
		hc := &http.Client{Transport: bodyTransport(body)}
		for _, opts := range [][]Option{nil, {WithScalr("acme")}} {
			opts = append(opts, WithHTTPClient(hc), WithToken("t"), WithRetryPolicy(NoRetries()), WithRateLimit(0))
			c, err := NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Organizations.Read(ctx, "acme")
			_, _ = c.Organizations.ReadEntitlements(ctx, "acme")
			_, _ = c.TestConfigurations.Read(ctx, module)
			_, _ = c.PolicyChecks.Read(ctx, "polchk-1", nil)
			_, _ = c.PolicyChecks.List(ctx, "run-1", nil)
			_, _ = c.RunTasks.List(ctx, "acme", nil)
			_, _ = c.WorkspaceRunTasks.Read(ctx, "ws-1", "wstask-1")
			_, _ = c.TaskStages.Read(ctx, "ts-1", &TaskStageReadOptions{Include: []TaskStageInclude{TaskStageIncludeTaskResults, TaskStageIncludePolicyEvaluations}})
			_, _ = c.TaskResults.Read(ctx, "taskrs-1")
			_, _ = c.TaskStages.Read(ctx, "ts-1", &TaskStageReadOptions{Include: []TaskStageInclude{TaskStageIncludeRun, TaskStageIncludeRunWorkspace, TaskStageIncludeCostEstimate}})
			_, _ = c.PolicyEvaluations.List(ctx, "ts-1", nil)
			_, _ = c.PolicySetOutcomes.List(ctx, "poleval-1", nil)
			_, _ = c.PolicySetOutcomes.Read(ctx, "psout-1")
			_, _ = c.TaskConfigs.List(ctx, "acme", nil)
			_, _ = c.Workspaces.Read(ctx, "acme", "app")
			_, _ = c.Runs.Read(ctx, "run-1")
			_, _ = c.Runs.List(ctx, "ws-1", nil)
			for _, err := range c.TaskStages.All(ctx, "run-1", nil) {
				if err != nil {
					break
				}
			}
		}
		cts, err := NewCTSClient(WithCTSHTTPClient(hc), WithCTSRetryPolicy(NoRetries()))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = cts.Status(ctx)
		_, _ = cts.ClusterStatus(ctx)
		_, _ = cts.Tasks.ListStatuses(ctx, nil)
		_, _ = cts.Tasks.ReadStatus(ctx, "t", nil)
		_, _ = cts.Tasks.List(ctx)
		_, _ = cts.Tasks.Read(ctx, "t")
		_ = cts.Health(ctx)
	})
}
