package tfc

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tfkit/tfc/internal/printguard"
)

// Stage is a point in a run at which run tasks run.
type Stage string

// Run stages. StageTest is only seen in the verification request the service sends
// when a run task is created or its URL or key change.
const (
	StagePrePlan   Stage = "pre_plan"
	StagePostPlan  Stage = "post_plan"
	StagePreApply  Stage = "pre_apply"
	StagePostApply Stage = "post_apply"
	StageTest      Stage = "test"
)

// UnmarshalText accepts the hyphenated spellings some Terraform Enterprise releases
// documented ("post-plan") as the underscore ones.
func (s *Stage) UnmarshalText(text []byte) error {
	*s = Stage(strings.ReplaceAll(string(text), "-", "_"))
	return nil
}

// HasPlan reports whether the stage comes after the plan, so that a plan JSON exists.
// A check should ask Delivery.HasPlan instead: a 2021-format delivery has no stage
// ("") but a plan.
func (s Stage) HasPlan() bool {
	return s == StagePostPlan || s == StagePreApply || s == StagePostApply
}

func (s Stage) isRunStage() bool {
	return s == StagePrePlan || s.HasPlan()
}

// EnforcementLevel says what a failed run task does to the run.
type EnforcementLevel string

// Enforcement levels: an advisory task never blocks a run; a mandatory task that fails,
// times out or errors stops it.
const (
	EnforcementAdvisory  EnforcementLevel = "advisory"
	EnforcementMandatory EnforcementLevel = "mandatory"
)

func (l EnforcementLevel) valid() bool {
	return l == EnforcementAdvisory || l == EnforcementMandatory
}

// RunTasksService manages an organization's run tasks: the integrations (name, URL,
// HMAC key) that workspaces attach. Wire type "tasks", IDs "task-…".
type RunTasksService service

