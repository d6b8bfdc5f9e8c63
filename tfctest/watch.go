package tfctest

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tfkit/tfc"
)

// What a test can see and hold of an integration's calls to the fake: the callbacks
// it sent, and plan downloads kept waiting.

// Callback is one callback an integration sent to a task result's callback URL
// (PATCH task_result_callback_url), as the server answered it.
type Callback struct {
	TaskResultID string
	// Status is the status sent: running, passed or failed; empty when the body was
	// refused before it was read (a wrong token).
	Status tfc.TaskResultStatus
	// Message is the message sent, if any.
	Message string
	// StatusCode is the server's answer: 200, 401 (not the task result's access
	// token), 409 (the result was final already: a second final result, or a "running"
	// update after the final one) or 422 (a body outside the documented rules).
	StatusCode int
}

// Callbacks returns every callback answered so far, in the order they were answered:
// a test counts, for example, that each task result got exactly one final result
// answered 200. Callbacks to unknown URLs (404) and those failed by WithFaults are
// not listed.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callbackLog)
}

// PlanHold keeps plan downloads waiting; see HoldPlans.
type PlanHold struct {
	s        *Server
	released chan struct{}
	once     sync.Once
	waiting  atomic.Int64
}

// HoldPlans makes every request for a run's plan JSON (GET plan_json_api_url) wait,
// unanswered, until the hold is released, the client gives up on the request, or the
// server closes: plans that are slow to come, to test what an integration does
// meanwhile (heartbeats, a crash and a restart). A request is held before its token is
// checked. Calling HoldPlans again while a hold is in place returns that hold.
func (s *Server) HoldPlans() *PlanHold {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.planHold == nil {
		s.planHold = &PlanHold{s: s, released: make(chan struct{})}
	}
	return s.planHold
}

// Waiting returns how many plan requests the hold keeps waiting now.
func (h *PlanHold) Waiting() int { return int(h.waiting.Load()) }

// Release lets the held requests and every later one through. It may be called more
// than once.
func (h *PlanHold) Release() {
	h.once.Do(func() {
		h.s.mu.Lock()
		if h.s.planHold == h {
			h.s.planHold = nil
		}
		h.s.mu.Unlock()
		close(h.released)
	})
}

// waitForPlan holds a plan request while a hold is in place. It reports whether to
// answer it: not when the client went away or the server is closing.
func (s *Server) waitForPlan(r *http.Request) bool {
	s.mu.Lock()
	h := s.planHold
	s.mu.Unlock()
	if h == nil {
		return true
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case <-h.released:
		return true
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
	return false
}
