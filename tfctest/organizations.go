package tfctest

import (
	"net/http"
	"time"

	"github.com/tfkit/tfc"
)

// Organization is an organization of the fake, as AddOrganization returns it.
type Organization struct {
	// Name is the organization's name, which is also its ID on the wire.
	Name string
	// ExternalID is its "org-…" ID, the ID of its entitlement set.
	ExternalID string
	// DefaultProjectID is the "prj-…" ID of its one project, which holds every
	// workspace; task configurations target it.
	DefaultProjectID string
}

// Workspace is a workspace of the fake, as AddWorkspace returns it.
type Workspace struct {
	// ID is the workspace's "ws-…" ID, what run tasks are attached to.
	ID           string
	Name         string
	Organization string
	// ProjectID is the organization's default project.
	ProjectID string
}

type organization struct {
	name, externalID, email string
	projectID               string // the default project
	moduleTestTokenTTL      int    // seconds
	createdAt               time.Time
	tasks                   []*runTask    // in creation order
	workspaces              []*workspace  // in creation order
	taskConfigs             []*taskConfig // in creation order
}

type workspace struct {
	id, name  string
	org       *organization
	createdAt time.Time
	tasks     []*workspaceTask // attachments, in creation order
	runs      []*run           // started with StartRun, oldest first
}

// defaultModuleTestTokenTTL is the service's default module-test-token-ttl, in seconds.
const defaultModuleTestTokenTTL = 600

// AddOrganization adds an organization called name, or returns the one of that name.
// It is then served at GET /api/v2/organizations/:name, with its entitlement set.
func (s *Server) AddOrganization(name string) Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.organizationLocked(name)
	return Organization{Name: o.name, ExternalID: o.externalID, DefaultProjectID: o.projectID}
}

func (s *Server) organizationLocked(name string) *organization {
	if o, ok := s.orgs[name]; ok {
		return o
	}
	o := &organization{name: name, externalID: newID("org-"), email: "admin@" + name + ".example", projectID: newID("prj-"),
		moduleTestTokenTTL: defaultModuleTestTokenTTL, createdAt: time.Now()}
	s.orgs[name] = o
	return o
}

// AddWorkspace adds a workspace called name to organization org (adding the
// organization too if needed), in the organization's default project, or returns the
// workspace of that name. Run tasks attach to it by its ID, and StartRun starts runs on
// it. It is served by ID and by name, with the documented attributes: remote execution,
// auto-apply (runs apply by themselves unless started WithManualApply), unlocked.
func (s *Server) AddWorkspace(org, name string) Workspace {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.organizationLocked(org)
	for _, ws := range o.workspaces {
		if ws.name == name {
			return ws.public()
		}
	}
	ws := &workspace{id: newID("ws-"), name: name, org: o, createdAt: time.Now()}
	o.workspaces = append(o.workspaces, ws)
	s.workspaces[ws.id] = ws
	return ws.public()
}

func (ws *workspace) public() Workspace {
	return Workspace{ID: ws.id, Name: ws.name, Organization: ws.org.name, ProjectID: ws.org.projectID}
}

// orgFromPath finds the organization named in the request path, or answers 404.
func (s *Server) orgFromPath(r *http.Request) (*organization, error) {
	return lookup(s.orgs, r.PathValue("org"), "organization")
}

type organizationAttrs struct {
	Name               string `json:"name"`
	ExternalID         string `json:"external-id"`
	Email              string `json:"email"`
	ModuleTestTokenTTL int    `json:"module-test-token-ttl"`
	CreatedAt          string `json:"created-at"`
}

func (o *organization) resource() resource {
	return resource{
		ID: o.name, Type: "organizations",
		Attributes: organizationAttrs{Name: o.name, ExternalID: o.externalID, Email: o.email,
			ModuleTestTokenTTL: o.moduleTestTokenTTL, CreatedAt: stamp(o.createdAt)},
		Relationships: map[string]relationship{"entitlement-set": toOne("entitlement-sets", o.externalID)},
		Links:         map[string]string{"self": "/api/v2/organizations/" + o.name},
	}
}

