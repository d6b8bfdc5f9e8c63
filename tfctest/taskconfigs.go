package tfctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/tfkit/tfc"
)

// taskConfig is a run task's configuration, owned by its organization (the only owner
// the service knows): where the task runs, at which stages, how strictly. A task has at
// most one. A run task's global-configuration reads and writes the same object.
type taskConfig struct {
	id          string
	task        *runTask
	global      bool
	enforcement tfc.EnforcementLevel
	stages      []tfc.Stage
	projects    []string
	createdAt   time.Time
}

// appliesTo reports whether the configuration runs its task on ws at st.
func (c *taskConfig) appliesTo(ws *workspace, st tfc.Stage) bool {
	return (c.global || slices.Contains(c.projects, ws.org.projectID)) && slices.Contains(c.stages, st)
}

// taskConfigChange is what a request sets; nil fields were not sent.
type taskConfigChange struct {
	global      *bool
	enforcement tfc.EnforcementLevel
	stages      []tfc.Stage
	projects    *[]string
	owner       *resourceRef
	taskID      string
}

// parseTaskConfig validates a task-configs resource of a request (pointer is where it
// sits in the document), answering 422 with a pointer to what it rejects. A create
// needs the enforcement level and at least one stage.
func parseTaskConfig(pointer string, in *inResource, create bool) (taskConfigChange, error) {
	var c taskConfigChange
	if in.Type != "task-configs" {
		return c, invalidAttribute(pointer+"/type", `the type must be "task-configs"`)
	}
	a := in.Attributes
	var global bool
	if ok, err := a.get("global", &global); err != nil {
		return c, invalidAttribute(pointer+"/attributes/global", "Global must be true or false")
	} else if ok {
		c.global = &global
	}
	if _, err := a.get("enforcement-level", &c.enforcement); err != nil {
		return c, invalidAttribute(pointer+"/attributes/enforcement-level", `Enforcement level must be "advisory" or "mandatory"`)
	}
	if err := checkEnforcement(pointer+"/attributes/enforcement-level", c.enforcement, create); err != nil {
		return c, err
	}
	if _, err := a.get("allowed-stages", &c.stages); err != nil {
		return c, invalidAttribute(pointer+"/attributes/allowed-stages", "Allowed stages must be a list of stages")
	}
	if create && len(c.stages) == 0 {
		return c, invalidAttribute(pointer+"/attributes/allowed-stages", "Allowed stages can't be blank")
	}
	if err := checkStages(pointer+"/attributes/allowed-stages", c.stages); err != nil {
		return c, err
	}
	if raw, ok := in.Relationships["projects"]; ok {
		var rel struct {
			Data []resourceRef `json:"data"`
		}
		if err := json.Unmarshal(raw, &rel); err != nil {
			return c, invalidAttribute(pointer+"/relationships/projects", "the relationship is malformed")
		}
		ids := make([]string, len(rel.Data))
		for i, ref := range rel.Data {
			if ref.Type != "projects" {
				return c, invalidAttribute(pointer+"/relationships/projects", `the related resources must be "projects"`)
			}
			ids[i] = ref.ID
		}
		c.projects = &ids
	}
	for _, name := range []string{"owner", "task"} {
		raw, ok := in.Relationships[name]
		if !ok {
			continue
		}
		var rel struct {
			Data *resourceRef `json:"data"`
		}
		if err := json.Unmarshal(raw, &rel); err != nil || rel.Data == nil {
			return c, invalidAttribute(pointer+"/relationships/"+name, "the relationship is malformed")
		}
		if name == "owner" {
			c.owner = rel.Data
		} else {
			c.taskID = rel.Data.ID
		}
	}
	return c, nil
}

// checkLocked checks a change against the organization: the owner must be o, every
// project one of its projects, and a global configuration targets none.
func (c *taskConfigChange) checkLocked(pointer string, o *organization) error {
	if c.owner != nil && (c.owner.Type != "organizations" || c.owner.ID != o.name) {
		return invalidAttribute(pointer+"/relationships/owner", "The owner must be the task's organization")
	}
	if c.projects != nil {
		for _, id := range *c.projects {
			if id != o.projectID {
				return invalidAttribute(pointer+"/relationships/projects", fmt.Sprintf("Project %s not found", id))
			}
		}
	}
	return nil
}

// apply copies what c sets onto cfg.
func (cfg *taskConfig) apply(c taskConfigChange) {
	if c.global != nil {
		cfg.global = *c.global
	}
	if c.enforcement != "" {
		cfg.enforcement = c.enforcement
	}
	if c.stages != nil {
		cfg.stages = slices.Clone(c.stages)
	}
	if c.projects != nil {
		cfg.projects = slices.Clone(*c.projects)
	}
}

