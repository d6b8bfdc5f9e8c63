package tfc

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RunsService reads the runs of workspaces and applies, discards or cancels them: what
// a run task, a policy gate or an internal tool needs around a run. Wire type "runs",
// IDs "run-…".
type RunsService service

// RunStatus is the state of a run. Values the service adds later are kept as they are.
type RunStatus string

// Run statuses, as documented.
const (
	RunPending            RunStatus = "pending"
	RunFetching           RunStatus = "fetching"
	RunFetchingCompleted  RunStatus = "fetching_completed"
	RunPrePlanRunning     RunStatus = "pre_plan_running"
	RunPrePlanCompleted   RunStatus = "pre_plan_completed"
	RunQueuing            RunStatus = "queuing"
	RunPlanQueued         RunStatus = "plan_queued"
	RunPlanning           RunStatus = "planning"
	RunPlanned            RunStatus = "planned"
	RunCostEstimating     RunStatus = "cost_estimating"
	RunCostEstimated      RunStatus = "cost_estimated"
	RunPolicyChecking     RunStatus = "policy_checking"
	RunPolicyOverride     RunStatus = "policy_override"
	RunPolicySoftFailed   RunStatus = "policy_soft_failed"
	RunPolicyChecked      RunStatus = "policy_checked"
	RunConfirmed          RunStatus = "confirmed"
	RunPostPlanRunning    RunStatus = "post_plan_running"
	RunPostPlanCompleted  RunStatus = "post_plan_completed"
	RunPlannedAndFinished RunStatus = "planned_and_finished"
	RunPlannedAndSaved    RunStatus = "planned_and_saved"
	RunApplyQueued        RunStatus = "apply_queued"
	RunApplying           RunStatus = "applying"
	RunApplied            RunStatus = "applied"
	RunDiscarded          RunStatus = "discarded"
	RunErrored            RunStatus = "errored"
	RunCanceled           RunStatus = "canceled"
	RunForceCanceled      RunStatus = "force_canceled"
)

// IsFinal reports whether the run is over: applied, planned_and_finished,
// policy_soft_failed, discarded, errored, canceled or force_canceled.
func (s RunStatus) IsFinal() bool {
	switch s {
	case RunApplied, RunPlannedAndFinished, RunPolicySoftFailed, RunDiscarded, RunErrored, RunCanceled, RunForceCanceled:
		return true
	}
	return false
}

// RunOperation is what a run does, as the list filter names it.
type RunOperation string

// Run operations.
const (
	RunOperationPlanOnly     RunOperation = "plan_only"
	RunOperationPlanAndApply RunOperation = "plan_and_apply"
	RunOperationSavePlan     RunOperation = "save_plan"
	RunOperationRefreshOnly  RunOperation = "refresh_only"
	RunOperationDestroy      RunOperation = "destroy"
	RunOperationEmptyApply   RunOperation = "empty_apply"
	RunOperationActionOnly   RunOperation = "action_only"
)

// RunSource is where a run was queued from.
type RunSource string

// Run sources.
const (
	RunSourceUI                   RunSource = "tfe-ui"
	RunSourceAPI                  RunSource = "tfe-api"
	RunSourceConfigurationVersion RunSource = "tfe-configuration-version"
)

// RunStatusGroup is a set of run statuses the list filter accepts as one.
type RunStatusGroup string

// Run status groups.
const (
	RunStatusGroupNonFinal    RunStatusGroup = "non_final"
	RunStatusGroupFinal       RunStatusGroup = "final"
	RunStatusGroupDiscardable RunStatusGroup = "discardable"
)

// Run is a run of a workspace.
type Run struct {
	ID     string
	Status RunStatus
	// StatusTimestamps has one "<status>-at" entry per status the run went through
	// ("plan-queueable-at" and the like).
	StatusTimestamps StatusTimestamps
	Message          string
	Source           RunSource
	TriggerReason    string

	HasChanges            bool
	AutoApply             bool
	AllowEmptyApply       bool
	AllowConfigGeneration bool
	IsDestroy             bool
	PlanOnly              bool
	Refresh               bool
	RefreshOnly           bool
	SavePlan              bool
	TargetAddrs           []string
	ReplaceAddrs          []string
	// Variables are the run-specific variable values, HCL literals.
	Variables []RunVariable

	Actions     RunActions
	Permissions RunPermissions

	CreatedAt time.Time
	// CanceledAt is zero unless the run was canceled.
	CanceledAt time.Time
	// ForceCancelAvailableAt is when ForceCancel becomes possible after a Cancel (the
	// page names it force_cancel_available_at); zero until a cancel was requested.
	ForceCancelAvailableAt time.Time

	// The related resources, by ID ("" when the service sends none).
	WorkspaceID            string
	ConfigurationVersionID string
	PlanID                 string
	ApplyID                string
	CostEstimateID         string
	CreatedByID            string
	TaskStageIDs           []string
	PolicyCheckIDs         []string

	// Workspace and CostEstimate are set when the response included them (a task stage
	// read with TaskStageIncludeRunWorkspace or TaskStageIncludeCostEstimate, a run read
	// or listed with RunIncludeCostEstimate).
	Workspace    *Workspace
	CostEstimate *CostEstimate
}

