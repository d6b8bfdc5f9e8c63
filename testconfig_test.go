package tfc_test

// Black-box tests of the registry module test configuration, and the runnable examples
// of this issue's features (the Scalr preset reading a policy check, enabling OIDC for a
// module), which must live in the external test package.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tfkit/tfc"
)

const testConfigPath = "/api/v2/registry-modules/private/my-org/vpc/aws/test-configuration"

var vpcModule = tfc.RegistryModuleAddress{RegistryName: "private", Namespace: "my-org", Name: "vpc", Provider: "aws"}

// testConfigServer serves mux and returns a client pointed at it.
func testConfigServer(t *testing.T, mux *http.ServeMux) *tfc.Client {
	t.Helper()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("tc-token"), tfc.WithRetryPolicy(tfc.NoRetries()), tfc.WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// patchHandler checks that the PATCH body is the JSON of the fixture want and answers
// with the documented response.
func patchHandler(t *testing.T, want string) http.HandlerFunc {
	wantBody, response := readTestdata(t, want), readTestdata(t, "testconfig_response.json")
	return func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(r.Body)
		if err != nil || !sameJSON(got, wantBody) {
			t.Errorf("body %s\nwant %s", got, wantBody)
		}
		if r.Header.Get("Authorization") != "Bearer tc-token" || r.Header.Get("Content-Type") != "application/vnd.api+json" {
			t.Errorf("headers %v", r.Header)
		}
		w.Header().Set("Content-Type", "application/vnd.api+json")
		_, _ = w.Write(response)
	}
}

func TestEnableOIDC(t *testing.T) {
	tests := map[string]tfc.OIDCConfiguration{
		"testconfig_patch_aws_request.json": &tfc.AWSOIDCConfiguration{
			RoleARN: "arn:aws:iam::123456789012:role/terraform-module-test-role", Audience: "aws.workload.identity"},
		"testconfig_patch_gcp_request.json": &tfc.GCPOIDCConfiguration{
			ServiceAccountEmail:  "terraform-module-test-sa@my-project.iam.gserviceaccount.com",
			WorkloadProviderName: "projects/123456789/locations/global/workloadIdentityPools/terraform-module-tests/providers/terraform-cloud",
			Audience:             "gcp.workload.identity"},
		"testconfig_patch_azure_request.json": &tfc.AzureOIDCConfiguration{
			TenantID: "00000000-0000-0000-0000-000000000000", ClientID: "11111111-1111-1111-1111-111111111111",
			SubscriptionID: "22222222-2222-2222-2222-222222222222", Audience: "azure.workload.identity"},
		"testconfig_patch_vault_request.json": &tfc.VaultOIDCConfiguration{
			URL: "https://vault.example.com:8200", RoleName: "module-tests", Namespace: "terraform-tests",
			AuthPath: "jwt", Audience: "vault.workload.identity"},
	}
	for want, cfg := range tests {
		mux := http.NewServeMux()
		mux.HandleFunc("PATCH "+testConfigPath, patchHandler(t, want))
		tc, err := testConfigServer(t, mux).TestConfigurations.EnableOIDC(context.Background(), vpcModule, cfg)
		if err != nil {
			t.Errorf("%s: %v", want, err)
			continue
		}
		updated := time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)
		if tc.ID != "modconf-abc123xyz" || !tc.OIDCEnabled || tc.OIDCProvider != tfc.OIDCProviderAWS ||
			tc.RegistryModuleID != "mod-abc123xyz" || !tc.CreatedAt.Equal(updated) || !tc.UpdatedAt.Equal(updated) {
			t.Errorf("%s: result = %+v", want, tc)
		}
	}
}

