package tfc

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// TaskStagesService reads the task stages of runs and overrides failed ones. A run has
// one task stage per stage that has run tasks or policy evaluations. Wire type
// "task-stages", IDs "ts-…".
type TaskStagesService service

// TaskStageStatus is the state of a task stage. Values the service adds later are kept
// as they are.
type TaskStageStatus string

// Task stage statuses.
const (
	TaskStagePending          TaskStageStatus = "pending"
	TaskStageRunning          TaskStageStatus = "running"
	TaskStagePassed           TaskStageStatus = "passed"
	TaskStageFailed           TaskStageStatus = "failed"
	TaskStageAwaitingOverride TaskStageStatus = "awaiting_override"
	TaskStageErrored          TaskStageStatus = "errored"
	TaskStageCanceled         TaskStageStatus = "canceled"
	TaskStageUnreachable      TaskStageStatus = "unreachable"
)

// IsFinal reports whether the stage will not change any more on its own:
// awaiting_override waits for a person, not for the service.
func (s TaskStageStatus) IsFinal() bool {
	switch s {
	case TaskStagePassed, TaskStageFailed, TaskStageAwaitingOverride, TaskStageErrored,
		TaskStageCanceled, TaskStageUnreachable:
		return true
	}
	return false
}

// TaskStage is the set of run tasks and policy evaluations of one stage of a run.
type TaskStage struct {
	ID               string
	Stage            Stage
	Status           TaskStageStatus
	StatusTimestamps StatusTimestamps
	// Duration is how long the stage ran, when the service reports it.
	Duration    time.Duration
	Permissions TaskStagePermissions
	// IsOverridable reports whether an override would be accepted now
	// (actions.is-overridable).
	IsOverridable bool
	RunID         string
	// TaskResults are the stage's run task results. Read with
	// TaskStageIncludeTaskResults for full objects; otherwise each holds only its ID.
	TaskResults []*TaskResult
	// PolicyEvaluations are the stage's policy evaluations. Read with
	// TaskStageIncludePolicyEvaluations for full objects; otherwise each holds only its
	// ID.
	PolicyEvaluations []*PolicyEvaluation
	// Run is the stage's run when it was included (TaskStageIncludeRun), with its
	// Workspace when that was too (TaskStageIncludeRunWorkspace); nil otherwise.
	Run *Run
	// CostEstimate is the run's cost estimate when it was included
	// (TaskStageIncludeCostEstimate); nil otherwise.
	CostEstimate *CostEstimate
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TaskStagePermissions are what the token may do with a task stage.
type TaskStagePermissions struct {
	CanOverridePolicy bool
	CanOverrideTasks  bool
	CanOverride       bool
}

// TaskStageInclude names related resources to embed in a task stage response.
type TaskStageInclude string

// Values for TaskStageReadOptions.Include and TaskStageListOptions.Include.
const (
	TaskStageIncludeTaskResults       TaskStageInclude = "task_results"
	TaskStageIncludePolicyEvaluations TaskStageInclude = "policy_evaluations"
	TaskStageIncludeRun               TaskStageInclude = "run"
	TaskStageIncludeRunWorkspace      TaskStageInclude = "run.workspace"
	// TaskStageIncludeCostEstimate asks for the run's cost estimate. The task stages
	// page lists only run, run.workspace, task_results and policy_evaluations: a
	// service that refuses an include it does not know answers 400 (an *APIError);
	// read the stage again without it.
	TaskStageIncludeCostEstimate TaskStageInclude = "cost_estimate"
)

// TaskStageListOptions pages TaskStagesService.List.
type TaskStageListOptions struct {
	ListOptions
	Include []TaskStageInclude `url:"include,comma,omitempty"`
}

// TaskStageReadOptions are the options of TaskStagesService.Read.
type TaskStageReadOptions struct {
	Include []TaskStageInclude `url:"include,comma,omitempty"`
}

// TaskStageOverrideOptions are the options of TaskStagesService.Override.
type TaskStageOverrideOptions struct {
	// Comment is recorded with the override.
	Comment string `json:"comment,omitempty"`
}

// List returns one page of the task stages of a run.
//
// GET /runs/:run_id/task-stages
func (s *TaskStagesService) List(ctx context.Context, runID string, opts *TaskStageListOptions) (*Page[TaskStage], error) {
	if err := requireID("run ID", runID); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.ListOptions.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("runs", runID, "task-stages"), opts, taskStageFromWire)
}

