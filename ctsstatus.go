package tfc

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// CTSStatus is the health of a task, judged from its latest runs.
type CTSStatus string

// Task statuses. Unknown values from newer daemons are kept as they are.
const (
	// CTSStatusSuccessful: the latest run succeeded.
	CTSStatusSuccessful CTSStatus = "successful"
	// CTSStatusErrored: the latest run failed, the one before did not.
	CTSStatusErrored CTSStatus = "errored"
	// CTSStatusCritical: the latest run failed, and so did another recent one.
	CTSStatusCritical CTSStatus = "critical"
	// CTSStatusUnknown: the task has not run yet.
	CTSStatusUnknown CTSStatus = "unknown"
)

func (s CTSStatus) validate() error {
	switch s {
	case "", CTSStatusSuccessful, CTSStatusErrored, CTSStatusCritical, CTSStatusUnknown:
		return nil
	}
	return invalidArg("status", fmt.Sprintf("%q is not successful, errored, critical or unknown", string(s)))
}

// CTSOverallStatus counts the daemon's tasks.
type CTSOverallStatus struct {
	// Successful, Errored, Critical and Unknown count the tasks by CTSStatus.
	Successful, Errored, Critical, Unknown int
	// Enabled and Disabled count the tasks by whether they run.
	Enabled, Disabled int
}

// CTSTaskStatus is the status of one task.
type CTSTaskStatus struct {
	TaskName string    `json:"task_name"`
	Status   CTSStatus `json:"status"`
	Enabled  bool      `json:"enabled"`
	// EventsURL is the path of the task's status with events, "" when it has none.
	EventsURL string `json:"events_url"`
	// Events are the task's most recent runs, newest first (the daemon keeps five),
	// when asked for with IncludeEvents.
	Events []CTSEvent `json:"events,omitempty"`
	// Providers are the providers of the task's recent runs.
	//
	// Deprecated: CTS deprecated this field; read the task's configuration instead.
	Providers []string `json:"providers,omitempty"`
	// Services are the services of the task's recent runs.
	//
	// Deprecated: CTS deprecated this field; read the task's condition instead.
	Services []string `json:"services,omitempty"`
}

