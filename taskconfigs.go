package tfc

import (
	"context"
	"iter"
	"net/http"
)

// TaskConfigsService manages task configurations: where an organization's run task
// runs (every workspace, or the workspaces of some projects), at which stages and with
// which enforcement level. They replace a run task's global-configuration. Wire type
// "task-configs", IDs "taskcfg-…". A task has at most one configuration per owner, and
// the only owner is its organization.
type TaskConfigsService service

// TaskConfig is a run task's configuration.
type TaskConfig struct {
	ID string
	// Global applies the task to every project and workspace of the owner; otherwise
	// it applies to the workspaces of ProjectIDs.
	Global           bool
	EnforcementLevel EnforcementLevel
	// AllowedStages are the stages the task runs at.
	AllowedStages []Stage
	// RunTaskID is the configured run task (relationships.task).
	RunTaskID string
	// OwnerType and OwnerID name the owner: "organizations" and the organization's
	// name.
	OwnerType string
	OwnerID   string
	// ProjectIDs are the targeted projects (relationships.projects).
	ProjectIDs []string
}

// TaskConfigOptions are the settings of a task configuration, as TaskConfigsService.Create
// and the task-configs relationship of RunTasksService.Create and Update send them.
type TaskConfigOptions struct {
	// Global applies the task to every project and workspace of the organization.
	Global bool
	// EnforcementLevel is required: advisory or mandatory.
	EnforcementLevel EnforcementLevel
	// AllowedStages are required: one or more of pre_plan, post_plan, pre_apply and
	// post_apply.
	AllowedStages []Stage
	// ProjectIDs target projects ("prj-…"), for a configuration that is not Global.
	ProjectIDs []string
}

// TaskConfigCreateOptions are the attributes of a new task configuration.
type TaskConfigCreateOptions struct {
	// RunTaskID is required: the run task ("task-…") to configure.
	RunTaskID string
	TaskConfigOptions
}

// TaskConfigUpdateOptions change a task configuration; fields left at their zero value
// are not sent.
type TaskConfigUpdateOptions struct {
	Global           *bool
	EnforcementLevel EnforcementLevel
	AllowedStages    []Stage
	// ProjectIDs replace the targeted projects. nil leaves them as they are; an
	// empty, non-nil slice removes them all.
	ProjectIDs []string
}

// TaskConfigTargetType is the kind of target TaskConfigListOptions filters on.
type TaskConfigTargetType string

// TaskConfigTargetProject is the only target type: a project.
const TaskConfigTargetProject TaskConfigTargetType = "project"

// TaskConfigListOptions pages and filters TaskConfigsService.List.
type TaskConfigListOptions struct {
	ListOptions
	// TargetType and TargetID keep the configurations that target one project
	// (filter[target_type]=project and filter[target_id]=prj-…); give both or neither.
	TargetType TaskConfigTargetType `url:"filter[target_type],omitempty"`
	TargetID   string               `url:"filter[target_id],omitempty"`
	// TaskCategory keeps the configurations of tasks of one category
	// (filter[task_category]; the service documents "hook").
	TaskCategory string `url:"filter[task_category],omitempty"`
}

// Create creates a task configuration owned by organization.
//
// POST /organizations/:organization_name/task-configs (the page's endpoint line says
// /organization/; its sample request and the service use /organizations/). A task that
// already has a configuration, or a missing or malformed attribute, gives an *APIError
// matching ErrUnprocessable; an unknown task or organization, ErrNotFound.
func (s *TaskConfigsService) Create(ctx context.Context, organization string, opts TaskConfigCreateOptions) (*TaskConfig, error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if err := requireID("run task ID", opts.RunTaskID); err != nil {
		return nil, err
	}
	if err := opts.TaskConfigOptions.validate("task config"); err != nil {
		return nil, err
	}
	doc := opts.TaskConfigOptions.resource(organization)
	doc.Relationships.Task = &toOne{Data: &resourceID{Type: typeRunTasks, ID: opts.RunTaskID}}
	c := call{method: http.MethodPost, path: apiPath("organizations", organization, "task-configs"),
		body: document[resource[taskConfigAttrs, taskConfigRels]]{Data: doc}}
	return readOne(ctx, &s.client.pipeline, c, taskConfigFromWire)
}

// List returns one page of the task configurations owned by organization.
//
// GET /organizations/:organization_name/task-configs, with the filters of opts.
func (s *TaskConfigsService) List(ctx context.Context, organization string, opts *TaskConfigListOptions) (*Page[TaskConfig], error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("organizations", organization, "task-configs"), opts, taskConfigFromWire)
}

// All iterates over every task configuration of organization that opts keeps, 100 per
// request unless opts.PageSize says otherwise. opts is not modified.
func (s *TaskConfigsService) All(ctx context.Context, organization string, opts *TaskConfigListOptions) iter.Seq2[*TaskConfig, error] {
	var o TaskConfigListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[TaskConfig], error) {
		o.ListOptions = lo
		return s.List(ctx, organization, &o)
	})
}

