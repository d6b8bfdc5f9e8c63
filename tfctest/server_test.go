package tfctest_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

func TestPingAnswersWithTheServiceHeaders(t *testing.T) {
	s := newServer(t)
	resp, _ := rawRequest(t, http.MethodGet, s.URL+"/api/v2/ping", "", "")
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("X-RateLimit-Limit") != "30" || h.Get("TFP-API-Version") == "" ||
		h.Get("TFP-AppName") != "HCP Terraform" || h.Get("X-Request-Id") == "" {
		t.Errorf("ping: %d %v", resp.StatusCode, h)
	}
}

func TestRequestsNeedTheToken(t *testing.T) {
	s := newServer(t)
	s.AddOrganization("acme")
	for _, token := range []string{"", "not-the-token"} {
		resp, body := rawRequest(t, http.MethodGet, s.URL+"/api/v2/organizations/acme", token, "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/vnd.api+json" ||
			errorObjects(t, body)[0]["status"] != "401" {
			t.Errorf("token %q: %d %s", token, resp.StatusCode, body)
		}
	}
	_, err := s.Client(tfc.WithToken("wrong")).Organizations.Read(ctx(t), "acme")
	if !errors.Is(err, tfc.ErrUnauthorized) {
		t.Errorf("client with a wrong token: %v", err)
	}
}

func TestUnknownIDsAreNotFound(t *testing.T) {
	s := newServer(t)
	client := s.Client()
	for name, call := range map[string]func() error{
		"organization": func() error { _, err := client.Organizations.Read(ctx(t), "nope"); return err },
		"run task":     func() error { _, err := client.RunTasks.Read(ctx(t), "task-doesnotexist0000", nil); return err },
		"task stage":   func() error { _, err := client.TaskStages.Read(ctx(t), "ts-doesnotexist00000", nil); return err },
		"task stages":  func() error { _, err := client.TaskStages.List(ctx(t), "run-doesnotexist0000", nil); return err },
		"task result":  func() error { _, err := client.TaskResults.Read(ctx(t), "taskrs-doesnotexist0"); return err },
		"policy check": func() error { _, err := client.PolicyChecks.Read(ctx(t), "polchk-doesnotexist0", nil); return err },
		"override":     func() error { _, err := client.TaskStages.Override(ctx(t), "ts-doesnotexist00000", nil); return err },
	} {
		if err := call(); !errors.Is(err, tfc.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	resp, body := rawRequest(t, http.MethodGet, s.URL+"/api/v2/no/such/endpoint", s.Token, "")
	if resp.StatusCode != http.StatusNotFound || errorObjects(t, body)[0]["status"] != "404" {
		t.Errorf("unknown endpoint: %d %s", resp.StatusCode, body)
	}
}

func TestOrganizationsAndWorkspaces(t *testing.T) {
	s := newServer(t)
	org := s.AddOrganization("acme")
	ws := s.AddWorkspace("acme", "networking")
	if again := s.AddWorkspace("acme", "networking"); again != ws || !strings.HasPrefix(ws.ID, "ws-") {
		t.Errorf("workspaces %+v %+v", ws, again)
	}
	client := s.Client()
	o, err := client.Organizations.Read(ctx(t), "acme")
	if err != nil || o.Name != "acme" || o.ExternalID != org.ExternalID || o.ModuleTestTokenTTL != 10*time.Minute {
		t.Errorf("read: %+v %v", o, err)
	}
	o, err = client.Organizations.UpdateModuleTestTokenTTL(ctx(t), "acme", 15*time.Minute)
	if err != nil || o.ModuleTestTokenTTL != 15*time.Minute {
		t.Errorf("update: %+v %v", o, err)
	}
	for _, ttl := range []string{"299", "1801", "600.5", `"600"`} {
		resp, body := rawRequest(t, http.MethodPatch, s.URL+"/api/v2/organizations/acme", s.Token,
			`{"data":{"type":"organizations","attributes":{"module-test-token-ttl":`+ttl+`}}}`)
		e := errorObjects(t, body)[0]
		if resp.StatusCode != http.StatusUnprocessableEntity || e["detail"] != "Module test token TTL must be between 300 and 1800 seconds" ||
			e["source"].(map[string]any)["pointer"] != "/data/attributes/module-test-token-ttl" {
			t.Errorf("ttl %s: %d %s", ttl, resp.StatusCode, body)
		}
	}
	set, err := client.Organizations.ReadEntitlements(ctx(t), "acme")
	if err != nil || set.ID != org.ExternalID || !set.RunTasks || !set.Has("private-run-tasks") || set.RunTaskLimit != nil {
		t.Errorf("entitlements: %+v %v", set, err)
	}
	for path, want := range map[string]int{
		"/api/v2/workspaces/" + ws.ID:                            http.StatusOK,
		"/api/v2/organizations/acme/workspaces/networking":       http.StatusOK,
		"/api/v2/organizations/acme/workspaces":                  http.StatusOK,
		"/api/v2/organizations/acme/workspaces/nope":             http.StatusNotFound,
		"/api/v2/workspaces/ws-doesnotexist000000":               http.StatusNotFound,
		"/api/v2/organizations/nope/entitlement-set":             http.StatusNotFound,
		"/api/v2/organizations/acme/workspaces?page%5Bsize%5D=1": http.StatusOK,
	} {
		resp, body := rawRequest(t, http.MethodGet, s.URL+path, s.Token, "")
		if resp.StatusCode != want || (want == http.StatusOK && !strings.Contains(string(body), `"name":"networking"`)) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestRateLimitAnswers429WithinTheWindow(t *testing.T) {
	s := newServer(t, tfctest.WithRateLimit(3))
	s.AddOrganization("acme")
	url := s.URL + "/api/v2/organizations/acme"
	for i := range 3 {
		if resp, _ := rawRequest(t, http.MethodGet, url, s.Token, ""); resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := rawRequest(t, http.MethodGet, url, s.Token, "")
	reset, err := strconv.ParseFloat(resp.Header.Get("X-RateLimit-Reset"), 64)
	if resp.StatusCode != http.StatusTooManyRequests || err != nil || reset <= 0 || reset > 1 ||
		errorObjects(t, body)[0]["status"] != float64(429) {
		t.Fatalf("fourth request: %d, reset %q, %s", resp.StatusCode, resp.Header.Get("X-RateLimit-Reset"), body)
	}
	// Another token (here: none) has its own window.
	if resp, _ := rawRequest(t, http.MethodGet, url, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request without a token was counted against the token: %d", resp.StatusCode)
	}
	// A client without its own ceiling is refused and honours X-RateLimit-Reset.
	start := time.Now()
	if _, err := s.Client(tfc.WithRateLimit(0)).Organizations.Read(ctx(t), "acme"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Duration(reset*float64(time.Second))/2 {
		t.Errorf("the client got through after %v, before the window freed up", waited)
	}
}

// statuses sends n GETs one after another and returns their statuses, -1 for a
// dropped connection.
func statuses(t *testing.T, s *tfctest.Server, n int) []int {
	t.Helper()
	var out []int
	for range n {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v2/organizations/acme", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			out = append(out, -1)
			continue
		}
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	return out
}

func TestFaultsAreRepeatable(t *testing.T) {
	faults := tfctest.Faults{Seed: 7, RateLimited: 0.1, ServerErrors: 0.2, DroppedConnections: 0.1}
	run := func(f tfctest.Faults) []int {
		s := newServer(t, tfctest.WithFaults(f))
		s.AddOrganization("acme")
		got := statuses(t, s, 60)
		failed := 0
		for _, code := range got {
			if code != http.StatusOK {
				failed++
			}
		}
		if s.FaultsInjected() != failed {
			t.Errorf("FaultsInjected %d, failed %d", s.FaultsInjected(), failed)
		}
		return got
	}
	first, second := run(faults), run(faults)
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different faults:\n%v\n%v", first, second)
	}
	for _, want := range []int{http.StatusOK, http.StatusTooManyRequests, -1} {
		if !slices.Contains(first, want) {
			t.Errorf("no %d among %v", want, first)
		}
	}
	if !slices.ContainsFunc(first, func(c int) bool { return c >= 500 }) {
		t.Errorf("no 5xx among %v", first)
	}
	faults.Seed = 8
	if slices.Equal(first, run(faults)) {
		t.Error("another seed gave the same faults")
	}
}

func TestClientRetriesThroughFaults(t *testing.T) {
	s := newServer(t, tfctest.WithFaults(tfctest.Faults{Seed: 1, RateLimited: 0.1, ServerErrors: 0.15, DroppedConnections: 0.05}))
	ws := s.AddWorkspace("acme", "networking")
	for i := range 30 {
		s.AddPolicyCheck("run-faulty0000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed, Output: fmt.Sprint(i)})
	}
	client := s.Client()
	n := 0
	for _, err := range client.PolicyChecks.All(ctx(t), "run-faulty0000000000", &tfc.PolicyCheckListOptions{ListOptions: tfc.ListOptions{PageSize: 4}}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 30 || s.FaultsInjected() == 0 {
		t.Errorf("%d checks, %d faults", n, s.FaultsInjected())
	}
	for range 10 {
		if _, err := client.WorkspaceRunTasks.List(ctx(t), ws.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaultsOnCallbacksOnly(t *testing.T) {
	s := newServer(t, tfctest.WithFaults(tfctest.Faults{Seed: 3, ServerErrors: 0.3, CallbacksOnly: true}))
	ws := s.AddWorkspace("acme", "networking")
	attach(t, s, ws, "guard", serveReceiver(t, deletionCheck), tfc.EnforcementMandatory, tfc.StagePrePlan, tfc.StagePostPlan)
	for range 20 { // the API itself stays reliable
		if _, err := s.Client(tfc.WithRetryPolicy(tfc.NoRetries())).WorkspaceRunTasks.List(ctx(t), ws.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	if s.FaultsInjected() != 0 {
		t.Fatalf("%d faults outside callbacks", s.FaultsInjected())
	}
	for range 3 {
		r := settledRun(t, s, ws.ID, readPlan(t, "plan_safe.json"))
		for _, st := range r.TaskStages() {
			if st.Status != tfc.TaskStagePassed {
				t.Errorf("stage %s: %s", st.Stage, st.Status)
			}
		}
	}
	if s.FaultsInjected() == 0 {
		t.Error("no callback failed")
	}
}