// RunTask is an organization run task.
type RunTask struct {
	ID          string
	Name        string
	URL         string
	Description string
	// Category is always "task".
	Category string
	// Enabled is false when the task is switched off for every workspace.
	Enabled bool
	// GlobalConfiguration applies the task to all workspaces of the organization (the
	// global-run-tasks entitlement); nil when the service sends none.
	GlobalConfiguration *RunTaskGlobalConfiguration
	// Organization is the name of the owning organization.
	Organization string
	// AgentPoolID is the agent pool that forwards requests to a private task, or "".
	AgentPoolID string
	// WorkspaceRunTasks are the task's attachments. Read or list with
	// RunTaskIncludeWorkspaceTasks for full objects; otherwise each holds only its ID
	// (and the service may send none).
	WorkspaceRunTasks []*WorkspaceRunTask
	// TaskConfigs are the task's configurations (relationships.task-configs), each
	// holding only its ID unless the response included it; read them in full with
	// TaskConfigsService.List. The service may send none.
	TaskConfigs []*TaskConfig
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RunTaskGlobalConfiguration is a run task's organization-wide attachment.
type RunTaskGlobalConfiguration struct {
	Enabled          bool
	Stages           []Stage
	EnforcementLevel EnforcementLevel
}

// RunTaskInclude names related resources to embed in a run task response.
type RunTaskInclude string

// Values for RunTaskListOptions.Include and RunTaskReadOptions.Include.
const (
	RunTaskIncludeWorkspaceTasks          RunTaskInclude = "workspace_tasks"
	RunTaskIncludeWorkspaceTasksWorkspace RunTaskInclude = "workspace_tasks.workspace"
)

// RunTaskListOptions filters and pages RunTasksService.List.
type RunTaskListOptions struct {
	ListOptions
	Include []RunTaskInclude `url:"include,comma,omitempty"`
}

// RunTaskReadOptions are the options of RunTasksService.Read.
type RunTaskReadOptions struct {
	Include []RunTaskInclude `url:"include,comma,omitempty"`
}

// RunTaskCreateOptions are the attributes of a new run task. The service verifies URL
// by POSTing a signed test request to it, which must answer 200.
type RunTaskCreateOptions struct {
	// Name is required: letters, digits, "-" and "_".
	Name string
	// URL is required: the http(s) endpoint that receives run task requests.
	URL string
	// Category defaults to "task", the only value the service accepts.
	Category string
	// Description is optional, at most 300 characters.
	Description string
	// HMACKey, when set, makes the service sign every request to URL with it. It is
	// write-only: responses never return it.
	HMACKey Secret
	// Enabled defaults to true.
	Enabled *bool
	// GlobalConfiguration attaches the task to every workspace of the organization.
	// The service ignores it when TaskConfigs are given, and otherwise makes it the
	// task's configuration.
	GlobalConfiguration *RunTaskGlobalConfigurationOptions
	// AgentPoolID routes requests through an agent pool (private run tasks).
	AgentPoolID string
	// TaskConfigs are created with the task, owned by the organization: where the task
	// runs (globally or on projects), at which stages and how strictly. Sent as the
	// task-configs relationship, as the service's create sample shows it.
	TaskConfigs []TaskConfigOptions
}

// RunTaskGlobalConfigurationOptions sets a run task's organization-wide attachment.
type RunTaskGlobalConfigurationOptions struct {
	Enabled          *bool
	Stages           []Stage
	EnforcementLevel EnforcementLevel
}

// RunTaskUpdateOptions changes a run task; fields left at their zero value are not
// sent.
type RunTaskUpdateOptions struct {
	Name     *string
	URL      *string
	Category *string
	// Description: Set to change it, Null to clear it.
	Description Nullable[string]
	// HMACKey: Set to change the key, Null to stop signing.
	HMACKey             Nullable[Secret]
	Enabled             *bool
	GlobalConfiguration *RunTaskGlobalConfigurationOptions
	// AgentPoolID: Set to route through an agent pool, Null to stop.
	AgentPoolID Nullable[string]
	// TaskConfigs, when given, are sent as the task-configs relationship, shaped as on
	// Create. The update table of the API page lists only global-configuration; the
	// relationship is sent as the create sample shows it, and a service that does not
	// take it on update may ignore it: read the task (or TaskConfigs.List) to confirm,
	// or change configurations with TaskConfigsService.Update. An update that carries them
	// is retried like a Create (only when the service surely did not act), since the
	// service may create configurations from it.
	TaskConfigs []TaskConfigOptions
	// Organization is the task's organization, the owner of TaskConfigs; required with
	// them, since the update path (/tasks/:id) does not name it.
	Organization string
}

// Create creates a run task in organization.
//
// POST /organizations/:organization/tasks. The service first sends URL a signed
// verification request; if that does not answer 200 the create fails (usually 422).
func (s *RunTasksService) Create(ctx context.Context, organization string, opts RunTaskCreateOptions) (*RunTask, error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	category := opts.Category
	if category == "" {
		category = "task"
	}
	attrs := runTaskWriteAttrs{
		Name:                opts.Name,
		URL:                 opts.URL,
		Category:            category,
		Enabled:             opts.Enabled,
		GlobalConfiguration: opts.GlobalConfiguration.wire(),
	}
	if opts.Description != "" {
		attrs.Description = Set(opts.Description)
	}
	if opts.HMACKey != "" {
		attrs.HMACKey = Set(wireSecret(opts.HMACKey))
	}
	var rels runTaskWriteRels
	if opts.AgentPoolID != "" {
		rels.AgentPool = relateTo(typeAgentPools, Set(opts.AgentPoolID))
	}
	rels.TaskConfigs = newTaskConfigsRel(opts.TaskConfigs, organization)
	c := call{method: http.MethodPost, path: apiPath("organizations", organization, "tasks"),
		body: newResource(typeRunTasks, attrs, rels)}
	return readOne(ctx, &s.client.pipeline, c, runTaskFromWire)
}

// List returns one page of organization's run tasks.
//
// GET /organizations/:organization/tasks
func (s *RunTasksService) List(ctx context.Context, organization string, opts *RunTaskListOptions) (*Page[RunTask], error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.ListOptions.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("organizations", organization, "tasks"), opts, runTaskFromWire)
}

