package tfc

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TestConfigurationsService manages the test configuration of private registry
// modules: whether their test runs get OIDC dynamic credentials, and from which
// provider. Wire type "test-configurations", IDs "modconf-…". HCP Terraform only.
//
// The service never returns the OIDC configuration it was given (role ARNs, service
// accounts and so on), only whether OIDC is on and for which provider, so there is no
// way to read the configuration back.
type TestConfigurationsService service

// RegistryModuleAddress names a registry module by its four path segments.
type RegistryModuleAddress struct {
	// RegistryName is "private" (or "public" for curated public modules).
	RegistryName string
	// Namespace is the organization name for private modules.
	Namespace string
	Name      string
	// Provider is the module's provider, for example "aws" or "azurerm".
	Provider string
}

// String returns "registry/namespace/name/provider".
func (m RegistryModuleAddress) String() string {
	return m.RegistryName + "/" + m.Namespace + "/" + m.Name + "/" + m.Provider
}

func (m RegistryModuleAddress) testConfigurationPath() (string, error) {
	for _, f := range []struct{ name, value string }{
		{"registry name", m.RegistryName}, {"module namespace", m.Namespace},
		{"module name", m.Name}, {"module provider", m.Provider},
	} {
		if err := requireID(f.name, f.value); err != nil {
			return "", err
		}
	}
	return apiPath("registry-modules", m.RegistryName, m.Namespace, m.Name, m.Provider, "test-configuration"), nil
}

// OIDCProvider is the kind of OIDC dynamic credentials a module's tests get. Values the
// service adds later are kept as they are.
type OIDCProvider string

// OIDC providers the test configuration accepts.
const (
	OIDCProviderAWS   OIDCProvider = "aws"
	OIDCProviderGCP   OIDCProvider = "gcp"
	OIDCProviderAzure OIDCProvider = "azure"
	OIDCProviderVault OIDCProvider = "vault"
)

// TestConfiguration is a registry module's test configuration as the service returns
// it: without the OIDC configuration, which it never sends back.
type TestConfiguration struct {
	ID          string
	OIDCEnabled bool
	// OIDCProvider is empty when OIDC was never configured.
	OIDCProvider OIDCProvider
	// RegistryModuleID is the module's ID ("mod-…").
	RegistryModuleID string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// OIDCConfiguration is the provider-specific configuration EnableOIDC sends:
// *AWSOIDCConfiguration, *GCPOIDCConfiguration, *AzureOIDCConfiguration or
// *VaultOIDCConfiguration. Its values are identifiers, not secrets, but tfc never logs
// them or puts them in errors.
type OIDCConfiguration interface {
	// Provider returns the oidc-provider the configuration is for.
	Provider() OIDCProvider
	// validate checks the required fields, naming the first one missing.
	validate() error
}

// AWSOIDCConfiguration lets module tests assume an IAM role.
type AWSOIDCConfiguration struct {
	// RoleARN is required: the ARN of the IAM role to assume.
	RoleARN string `json:"role-arn"`
	// Audience defaults to "aws.workload.identity" on the service.
	Audience string `json:"audience,omitempty"`
}

// GCPOIDCConfiguration lets module tests impersonate a service account through a
// workload identity provider.
type GCPOIDCConfiguration struct {
	// ServiceAccountEmail is required.
	ServiceAccountEmail string `json:"service-account-email"`
	// WorkloadProviderName is required: the provider's full name,
	// "projects/…/locations/global/workloadIdentityPools/…/providers/…".
	WorkloadProviderName string `json:"workload-provider-name"`
	// Audience defaults to "gcp.workload.identity" on the service.
	Audience string `json:"audience,omitempty"`
}

// AzureOIDCConfiguration lets module tests sign in as an Azure AD application.
type AzureOIDCConfiguration struct {
	// TenantID, ClientID and SubscriptionID are required.
	TenantID       string `json:"tenant-id"`
	ClientID       string `json:"client-id"`
	SubscriptionID string `json:"subscription-id"`
	// Audience defaults to "azure.workload.identity" on the service.
	Audience string `json:"audience,omitempty"`
}

// VaultOIDCConfiguration lets module tests log in to Vault with a JWT auth role.
type VaultOIDCConfiguration struct {
	// URL is required: the Vault address, an http(s) URL.
	URL string `json:"url"`
	// RoleName is required: the JWT auth role.
	RoleName string `json:"role-name"`
	// Namespace is the Vault Enterprise namespace, if any.
	Namespace string `json:"namespace,omitempty"`
	// AuthPath is where the JWT auth method is mounted; left out when empty, and the
	// service defaults it to "jwt".
	AuthPath string `json:"auth-path,omitempty"`
	// Audience defaults to "vault.workload.identity" on the service.
	Audience string `json:"audience,omitempty"`
}

// Provider returns OIDCProviderAWS.
func (c *AWSOIDCConfiguration) Provider() OIDCProvider { return OIDCProviderAWS }

// Provider returns OIDCProviderGCP.
func (c *GCPOIDCConfiguration) Provider() OIDCProvider { return OIDCProviderGCP }

// Provider returns OIDCProviderAzure.
func (c *AzureOIDCConfiguration) Provider() OIDCProvider { return OIDCProviderAzure }

// Provider returns OIDCProviderVault.
func (c *VaultOIDCConfiguration) Provider() OIDCProvider { return OIDCProviderVault }

func (c *AWSOIDCConfiguration) validate() error {
	if c == nil {
		return errNilOIDCConfiguration
	}
	if err := requireField("aws role-arn", c.RoleARN); err != nil {
		return err
	}
	if !strings.HasPrefix(c.RoleARN, "arn:") {
		return invalidArg("aws role-arn", `must be an ARN ("arn:…")`)
	}
	return nil
}

func (c *GCPOIDCConfiguration) validate() error {
	if c == nil {
		return errNilOIDCConfiguration
	}
	if err := requireField("gcp service-account-email", c.ServiceAccountEmail); err != nil {
		return err
	}
	return requireField("gcp workload-provider-name", c.WorkloadProviderName)
}

func (c *AzureOIDCConfiguration) validate() error {
	if c == nil {
		return errNilOIDCConfiguration
	}
	if err := requireField("azure tenant-id", c.TenantID); err != nil {
		return err
	}
	if err := requireField("azure client-id", c.ClientID); err != nil {
		return err
	}
	return requireField("azure subscription-id", c.SubscriptionID)
}

func (c *VaultOIDCConfiguration) validate() error {
	if c == nil {
		return errNilOIDCConfiguration
	}
	if err := requireField("vault url", c.URL); err != nil {
		return err
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidArg("vault url", "must be an absolute http(s) URL")
	}
	return requireField("vault role-name", c.RoleName)
}

var errNilOIDCConfiguration = invalidArg("OIDC configuration", "is required to enable OIDC")

// requireField checks that a required configuration value is not blank; the value
// itself is never repeated in the error.
func requireField(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return invalidArg(name, "is required")
	}
	return nil
}

