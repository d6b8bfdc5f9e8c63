package tfc

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// PolicyEvaluationsService lists the policy evaluations of task stages: the agent-based
// evaluation of a run's OPA or Sentinel policy sets that replaced policy checks on HCP
// Terraform. Wire type "policy-evaluations", IDs "poleval-…". Each evaluation's
// per-policy results are its policy set outcomes (PolicySetOutcomesService).
type PolicyEvaluationsService service

// PolicyEvaluationStatus is the state of a policy evaluation. Values the service adds
// later are kept as they are.
type PolicyEvaluationStatus string

// Policy evaluation statuses.
const (
	PolicyEvaluationPending     PolicyEvaluationStatus = "pending"
	PolicyEvaluationQueued      PolicyEvaluationStatus = "queued"
	PolicyEvaluationRunning     PolicyEvaluationStatus = "running"
	PolicyEvaluationPassed      PolicyEvaluationStatus = "passed"
	PolicyEvaluationFailed      PolicyEvaluationStatus = "failed"
	PolicyEvaluationErrored     PolicyEvaluationStatus = "errored"
	PolicyEvaluationCanceled    PolicyEvaluationStatus = "canceled"
	PolicyEvaluationUnreachable PolicyEvaluationStatus = "unreachable"
	PolicyEvaluationOverridden  PolicyEvaluationStatus = "overridden"
)

// IsFinal reports whether the evaluation is over: passed, failed, errored, canceled,
// unreachable or overridden.
func (s PolicyEvaluationStatus) IsFinal() bool {
	switch s {
	case PolicyEvaluationPassed, PolicyEvaluationFailed, PolicyEvaluationErrored, PolicyEvaluationCanceled,
		PolicyEvaluationUnreachable, PolicyEvaluationOverridden:
		return true
	}
	return false
}

// PolicyKind is the policy language of an evaluation.
type PolicyKind string

// Policy kinds.
const (
	PolicyKindOPA      PolicyKind = "opa"
	PolicyKindSentinel PolicyKind = "sentinel"
)

// PolicyEvaluation is the evaluation of the policy sets of a task stage.
type PolicyEvaluation struct {
	ID     string
	Status PolicyEvaluationStatus
	// PolicyKind is "opa" or "sentinel"; PolicyToolVersion the version of that tool.
	PolicyKind        PolicyKind
	PolicyToolVersion string
	// ResultCount counts the outcomes of every policy of every policy set evaluated.
	ResultCount PolicyResultCount
	// StatusTimestamps has one "<status>-at" entry per status the evaluation went
	// through.
	StatusTimestamps StatusTimestamps
	// TaskStageID is relationships.policy-attachable: the task stage evaluated. Empty
	// where the service does not send it (a task stage's included evaluations).
	TaskStageID string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PolicyResultCount counts the outcomes of a policy evaluation or a policy set. A count
// the service sends in a form tfc cannot read is skipped by lenient decoding and reads
// as zero, so a gate that must not pass on a misread should decide on the outcomes
// themselves (PolicySetOutcome.Failed) or the evaluation's Status, not on zero counts.
type PolicyResultCount struct {
	AdvisoryFailed  int `json:"advisory-failed"`
	Errored         int `json:"errored"`
	MandatoryFailed int `json:"mandatory-failed"`
	Passed          int `json:"passed"`
}

// PolicyEvaluationListOptions pages PolicyEvaluationsService.List.
type PolicyEvaluationListOptions struct {
	ListOptions
}

// List returns one page of the policy evaluations of a task stage. A stage without
// policy sets has none.
//
// GET /task-stages/:task_stage_id/policy-evaluations. 404 (ErrNotFound): no such task
// stage, or not visible to the token.
func (s *PolicyEvaluationsService) List(ctx context.Context, taskStageID string, opts *PolicyEvaluationListOptions) (*Page[PolicyEvaluation], error) {
	if err := requireID("task stage ID", taskStageID); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.ListOptions.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("task-stages", taskStageID, "policy-evaluations"), opts, policyEvaluationFromWire)
}

// All iterates over every policy evaluation of a task stage, 100 per request unless
// opts.PageSize says otherwise. opts is not modified.
func (s *PolicyEvaluationsService) All(ctx context.Context, taskStageID string, opts *PolicyEvaluationListOptions) iter.Seq2[*PolicyEvaluation, error] {
	var o PolicyEvaluationListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[PolicyEvaluation], error) {
		o.ListOptions = lo
		return s.List(ctx, taskStageID, &o)
	})
}

// PolicySetOutcomesService reads the per-policy results of policy evaluations: one
// policy set outcome per policy set evaluated, holding the outcome of each of its
// policies. Wire type "policy-set-outcomes", IDs "psout-…".
type PolicySetOutcomesService service

// PolicySetOutcome is the result of one policy set in a policy evaluation.
type PolicySetOutcome struct {
	ID                   string
	PolicySetName        string
	PolicySetDescription string
	// Outcomes are the results of the set's policies, one each.
	Outcomes []PolicyOutcome
	// Error is the set's error message, "" when it evaluated.
	Error string
	// Overridable reports whether a failure of this set may be overridden (the task
	// stage's override); false where the service does not say.
	Overridable       bool
	ResultCount       PolicyResultCount
	PolicyToolVersion string
	// PolicyEvaluationID is relationships.policy-evaluation.
	PolicyEvaluationID string
}

