package tfctest

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tfkit/tfc"
)

// Runs as the API shows them: read, listed for a workspace with the documented
// filters, and applied, discarded or canceled.

// runAttrs are the attributes of the documented run sample (and is-speculative, which
// the fake has always sent).
type runAttrs struct {
	Actions               runActions         `json:"actions"`
	CanceledAt            *string            `json:"canceled-at"`
	CreatedAt             string             `json:"created-at"`
	HasChanges            bool               `json:"has-changes"`
	AutoApply             bool               `json:"auto-apply"`
	AllowEmptyApply       bool               `json:"allow-empty-apply"`
	AllowConfigGeneration bool               `json:"allow-config-generation"`
	IsDestroy             bool               `json:"is-destroy"`
	IsSpeculative         bool               `json:"is-speculative"`
	Message               string             `json:"message"`
	PlanOnly              bool               `json:"plan-only"`
	Source                string             `json:"source"`
	StatusTimestamps      map[string]string  `json:"status-timestamps"`
	Status                string             `json:"status"`
	TriggerReason         string             `json:"trigger-reason"`
	TargetAddrs           []string           `json:"target-addrs"`
	Permissions           tfc.RunPermissions `json:"permissions"`
	Refresh               bool               `json:"refresh"`
	RefreshOnly           bool               `json:"refresh-only"`
	ReplaceAddrs          []string           `json:"replace-addrs"`
	SavePlan              bool               `json:"save-plan"`
	Variables             []tfc.RunVariable  `json:"variables"`
}

type runActions struct {
	IsCancelable      bool `json:"is-cancelable"`
	IsConfirmable     bool `json:"is-confirmable"`
	IsDiscardable     bool `json:"is-discardable"`
	IsForceCancelable bool `json:"is-force-cancelable"`
}

// running reports whether the run is in a stage that is running: planning or applying,
// for the fake, so that a cancel applies.
func (r *run) running() bool {
	return r.current < len(r.stages) && r.stages[r.current].status == tfc.TaskStageRunning
}

// discardable reports whether the run waits for a decision: confirmation, or an
// override.
func (r *run) discardable() bool {
	return r.awaitingConfirm || (r.current < len(r.stages) && r.stages[r.current].status == tfc.TaskStageAwaitingOverride)
}

// operation is the run's operation as the list filter names it.
func (r *run) operation() string {
	if r.speculative {
		return "plan_only"
	}
	return "plan_and_apply"
}

func (r *run) resource() resource {
	wsID := ""
	if r.ws != nil {
		wsID = r.ws.id
	}
	a := runAttrs{
		Actions:   runActions{IsCancelable: r.running(), IsConfirmable: r.awaitingConfirm, IsDiscardable: r.discardable()},
		CreatedAt: stamp(r.createdAt), HasChanges: r.hasChanges, AutoApply: !r.manualApply, IsSpeculative: r.speculative,
		Message: r.message, PlanOnly: r.speculative, Source: "tfe-api", StatusTimestamps: r.timestamps.wire(),
		Status: r.status, TriggerReason: "manual", Refresh: true, Variables: []tfc.RunVariable{},
		Permissions: tfc.RunPermissions{CanApply: true, CanCancel: true, CanComment: true, CanDiscard: true,
			CanForceExecute: true, CanForceCancel: true, CanOverridePolicyCheck: true},
	}
	if !r.canceledAt.IsZero() {
		at := stamp(r.canceledAt)
		a.CanceledAt = &at
	}
	planRel, cvRel := toOne("plans", ""), toOne("configuration-versions", "")
	if r.ws != nil {
		planRel, cvRel = toOne("plans", r.planID), toOne("configuration-versions", r.configID)
	}
	return resource{
		ID: r.id, Type: "runs", Attributes: a,
		Relationships: map[string]relationship{
			"workspace":             toOne("workspaces", wsID),
			"plan":                  planRel,
			"configuration-version": cvRel,
			"apply":                 toOne("applies", ""),
			"cost-estimate":         toOne("cost-estimates", ""),
			"created-by":            toOne("users", ""),
			"input-state-version":   toOne("state-versions", ""),
			"comments":              toMany("comments", nil),
			"run-events":            toMany("run-events", nil),
			"workspace-run-alerts":  toMany("workspace-run-alerts", nil),
			"task-stages":           toMany("task-stages", idsOf(r.stages, func(st *taskStage) string { return st.id })),
			"policy-checks":         toMany("policy-checks", idsOf(r.policyChecks, func(pc *policyCheck) string { return pc.id })),
		},
		Links: map[string]string{"self": "/api/v2/runs/" + r.id},
	}
}