// All iterates over every task stage of a run. opts is not modified.
func (s *TaskStagesService) All(ctx context.Context, runID string, opts *TaskStageListOptions) iter.Seq2[*TaskStage, error] {
	var o TaskStageListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[TaskStage], error) {
		o.ListOptions = lo
		return s.List(ctx, runID, &o)
	})
}

// Read returns one task stage.
//
// GET /task-stages/:id, with include=task_results,policy_evaluations,… if asked.
func (s *TaskStagesService) Read(ctx context.Context, taskStageID string, opts *TaskStageReadOptions) (*TaskStage, error) {
	if err := requireID("task stage ID", taskStageID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("task-stages", taskStageID), query: opts}
	return readOne(ctx, &s.client.pipeline, c, taskStageFromWire)
}

// Override lets a run continue past a stage that is awaiting override (a failed
// mandatory run task or policy). A stage that cannot be overridden gives an *APIError
// matching ErrConflict.
//
// POST /task-stages/:id/actions/override, with {"comment": …} when opts has one.
func (s *TaskStagesService) Override(ctx context.Context, taskStageID string, opts *TaskStageOverrideOptions) (*TaskStage, error) {
	if err := requireID("task stage ID", taskStageID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodPost, path: apiPath("task-stages", taskStageID, "actions", "override")}
	if opts != nil && opts.Comment != "" {
		c.body = opts
	}
	return readOne(ctx, &s.client.pipeline, c, taskStageFromWire)
}

// TaskResultsService reads task results (wire type "task-results", IDs "taskrs-…") and
// sends the callbacks of run task integrations.
type TaskResultsService service

// TaskResultStatus is the state of one run task's result. Values the service adds
// later are kept as they are.
type TaskResultStatus string

// Task result statuses. A callback may only send running, passed or failed.
const (
	TaskResultPending     TaskResultStatus = "pending"
	TaskResultRunning     TaskResultStatus = "running"
	TaskResultPassed      TaskResultStatus = "passed"
	TaskResultFailed      TaskResultStatus = "failed"
	TaskResultErrored     TaskResultStatus = "errored"
	TaskResultCanceled    TaskResultStatus = "canceled"
	TaskResultUnreachable TaskResultStatus = "unreachable"
)

// IsFinal reports whether the result will not change any more.
func (s TaskResultStatus) IsFinal() bool {
	switch s {
	case TaskResultPassed, TaskResultFailed, TaskResultErrored, TaskResultCanceled, TaskResultUnreachable:
		return true
	}
	return false
}