// All iterates over every run task of organization, 100 per request unless
// opts.PageSize says otherwise. opts is not modified.
func (s *RunTasksService) All(ctx context.Context, organization string, opts *RunTaskListOptions) iter.Seq2[*RunTask, error] {
	var o RunTaskListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[RunTask], error) {
		o.ListOptions = lo
		return s.List(ctx, organization, &o)
	})
}

// Read returns one run task.
//
// GET /tasks/:id, with include=workspace_tasks[,workspace_tasks.workspace] if asked.
func (s *RunTasksService) Read(ctx context.Context, runTaskID string, opts *RunTaskReadOptions) (*RunTask, error) {
	if err := requireID("run task ID", runTaskID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("tasks", runTaskID), query: opts}
	return readOne(ctx, &s.client.pipeline, c, runTaskFromWire)
}

// Update changes a run task.
//
// PATCH /tasks/:id. A new URL or HMAC key is verified like on Create.
func (s *RunTasksService) Update(ctx context.Context, runTaskID string, opts RunTaskUpdateOptions) (*RunTask, error) {
	if err := requireID("run task ID", runTaskID); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	attrs := runTaskWriteAttrs{
		Description:         opts.Description,
		HMACKey:             reveal(opts.HMACKey),
		Enabled:             opts.Enabled,
		GlobalConfiguration: opts.GlobalConfiguration.wire(),
	}
	if opts.Name != nil {
		attrs.Name = *opts.Name
	}
	if opts.URL != nil {
		attrs.URL = *opts.URL
	}
	if opts.Category != nil {
		attrs.Category = *opts.Category
	}
	rels := runTaskWriteRels{AgentPool: relateTo(typeAgentPools, opts.AgentPoolID),
		TaskConfigs: newTaskConfigsRel(opts.TaskConfigs, opts.Organization)}
	doc := newResource(typeRunTasks, attrs, rels)
	// Configurations sent inline may be created by the service, so a PATCH carrying
	// them is retried like a POST: only when the service surely did not act on it.
	c := call{method: http.MethodPatch, path: apiPath("tasks", runTaskID), body: doc,
		notIdempotent: len(opts.TaskConfigs) > 0}
	return readOne(ctx, &s.client.pipeline, c, runTaskFromWire)
}

// Delete deletes a run task. The service refuses while workspaces still use it.
//
// DELETE /tasks/:id (204)
func (s *RunTasksService) Delete(ctx context.Context, runTaskID string) error {
	if err := requireID("run task ID", runTaskID); err != nil {
		return err
	}
	return s.client.do(ctx, call{method: http.MethodDelete, path: apiPath("tasks", runTaskID)}, nil)
}

func (o RunTaskCreateOptions) validate() error {
	if o.Name == "" {
		return invalidArg("name", "is required")
	}
	if o.URL == "" {
		return invalidArg("url", "is required")
	}
	if o.Category != "" && o.Category != "task" {
		return invalidArg("category", `must be "task"`)
	}
	if err := validateTaskConfigs(o.TaskConfigs); err != nil {
		return err
	}
	return validateRunTaskFields(o.Name, o.URL, o.Description, o.GlobalConfiguration)
}

func (o RunTaskUpdateOptions) validate() error {
	if o.Name != nil && *o.Name == "" {
		return invalidArg("name", "must not be empty")
	}
	if o.URL != nil && *o.URL == "" {
		return invalidArg("url", "must not be empty")
	}
	if o.Category != nil && *o.Category != "task" {
		return invalidArg("category", `must be "task"`)
	}
	if id, ok := o.AgentPoolID.Get(); ok && id == "" {
		return invalidArg("agent pool ID", "must not be empty; use Null to detach")
	}
	if len(o.TaskConfigs) > 0 {
		if err := requireID("organization (the owner of the task configs)", o.Organization); err != nil {
			return err
		}
	}
	if err := validateTaskConfigs(o.TaskConfigs); err != nil {
		return err
	}
	var name, u string
	if o.Name != nil {
		name = *o.Name
	}
	if o.URL != nil {
		u = *o.URL
	}
	description, _ := o.Description.Get()
	return validateRunTaskFields(name, u, description, o.GlobalConfiguration)
}