// Update changes a task configuration.
//
// PATCH /task-configs/:id, with the ID in the body as the service's sample sends it.
// (The page documents 201 for a success; any 2xx is accepted.) 404 (ErrNotFound): no
// such configuration, or not visible to the token; 422 (ErrUnprocessable): a value the
// service rejects.
func (s *TaskConfigsService) Update(ctx context.Context, taskConfigID string, opts TaskConfigUpdateOptions) (*TaskConfig, error) {
	if err := requireID("task config ID", taskConfigID); err != nil {
		return nil, err
	}
	if opts.EnforcementLevel != "" && !opts.EnforcementLevel.valid() {
		return nil, invalidArg("enforcement level", `must be "advisory" or "mandatory"`)
	}
	if err := validateStages("allowed stages", opts.AllowedStages); err != nil {
		return nil, err
	}
	if err := validateIDs("project ID", opts.ProjectIDs); err != nil {
		return nil, err
	}
	if opts.Global != nil && *opts.Global && len(opts.ProjectIDs) > 0 {
		return nil, invalidArg("project IDs", "a global configuration applies to every project; leave them out")
	}
	doc := resource[taskConfigAttrs, taskConfigRels]{
		Type: typeTaskConfigs, ID: taskConfigID,
		Attributes: taskConfigAttrs{Global: opts.Global, EnforcementLevel: opts.EnforcementLevel, AllowedStages: opts.AllowedStages},
	}
	if opts.ProjectIDs != nil {
		doc.Relationships.Projects = relateMany(typeProjects, opts.ProjectIDs)
	}
	c := call{method: http.MethodPatch, path: apiPath("task-configs", taskConfigID),
		body: document[resource[taskConfigAttrs, taskConfigRels]]{Data: doc}}
	return readOne(ctx, &s.client.pipeline, c, taskConfigFromWire)
}

// validate checks the options of a configuration to be created; name prefixes the
// argument names in errors.
func (o *TaskConfigOptions) validate(name string) error {
	if !o.EnforcementLevel.valid() {
		return invalidArg(name+" enforcement level", `must be "advisory" or "mandatory"`)
	}
	if len(o.AllowedStages) == 0 {
		return invalidArg(name+" allowed stages", "at least one stage is required")
	}
	if err := validateStages(name+" allowed stages", o.AllowedStages); err != nil {
		return err
	}
	if o.Global && len(o.ProjectIDs) > 0 {
		return invalidArg(name+" project IDs", "a global configuration applies to every project; leave them out")
	}
	if !o.Global && len(o.ProjectIDs) == 0 {
		return invalidArg(name+" project IDs", "a configuration that is not global applies to the projects listed; name at least one, or set Global")
	}
	return validateIDs(name+" project ID", o.ProjectIDs)
}

// resource builds the configuration as a request resource owned by organization.
func (o *TaskConfigOptions) resource(organization string) resource[taskConfigAttrs, taskConfigRels] {
	r := resource[taskConfigAttrs, taskConfigRels]{
		Type:       typeTaskConfigs,
		Attributes: taskConfigAttrs{Global: &o.Global, EnforcementLevel: o.EnforcementLevel, AllowedStages: o.AllowedStages},
		Relationships: taskConfigRels{
			Owner: &toOne{Data: &resourceID{Type: typeOrganizations, ID: organization}},
		},
	}
	if len(o.ProjectIDs) > 0 {
		r.Relationships.Projects = relateMany(typeProjects, o.ProjectIDs)
	}
	return r
}

func (o *TaskConfigListOptions) validate() error {
	if err := o.ListOptions.validate(); err != nil {
		return err
	}
	switch {
	case (o.TargetType == "") != (o.TargetID == ""):
		return invalidArg("target filter", "give both the target type and the target ID, or neither")
	case o.TargetType != "" && o.TargetType != TaskConfigTargetProject:
		return invalidArg("target type", `must be "project"`)
	}
	return nil
}

// validateIDs checks IDs that go into a request body.
func validateIDs(name string, ids []string) error {
	for _, id := range ids {
		if err := requireID(name, id); err != nil {
			return err
		}
	}
	return nil
}

// relateMany builds a to-many relationship for a request body.
func relateMany(typ string, ids []string) *toMany {
	rel := &toMany{Data: make([]resourceID, len(ids))}
	for i, id := range ids {
		rel.Data[i] = resourceID{Type: typ, ID: id}
	}
	return rel
}

// Wire types and conversions for task configurations.

const (
	typeTaskConfigs = "task-configs"
	typeProjects    = "projects"
)

// taskConfigAttrs is both the wire form read and the one sent: Global is a pointer so
// that an update can leave it out and a create can send false.
type taskConfigAttrs struct {
	Global           *bool            `json:"global,omitempty"`
	EnforcementLevel EnforcementLevel `json:"enforcement-level,omitempty"`
	AllowedStages    []Stage          `json:"allowed-stages,omitempty"`
}

type taskConfigRels struct {
	Task     *toOne  `json:"task,omitempty"`
	Owner    *toOne  `json:"owner,omitempty"`
	Projects *toMany `json:"projects,omitempty"`
}

func taskConfigFromWire(r *resource[taskConfigAttrs, taskConfigRels], _ *includes) TaskConfig {
	a, rel := &r.Attributes, &r.Relationships
	tc := TaskConfig{
		ID:               r.ID,
		Global:           a.Global != nil && *a.Global,
		EnforcementLevel: a.EnforcementLevel,
		AllowedStages:    a.AllowedStages,
		RunTaskID:        rel.Task.id(),
		ProjectIDs:       rel.Projects.ids(),
	}
	if rel.Owner != nil && rel.Owner.Data != nil {
		tc.OwnerType, tc.OwnerID = rel.Owner.Data.Type, rel.Owner.Data.ID
	}
	return tc
}

// includedTaskConfig returns the included task configuration with id, or a stub that
// holds only the ID.
func includedTaskConfig(inc *includes, id string) *TaskConfig {
	if it := inc.find(typeTaskConfigs, id); it != nil {
		if r, ok := decodeIncluded[taskConfigAttrs, taskConfigRels](it); ok {
			tc := taskConfigFromWire(&r, inc)
			return &tc
		}
	}
	return &TaskConfig{ID: id}
}