// Failed returns the outcomes of the set's policies that did not pass: failed or
// errored, advisory ones included, and any whose status could not be read (""), so
// that an odd value on the wire never counts as a pass.
func (o *PolicySetOutcome) Failed() []PolicyOutcome {
	var out []PolicyOutcome
	for _, p := range o.Outcomes {
		if p.Status != PolicyOutcomePassed {
			out = append(out, p)
		}
	}
	return out
}

// PolicyOutcome is the result of one policy.
type PolicyOutcome struct {
	PolicyName  string
	Description string
	Status      PolicyOutcomeStatus
	// EnforcementLevel is "advisory" or "mandatory"; errored outcomes have none.
	EnforcementLevel EnforcementLevel
	// Query is the OPA query the policy was evaluated with
	// ("data.terraform.main.main").
	Query string
	// Output holds the lines the policy printed, where the service sends them
	// (output[].print; not on the API page, but sent by HCP Terraform and read by
	// go-tfe).
	Output []string
}

// PolicyOutcomeStatus is the result of one policy: passed, failed or errored. Values
// the service adds later are kept as they are.
type PolicyOutcomeStatus string

// Policy outcome statuses.
const (
	PolicyOutcomePassed  PolicyOutcomeStatus = "passed"
	PolicyOutcomeFailed  PolicyOutcomeStatus = "failed"
	PolicyOutcomeErrored PolicyOutcomeStatus = "errored"
)

// PolicySetOutcomeListOptions pages and filters PolicySetOutcomesService.List.
type PolicySetOutcomeListOptions struct {
	ListOptions
	// Filters keep the policy sets with at least one outcome matching any of them; the
	// whole set is returned, passing outcomes included. Filter n is sent as
	// filter[n][status] and filter[n][enforcementLevel].
	Filters []PolicySetOutcomeFilter
}

// PolicySetOutcomeFilter matches policy outcomes by status and, for passed and failed,
// by enforcement level.
type PolicySetOutcomeFilter struct {
	// Status is required: passed, failed or errored.
	Status PolicyOutcomeStatus
	// EnforcementLevel, advisory or mandatory, narrows a passed or failed status;
	// errored outcomes have no enforcement level.
	EnforcementLevel EnforcementLevel
}

// List returns one page of the policy set outcomes of a policy evaluation.
//
// GET /policy-evaluations/:policy_evaluation_id/policy-set-outcomes, with
// filter[n][status] and filter[n][enforcementLevel] for opts.Filters. A filter with an
// unknown status, or an enforcement level on an errored status, is refused before the
// request. 404 (ErrNotFound): no such evaluation, or not visible to the token.
func (s *PolicySetOutcomesService) List(ctx context.Context, policyEvaluationID string, opts *PolicySetOutcomeListOptions) (*Page[PolicySetOutcome], error) {
	if err := requireID("policy evaluation ID", policyEvaluationID); err != nil {
		return nil, err
	}
	var q *policySetOutcomeQuery
	if opts != nil {
		if err := opts.validate(); err != nil {
			return nil, err
		}
		q = &policySetOutcomeQuery{ListOptions: opts.ListOptions, Filters: opts.Filters}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("policy-evaluations", policyEvaluationID, "policy-set-outcomes"), q, policySetOutcomeFromWire)
}

// All iterates over every policy set outcome of a policy evaluation that opts.Filters
// keep, 100 per request unless opts.PageSize says otherwise. opts is not modified.
func (s *PolicySetOutcomesService) All(ctx context.Context, policyEvaluationID string, opts *PolicySetOutcomeListOptions) iter.Seq2[*PolicySetOutcome, error] {
	var o PolicySetOutcomeListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[PolicySetOutcome], error) {
		o.ListOptions = lo
		return s.List(ctx, policyEvaluationID, &o)
	})
}

// Read returns one policy set outcome.
//
// GET /policy-set-outcomes/:policy_set_outcome_id. 404 (ErrNotFound): no such outcome,
// or not visible to the token.
func (s *PolicySetOutcomesService) Read(ctx context.Context, policySetOutcomeID string) (*PolicySetOutcome, error) {
	if err := requireID("policy set outcome ID", policySetOutcomeID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("policy-set-outcomes", policySetOutcomeID)}
	return readOne(ctx, &s.client.pipeline, c, policySetOutcomeFromWire)
}

func (o *PolicySetOutcomeListOptions) validate() error {
	if err := o.ListOptions.validate(); err != nil {
		return err
	}
	for i, f := range o.Filters {
		name := fmt.Sprintf("filter %d", i)
		switch f.Status {
		case PolicyOutcomePassed, PolicyOutcomeFailed:
		case PolicyOutcomeErrored:
			if f.EnforcementLevel != "" {
				return invalidArg(name, "errored outcomes have no enforcement level")
			}
		default:
			return invalidArg(name, `status must be "passed", "failed" or "errored"`)
		}
		if f.EnforcementLevel != "" && !f.EnforcementLevel.valid() {
			return invalidArg(name, `enforcement level must be "advisory" or "mandatory"`)
		}
	}
	return nil
}

