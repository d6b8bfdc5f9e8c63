package tfctest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/tfkit/tfc"
)

// Run is a run started with StartRun. It is a handle: its methods read the server's
// current state.
type Run struct {
	// ID is the run's "run-…" ID, as in its task stages' relationships.
	ID string
	// WorkspaceID is the workspace the run belongs to.
	WorkspaceID string

	s *Server
}

// RunOption configures a run started with StartRun.
type RunOption func(*runSettings)

type runSettings struct {
	message       string
	speculative   bool
	manualApply   bool
	configuration []byte
	evaluations   []PolicyEvaluation
}

// WithRunMessage sets the run's message (run_message in deliveries; default
// "Triggered by tfctest").
func WithRunMessage(message string) RunOption {
	return func(s *runSettings) { s.message = message }
}

// WithSpeculative makes the run a speculative (plan-only) run: is_speculative is true in
// its deliveries.
func WithSpeculative() RunOption {
	return func(s *runSettings) { s.speculative = true }
}

// WithManualApply makes the run wait for confirmation once its plan stages are through,
// as on a workspace without auto-apply: it stops at "planned" (or
// "post_plan_completed" after post-plan tasks) until it is applied (POST
// /runs/:id/actions/apply, which runs its pre-apply and post-apply stages) or
// discarded. Speculative runs never wait.
func WithManualApply() RunOption {
	return func(s *runSettings) { s.manualApply = true }
}

// WithConfiguration sets the .tar.gz archive served at the run's
// configuration_version_download_url (default: a small archive with one main.tf).
func WithConfiguration(tarGz []byte) RunOption {
	return func(s *runSettings) { s.configuration = bytes.Clone(tarGz) }
}

type run struct {
	id               string
	seq              uint64     // its place in the order runs were started, for lists across workspaces
	ws               *workspace // nil for a run that only holds seeded policy checks
	message          string
	speculative      bool
	hasChanges       bool
	plan, config     []byte
	planID, configID string
	createdAt        time.Time
	canceledAt       time.Time
	status           string
	timestamps       statusTimestamps
	stages           []*taskStage   // in stage order
	current          int            // the stage in progress or stopped at; len(stages) when the run is through
	policyChecks     []*policyCheck // seeded with AddPolicyCheck
	manualApply      bool           // waits for confirmation after the plan stages
	awaitingConfirm  bool           // waiting for Apply or Discard now
	confirmed        bool
	// posting counts deliveries sent but not yet recorded: a receiver may call back
	// before its 200 reaches the fake, and a settled run must list every delivery.
	posting int
}

// setStatus enters status at now.
func (r *run) setStatus(status string, now time.Time) {
	r.status = status
	r.timestamps.record(status, now)
}

type taskStage struct {
	lifecycle[tfc.TaskStageStatus]
	id          string
	run         *run
	stage       tfc.Stage
	results     []*taskResult
	evaluations []*policyEvaluation
}

type taskResult struct {
	lifecycle[tfc.TaskResultStatus]
	id                                 string
	stage                              *taskStage
	taskID, taskName, taskURL, hmacKey string // the task as it was when the run started
	wsTaskID                           string // "" for a task attached globally
	enforcement                        tfc.EnforcementLevel
	message, url                       string
	outcomes                           []tfc.Outcome
	accessToken                        string
	callbackGUID                       string
	progress                           chan struct{} // a "running" callback arrived; buffered, never blocks
	final                              chan struct{} // closed when the result is final
}

// lifecycle is what task stages and task results share: a status, when each status
// was entered, and when the work started and ended.
type lifecycle[S interface {
	~string
	IsFinal() bool
}] struct {
	status               S
	timestamps           statusTimestamps
	createdAt, updatedAt time.Time
	started, ended       time.Time
}

func newLifecycle[S interface {
	~string
	IsFinal() bool
}](status S, now time.Time) lifecycle[S] {
	l := lifecycle[S]{status: status, timestamps: statusTimestamps{}, createdAt: now, updatedAt: now}
	l.timestamps.record(string(status), now)
	return l
}

// setStatus enters status at now.
func (l *lifecycle[S]) setStatus(status S, now time.Time) {
	l.status = status
	l.timestamps.record(string(status), now)
	l.updatedAt = now
	if status.IsFinal() {
		l.ended = now
	}
}

// duration is the time from start to end, or to now while there is no end; zero before
// the start.
func (l *lifecycle[S]) duration() time.Duration {
	switch {
	case l.started.IsZero():
		return 0
	case l.ended.IsZero():
		return time.Since(l.started)
	}
	return l.ended.Sub(l.started)
}

