package tfctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tfkit/tfc"
)

type runTask struct {
	id, name, url, description string
	hmacKey                    string // write-only on the wire
	enabled                    bool
	config                     *taskConfig // nil until configured
	agentPoolID                string
	org                        *organization
	attached                   []*workspaceTask
	createdAt, updatedAt       time.Time
}

type globalConfiguration struct {
	Enabled          bool                 `json:"enabled"`
	Stages           []tfc.Stage          `json:"stages"`
	EnforcementLevel tfc.EnforcementLevel `json:"enforcement-level"`
}

type workspaceTask struct {
	id                   string
	task                 *runTask
	ws                   *workspace
	enforcement          tfc.EnforcementLevel
	stages               []tfc.Stage
	createdAt, updatedAt time.Time
}

// runTaskChange is what a create or update request asks for; nil fields were not sent.
type runTaskChange struct {
	name, url, description *string
	hmacKey                *string // "" when sent as null
	enabled                *bool
	global                 *globalConfiguration
	agentPoolID            *string
	configs                []taskConfigChange // the task-configs relationship; nil when not sent
}

// parseRunTask validates the attributes of a run task request, answering 422 with a
// pointer to the first attribute it rejects.
func parseRunTask(in *inResource, create bool) (runTaskChange, error) {
	var c runTaskChange
	if err := in.checkType("tasks"); err != nil {
		return c, err
	}
	a := in.Attributes
	str := func(name string) (*string, error) {
		var v string
		if ok, err := a.get(name, &v); !ok || err != nil {
			return nil, err
		}
		return &v, nil
	}
	var err error
	if c.name, err = str("name"); err != nil {
		return c, err
	}
	switch {
	case c.name == nil && create, c.name != nil && *c.name == "":
		return c, invalidAttribute("/data/attributes/name", "Name can't be blank")
	case c.name != nil && strings.ContainsFunc(*c.name, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}):
		return c, invalidAttribute("/data/attributes/name", "Name can only contain letters, numbers, dashes and underscores")
	}
	if c.url, err = str("url"); err != nil {
		return c, err
	}
	if c.url == nil && create {
		return c, invalidAttribute("/data/attributes/url", "Url can't be blank")
	}
	if c.url != nil {
		if !isHTTPURL(*c.url) {
			return c, invalidAttribute("/data/attributes/url", "Url must be a valid http or https URL")
		}
	}
	category, err := str("category")
	if err != nil {
		return c, err
	}
	if category != nil && *category != "task" {
		return c, invalidAttribute("/data/attributes/category", `Category must be "task"`)
	}
	if c.description, err = str("description"); err != nil {
		return c, err
	}
	if a.isNull("description") {
		c.description = new(string)
	}
	if c.description != nil && utf8.RuneCountInString(*c.description) > 300 {
		return c, invalidAttribute("/data/attributes/description", "Description is too long (maximum is 300 characters)")
	}
	if c.hmacKey, err = str("hmac-key"); err != nil {
		return c, err
	}
	if a.isNull("hmac-key") {
		c.hmacKey = new(string)
	}
	var enabled bool
	if ok, err := a.get("enabled", &enabled); err != nil {
		return c, err
	} else if ok {
		c.enabled = &enabled
	}
	var gc globalConfiguration
	if ok, err := a.get("global-configuration", &gc); err != nil {
		return c, err
	} else if ok {
		if err := checkEnforcement("/data/attributes/global-configuration/enforcement-level", gc.EnforcementLevel, false); err != nil {
			return c, err
		}
		if err := checkStages("/data/attributes/global-configuration/stages", gc.Stages); err != nil {
			return c, err
		}
		c.global = &gc
	}
	if _, ok := in.Relationships["agent-pool"]; ok {
		id, err := in.relationshipID("agent-pool")
		if err != nil {
			return c, err
		}
		c.agentPoolID = &id
	}
	if raw, ok := in.Relationships["task-configs"]; ok {
		var rel struct {
			Data []*inResource `json:"data"`
		}
		if err := json.Unmarshal(raw, &rel); err != nil {
			return c, invalidAttribute("/data/relationships/task-configs", "the relationship is malformed")
		}
		if len(rel.Data) > 1 {
			return c, invalidAttribute("/data/relationships/task-configs", "A task has one configuration per owner")
		}
		c.configs = []taskConfigChange{}
		for i, cfg := range rel.Data {
			if cfg == nil {
				return c, invalidAttribute("/data/relationships/task-configs", "the relationship is malformed")
			}
			if cfg.Attributes == nil {
				cfg.Attributes = attributes{}
			}
			tc, err := parseTaskConfig(fmt.Sprintf("/data/relationships/task-configs/data/%d", i), cfg, true)
			if err != nil {
				return c, err
			}
			c.configs = append(c.configs, tc)
		}
	}
	return c, nil
}

