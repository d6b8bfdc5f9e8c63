package tfc

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// WorkspacesService reads workspaces: what a run task, a policy gate or an internal
// tool needs to turn "organization/name" into a workspace ID and to see a workspace's
// settings and health. Wire type "workspaces", IDs "ws-…".
type WorkspacesService service

// Workspace is a workspace as the service shows it.
type Workspace struct {
	ID          string
	Name        string
	Description string
	// Organization is the name of the owning organization.
	Organization string
	// ProjectID is the project the workspace belongs to.
	ProjectID string
	// ExecutionMode is "remote", "local" or "agent"; AgentPoolID is set with "agent".
	ExecutionMode string
	AgentPoolID   string
	// CurrentRunID is the workspace's current run, "" when it has none; CurrentRun is
	// that run when the response included it (WorkspaceIncludeCurrentRun), else nil.
	CurrentRunID string
	CurrentRun   *Run
	// CurrentStateVersionID and CurrentConfigurationVersionID are the workspace's
	// current state and configuration, "" when it has none.
	CurrentStateVersionID         string
	CurrentConfigurationVersionID string
	// Environment is "default" unless the service says otherwise.
	Environment string

	AutoApply                  bool
	AutoApplyRunTrigger        bool
	AllowDestroyPlan           bool
	AssessmentsEnabled         bool
	FileTriggersEnabled        bool
	GlobalRemoteState          bool
	QueueAllRuns               bool
	SpeculativeEnabled         bool
	StructuredRunOutputEnabled bool
	// Operations is the deprecated form of ExecutionMode ("local" is false).
	Operations bool

	Locked       bool
	LockedReason string
	// LockedByID is who holds the lock (relationships.locked-by), and LockedByType
	// what it is: "users", "runs" or "teams"; both "" when the workspace is unlocked or
	// the service does not say.
	LockedByID   string
	LockedByType string

	TerraformVersion string
	WorkingDirectory string
	TriggerPrefixes  []string
	TriggerPatterns  []string
	TagNames         []string
	// VCSRepo is nil for a workspace without a repository; VCSRepoIdentifier is its
	// "org/repo".
	VCSRepo           *WorkspaceVCSRepo
	VCSRepoIdentifier string

	// Source says what created the workspace ("tfe-api", "tfe-ui", …), with the
	// creating application's SourceName and SourceURL when it gave them.
	Source     string
	SourceName string
	SourceURL  string

	// ResourceCount is the number of resources in the current state.
	ResourceCount int
	// The performance figures of the last 30 runs that errored or applied.
	ApplyDurationAverage time.Duration
	PlanDurationAverage  time.Duration
	PolicyCheckFailures  int
	RunFailures          int
	// RunsCount is the number of runs the figures above are taken from
	// (workspace-kpis-runs-count).
	RunsCount int

	// AutoDestroyAt is the next scheduled destroy run, zero when none;
	// AutoDestroyActivityDuration the inactivity ("14d") after which one is queued;
	// AutoDestroyStatus the state of the last one ("" when none); and
	// InheritsProjectAutoDestroy whether the project's setting applies.
	AutoDestroyAt               time.Time
	AutoDestroyActivityDuration string
	AutoDestroyStatus           string
	InheritsProjectAutoDestroy  bool

	// HYOKEnabled reports whether the workspace's artifacts are secured with hold your
	// own key encryption (HCP Terraform only).
	HYOKEnabled bool
	// OAuthClientName names the VCS connection of the workspace's repository.
	OAuthClientName string

	Permissions       WorkspacePermissions
	SettingOverwrites WorkspaceSettingOverwrites
	// IsDestroyable is actions.is-destroyable.
	IsDestroyable bool

	CreatedAt              time.Time
	UpdatedAt              time.Time
	LatestChangeAt         time.Time
	LastAssessmentResultAt time.Time
}

// WorkspaceVCSRepo is a workspace's repository settings.
type WorkspaceVCSRepo struct {
	Identifier        string `json:"identifier"`
	DisplayIdentifier string `json:"display-identifier"`
	Branch            string `json:"branch"`
	IngressSubmodules bool   `json:"ingress-submodules"`
	OAuthTokenID      string `json:"oauth-token-id"`
	TagsRegex         string `json:"tags-regex"`
	RepositoryHTTPURL string `json:"repository-http-url"`
	ServiceProvider   string `json:"service-provider"`
	WebhookURL        string `json:"webhook-url"`
}