// RunVariable is a run-specific variable value.
type RunVariable struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunActions say what can be done with the run now.
type RunActions struct {
	IsCancelable      bool `json:"is-cancelable"`
	IsConfirmable     bool `json:"is-confirmable"`
	IsDiscardable     bool `json:"is-discardable"`
	IsForceCancelable bool `json:"is-force-cancelable"`
}

// RunPermissions are what the token may do with the run.
type RunPermissions struct {
	CanApply               bool `json:"can-apply"`
	CanCancel              bool `json:"can-cancel"`
	CanComment             bool `json:"can-comment"`
	CanDiscard             bool `json:"can-discard"`
	CanForceExecute        bool `json:"can-force-execute"`
	CanForceCancel         bool `json:"can-force-cancel"`
	CanOverridePolicyCheck bool `json:"can-override-policy-check"`
}

// CostEstimate is the cost estimate of a run.
type CostEstimate struct {
	ID string
	// Status is pending, queued, finished, errored, canceled or
	// skipped_due_to_targeting.
	Status           string
	StatusTimestamps StatusTimestamps
	// The monthly costs are decimal strings in US dollars, as the service sends them.
	PriorMonthlyCost        string
	ProposedMonthlyCost     string
	DeltaMonthlyCost        string
	ResourcesCount          int
	MatchedResourcesCount   int
	UnmatchedResourcesCount int
	ErrorMessage            string
}

// RunListOptions pages and filters RunsService.List. Without Operation the service
// leaves plan-only runs out; list every operation to see them.
type RunListOptions struct {
	ListOptions
	// Operation, Status, Source and AgentPoolNames keep runs matching any of their
	// values (filter[operation], filter[status], filter[source],
	// filter[agent_pool_names]).
	Operation      []RunOperation `url:"filter[operation],comma,omitempty"`
	Status         []RunStatus    `url:"filter[status],comma,omitempty"`
	Source         []RunSource    `url:"filter[source],comma,omitempty"`
	AgentPoolNames []string       `url:"filter[agent_pool_names],comma,omitempty"`
	// StatusGroup keeps the runs of one status group (filter[status_group]).
	StatusGroup RunStatusGroup `url:"filter[status_group],omitempty"`
	// Timeframe keeps runs created in one year: "year" for the past year, or a year
	// such as "2025" (filter[timeframe]). Empty: every run.
	Timeframe string `url:"filter[timeframe],omitempty"`
	// SearchUser and SearchCommit match a VCS user name or commit SHA; Search matches
	// either, a run ID or a message, and is ignored when one of the others is set.
	SearchUser   string `url:"search[user],omitempty"`
	SearchCommit string `url:"search[commit],omitempty"`
	Search       string `url:"search[basic],omitempty"`
	// Include asks for related resources with each run (include).
	Include []RunInclude `url:"include,comma,omitempty"`
}

// RunInclude names a related resource to include with a run.
type RunInclude string

// RunIncludeCostEstimate includes the run's cost estimate (Run.CostEstimate), one of
// the run endpoints' documented includes; tfc has no types for the others (plan,
// apply, created_by, configuration_version), which Do reaches.
const RunIncludeCostEstimate RunInclude = "cost_estimate"

// RunReadOptions are the options of RunsService.ReadWithOptions.
type RunReadOptions struct {
	Include []RunInclude `url:"include,comma,omitempty"`
}

// RunActionOptions are the options of RunsService.Apply, Discard and Cancel.
type RunActionOptions struct {
	// Comment is recorded with the action.
	Comment string `json:"comment,omitempty"`
}

// Read returns one run.
//
// GET /runs/:run_id. 404 (ErrNotFound): no such run, or not visible to the token.
func (s *RunsService) Read(ctx context.Context, runID string) (*Run, error) {
	return s.ReadWithOptions(ctx, runID, nil)
}

