package tfctest

import (
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/tfkit/tfc"
)

// PolicyCheck is a policy check to seed with AddPolicyCheck.
type PolicyCheck struct {
	// Status is the check's status. A soft_failed check can be overridden.
	Status tfc.PolicyCheckStatus
	// Policies are the policies checked and their results ("passed",
	// "advisory_failed", "soft_failed" or "hard_failed"), from which the result counts
	// are derived. Without policies the status stands for one policy: passed counts one
	// passed, soft_failed and overridden one soft failure, hard_failed one hard failure.
	Policies []tfc.PolicyCheckPolicy
	// Output is the raw output served, through the blob store, at
	// /policy-checks/:id/output.
	Output string
	// ErrorMessage is served as attributes.error-message, the details of an errored
	// check; empty leaves the attribute out.
	ErrorMessage string
}

type policyCheck struct {
	id         string
	run        *run
	status     tfc.PolicyCheckStatus
	timestamps statusTimestamps
	policies   []tfc.PolicyCheckPolicy
	output     string
	errMessage string
}

// AddPolicyCheck adds a policy check to the run runID and returns its ID ("polchk-…",
// "pchk-…" with WithScalr). runID may be a run started with StartRun or any other ID,
// which then names a run that holds only policy checks.
func (s *Server) AddPolicyCheck(runID string, pc PolicyCheck) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		r = &run{id: runID, message: "Policy checks seeded by tfctest", status: "policy_checked", createdAt: time.Now(),
			timestamps: statusTimestamps{}}
		s.runs[runID] = r
	}
	prefix := "polchk-"
	if s.cfg.scalr {
		prefix = "pchk-"
	}
	now := time.Now()
	c := &policyCheck{id: newID(prefix), run: r, timestamps: statusTimestamps{}, policies: slices.Clone(pc.Policies), output: pc.Output, errMessage: pc.ErrorMessage}
	c.timestamps.record(string(tfc.PolicyCheckQueued), now)
	c.setStatus(pc.Status, now)
	r.policyChecks = append(r.policyChecks, c)
	s.policyChecks[c.id] = c
	return c.id
}

// SetPolicyCheckStatus changes a check's status, as the service does while a check
// goes through pending, queued and on to its result, for tests of code that waits on
// a check. It reports false for an unknown ID.
func (s *Server) SetPolicyCheckStatus(id string, status tfc.PolicyCheckStatus) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.policyChecks[id]
	if ok {
		c.setStatus(status, time.Now())
	}
	return ok
}

func (c *policyCheck) setStatus(status tfc.PolicyCheckStatus, now time.Time) {
	c.status = status
	c.timestamps.record(string(status), now)
}

// policyResult is the result attribute of both flavours; Sentinel is HCP Terraform's,
// Policies Scalr's.
type policyResult struct {
	Result         bool                    `json:"result"`
	Passed         int                     `json:"passed"`
	TotalFailed    int                     `json:"total-failed"`
	HardFailed     int                     `json:"hard-failed"`
	SoftFailed     int                     `json:"soft-failed"`
	AdvisoryFailed int                     `json:"advisory-failed"`
	DurationMS     int                     `json:"duration-ms"`
	Sentinel       *map[string]any         `json:"sentinel,omitempty"`
	Policies       []tfc.PolicyCheckPolicy `json:"policies,omitempty"`
}

func (c *policyCheck) result() policyResult {
	var r policyResult
	count := func(result string) {
		switch result {
		case "passed":
			r.Passed++
		case "advisory_failed":
			r.AdvisoryFailed++
		case "soft_failed":
			r.SoftFailed++
		case "hard_failed":
			r.HardFailed++
		}
	}
	if len(c.policies) > 0 {
		for _, p := range c.policies {
			count(p.Result)
		}
	} else {
		switch c.status {
		case tfc.PolicyCheckPassed, tfc.PolicyCheckSoftFailed, tfc.PolicyCheckHardFailed:
			count(string(c.status))
		case tfc.PolicyCheckOverridden:
			count("soft_failed")
		}
	}
	r.TotalFailed = r.AdvisoryFailed + r.SoftFailed + r.HardFailed
	r.Result = r.TotalFailed == 0
	r.DurationMS = 42
	return r
}