// validateRunTaskFields checks the fields that are given (non-empty).
func validateRunTaskFields(name, rawURL, description string, gc *RunTaskGlobalConfigurationOptions) error {
	if name != "" && !isResourceName(name) {
		return invalidArg("name", "may only contain letters, digits, '-' and '_'")
	}
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalidArg("url", "must be an absolute http(s) URL")
		}
	}
	if utf8.RuneCountInString(description) > 300 {
		return invalidArg("description", "must be at most 300 characters")
	}
	if gc != nil {
		if err := validateStages("global configuration stages", gc.Stages); err != nil {
			return err
		}
		if gc.EnforcementLevel != "" && !gc.EnforcementLevel.valid() {
			return invalidArg("global configuration enforcement level", `must be "advisory" or "mandatory"`)
		}
	}
	return nil
}

func validateTaskConfigs(configs []TaskConfigOptions) error {
	for i := range configs {
		if err := configs[i].validate(fmt.Sprintf("task config %d", i)); err != nil {
			return err
		}
	}
	return nil
}

func validateStages(name string, stages []Stage) error {
	for _, st := range stages {
		if !st.isRunStage() {
			return invalidArg(name, fmt.Sprintf("%q is not pre_plan, post_plan, pre_apply or post_apply", st))
		}
	}
	return nil
}

// Wire types and conversions for run tasks.

const (
	typeRunTasks       = "tasks"
	typeWorkspaceTasks = "workspace-tasks"
	typeWorkspaces     = "workspaces"
	typeAgentPools     = "agent-pools"
)

type runTaskAttrs struct {
	Name                string                `json:"name"`
	URL                 string                `json:"url"`
	Description         string                `json:"description"`
	Category            string                `json:"category"`
	Enabled             bool                  `json:"enabled"`
	GlobalConfiguration *globalConfigurationW `json:"global-configuration"`
	CreatedAt           time.Time             `json:"created-at"`
	UpdatedAt           time.Time             `json:"updated-at"`
}

type globalConfigurationW struct {
	Enabled          *bool            `json:"enabled,omitempty"`
	Stages           []Stage          `json:"stages,omitempty"`
	EnforcementLevel EnforcementLevel `json:"enforcement-level,omitempty"`
}

type runTaskRels struct {
	Organization   *toOne  `json:"organization"`
	WorkspaceTasks *toMany `json:"workspace-tasks"`
	// Tasks is the name some documentation samples give the workspace-tasks
	// relationship.
	Tasks       *toMany `json:"tasks"`
	AgentPool   *toOne  `json:"agent-pool"`
	TaskConfigs *toMany `json:"task-configs"`
}

type runTaskWriteAttrs struct {
	Name                string                `json:"name,omitempty"`
	URL                 string                `json:"url,omitempty"`
	Category            string                `json:"category,omitempty"`
	Description         Nullable[string]      `json:"description,omitzero"`
	HMACKey             Nullable[wireSecret]  `json:"hmac-key,omitzero"`
	Enabled             *bool                 `json:"enabled,omitempty"`
	GlobalConfiguration *globalConfigurationW `json:"global-configuration,omitempty"`
}

type runTaskWriteRels struct {
	AgentPool   *toOne          `json:"agent-pool,omitempty"`
	TaskConfigs *taskConfigsRel `json:"task-configs,omitempty"`
}

// taskConfigsRel is the task-configs relationship of a run task request, whose data
// are whole resources rather than identifiers.
type taskConfigsRel struct {
	Data []resource[taskConfigAttrs, taskConfigRels] `json:"data"`
}