// ReadWithOptions is Read with related resources included: with
// RunIncludeCostEstimate, Run.CostEstimate is set when the run has one.
//
// GET /runs/:run_id?include=…
func (s *RunsService) ReadWithOptions(ctx context.Context, runID string, opts *RunReadOptions) (*Run, error) {
	if err := requireID("run ID", runID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("runs", runID)}
	if opts != nil {
		c.query = opts
	}
	return readOne(ctx, &s.client.pipeline, c, runFromWire)
}

// List returns one page of a workspace's runs, newest first. The service allows this
// endpoint 30 requests a minute, not a second.
//
// GET /workspaces/:workspace_id/runs, with the filters of opts.
func (s *RunsService) List(ctx context.Context, workspaceID string, opts *RunListOptions) (*Page[Run], error) {
	if err := requireID("workspace ID", workspaceID); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("workspaces", workspaceID, "runs"), opts, runFromWire)
}

// All iterates over every run of a workspace that opts keeps, 100 per request unless
// opts.PageSize says otherwise. opts is not modified. Every page is a request to the
// endpoint List reads, which the service allows 30 times a minute: past that it
// answers 429 and the pipeline waits out its Retry-After, so a long history is slow
// to walk; narrow it with opts' filters or stop the loop once you have what you need.
func (s *RunsService) All(ctx context.Context, workspaceID string, opts *RunListOptions) iter.Seq2[*Run, error] {
	var o RunListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[Run], error) {
		o.ListOptions = lo
		return s.List(ctx, workspaceID, &o)
	})
}

// RunOrganizationListOptions pages and filters RunsService.ListInOrganization: the
// filters of a workspace's list, and WorkspaceNames. Without Timeframe the service
// lists the runs of the past year.
type RunOrganizationListOptions struct {
	RunListOptions
	// WorkspaceNames keeps the runs of any of these workspaces (filter[workspace_names]).
	WorkspaceNames []string `url:"filter[workspace_names],comma,omitempty"`
}

// ListInOrganization returns one page of the runs of every workspace of organization,
// newest first. Its pagination carries no totals (the service leaves total-count and
// total-pages out here), so Page.Pagination's TotalCount and TotalPages read 0. The
// service allows this endpoint 30 requests a minute, not a second.
//
// GET /organizations/:organization_name/runs, with the filters of opts.
func (s *RunsService) ListInOrganization(ctx context.Context, organization string, opts *RunOrganizationListOptions) (*Page[Run], error) {
	if err := requireID("organization", organization); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.RunListOptions.validate(); err != nil {
			return nil, err
		}
		for _, name := range opts.WorkspaceNames {
			if name == "" || strings.Contains(name, ",") {
				return nil, invalidArg("workspace names filter", "values must be non-empty and free of commas")
			}
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("organizations", organization, "runs"), opts, runFromWire)
}

// AllInOrganization iterates over every run of organization that opts keeps, 100 per
// request unless opts.PageSize says otherwise, following next-page (the only way
// through a list without totals). opts is not modified. The 30 requests a minute of
// ListInOrganization apply to every page.
func (s *RunsService) AllInOrganization(ctx context.Context, organization string, opts *RunOrganizationListOptions) iter.Seq2[*Run, error] {
	var o RunOrganizationListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[Run], error) {
		o.ListOptions = lo
		return s.ListInOrganization(ctx, organization, &o)
	})
}

// Apply confirms a run that is paused for confirmation after its plan, so that it
// applies. The service queues the apply and answers 202 without a body; read the run
// to follow it. A run that is not waiting for confirmation gives an *APIError matching
// ErrConflict. Organization tokens may not apply runs.
//
// POST /runs/:run_id/actions/apply, with {"comment": …} when opts has one.
func (s *RunsService) Apply(ctx context.Context, runID string, opts *RunActionOptions) error {
	return s.action(ctx, runID, "apply", opts)
}

// Discard skips the rest of a run that is waiting for confirmation or priority
// (pending, planned, policy checked, policy override and the like). The service
// answers 202 without a body; a run that cannot be discarded now gives an *APIError
// matching ErrConflict.
//
// POST /runs/:run_id/actions/discard, with {"comment": …} when opts has one.
func (s *RunsService) Discard(ctx context.Context, runID string, opts *RunActionOptions) error {
	return s.action(ctx, runID, "discard", opts)
}

// Cancel interrupts a run that is planning or applying, as Ctrl-C would. The service
// answers 202 without a body; a run that is doing neither gives an *APIError matching
// ErrConflict.
//
// POST /runs/:run_id/actions/cancel, with {"comment": …} when opts has one.
func (s *RunsService) Cancel(ctx context.Context, runID string, opts *RunActionOptions) error {
	return s.action(ctx, runID, "cancel", opts)
}