// StartRun starts a run on a workspace whose plan, in Terraform's JSON format, is
// planJSON, and plays the run task protocol through it.
//
// For each stage that has run tasks attached (pre_plan, post_plan, pre_apply,
// post_apply, in that order; enabled tasks only, global ones included) the run has a
// task stage with one task result per task. When a stage starts, each task's URL gets a
// POST like the service's: plain JSON with every documented field, a random access
// token per task result, capabilities.outcomes true, task_result_callback_url on URL,
// and for stages after the plan a plan_json_api_url; signed with X-TFC-Task-Signature
// when the task has an HMAC key, with the header empty otherwise. The plan and the
// configuration URLs answer only to the task results' access tokens, with a redirect
// to the blob store. A delivery not answered 200 is retried three times, 20 ms apart
// and doubling; then its result is unreachable.
//
// Callbacks (PATCH on the callback URL, with the access token as bearer) update the
// result: running (which resets the progress deadline), passed or failed (final). A
// result with no update within the progress deadline is errored. A stage whose results
// are all final resolves: passed when every mandatory result passed (advisory failures
// never block); errored when a mandatory result errored or was unreachable (the run
// stops, later stages are canceled); otherwise awaiting_override, where the run stops
// until the stage is overridden (POST /task-stages/:id/actions/override), and then goes
// on with the next stage.
//
// Policy evaluations given with WithPolicyEvaluation run at their stage, which exists
// for them even without run tasks: each evaluates at once when the stage starts and
// counts with the task results. A stage with an errored evaluation errors; one whose
// evaluation failed (a mandatory policy failed) waits for an override when every
// failing policy set is overridable, and fails, stopping the run, otherwise.
//
// The run is served at GET /runs/:id and in GET /workspaces/:id/runs, with its status
// and status-timestamps following it; WithManualApply makes it wait for
// POST /runs/:id/actions/apply, and discard and cancel end it.
//
// StartRun fails when the workspace does not exist, planJSON is not JSON, a policy
// evaluation names a stage that is not a run stage, or the server is closed.
func (s *Server) StartRun(workspaceID string, planJSON []byte, opts ...RunOption) (*Run, error) {
	if !json.Valid(planJSON) {
		return nil, fmt.Errorf("tfctest: StartRun: the plan is not JSON")
	}
	settings := runSettings{message: "Triggered by tfctest"}
	for _, opt := range opts {
		if opt != nil {
			opt(&settings)
		}
	}
	for i := range settings.evaluations {
		if err := settings.evaluations[i].normalize(); err != nil {
			return nil, fmt.Errorf("tfctest: StartRun: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	ws, ok := s.workspaces[workspaceID]
	if !ok {
		return nil, fmt.Errorf("tfctest: StartRun: no workspace %q", workspaceID)
	}
	now := time.Now()
	r := &run{
		id: newID("run-"), ws: ws, message: settings.message, speculative: settings.speculative, hasChanges: planHasChanges(planJSON),
		plan: bytes.Clone(planJSON), config: settings.configuration, planID: newID("plan-"), configID: newID("cv-"),
		createdAt: now, timestamps: statusTimestamps{"plan-queueable-at": now}, manualApply: settings.manualApply,
	}
	s.runSeq++
	r.seq = s.runSeq
	r.setStatus("pending", now)
	if r.config == nil {
		if s.defaultConfig == nil {
			cfg, err := defaultConfiguration()
			if err != nil {
				return nil, fmt.Errorf("tfctest: StartRun: building the configuration archive: %w", err)
			}
			s.defaultConfig = cfg
		}
		r.config = s.defaultConfig
	}
	s.runs[r.id] = r
	s.plans[r.planID] = r
	s.configs[r.configID] = r
	ws.runs = append(ws.runs, r)
	for _, st := range runStages {
		attached := ws.attachedAt(st)
		var evaluations []PolicyEvaluation
		for _, pe := range settings.evaluations {
			if pe.Stage == st {
				evaluations = append(evaluations, pe)
			}
		}
		if len(attached) == 0 && len(evaluations) == 0 {
			continue
		}
		stage := &taskStage{lifecycle: newLifecycle(tfc.TaskStagePending, now), id: newID("ts-"), run: r, stage: st}
		for _, pe := range evaluations {
			s.addEvaluationLocked(stage, pe, now)
		}
		for _, a := range attached {
			tr := &taskResult{
				lifecycle: newLifecycle(tfc.TaskResultPending, now),
				id:        newID("taskrs-"), stage: stage, taskID: a.task.id, taskName: a.task.name, taskURL: a.task.url,
				hmacKey: a.task.hmacKey, wsTaskID: a.wsTaskID, enforcement: a.level,
				accessToken: newSecret() + newSecret(), callbackGUID: newUUID(),
				progress: make(chan struct{}, 1), final: make(chan struct{}),
			}
			stage.results = append(stage.results, tr)
			s.results[tr.id] = tr
			s.callbacks[tr.callbackGUID] = tr
		}
		r.stages = append(r.stages, stage)
		s.stages[stage.id] = stage
	}
	s.advanceLocked(r)
	s.notifyLocked()
	return &Run{ID: r.id, WorkspaceID: ws.id, s: s}, nil
}

// attachment is a run task that runs at a stage of a workspace.
type attachment struct {
	task     *runTask
	wsTaskID string
	level    tfc.EnforcementLevel
}

// attachedAt returns the enabled tasks that run at stage st of ws: its attachments, then
// the organization's tasks whose configuration applies to ws (global, or targeting its
// project) that it has no attachment of.
func (ws *workspace) attachedAt(st tfc.Stage) []attachment {
	var out []attachment
	for _, wt := range ws.tasks {
		if wt.task.enabled && slices.Contains(wt.stages, st) {
			out = append(out, attachment{task: wt.task, wsTaskID: wt.id, level: wt.enforcement})
		}
	}
	for _, t := range ws.org.tasks {
		if !t.enabled || t.config == nil || !t.config.appliesTo(ws, st) ||
			slices.ContainsFunc(out, func(a attachment) bool { return a.task == t }) {
			continue
		}
		level := t.config.enforcement
		if level == "" {
			level = tfc.EnforcementAdvisory
		}
		out = append(out, attachment{task: t, level: level})
	}
	return out
}

// advanceLocked moves a run on from its current stage as far as it can go by itself.
func (s *Server) advanceLocked(r *run) {
	now := time.Now()
	for r.current < len(r.stages) {
		st := r.stages[r.current]
		if r.needsConfirmation(st.stage) {
			r.pauseForConfirmation(now)
			return
		}
		switch st.status {
		case tfc.TaskStagePending:
			r.setStatus(string(st.stage)+"_running", now)
			if s.startStageLocked(st); st.status == tfc.TaskStageRunning {
				return
			}
			// Settled at once (policy evaluations only): go on with its outcome.
		case tfc.TaskStagePassed:
			r.setStatus(string(st.stage)+"_completed", now)
			r.current++
		case tfc.TaskStageAwaitingOverride:
			r.setStatus(string(st.stage)+"_awaiting_decision", now)
			return
		case tfc.TaskStageErrored, tfc.TaskStageFailed:
			r.current++
			s.endRunLocked(r, "errored", now)
			return
		default: // running
			return
		}
	}
	switch {
	case r.needsConfirmation(tfc.StagePreApply):
		r.pauseForConfirmation(now)
	case r.speculative:
		r.setStatus("planned_and_finished", now)
	default:
		// The fake applies at once.
		r.setStatus("applying", now)
		r.setStatus("applied", now)
	}
}

// needsConfirmation reports whether the run must wait for confirmation before stage st:
// a run started WithManualApply, not yet confirmed, reaching an apply stage (or the
// end).
func (r *run) needsConfirmation(st tfc.Stage) bool {
	return r.manualApply && !r.confirmed && !r.speculative && (st == tfc.StagePreApply || st == tfc.StagePostApply)
}

// pauseForConfirmation stops the run until it is applied or discarded: "planned", or
// "post_plan_completed" when post-plan tasks just passed.
func (r *run) pauseForConfirmation(now time.Time) {
	if r.awaitingConfirm {
		return
	}
	r.awaitingConfirm = true
	if r.status != "post_plan_completed" {
		r.setStatus("planned", now)
	}
}

// endRunLocked ends a run with status: every stage from the current one on that is not
// final is canceled with its results and evaluations, and nothing more happens.
func (s *Server) endRunLocked(r *run, status string, now time.Time) {
	for _, st := range r.stages[min(r.current, len(r.stages)):] {
		if st.status.IsFinal() {
			continue
		}
		st.setStatus(tfc.TaskStageCanceled, now)
		for _, tr := range st.results {
			if !tr.status.IsFinal() {
				tr.setStatus(tfc.TaskResultCanceled, now)
				close(tr.final)
			}
		}
		for _, pe := range st.evaluations {
			if !pe.status.IsFinal() {
				pe.setStatus(tfc.PolicyEvaluationCanceled, now)
			}
		}
	}
	r.current = len(r.stages)
	r.awaitingConfirm = false
	if status == "canceled" {
		r.canceledAt = now
	}
	r.setStatus(status, now)
}

// settled reports whether the run will not move on by itself: it is over, waits for
// confirmation, or waits for an override.
func (r *run) settled() bool {
	if r.posting > 0 {
		return false
	}
	return r.current >= len(r.stages) || r.awaitingConfirm || r.stages[r.current].status == tfc.TaskStageAwaitingOverride
}

// Delivery retries: deliveryRetries more attempts after the first, the first
// deliveryBackoff later, each next one twice as long.
const (
	deliveryRetries = 3
	deliveryBackoff = 20 * time.Millisecond
)

// startStageLocked sets a stage running, evaluates its policies and sends its
// deliveries. A stage with nothing to wait for settles at once.
func (s *Server) startStageLocked(st *taskStage) {
	now := time.Now()
	st.setStatus(tfc.TaskStageRunning, now)
	st.started = now
	for _, pe := range st.evaluations {
		pe.evaluate(now)
	}
	defer s.settleLocked(st)
	if s.closed {
		return
	}
	for _, tr := range st.results {
		tr.started = now
		body, err := json.Marshal(s.payloadLocked(tr))
		if err != nil {
			s.finishResultLocked(tr, tfc.TaskResultErrored, "tfctest could not encode the run task request.")
			continue
		}
		d := Delivery{TaskID: tr.taskID, URL: tr.taskURL, TaskResultID: tr.id, Stage: st.stage, Body: body, Signature: sign(tr.hmacKey, body)}
		s.wg.Add(1)
		go s.deliver(tr, d)
	}
}

// payload is the body of a run task request, in the order of the documented fields.
type payload struct {
	PayloadVersion int       `json:"payload_version"`
	Stage          tfc.Stage `json:"stage"`
	AccessToken    string    `json:"access_token"`
	Capabilities   struct {
		Outcomes bool `json:"outcomes"`
	} `json:"capabilities"`
	ConfigurationVersionDownloadURL *string              `json:"configuration_version_download_url"`
	ConfigurationVersionID          string               `json:"configuration_version_id"`
	IsSpeculative                   bool                 `json:"is_speculative"`
	OrganizationName                string               `json:"organization_name"`
	PlanJSONAPIURL                  string               `json:"plan_json_api_url,omitempty"`
	RunAppURL                       string               `json:"run_app_url"`
	RunCreatedAt                    string               `json:"run_created_at"`
	RunCreatedBy                    string               `json:"run_created_by"`
	RunID                           string               `json:"run_id"`
	RunMessage                      string               `json:"run_message"`
	TaskResultCallbackURL           string               `json:"task_result_callback_url"`
	TaskResultEnforcementLevel      tfc.EnforcementLevel `json:"task_result_enforcement_level"`
	TaskResultID                    string               `json:"task_result_id"`
	VCSBranch                       *string              `json:"vcs_branch"`
	VCSCommitURL                    *string              `json:"vcs_commit_url"`
	VCSCommitHash                   *string              `json:"vcs_commit_hash"`
	VCSPullRequestURL               *string              `json:"vcs_pull_request_url"`
	VCSRepoURL                      *string              `json:"vcs_repo_url"`
	WorkspaceAppURL                 string               `json:"workspace_app_url"`
	WorkspaceID                     string               `json:"workspace_id"`
	WorkspaceName                   string               `json:"workspace_name"`
	WorkspaceWorkingDirectory       string               `json:"workspace_working_directory"`
}

// payloadLocked builds the request for a task result. The workspace has no VCS
// repository, so the VCS fields are null.
func (s *Server) payloadLocked(tr *taskResult) payload {
	st, r := tr.stage, tr.stage.run
	ws := r.ws
	workspaceApp := s.URL + "/app/" + ws.org.name + "/workspaces/" + ws.name
	configURL := absURL(s.URL, "api", "v2", "configuration-versions", r.configID, "download")
	p := payload{
		PayloadVersion: 1, Stage: st.stage, AccessToken: tr.accessToken,
		ConfigurationVersionDownloadURL: &configURL, ConfigurationVersionID: r.configID,
		IsSpeculative: r.speculative, OrganizationName: ws.org.name,
		RunAppURL: workspaceApp + "/runs/" + r.id, RunCreatedAt: stamp(r.createdAt), RunCreatedBy: "tfctest",
		RunID: r.id, RunMessage: r.message,
		TaskResultCallbackURL:      absURL(s.URL, "api", "v2", "task-results", tr.callbackGUID, "callback"),
		TaskResultEnforcementLevel: tr.enforcement, TaskResultID: tr.id,
		WorkspaceAppURL: workspaceApp, WorkspaceID: ws.id, WorkspaceName: ws.name,
	}
	p.Capabilities.Outcomes = true
	if st.stage.HasPlan() {
		p.PlanJSONAPIURL = absURL(s.URL, "api", "v2", "plans", r.planID, "json-output")
	}
	return p
}

// deliver sends a task result's request until it is answered 200 or the retries run
// out (the result is then unreachable), and then watches the progress deadline.
func (s *Server) deliver(tr *taskResult, d Delivery) {
	defer s.wg.Done()
	r := tr.stage.run
	for d.Attempt = 1; ; d.Attempt++ {
		s.mu.Lock()
		r.posting++
		s.mu.Unlock()
		d.StatusCode, d.Err = s.post(s.ctx, d.URL, d.Body, d.Signature)
		s.mu.Lock()
		r.posting--
		if s.ctx.Err() == nil {
			s.deliveries = append(s.deliveries, d)
		}
		s.notifyLocked()
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			return
		}
		if d.StatusCode == http.StatusOK {
			break
		}
		select {
		case <-tr.final: // called back after all, or canceled
			return
		default:
		}
		if d.Attempt > deliveryRetries {
			reason := fmt.Sprintf("answered %d %s", d.StatusCode, http.StatusText(d.StatusCode))
			if d.Err != nil {
				reason = "could not be reached"
			}
			s.finishResult(tr, tfc.TaskResultUnreachable,
				fmt.Sprintf("The run task's URL %s after %d attempts.", reason, d.Attempt))
			return
		}
		t := time.NewTimer(deliveryBackoff << (d.Attempt - 1))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	s.mu.Lock()
	if tr.status == tfc.TaskResultPending {
		tr.setStatus(tfc.TaskResultRunning, time.Now())
		s.notifyLocked()
	}
	s.mu.Unlock()
	s.watch(tr)
}

// watch errors a task result that goes a progress deadline without an update.
func (s *Server) watch(tr *taskResult) {
	deadline := s.cfg.progressDeadline
	t := time.NewTimer(deadline)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tr.final:
			return
		case <-tr.progress:
			t.Reset(deadline)
		case <-t.C:
			s.finishResult(tr, tfc.TaskResultErrored,
				fmt.Sprintf("The run task did not report progress within %v.", deadline))
			return
		}
	}
}

func (s *Server) finishResult(tr *taskResult, status tfc.TaskResultStatus, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishResultLocked(tr, status, message)
}

// finishResultLocked makes a result final (unless it is already) and resolves its
// stage.
func (s *Server) finishResultLocked(tr *taskResult, status tfc.TaskResultStatus, message string) {
	if tr.status.IsFinal() {
		return
	}
	tr.setStatus(status, time.Now())
	if message != "" {
		tr.message = message
	}
	close(tr.final)
	s.resolveLocked(tr.stage)
	s.notifyLocked()
}

// resolveLocked settles a running stage once all its results are final, and moves the
// run on.
func (s *Server) resolveLocked(st *taskStage) {
	if s.settleLocked(st) {
		s.advanceLocked(st.run)
	}
}

// settleLocked gives a running stage whose results are all final its outcome, the
// worst of its results' and evaluations': errored, then failed, then
// awaiting_override, then passed. It reports whether the stage settled.
func (s *Server) settleLocked(st *taskStage) bool {
	if st.status != tfc.TaskStageRunning {
		return false
	}
	outcomes := []tfc.TaskStageStatus{tfc.TaskStagePassed, tfc.TaskStageAwaitingOverride, tfc.TaskStageFailed, tfc.TaskStageErrored}
	worst := 0
	raise := func(status tfc.TaskStageStatus) { worst = max(worst, slices.Index(outcomes, status)) }
	for _, tr := range st.results {
		switch {
		case !tr.status.IsFinal():
			return false
		case tr.enforcement != tfc.EnforcementMandatory || tr.status == tfc.TaskResultPassed:
		case tr.status == tfc.TaskResultFailed:
			raise(tfc.TaskStageAwaitingOverride)
		default: // errored, unreachable, canceled
			raise(tfc.TaskStageErrored)
		}
	}
	for _, pe := range st.evaluations {
		raise(pe.stageOutcome())
	}
	st.setStatus(outcomes[worst], time.Now())
	return true
}

// Wait blocks until the run has settled: every task stage passed, or the run stopped at
// a stage that is awaiting_override or errored. It waits on the server's state changes,
// not by polling. It returns ctx's error when ctx ends first, and an error when the
// server is closed. After an override, Wait again for the rest of the run.
func (r *Run) Wait(ctx context.Context) error {
	s := r.s
	for {
		s.mu.Lock()
		settled, closed, changed := s.runs[r.ID].settled(), s.closed, s.changed
		s.mu.Unlock()
		switch {
		case settled:
			return nil
		case closed:
			return errClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Status returns the run's status: "<stage>_running", "<stage>_awaiting_decision",
// "errored", "planned" or "post_plan_completed" while a run started WithManualApply
// waits for confirmation, "discarded" or "canceled" after those actions, or, once
// through every stage, "applied" ("planned_and_finished" for a speculative run).
// Without WithManualApply the fake confirms and applies by itself.
func (r *Run) Status() string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.s.runs[r.ID].status
}

// TaskStages returns the run's task stages in stage order, each with its task results
// in full, as the API would describe them.
func (r *Run) TaskStages() []*tfc.TaskStage {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	var out []*tfc.TaskStage
	for _, st := range r.s.runs[r.ID].stages {
		ts := &tfc.TaskStage{
			ID: st.id, Stage: st.stage, Status: st.status, StatusTimestamps: tfc.StatusTimestamps(copyTimes(st.timestamps)),
			Duration: st.duration(), Permissions: tfc.TaskStagePermissions{CanOverridePolicy: true, CanOverrideTasks: true, CanOverride: true},
			IsOverridable: st.status == tfc.TaskStageAwaitingOverride, RunID: r.ID, CreatedAt: st.createdAt, UpdatedAt: st.updatedAt,
		}
		for _, tr := range st.results {
			ts.TaskResults = append(ts.TaskResults, tr.public())
		}
		for _, pe := range st.evaluations {
			ts.PolicyEvaluations = append(ts.PolicyEvaluations, pe.public())
		}
		out = append(out, ts)
	}
	return out
}

// Outcomes returns the outcomes the last callback that carried any sent for a task
// result (each callback with outcomes replaces the earlier ones), nil for an unknown
// ID.
func (s *Server) Outcomes(taskResultID string) []tfc.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr, ok := s.results[taskResultID]
	if !ok {
		return nil
	}
	out := make([]tfc.Outcome, len(tr.outcomes))
	for i, o := range tr.outcomes {
		out[i] = o
		out[i].Tags = make(map[string][]tfc.Tag, len(o.Tags))
		for k, v := range o.Tags {
			out[i].Tags[k] = slices.Clone(v)
		}
	}
	return out
}

// copyTimes copies status timestamps for a caller outside the lock.
func copyTimes(ts statusTimestamps) map[string]time.Time {
	out := make(map[string]time.Time, len(ts))
	for k, v := range ts {
		out[k] = v
	}
	return out
}

func (tr *taskResult) public() *tfc.TaskResult {
	return &tfc.TaskResult{
		ID: tr.id, Status: tr.status, Message: tr.message, URL: tr.url, StatusTimestamps: copyTimes(tr.timestamps),
		Duration: tr.duration(), TaskID: tr.taskID, TaskName: tr.taskName, TaskURL: tr.taskURL,
		Stage: tr.stage.stage, IsSpeculative: tr.stage.run.speculative, WorkspaceTaskID: tr.wsTaskID,
		WorkspaceTaskEnforcementLevel: tr.enforcement, OutcomesCount: len(tr.outcomes), TaskStageID: tr.stage.id,
		CreatedAt: tr.createdAt, UpdatedAt: tr.updatedAt,
	}
}

// callback answers PATCH on a task_result_callback_url: 404 for an unknown URL, 401
// without that task result's access token, 422 for a body outside the documented rules,
// 409 once the result is final, else 200 with the task result.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	tr, err := lookup(s.callbacks, r.PathValue("guid"), "task result")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	rec := Callback{TaskResultID: tr.id}
	err = s.applyCallback(w, r, tr, &rec)
	if rec.StatusCode != 0 {
		return err // logged with the change it made
	}
	rec.StatusCode = http.StatusOK
	var he *httpError
	if errors.As(err, &he) {
		rec.StatusCode = he.status
	}
	s.mu.Lock()
	s.callbackLog = append(s.callbackLog, rec)
	s.mu.Unlock()
	return err
}

// applyCallback checks and applies a callback to tr, noting what it sent in rec. One
// that reaches the task result is logged (rec.StatusCode set) under the same lock as
// its change, so that the log never lags the state a watcher sees: a run settled by a
// final lists that final.
func (s *Server) applyCallback(w http.ResponseWriter, r *http.Request, tr *taskResult, rec *Callback) error {
	if subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(tr.accessToken)) != 1 {
		return unauthorized()
	}
	u, err := readCallback(r)
	if err != nil {
		return err
	}
	rec.Status = u.status
	if u.message != nil {
		rec.Message = *u.message
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr.status.IsFinal() {
		rec.StatusCode = http.StatusConflict
		s.callbackLog = append(s.callbackLog, *rec)
		return conflict(fmt.Sprintf("The task result is already %s.", tr.status))
	}
	if u.message != nil {
		tr.message = *u.message
	}
	if u.url != nil {
		tr.url = *u.url
	}
	if u.outcomes != nil {
		tr.outcomes = u.outcomes
	}
	if u.status == tfc.TaskResultRunning {
		if tr.status != tfc.TaskResultRunning {
			tr.setStatus(tfc.TaskResultRunning, time.Now())
		}
		tr.updatedAt = time.Now()
		select {
		case tr.progress <- struct{}{}:
		default:
		}
		s.notifyLocked()
	} else {
		s.finishResultLocked(tr, u.status, "")
	}
	rec.StatusCode = http.StatusOK
	s.callbackLog = append(s.callbackLog, *rec)
	writeJSON(w, http.StatusOK, document{Data: tr.resource()})
	return nil
}

// callbackUpdate is a validated callback; nil fields were not sent.
type callbackUpdate struct {
	status       tfc.TaskResultStatus
	message, url *string
	outcomes     []tfc.Outcome // nil when the callback carries no outcomes relationship
}

// readCallback decodes and validates a callback body against the documented limits,
// answering 422 with a pointer to the first thing it rejects.
func readCallback(r *http.Request) (*callbackUpdate, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return nil, badRequest("the request body could not be read")
	}
	type outcomeWire struct {
		Type       string `json:"type"`
		Attributes struct {
			OutcomeID   string               `json:"outcome-id"`
			Description string               `json:"description"`
			Body        string               `json:"body"`
			URL         string               `json:"url"`
			Tags        map[string][]tfc.Tag `json:"tags"`
		} `json:"attributes"`
	}
	var doc struct {
		Data *struct {
			Type       string `json:"type"`
			Attributes struct {
				Status  string  `json:"status"`
				Message *string `json:"message"`
				URL     *string `json:"url"`
			} `json:"attributes"`
			Relationships struct {
				Outcomes *struct {
					Data []outcomeWire `json:"data"`
				} `json:"outcomes"`
			} `json:"relationships"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, invalidAttribute("/data", "the body is not a task-results document: "+err.Error())
	}
	d := doc.Data
	switch {
	case d == nil:
		return nil, invalidAttribute("/data", "the document has no primary data")
	case d.Type != "task-results":
		return nil, invalidAttribute("/data/type", `the type must be "task-results"`)
	}
	u := &callbackUpdate{status: tfc.TaskResultStatus(d.Attributes.Status), message: d.Attributes.Message, url: d.Attributes.URL}
	switch u.status {
	case tfc.TaskResultRunning, tfc.TaskResultPassed, tfc.TaskResultFailed:
	default:
		return nil, invalidAttribute("/data/attributes/status", "Status must be one of running, passed, failed")
	}
	if u.message != nil && utf8.RuneCountInString(*u.message) > tfc.MaxMessageLength {
		return nil, invalidAttribute("/data/attributes/message", fmt.Sprintf("Message must be at most %d characters", tfc.MaxMessageLength))
	}
	if u.url != nil {
		if err := checkLink("/data/attributes/url", *u.url); err != nil {
			return nil, err
		}
	}
	rel := d.Relationships.Outcomes
	if rel == nil {
		return u, nil
	}
	if len(rel.Data) > tfc.MaxOutcomes {
		return nil, invalidAttribute("/data/relationships/outcomes", fmt.Sprintf("At most %d outcomes are accepted", tfc.MaxOutcomes))
	}
	u.outcomes = make([]tfc.Outcome, 0, len(rel.Data))
	for i, o := range rel.Data {
		at := fmt.Sprintf("/data/relationships/outcomes/data/%d", i)
		a := o.Attributes
		if o.Type != "task-result-outcomes" {
			return nil, invalidAttribute(at+"/type", `the type must be "task-result-outcomes"`)
		}
		if n := utf8.RuneCountInString(a.OutcomeID); n == 0 || n > tfc.MaxOutcomeIDLength {
			return nil, invalidAttribute(at+"/attributes/outcome-id", fmt.Sprintf("Outcome ID must be 1 to %d characters", tfc.MaxOutcomeIDLength))
		}
		if n := utf8.RuneCountInString(a.Description); n == 0 || n > tfc.MaxDescriptionLength {
			return nil, invalidAttribute(at+"/attributes/description", fmt.Sprintf("Description must be 1 to %d characters", tfc.MaxDescriptionLength))
		}
		if len(a.Body) > tfc.MaxOutcomeBodyBytes {
			return nil, invalidAttribute(at+"/attributes/body", "Body must be at most 5 MB")
		}
		if err := checkLink(at+"/attributes/url", a.URL); err != nil {
			return nil, err
		}
		if err := checkTags(at+"/attributes/tags", a.Tags); err != nil {
			return nil, err
		}
		u.outcomes = append(u.outcomes, tfc.Outcome{ID: a.OutcomeID, Description: a.Description, Body: a.Body, URL: a.URL, Tags: a.Tags})
	}
	return u, nil
}

// checkLink accepts "" or an absolute http(s) URL of at most 500 characters.
func checkLink(pointer, raw string) error {
	if raw == "" {
		return nil
	}
	if utf8.RuneCountInString(raw) > tfc.MaxURLLength || !isHTTPURL(raw) {
		return invalidAttribute(pointer, fmt.Sprintf("URL must be an absolute http(s) URL of at most %d characters", tfc.MaxURLLength))
	}
	return nil
}

// checkTags applies the documented limits of outcome tags.
func checkTags(pointer string, tags map[string][]tfc.Tag) error {
	if len(tags) > tfc.MaxTagHeaders {
		return invalidAttribute(pointer, fmt.Sprintf("At most %d tag headers are accepted", tfc.MaxTagHeaders))
	}
	for header, labels := range tags {
		if header == "" || len(labels) == 0 || len(labels) > tfc.MaxTagsPerHeader {
			return invalidAttribute(pointer, fmt.Sprintf("Tag header %q must have 1 to %d labels", header, tfc.MaxTagsPerHeader))
		}
		for _, t := range labels {
			if n := utf8.RuneCountInString(t.Label); n == 0 || n > tfc.MaxTagLabelLength {
				return invalidAttribute(pointer, fmt.Sprintf("Tag labels must be 1 to %d characters", tfc.MaxTagLabelLength))
			}
			switch t.Level {
			case "", tfc.TagNone, tfc.TagInfo, tfc.TagWarning, tfc.TagError:
			default:
				return invalidAttribute(pointer, fmt.Sprintf("Tag level %q is not none, info, warning or error", t.Level))
			}
		}
	}
	return nil
}

// hasAccessToken reports whether token is the access token of one of r's task results.
func (r *run) hasAccessToken(token string) bool {
	for _, st := range r.stages {
		for _, tr := range st.results {
			if subtle.ConstantTimeCompare([]byte(token), []byte(tr.accessToken)) == 1 {
				return true
			}
		}
	}
	return false
}

// planJSON answers GET /plans/:id/json-output, for a task result's access token only,
// with a 307 to the plan on the blob store.
func (s *Server) planJSON(w http.ResponseWriter, r *http.Request) error {
	if !s.waitForPlan(r) {
		return nil // the client went away, or the server is closing
	}
	return s.download(w, r, s.plans, http.StatusTemporaryRedirect, "application/json", func(r *run) []byte { return r.plan })
}

// configurationDownload answers GET /configuration-versions/:id/download, for a task
// result's access token only, with a 302 to the .tar.gz on the blob store.
func (s *Server) configurationDownload(w http.ResponseWriter, r *http.Request) error {
	return s.download(w, r, s.configs, http.StatusFound, "application/x-gzip", func(r *run) []byte { return r.config })
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, byID map[string]*run, status int, contentType string, content func(*run) []byte) error {
	s.mu.Lock()
	rn, err := lookup(byID, r.PathValue("id"), "download")
	if err == nil && !rn.hasAccessToken(bearer(r)) {
		err = unauthorized()
	}
	if err != nil {
		s.mu.Unlock()
		return err
	}
	target := s.putBlobLocked(contentType, content(rn))
	s.mu.Unlock()
	http.Redirect(w, r, target, status)
	return nil
}

// defaultConfiguration builds the configuration archive of runs that bring none: one
// main.tf.
func defaultConfiguration() ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	mainTF := []byte("# Configuration of a tfctest run.\nterraform {}\n")
	if err := tw.WriteHeader(&tar.Header{Name: "main.tf", Mode: 0o644, Size: int64(len(mainTF)), ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(mainTF); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type taskStageAttrs struct {
	Status           tfc.TaskStageStatus `json:"status"`
	Stage            tfc.Stage           `json:"stage"`
	StatusTimestamps map[string]string   `json:"status-timestamps"`
	Duration         int64               `json:"duration"`
	CreatedAt        string              `json:"created-at"`
	UpdatedAt        string              `json:"updated-at"`
	Permissions      struct {
		CanOverridePolicy bool `json:"can-override-policy"`
		CanOverrideTasks  bool `json:"can-override-tasks"`
		CanOverride       bool `json:"can-override"`
	} `json:"permissions"`
	Actions struct {
		IsOverridable bool `json:"is-overridable"`
	} `json:"actions"`
}

func (st *taskStage) resource() resource {
	a := taskStageAttrs{Status: st.status, Stage: st.stage, StatusTimestamps: st.timestamps.wire(),
		Duration: st.duration().Milliseconds(), CreatedAt: stamp(st.createdAt), UpdatedAt: stamp(st.updatedAt)}
	a.Permissions.CanOverridePolicy, a.Permissions.CanOverrideTasks, a.Permissions.CanOverride = true, true, true
	a.Actions.IsOverridable = st.status == tfc.TaskStageAwaitingOverride
	return resource{
		ID: st.id, Type: "task-stages", Attributes: a,
		Relationships: map[string]relationship{
			"run":                toOne("runs", st.run.id),
			"task-results":       toMany("task-results", idsOf(st.results, func(tr *taskResult) string { return tr.id })),
			"policy-evaluations": toMany("policy-evaluations", idsOf(st.evaluations, func(pe *policyEvaluation) string { return pe.id })),
		},
		Links: map[string]string{"self": "/api/v2/task-stages/" + st.id},
	}
}

type taskResultAttrs struct {
	Status                        tfc.TaskResultStatus `json:"status"`
	Message                       string               `json:"message"`
	StatusTimestamps              map[string]string    `json:"status-timestamps"`
	URL                           string               `json:"url"`
	CreatedAt                     string               `json:"created-at"`
	UpdatedAt                     string               `json:"updated-at"`
	TaskID                        string               `json:"task-id"`
	TaskName                      string               `json:"task-name"`
	TaskURL                       string               `json:"task-url"`
	Stage                         tfc.Stage            `json:"stage"`
	IsSpeculative                 bool                 `json:"is-speculative"`
	WorkspaceTaskID               string               `json:"workspace-task-id"`
	WorkspaceTaskEnforcementLevel tfc.EnforcementLevel `json:"workspace-task-enforcement-level"`
	AgentPoolID                   *string              `json:"agent-pool-id"`
	OutcomesCount                 int                  `json:"task-result-outcomes-count"`
	Duration                      int64                `json:"duration"`
}

func (tr *taskResult) resource() resource {
	return resource{
		ID: tr.id, Type: "task-results",
		Attributes: taskResultAttrs{
			Status: tr.status, Message: tr.message, StatusTimestamps: tr.timestamps.wire(), URL: tr.url,
			CreatedAt: stamp(tr.createdAt), UpdatedAt: stamp(tr.updatedAt), TaskID: tr.taskID, TaskName: tr.taskName,
			TaskURL: tr.taskURL, Stage: tr.stage.stage, IsSpeculative: tr.stage.run.speculative,
			WorkspaceTaskID: tr.wsTaskID, WorkspaceTaskEnforcementLevel: tr.enforcement,
			OutcomesCount: len(tr.outcomes), Duration: tr.duration().Milliseconds(),
		},
		Relationships: map[string]relationship{"task-stage": toOne("task-stages", tr.stage.id)},
		Links:         map[string]string{"self": "/api/v2/task-results/" + tr.id},
	}
}

// taskStageIncludes are the include values of the task stage endpoints.
var taskStageIncludes = []string{"task_results", "policy_evaluations", "run", "run.workspace", "cost_estimate"}

// includeForStages returns what a task stage request included: task results, policy
// evaluations, runs and workspaces (the fake has no cost estimates to include).
func includeForStages(stages []*taskStage, inc map[string]bool) []resource {
	var out []resource
	var runs []*run
	for _, st := range stages {
		if inc["task_results"] {
			for _, tr := range st.results {
				out = append(out, tr.resource())
			}
		}
		if inc["policy_evaluations"] {
			for _, pe := range st.evaluations {
				out = append(out, pe.resource())
			}
		}
		runs = append(runs, st.run)
	}
	return append(out, includeRuns(runs, inc)...)
}

// listTaskStages answers GET /runs/:id/task-stages, paginated.
func (s *Server) listTaskStages(w http.ResponseWriter, r *http.Request) error {
	inc, err := parseInclude(r, taskStageIncludes...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, err := lookup(s.runs, r.PathValue("id"), "run")
	if err != nil {
		return err
	}
	return writeList(w, r, s.URL, rn.stages, (*taskStage).resource, func(page []*taskStage) []resource {
		return includeForStages(page, inc)
	})
}

// getTaskStage answers GET /task-stages/:id, with include=task_results,… .
func (s *Server) getTaskStage(w http.ResponseWriter, r *http.Request) error {
	inc, err := parseInclude(r, taskStageIncludes...)
	if err != nil {
		return err
	}
	return show(s, w, s.stages, r.PathValue("id"), "task stage", (*taskStage).resource, func(st *taskStage) []resource {
		return includeForStages([]*taskStage{st}, inc)
	})
}

// overrideTaskStage answers POST /task-stages/:id/actions/override: a stage that is
// awaiting_override becomes passed (keeping its awaiting-override-at timestamp), its
// failed policy evaluations overridden, and the run goes on with its next stage; any
// other stage is a 409.
func (s *Server) overrideTaskStage(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := lookup(s.stages, r.PathValue("id"), "task stage")
	if err != nil {
		return err
	}
	if st.status != tfc.TaskStageAwaitingOverride {
		return conflict(fmt.Sprintf("The task stage is %s; only a stage awaiting override can be overridden.", st.status))
	}
	now := time.Now()
	st.setStatus(tfc.TaskStagePassed, now)
	for _, pe := range st.evaluations {
		if pe.status == tfc.PolicyEvaluationFailed {
			pe.setStatus(tfc.PolicyEvaluationOverridden, now)
		}
	}
	s.advanceLocked(st.run)
	s.notifyLocked()
	writeJSON(w, http.StatusOK, document{Data: st.resource()})
	return nil
}

// getTaskResult answers GET /task-results/:id.
func (s *Server) getTaskResult(w http.ResponseWriter, r *http.Request) error {
	return show(s, w, s.results, r.PathValue("id"), "task result", (*taskResult).resource, nil)
}