// newTaskConfigsRel builds the relationship, nil for no configurations.
func newTaskConfigsRel(configs []TaskConfigOptions, organization string) *taskConfigsRel {
	if len(configs) == 0 {
		return nil
	}
	rel := &taskConfigsRel{Data: make([]resource[taskConfigAttrs, taskConfigRels], len(configs))}
	for i := range configs {
		rel.Data[i] = configs[i].resource(organization)
	}
	return rel
}

func (o *RunTaskGlobalConfigurationOptions) wire() *globalConfigurationW {
	if o == nil {
		return nil
	}
	return &globalConfigurationW{Enabled: o.Enabled, Stages: o.Stages, EnforcementLevel: o.EnforcementLevel}
}

func runTaskFromWire(r *resource[runTaskAttrs, runTaskRels], inc *includes) RunTask {
	a := &r.Attributes
	t := RunTask{
		ID:           r.ID,
		Name:         a.Name,
		URL:          a.URL,
		Description:  a.Description,
		Category:     a.Category,
		Enabled:      a.Enabled,
		Organization: r.Relationships.Organization.id(),
		AgentPoolID:  r.Relationships.AgentPool.id(),
		CreatedAt:    a.CreatedAt,
		UpdatedAt:    a.UpdatedAt,
	}
	if gc := a.GlobalConfiguration; gc != nil {
		t.GlobalConfiguration = &RunTaskGlobalConfiguration{
			Enabled:          gc.Enabled != nil && *gc.Enabled,
			Stages:           gc.Stages,
			EnforcementLevel: gc.EnforcementLevel,
		}
	}
	attached := r.Relationships.WorkspaceTasks
	if attached == nil {
		attached = r.Relationships.Tasks
	}
	if attached != nil {
		for _, ref := range attached.Data {
			// The documented samples fill "tasks" with references of type "tasks",
			// which are no attachments: an ID of one would not read as a workspace
			// run task.
			if ref.Type != typeWorkspaceTasks && ref.Type != "" {
				continue
			}
			t.WorkspaceRunTasks = append(t.WorkspaceRunTasks, includedWorkspaceRunTask(inc, ref.ID))
		}
	}
	if ids := r.Relationships.TaskConfigs.ids(); len(ids) > 0 {
		t.TaskConfigs = make([]*TaskConfig, len(ids))
		for i, id := range ids {
			t.TaskConfigs[i] = includedTaskConfig(inc, id)
		}
	}
	return t
}

// includedWorkspaceRunTask returns the included workspace task with id, or a stub that
// holds only the ID.
func includedWorkspaceRunTask(inc *includes, id string) *WorkspaceRunTask {
	if it := inc.find(typeWorkspaceTasks, id); it != nil {
		if r, ok := decodeIncluded[workspaceTaskAttrs, workspaceTaskRels](it); ok {
			wt := workspaceRunTaskFromWire(&r, inc)
			return &wt
		}
	}
	return &WorkspaceRunTask{ID: id}
}

// WorkspaceRunTasksService attaches run tasks to workspaces. Wire type
// "workspace-tasks", IDs "wstask-…".
type WorkspaceRunTasksService service