// ForceCancel ends a run at once, after a Cancel and its cool-off period
// (Run.Actions.IsForceCancelable, Run.ForceCancelAvailableAt): the Terraform process is
// killed, in-flight state may be lost, and the workspace is unlocked. It needs admin
// access to the workspace and a user or team token. The service answers 202 without
// a body; a run that was not canceled first, is not planning or applying, or is still
// in its cool-off gives an *APIError matching ErrConflict.
//
// POST /runs/:run_id/actions/force-cancel, with {"comment": …} when opts has one.
func (s *RunsService) ForceCancel(ctx context.Context, runID string, opts *RunActionOptions) error {
	return s.action(ctx, runID, "force-cancel", opts)
}

// ForceExecute runs a pending run now, discarding the run that holds its workspace's
// lock ("Run this plan now"). It needs permission to apply runs and a user or team
// token. The service answers 202 without a body; a run that is not pending, or a
// workspace that is not locked, gives an *APIError matching ErrForbidden (403); a
// lock holder that cannot be discarded, ErrConflict.
//
// POST /runs/:run_id/actions/force-execute, without a body.
func (s *RunsService) ForceExecute(ctx context.Context, runID string) error {
	return s.action(ctx, runID, "force-execute", nil)
}

// action POSTs one of the run actions. Like every POST it is retried only when the
// service surely did not act on it.
func (s *RunsService) action(ctx context.Context, runID, action string, opts *RunActionOptions) error {
	if err := requireID("run ID", runID); err != nil {
		return err
	}
	c := call{method: http.MethodPost, path: apiPath("runs", runID, "actions", action)}
	if opts != nil && opts.Comment != "" {
		c.body = opts
	}
	return s.client.do(ctx, c, nil)
}

func (o *RunListOptions) validate() error {
	if err := o.ListOptions.validate(); err != nil {
		return err
	}
	for _, f := range []struct {
		name   string
		values []string
	}{
		{"operation filter", stringsOf(o.Operation)},
		{"status filter", stringsOf(o.Status)},
		{"source filter", stringsOf(o.Source)},
		{"agent pool names filter", o.AgentPoolNames},
	} {
		for _, v := range f.values {
			if v == "" || strings.Contains(v, ",") {
				return invalidArg(f.name, "values must be non-empty and free of commas")
			}
		}
	}
	switch o.StatusGroup {
	case "", RunStatusGroupNonFinal, RunStatusGroupFinal, RunStatusGroupDiscardable:
	default:
		return invalidArg("status group", fmt.Sprintf("%q is not non_final, final or discardable", o.StatusGroup))
	}
	if o.Timeframe != "" && o.Timeframe != "year" {
		if y, err := strconv.Atoi(o.Timeframe); err != nil || y < 1000 || y > 9999 {
			return invalidArg("timeframe", `must be "year" or a year such as "2025"`)
		}
	}
	return nil
}