// CTSEvent is one run of a task.
type CTSEvent struct {
	ID       string `json:"id"`
	TaskName string `json:"task_name"`
	// Success reports whether the run succeeded; Error says why not.
	Success   bool      `json:"success"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	// Error is nil for a successful run.
	Error *CTSEventError `json:"error,omitempty"`
	// Config is the task's configuration at the time of the run.
	//
	// Deprecated: CTS deprecated this field; read the task with CTSTasksService.Read instead.
	Config *CTSEventConfig `json:"config,omitempty"`
}

// CTSEventError is why a run failed.
type CTSEventError struct {
	Message string `json:"message"`
}

// CTSEventConfig is a task's configuration as recorded with a run.
//
// Deprecated: CTS deprecated the field that carries it (CTSEvent.Config).
type CTSEventConfig struct {
	Providers []string `json:"providers,omitempty"`
	Services  []string `json:"services,omitempty"`
	Module    string   `json:"module,omitempty"`
}

// CTSTaskStatusOptions are the options of CTSTasksService.ReadStatus.
type CTSTaskStatusOptions struct {
	// IncludeEvents adds the task's recent runs (include=events).
	IncludeEvents bool
}

// CTSTaskStatusListOptions are the options of CTSTasksService.ListStatuses.
type CTSTaskStatusListOptions struct {
	// IncludeEvents adds each task's recent runs (include=events).
	IncludeEvents bool
	// Status keeps only the tasks with this status; empty keeps all.
	Status CTSStatus
}

// ctsStatusQuery is the query of /v1/status/tasks.
type ctsStatusQuery struct {
	Include string    `url:"include,omitempty"`
	Status  CTSStatus `url:"status,omitempty"`
}

func statusQuery(includeEvents bool, status CTSStatus) ctsStatusQuery {
	q := ctsStatusQuery{Status: status}
	if includeEvents {
		q.Include = "events"
	}
	return q
}

// CTSClusterStatus is the membership of a high-availability CTS cluster.
type CTSClusterStatus struct {
	// RequestID identifies the call in the daemon's logs.
	RequestID   string             `json:"request_id"`
	ClusterName string             `json:"cluster_name"`
	Members     []CTSClusterMember `json:"members"`
}

// CTSClusterMember is one instance of a high-availability CTS cluster.
type CTSClusterMember struct {
	ID          string `json:"id"`
	ServiceName string `json:"service_name"`
	Healthy     bool   `json:"healthy"`
	Leader      bool   `json:"leader"`
	// Address is the instance's advertised address, "" when it has none configured.
	Address string `json:"address,omitempty"`
}

// Status counts the daemon's tasks by status and by whether they are enabled.
//
// GET /v1/status
func (c *CTSClient) Status(ctx context.Context) (*CTSOverallStatus, error) {
	var wire struct {
		TaskSummary struct {
			Status struct {
				Successful int `json:"successful"`
				Errored    int `json:"errored"`
				Critical   int `json:"critical"`
				Unknown    int `json:"unknown"`
			} `json:"status"`
			Enabled struct {
				True  int `json:"true"`
				False int `json:"false"`
			} `json:"enabled"`
		} `json:"task_summary"`
	}
	if err := c.do(ctx, call{method: http.MethodGet, path: apiPath("status")}, &wire); err != nil {
		return nil, err
	}
	s, e := wire.TaskSummary.Status, wire.TaskSummary.Enabled
	return &CTSOverallStatus{Successful: s.Successful, Errored: s.Errored, Critical: s.Critical,
		Unknown: s.Unknown, Enabled: e.True, Disabled: e.False}, nil
}

// ListStatuses returns the status of every task (or of those with opts.Status), keyed
// by task name. opts may be nil.
//
// GET /v1/status/tasks[?include=events][&status=…]
func (s *CTSTasksService) ListStatuses(ctx context.Context, opts *CTSTaskStatusListOptions) (map[string]*CTSTaskStatus, error) {
	var o CTSTaskStatusListOptions
	if opts != nil {
		o = *opts
	}
	if err := o.Status.validate(); err != nil {
		return nil, err
	}
	out := make(map[string]*CTSTaskStatus)
	q := statusQuery(o.IncludeEvents, o.Status)
	if err := s.client.do(ctx, call{method: http.MethodGet, path: apiPath("status", "tasks"), query: q}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadStatus returns the status of the task called name. opts may be nil. An unknown
// task is an error matching ErrNotFound.
//
// GET /v1/status/tasks/:name[?include=events]
func (s *CTSTasksService) ReadStatus(ctx context.Context, name string, opts *CTSTaskStatusOptions) (*CTSTaskStatus, error) {
	if err := requireID("task name", name); err != nil {
		return nil, err
	}
	q := statusQuery(opts != nil && opts.IncludeEvents, "")
	var out map[string]*CTSTaskStatus
	req := call{method: http.MethodGet, path: apiPath("status", "tasks", name), query: q}
	if err := s.client.do(ctx, req, &out); err != nil {
		return nil, err
	}
	st := out[name]
	if st == nil {
		return nil, fmt.Errorf("tfc: GET %sstatus/tasks/%s: the response holds no status for the task", s.client.base.Path, apiPath(name))
	}
	return st, nil
}

// ClusterStatus returns the members of a high-availability cluster; any member
// answers, leader or follower. A daemon without high availability answers 405
// ("this endpoint is only available with high availability configured").
//
// GET /v1/status/cluster (CTS Enterprise)
func (c *CTSClient) ClusterStatus(ctx context.Context) (*CTSClusterStatus, error) {
	return ctsDo[CTSClusterStatus](ctx, &c.pipeline, call{method: http.MethodGet, path: apiPath("status", "cluster")})
}

// Health returns nil when the daemon reports itself healthy. An unhealthy daemon
// answers 503 (500 for other failures), which comes back as an *APIError at once: the
// verdict is what was asked for, so 5xx answers are not retried here.
//
// GET /v1/health
func (c *CTSClient) Health(ctx context.Context) error {
	// notIdempotent is borrowed for its effect, no retry on 5xx; the GET itself is safe.
	return c.do(ctx, call{method: http.MethodGet, path: apiPath("health"), notIdempotent: true}, nil)
}