// WorkspaceRunTask is a run task attached to a workspace.
type WorkspaceRunTask struct {
	ID               string
	EnforcementLevel EnforcementLevel
	// Stages are the stages the task runs at. Services that only send the deprecated
	// single "stage" attribute give a one-element list.
	Stages []Stage
	// Stage is the deprecated single stage the service still returns.
	Stage       Stage
	RunTaskID   string
	WorkspaceID string
	// WorkspaceName is set when the workspace was included
	// (RunTaskIncludeWorkspaceTasksWorkspace).
	WorkspaceName string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// WorkspaceRunTaskCreateOptions attaches a run task.
type WorkspaceRunTaskCreateOptions struct {
	// RunTaskID is required.
	RunTaskID string
	// EnforcementLevel is required.
	EnforcementLevel EnforcementLevel
	// Stages default to [post_plan] on the service.
	Stages []Stage
}

// WorkspaceRunTaskUpdateOptions changes an attachment; zero fields are not sent.
type WorkspaceRunTaskUpdateOptions struct {
	EnforcementLevel EnforcementLevel
	Stages           []Stage
}

// WorkspaceRunTaskListOptions pages WorkspaceRunTasksService.List.
type WorkspaceRunTaskListOptions struct {
	ListOptions
}

// Create attaches a run task to a workspace.
//
// POST /workspaces/:workspace_id/tasks. The service answers 201 with the attachment;
// where it answers 204 No Content instead, the result holds what was sent and no ID.
func (s *WorkspaceRunTasksService) Create(ctx context.Context, workspaceID string, opts WorkspaceRunTaskCreateOptions) (*WorkspaceRunTask, error) {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return nil, err
	}
	if err := requireID("run task ID", opts.RunTaskID); err != nil {
		return nil, err
	}
	if !opts.EnforcementLevel.valid() {
		return nil, invalidArg("enforcement level", `must be "advisory" or "mandatory"`)
	}
	if err := validateStages("stages", opts.Stages); err != nil {
		return nil, err
	}
	body := newResource(typeWorkspaceTasks,
		workspaceTaskWriteAttrs{EnforcementLevel: opts.EnforcementLevel, Stages: opts.Stages},
		workspaceTaskWriteRels{Task: &toOne{Data: &resourceID{Type: typeRunTasks, ID: opts.RunTaskID}}})
	c := call{method: http.MethodPost, path: apiPath("workspaces", workspaceID, "tasks"), body: body}
	wt, err := readOne(ctx, &s.client.pipeline, c, workspaceRunTaskFromWire)
	if err != nil {
		return nil, err
	}
	if wt.ID == "" { // 204 No Content
		*wt = WorkspaceRunTask{EnforcementLevel: opts.EnforcementLevel, Stages: opts.Stages,
			RunTaskID: opts.RunTaskID, WorkspaceID: workspaceID}
	}
	return wt, nil
}

// List returns one page of the run tasks attached to a workspace.
//
// GET /workspaces/:workspace_id/tasks
func (s *WorkspaceRunTasksService) List(ctx context.Context, workspaceID string, opts *WorkspaceRunTaskListOptions) (*Page[WorkspaceRunTask], error) {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.ListOptions.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("workspaces", workspaceID, "tasks"), opts, workspaceRunTaskFromWire)
}

// All iterates over every run task attached to a workspace. opts is not modified.
func (s *WorkspaceRunTasksService) All(ctx context.Context, workspaceID string, opts *WorkspaceRunTaskListOptions) iter.Seq2[*WorkspaceRunTask, error] {
	var o WorkspaceRunTaskListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[WorkspaceRunTask], error) {
		o.ListOptions = lo
		return s.List(ctx, workspaceID, &o)
	})
}

// Read returns one attachment.
//
// GET /workspaces/:workspace_id/tasks/:id
func (s *WorkspaceRunTasksService) Read(ctx context.Context, workspaceID, workspaceRunTaskID string) (*WorkspaceRunTask, error) {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return nil, err
	}
	if err := requireID("workspace run task ID", workspaceRunTaskID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("workspaces", workspaceID, "tasks", workspaceRunTaskID)}
	return readOne(ctx, &s.client.pipeline, c, workspaceRunTaskFromWire)
}

// Update changes an attachment's enforcement level or stages.
//
// PATCH /workspaces/:workspace_id/tasks/:id
func (s *WorkspaceRunTasksService) Update(ctx context.Context, workspaceID, workspaceRunTaskID string, opts WorkspaceRunTaskUpdateOptions) (*WorkspaceRunTask, error) {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return nil, err
	}
	if err := requireID("workspace run task ID", workspaceRunTaskID); err != nil {
		return nil, err
	}
	if opts.EnforcementLevel != "" && !opts.EnforcementLevel.valid() {
		return nil, invalidArg("enforcement level", `must be "advisory" or "mandatory"`)
	}
	if err := validateStages("stages", opts.Stages); err != nil {
		return nil, err
	}
	doc := newResource(typeWorkspaceTasks, workspaceTaskWriteAttrs(opts), workspaceTaskWriteRels{})
	c := call{method: http.MethodPatch, path: apiPath("workspaces", workspaceID, "tasks", workspaceRunTaskID), body: doc}
	return readOne(ctx, &s.client.pipeline, c, workspaceRunTaskFromWire)
}