// checkConfigsLocked checks the task configurations of a request against o.
func (c *runTaskChange) checkConfigsLocked(o *organization) error {
	for i := range c.configs {
		if err := c.configs[i].checkLocked(fmt.Sprintf("/data/relationships/task-configs/data/%d", i), o); err != nil {
			return err
		}
	}
	return nil
}

// configureTaskLocked gives t the configuration the request asks for: the task-configs
// relationship when sent, else global-configuration, which the service turns into the
// organization's configuration of the task.
func (s *Server) configureTaskLocked(t *runTask, c runTaskChange) {
	switch {
	case len(c.configs) > 0:
		s.configureLocked(t, c.configs[0])
	case c.configs == nil && c.global != nil:
		g := c.global
		s.configureLocked(t, taskConfigChange{global: &g.Enabled, enforcement: g.EnforcementLevel, stages: g.Stages})
	}
}

// checkEnforcement accepts advisory and mandatory (and nothing, unless required).
func checkEnforcement(pointer string, l tfc.EnforcementLevel, required bool) error {
	if l == tfc.EnforcementAdvisory || l == tfc.EnforcementMandatory || (l == "" && !required) {
		return nil
	}
	return invalidAttribute(pointer, `Enforcement level must be "advisory" or "mandatory"`)
}

// runStages are the stages of a run, in the order they happen.
var runStages = []tfc.Stage{tfc.StagePrePlan, tfc.StagePostPlan, tfc.StagePreApply, tfc.StagePostApply}

func checkStages(pointer string, stages []tfc.Stage) error {
	for _, st := range stages {
		if !slices.Contains(runStages, st) {
			return invalidAttribute(pointer, fmt.Sprintf("%q is not one of pre_plan, post_plan, pre_apply, post_apply", st))
		}
	}
	return nil
}

// createRunTask answers POST /organizations/:org/tasks. Before it creates anything it
// sends the verification request to the URL; an answer other than 200 fails the create
// with 422, as on the service.
func (s *Server) createRunTask(w http.ResponseWriter, r *http.Request) error {
	in, err := readResource(r)
	if err != nil {
		return err
	}
	c, err := parseRunTask(in, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	o, err := s.orgFromPath(r)
	if err == nil {
		err = o.checkTaskName("", *c.name)
	}
	if err == nil {
		err = c.checkConfigsLocked(o)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	t := &runTask{id: newID("task-"), enabled: true, org: o}
	t.apply(c)
	if err := s.verify(r.Context(), t.id, o.name, t.url, t.hmacKey); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := o.checkTaskName("", t.name); err != nil {
		return err
	}
	t.createdAt, t.updatedAt = time.Now(), time.Now()
	o.tasks = append(o.tasks, t)
	s.tasks[t.id] = t
	s.configureTaskLocked(t, c)
	writeJSON(w, http.StatusCreated, document{Data: t.resource()})
	return nil
}

// checkTaskName refuses a name another task of the organization (not id) has.
func (o *organization) checkTaskName(id, name string) error {
	for _, t := range o.tasks {
		if t.name == name && t.id != id {
			return invalidAttribute("/data/attributes/name", "Name has already been taken")
		}
	}
	return nil
}

// apply copies the fields c sets onto t.
func (t *runTask) apply(c runTaskChange) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&t.name, c.name)
	set(&t.url, c.url)
	set(&t.description, c.description)
	set(&t.hmacKey, c.hmacKey)
	set(&t.agentPoolID, c.agentPoolID)
	if c.enabled != nil {
		t.enabled = *c.enabled
	}
}