// TaskResult is the result of one run task in one task stage.
type TaskResult struct {
	ID               string
	Status           TaskResultStatus
	Message          string
	URL              string
	StatusTimestamps StatusTimestamps
	// Duration is how long the task ran, when the service reports it.
	Duration                      time.Duration
	TaskID                        string
	TaskName                      string
	TaskURL                       string
	Stage                         Stage
	IsSpeculative                 bool
	WorkspaceTaskID               string
	WorkspaceTaskEnforcementLevel EnforcementLevel
	AgentPoolID                   string
	// OutcomesCount is the number of detailed outcomes the integration sent.
	OutcomesCount int
	TaskStageID   string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Read returns one task result.
//
// GET /task-results/:id
func (s *TaskResultsService) Read(ctx context.Context, taskResultID string) (*TaskResult, error) {
	if err := requireID("task result ID", taskResultID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("task-results", taskResultID)}
	return readOne(ctx, &s.client.pipeline, c, taskResultFromWire)
}

// Wire types and conversions for task stages and results.

const typeTaskResults = "task-results"

type taskStageAttrs struct {
	Stage            Stage            `json:"stage"`
	Status           TaskStageStatus  `json:"status"`
	StatusTimestamps StatusTimestamps `json:"status-timestamps"`
	Duration         millis           `json:"duration"`
	Permissions      struct {
		CanOverridePolicy bool `json:"can-override-policy"`
		CanOverrideTasks  bool `json:"can-override-tasks"`
		CanOverride       bool `json:"can-override"`
	} `json:"permissions"`
	Actions struct {
		IsOverridable bool `json:"is-overridable"`
	} `json:"actions"`
	CreatedAt time.Time `json:"created-at"`
	UpdatedAt time.Time `json:"updated-at"`
}

type taskStageRels struct {
	Run               *toOne  `json:"run"`
	TaskResults       *toMany `json:"task-results"`
	PolicyEvaluations *toMany `json:"policy-evaluations"`
}

func taskStageFromWire(r *resource[taskStageAttrs, taskStageRels], inc *includes) TaskStage {
	a := &r.Attributes
	ts := TaskStage{
		ID:               r.ID,
		Stage:            a.Stage,
		Status:           a.Status,
		StatusTimestamps: a.StatusTimestamps,
		Duration:         a.Duration.duration(),
		Permissions:      TaskStagePermissions(a.Permissions),
		IsOverridable:    a.Actions.IsOverridable,
		RunID:            r.Relationships.Run.id(),
		CreatedAt:        a.CreatedAt,
		UpdatedAt:        a.UpdatedAt,
	}
	if rel := r.Relationships.TaskResults; rel != nil && len(rel.Data) > 0 {
		ts.TaskResults = make([]*TaskResult, len(rel.Data))
		for i, ref := range rel.Data {
			ts.TaskResults[i] = &TaskResult{ID: ref.ID}
			if it := inc.find(typeTaskResults, ref.ID); it != nil {
				if tr, ok := decodeIncluded[taskResultAttrs, taskResultRels](it); ok {
					*ts.TaskResults[i] = taskResultFromWire(&tr, inc)
				}
			}
		}
	}
	if rel := r.Relationships.PolicyEvaluations; rel != nil && len(rel.Data) > 0 {
		ts.PolicyEvaluations = make([]*PolicyEvaluation, len(rel.Data))
		for i, ref := range rel.Data {
			ts.PolicyEvaluations[i] = includedPolicyEvaluation(inc, ref.ID)
		}
	}
	if inc != nil {
		ts.Run = includedRun(inc, ts.RunID)
		if ts.Run != nil {
			ts.CostEstimate = ts.Run.CostEstimate
		}
		if ts.CostEstimate == nil {
			// Without the run the cost estimate cannot be related; a stage's response
			// includes at most the one of its run.
			ts.CostEstimate = includedCostEstimate(inc, inc.onlyID(typeCostEstimates))
		}
	}
	return ts
}

type taskResultAttrs struct {
	Status                        TaskResultStatus `json:"status"`
	Message                       string           `json:"message"`
	URL                           string           `json:"url"`
	StatusTimestamps              StatusTimestamps `json:"status-timestamps"`
	Duration                      millis           `json:"duration"`
	TaskID                        string           `json:"task-id"`
	TaskName                      string           `json:"task-name"`
	TaskURL                       string           `json:"task-url"`
	Stage                         Stage            `json:"stage"`
	IsSpeculative                 bool             `json:"is-speculative"`
	WorkspaceTaskID               string           `json:"workspace-task-id"`
	WorkspaceTaskEnforcementLevel EnforcementLevel `json:"workspace-task-enforcement-level"`
	AgentPoolID                   string           `json:"agent-pool-id"`
	OutcomesCount                 int              `json:"task-result-outcomes-count"`
	CreatedAt                     time.Time        `json:"created-at"`
	UpdatedAt                     time.Time        `json:"updated-at"`
}

type taskResultRels struct {
	TaskStage *toOne `json:"task-stage"`
}

func taskResultFromWire(r *resource[taskResultAttrs, taskResultRels], _ *includes) TaskResult {
	a := &r.Attributes
	return TaskResult{
		ID:                            r.ID,
		Status:                        a.Status,
		Message:                       a.Message,
		URL:                           a.URL,
		StatusTimestamps:              a.StatusTimestamps,
		Duration:                      a.Duration.duration(),
		TaskID:                        a.TaskID,
		TaskName:                      a.TaskName,
		TaskURL:                       a.TaskURL,
		Stage:                         a.Stage,
		IsSpeculative:                 a.IsSpeculative,
		WorkspaceTaskID:               a.WorkspaceTaskID,
		WorkspaceTaskEnforcementLevel: a.WorkspaceTaskEnforcementLevel,
		AgentPoolID:                   a.AgentPoolID,
		OutcomesCount:                 a.OutcomesCount,
		TaskStageID:                   r.Relationships.TaskStage.id(),
		CreatedAt:                     a.CreatedAt,
		UpdatedAt:                     a.UpdatedAt,
	}
}