// policySetOutcomeQuery is the query of a policy set outcome list: go-querystring
// cannot number the filters itself.
type policySetOutcomeQuery struct {
	ListOptions
	Filters outcomeFilters `url:"filter,omitempty"`
}

type outcomeFilters []PolicySetOutcomeFilter

// EncodeValues writes filter[n][status] and filter[n][enforcementLevel].
func (f outcomeFilters) EncodeValues(key string, v *url.Values) error {
	for i, filter := range f {
		prefix := fmt.Sprintf("%s[%d]", key, i)
		v.Set(prefix+"[status]", string(filter.Status))
		if filter.EnforcementLevel != "" {
			v.Set(prefix+"[enforcementLevel]", string(filter.EnforcementLevel))
		}
	}
	return nil
}

// Wire types and conversions for policy evaluations and policy set outcomes.

const (
	typePolicyEvaluations = "policy-evaluations"
	typePolicySetOutcomes = "policy-set-outcomes"
)

type policyEvaluationAttrs struct {
	Status            PolicyEvaluationStatus `json:"status"`
	PolicyKind        PolicyKind             `json:"policy-kind"`
	PolicyToolVersion string                 `json:"policy-tool-version"`
	ResultCount       PolicyResultCount      `json:"result-count"`
	StatusTimestamps  StatusTimestamps       `json:"status-timestamps"`
	CreatedAt         time.Time              `json:"created-at"`
	UpdatedAt         time.Time              `json:"updated-at"`
}

type policyEvaluationRels struct {
	PolicyAttachable *toOne `json:"policy-attachable"`
}

func policyEvaluationFromWire(r *resource[policyEvaluationAttrs, policyEvaluationRels], _ *includes) PolicyEvaluation {
	a := &r.Attributes
	return PolicyEvaluation{
		ID:                r.ID,
		Status:            a.Status,
		PolicyKind:        a.PolicyKind,
		PolicyToolVersion: a.PolicyToolVersion,
		ResultCount:       a.ResultCount,
		StatusTimestamps:  a.StatusTimestamps,
		TaskStageID:       r.Relationships.PolicyAttachable.id(),
		CreatedAt:         a.CreatedAt,
		UpdatedAt:         a.UpdatedAt,
	}
}

// includedPolicyEvaluation returns the included policy evaluation with id, or a stub
// that holds only the ID.
func includedPolicyEvaluation(inc *includes, id string) *PolicyEvaluation {
	if it := inc.find(typePolicyEvaluations, id); it != nil {
		if r, ok := decodeIncluded[policyEvaluationAttrs, policyEvaluationRels](it); ok {
			pe := policyEvaluationFromWire(&r, inc)
			return &pe
		}
	}
	return &PolicyEvaluation{ID: id}
}

type policySetOutcomeAttrs struct {
	Outcomes             []policyOutcomeW  `json:"outcomes"`
	Error                string            `json:"error"`
	Overridable          bool              `json:"overridable"`
	PolicySetName        string            `json:"policy-set-name"`
	PolicySetDescription string            `json:"policy-set-description"`
	ResultCount          PolicyResultCount `json:"result-count"`
	PolicyToolVersion    string            `json:"policy-tool-version"`
}

// policyOutcomeW is one entry of outcomes; its keys are snake_case on the wire.
type policyOutcomeW struct {
	EnforcementLevel EnforcementLevel    `json:"enforcement_level"`
	Query            string              `json:"query"`
	Status           PolicyOutcomeStatus `json:"status"`
	PolicyName       string              `json:"policy_name"`
	Description      string              `json:"description"`
	Output           []struct {
		Print string `json:"print"`
	} `json:"output"`
}

type policySetOutcomeRels struct {
	PolicyEvaluation *toOne `json:"policy-evaluation"`
}

func policySetOutcomeFromWire(r *resource[policySetOutcomeAttrs, policySetOutcomeRels], _ *includes) PolicySetOutcome {
	a := &r.Attributes
	o := PolicySetOutcome{
		ID:                   r.ID,
		PolicySetName:        a.PolicySetName,
		PolicySetDescription: a.PolicySetDescription,
		Error:                a.Error,
		Overridable:          a.Overridable,
		ResultCount:          a.ResultCount,
		PolicyToolVersion:    a.PolicyToolVersion,
		PolicyEvaluationID:   r.Relationships.PolicyEvaluation.id(),
	}
	if len(a.Outcomes) > 0 {
		o.Outcomes = make([]PolicyOutcome, len(a.Outcomes))
		for i, w := range a.Outcomes {
			p := PolicyOutcome{PolicyName: w.PolicyName, Description: w.Description, Status: w.Status,
				EnforcementLevel: w.EnforcementLevel, Query: w.Query}
			for _, line := range w.Output {
				p.Output = append(p.Output, line.Print)
			}
			o.Outcomes[i] = p
		}
	}
	return o
}
