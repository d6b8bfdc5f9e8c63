package tfctest

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/tfkit/tfc"
)

// RegistryModule is a private registry module of the fake, as AddRegistryModule
// returns it.
type RegistryModule struct {
	// ID is the module's "mod-…" ID, the registry-module relationship of its test
	// configuration.
	ID string
	// Address names the module in test configuration paths.
	Address tfc.RegistryModuleAddress
}

// TestConfiguration is what the server holds for a module's test configuration,
// including the OIDC configuration it never sends back on the wire.
type TestConfiguration struct {
	OIDCEnabled  bool
	OIDCProvider tfc.OIDCProvider
	// OIDCConfiguration is the oidc-configuration object last sent with OIDC enabled.
	OIDCConfiguration map[string]any
}

type registryModule struct {
	id, configID         string
	address              tfc.RegistryModuleAddress
	config               TestConfiguration
	createdAt, updatedAt time.Time
}

// testConfigurationRoute is the path of a module's test configuration.
const testConfigurationRoute = "/api/v2/registry-modules/{registry}/{namespace}/{name}/{provider}/test-configuration"

// AddRegistryModule adds a private registry module of organization org (adding the
// organization if needed), or returns the one with that name and provider. Its test
// configuration starts with OIDC off and no provider.
func (s *Server) AddRegistryModule(org, name, provider string) RegistryModule {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.organizationLocked(org)
	addr := tfc.RegistryModuleAddress{RegistryName: "private", Namespace: org, Name: name, Provider: provider}
	m, ok := s.modules[addr.String()]
	if !ok {
		now := time.Now()
		m = &registryModule{id: newID("mod-"), configID: newID("modconf-"), address: addr, createdAt: now, updatedAt: now}
		s.modules[addr.String()] = m
	}
	return RegistryModule{ID: m.id, Address: m.address}
}

// TestConfiguration returns what the server holds for a module's test configuration;
// ok is false for an unknown module.
func (s *Server) TestConfiguration(module tfc.RegistryModuleAddress) (tc TestConfiguration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.modules[module.String()]
	if !ok {
		return TestConfiguration{}, false
	}
	tc = m.config
	tc.OIDCConfiguration = maps.Clone(tc.OIDCConfiguration)
	return tc, true
}

// moduleFromPath finds the module of a test configuration path, or answers the
// documented 404.
func (s *Server) moduleFromPath(r *http.Request) (*registryModule, error) {
	addr := tfc.RegistryModuleAddress{RegistryName: r.PathValue("registry"), Namespace: r.PathValue("namespace"),
		Name: r.PathValue("name"), Provider: r.PathValue("provider")}
	m, ok := s.modules[addr.String()]
	if !ok {
		return nil, newError(http.StatusNotFound, "Not Found", "Registry module not found")
	}
	return m, nil
}

type testConfigAttrs struct {
	OIDCEnabled  bool    `json:"oidc-enabled"`
	OIDCProvider *string `json:"oidc-provider"`
	CreatedAt    string  `json:"created-at"`
	UpdatedAt    string  `json:"updated-at"`
}

// resource renders the test configuration, without its OIDC configuration, which the
// service never returns.
func (m *registryModule) resource() resource {
	a := testConfigAttrs{OIDCEnabled: m.config.OIDCEnabled, CreatedAt: stamp(m.createdAt), UpdatedAt: stamp(m.updatedAt)}
	if m.config.OIDCProvider != "" {
		p := string(m.config.OIDCProvider)
		a.OIDCProvider = &p
	}
	addr := m.address
	return resource{
		ID: m.configID, Type: "test-configurations", Attributes: a,
		Relationships: map[string]relationship{"registry-module": toOne("registry-modules", m.id)},
		Links: map[string]string{"self": absURL("/api/v2/registry-modules", addr.RegistryName, addr.Namespace, addr.Name,
			addr.Provider, "test-configuration")},
	}
}

// getTestConfiguration answers GET …/test-configuration.
func (s *Server) getTestConfiguration(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.moduleFromPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, document{Data: m.resource()})
	return nil
}

// requiredOIDCFields are the fields each provider's oidc-configuration must have.
var requiredOIDCFields = map[tfc.OIDCProvider][]string{
	tfc.OIDCProviderAWS:   {"role-arn"},
	tfc.OIDCProviderGCP:   {"service-account-email", "workload-provider-name"},
	tfc.OIDCProviderAzure: {"tenant-id", "client-id", "subscription-id"},
	tfc.OIDCProviderVault: {"url", "role-name"},
}

// updateTestConfiguration answers PATCH …/test-configuration. With oidc-enabled true,
// oidc-provider must be aws, gcp, azure or vault and oidc-configuration must be an
// object with the provider's required fields (the documented 422s; a missing field
// points at it). With oidc-enabled false, the rest may be left out.
func (s *Server) updateTestConfiguration(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	found, err := s.moduleFromPath(r)
	denied := err == nil && s.denied[found.address.String()]
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if denied {
		return newError(http.StatusForbidden, "Forbidden", "You do not have permission to modify this module's test configuration")
	}
	in, err := readResource(r)
	if err != nil {
		return err
	}
	if err := in.checkType("test-configurations"); err != nil {
		return err
	}
	var next TestConfiguration
	if ok, err := in.Attributes.get("oidc-enabled", &next.OIDCEnabled); err != nil {
		return err
	} else if !ok {
		return invalidAttribute("/data/attributes/oidc-enabled", "OIDC enabled must be true or false")
	}
	var provider string
	if _, err := in.Attributes.get("oidc-provider", &provider); err != nil {
		return err
	}
	next.OIDCProvider = tfc.OIDCProvider(provider)
	required, known := requiredOIDCFields[next.OIDCProvider]
	if !known && (next.OIDCEnabled || provider != "") {
		return invalidAttribute("/data/attributes/oidc-provider", "OIDC provider must be one of: aws, gcp, azure, vault")
	}
	if next.OIDCEnabled {
		var raw json.RawMessage
		if ok, err := in.Attributes.get("oidc-configuration", &raw); err != nil || !ok || json.Unmarshal(raw, &next.OIDCConfiguration) != nil {
			return invalidAttribute("/data/attributes/oidc-configuration", "OIDC configuration is required when OIDC is enabled")
		}
		for _, field := range required {
			if v, _ := next.OIDCConfiguration[field].(string); strings.TrimSpace(v) == "" {
				return invalidAttribute("/data/attributes/oidc-configuration/"+field,
					"OIDC configuration for "+provider+" requires "+field)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.moduleFromPath(r)
	if err != nil {
		return err
	}
	if next.OIDCProvider == "" {
		next.OIDCProvider = m.config.OIDCProvider
	}
	if next.OIDCConfiguration == nil {
		next.OIDCConfiguration = m.config.OIDCConfiguration
	}
	m.config = next
	m.updatedAt = time.Now()
	writeJSON(w, http.StatusOK, document{Data: m.resource()})
	return nil
}