// getOrganization answers GET /organizations/:org.
func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) error {
	return show(s, w, s.orgs, r.PathValue("org"), "organization", (*organization).resource, nil)
}

// updateOrganization answers PATCH /organizations/:org. It changes email and
// module-test-token-ttl, the latter whole seconds from 300 to 1800 (else the
// documented 422).
func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request) error {
	in, err := readResource(r)
	if err != nil {
		return err
	}
	if err := in.checkType("organizations"); err != nil {
		return err
	}
	var ttl float64
	hasTTL, err := in.Attributes.get("module-test-token-ttl", &ttl)
	if err != nil || (hasTTL && (ttl != float64(int(ttl)) || ttl < 300 || ttl > 1800)) {
		return invalidAttribute("/data/attributes/module-test-token-ttl", "Module test token TTL must be between 300 and 1800 seconds")
	}
	var email string
	hasEmail, err := in.Attributes.get("email", &email)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	if hasTTL {
		o.moduleTestTokenTTL = int(ttl)
	}
	if hasEmail {
		o.email = email
	}
	writeJSON(w, http.StatusOK, document{Data: o.resource()})
	return nil
}

// getEntitlementSet answers GET /organizations/:org/entitlement-set with the documented
// attributes, every feature tfc and tfctest cover entitled.
func (s *Server) getEntitlementSet(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	attrs := map[string]any{
		"agents": true, "audit-logging": true, "configuration-designer": true, "cost-estimation": true,
		"global-run-tasks": true, "module-tests-generation": true, "operations": true, "policy-enforcement": true,
		"policy-limit": nil, "policy-mandatory-enforcement-limit": nil, "policy-set-limit": nil,
		"private-module-registry": true, "private-policy-agents": true, "private-run-tasks": true,
		"private-vcs": true, "run-task-limit": nil, "run-task-mandatory-enforcement-limit": nil,
		"run-task-workspace-limit": nil, "run-tasks": true, "self-serve-billing": true, "sentinel": true,
		"sso": true, "state-storage": true, "teams": true, "usage-reporting": true, "user-limit": nil,
		"vcs-integrations": true, "versioned-policy-set-limit": nil,
	}
	writeJSON(w, http.StatusOK, document{Data: resource{ID: o.externalID, Type: "entitlement-sets", Attributes: attrs,
		Links: map[string]string{"self": "/api/v2/entitlement-sets/" + o.externalID}}})
	return nil
}