// Delete detaches a run task from a workspace.
//
// DELETE /workspaces/:workspace_id/tasks/:id (204)
func (s *WorkspaceRunTasksService) Delete(ctx context.Context, workspaceID, workspaceRunTaskID string) error {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return err
	}
	if err := requireID("workspace run task ID", workspaceRunTaskID); err != nil {
		return err
	}
	return s.client.do(ctx, call{method: http.MethodDelete, path: apiPath("workspaces", workspaceID, "tasks", workspaceRunTaskID)}, nil)
}

type workspaceTaskAttrs struct {
	EnforcementLevel EnforcementLevel `json:"enforcement-level"`
	Stages           []Stage          `json:"stages"`
	Stage            Stage            `json:"stage"`
	CreatedAt        time.Time        `json:"created-at"`
	UpdatedAt        time.Time        `json:"updated-at"`
}

type workspaceTaskRels struct {
	Task      *toOne `json:"task"`
	Workspace *toOne `json:"workspace"`
}

type workspaceTaskWriteAttrs struct {
	EnforcementLevel EnforcementLevel `json:"enforcement-level,omitempty"`
	Stages           []Stage          `json:"stages,omitempty"`
}

type workspaceTaskWriteRels struct {
	Task *toOne `json:"task,omitempty"`
}

func workspaceRunTaskFromWire(r *resource[workspaceTaskAttrs, workspaceTaskRels], inc *includes) WorkspaceRunTask {
	a := &r.Attributes
	wt := WorkspaceRunTask{
		ID:               r.ID,
		EnforcementLevel: a.EnforcementLevel,
		Stages:           a.Stages,
		Stage:            a.Stage,
		RunTaskID:        r.Relationships.Task.id(),
		WorkspaceID:      r.Relationships.Workspace.id(),
		CreatedAt:        a.CreatedAt,
		UpdatedAt:        a.UpdatedAt,
	}
	if len(wt.Stages) == 0 && wt.Stage != "" {
		wt.Stages = []Stage{wt.Stage}
	}
	if ws := inc.find(typeWorkspaces, wt.WorkspaceID); ws != nil {
		if w, ok := decodeIncluded[struct {
			Name string `json:"name"`
		}, noRelationships](ws); ok {
			wt.WorkspaceName = w.Attributes.Name
		}
	}
	return wt
}

// VerificationAccessToken is the access token of the test request the service sends
// when a run task is created or its URL or key change. It is never valid; the request
// must be answered 200 and not called back.
const VerificationAccessToken = "test-token"

