package tfc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// CTSTask is a Consul-Terraform-Sync task: a Terraform module that CTS runs when its
// condition fires. The same type is read from the daemon and sent to create a task;
// Name, Module and Condition are required, the rest is optional and takes the
// daemon's defaults when left at its zero value.
type CTSTask struct {
	// Name is unique among the daemon's tasks.
	Name string `json:"name"`
	// Module is the Terraform module's source: a registry address or a local path.
	Module string `json:"module"`
	// Condition is what triggers the task. Exactly one of its fields is set.
	Condition CTSCondition `json:"condition"`
	// Description is human-readable text about the task.
	Description string `json:"description,omitempty"`
	// Enabled says whether the task runs. nil means the API's default, true; IsEnabled
	// reads it with that default.
	Enabled *bool `json:"enabled,omitempty"`
	// Version is the module version; empty means the latest.
	Version string `json:"version,omitempty"`
	// Providers names the provider blocks of the daemon's configuration the module uses.
	Providers []string `json:"providers,omitempty"`
	// Variables are the module's input variables. Values are strings; a complex value
	// is its JSON encoding.
	Variables map[string]string `json:"variables,omitempty"`
	// BufferPeriod overrides the daemon's global buffer period for this task.
	BufferPeriod *CTSBufferPeriod `json:"buffer_period,omitempty"`
	// ModuleInput is additional input the module receives on each run. A task that
	// uses the deprecated services field shows it here (or under Condition.Services).
	ModuleInput *CTSModuleInput `json:"module_input,omitempty"`
	// TerraformCloudWorkspace configures the task's workspace (CTS Enterprise with the
	// HCP Terraform driver only).
	TerraformCloudWorkspace *CTSTerraformCloudWorkspace `json:"terraform_cloud_workspace,omitempty"`
	// TerraformVersion is the Terraform version of the task's workspace (CTS
	// Enterprise with the HCP Terraform driver only).
	//
	// Deprecated: CTS 0.6 moved it to TerraformCloudWorkspace.TerraformVersion.
	TerraformVersion string `json:"terraform_version,omitempty"`
}

// IsEnabled reports whether the task runs: Enabled, or true when Enabled is nil.
func (t *CTSTask) IsEnabled() bool { return t.Enabled == nil || *t.Enabled }

// CTSCondition is the trigger of a task: exactly one field is set. Should the daemon
// ever hold several, it uses the first of Services, ConsulKV, CatalogServices and
// Schedule.
type CTSCondition struct {
	// Services fires when the instances of the named (or matching) services change.
	Services *CTSServicesCondition `json:"services,omitempty"`
	// CatalogServices fires when services matching a regular expression are
	// registered or deregistered.
	CatalogServices *CTSCatalogServicesCondition `json:"catalog_services,omitempty"`
	// ConsulKV fires when a Consul KV path changes.
	ConsulKV *CTSConsulKVCondition `json:"consul_kv,omitempty"`
	// Schedule fires on a cron schedule.
	Schedule *CTSScheduleCondition `json:"schedule,omitempty"`
}

// Kind returns the wire name of the condition that is set ("services",
// "catalog_services", "consul_kv" or "schedule"), or "" when none is. With several set
// it returns the one the daemon would use.
func (c CTSCondition) Kind() string {
	switch {
	case c.Services != nil:
		return "services"
	case c.ConsulKV != nil:
		return "consul_kv"
	case c.CatalogServices != nil:
		return "catalog_services"
	case c.Schedule != nil:
		return "schedule"
	}
	return ""
}

