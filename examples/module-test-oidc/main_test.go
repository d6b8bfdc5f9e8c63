package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeHCP answers the test configuration and organization endpoints with the documented
// responses, and records the JSON body of each PATCH.
func fakeHCP(t *testing.T) (patched *[]any) {
	var bodies []any
	mux := http.NewServeMux()
	record := func(response string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer hcp-token" {
				t.Error("no token")
			}
			if r.Method == http.MethodPatch {
				var body any
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &body); err != nil {
					t.Errorf("body %q: %v", b, err)
				}
				bodies = append(bodies, body)
			}
			_, _ = w.Write(testdata(t, response))
		}
	}
	mux.HandleFunc("/api/v2/registry-modules/private/my-org/vpc/aws/test-configuration", record("testconfig_response.json"))
	mux.HandleFunc("PATCH /api/v2/organizations/my-org", record("organization_ttl_response.json"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("TFE_TOKEN", "hcp-token")
	t.Setenv("TFE_ADDRESS", srv.URL)
	return &bodies
}

func jsonValue(t *testing.T, b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEnableEachProvider(t *testing.T) {
	tests := map[string][]string{
		"testconfig_patch_aws_request.json": {"-provider", "aws", "-role-arn", "arn:aws:iam::123456789012:role/terraform-module-test-role",
			"-audience", "aws.workload.identity"},
		"testconfig_patch_gcp_request.json": {"-provider", "gcp",
			"-service-account-email", "terraform-module-test-sa@my-project.iam.gserviceaccount.com",
			"-workload-provider-name", "projects/123456789/locations/global/workloadIdentityPools/terraform-module-tests/providers/terraform-cloud",
			"-audience", "gcp.workload.identity"},
		"testconfig_patch_azure_request.json": {"-provider", "azure", "-tenant-id", "00000000-0000-0000-0000-000000000000",
			"-client-id", "11111111-1111-1111-1111-111111111111", "-subscription-id", "22222222-2222-2222-2222-222222222222",
			"-audience", "azure.workload.identity"},
		"testconfig_patch_vault_request.json": {"-provider", "vault", "-vault-url", "https://vault.example.com:8200",
			"-role-name", "module-tests", "-vault-namespace", "terraform-tests", "-auth-path", "jwt", "-audience", "vault.workload.identity"},
		"testconfig_disable_request.json": {"-disable"},
	}
	for want, flags := range tests {
		patched := fakeHCP(t)
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"-module", "private/my-org/vpc/aws"}, flags...), &out); err != nil {
			t.Errorf("%s: %v", want, err)
			continue
		}
		if len(*patched) != 1 || !reflect.DeepEqual((*patched)[0], jsonValue(t, testdata(t, want))) {
			t.Errorf("%s: sent %v", want, *patched)
		}
		if got := out.String(); got != "private/my-org/vpc/aws: OIDC enabled (aws), updated 2025-01-15T10:30:00Z\n" {
			t.Errorf("%s: output %q", want, got)
		}
		if strings.Contains(out.String(), "arn:") || strings.Contains(out.String(), "1111") {
			t.Errorf("%s: the configuration was printed", want)
		}
	}
}

func TestShowAndTokenTTL(t *testing.T) {
	patched := fakeHCP(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-module", "private/my-org/vpc/aws", "-token-ttl", "15m"}, &out); err != nil {
		t.Fatal(err)
	}
	if len(*patched) != 1 || !reflect.DeepEqual((*patched)[0], jsonValue(t, testdata(t, "organization_ttl_request.json"))) {
		t.Errorf("sent %v", *patched)
	}
	if !strings.HasSuffix(out.String(), "my-org: module test tokens live 15m0s\n") {
		t.Errorf("output %q", out.String())
	}
}

func TestUsageAndValidation(t *testing.T) {
	fakeHCP(t)
	for _, args := range [][]string{
		nil,
		{"-module", "my-org/vpc/aws"},
		{"-module", "private/my-org/vpc/aws", "-provider", "oracle"},
		{"-module", "private/my-org/vpc/aws", "-provider", "aws", "-disable"},
		{"-module", "private/my-org/vpc/aws", "-role-arn", "arn:aws:iam::123456789012:role/t"},
		{"-module", "private/my-org/vpc/aws", "-disable", "-audience", "aud"},
		{"-module", "private/my-org/vpc/aws", "-provider", "aws", "-role-arn", "arn", "-tenant-id", "t"},
	} {
		if err := run(context.Background(), args, new(bytes.Buffer)); !errors.As(err, new(usageError)) {
			t.Errorf("%q: error = %v, want a usage error", args, err)
		}
	}
	err := run(context.Background(), []string{"-module", "private/my-org/vpc/aws", "-provider", "azure", "-tenant-id", "t"}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "azure client-id") {
		t.Errorf("missing client ID: %v", err)
	}
	err = run(context.Background(), []string{"-module", "private/my-org/vpc/aws", "-token-ttl", "1m"}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "module test token TTL") {
		t.Errorf("short TTL: %v", err)
	}
}
