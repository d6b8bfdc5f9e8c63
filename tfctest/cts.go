package tfctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/tfkit/tfc"
)

// CTSServer is an in-memory Consul-Terraform-Sync daemon listening on loopback: plain
// JSON under /v1/, no token, as a daemon with TLS off serves it. Runs are simulated:
// running a task (create or enable with run=now) records a successful event at once,
// and an inspection returns a canned plan. Its methods are safe for concurrent use.
type CTSServer struct {
	// URL is the daemon's address, "http://127.0.0.1:port", what tfc.WithCTSAddress
	// takes.
	URL string

	srv    *httptest.Server
	leader *ctsLeader // set for a follower

	mu        sync.Mutex
	tasks     []*ctsTask // in creation order
	unhealthy string     // why /v1/health fails; "" when healthy
}

// CTSOption configures a CTSServer.
type CTSOption func(*CTSServer)

type ctsLeader struct{ id, address string }

type ctsTask struct {
	task   tfc.CTSTask
	events []tfc.CTSEvent // newest first, at most ctsEventsKept
}

// ctsEventsKept is how many events the daemon keeps per task.
const ctsEventsKept = 5

// WithCTSFollower makes the daemon a follower in a high-availability cluster led by
// leaderID, advertised at leaderAddress: /v1/tasks and /v1/status then answer 400 with
// the documented "redirect requests to leader '<id>' at <address>" (without " at …"
// when leaderAddress is "", and without the ID as well when leaderID is ""), and
// /v1/status/cluster lists the leader and the follower.
func WithCTSFollower(leaderID, leaderAddress string) CTSOption {
	return func(c *CTSServer) { c.leader = &ctsLeader{id: leaderID, address: leaderAddress} }
}

// NewCTSServer starts a fake CTS daemon on 127.0.0.1 with no tasks. Like
// httptest.NewServer it panics when it cannot listen.
func NewCTSServer(opts ...CTSOption) *CTSServer {
	c := &CTSServer{}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks", c.leaderOnly(c.listTasks))
	mux.HandleFunc("POST /v1/tasks", c.leaderOnly(c.createTask))
	mux.HandleFunc("GET /v1/tasks/{name}", c.leaderOnly(c.getTask))
	mux.HandleFunc("PATCH /v1/tasks/{name}", c.leaderOnly(c.updateTask))
	mux.HandleFunc("DELETE /v1/tasks/{name}", c.leaderOnly(c.deleteTask))
	mux.HandleFunc("GET /v1/status", c.leaderOnly(c.overallStatus))
	mux.HandleFunc("GET /v1/status/tasks", c.leaderOnly(c.taskStatuses))
	mux.HandleFunc("GET /v1/status/tasks/{name}", c.leaderOnly(c.taskStatuses))
	mux.HandleFunc("GET /v1/status/cluster", c.clusterStatus)
	mux.HandleFunc("GET /v1/health", c.health)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeCTSError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, true)
	})
	c.srv = httptest.NewServer(mux)
	c.URL = c.srv.URL
	return c
}

// Close shuts the daemon down, blocking until its handlers return.
func (c *CTSServer) Close() { c.srv.Close() }

// Client returns a *tfc.CTSClient for the daemon, with fast retries (RetryPolicy).
// opts are applied after these and may override them. Like httptest.NewRequest it
// panics on error, for ease of use in tests: the only error is an invalid option.
func (c *CTSServer) Client(opts ...tfc.CTSOption) *tfc.CTSClient {
	base := []tfc.CTSOption{tfc.WithCTSAddress(c.URL), tfc.WithCTSRetryPolicy(RetryPolicy())}
	client, err := tfc.NewCTSClient(append(base, opts...)...)
	if err != nil {
		panic("tfctest: CTSServer.Client: " + err.Error())
	}
	return client
}

// AddTask adds task as a POST /v1/tasks would create it (defaults filled in: enabled,
// the daemon's default buffer period), replacing a task of the same name. The task has
// no events and so the status unknown until AddEvent or a run.
func (c *CTSServer) AddTask(task tfc.CTSTask) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tasks = slices.DeleteFunc(c.tasks, func(t *ctsTask) bool { return t.task.Name == task.Name })
	c.tasks = append(c.tasks, &ctsTask{task: withCTSDefaults(task)})
}

