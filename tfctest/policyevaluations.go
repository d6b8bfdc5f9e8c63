package tfctest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/tfkit/tfc"
)

// PolicyEvaluation is an agent-based policy evaluation a run goes through, given to
// StartRun with WithPolicyEvaluation.
type PolicyEvaluation struct {
	// Stage is the run stage the evaluation belongs to; the default is post_plan,
	// where HCP Terraform evaluates policies.
	Stage tfc.Stage
	// Kind is the policy language, opa by default; ToolVersion its version ("0.61.0"
	// by default).
	Kind        tfc.PolicyKind
	ToolVersion string
	// PolicySets are the policy sets evaluated. The evaluation errors when a set has
	// an Error or an errored outcome, fails when a mandatory policy failed, and passes
	// otherwise (advisory failures are counted, never blocking).
	PolicySets []PolicySet
}

// PolicySet is the result of one policy set in a policy evaluation, served as a
// policy set outcome.
type PolicySet struct {
	Name        string
	Description string
	// Overridable lets the run's task stage be overridden when the set's mandatory
	// policies fail; otherwise such a failure fails the stage and stops the run.
	Overridable bool
	// Error is the set's error message; a set with one errors the evaluation.
	Error string
	// Outcomes are its policies' results (PolicyName, Status, EnforcementLevel,
	// Query, Description, Output).
	Outcomes []tfc.PolicyOutcome
}

// WithPolicyEvaluation adds a policy evaluation to the run, at pe.Stage. It may be
// given more than once.
func WithPolicyEvaluation(pe PolicyEvaluation) RunOption {
	return func(s *runSettings) {
		pe.PolicySets = slices.Clone(pe.PolicySets)
		for i := range pe.PolicySets {
			pe.PolicySets[i].Outcomes = slices.Clone(pe.PolicySets[i].Outcomes)
		}
		s.evaluations = append(s.evaluations, pe)
	}
}

// normalize fills in the defaults and checks the stage.
func (pe *PolicyEvaluation) normalize() error {
	if pe.Stage == "" {
		pe.Stage = tfc.StagePostPlan
	}
	if !slices.Contains(runStages, pe.Stage) {
		return fmt.Errorf("policy evaluation stage %q is not pre_plan, post_plan, pre_apply or post_apply", pe.Stage)
	}
	if pe.Kind == "" {
		pe.Kind = tfc.PolicyKindOPA
	}
	if pe.ToolVersion == "" {
		pe.ToolVersion = "0.61.0"
	}
	return nil
}

type policyEvaluation struct {
	id                   string
	stage                *taskStage
	kind                 tfc.PolicyKind
	toolVersion          string
	status               tfc.PolicyEvaluationStatus
	timestamps           statusTimestamps
	sets                 []*policySetOutcome
	createdAt, updatedAt time.Time
}

type policySetOutcome struct {
	id   string
	eval *policyEvaluation
	PolicySet
}

// addEvaluationLocked adds an evaluation, pending, to a stage being built.
func (s *Server) addEvaluationLocked(st *taskStage, pe PolicyEvaluation, now time.Time) {
	e := &policyEvaluation{id: newID("poleval-"), stage: st, kind: pe.Kind, toolVersion: pe.ToolVersion,
		timestamps: statusTimestamps{}, createdAt: now}
	e.setStatus(tfc.PolicyEvaluationPending, now)
	for _, set := range pe.PolicySets {
		o := &policySetOutcome{id: newID("psout-"), eval: e, PolicySet: set}
		e.sets = append(e.sets, o)
		s.policySetOutcomes[o.id] = o
	}
	st.evaluations = append(st.evaluations, e)
	s.policyEvaluations[e.id] = e
}

func (e *policyEvaluation) setStatus(status tfc.PolicyEvaluationStatus, now time.Time) {
	e.status = status
	e.timestamps.record(string(status), now)
	e.updatedAt = now
}

// evaluate runs the evaluation when its stage starts: queued, running, then its result.
func (e *policyEvaluation) evaluate(now time.Time) {
	e.setStatus(tfc.PolicyEvaluationQueued, now)
	e.setStatus(tfc.PolicyEvaluationRunning, now)
	status := tfc.PolicyEvaluationPassed
	for _, set := range e.sets {
		c := set.count()
		switch {
		case set.Error != "" || c.Errored > 0:
			status = tfc.PolicyEvaluationErrored
		case c.MandatoryFailed > 0 && status == tfc.PolicyEvaluationPassed:
			status = tfc.PolicyEvaluationFailed
		}
	}
	e.setStatus(status, now)
}