// workspaceAttrs are the attributes of the documented workspace sample; the fake's
// workspaces run remotely, apply by themselves and are never locked.
type workspaceAttrs struct {
	Actions struct {
		IsDestroyable bool `json:"is-destroyable"`
	} `json:"actions"`
	AllowDestroyPlan            bool                           `json:"allow-destroy-plan"`
	AssessmentsEnabled          bool                           `json:"assessments-enabled"`
	AutoApply                   bool                           `json:"auto-apply"`
	AutoApplyRunTrigger         bool                           `json:"auto-apply-run-trigger"`
	AutoDestroyAt               *string                        `json:"auto-destroy-at"`
	AutoDestroyStatus           *string                        `json:"auto-destroy-status"`
	AutoDestroyActivityDuration *string                        `json:"auto-destroy-activity-duration"`
	InheritsProjectAutoDestroy  *bool                          `json:"inherits-project-auto-destroy"`
	CreatedAt                   string                         `json:"created-at"`
	Description                 *string                        `json:"description"`
	Environment                 string                         `json:"environment"`
	ExecutionMode               string                         `json:"execution-mode"`
	FileTriggersEnabled         bool                           `json:"file-triggers-enabled"`
	GlobalRemoteState           bool                           `json:"global-remote-state"`
	LatestChangeAt              string                         `json:"latest-change-at"`
	LastAssessmentResultAt      *string                        `json:"last-assessment-result-at"`
	Locked                      bool                           `json:"locked"`
	LockedReason                *string                        `json:"locked-reason"`
	Name                        string                         `json:"name"`
	OAuthClientName             *string                        `json:"oauth-client-name"`
	Operations                  bool                           `json:"operations"`
	Permissions                 tfc.WorkspacePermissions       `json:"permissions"`
	ApplyDurationAverage        *int64                         `json:"apply-duration-average"`
	PlanDurationAverage         *int64                         `json:"plan-duration-average"`
	PolicyCheckFailures         *int                           `json:"policy-check-failures"`
	QueueAllRuns                bool                           `json:"queue-all-runs"`
	ResourceCount               int                            `json:"resource-count"`
	RunFailures                 *int                           `json:"run-failures"`
	Source                      string                         `json:"source"`
	SourceName                  *string                        `json:"source-name"`
	SourceURL                   *string                        `json:"source-url"`
	SpeculativeEnabled          bool                           `json:"speculative-enabled"`
	StructuredRunOutputEnabled  bool                           `json:"structured-run-output-enabled"`
	TagNames                    []string                       `json:"tag-names"`
	TerraformVersion            string                         `json:"terraform-version"`
	TriggerPrefixes             []string                       `json:"trigger-prefixes"`
	UpdatedAt                   string                         `json:"updated-at"`
	ChangeRequestsCount         int                            `json:"unarchived_workspace_change_requests_count"`
	VCSRepo                     *tfc.WorkspaceVCSRepo          `json:"vcs-repo"`
	VCSRepoIdentifier           *string                        `json:"vcs-repo-identifier"`
	WorkingDirectory            *string                        `json:"working-directory"`
	RunsCount                   int                            `json:"workspace-kpis-runs-count"`
	SettingOverwrites           tfc.WorkspaceSettingOverwrites `json:"setting-overwrites"`
}

// workspaceTerraformVersion is the Terraform version of every workspace of the fake.
const workspaceTerraformVersion = "1.9.4"

func (ws *workspace) resource() resource {
	a := workspaceAttrs{
		AllowDestroyPlan: true, AutoApply: true, CreatedAt: stamp(ws.createdAt), Environment: "default",
		ExecutionMode: "remote", FileTriggersEnabled: true, LatestChangeAt: stamp(ws.createdAt), Name: ws.name,
		Operations: true, Source: "tfe-api", SpeculativeEnabled: true, StructuredRunOutputEnabled: true,
		TagNames: []string{}, TerraformVersion: workspaceTerraformVersion, TriggerPrefixes: []string{},
		UpdatedAt: stamp(ws.createdAt), RunsCount: len(ws.runs),
	}
	a.Actions.IsDestroyable = true
	p := &a.Permissions
	*p = tfc.WorkspacePermissions{CanUpdate: true, CanDestroy: true, CanQueueRun: true, CanReadRun: true, CanReadVariable: true,
		CanUpdateVariable: true, CanReadStateVersions: true, CanReadStateOutputs: true, CanCreateStateVersions: true,
		CanQueueApply: true, CanLock: true, CanUnlock: true, CanForceUnlock: true, CanReadSettings: true, CanManageTags: true,
		CanManageRunTasks: true, CanForceDelete: true, CanManageAssessments: true, CanReadAssessmentResults: true, CanQueueDestroy: true}
	var current *run
	if n := len(ws.runs); n > 0 {
		current = ws.runs[n-1]
		a.LatestChangeAt = stamp(current.createdAt)
	}
	runRel, cvRel := toOne("runs", ""), toOne("configuration-versions", "")
	if current != nil {
		runRel = toOne("runs", current.id).withRelated("/api/v2/runs/" + current.id)
		cvRel = toOne("configuration-versions", current.configID).withRelated("/api/v2/configuration-versions/" + current.configID)
	}
	self := "/api/v2/workspaces/" + ws.id
	return resource{
		ID: ws.id, Type: "workspaces", Attributes: a,
		Relationships: map[string]relationship{
			"organization":                  toOne("organizations", ws.org.name),
			"project":                       toOne("projects", ws.org.projectID),
			"agent-pool":                    toOne("agent-pools", ""),
			"current-run":                   runRel,
			"latest-run":                    runRel,
			"current-configuration-version": cvRel,
			"current-state-version":         toOne("state-versions", "").withRelated(self + "/current-state-version"),
			"current-assessment-result":     toOne("assessment-results", ""),
			"locked-by":                     toOne("users", ""),
			"ssh-key":                       toOne("ssh-keys", ""),
			"readme":                        toOne("workspace-readme", ""),
			"outputs":                       toMany("workspace-outputs", nil).withRelated(self + "/current-state-version-outputs"),
			"vars":                          toMany("vars", nil),
			"tag-bindings":                  toMany("tag-bindings", nil).withRelated(self + "/tag-bindings"),
			"effective-tag-bindings":        toMany("effective-tag-bindings", nil).withRelated(self + "/effective-tag-bindings"),
			"remote-state-consumers":        toMany("workspaces", nil).withRelated(self + "/relationships/remote-state-consumers"),
		},
		Links: map[string]string{
			"self":      "/api/v2/organizations/" + ws.org.name + "/workspaces/" + ws.name,
			"self-html": "/app/" + ws.org.name + "/workspaces/" + ws.name,
		},
	}
}