// includeRuns returns the runs (and with run.workspace their workspaces) of the given
// runs, once each, when the request included them.
func includeRuns(runs []*run, inc map[string]bool) []resource {
	var out []resource
	seen := map[string]bool{}
	for _, r := range runs {
		if (inc["run"] || inc["run.workspace"]) && !seen[r.id] {
			seen[r.id] = true
			out = append(out, r.resource())
		}
		if inc["run.workspace"] && r.ws != nil && !seen[r.ws.id] {
			seen[r.ws.id] = true
			out = append(out, r.ws.resource())
		}
	}
	return out
}

// getRun answers GET /runs/:id.
func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseInclude(r, runIncludes...); err != nil {
		return err
	}
	return show(s, w, s.runs, r.PathValue("id"), "run", (*run).resource, nil)
}

// runIncludes are the documented include values of the run endpoints. The fake's runs
// have no plans, applies, users, cost estimates or configuration versions to include,
// so it accepts them and includes nothing; anything else is refused with 400.
var runIncludes = []string{"plan", "apply", "created_by", "cost_estimate", "configuration_version", "configuration_version.ingress_attributes"}

// finalRunStatuses and discardableRunStatuses are the documented status groups.
var (
	finalRunStatuses       = []string{"applied", "planned_and_finished", "policy_soft_failed", "discarded", "errored", "canceled", "force_canceled"}
	discardableRunStatuses = []string{"planned", "planned_and_saved", "cost_estimated", "policy_checked", "policy_override", "post_plan_running", "post_plan_completed"}
)

// listRuns answers GET /workspaces/:id/runs, newest first, paginated, with the filters
// of parseRunQuery.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q, err := parseRunQuery(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, err := lookup(s.workspaces, r.PathValue("id"), "workspace")
	if err != nil {
		return err
	}
	var runs []*run
	for _, rn := range slices.Backward(ws.runs) {
		if q.keeps(rn) {
			runs = append(runs, rn)
		}
	}
	return writeList(w, r, s.URL, runs, (*run).resource, nil)
}