// configureLocked gives t the configuration c describes, creating it if t has none.
func (s *Server) configureLocked(t *runTask, c taskConfigChange) *taskConfig {
	if t.config == nil {
		t.config = &taskConfig{id: newID("taskcfg-"), task: t, projects: []string{}, createdAt: time.Now()}
		t.org.taskConfigs = append(t.org.taskConfigs, t.config)
		s.taskConfigs[t.config.id] = t.config
	}
	t.config.apply(c)
	return t.config
}

type taskConfigAttrs struct {
	Global           bool                 `json:"global"`
	EnforcementLevel tfc.EnforcementLevel `json:"enforcement-level"`
	AllowedStages    []tfc.Stage          `json:"allowed-stages"`
}

func (c *taskConfig) resource() resource {
	return resource{
		ID: c.id, Type: "task-configs",
		Attributes: taskConfigAttrs{Global: c.global, EnforcementLevel: c.enforcement, AllowedStages: slices.Clone(c.stages)},
		Relationships: map[string]relationship{
			"owner":    toOne("organizations", c.task.org.name),
			"task":     toOne("tasks", c.task.id),
			"projects": toMany("projects", c.projects),
		},
	}
}

// createTaskConfig answers POST /organizations/:org/task-configs: 201 with the new
// configuration; 404 for a task not of the organization; 422 for a malformed request,
// another owner, an unknown project, or a task that already has a configuration.
func (s *Server) createTaskConfig(w http.ResponseWriter, r *http.Request) error {
	in, err := readResource(r)
	if err != nil {
		return err
	}
	if err := in.checkType("task-configs"); err != nil {
		return err
	}
	c, err := parseTaskConfig("/data", in, true)
	if err != nil {
		return err
	}
	if c.taskID == "" {
		return invalidAttribute("/data/relationships/task", "Task can't be blank")
	}
	if c.owner == nil {
		return invalidAttribute("/data/relationships/owner", "Owner can't be blank")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	t, ok := s.tasks[c.taskID]
	if !ok || t.org != o {
		return notFound("task not found")
	}
	if err := c.checkLocked("/data", o); err != nil {
		return err
	}
	if t.config != nil {
		return invalidAttribute("/data/relationships/task", "The task already has a configuration for this owner")
	}
	writeJSON(w, http.StatusCreated, document{Data: s.configureLocked(t, c).resource()})
	return nil
}

// updateTaskConfig answers PATCH /task-configs/:id with 200 and the configuration (the
// page documents 201; a PATCH answers 200 everywhere else on the service).
func (s *Server) updateTaskConfig(w http.ResponseWriter, r *http.Request) error {
	in, err := readResource(r)
	if err != nil {
		return err
	}
	if err := in.checkType("task-configs"); err != nil {
		return err
	}
	if in.ID != "" && in.ID != r.PathValue("id") {
		return &httpError{status: http.StatusConflict, errors: []apiError{{Status: "409", Title: "conflict",
			Detail: "the resource ID does not match the URL", Source: &errorSource{Pointer: "/data/id"}}}}
	}
	c, err := parseTaskConfig("/data", in, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := lookup(s.taskConfigs, r.PathValue("id"), "task configuration")
	if err != nil {
		return err
	}
	if err := c.checkLocked("/data", cfg.task.org); err != nil {
		return err
	}
	cfg.apply(c)
	writeJSON(w, http.StatusOK, document{Data: cfg.resource()})
	return nil
}

// listTaskConfigs answers GET /organizations/:org/task-configs, paginated, with
// filter[target_type]=project and filter[target_id] (both or neither, else 400) and
// filter[task_category] (the fake's tasks are all of category "task").
func (s *Server) listTaskConfigs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	targetType, targetID, category := q.Get("filter[target_type]"), q.Get("filter[target_id]"), q.Get("filter[task_category]")
	switch {
	case (targetType == "") != (targetID == ""):
		return badRequest("filter[target_type] and filter[target_id] go together")
	case targetType != "" && targetType != "project":
		return badRequest(`filter[target_type] must be "project"`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.orgFromPath(r)
	if err != nil {
		return err
	}
	configs := slices.DeleteFunc(slices.Clone(o.taskConfigs), func(c *taskConfig) bool {
		return (targetID != "" && !slices.Contains(c.projects, targetID)) || (category != "" && category != "task")
	})
	return writeList(w, r, s.URL, configs, (*taskConfig).resource, nil)
}