type hcpPolicyCheckAttrs struct {
	Result           policyResult          `json:"result"`
	Scope            tfc.PolicyScope       `json:"scope"`
	Status           tfc.PolicyCheckStatus `json:"status"`
	StatusTimestamps map[string]string     `json:"status-timestamps"`
	Actions          struct {
		IsOverridable bool `json:"is-overridable"`
	} `json:"actions"`
	Permissions struct {
		CanOverride bool `json:"can-override"`
	} `json:"permissions"`
	ErrorMessage string `json:"error-message,omitempty"`
}

type scalrPolicyCheckAttrs struct {
	Result           policyResult          `json:"result"`
	Status           tfc.PolicyCheckStatus `json:"status"`
	StatusTimestamps map[string]string     `json:"status-timestamps"`
	Permissions      map[string]any        `json:"permissions"`
	ErrorMessage     string                `json:"error-message,omitempty"`
}

// policyCheckResource renders a check in the server's flavour: HCP Terraform's (Sentinel, scope,
// actions and permissions, a run relationship, a path as the output link) or Scalr's
// (policies, absolute links, no relationships).
func (s *Server) policyCheckResource(c *policyCheck) resource {
	res := c.result()
	if s.cfg.scalr {
		res.Policies = slices.Clone(c.policies)
		self := s.URL + "/api/iacp/v3/policy-checks/" + c.id
		return resource{
			ID: c.id, Type: "policy-checks",
			Attributes:    scalrPolicyCheckAttrs{Result: res, Status: c.status, StatusTimestamps: c.timestamps.wire(), Permissions: map[string]any{}, ErrorMessage: c.errMessage},
			Relationships: map[string]relationship{},
			Links:         map[string]string{"output": self + "/output", "self": self},
		}
	}
	res.Sentinel = &map[string]any{}
	a := hcpPolicyCheckAttrs{Result: res, Scope: tfc.PolicyScopeOrganization, Status: c.status, StatusTimestamps: c.timestamps.wire(), ErrorMessage: c.errMessage}
	a.Actions.IsOverridable = c.status == tfc.PolicyCheckSoftFailed
	a.Permissions.CanOverride = true
	return resource{
		ID: c.id, Type: "policy-checks", Attributes: a,
		Relationships: map[string]relationship{"run": toOne("runs", c.run.id)},
		Links:         map[string]string{"output": "/api/v2/policy-checks/" + c.id + "/output"},
	}
}