// CTSServicesCondition triggers a task on changes to services' instances.
type CTSServicesCondition struct {
	// Names lists the services. When it is non-empty, Regexp is ignored.
	Names []string `json:"names,omitempty"`
	// Regexp selects the services by name; one of Names and Regexp is required.
	Regexp string `json:"regexp,omitempty"`
	// Filter is a Consul filter expression on the service instances.
	Filter     string `json:"filter,omitempty"`
	Datacenter string `json:"datacenter,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// CTSUserDefinedMeta is metadata handed to the module with each service.
	CTSUserDefinedMeta map[string]string `json:"cts_user_defined_meta,omitempty"`
	// UseAsModuleInput passes the services to the module as input; nil means the
	// API's default, true.
	UseAsModuleInput *bool `json:"use_as_module_input,omitempty"`
}

// CTSCatalogServicesCondition triggers a task when services matching Regexp are
// registered or deregistered.
type CTSCatalogServicesCondition struct {
	// Regexp is required.
	Regexp     string `json:"regexp"`
	Datacenter string `json:"datacenter,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// NodeMeta restricts the services to nodes with this metadata.
	NodeMeta map[string]string `json:"node_meta,omitempty"`
	// UseAsModuleInput passes the services to the module as input; nil means the
	// API's default, true.
	UseAsModuleInput *bool `json:"use_as_module_input,omitempty"`
}

// CTSConsulKVCondition triggers a task when a Consul KV path changes.
type CTSConsulKVCondition struct {
	// Path is required: the key, or the prefix when Recurse is true.
	Path string `json:"path"`
	// Recurse watches every key under Path.
	Recurse    bool   `json:"recurse,omitempty"`
	Datacenter string `json:"datacenter,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// UseAsModuleInput passes the key values to the module as input; nil means the
	// API's default, true.
	UseAsModuleInput *bool `json:"use_as_module_input,omitempty"`
}

// CTSScheduleCondition triggers a task on a schedule.
type CTSScheduleCondition struct {
	// Cron is required: a cron expression, for example "*/10 * * * *".
	Cron string `json:"cron"`
}

// CTSModuleInput is input a task's module receives besides its condition's.
type CTSModuleInput struct {
	Services *CTSServicesModuleInput `json:"services,omitempty"`
	ConsulKV *CTSConsulKVModuleInput `json:"consul_kv,omitempty"`
}

// CTSServicesModuleInput hands services' instances to the module.
type CTSServicesModuleInput struct {
	// Names lists the services. When it is non-empty, Regexp is ignored.
	Names []string `json:"names,omitempty"`
	// Regexp selects the services by name; one of Names and Regexp is required.
	Regexp             string            `json:"regexp,omitempty"`
	Filter             string            `json:"filter,omitempty"`
	Datacenter         string            `json:"datacenter,omitempty"`
	Namespace          string            `json:"namespace,omitempty"`
	CTSUserDefinedMeta map[string]string `json:"cts_user_defined_meta,omitempty"`
}

// CTSConsulKVModuleInput hands Consul KV values to the module.
type CTSConsulKVModuleInput struct {
	// Path is required: the key, or the prefix when Recurse is true.
	Path       string `json:"path"`
	Recurse    bool   `json:"recurse,omitempty"`
	Datacenter string `json:"datacenter,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
}

// CTSBufferPeriod is how long a task waits after a change before it runs, so that a
// burst of changes leads to one run. On the wire the durations are strings such as
// "5s".
type CTSBufferPeriod struct {
	// Enabled turns the buffer period on or off; nil keeps the daemon's global setting.
	Enabled *bool
	// Min is the quiet time after the last change before the task runs. Zero leaves it
	// out of a create request.
	Min time.Duration
	// Max is the longest the task waits while changes keep coming. Zero leaves it out
	// of a create request.
	Max time.Duration
}

type ctsBufferPeriodWire struct {
	Enabled *bool  `json:"enabled,omitempty"`
	Min     string `json:"min,omitempty"`
	Max     string `json:"max,omitempty"`
}