// WorkspacePermissions are what the token may do with a workspace.
type WorkspacePermissions struct {
	CanUpdate                    bool `json:"can-update"`
	CanDestroy                   bool `json:"can-destroy"`
	CanQueueRun                  bool `json:"can-queue-run"`
	CanReadRun                   bool `json:"can-read-run"`
	CanReadVariable              bool `json:"can-read-variable"`
	CanUpdateVariable            bool `json:"can-update-variable"`
	CanReadStateVersions         bool `json:"can-read-state-versions"`
	CanReadStateOutputs          bool `json:"can-read-state-outputs"`
	CanCreateStateVersions       bool `json:"can-create-state-versions"`
	CanQueueApply                bool `json:"can-queue-apply"`
	CanLock                      bool `json:"can-lock"`
	CanUnlock                    bool `json:"can-unlock"`
	CanForceUnlock               bool `json:"can-force-unlock"`
	CanReadSettings              bool `json:"can-read-settings"`
	CanManageTags                bool `json:"can-manage-tags"`
	CanManageRunTasks            bool `json:"can-manage-run-tasks"`
	CanForceDelete               bool `json:"can-force-delete"`
	CanManageAssessments         bool `json:"can-manage-assessments"`
	CanManageEphemeralWorkspaces bool `json:"can-manage-ephemeral-workspaces"`
	CanReadAssessmentResults     bool `json:"can-read-assessment-results"`
	CanQueueDestroy              bool `json:"can-queue-destroy"`
}

// WorkspaceSettingOverwrites says which settings the workspace sets itself rather than
// inheriting from its project.
type WorkspaceSettingOverwrites struct {
	ExecutionMode bool `json:"execution-mode"`
	AgentPool     bool `json:"agent-pool"`
}

// WorkspaceInclude names a related resource to include with a workspace.
type WorkspaceInclude string

// WorkspaceIncludeCurrentRun includes the workspace's current run (Workspace.CurrentRun),
// one of the documented includes; tfc has no types for the others (organization,
// project, locked_by, outputs, readme, …), which Do reaches.
const WorkspaceIncludeCurrentRun WorkspaceInclude = "current_run"

// WorkspaceReadOptions are the options of ReadWithOptions and ReadByIDWithOptions.
type WorkspaceReadOptions struct {
	Include []WorkspaceInclude `url:"include,comma,omitempty"`
}

// Read returns the workspace called name in organization.
//
// GET /organizations/:organization_name/workspaces/:name. A name with characters other
// than letters, digits, "-" and "_" is refused before the request. 404 (ErrNotFound):
// no such workspace, or not visible to the token.
func (s *WorkspacesService) Read(ctx context.Context, organization, name string) (*Workspace, error) {
	return s.ReadWithOptions(ctx, organization, name, nil)
}

// ReadWithOptions is Read with related resources included: with
// WorkspaceIncludeCurrentRun, the workspace and its current run in one request.
//
// GET /organizations/:organization_name/workspaces/:name?include=…
func (s *WorkspacesService) ReadWithOptions(ctx context.Context, organization, name string, opts *WorkspaceReadOptions) (*Workspace, error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if err := requireID("workspace name", name); err != nil {
		return nil, err
	}
	if !isResourceName(name) {
		return nil, invalidArg("workspace name", "may only contain letters, digits, '-' and '_'")
	}
	c := call{method: http.MethodGet, path: apiPath("organizations", organization, "workspaces", name)}
	if opts != nil {
		c.query = opts
	}
	return readOne(ctx, &s.client.pipeline, c, workspaceFromWire)
}

// ReadByID returns the workspace with the given ID.
//
// GET /workspaces/:workspace_id. 404 (ErrNotFound): no such workspace, or not visible
// to the token.
func (s *WorkspacesService) ReadByID(ctx context.Context, workspaceID string) (*Workspace, error) {
	return s.ReadByIDWithOptions(ctx, workspaceID, nil)
}