// AddEvent records a run of the named task that ended now: successful when errMessage
// is "", failed with that message otherwise. A task's status follows from its events:
// successful when the latest succeeded, errored when it failed alone, critical when
// another recent one failed too. It reports false for an unknown task.
func (c *CTSServer) AddEvent(taskName, errMessage string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.taskLocked(taskName)
	if t == nil {
		return false
	}
	t.record(errMessage)
	return true
}

// SetHealthy makes /v1/health answer 200 {} (true, the default) or 503 with the
// documented error body (false).
func (c *CTSServer) SetHealthy(healthy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unhealthy = ""
	if !healthy {
		c.unhealthy = "tfctest: the daemon is set unhealthy"
	}
}

func (c *CTSServer) taskLocked(name string) *ctsTask {
	for _, t := range c.tasks {
		if t.task.Name == name {
			return t
		}
	}
	return nil
}

func (t *ctsTask) record(errMessage string) {
	now := time.Now()
	ev := tfc.CTSEvent{ID: newUUID(), TaskName: t.task.Name, Success: errMessage == "", StartTime: now, EndTime: now}
	if errMessage != "" {
		ev.Error = &tfc.CTSEventError{Message: errMessage}
	}
	t.events = append([]tfc.CTSEvent{ev}, t.events...)
	t.events = t.events[:min(len(t.events), ctsEventsKept)]
}

func (t *ctsTask) status() tfc.CTSStatus {
	switch {
	case len(t.events) == 0:
		return tfc.CTSStatusUnknown
	case t.events[0].Success:
		return tfc.CTSStatusSuccessful
	case slices.ContainsFunc(t.events[1:], func(e tfc.CTSEvent) bool { return !e.Success }):
		return tfc.CTSStatusCritical
	}
	return tfc.CTSStatusErrored
}

// withCTSDefaults fills in what the daemon defaults: enabled, and the buffer period.
func withCTSDefaults(t tfc.CTSTask) tfc.CTSTask {
	if t.Enabled == nil {
		t.Enabled = tfc.Ptr(true)
	}
	if t.BufferPeriod == nil {
		t.BufferPeriod = &tfc.CTSBufferPeriod{Enabled: tfc.Ptr(true), Min: 5 * time.Second, Max: 20 * time.Second}
	}
	return t
}

// wire renders a task as the daemon does, with the keys it always sends even when
// empty.
func (t *ctsTask) wire() (map[string]any, error) {
	b, err := json.Marshal(t.task)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range map[string]any{"description": "", "providers": []string{}, "variables": map[string]string{},
		"version": "", "module_input": map[string]any{}} {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return m, nil
}

// writeTask answers with body plus the task rendered under "task", or with a 500 if
// the task cannot be rendered.
func writeTask(w http.ResponseWriter, status int, t *ctsTask, body map[string]any) {
	task, err := t.wire()
	if err != nil {
		writeCTSError(w, http.StatusInternalServerError, "tfctest could not encode the task: "+err.Error(), true)
		return
	}
	body["task"] = task
	writeCTS(w, status, body)
}

// leaderOnly answers the documented 400 on a follower, and serves h on a leader.
func (c *CTSServer) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.leader == nil {
			h(w, r)
			return
		}
		msg := "redirect requests to leader"
		if c.leader.id != "" {
			msg += " '" + c.leader.id + "'"
			if c.leader.address != "" {
				msg += " at " + c.leader.address
			}
		}
		writeCTSError(w, http.StatusBadRequest, msg, false)
	}
}