// MarshalJSON writes the durations as Go duration strings, which the daemon parses.
func (b CTSBufferPeriod) MarshalJSON() ([]byte, error) {
	w := ctsBufferPeriodWire{Enabled: b.Enabled}
	if b.Min != 0 {
		w.Min = b.Min.String()
	}
	if b.Max != 0 {
		w.Max = b.Max.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads duration strings such as "5s" or "1m0s"; an empty or missing one
// is zero.
func (b *CTSBufferPeriod) UnmarshalJSON(data []byte) error {
	var w ctsBufferPeriodWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	lo, err := parseWireDuration("buffer_period.min", w.Min)
	if err != nil {
		return err
	}
	hi, err := parseWireDuration("buffer_period.max", w.Max)
	if err != nil {
		return err
	}
	*b = CTSBufferPeriod{Enabled: w.Enabled, Min: lo, Max: hi}
	return nil
}

func parseWireDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("tfc: %s: %q is not a duration", field, s)
	}
	return d, nil
}

// CTSTerraformCloudWorkspace configures the HCP Terraform workspace of a task (CTS
// Enterprise with the HCP Terraform driver only).
type CTSTerraformCloudWorkspace struct {
	// ExecutionMode is "remote" (the default) or "agent".
	ExecutionMode string `json:"execution_mode,omitempty"`
	// AgentPoolID selects the agent pool in agent mode; it wins over AgentPoolName.
	AgentPoolID   string `json:"agent_pool_id,omitempty"`
	AgentPoolName string `json:"agent_pool_name,omitempty"`
	// TerraformVersion defaults to the latest version the organization supports.
	TerraformVersion string `json:"terraform_version,omitempty"`
}

// CTSRunMode says what a create or update does besides changing the task: the zero
// value nothing (the task runs at the daemon's own cadence), CTSRunNow or
// CTSRunInspect.
type CTSRunMode string

const (
	// CTSRunNow applies the change and runs the task at once; the call answers when the
	// run ends.
	CTSRunNow CTSRunMode = "now"
	// CTSRunInspect changes nothing: the daemon plans the task as it would be and
	// returns the plan (CTSInspection).
	CTSRunInspect CTSRunMode = "inspect"
)

func (m CTSRunMode) validate() error {
	switch m {
	case "", CTSRunNow, CTSRunInspect:
		return nil
	}
	return invalidArg("run mode", fmt.Sprintf(`%q is not "", %q or %q`, string(m), CTSRunNow, CTSRunInspect))
}

// ctsRunQuery is the ?run= parameter of create and update.
type ctsRunQuery struct {
	Run CTSRunMode `url:"run,omitempty"`
}

// CTSInspection is the outcome of CTSRunInspect: the plan the task would run.
type CTSInspection struct {
	// ChangesPresent reports whether the plan changes infrastructure. A non-empty Plan
	// does not by itself mean changes.
	ChangesPresent bool `json:"changes_present"`
	// Plan is Terraform's plan output as text.
	Plan string `json:"plan"`
	// RunURL is the HCP Terraform run of the plan (CTS Enterprise), or "".
	RunURL string `json:"tfc_run_url,omitempty"`
}