// ReadByIDWithOptions is ReadByID with related resources included (see
// ReadWithOptions).
//
// GET /workspaces/:workspace_id?include=…
func (s *WorkspacesService) ReadByIDWithOptions(ctx context.Context, workspaceID string, opts *WorkspaceReadOptions) (*Workspace, error) {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("workspaces", workspaceID)}
	if opts != nil {
		c.query = opts
	}
	return readOne(ctx, &s.client.pipeline, c, workspaceFromWire)
}

// isResourceName reports whether name is made of letters, digits, "-" and "_", as
// run task and workspace names are.
func isResourceName(name string) bool {
	return name != "" && !strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
}

// Wire types and conversions for workspaces.

type workspaceAttrs struct {
	Name                        string                     `json:"name"`
	Description                 string                     `json:"description"`
	ExecutionMode               string                     `json:"execution-mode"`
	Environment                 string                     `json:"environment"`
	AutoApply                   bool                       `json:"auto-apply"`
	AutoApplyRunTrigger         bool                       `json:"auto-apply-run-trigger"`
	AllowDestroyPlan            bool                       `json:"allow-destroy-plan"`
	AssessmentsEnabled          bool                       `json:"assessments-enabled"`
	FileTriggersEnabled         bool                       `json:"file-triggers-enabled"`
	GlobalRemoteState           bool                       `json:"global-remote-state"`
	QueueAllRuns                bool                       `json:"queue-all-runs"`
	SpeculativeEnabled          bool                       `json:"speculative-enabled"`
	StructuredRunOutputEnabled  bool                       `json:"structured-run-output-enabled"`
	Operations                  bool                       `json:"operations"`
	Locked                      bool                       `json:"locked"`
	LockedReason                string                     `json:"locked-reason"`
	TerraformVersion            string                     `json:"terraform-version"`
	WorkingDirectory            string                     `json:"working-directory"`
	TriggerPrefixes             []string                   `json:"trigger-prefixes"`
	TriggerPatterns             []string                   `json:"trigger-patterns"`
	TagNames                    []string                   `json:"tag-names"`
	VCSRepo                     *WorkspaceVCSRepo          `json:"vcs-repo"`
	VCSRepoIdentifier           string                     `json:"vcs-repo-identifier"`
	Source                      string                     `json:"source"`
	SourceName                  string                     `json:"source-name"`
	SourceURL                   string                     `json:"source-url"`
	ResourceCount               int                        `json:"resource-count"`
	ApplyDurationAverage        averageMillis              `json:"apply-duration-average"`
	PlanDurationAverage         averageMillis              `json:"plan-duration-average"`
	PolicyCheckFailures         int                        `json:"policy-check-failures"`
	RunFailures                 int                        `json:"run-failures"`
	RunsCount                   int                        `json:"workspace-kpis-runs-count"`
	AutoDestroyAt               time.Time                  `json:"auto-destroy-at"`
	AutoDestroyActivityDuration string                     `json:"auto-destroy-activity-duration"`
	AutoDestroyStatus           string                     `json:"auto-destroy-status"`
	InheritsProjectAutoDestroy  bool                       `json:"inherits-project-auto-destroy"`
	HYOKEnabled                 bool                       `json:"hyok-enabled"`
	OAuthClientName             string                     `json:"oauth-client-name"`
	Permissions                 WorkspacePermissions       `json:"permissions"`
	SettingOverwrites           WorkspaceSettingOverwrites `json:"setting-overwrites"`
	Actions                     struct {
		IsDestroyable bool `json:"is-destroyable"`
	} `json:"actions"`
	CreatedAt              time.Time `json:"created-at"`
	UpdatedAt              time.Time `json:"updated-at"`
	LatestChangeAt         time.Time `json:"latest-change-at"`
	LastAssessmentResultAt time.Time `json:"last-assessment-result-at"`
}

type workspaceRels struct {
	Organization *toOne `json:"organization"`
	Project      *toOne `json:"project"`
	AgentPool    *toOne `json:"agent-pool"`
	CurrentRun   *toOne `json:"current-run"`
	// The samples print "current-configuration-version" twice; the last one counts,
	// as with encoding/json.
	CurrentStateVersion         *toOne `json:"current-state-version"`
	CurrentConfigurationVersion *toOne `json:"current-configuration-version"`
	LockedBy                    *toOne `json:"locked-by"`
}