// Read returns a registry module's test configuration.
//
// GET /registry-modules/:registry_name/:namespace/:name/:provider/test-configuration
func (s *TestConfigurationsService) Read(ctx context.Context, module RegistryModuleAddress) (*TestConfiguration, error) {
	path, err := module.testConfigurationPath()
	if err != nil {
		return nil, err
	}
	return readOne(ctx, &s.client.pipeline, call{method: http.MethodGet, path: path}, testConfigurationFromWire)
}

// EnableOIDC turns on OIDC dynamic credentials for a module's test runs with cfg, whose
// required fields are checked before the request. The service answers 422 (an
// *APIError matching ErrUnprocessable, with the attribute in Detail's pointer) for a
// provider or configuration it rejects, and 404 or 403 for a module that does not
// exist or that the token may not change.
//
// PATCH /registry-modules/:registry_name/:namespace/:name/:provider/test-configuration
// with oidc-enabled true, oidc-provider and oidc-configuration.
func (s *TestConfigurationsService) EnableOIDC(ctx context.Context, module RegistryModuleAddress, cfg OIDCConfiguration) (*TestConfiguration, error) {
	path, err := module.testConfigurationPath()
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNilOIDCConfiguration
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	attrs := testConfigWriteAttrs{OIDCEnabled: true, OIDCProvider: cfg.Provider(), OIDCConfiguration: cfg}
	return s.update(ctx, path, attrs)
}

// DisableOIDC turns off OIDC dynamic credentials for a module's test runs.
//
// PATCH /registry-modules/:registry_name/:namespace/:name/:provider/test-configuration
// with only oidc-enabled false.
func (s *TestConfigurationsService) DisableOIDC(ctx context.Context, module RegistryModuleAddress) (*TestConfiguration, error) {
	path, err := module.testConfigurationPath()
	if err != nil {
		return nil, err
	}
	return s.update(ctx, path, testConfigWriteAttrs{OIDCEnabled: false})
}

func (s *TestConfigurationsService) update(ctx context.Context, path string, attrs testConfigWriteAttrs) (*TestConfiguration, error) {
	c := call{method: http.MethodPatch, path: path, body: newResource(typeTestConfigurations, attrs, noRelationships{})}
	return readOne(ctx, &s.client.pipeline, c, testConfigurationFromWire)
}

// Wire types and conversions for test configurations.

const typeTestConfigurations = "test-configurations"

type testConfigWriteAttrs struct {
	OIDCEnabled       bool              `json:"oidc-enabled"`
	OIDCProvider      OIDCProvider      `json:"oidc-provider,omitempty"`
	OIDCConfiguration OIDCConfiguration `json:"oidc-configuration,omitempty"`
}

type testConfigAttrs struct {
	OIDCEnabled  bool         `json:"oidc-enabled"`
	OIDCProvider OIDCProvider `json:"oidc-provider"`
	CreatedAt    time.Time    `json:"created-at"`
	UpdatedAt    time.Time    `json:"updated-at"`
}

type testConfigRels struct {
	RegistryModule *toOne `json:"registry-module"`
}

func testConfigurationFromWire(r *resource[testConfigAttrs, testConfigRels], _ *includes) TestConfiguration {
	a := &r.Attributes
	return TestConfiguration{
		ID:               r.ID,
		OIDCEnabled:      a.OIDCEnabled,
		OIDCProvider:     a.OIDCProvider,
		RegistryModuleID: r.Relationships.RegistryModule.id(),
		CreatedAt:        a.CreatedAt,
		UpdatedAt:        a.UpdatedAt,
	}
}