// stageOutcome is what the evaluation makes of its task stage: passed, or errored,
// failed, or awaiting_override when every set whose mandatory policies failed is
// overridable.
func (e *policyEvaluation) stageOutcome() tfc.TaskStageStatus {
	switch e.status {
	case tfc.PolicyEvaluationPassed, tfc.PolicyEvaluationOverridden:
		return tfc.TaskStagePassed
	case tfc.PolicyEvaluationFailed:
		for _, set := range e.sets {
			if set.count().MandatoryFailed > 0 && !set.Overridable {
				return tfc.TaskStageFailed
			}
		}
		return tfc.TaskStageAwaitingOverride
	}
	return tfc.TaskStageErrored
}

// count tallies a set's outcomes.
func (o *policySetOutcome) count() tfc.PolicyResultCount {
	var c tfc.PolicyResultCount
	for _, p := range o.Outcomes {
		switch {
		case p.Status == tfc.PolicyOutcomePassed:
			c.Passed++
		case p.Status == tfc.PolicyOutcomeErrored:
			c.Errored++
		case p.EnforcementLevel == tfc.EnforcementMandatory:
			c.MandatoryFailed++
		default:
			c.AdvisoryFailed++
		}
	}
	return c
}

// count tallies the outcomes of every set of the evaluation.
func (e *policyEvaluation) count() tfc.PolicyResultCount {
	var c tfc.PolicyResultCount
	for _, set := range e.sets {
		sc := set.count()
		c.Passed += sc.Passed
		c.Errored += sc.Errored
		c.MandatoryFailed += sc.MandatoryFailed
		c.AdvisoryFailed += sc.AdvisoryFailed
	}
	return c
}

func (e *policyEvaluation) public() *tfc.PolicyEvaluation {
	return &tfc.PolicyEvaluation{
		ID: e.id, Status: e.status, PolicyKind: e.kind, PolicyToolVersion: e.toolVersion, ResultCount: e.count(),
		StatusTimestamps: copyTimes(e.timestamps), TaskStageID: e.stage.id, CreatedAt: e.createdAt, UpdatedAt: e.updatedAt,
	}
}

type policyEvaluationAttrs struct {
	Status            tfc.PolicyEvaluationStatus `json:"status"`
	PolicyKind        tfc.PolicyKind             `json:"policy-kind"`
	PolicyToolVersion string                     `json:"policy-tool-version"`
	ResultCount       tfc.PolicyResultCount      `json:"result-count"`
	StatusTimestamps  map[string]string          `json:"status-timestamps"`
	CreatedAt         string                     `json:"created-at"`
	UpdatedAt         string                     `json:"updated-at"`
}

func (e *policyEvaluation) resource() resource {
	self := "/api/v2/policy-evaluations/" + e.id
	return resource{
		ID: e.id, Type: "policy-evaluations",
		Attributes: policyEvaluationAttrs{Status: e.status, PolicyKind: e.kind, PolicyToolVersion: e.toolVersion,
			ResultCount: e.count(), StatusTimestamps: e.timestamps.wire(), CreatedAt: stamp(e.createdAt), UpdatedAt: stamp(e.updatedAt)},
		Relationships: map[string]relationship{
			"policy-attachable":   toOne("task-stages", e.stage.id),
			"policy-set-outcomes": toMany("policy-set-outcomes", idsOf(e.sets, func(o *policySetOutcome) string { return o.id })).withRelated(self + "/policy-set-outcomes"),
		},
		Links: map[string]string{"self": self},
	}
}

// outcomeW is one policy's outcome on the wire, its keys in snake_case as documented.
type outcomeW struct {
	EnforcementLevel *tfc.EnforcementLevel   `json:"enforcement_level,omitempty"`
	Query            string                  `json:"query"`
	Status           tfc.PolicyOutcomeStatus `json:"status"`
	PolicyName       string                  `json:"policy_name"`
	Description      string                  `json:"description"`
	Output           []outputLine            `json:"output,omitempty"`
}

type outputLine struct {
	Print string `json:"print"`
}

