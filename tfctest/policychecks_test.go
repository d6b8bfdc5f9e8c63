package tfctest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

func TestPolicyChecks(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	r, err := s.StartRun(ws.ID, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	soft := s.AddPolicyCheck(r.ID, tfctest.PolicyCheck{Status: tfc.PolicyCheckSoftFailed, Output: "\x1b[31mFAIL\x1b[0m cost-limit"})
	hard := s.AddPolicyCheck(r.ID, tfctest.PolicyCheck{Status: tfc.PolicyCheckHardFailed, Policies: []tfc.PolicyCheckPolicy{
		{Name: "a", Result: "passed"}, {Name: "b", Result: "hard_failed"}, {Name: "c", Result: "advisory_failed"}}})
	client := s.Client()

	page, err := client.PolicyChecks.List(ctx(t), r.ID, nil)
	if err != nil || len(page.Items) != 2 || page.Pagination != nil {
		t.Fatalf("list without page parameters: %+v %v", page, err)
	}
	pc := page.Items[0]
	if pc.ID != soft || !strings.HasPrefix(soft, "polchk-") || pc.Status != tfc.PolicyCheckSoftFailed || !pc.Overridable() ||
		pc.Result.SoftFailed != 1 || pc.Result.Result || pc.Scope != tfc.PolicyScopeOrganization || pc.RunID != r.ID ||
		pc.OutputLink != "/api/v2/policy-checks/"+soft+"/output" {
		t.Errorf("soft-failed check %+v", pc)
	}
	page, err = client.PolicyChecks.List(ctx(t), r.ID, &tfc.PolicyCheckListOptions{ListOptions: tfc.ListOptions{PageSize: 1}})
	if err != nil || len(page.Items) != 1 || page.Pagination == nil || page.Pagination.TotalCount != 2 {
		t.Errorf("paged list: %+v %v", page, err)
	}

	got, err := client.PolicyChecks.Read(ctx(t), hard, &tfc.PolicyCheckReadOptions{Include: []tfc.PolicyCheckInclude{tfc.PolicyCheckIncludeRunWorkspace}})
	if err != nil || got.Result.HardFailed != 1 || got.Result.Passed != 1 || got.Result.AdvisoryFailed != 1 || got.Result.TotalFailed != 2 ||
		got.WorkspaceID != ws.ID || got.WorkspaceName != "networking" || got.RunStatus == "" {
		t.Errorf("read with include: %+v %v", got, err)
	}

	if _, err := client.PolicyChecks.Override(ctx(t), hard); !errors.Is(err, tfc.ErrConflict) {
		t.Errorf("override of a hard failure: %v", err)
	}
	overridden, err := client.PolicyChecks.Override(ctx(t), soft)
	if err != nil || overridden.Status != tfc.PolicyCheckOverridden {
		t.Fatalf("override: %+v %v", overridden, err)
	}
	if _, ok := overridden.StatusTimestamps.At("overridden"); !ok {
		t.Errorf("no overridden-at in %v", overridden.StatusTimestamps)
	}

	out, err := client.PolicyChecks.Output(ctx(t), soft, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out)
	out.Close()
	if string(b) != "\x1b[31mFAIL\x1b[0m cost-limit" || s.BlobReceivedAuthorization() {
		t.Errorf("output %q, blob saw the token: %v", b, s.BlobReceivedAuthorization())
	}

	// A check goes through its statuses as the test says.
	pending := s.AddPolicyCheck("run-seededonly000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckPending})
	if !s.SetPolicyCheckStatus(pending, tfc.PolicyCheckPassed) || s.SetPolicyCheckStatus("polchk-nope", tfc.PolicyCheckPassed) {
		t.Error("SetPolicyCheckStatus")
	}
	waited, err := client.PolicyChecks.Wait(ctx(t), pending, nil)
	if err != nil || waited.Status != tfc.PolicyCheckPassed || waited.Result.Passed != 1 {
		t.Errorf("wait: %+v %v", waited, err)
	}
}

func TestScalrPolicyChecks(t *testing.T) {
	s := newServer(t, tfctest.WithScalr())
	soft := s.AddPolicyCheck("run-scalr00000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckSoftFailed, Output: "\x1b[1mcost\x1b[0m too high",
		Policies: []tfc.PolicyCheckPolicy{{Name: "cost-check", Result: "soft_failed", Messages: []string{"too expensive"}}}})
	passed := s.AddPolicyCheck("run-scalr00000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed})
	client := s.Client()
	if got := client.BaseURL().String(); got != s.URL+"/api/iacp/v3/" {
		t.Fatalf("client base URL %s", got)
	}

	page, err := client.PolicyChecks.List(ctx(t), "run-scalr00000000000", nil)
	if err != nil || len(page.Items) != 2 || page.Pagination == nil || page.Pagination.TotalCount != 2 {
		t.Fatalf("list: %+v %v", page, err)
	}
	pc := page.Items[0]
	if pc.ID != soft || !strings.HasPrefix(soft, "pchk-") || pc.Scope != "" || pc.IsOverridable != nil || pc.RunID != "" ||
		len(pc.Result.Policies) != 1 || pc.Result.Policies[0].Messages[0] != "too expensive" || !pc.Overridable() ||
		pc.OutputLink != s.URL+"/api/iacp/v3/policy-checks/"+soft+"/output" {
		t.Errorf("Scalr check %+v", pc)
	}
	_, body := rawRequest(t, http.MethodGet, s.URL+"/api/iacp/v3/policy-checks/"+soft, s.Token, "")
	var doc struct {
		Data struct {
			Attributes    map[string]any `json:"attributes"`
			Relationships map[string]any `json:"relationships"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Data.Attributes["scope"] != nil || doc.Data.Attributes["actions"] != nil ||
		len(doc.Data.Relationships) != 0 || doc.Data.Attributes["result"].(map[string]any)["sentinel"] != nil {
		t.Errorf("Scalr shape: %s", body)
	}

	out, err := client.PolicyChecks.OutputFromLink(ctx(t), pc.OutputLink, &tfc.PolicyCheckOutputOptions{Clean: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out)
	out.Close()
	if string(b) != "cost too high" {
		t.Errorf("clean output %q", b)
	}
	_, err = client.PolicyChecks.Override(ctx(t), passed)
	var apiErr *tfc.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict ||
		apiErr.Errors[0].Detail != "Override is not possible in a current policy-check or run status." {
		t.Errorf("override of a passed check: %v", err)
	}
	if got, err := client.PolicyChecks.Override(ctx(t), soft); err != nil || got.Status != tfc.PolicyCheckOverridden {
		t.Errorf("override: %+v %v", got, err)
	}
	if resp, _ := rawRequest(t, http.MethodGet, s.URL+"/api/v2/ping", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a Scalr server serves /api/v2: %d", resp.StatusCode)
	}

	errored := s.AddPolicyCheck("run-scalr00000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckErrored, ErrorMessage: "rego_parse_error"})
	if got, err := client.PolicyChecks.Read(ctx(t), errored, nil); err != nil || got.ErrorMessage != "rego_parse_error" || string(got.Permissions) != "{}" {
		t.Errorf("errored check: %+v %v", got, err)
	}
	if pc.ErrorMessage != "" {
		t.Errorf("a soft-failed check has an error message: %q", pc.ErrorMessage)
	}
}

func TestTestConfiguration(t *testing.T) {
	s := newServer(t)
	mod := s.AddRegistryModule("acme", "vpc", "aws")
	client := s.Client()
	tc, err := client.TestConfigurations.Read(ctx(t), mod.Address)
	if err != nil || tc.OIDCEnabled || tc.OIDCProvider != "" || tc.RegistryModuleID != mod.ID || !strings.HasPrefix(tc.ID, "modconf-") {
		t.Fatalf("read: %+v %v", tc, err)
	}
	tc, err = client.TestConfigurations.EnableOIDC(ctx(t), mod.Address, &tfc.AWSOIDCConfiguration{RoleARN: "arn:aws:iam::123456789012:role/tests"})
	if err != nil || !tc.OIDCEnabled || tc.OIDCProvider != tfc.OIDCProviderAWS {
		t.Fatalf("enable: %+v %v", tc, err)
	}
	held, ok := s.TestConfiguration(mod.Address)
	if !ok || held.OIDCConfiguration["role-arn"] != "arn:aws:iam::123456789012:role/tests" {
		t.Errorf("held %+v", held)
	}
	path := s.URL + "/api/v2/registry-modules/private/acme/vpc/aws/test-configuration"
	resp, body := rawRequest(t, http.MethodGet, path, s.Token, "")
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "role-arn") || strings.Contains(string(body), "oidc-configuration") {
		t.Errorf("the OIDC configuration came back: %s", body)
	}
	for body, want := range map[string][2]string{
		`{"data":{"type":"test-configurations","attributes":{"oidc-enabled":true,"oidc-provider":"okta","oidc-configuration":{}}}}`:                                   {"/data/attributes/oidc-provider", "OIDC provider must be one of: aws, gcp, azure, vault"},
		`{"data":{"type":"test-configurations","attributes":{"oidc-enabled":true,"oidc-provider":"gcp"}}}`:                                                            {"/data/attributes/oidc-configuration", "OIDC configuration is required when OIDC is enabled"},
		`{"data":{"type":"test-configurations","attributes":{"oidc-enabled":true,"oidc-provider":"vault","oidc-configuration":{"url":"https://vault.example.com"}}}}`: {"/data/attributes/oidc-configuration/role-name", ""},
	} {
		resp, b := rawRequest(t, http.MethodPatch, path, s.Token, body)
		e := errorObjects(t, b)[0]
		if resp.StatusCode != http.StatusUnprocessableEntity || e["source"].(map[string]any)["pointer"] != want[0] || (want[1] != "" && e["detail"] != want[1]) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	tc, err = client.TestConfigurations.DisableOIDC(ctx(t), mod.Address)
	if err != nil || tc.OIDCEnabled || tc.OIDCProvider != tfc.OIDCProviderAWS {
		t.Errorf("disable: %+v %v", tc, err)
	}
	_, err = client.TestConfigurations.Read(ctx(t), tfc.RegistryModuleAddress{RegistryName: "private", Namespace: "acme", Name: "nope", Provider: "aws"})
	var apiErr *tfc.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Errors[0].Detail != "Registry module not found" {
		t.Errorf("unknown module: %v", err)
	}
}

// TestDeny: a denied object answers as the service answers a token without
// permission, on each flavour.
func TestDeny(t *testing.T) {
	var apiErr *tfc.APIError
	wantStatus := func(what string, err error, status int, detail string) {
		t.Helper()
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || (detail != "" && apiErr.Errors[0].Detail != detail) {
			t.Errorf("%s: %v, want %d %q", what, err, status, detail)
		}
	}

	scalr := newServer(t, tfctest.WithScalr())
	check := scalr.AddPolicyCheck("run-denied0000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckSoftFailed})
	open := scalr.AddPolicyCheck("run-open000000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed})
	scalr.Deny("run-denied0000000000")
	scalr.Deny(check)
	c := scalr.Client()
	_, err := c.PolicyChecks.List(ctx(t), "run-denied0000000000", nil)
	wantStatus("Scalr list", err, http.StatusForbidden, "Plan not found or user unauthorized to perform action.")
	_, err = c.PolicyChecks.Read(ctx(t), check, nil)
	wantStatus("Scalr read", err, http.StatusForbidden, "Policy check not found or user unauthorized to perform action.")
	if !errors.Is(err, tfc.ErrForbidden) {
		t.Errorf("Scalr read: %v does not match ErrForbidden", err)
	}
	_, err = c.PolicyChecks.Override(ctx(t), check)
	wantStatus("Scalr override", err, http.StatusForbidden, "")
	_, err = c.PolicyChecks.Output(ctx(t), check, nil)
	wantStatus("Scalr output", err, http.StatusForbidden, "")
	if _, err := c.PolicyChecks.Read(ctx(t), open, nil); err != nil {
		t.Errorf("a check not denied: %v", err)
	}

	hcp := newServer(t)
	check = hcp.AddPolicyCheck("run-denied0000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed})
	hcp.Deny(check)
	mod := hcp.AddRegistryModule("acme", "vpc", "aws")
	hcp.Deny(mod.Address.String())
	c = hcp.Client()
	_, err = c.PolicyChecks.Read(ctx(t), check, nil)
	wantStatus("HCP read", err, http.StatusNotFound, "")
	_, err = c.TestConfigurations.EnableOIDC(ctx(t), mod.Address, &tfc.AWSOIDCConfiguration{RoleARN: "arn:aws:iam::123456789012:role/t"})
	wantStatus("test configuration change", err, http.StatusForbidden, "You do not have permission to modify this module's test configuration")
	if tc, err := c.TestConfigurations.Read(ctx(t), mod.Address); err != nil || tc.OIDCEnabled {
		t.Errorf("reading a module denied changes: %+v %v", tc, err)
	}
}