// updateRunTask answers PATCH /tasks/:id. A new URL or HMAC key is verified first,
// like on create; the task is left unchanged when verification fails.
func (s *Server) updateRunTask(w http.ResponseWriter, r *http.Request) error {
	in, err := readResource(r)
	if err != nil {
		return err
	}
	c, err := parseRunTask(in, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	t, err := lookup(s.tasks, r.PathValue("id"), "run task")
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if c.name != nil {
		if err := t.org.checkTaskName(t.id, *c.name); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if err := c.checkConfigsLocked(t.org); err != nil {
		s.mu.Unlock()
		return err
	}
	next := *t
	next.apply(c)
	org := t.org.name
	s.mu.Unlock()
	if next.url != t.url || next.hmacKey != t.hmacKey {
		if err := s.verify(r.Context(), t.id, org, next.url, next.hmacKey); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks[t.id] != t {
		return notFound("run task not found")
	}
	t.apply(c)
	s.configureTaskLocked(t, c)
	t.updatedAt = time.Now()
	writeJSON(w, http.StatusOK, document{Data: t.resource()})
	return nil
}

// deleteRunTask answers DELETE /tasks/:id: 204, or 409 while workspaces still use the
// task (the service refuses; it documents no status, so tfctest picks 409).
func (s *Server) deleteRunTask(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := lookup(s.tasks, r.PathValue("id"), "run task")
	if err != nil {
		return err
	}
	if n := len(t.attached); n > 0 {
		return conflict(fmt.Sprintf("Run task %s is attached to %d workspace(s); detach it from them before deleting it.", t.name, n))
	}
	t.org.tasks = slices.DeleteFunc(t.org.tasks, func(x *runTask) bool { return x == t })
	delete(s.tasks, t.id)
	if t.config != nil {
		t.org.taskConfigs = slices.DeleteFunc(t.org.taskConfigs, func(x *taskConfig) bool { return x == t.config })
		delete(s.taskConfigs, t.config.id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getRunTask answers GET /tasks/:id, with include=workspace_tasks[,workspace_tasks.workspace].
func (s *Server) getRunTask(w http.ResponseWriter, r *http.Request) error {
	inc, err := parseInclude(r, "workspace_tasks", "workspace_tasks.workspace")
	if err != nil {
		return err
	}
	return show(s, w, s.tasks, r.PathValue("id"), "run task", (*runTask).resource, func(t *runTask) []resource {
		return includeAttachments([]*runTask{t}, inc)
	})
}

// listRunTasks answers GET /organizations/:org/tasks, paginated, with the includes of
// getRunTask.
func (s *Server) listRunTasks(w http.ResponseWriter, r *http.Request) error {
	inc, err := parseInclude(r, "workspace_tasks", "workspace_tasks.workspace")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	return writeList(w, r, s.URL, o.tasks, (*runTask).resource, func(page []*runTask) []resource {
		return includeAttachments(page, inc)
	})
}

// includeAttachments returns the workspace tasks of tasks (and their workspaces) when
// the request included them.
func includeAttachments(tasks []*runTask, inc map[string]bool) []resource {
	var out []resource
	seen := map[string]bool{}
	for _, t := range tasks {
		for _, wt := range t.attached {
			if inc["workspace_tasks"] || inc["workspace_tasks.workspace"] {
				out = append(out, wt.resource())
			}
			if inc["workspace_tasks.workspace"] && !seen[wt.ws.id] {
				seen[wt.ws.id] = true
				out = append(out, wt.ws.resource())
			}
		}
	}
	return out
}

// parseInclude reads the include parameter, answering 400 for a value not in allowed.
func parseInclude(r *http.Request, allowed ...string) (map[string]bool, error) {
	inc := map[string]bool{}
	// Clients send several values comma-separated, or as repeated parameters.
	for _, v := range r.URL.Query()["include"] {
		for name := range strings.SplitSeq(v, ",") {
			if !slices.Contains(allowed, name) {
				e := badRequest(fmt.Sprintf("Invalid include parameter: %q is not one of %s", name, strings.Join(allowed, ", ")))
				e.errors[0].Source = &errorSource{Parameter: "include"}
				return nil, e
			}
			inc[name] = true
		}
	}
	return inc, nil
}

type runTaskAttrs struct {
	Category            string               `json:"category"`
	Name                string               `json:"name"`
	URL                 string               `json:"url"`
	Description         string               `json:"description"`
	Enabled             bool                 `json:"enabled"`
	HMACKey             *string              `json:"hmac-key"` // always null: write-only
	GlobalConfiguration *globalConfiguration `json:"global-configuration"`
	CreatedAt           string               `json:"created-at"`
	UpdatedAt           string               `json:"updated-at"`
}

func (t *runTask) resource() resource {
	// global-configuration is the task's configuration seen the old way.
	var global *globalConfiguration
	var configIDs []string
	if c := t.config; c != nil {
		global = &globalConfiguration{Enabled: c.global, Stages: slices.Clone(c.stages), EnforcementLevel: c.enforcement}
		configIDs = []string{c.id}
	}
	return resource{
		ID: t.id, Type: "tasks",
		Attributes: runTaskAttrs{Category: "task", Name: t.name, URL: t.url, Description: t.description,
			Enabled: t.enabled, GlobalConfiguration: global, CreatedAt: stamp(t.createdAt), UpdatedAt: stamp(t.updatedAt)},
		Relationships: map[string]relationship{
			"organization":    toOne("organizations", t.org.name),
			"workspace-tasks": toMany("workspace-tasks", idsOf(t.attached, func(wt *workspaceTask) string { return wt.id })),
			"agent-pool":      toOne("agent-pools", t.agentPoolID),
			"task-configs":    toMany("task-configs", configIDs),
		},
		Links: map[string]string{"self": "/api/v2/tasks/" + t.id},
	}
}

type workspaceTaskAttrs struct {
	EnforcementLevel tfc.EnforcementLevel `json:"enforcement-level"`
	Stage            tfc.Stage            `json:"stage"` // deprecated, still sent: the first stage
	Stages           []tfc.Stage          `json:"stages"`
	CreatedAt        string               `json:"created-at"`
	UpdatedAt        string               `json:"updated-at"`
}

func (wt *workspaceTask) resource() resource {
	return resource{
		ID: wt.id, Type: "workspace-tasks",
		Attributes: workspaceTaskAttrs{EnforcementLevel: wt.enforcement, Stage: wt.stages[0], Stages: slices.Clone(wt.stages),
			CreatedAt: stamp(wt.createdAt), UpdatedAt: stamp(wt.updatedAt)},
		Relationships: map[string]relationship{
			"task":      toOne("tasks", wt.task.id),
			"workspace": toOne("workspaces", wt.ws.id),
		},
		Links: map[string]string{"self": "/api/v2/workspaces/" + wt.ws.id + "/tasks/" + wt.id},
	}
}

// readWorkspaceTask reads a workspace task request: its enforcement level (required on
// create) and its stages (nil when not sent).
func readWorkspaceTask(r *http.Request, create bool) (*inResource, tfc.EnforcementLevel, []tfc.Stage, error) {
	in, err := readResource(r)
	if err != nil {
		return nil, "", nil, err
	}
	if err := in.checkType("workspace-tasks"); err != nil {
		return nil, "", nil, err
	}
	var level tfc.EnforcementLevel
	if _, err := in.Attributes.get("enforcement-level", &level); err != nil {
		return nil, "", nil, err
	}
	if err := checkEnforcement("/data/attributes/enforcement-level", level, create); err != nil {
		return nil, "", nil, err
	}
	stages, err := parseStages(in.Attributes)
	if err != nil {
		return nil, "", nil, err
	}
	return in, level, stages, nil
}

// parseStages reads stages, or the deprecated single stage, of a workspace task
// request; nil when neither was sent.
func parseStages(a attributes) ([]tfc.Stage, error) {
	var stages []tfc.Stage
	ok, err := a.get("stages", &stages)
	if err != nil {
		return nil, err
	}
	if !ok {
		var st tfc.Stage
		if ok, err := a.get("stage", &st); err != nil || !ok {
			return nil, err
		}
		stages = []tfc.Stage{st}
	}
	if len(stages) == 0 {
		return nil, invalidAttribute("/data/attributes/stages", "Stages can't be empty")
	}
	if err := checkStages("/data/attributes/stages", stages); err != nil {
		return nil, err
	}
	return slices.Compact(stages), nil
}

// createWorkspaceTask answers POST /workspaces/:id/tasks: 201 with the attachment.
// enforcement-level and the task relationship are required; stages default to
// [post_plan]. A task of another organization, or one already attached, is a 422.
func (s *Server) createWorkspaceTask(w http.ResponseWriter, r *http.Request) error {
	in, level, stages, err := readWorkspaceTask(r, true)
	if err != nil {
		return err
	}
	if stages == nil {
		stages = []tfc.Stage{tfc.StagePostPlan}
	}
	taskID, err := in.relationshipID("task")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, err := lookup(s.workspaces, r.PathValue("id"), "workspace")
	if err != nil {
		return err
	}
	t, ok := s.tasks[taskID]
	if !ok || t.org != ws.org {
		return invalidAttribute("/data/relationships/task", "Task not found in the workspace's organization")
	}
	for _, wt := range ws.tasks {
		if wt.task == t {
			return invalidAttribute("/data/relationships/task", "Task has already been attached to this workspace")
		}
	}
	now := time.Now()
	wt := &workspaceTask{id: newID("wstask-"), task: t, ws: ws, enforcement: level, stages: stages, createdAt: now, updatedAt: now}
	ws.tasks = append(ws.tasks, wt)
	t.attached = append(t.attached, wt)
	s.wsTasks[wt.id] = wt
	writeJSON(w, http.StatusCreated, document{Data: wt.resource()})
	return nil
}

// workspaceTaskFromPath finds /workspaces/:id/tasks/:wstask, or answers 404.
func (s *Server) workspaceTaskFromPath(r *http.Request) (*workspaceTask, error) {
	wt, ok := s.wsTasks[r.PathValue("wstask")]
	if !ok || wt.ws.id != r.PathValue("id") {
		return nil, notFound("workspace run task not found")
	}
	return wt, nil
}

// listWorkspaceTasks answers GET /workspaces/:id/tasks, paginated.
func (s *Server) listWorkspaceTasks(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, err := lookup(s.workspaces, r.PathValue("id"), "workspace")
	if err != nil {
		return err
	}
	return writeList(w, r, s.URL, ws.tasks, (*workspaceTask).resource, nil)
}

// getWorkspaceTask answers GET /workspaces/:id/tasks/:wstask.
func (s *Server) getWorkspaceTask(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	wt, err := s.workspaceTaskFromPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, document{Data: wt.resource()})
	return nil
}

// updateWorkspaceTask answers PATCH /workspaces/:id/tasks/:wstask: enforcement-level
// and stages (or the deprecated stage).
func (s *Server) updateWorkspaceTask(w http.ResponseWriter, r *http.Request) error {
	_, level, stages, err := readWorkspaceTask(r, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wt, err := s.workspaceTaskFromPath(r)
	if err != nil {
		return err
	}
	if level != "" {
		wt.enforcement = level
	}
	if stages != nil {
		wt.stages = stages
	}
	wt.updatedAt = time.Now()
	writeJSON(w, http.StatusOK, document{Data: wt.resource()})
	return nil
}

// deleteWorkspaceTask answers DELETE /workspaces/:id/tasks/:wstask: 204.
func (s *Server) deleteWorkspaceTask(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	wt, err := s.workspaceTaskFromPath(r)
	if err != nil {
		return err
	}
	wt.ws.tasks = slices.DeleteFunc(wt.ws.tasks, func(x *workspaceTask) bool { return x == wt })
	wt.task.attached = slices.DeleteFunc(wt.task.attached, func(x *workspaceTask) bool { return x == wt })
	delete(s.wsTasks, wt.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Delivery is one POST the server sent to a run task's URL: a verification request or
// a run's delivery, attempt by attempt. It holds the raw body, with its access token,
// for tests that check the payload or its signature.
type Delivery struct {
	// TaskID is the run task the request went to.
	TaskID string
	// URL is where it went.
	URL string
	// Verification is true for the test request sent when a task is created or its URL
	// or key change; TaskResultID and Stage are then empty.
	Verification bool
	TaskResultID string
	Stage        tfc.Stage
	// Attempt counts the attempts of one delivery, from 1.
	Attempt int
	// Signature is the X-TFC-Task-Signature sent, "" for a task without an HMAC key.
	Signature string
	// Body is the payload as sent (and signed).
	Body []byte
	// StatusCode is the receiver's answer, 0 when the request failed.
	StatusCode int
	// Err is why the request failed, nil when an answer came.
	Err error
}

// Deliveries returns every request sent to run task URLs so far, in the order they
// were answered.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// deliveryTimeout bounds one request to a run task URL.
const deliveryTimeout = 10 * time.Second

// verify sends the verification request for task id of org to target, signed with key
// if there is one, and answers the documented-as-undocumented 422 unless it gets 200.
func (s *Server) verify(ctx context.Context, taskID, org, target, key string) error {
	p := payload{
		PayloadVersion: 1, Stage: tfc.StageTest, AccessToken: tfc.VerificationAccessToken,
		ConfigurationVersionID: "cv-verification0000", IsSpeculative: false, OrganizationName: org,
		RunAppURL: s.URL + "/app/" + org + "/verification/runs/run-verification000", RunCreatedAt: stamp(time.Now()),
		RunCreatedBy: "tfctest", RunID: "run-verification000", RunMessage: "Run task verification",
		TaskResultCallbackURL:      s.URL + "/api/v2/task-results/00000000-0000-0000-0000-000000000000/callback",
		TaskResultEnforcementLevel: tfc.EnforcementMandatory, TaskResultID: "taskrs-verification0",
		WorkspaceAppURL: s.URL + "/app/" + org + "/verification", WorkspaceID: "ws-verification00000",
		WorkspaceName: "verification",
	}
	p.Capabilities.Outcomes = true
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	d := Delivery{TaskID: taskID, URL: target, Verification: true, Attempt: 1, Body: body, Signature: sign(key, body)}
	d.StatusCode, d.Err = s.post(ctx, target, body, d.Signature)
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	switch {
	case d.StatusCode == http.StatusOK:
		return nil
	case d.Err != nil:
		return invalidAttribute("/data/attributes/url", "The run task URL could not be verified: the verification request got no answer.")
	default:
		return invalidAttribute("/data/attributes/url", fmt.Sprintf(
			"The run task URL could not be verified: it answered the verification request with %d %s instead of 200 OK.",
			d.StatusCode, http.StatusText(d.StatusCode)))
	}
}

// sign returns the X-TFC-Task-Signature of body: the hex HMAC-SHA512 under key, or ""
// without a key, which the service sends as an empty header.
func sign(key string, body []byte) string {
	if key == "" {
		return ""
	}
	return tfc.Sign(tfc.Secret(key), body)
}

// post sends one run task request and returns the status of the answer.
func (s *Server) post(ctx context.Context, target string, body []byte, signature string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "TFC/1.0 (+https://app.terraform.io; TFC)")
	req.Header.Set(tfc.SignatureHeader, signature)
	resp, err := s.outbound.Do(req)
	if err != nil {
		return 0, err
	}
	drainAndClose(resp)
	return resp.StatusCode, nil
}