type policySetOutcomeAttrs struct {
	Outcomes             []outcomeW            `json:"outcomes"`
	Error                string                `json:"error"`
	Overridable          bool                  `json:"overridable"`
	PolicySetName        string                `json:"policy-set-name"`
	PolicySetDescription *string               `json:"policy-set-description"`
	ResultCount          tfc.PolicyResultCount `json:"result-count"`
	PolicyToolVersion    string                `json:"policy-tool-version"`
}

func (o *policySetOutcome) resource() resource {
	a := policySetOutcomeAttrs{Outcomes: make([]outcomeW, len(o.Outcomes)), Error: o.Error, Overridable: o.Overridable,
		PolicySetName: o.Name, ResultCount: o.count(), PolicyToolVersion: o.eval.toolVersion}
	if o.Description != "" {
		a.PolicySetDescription = &o.Description
	}
	for i, p := range o.Outcomes {
		w := outcomeW{Query: p.Query, Status: p.Status, PolicyName: p.PolicyName, Description: p.Description}
		if p.Status != tfc.PolicyOutcomeErrored {
			level := p.EnforcementLevel
			w.EnforcementLevel = &level
		}
		for _, line := range p.Output {
			w.Output = append(w.Output, outputLine{Print: line})
		}
		a.Outcomes[i] = w
	}
	return resource{
		ID: o.id, Type: "policy-set-outcomes", Attributes: a,
		Relationships: map[string]relationship{"policy-evaluation": toOne("policy-evaluations", o.eval.id)},
	}
}

// listPolicyEvaluations answers GET /task-stages/:id/policy-evaluations, paginated.
func (s *Server) listPolicyEvaluations(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := lookup(s.stages, r.PathValue("id"), "task stage")
	if err != nil {
		return err
	}
	return writeList(w, r, s.URL, st.evaluations, (*policyEvaluation).resource, nil)
}

// outcomeFilterKey matches filter[n][status] and filter[n][enforcementLevel] (and
// go-tfe's filter[n][enforcement_level]).
var outcomeFilterKey = regexp.MustCompile(`^filter\[([^\]]+)\]\[(status|enforcementLevel|enforcement_level)\]$`)

// outcomeFilter is one filter[n].
type outcomeFilter struct {
	status, level string
}

// matches reports whether a policy outcome matches the filter; an enforcement level
// counts only with a status other than errored.
func (f outcomeFilter) matches(p tfc.PolicyOutcome) bool {
	if string(p.Status) != f.status {
		return false
	}
	return f.level == "" || f.status == string(tfc.PolicyOutcomeErrored) || string(p.EnforcementLevel) == f.level
}

// listPolicySetOutcomes answers GET /policy-evaluations/:id/policy-set-outcomes,
// paginated, keeping the sets with at least one outcome matching any filter[n] (whole:
// their passing outcomes too). A filter without a status, or with a status or level the
// service does not know, is a 400.
func (s *Server) listPolicySetOutcomes(w http.ResponseWriter, r *http.Request) error {
	filters := map[string]*outcomeFilter{}
	for key, values := range r.URL.Query() {
		m := outcomeFilterKey.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		f := filters[m[1]]
		if f == nil {
			f = &outcomeFilter{}
			filters[m[1]] = f
		}
		if m[2] == "status" {
			f.status = values[0]
			if !slices.Contains([]string{"passed", "failed", "errored"}, f.status) {
				return parameterError(key, `must be "passed", "failed" or "errored"`)
			}
		} else {
			f.level = values[0]
			if !slices.Contains([]string{"advisory", "mandatory"}, f.level) {
				return parameterError(key, `must be "advisory" or "mandatory"`)
			}
		}
	}
	for n, f := range filters {
		if f.status == "" {
			return parameterError("filter["+n+"][status]", "is required with an enforcement level")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := lookup(s.policyEvaluations, r.PathValue("id"), "policy evaluation")
	if err != nil {
		return err
	}
	sets := slices.DeleteFunc(slices.Clone(e.sets), func(o *policySetOutcome) bool {
		if len(filters) == 0 {
			return false
		}
		for _, f := range filters {
			if slices.ContainsFunc(o.Outcomes, f.matches) {
				return false
			}
		}
		return true
	})
	return writeList(w, r, s.URL, sets, (*policySetOutcome).resource, nil)
}

// getPolicySetOutcome answers GET /policy-set-outcomes/:id.
func (s *Server) getPolicySetOutcome(w http.ResponseWriter, r *http.Request) error {
	return show(s, w, s.policySetOutcomes, r.PathValue("id"), "policy set outcome", (*policySetOutcome).resource, nil)
}