// UnmarshalJSON reads both shapes: "run" of a create names the run URL tfc_run_url,
// "inspect" of an update names it url.
func (i *CTSInspection) UnmarshalJSON(data []byte) error {
	var w struct {
		ChangesPresent bool   `json:"changes_present"`
		Plan           string `json:"plan"`
		TFCRunURL      string `json:"tfc_run_url"`
		URL            string `json:"url"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*i = CTSInspection{ChangesPresent: w.ChangesPresent, Plan: w.Plan, RunURL: w.TFCRunURL}
	if i.RunURL == "" {
		i.RunURL = w.URL
	}
	return nil
}

// CTSTaskList is the answer of CTSTasksService.List.
type CTSTaskList struct {
	// RequestID identifies the call in the daemon's logs.
	RequestID string     `json:"request_id"`
	Tasks     []*CTSTask `json:"tasks"`
}

// CTSTaskResult is the answer of CTSTasksService.Read and CTSTasksService.Create.
type CTSTaskResult struct {
	// RequestID identifies the call in the daemon's logs.
	RequestID string `json:"request_id"`
	// Task is the task as the daemon holds it, defaults filled in. After CTSRunInspect
	// it is the task that would be created; nothing was created.
	Task *CTSTask `json:"task"`
	// Inspection is the plan, after CTSRunInspect only.
	Inspection *CTSInspection `json:"run,omitempty"`
}

// CTSTaskUpdateOptions is an update of a task: the API changes nothing but Enabled.
type CTSTaskUpdateOptions struct {
	// Enabled is required: tfc.Ptr(true) enables the task, tfc.Ptr(false) disables it.
	// It is a pointer so that a forgotten field cannot disable a task.
	Enabled *bool
	// Run is what the update does besides: CTSRunNow runs the task at once (when it is
	// being enabled); CTSRunInspect changes nothing and returns the daemon's plan for
	// the proposed update.
	Run CTSRunMode
}

// CTSTaskUpdateResult is the answer of CTSTasksService.Update.
type CTSTaskUpdateResult struct {
	// RequestID identifies the call in the daemon's logs, when the daemon sends one
	// (current releases do not for this endpoint).
	RequestID string `json:"request_id,omitempty"`
	// Inspection is the plan, after CTSRunInspect only.
	Inspection *CTSInspection `json:"inspect,omitempty"`
}

// CTSTaskDeletion is the daemon's receipt for CTSTasksService.Delete (202 Accepted): the
// task is marked for deletion, not necessarily gone. A task that is not running is
// deleted at once; a running one finishes its run first, and until then Read still
// finds it.
// The infrastructure the task manages is not destroyed.
type CTSTaskDeletion struct {
	// RequestID identifies the call in the daemon's logs.
	RequestID string `json:"request_id"`
}

// List returns every task of the daemon.
//
// GET /v1/tasks
func (s *CTSTasksService) List(ctx context.Context) (*CTSTaskList, error) {
	return ctsDo[CTSTaskList](ctx, &s.client.pipeline, call{method: http.MethodGet, path: apiPath("tasks")})
}

// Read returns the task called name. An unknown task is an error matching
// ErrNotFound.
//
// GET /v1/tasks/:name
func (s *CTSTasksService) Read(ctx context.Context, name string) (*CTSTaskResult, error) {
	if err := requireID("task name", name); err != nil {
		return nil, err
	}
	return ctsDo[CTSTaskResult](ctx, &s.client.pipeline, call{method: http.MethodGet, path: apiPath("tasks", name)})
}

// Create creates task. The API only creates: a task of the same name already
// existing is a 400. run says what else happens:
//   - "": the task is created (201) and runs at the daemon's own cadence.
//   - CTSRunNow: the task is created and run at once (201); the call answers when the
//     run ends, and is not retried once sent.
//   - CTSRunInspect: nothing is created; the answer (200) holds the plan in
//     Inspection.
//
// POST /v1/tasks[?run=now|inspect] with {"task": task}. Before anything is sent task
// is checked: a name without slashes or whitespace, a module, exactly one condition
// with its required field, buffer durations that are not negative with Min ≤ Max.
func (s *CTSTasksService) Create(ctx context.Context, task CTSTask, run CTSRunMode) (*CTSTaskResult, error) {
	if err := task.validate(); err != nil {
		return nil, err
	}
	if err := run.validate(); err != nil {
		return nil, err
	}
	body := struct {
		Task CTSTask `json:"task"`
	}{task}
	req := call{method: http.MethodPost, path: apiPath("tasks"), query: ctsRunQuery{run}, body: body}
	return ctsDo[CTSTaskResult](ctx, &s.client.pipeline, req)
}

// Update enables or disables the task called name; the API changes nothing else.
// With CTSRunInspect nothing changes and the result holds the daemon's plan for the
// proposed update; with CTSRunNow the task also runs at once, and the call answers when
// the run ends and is not retried once sent. An unknown task is an error matching
// ErrNotFound.
//
// PATCH /v1/tasks/:name[?run=now|inspect] with {"enabled": bool}, answered {} or
// {"inspect": {…}}.
func (s *CTSTasksService) Update(ctx context.Context, name string, opts CTSTaskUpdateOptions) (*CTSTaskUpdateResult, error) {
	if err := requireID("task name", name); err != nil {
		return nil, err
	}
	if opts.Enabled == nil {
		return nil, invalidArg("enabled", "is required: the only field the API updates")
	}
	if err := opts.Run.validate(); err != nil {
		return nil, err
	}
	body := struct {
		Enabled bool `json:"enabled"`
	}{*opts.Enabled}
	// Setting enabled is absolute, so repeating the PATCH is harmless, unless it also
	// runs the task.
	req := call{method: http.MethodPatch, path: apiPath("tasks", name), query: ctsRunQuery{opts.Run}, body: body,
		notIdempotent: opts.Run == CTSRunNow}
	return ctsDo[CTSTaskUpdateResult](ctx, &s.client.pipeline, req)
}

// Delete marks the task called name for deletion. The daemon deletes it at once if
// it is not running, otherwise when its run ends; see CTSTaskDeletion. The
// infrastructure the task manages is left alone. An unknown task is an error matching
// ErrNotFound (also when a retry follows a deletion whose answer was lost).
//
// DELETE /v1/tasks/:name (202)
func (s *CTSTasksService) Delete(ctx context.Context, name string) (*CTSTaskDeletion, error) {
	if err := requireID("task name", name); err != nil {
		return nil, err
	}
	return ctsDo[CTSTaskDeletion](ctx, &s.client.pipeline, call{method: http.MethodDelete, path: apiPath("tasks", name)})
}

// validate checks what the daemon requires of a new task, so that a bad task fails
// before the network with an error naming the field.
func (t *CTSTask) validate() error {
	if err := requireID("task name", t.Name); err != nil {
		return err
	}
	if t.Module == "" {
		return invalidArg("module", "is required")
	}
	if err := t.Condition.validate(); err != nil {
		return err
	}
	if mi := t.ModuleInput; mi != nil {
		if mi.Services != nil && len(mi.Services.Names) == 0 && mi.Services.Regexp == "" {
			return invalidArg("module_input.services", "needs names or regexp")
		}
		if mi.ConsulKV != nil && mi.ConsulKV.Path == "" {
			return invalidArg("module_input.consul_kv.path", "is required")
		}
	}
	if bp := t.BufferPeriod; bp != nil {
		switch {
		case bp.Min < 0:
			return invalidArg("buffer_period.min", "must not be negative")
		case bp.Max < 0:
			return invalidArg("buffer_period.max", "must not be negative")
		case bp.Min != 0 && bp.Max != 0 && bp.Min > bp.Max:
			return invalidArg("buffer_period", fmt.Sprintf("min %v is greater than max %v", bp.Min, bp.Max))
		}
	}
	return nil
}

func (c CTSCondition) validate() error {
	set := 0
	for _, isSet := range []bool{c.Services != nil, c.CatalogServices != nil, c.ConsulKV != nil, c.Schedule != nil} {
		if isSet {
			set++
		}
	}
	switch {
	case set == 0:
		return invalidArg("condition", "is required: one of services, catalog_services, consul_kv or schedule")
	case set > 1:
		return invalidArg("condition", "must set exactly one of services, catalog_services, consul_kv and schedule")
	case c.Services != nil && len(c.Services.Names) == 0 && c.Services.Regexp == "":
		return invalidArg("condition.services", "needs names or regexp")
	case c.CatalogServices != nil && c.CatalogServices.Regexp == "":
		return invalidArg("condition.catalog_services.regexp", "is required")
	case c.ConsulKV != nil && c.ConsulKV.Path == "":
		return invalidArg("condition.consul_kv.path", "is required")
	case c.Schedule != nil && c.Schedule.Cron == "":
		return invalidArg("condition.schedule.cron", "is required")
	}
	return nil
}