// workspaceFromWire converts a workspace, with its current run when inc holds it. An
// included workspace is converted with nil includes (see includedWorkspace), so that a
// run and a workspace that name each other cannot recurse.
func workspaceFromWire(r *resource[workspaceAttrs, workspaceRels], inc *includes) Workspace {
	a := &r.Attributes
	ws := Workspace{
		ID:                            r.ID,
		Name:                          a.Name,
		Description:                   a.Description,
		Organization:                  r.Relationships.Organization.id(),
		ProjectID:                     r.Relationships.Project.id(),
		ExecutionMode:                 a.ExecutionMode,
		AgentPoolID:                   r.Relationships.AgentPool.id(),
		CurrentRunID:                  r.Relationships.CurrentRun.id(),
		CurrentStateVersionID:         r.Relationships.CurrentStateVersion.id(),
		CurrentConfigurationVersionID: r.Relationships.CurrentConfigurationVersion.id(),
		Environment:                   a.Environment,
		AutoApply:                     a.AutoApply,
		AutoApplyRunTrigger:           a.AutoApplyRunTrigger,
		AllowDestroyPlan:              a.AllowDestroyPlan,
		AssessmentsEnabled:            a.AssessmentsEnabled,
		FileTriggersEnabled:           a.FileTriggersEnabled,
		GlobalRemoteState:             a.GlobalRemoteState,
		QueueAllRuns:                  a.QueueAllRuns,
		SpeculativeEnabled:            a.SpeculativeEnabled,
		StructuredRunOutputEnabled:    a.StructuredRunOutputEnabled,
		Operations:                    a.Operations,
		Locked:                        a.Locked,
		LockedReason:                  a.LockedReason,
		LockedByID:                    r.Relationships.LockedBy.id(),
		LockedByType:                  r.Relationships.LockedBy.typ(),
		TerraformVersion:              a.TerraformVersion,
		WorkingDirectory:              a.WorkingDirectory,
		TriggerPrefixes:               a.TriggerPrefixes,
		TriggerPatterns:               a.TriggerPatterns,
		TagNames:                      a.TagNames,
		VCSRepo:                       a.VCSRepo,
		VCSRepoIdentifier:             a.VCSRepoIdentifier,
		Source:                        a.Source,
		SourceName:                    a.SourceName,
		SourceURL:                     a.SourceURL,
		ResourceCount:                 a.ResourceCount,
		ApplyDurationAverage:          a.ApplyDurationAverage.duration(),
		PlanDurationAverage:           a.PlanDurationAverage.duration(),
		PolicyCheckFailures:           a.PolicyCheckFailures,
		RunFailures:                   a.RunFailures,
		RunsCount:                     a.RunsCount,
		AutoDestroyAt:                 a.AutoDestroyAt,
		AutoDestroyActivityDuration:   a.AutoDestroyActivityDuration,
		AutoDestroyStatus:             a.AutoDestroyStatus,
		InheritsProjectAutoDestroy:    a.InheritsProjectAutoDestroy,
		HYOKEnabled:                   a.HYOKEnabled,
		OAuthClientName:               a.OAuthClientName,
		Permissions:                   a.Permissions,
		SettingOverwrites:             a.SettingOverwrites,
		IsDestroyable:                 a.Actions.IsDestroyable,
		CreatedAt:                     a.CreatedAt,
		UpdatedAt:                     a.UpdatedAt,
		LatestChangeAt:                a.LatestChangeAt,
		LastAssessmentResultAt:        a.LastAssessmentResultAt,
	}
	ws.CurrentRun = includedRun(inc, ws.CurrentRunID)
	return ws
}

// averageMillis is an average duration the service sends as milliseconds, which need
// not be whole.
type averageMillis float64

func (m averageMillis) duration() time.Duration {
	return time.Duration(float64(m) * float64(time.Millisecond))
}

// includedWorkspace returns the included workspace with id, or nil when the response
// did not include it.
func includedWorkspace(inc *includes, id string) *Workspace {
	if it := inc.find(typeWorkspaces, id); it != nil {
		if r, ok := decodeIncluded[workspaceAttrs, workspaceRels](it); ok {
			ws := workspaceFromWire(&r, nil) // no deeper: its current run may be the run that included it
			return &ws
		}
	}
	return nil
}