// RunTaskRequest is what the service POSTs to a run task's URL (payload_version 1, plain
// JSON). Unknown fields are ignored, so newer payloads still decode.
//
// It holds a Secret access token and a callback URL that may carry a credential, so
// String, GoString and LogValue describe it by run, task result, stage and workspace
// only, and JSON marshalling writes the token as "[redacted]" and the callback URL
// without its query. To move a delivery through a queue, move the signed raw body
// instead (see Job).
type RunTaskRequest struct {
	PayloadVersion int   `json:"payload_version"`
	Stage          Stage `json:"stage"`
	// AccessToken authorises the callback and the plan and configuration downloads of
	// this task result, and nothing else. It expires with the task result.
	AccessToken  Secret              `json:"access_token"`
	Capabilities RunTaskCapabilities `json:"capabilities"`

	ConfigurationVersionID string `json:"configuration_version_id"`
	// ConfigurationVersionDownloadURL is nil when the configuration cannot be
	// downloaded.
	ConfigurationVersionDownloadURL *string `json:"configuration_version_download_url"`
	// PlanJSONAPIURL is set at the stages that have a plan: post_plan, pre_apply and
	// post_apply.
	PlanJSONAPIURL string `json:"plan_json_api_url"`
	IsSpeculative  bool   `json:"is_speculative"`

	OrganizationName string `json:"organization_name"`
	RunAppURL        string `json:"run_app_url"`
	// RunCreatedAt is zero when the service sends a value that is not a time (the
	// verification request carries placeholders).
	RunCreatedAt time.Time `json:"run_created_at"`
	RunCreatedBy string    `json:"run_created_by"`
	RunID        string    `json:"run_id"`
	RunMessage   string    `json:"run_message"`

	TaskResultCallbackURL      string           `json:"task_result_callback_url"`
	TaskResultEnforcementLevel EnforcementLevel `json:"task_result_enforcement_level"`
	TaskResultID               string           `json:"task_result_id"`

	// The VCS fields are nil when the workspace has no repository or the run did not come
	// from one.
	VCSBranch         *string `json:"vcs_branch"`
	VCSCommitHash     *string `json:"vcs_commit_hash"`
	VCSCommitURL      *string `json:"vcs_commit_url"`
	VCSPullRequestURL *string `json:"vcs_pull_request_url"`
	VCSRepoURL        *string `json:"vcs_repo_url"`

	WorkspaceAppURL           string `json:"workspace_app_url"`
	WorkspaceID               string `json:"workspace_id"`
	WorkspaceName             string `json:"workspace_name"`
	WorkspaceWorkingDirectory string `json:"workspace_working_directory"`

	// The project fields appear in newer payloads.
	ProjectID     string `json:"project_id"`
	ProjectName   string `json:"project_name"`
	ProjectAppURL string `json:"project_app_url"`
}

// RunTaskCapabilities are what the service accepts in the callback.
type RunTaskCapabilities struct {
	// Outcomes is true when the callback may carry detailed outcomes.
	Outcomes bool `json:"outcomes"`
}

// IsVerification reports whether r is the test request sent when a run task is created
// or changed (access token "test-token", stage "test").
func (r *RunTaskRequest) IsVerification() bool {
	return r.AccessToken == VerificationAccessToken || r.Stage == StageTest
}

// UnmarshalJSON decodes the payload leniently: run_created_at may be any string, and
// the capabilities object is also read under the misspelling "capabilitites" that some
// documentation and go-tfe used.
func (r *RunTaskRequest) UnmarshalJSON(data []byte) error {
	var v RunTaskRequest
	if err := scanWith(data, v.decodeFields); err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalJSON writes the request for display: the access token as "[redacted]" and the
// callback URL without its query, which may carry a credential.
func (r RunTaskRequest) MarshalJSON() ([]byte, error) {
	type plain RunTaskRequest
	p := plain(r)
	if u, err := url.Parse(p.TaskResultCallbackURL); err == nil && u.RawQuery != "" {
		u.RawQuery = ""
		p.TaskResultCallbackURL = u.String()
	}
	return json.Marshal(p)
}

// String describes the request without its secrets.
func (r RunTaskRequest) String() string {
	return fmt.Sprintf("run task request (run %s, task result %s, stage %s, workspace %s/%s)",
		r.RunID, r.TaskResultID, r.Stage, r.OrganizationName, r.WorkspaceName)
}

// GoString is String, so that %#v cannot reach the token or the callback URL.
func (r RunTaskRequest) GoString() string { return r.String() }

// Format prints String whatever the verb, so that no verb reaches the token or URLs.
func (r RunTaskRequest) Format(f fmt.State, verb rune) { printguard.Format(f, verb, r) }

// LogValue logs the request as its identifying fields only.
func (r RunTaskRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("run_id", r.RunID),
		slog.String("task_result_id", r.TaskResultID),
		slog.String("stage", string(r.Stage)),
		slog.String("organization", r.OrganizationName),
		slog.String("workspace", r.WorkspaceName),
		slog.String("workspace_id", r.WorkspaceID),
	)
}
