package tfc

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"time"
)

// OrganizationsService reads an organization's entitlement set and manages its module
// test token TTL.
type OrganizationsService service

// EntitlementSet is what an organization's plan lets it use. A missing entitlement
// makes the feature's endpoints answer 404. Limits are nil where the service sends null
// (no limit).
type EntitlementSet struct {
	// ID is the organization's external ID ("org-…").
	ID                               string
	Agents                           bool `json:"agents"`
	AuditLogging                     bool `json:"audit-logging"`
	ConfigurationDesigner            bool `json:"configuration-designer"`
	CostEstimation                   bool `json:"cost-estimation"`
	GlobalRunTasks                   bool `json:"global-run-tasks"`
	Groups                           bool `json:"groups"`
	ModuleDeprecations               bool `json:"module-deprecations"`
	ModuleRevocations                bool `json:"module-revocations"`
	ModuleTestsGeneration            bool `json:"module-tests-generation"`
	Operations                       bool `json:"operations"`
	PolicyEnforcement                bool `json:"policy-enforcement"`
	PolicyLimit                      *int `json:"policy-limit"`
	PolicyMandatoryEnforcementLimit  *int `json:"policy-mandatory-enforcement-limit"`
	PolicySetLimit                   *int `json:"policy-set-limit"`
	PrivateModuleRegistry            bool `json:"private-module-registry"`
	PrivatePolicyAgents              bool `json:"private-policy-agents"`
	PrivateRunTasks                  bool `json:"private-run-tasks"`
	PrivateVCS                       bool `json:"private-vcs"`
	RunTaskLimit                     *int `json:"run-task-limit"`
	RunTaskMandatoryEnforcementLimit *int `json:"run-task-mandatory-enforcement-limit"`
	RunTaskWorkspaceLimit            *int `json:"run-task-workspace-limit"`
	RunTasks                         bool `json:"run-tasks"`
	SelfServeBilling                 bool `json:"self-serve-billing"`
	// Sentinel is deprecated; use PolicyEnforcement.
	Sentinel                bool `json:"sentinel"`
	SSO                     bool `json:"sso"`
	StateStorage            bool `json:"state-storage"`
	Teams                   bool `json:"teams"`
	UsageReporting          bool `json:"usage-reporting"`
	UserLimit               *int `json:"user-limit"`
	VCSIntegrations         bool `json:"vcs-integrations"`
	VersionedPolicySetLimit *int `json:"versioned-policy-set-limit"`
	// Attributes holds every attribute as the service sent it, including entitlements
	// added after this version of tfc.
	Attributes map[string]json.RawMessage `json:"-"`
}

// Has reports whether the boolean entitlement name (as on the wire, for example
// "run-tasks") is granted, including entitlements this version does not model.
func (e *EntitlementSet) Has(name string) bool {
	var granted bool
	return json.Unmarshal(e.Attributes[name], &granted) == nil && granted
}

// ReadEntitlements returns an organization's entitlement set.
//
// GET /organizations/:organization/entitlement-set
func (s *OrganizationsService) ReadEntitlements(ctx context.Context, organization string) (*EntitlementSet, error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	var doc document[resource[json.RawMessage, noRelationships]]
	c := call{method: http.MethodGet, path: apiPath("organizations", organization, "entitlement-set")}
	if err := s.client.do(ctx, c, &doc); err != nil {
		return nil, err
	}
	set := &EntitlementSet{ID: doc.Data.ID}
	if len(doc.Data.Attributes) > 0 {
		if err := decodeEntitlements(doc.Data.Attributes, set); err != nil {
			return nil, fmt.Errorf("tfc: GET %s: decoding the entitlement set: %w", c.path, err)
		}
	}
	return set, nil
}

// decodeEntitlements fills set from the attributes object. A limit the service sends
// blank ("") means no limit, as null does, so blanks are read as null.
func decodeEntitlements(attrs json.RawMessage, set *EntitlementSet) error {
	if err := json.Unmarshal(attrs, &set.Attributes); err != nil {
		return err
	}
	var cleaned map[string]json.RawMessage // a copy with blanks as null, made only if needed
	for k, v := range set.Attributes {
		if string(v) != `""` {
			continue
		}
		if cleaned == nil {
			cleaned = maps.Clone(set.Attributes)
		}
		cleaned[k] = json.RawMessage("null")
	}
	if cleaned != nil {
		var err error
		if attrs, err = json.Marshal(cleaned); err != nil {
			return err
		}
	}
	return json.Unmarshal(attrs, set)
}

// Organization is the part of an organization that tfc manages.
type Organization struct {
	// ID is the organization's ID on the wire (its name on HCP Terraform).
	ID         string
	Name       string
	ExternalID string
	Email      string
	// ModuleTestTokenTTL is how long the OIDC tokens of registry module test runs live
	// (module-test-token-ttl); zero when the service does not report it (its default is
	// 10 minutes).
	ModuleTestTokenTTL time.Duration
	CreatedAt          time.Time
}

// Bounds of the module test token TTL the service accepts.
const (
	MinModuleTestTokenTTL = 300 * time.Second
	MaxModuleTestTokenTTL = 1800 * time.Second
)

// Read returns an organization.
//
// GET /organizations/:organization
func (s *OrganizationsService) Read(ctx context.Context, organization string) (*Organization, error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("organizations", organization)}
	return readOne(ctx, &s.client.pipeline, c, organizationFromWire)
}

// UpdateModuleTestTokenTTL sets how long the OIDC tokens of the organization's registry
// module test runs live: whole seconds from 5 to 30 minutes, checked before the request.
//
// PATCH /organizations/:organization with only the module-test-token-ttl attribute.
func (s *OrganizationsService) UpdateModuleTestTokenTTL(ctx context.Context, organization string, ttl time.Duration) (*Organization, error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if ttl < MinModuleTestTokenTTL || ttl > MaxModuleTestTokenTTL || ttl%time.Second != 0 {
		return nil, invalidArg("module test token TTL", "must be whole seconds from 300 to 1800")
	}
	attrs := organizationWriteAttrs{ModuleTestTokenTTL: int(ttl / time.Second)}
	doc := newResource(typeOrganizations, attrs, noRelationships{})
	c := call{method: http.MethodPatch, path: apiPath("organizations", organization), body: doc}
	return readOne(ctx, &s.client.pipeline, c, organizationFromWire)
}

const typeOrganizations = "organizations"

type organizationAttrs struct {
	Name               string    `json:"name"`
	ExternalID         string    `json:"external-id"`
	Email              string    `json:"email"`
	ModuleTestTokenTTL int       `json:"module-test-token-ttl"`
	CreatedAt          time.Time `json:"created-at"`
}

type organizationWriteAttrs struct {
	ModuleTestTokenTTL int `json:"module-test-token-ttl"`
}

func organizationFromWire(r *resource[organizationAttrs, noRelationships], _ *includes) Organization {
	a := &r.Attributes
	name := a.Name
	if name == "" {
		name = r.ID
	}
	return Organization{
		ID:                 r.ID,
		Name:               name,
		ExternalID:         a.ExternalID,
		Email:              a.Email,
		ModuleTestTokenTTL: time.Duration(a.ModuleTestTokenTTL) * time.Second,
		CreatedAt:          a.CreatedAt,
	}
}