// listOrganizationRuns answers GET /organizations/:org/runs: the runs of every workspace
// of the organization, newest first, with the filters of listRuns and
// filter[workspace_names]; without filter[timeframe], the past year's. As the service
// does here, its pagination has no total-count or total-pages, and its links only
// self, prev and next.
func (s *Server) listOrganizationRuns(w http.ResponseWriter, r *http.Request) error {
	q, err := parseRunQuery(r)
	if err != nil {
		return err
	}
	if q.timeframe == "" {
		q.timeframe = "year"
	}
	var names []string
	if v := r.URL.Query().Get("filter[workspace_names]"); v != "" {
		names = strings.Split(v, ",")
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	var runs []*run
	for _, ws := range o.workspaces {
		if names != nil && !slices.Contains(names, ws.name) {
			continue
		}
		for _, rn := range ws.runs {
			if q.keeps(rn) {
				runs = append(runs, rn)
			}
		}
	}
	slices.SortFunc(runs, func(a, b *run) int { return cmp.Compare(b.seq, a.seq) }) // newest first
	items, pg := paginate(runs, p)
	data := make([]resource, len(items))
	for i, rn := range items {
		data[i] = rn.resource()
	}
	links := pageLinks(s.URL, r, pg)
	delete(links, "first")
	delete(links, "last")
	writeJSON(w, http.StatusOK, struct {
		Data  []resource         `json:"data"`
		Links map[string]*string `json:"links"`
		Meta  countlessMeta      `json:"meta"`
	}{data, links, countlessMeta{Pagination: countlessPagination{
		CurrentPage: pg.CurrentPage, PageSize: pg.PageSize, PrevPage: pg.PrevPage, NextPage: pg.NextPage}}})
	return nil
}

// countlessMeta is the pagination of a list that does not count its items.
type countlessMeta struct {
	Pagination countlessPagination `json:"pagination"`
}

type countlessPagination struct {
	CurrentPage int  `json:"current-page"`
	NextPage    *int `json:"next-page"`
	PrevPage    *int `json:"prev-page"`
	PageSize    int  `json:"page-size"`
}

// runQuery is the filters of a run list (filter[…] and search[…]).
type runQuery struct {
	operations, statuses, sources []string
	agentPools                    string
	group, timeframe              string
	year                          int
	user, commit, basic           string
}

// parseRunQuery reads the documented filters of the run lists: filter[operation]
// (plan-only runs are left out unless asked for), filter[status], filter[source],
// filter[status_group], filter[timeframe], filter[agent_pool_names] (the fake's runs use
// no agent pool) and search[user], search[commit] (its runs have neither) and
// search[basic] (a run ID or a word of the message), and the include values.
func parseRunQuery(r *http.Request) (*runQuery, error) {
	if _, err := parseInclude(r, runIncludes...); err != nil {
		return nil, err
	}
	v := r.URL.Query()
	list := func(name string) []string {
		if s := v.Get(name); s != "" {
			return strings.Split(s, ",")
		}
		return nil
	}
	q := &runQuery{operations: list("filter[operation]"), statuses: list("filter[status]"), sources: list("filter[source]"),
		agentPools: v.Get("filter[agent_pool_names]"), group: v.Get("filter[status_group]"), timeframe: v.Get("filter[timeframe]"),
		user: v.Get("search[user]"), commit: v.Get("search[commit]"), basic: v.Get("search[basic]")}
	if q.operations == nil {
		q.operations = []string{"plan_and_apply", "save_plan", "refresh_only", "destroy", "empty_apply", "action_only"}
	}
	switch q.group {
	case "", "non_final", "final", "discardable":
	default:
		return nil, parameterError("filter[status_group]", "must be non_final, final or discardable")
	}
	if q.timeframe != "" && q.timeframe != "year" {
		y, err := strconv.Atoi(q.timeframe)
		if err != nil {
			return nil, parameterError("filter[timeframe]", `must be "year" or a year`)
		}
		q.year = y
	}
	return q, nil
}

// keeps reports whether rn passes the filters.
func (q *runQuery) keeps(rn *run) bool {
	final := slices.Contains(finalRunStatuses, rn.status)
	return slices.Contains(q.operations, rn.operation()) &&
		(q.statuses == nil || slices.Contains(q.statuses, rn.status)) &&
		(q.sources == nil || slices.Contains(q.sources, "tfe-api")) &&
		q.agentPools == "" && q.user == "" && q.commit == "" &&
		(q.group == "" || q.group == "final" && final || q.group == "non_final" && !final ||
			q.group == "discardable" && slices.Contains(discardableRunStatuses, rn.status)) &&
		(q.timeframe == "" || q.year == 0 && time.Since(rn.createdAt) < 365*24*time.Hour || rn.createdAt.Year() == q.year) &&
		(q.basic == "" || rn.id == q.basic || strings.Contains(rn.message, q.basic))
}

// parameterError is the 400 the service answers for a query parameter it rejects.
func parameterError(name, detail string) error {
	e := badRequest(name + " " + detail)
	e.errors[0].Source = &errorSource{Parameter: name}
	return e
}

// readActionComment reads the optional body of a run action, {"comment": "…"}.
func readActionComment(r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return badRequest("the request body could not be read")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	var payload struct {
		Comment *string `json:"comment"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return invalidAttribute("/comment", "the body must be an object with an optional comment string")
	}
	return nil
}

// runAction answers one of the run actions: 202 with no body after act, or 409 with
// conflictDetail when allowed says the run is not in a state for it.
func (s *Server) runAction(w http.ResponseWriter, r *http.Request, allowed func(*run) bool, conflictDetail string, act func(*run, time.Time)) error {
	if err := readActionComment(r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, err := lookup(s.runs, r.PathValue("id"), "run")
	if err != nil {
		return err
	}
	if !allowed(rn) {
		return conflict(conflictDetail)
	}
	act(rn, time.Now())
	s.notifyLocked()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// applyRun answers POST /runs/:id/actions/apply: a run waiting for confirmation
// (started WithManualApply) is confirmed and goes on through its apply stages; any
// other is a 409.
func (s *Server) applyRun(w http.ResponseWriter, r *http.Request) error {
	return s.runAction(w, r, func(rn *run) bool { return rn.awaitingConfirm },
		"Run was not paused for confirmation; apply not allowed.",
		func(rn *run, now time.Time) {
			rn.awaitingConfirm, rn.confirmed = false, true
			rn.setStatus("confirmed", now)
			rn.setStatus("apply_queued", now)
			s.advanceLocked(rn)
		})
}

// discardRun answers POST /runs/:id/actions/discard: a run waiting for confirmation or
// for an override is discarded, its later stages canceled; any other is a 409.
func (s *Server) discardRun(w http.ResponseWriter, r *http.Request) error {
	return s.runAction(w, r, (*run).discardable,
		"Run was not paused for confirmation or priority; discard not allowed.",
		func(rn *run, now time.Time) { s.endRunLocked(rn, "discarded", now) })
}

// cancelRun answers POST /runs/:id/actions/cancel: a run in a running stage is
// canceled with that stage, its pending results and its later stages; any other is a
// 409.
func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	return s.runAction(w, r, (*run).running,
		"Run was not planning or applying; cancel not allowed.",
		func(rn *run, now time.Time) { s.endRunLocked(rn, "canceled", now) })
}

// forceCancelRun answers POST /runs/:id/actions/force-cancel. The fake's cancel ends a
// run at once, so no run is ever canceled and still running, the state force-cancel
// needs: every request that names a run gets the documented 409.
func (s *Server) forceCancelRun(w http.ResponseWriter, r *http.Request) error {
	return s.runAction(w, r, func(*run) bool { return false },
		"Run was not planning or applying, has not been canceled non-forcefully, or the cool-off period has not yet passed.",
		func(*run, time.Time) {})
}

// forceExecuteRun answers POST /runs/:id/actions/force-execute. The fake starts every
// run at once, so no run is ever pending behind another's lock: every request that
// names a run gets the documented 403.
func (s *Server) forceExecuteRun(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := lookup(s.runs, r.PathValue("id"), "run"); err != nil {
		return err
	}
	return newError(http.StatusForbidden, "Forbidden", "Run is not pending, its workspace was not locked, or its workspace association was not found.")
}

// planHasChanges reports whether a plan changes any resource (anything but no-op and
// read), for the run's has-changes.
func planHasChanges(planJSON []byte) bool {
	var plan struct {
		ResourceChanges []struct {
			Change struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if json.Unmarshal(planJSON, &plan) != nil {
		return false
	}
	for _, rc := range plan.ResourceChanges {
		for _, a := range rc.Change.Actions {
			if a != "no-op" && a != "read" {
				return true
			}
		}
	}
	return false
}