func stringsOf[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// Wire types and conversions for runs and cost estimates.

const typeCostEstimates = "cost-estimates"

type runAttrs struct {
	Status                RunStatus        `json:"status"`
	StatusTimestamps      StatusTimestamps `json:"status-timestamps"`
	Message               string           `json:"message"`
	Source                RunSource        `json:"source"`
	TriggerReason         string           `json:"trigger-reason"`
	HasChanges            bool             `json:"has-changes"`
	AutoApply             bool             `json:"auto-apply"`
	AllowEmptyApply       bool             `json:"allow-empty-apply"`
	AllowConfigGeneration bool             `json:"allow-config-generation"`
	IsDestroy             bool             `json:"is-destroy"`
	PlanOnly              bool             `json:"plan-only"`
	Refresh               bool             `json:"refresh"`
	RefreshOnly           bool             `json:"refresh-only"`
	SavePlan              bool             `json:"save-plan"`
	TargetAddrs           []string         `json:"target-addrs"`
	ReplaceAddrs          []string         `json:"replace-addrs"`
	Variables             []RunVariable    `json:"variables"`
	Actions               RunActions       `json:"actions"`
	Permissions           RunPermissions   `json:"permissions"`
	CreatedAt             time.Time        `json:"created-at"`
	CanceledAt            time.Time        `json:"canceled-at"`
	// The run page spells it force_cancel_available_at in its prose; the service's
	// attributes are dashed. Both are read.
	ForceCancelAvailableAt      time.Time `json:"force-cancel-available-at"`
	ForceCancelAvailableAtSnake time.Time `json:"force_cancel_available_at"`
}

type runRels struct {
	Workspace            *toOne  `json:"workspace"`
	ConfigurationVersion *toOne  `json:"configuration-version"`
	Plan                 *toOne  `json:"plan"`
	Apply                *toOne  `json:"apply"`
	CostEstimate         *toOne  `json:"cost-estimate"`
	CreatedBy            *toOne  `json:"created-by"`
	TaskStages           *toMany `json:"task-stages"`
	PolicyChecks         *toMany `json:"policy-checks"`
}

func runFromWire(r *resource[runAttrs, runRels], inc *includes) Run {
	a, rel := &r.Attributes, &r.Relationships
	run := Run{
		ID:                     r.ID,
		Status:                 a.Status,
		StatusTimestamps:       a.StatusTimestamps,
		Message:                a.Message,
		Source:                 a.Source,
		TriggerReason:          a.TriggerReason,
		HasChanges:             a.HasChanges,
		AutoApply:              a.AutoApply,
		AllowEmptyApply:        a.AllowEmptyApply,
		AllowConfigGeneration:  a.AllowConfigGeneration,
		IsDestroy:              a.IsDestroy,
		PlanOnly:               a.PlanOnly,
		Refresh:                a.Refresh,
		RefreshOnly:            a.RefreshOnly,
		SavePlan:               a.SavePlan,
		TargetAddrs:            a.TargetAddrs,
		ReplaceAddrs:           a.ReplaceAddrs,
		Variables:              a.Variables,
		Actions:                a.Actions,
		Permissions:            a.Permissions,
		CreatedAt:              a.CreatedAt,
		CanceledAt:             a.CanceledAt,
		ForceCancelAvailableAt: cmp.Or(a.ForceCancelAvailableAt, a.ForceCancelAvailableAtSnake),
		WorkspaceID:            rel.Workspace.id(),
		ConfigurationVersionID: rel.ConfigurationVersion.id(),
		PlanID:                 rel.Plan.id(),
		ApplyID:                rel.Apply.id(),
		CostEstimateID:         rel.CostEstimate.id(),
		CreatedByID:            rel.CreatedBy.id(),
		TaskStageIDs:           rel.TaskStages.ids(),
		PolicyCheckIDs:         rel.PolicyChecks.ids(),
	}
	run.Workspace = includedWorkspace(inc, run.WorkspaceID)
	run.CostEstimate = includedCostEstimate(inc, run.CostEstimateID)
	return run
}

// includedRun returns the included run with id, or nil when the response did not
// include it.
func includedRun(inc *includes, id string) *Run {
	if it := inc.find(typeRuns, id); it != nil {
		if r, ok := decodeIncluded[runAttrs, runRels](it); ok {
			run := runFromWire(&r, inc)
			return &run
		}
	}
	return nil
}

type costEstimateAttrs struct {
	Status                  string           `json:"status"`
	StatusTimestamps        StatusTimestamps `json:"status-timestamps"`
	PriorMonthlyCost        string           `json:"prior-monthly-cost"`
	ProposedMonthlyCost     string           `json:"proposed-monthly-cost"`
	DeltaMonthlyCost        string           `json:"delta-monthly-cost"`
	ResourcesCount          int              `json:"resources-count"`
	MatchedResourcesCount   int              `json:"matched-resources-count"`
	UnmatchedResourcesCount int              `json:"unmatched-resources-count"`
	ErrorMessage            string           `json:"error-message"`
}

// includedCostEstimate returns the included cost estimate with id, or nil when the
// response did not include it.
func includedCostEstimate(inc *includes, id string) *CostEstimate {
	it := inc.find(typeCostEstimates, id)
	if it == nil {
		return nil
	}
	r, ok := decodeIncluded[costEstimateAttrs, noRelationships](it)
	if !ok {
		return nil
	}
	a := &r.Attributes
	return &CostEstimate{
		ID: r.ID, Status: a.Status, StatusTimestamps: a.StatusTimestamps,
		PriorMonthlyCost: a.PriorMonthlyCost, ProposedMonthlyCost: a.ProposedMonthlyCost, DeltaMonthlyCost: a.DeltaMonthlyCost,
		ResourcesCount: a.ResourcesCount, MatchedResourcesCount: a.MatchedResourcesCount,
		UnmatchedResourcesCount: a.UnmatchedResourcesCount, ErrorMessage: a.ErrorMessage,
	}
}