// writeCTS writes a plain JSON answer.
func writeCTS(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"tfctest could not encode its answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeCTSError writes {"error":{"message":…}}, with a request_id for the endpoints
// generated from the daemon's OpenAPI spec (withRequestID) and without for the legacy
// ones.
func writeCTSError(w http.ResponseWriter, status int, message string, withRequestID bool) {
	body := map[string]any{"error": map[string]string{"message": message}}
	if withRequestID {
		body["request_id"] = newUUID()
	}
	writeCTS(w, status, body)
}

// listTasks answers GET /v1/tasks.
func (c *CTSServer) listTasks(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tasks := make([]map[string]any, len(c.tasks))
	for i, t := range c.tasks {
		var err error
		if tasks[i], err = t.wire(); err != nil {
			writeCTSError(w, http.StatusInternalServerError, "tfctest could not encode the task: "+err.Error(), true)
			return
		}
	}
	writeCTS(w, http.StatusOK, map[string]any{"request_id": newUUID(), "tasks": tasks})
}

// getTask answers GET /v1/tasks/:name.
func (c *CTSServer) getTask(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.taskLocked(r.PathValue("name"))
	if t == nil {
		writeCTSError(w, http.StatusNotFound, notInitialized(r.PathValue("name")), true)
		return
	}
	writeTask(w, http.StatusOK, t, map[string]any{"request_id": newUUID()})
}

func notInitialized(name string) string {
	return fmt.Sprintf("a task with name '%s' does not exist or has not been initialized yet", name)
}

// inspectionPlan is the canned plan of an inspection.
const inspectionPlan = "Terraform will perform the following actions:\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n"

// createTask answers POST /v1/tasks[?run=now|inspect] with {"task": …}: the body may
// hold nothing the API does not know (400), the task needs name, module and a condition
// (400), and a name in use is a 400. run=inspect creates nothing and answers 200 with
// the plan; otherwise 201, and run=now also records a successful run.
func (c *CTSServer) createTask(w http.ResponseWriter, r *http.Request) {
	run := r.URL.Query().Get("run")
	if run != "" && run != "now" && run != "inspect" {
		writeCTSError(w, http.StatusBadRequest, fmt.Sprintf("unsupported run parameter value %q", run), true)
		return
	}
	var body struct {
		Task *tfc.CTSTask `json:"task"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeCTSError(w, http.StatusBadRequest, "request body has an error: "+err.Error(), true)
		return
	}
	if msg := checkCTSTask(body.Task); msg != "" {
		writeCTSError(w, http.StatusBadRequest, "request body has an error: "+msg, true)
		return
	}
	t := &ctsTask{task: withCTSDefaults(*body.Task)}
	if run == "inspect" {
		writeTask(w, http.StatusOK, t, map[string]any{"request_id": newUUID(),
			"run": map[string]any{"plan": inspectionPlan, "changes_present": true}})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.taskLocked(t.task.Name) != nil {
		writeCTSError(w, http.StatusBadRequest, fmt.Sprintf("task with name %s already exists", t.task.Name), true)
		return
	}
	if run == "now" {
		t.record("")
	}
	c.tasks = append(c.tasks, t)
	writeTask(w, http.StatusCreated, t, map[string]any{"request_id": newUUID()})
}

// checkCTSTask returns what the daemon's schema rejects in a new task, "" for nothing.
func checkCTSTask(t *tfc.CTSTask) string {
	switch {
	case t == nil:
		return `property "task" is missing`
	case t.Name == "":
		return `property "name" is missing`
	case t.Module == "":
		return `property "module" is missing`
	case t.Condition.Kind() == "":
		return `property "condition" is missing`
	}
	return ""
}

// updateTask answers PATCH /v1/tasks/:name[?run=now|inspect] with {"enabled": bool}, the
// only key accepted. run=inspect changes nothing and answers {"inspect": {…}}; otherwise
// the task is enabled or disabled (run=now also records a run) and the answer is {}.
func (c *CTSServer) updateTask(w http.ResponseWriter, r *http.Request) {
	run := r.URL.Query().Get("run")
	if run != "" && run != "now" && run != "inspect" {
		writeCTSError(w, http.StatusBadRequest, fmt.Sprintf("unsupported run parameter value %q", run), false)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	var body map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		writeCTSError(w, http.StatusBadRequest, "the request body is not a JSON object", false)
		return
	}
	var enabled bool
	switch {
	case len(body) > 1 || (len(body) == 1 && body["enabled"] == nil):
		writeCTSError(w, http.StatusBadRequest, "request body's JSON contains unsupported keys", false)
		return
	case len(body) == 0 || json.Unmarshal(body["enabled"], &enabled) != nil:
		writeCTSError(w, http.StatusBadRequest, "request body must have a boolean 'enabled'", false)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.taskLocked(r.PathValue("name"))
	if t == nil {
		writeCTSError(w, http.StatusNotFound, notInitialized(r.PathValue("name")), false)
		return
	}
	if run == "inspect" {
		writeCTS(w, http.StatusOK, map[string]any{"inspect": map[string]any{"changes_present": enabled, "plan": inspectionPlan}})
		return
	}
	t.task.Enabled = tfc.Ptr(enabled)
	if run == "now" && enabled {
		t.record("")
	}
	writeCTS(w, http.StatusOK, map[string]any{})
}

// deleteTask answers DELETE /v1/tasks/:name: 202 with a request ID; the fake deletes at
// once, as the daemon does for a task that is not running.
func (c *CTSServer) deleteTask(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := r.PathValue("name")
	if c.taskLocked(name) == nil {
		writeCTSError(w, http.StatusNotFound, notInitialized(name), true)
		return
	}
	c.tasks = slices.DeleteFunc(c.tasks, func(t *ctsTask) bool { return t.task.Name == name })
	writeCTS(w, http.StatusAccepted, map[string]any{"request_id": newUUID()})
}

// overallStatus answers GET /v1/status.
func (c *CTSServer) overallStatus(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := map[tfc.CTSStatus]int{tfc.CTSStatusSuccessful: 0, tfc.CTSStatusErrored: 0, tfc.CTSStatusCritical: 0, tfc.CTSStatusUnknown: 0}
	enabled := map[string]int{"true": 0, "false": 0}
	for _, t := range c.tasks {
		counts[t.status()]++
		enabled[fmt.Sprint(t.task.IsEnabled())]++
	}
	writeCTS(w, http.StatusOK, map[string]any{"task_summary": map[string]any{"status": counts, "enabled": enabled}})
}

// taskStatuses answers GET /v1/status/tasks[/:name][?include=events][&status=…].
func (c *CTSServer) taskStatuses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	includes, status := q["include"], tfc.CTSStatus(q.Get("status"))
	if len(includes) > 1 || (len(includes) == 1 && includes[0] != "events") {
		writeCTSError(w, http.StatusBadRequest, "unsupported value for the include parameter; only 'events' is supported", false)
		return
	}
	switch status {
	case "", tfc.CTSStatusSuccessful, tfc.CTSStatusErrored, tfc.CTSStatusCritical, tfc.CTSStatusUnknown:
	default:
		writeCTSError(w, http.StatusBadRequest, fmt.Sprintf("%q: unsupported status parameter value", status), false)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	name := r.PathValue("name")
	if name != "" && c.taskLocked(name) == nil {
		writeCTSError(w, http.StatusNotFound, notInitialized(name), false)
		return
	}
	out := map[string]tfc.CTSTaskStatus{}
	for _, t := range c.tasks {
		if (name != "" && t.task.Name != name) || (status != "" && t.status() != status) {
			continue
		}
		st := tfc.CTSTaskStatus{TaskName: t.task.Name, Status: t.status(), Enabled: t.task.IsEnabled()}
		if len(t.events) > 0 {
			st.EventsURL = "/v1/status/tasks/" + t.task.Name + "?include=events"
		}
		if len(includes) == 1 {
			st.Events = slices.Clone(t.events)
		}
		out[t.task.Name] = st
	}
	writeCTS(w, http.StatusOK, out)
}

// clusterStatus answers GET /v1/status/cluster: on a follower the leader and the
// follower; without high availability the documented 405.
func (c *CTSServer) clusterStatus(w http.ResponseWriter, _ *http.Request) {
	if c.leader == nil {
		writeCTSError(w, http.StatusMethodNotAllowed, "this endpoint is only available with high availability configured", true)
		return
	}
	members := []tfc.CTSClusterMember{
		{ID: c.leader.id, ServiceName: "consul-terraform-sync", Healthy: true, Leader: true, Address: c.leader.address},
		{ID: "tfctest-follower", ServiceName: "consul-terraform-sync", Healthy: true},
	}
	writeCTS(w, http.StatusOK, map[string]any{"cluster_name": "tfctest", "members": members, "request_id": newUUID()})
}

// health answers GET /v1/health: 200 {} or, after SetHealthy(false), 503.
func (c *CTSServer) health(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	reason := c.unhealthy
	c.mu.Unlock()
	if reason != "" {
		writeCTSError(w, http.StatusServiceUnavailable, reason, false)
		return
	}
	writeCTS(w, http.StatusOK, map[string]any{})
}
