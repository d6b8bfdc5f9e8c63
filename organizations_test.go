package tfc

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestReadEntitlements(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/hashicorp/entitlement-set", serveFixture(t, http.StatusOK, "entitlement_set_response.json"))
	set, err := api.client.Organizations.ReadEntitlements(context.Background(), "hashicorp")
	if err != nil {
		t.Fatal(err)
	}
	if set.ID != "org-Bzyc2JuegvVLAibn" || !set.Operations || set.RunTasks || !set.PrivateRunTasks || !set.ConfigurationDesigner {
		t.Errorf("set = %+v", set)
	}
	intIs := func(name string, p *int, want int) {
		if p == nil || *p != want {
			t.Errorf("%s = %v, want %d", name, p, want)
		}
	}
	intIs("run-task-limit", set.RunTaskLimit, 1)
	intIs("run-task-workspace-limit", set.RunTaskWorkspaceLimit, 10)
	intIs("run-task-mandatory-enforcement-limit", set.RunTaskMandatoryEnforcementLimit, 1)
	intIs("policy-limit", set.PolicyLimit, 5)
	intIs("policy-set-limit", set.PolicySetLimit, 1)
	intIs("user-limit", set.UserLimit, 5)
	if set.PolicyMandatoryEnforcementLimit != nil || set.VersionedPolicySetLimit != nil {
		t.Error("null limits decoded as values")
	}
	if len(set.Attributes) != 28 || !set.Has("private-module-registry") || set.Has("run-tasks") || set.Has("not-a-feature") {
		t.Errorf("Attributes (%d) or Has wrong", len(set.Attributes))
	}
}

// TestReadEntitlementsBlankLimit: a blank limit means no limit, as null does, and
// does not fail the call; Attributes keeps what was sent.
func TestReadEntitlementsBlankLimit(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/blank/entitlement-set", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaTypeJSONAPI)
		_, _ = w.Write([]byte(`{"data":{"id":"org-blank","type":"entitlement-sets","attributes":{"user-limit":"","run-task-limit":3,"run-tasks":true}}}`))
	})
	set, err := api.client.Organizations.ReadEntitlements(context.Background(), "blank")
	if err != nil {
		t.Fatal(err)
	}
	if set.UserLimit != nil || set.RunTaskLimit == nil || *set.RunTaskLimit != 3 || !set.RunTasks || string(set.Attributes["user-limit"]) != `""` {
		t.Errorf("set = %+v", set)
	}
}

func TestModuleTestTokenTTL(t *testing.T) {
	api := newTestAPI(t)
	api.handle("PATCH /api/v2/organizations/my-org", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, "organization_ttl_request.json"))
		serveFixture(t, http.StatusOK, "organization_ttl_response.json")(w, r)
	})
	api.handle("GET /api/v2/organizations/my-org", serveFixture(t, http.StatusOK, "organization_ttl_response.json"))
	ctx := context.Background()
	org, err := api.client.Organizations.UpdateModuleTestTokenTTL(ctx, "my-org", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if org.Name != "my-org" || org.ModuleTestTokenTTL != 900*time.Second {
		t.Errorf("org = %+v", org)
	}
	org, err = api.client.Organizations.Read(ctx, "my-org")
	if err != nil || org.ModuleTestTokenTTL != 15*time.Minute {
		t.Errorf("Read: %v, %+v", err, org)
	}
	api.handle("PATCH /api/v2/organizations/bounds", serveFixture(t, http.StatusOK, "organization_ttl_response.json"))
	for _, ttl := range []time.Duration{MinModuleTestTokenTTL, MaxModuleTestTokenTTL} {
		if _, err := api.client.Organizations.UpdateModuleTestTokenTTL(ctx, "bounds", ttl); err != nil {
			t.Errorf("bound %v: %v", ttl, err)
		}
	}
}

func TestModuleTestTokenTTLServerError(t *testing.T) {
	api := newTestAPI(t)
	api.handle("PATCH /api/v2/organizations/my-org", serveFixture(t, http.StatusUnprocessableEntity, "testconfig_error_422_ttl.json"))
	_, err := api.client.Organizations.UpdateModuleTestTokenTTL(context.Background(), "my-org", 10*time.Minute)
	var apiErr *APIError
	if !errors.Is(err, ErrUnprocessable) || !errors.As(err, &apiErr) {
		t.Fatalf("error = %v", err)
	}
	if d, ok := apiErr.Detail("/data/attributes/module-test-token-ttl"); !ok || d != "Module test token TTL must be between 300 and 1800 seconds" {
		t.Errorf("detail = %q", d)
	}
}