// workspaceIncludes are the documented include values of the workspace endpoints. The
// fake includes the current run (for current_run and current_run.plan); it has none of
// the other resources, so it accepts them and includes nothing. Others get 400.
var workspaceIncludes = []string{"current_run", "current_run.plan", "current_configuration_version",
	"current_configuration_version.ingress_attributes", "locked_by", "organization", "outputs", "project", "readme"}

// includeForWorkspace returns what a workspace request included.
func includeForWorkspace(ws *workspace, inc map[string]bool) []resource {
	if (inc["current_run"] || inc["current_run.plan"]) && len(ws.runs) > 0 {
		return []resource{ws.runs[len(ws.runs)-1].resource()}
	}
	return nil
}

// getWorkspace answers GET /workspaces/:id, with include=current_run.
func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	inc, err := parseInclude(r, workspaceIncludes...)
	if err != nil {
		return err
	}
	return show(s, w, s.workspaces, r.PathValue("id"), "workspace", (*workspace).resource, func(ws *workspace) []resource {
		return includeForWorkspace(ws, inc)
	})
}

// getWorkspaceByName answers GET /organizations/:org/workspaces/:name, with
// include=current_run.
func (s *Server) getWorkspaceByName(w http.ResponseWriter, r *http.Request) error {
	inc, err := parseInclude(r, workspaceIncludes...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	for _, ws := range o.workspaces {
		if ws.name == r.PathValue("name") {
			writeJSON(w, http.StatusOK, document{Data: ws.resource(), Included: includeForWorkspace(ws, inc)})
			return nil
		}
	}
	return notFound("workspace not found")
}

// listWorkspaces answers GET /organizations/:org/workspaces, paginated.
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	return writeList(w, r, s.URL, o.workspaces, (*workspace).resource, nil)
}

// writeList writes one page of items as a list document, with the included resources
// include returns for the page (nil for none).
func writeList[T any](w http.ResponseWriter, r *http.Request, base string, items []T, render func(T) resource, include func([]T) []resource) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	items, pg := paginate(items, p)
	data := make([]resource, len(items))
	for i, it := range items {
		data[i] = render(it)
	}
	doc := document{Data: data, Meta: &listMeta{Pagination: pg}, Links: pageLinks(base, r, pg)}
	if include != nil {
		doc.Included = include(items)
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}