// listPolicyChecks answers GET /runs/:id/policy-checks. On HCP Terraform a request
// without page parameters gets every check and no pagination, as documented; with
// them, and always on Scalr, a page.
func (s *Server) listPolicyChecks(w http.ResponseWriter, r *http.Request) error {
	inc, err := s.policyCheckIncludes(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied[r.PathValue("id")] {
		return s.deniedError("Plan not found or user unauthorized to perform action.", "run not found")
	}
	rn, err := lookup(s.runs, r.PathValue("id"), "run")
	if err != nil {
		return err
	}
	include := func(page []*policyCheck) []resource {
		if len(page) == 0 {
			return nil
		}
		return includeRuns([]*run{rn}, inc)
	}
	if !p.asked && !s.cfg.scalr {
		data := make([]resource, len(rn.policyChecks))
		for i, c := range rn.policyChecks {
			data[i] = s.policyCheckResource(c)
		}
		writeJSON(w, http.StatusOK, document{Data: data, Included: include(rn.policyChecks)})
		return nil
	}
	return writeList(w, r, s.URL, rn.policyChecks, s.policyCheckResource, include)
}

// policyCheckIncludes reads include=run[,run.workspace] (HCP Terraform only).
func (s *Server) policyCheckIncludes(r *http.Request) (map[string]bool, error) {
	if s.cfg.scalr {
		return nil, nil
	}
	return parseInclude(r, "run", "run.workspace")
}

// getPolicyCheck answers GET /policy-checks/:id.
func (s *Server) getPolicyCheck(w http.ResponseWriter, r *http.Request) error {
	inc, err := s.policyCheckIncludes(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	err = s.deniedPolicyCheckLocked(r.PathValue("id"))
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return show(s, w, s.policyChecks, r.PathValue("id"), "policy check", s.policyCheckResource, func(c *policyCheck) []resource {
		return includeRuns([]*run{c.run}, inc)
	})
}

// overridePolicyCheck answers POST /policy-checks/:id/actions/override: a soft_failed
// check becomes overridden; any other is a 409 (with Scalr's documented detail on
// Scalr).
func (s *Server) overridePolicyCheck(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deniedPolicyCheckLocked(r.PathValue("id")); err != nil {
		return err
	}
	c, err := lookup(s.policyChecks, r.PathValue("id"), "policy check")
	if err != nil {
		return err
	}
	if c.status != tfc.PolicyCheckSoftFailed {
		if s.cfg.scalr {
			return newError(http.StatusConflict, "Conflict", "Override is not possible in a current policy-check or run status.")
		}
		return conflict("Only a soft_failed policy check can be overridden; this one is " + string(c.status) + ".")
	}
	c.setStatus(tfc.PolicyCheckOverridden, time.Now())
	writeJSON(w, http.StatusOK, document{Data: s.policyCheckResource(c)})
	return nil
}

// ansiEscape matches ANSI terminal escape sequences, which clean=true strips.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// policyCheckOutput answers GET /policy-checks/:id/output with a 302 to the raw output
// on the blob store (stripped of ANSI escape codes with clean=true, as on Scalr).
func (s *Server) policyCheckOutput(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	if err := s.deniedPolicyCheckLocked(r.PathValue("id")); err != nil {
		s.mu.Unlock()
		return err
	}
	c, err := lookup(s.policyChecks, r.PathValue("id"), "policy check")
	if err != nil {
		s.mu.Unlock()
		return err
	}
	output := c.output
	if r.URL.Query().Get("clean") == "true" {
		output = ansiEscape.ReplaceAllString(output, "")
	}
	target := s.putBlobLocked("text/plain; charset=utf-8", []byte(output))
	s.mu.Unlock()
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// Deny takes the token's permission on one object away, so that tests can take the
// path of a permission error: id is a run ID (its policy checks cannot be listed), a
// policy check ID (it cannot be read, overridden or downloaded) or a registry module's
// address as RegistryModuleAddress.String() (its test configuration can be read but
// not changed). Each then gets the documented answer: on Scalr a 403 "not found or user
// unauthorized", on HCP Terraform a 404 for runs and policy checks, which it does not
// reveal to those who may not see them, and a 403 for test configuration changes.
func (s *Server) Deny(id string) {
	s.mu.Lock()
	s.denied[id] = true
	s.mu.Unlock()
}

// deniedPolicyCheckLocked is the error for a policy check the token may not touch.
func (s *Server) deniedPolicyCheckLocked(id string) error {
	if !s.denied[id] {
		return nil
	}
	return s.deniedError("Policy check not found or user unauthorized to perform action.", "policy check not found")
}

// deniedError is Scalr's 403 with scalrDetail, or HCP Terraform's 404 with hcpDetail.
func (s *Server) deniedError(scalrDetail, hcpDetail string) error {
	if s.cfg.scalr {
		return newError(http.StatusForbidden, "Forbidden", scalrDetail)
	}
	return notFound(hcpDetail)
}