func TestEnableOIDCOptionalFieldsLeftOut(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH "+testConfigPath, func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		want := `{"data":{"type":"test-configurations","attributes":{"oidc-enabled":true,"oidc-provider":"vault",
			"oidc-configuration":{"url":"https://vault.example.com:8200","role-name":"module-tests"}}}}`
		if !sameJSON(got, []byte(want)) {
			t.Errorf("body %s", got)
		}
		_, _ = w.Write(readTestdata(t, "testconfig_response.json"))
	})
	cfg := &tfc.VaultOIDCConfiguration{URL: "https://vault.example.com:8200", RoleName: "module-tests"}
	if _, err := testConfigServer(t, mux).TestConfigurations.EnableOIDC(context.Background(), vpcModule, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestDisableOIDC(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH "+testConfigPath, patchHandler(t, "testconfig_disable_request.json"))
	if _, err := testConfigServer(t, mux).TestConfigurations.DisableOIDC(context.Background(), vpcModule); err != nil {
		t.Fatal(err)
	}
}

func TestReadTestConfiguration(t *testing.T) {
	mux := http.NewServeMux()
	module := tfc.RegistryModuleAddress{RegistryName: "private", Namespace: "my-org", Name: "vpc?x=1#y", Provider: "aws"}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		// Every segment is escaped: a "?" or "#" in a name cannot start a query or fragment.
		if got := r.URL.EscapedPath(); got != "/api/v2/registry-modules/private/my-org/vpc%3Fx=1%23y/aws/test-configuration" || r.URL.RawQuery != "" {
			t.Errorf("path = %q, query = %q", got, r.URL.RawQuery)
		}
		_, _ = w.Write(readTestdata(t, "testconfig_response.json"))
	})
	tc, err := testConfigServer(t, mux).TestConfigurations.Read(context.Background(), module)
	if err != nil {
		t.Fatal(err)
	}
	if !tc.OIDCEnabled || tc.OIDCProvider != "aws" || tc.RegistryModuleID != "mod-abc123xyz" {
		t.Errorf("result = %+v", tc)
	}
}

// TestTestConfigurationErrors serves every documented error response.
func TestTestConfigurationErrors(t *testing.T) {
	tests := []struct {
		fixture  string
		status   int
		sentinel error
		pointer  string
		detail   string
	}{
		{"testconfig_error_422_provider.json", 422, tfc.ErrUnprocessable, "/data/attributes/oidc-provider", "OIDC provider must be one of: aws, gcp, azure, vault"},
		{"testconfig_error_422_configuration.json", 422, tfc.ErrUnprocessable, "/data/attributes/oidc-configuration", "OIDC configuration is required when OIDC is enabled"},
		{"testconfig_error_404.json", 404, tfc.ErrNotFound, "", "Registry module not found"},
		{"testconfig_error_403.json", 403, tfc.ErrForbidden, "", "You do not have permission to modify this module's test configuration"},
	}
	for _, tt := range tests {
		mux := http.NewServeMux()
		mux.HandleFunc("PATCH "+testConfigPath, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write(readTestdata(t, tt.fixture))
		})
		_, err := testConfigServer(t, mux).TestConfigurations.EnableOIDC(context.Background(), vpcModule,
			&tfc.AWSOIDCConfiguration{RoleARN: "arn:aws:iam::123456789012:role/r"})
		var apiErr *tfc.APIError
		if !errors.Is(err, tt.sentinel) || !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || len(apiErr.Errors) != 1 {
			t.Errorf("%s: error = %v", tt.fixture, err)
			continue
		}
		if tt.pointer != "" {
			if d, ok := apiErr.Detail(tt.pointer); !ok || d != tt.detail {
				t.Errorf("%s: Detail(%q) = %q, %v", tt.fixture, tt.pointer, d, ok)
			}
		} else if o := apiErr.Errors[0]; o.Detail != tt.detail || o.Source != nil {
			t.Errorf("%s: error object = %+v", tt.fixture, o)
		}
	}
}

// refuseTransport fails the test on any request.
type refuseTransport struct{ t *testing.T }

func (rt refuseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
	return nil, errors.New("no requests expected")
}

func TestTestConfigurationArgumentsCheckedOffline(t *testing.T) {
	c, err := tfc.NewClient(tfc.WithToken("tc-token"), tfc.WithHTTPClient(&http.Client{Transport: refuseTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	tcs, ctx := c.TestConfigurations, context.Background()
	var nilAWS *tfc.AWSOIDCConfiguration
	configs := []struct {
		field string // the argument the error must name
		cfg   tfc.OIDCConfiguration
	}{
		{"OIDC configuration", nil},
		{"OIDC configuration", nilAWS},
		{"aws role-arn", &tfc.AWSOIDCConfiguration{Audience: "a"}},
		{"aws role-arn", &tfc.AWSOIDCConfiguration{RoleARN: "terraform-module-test-role"}},
		{"gcp service-account-email", &tfc.GCPOIDCConfiguration{WorkloadProviderName: "projects/1/x"}},
		{"gcp workload-provider-name", &tfc.GCPOIDCConfiguration{ServiceAccountEmail: "sa@p.iam.gserviceaccount.com", WorkloadProviderName: " "}},
		{"azure tenant-id", &tfc.AzureOIDCConfiguration{ClientID: "c", SubscriptionID: "s"}},
		{"azure client-id", &tfc.AzureOIDCConfiguration{TenantID: "t", SubscriptionID: "s"}},
		{"azure subscription-id", &tfc.AzureOIDCConfiguration{TenantID: "t", ClientID: "c"}},
		{"vault url", &tfc.VaultOIDCConfiguration{RoleName: "r"}},
		{"vault url", &tfc.VaultOIDCConfiguration{URL: "vault.example.com:8200", RoleName: "r"}},
		{"vault role-name", &tfc.VaultOIDCConfiguration{URL: "https://vault.example.com"}},
	}
	for _, tt := range configs {
		_, err := tcs.EnableOIDC(ctx, vpcModule, tt.cfg)
		var argErr *tfc.ArgumentError
		if !errors.Is(err, tfc.ErrInvalidArgument) || !errors.As(err, &argErr) || argErr.Name != tt.field {
			t.Errorf("%s (%#v): error = %v", tt.field, tt.cfg, err)
		}
	}
	for _, m := range []tfc.RegistryModuleAddress{
		{Namespace: "my-org", Name: "vpc", Provider: "aws"},
		{RegistryName: "private", Name: "vpc", Provider: "aws"},
		{RegistryName: "private", Namespace: "my-org", Provider: "aws"},
		{RegistryName: "private", Namespace: "my-org", Name: "vpc"},
		{RegistryName: "private", Namespace: "my-org/../x", Name: "vpc", Provider: "aws"},
	} {
		_, err1 := tcs.Read(ctx, m)
		_, err2 := tcs.DisableOIDC(ctx, m)
		_, err3 := tcs.EnableOIDC(ctx, m, &tfc.AWSOIDCConfiguration{RoleARN: "arn:aws:iam::1:role/r"})
		for _, err := range []error{err1, err2, err3} {
			if !errors.Is(err, tfc.ErrInvalidArgument) {
				t.Errorf("module %v: error = %v", m, err)
			}
		}
	}
}

// ExampleWithScalr reads a policy check from a Scalr account. The stand-in server takes
// the place of https://my.scalr.io; a real program passes only WithScalr and a token.
func ExampleWithScalr() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/iacp/v3/policy-checks/pchk-t61g5rsa61i18c8" || r.Header.Get("Prefer") != "profile=preview" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"data":{"id":"pchk-t61g5rsa61i18c8","type":"policy-checks","attributes":{
			"status":"passed","result":{"result":false,"passed":2,"total-failed":1,"advisory-failed":1,"duration-ms":74,
			"policies":[{"name":"cost-check","result":"advisory_failed","messages":["Plan is too expensive: $733.35, while up to $500 is allowed"]},
				{"name":"instance_types","result":"passed","messages":[]}]}}}}`)
	}))
	defer srv.Close()

	client, err := tfc.NewClient(
		tfc.WithScalr("my"),
		tfc.WithScalrPreview(),
		tfc.WithToken("a-scalr-token"),
		tfc.WithAddress(srv.URL), // only for this example: the stand-in instead of my.scalr.io
	)
	if err != nil {
		log.Fatal(err)
	}
	check, err := client.PolicyChecks.Read(context.Background(), "pchk-t61g5rsa61i18c8", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(check.ID, check.Status, "final:", check.Status.IsFinal(), "took", check.Result.Duration)
	for _, p := range check.Result.Policies {
		fmt.Println(" ", p.Name, p.Result, p.Messages)
	}
	// Output:
	// pchk-t61g5rsa61i18c8 passed final: true took 74ms
	//   cost-check advisory_failed [Plan is too expensive: $733.35, while up to $500 is allowed]
	//   instance_types passed []
}

// ExampleTestConfigurationsService_EnableOIDC gives the tests of a private module AWS
// credentials through OIDC.
func ExampleTestConfigurationsService_EnableOIDC() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":{"id":"modconf-abc123xyz","type":"test-configurations",
			"attributes":{"oidc-enabled":true,"oidc-provider":"aws"},
			"relationships":{"registry-module":{"data":{"id":"mod-abc123xyz","type":"registry-modules"}}}}}`)
	}))
	defer srv.Close()
	client, err := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("an-api-token"))
	if err != nil {
		log.Fatal(err)
	}

	module := tfc.RegistryModuleAddress{RegistryName: "private", Namespace: "my-org", Name: "vpc", Provider: "aws"}
	tc, err := client.TestConfigurations.EnableOIDC(context.Background(), module, &tfc.AWSOIDCConfiguration{
		RoleARN: "arn:aws:iam::123456789012:role/terraform-module-test-role",
	})
	if err != nil {
		log.Fatal(err)
	}
	// The service never returns the configuration, only whether OIDC is on and for what.
	fmt.Println(module, "OIDC enabled:", tc.OIDCEnabled, "provider:", tc.OIDCProvider, "module ID:", tc.RegistryModuleID)
	// Output: private/my-org/vpc/aws OIDC enabled: true provider: aws module ID: mod-abc123xyz
}
