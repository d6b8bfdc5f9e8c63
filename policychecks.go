package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PolicyChecksService reads the policy checks of runs, waits for them, overrides soft
// failures and streams their raw output. One service serves both backends: HCP
// Terraform and Terraform Enterprise (Sentinel, under /api/v2) and Scalr (OPA, under
// /api/iacp/v3 with WithScalr). Wire type "policy-checks", IDs "polchk-…" on HCP
// Terraform and "pchk-…" on Scalr.
//
// HCP Terraform announced the removal of policy checks in favour of policy evaluations
// (see TaskStagesService); where the endpoints are gone every call answers 404.
type PolicyChecksService service

// PolicyCheckStatus is the state of a policy check. Values the service adds later are
// kept as they are; they are neither final nor transient.
type PolicyCheckStatus string

// Policy check statuses: the nine both services document, and Scalr's running.
const (
	PolicyCheckPending     PolicyCheckStatus = "pending"
	PolicyCheckQueued      PolicyCheckStatus = "queued"
	PolicyCheckRunning     PolicyCheckStatus = "running" // Scalr only
	PolicyCheckPassed      PolicyCheckStatus = "passed"
	PolicyCheckSoftFailed  PolicyCheckStatus = "soft_failed"
	PolicyCheckHardFailed  PolicyCheckStatus = "hard_failed"
	PolicyCheckOverridden  PolicyCheckStatus = "overridden"
	PolicyCheckErrored     PolicyCheckStatus = "errored"
	PolicyCheckCanceled    PolicyCheckStatus = "canceled"
	PolicyCheckUnreachable PolicyCheckStatus = "unreachable"
)

// IsFinal reports whether the check is over: passed, hard_failed, overridden, errored,
// canceled or unreachable.
func (s PolicyCheckStatus) IsFinal() bool {
	switch s {
	case PolicyCheckPassed, PolicyCheckHardFailed, PolicyCheckOverridden, PolicyCheckErrored,
		PolicyCheckCanceled, PolicyCheckUnreachable:
		return true
	}
	return false
}

// IsTransient reports whether the check is still going: pending, queued, running, or
// soft_failed, which waits for someone to override it (or for the run to be
// discarded).
func (s PolicyCheckStatus) IsTransient() bool {
	switch s {
	case PolicyCheckPending, PolicyCheckQueued, PolicyCheckRunning, PolicyCheckSoftFailed:
		return true
	}
	return false
}

// CanBeOverridden reports whether the status is one an override applies to:
// soft_failed. Whether this token may override is PolicyCheck.CanOverride.
func (s PolicyCheckStatus) CanBeOverridden() bool { return s == PolicyCheckSoftFailed }

// PolicyScope is the level of the policy sets a check ran (HCP Terraform).
type PolicyScope string

// Policy scopes.
const (
	PolicyScopeOrganization PolicyScope = "organization"
	PolicyScopeWorkspace    PolicyScope = "workspace"
)

// PolicyCheck is the policy check phase of a run.
type PolicyCheck struct {
	ID     string
	Status PolicyCheckStatus
	// StatusTimestamps has one "<status>-at" entry per status the check went through.
	StatusTimestamps StatusTimestamps
	// Scope is empty on Scalr, which does not send it.
	Scope  PolicyScope
	Result PolicyCheckResult
	// IsOverridable is actions.is-overridable and CanOverride is
	// permissions.can-override (this token may override). Both are nil where the
	// service does not send them, as Scalr does not.
	IsOverridable *bool
	CanOverride   *bool
	// Permissions is attributes.permissions as sent: a free-form object on Scalr, and
	// on HCP Terraform the object CanOverride is read from. Nil when absent or null.
	Permissions json.RawMessage
	// ErrorMessage is attributes.error-message, which the documents name as the
	// details of an errored check; empty when the service does not send it.
	ErrorMessage string
	// OutputLink is links.output: where the raw output is (see OutputFromLink). HCP
	// Terraform sends a path ("/api/v2/policy-checks/…/output"), Scalr a URL.
	OutputLink string
	// RunID is relationships.run; Scalr does not send it.
	RunID string
	// RunStatus and WorkspaceID are set when the run was included
	// (PolicyCheckIncludeRun), WorkspaceName when the workspace was too
	// (PolicyCheckIncludeRunWorkspace).
	RunStatus     string
	WorkspaceID   string
	WorkspaceName string
}

// Overridable reports whether an override should be accepted now: the check is
// soft_failed and the service does not say otherwise (actions.is-overridable).
func (pc *PolicyCheck) Overridable() bool {
	return pc.Status.CanBeOverridden() && (pc.IsOverridable == nil || *pc.IsOverridable)
}

// PolicyCheckResult is the outcome of a check's policies.
type PolicyCheckResult struct {
	// Result is true when every policy passed.
	Result         bool
	Passed         int
	TotalFailed    int
	HardFailed     int
	SoftFailed     int
	AdvisoryFailed int
	// Duration is duration-ms.
	Duration time.Duration
	// Policies are the policies that were checked, one entry each (Scalr).
	Policies []PolicyCheckPolicy
	// Sentinel is HCP Terraform's low-level Sentinel data, kept as sent: its keys and
	// structure are documented as subject to change.
	Sentinel json.RawMessage
}

// PolicyCheckPolicy is the outcome of one policy in a check.
type PolicyCheckPolicy struct {
	Name string `json:"name"`
	// Result is "passed", "advisory_failed", "soft_failed" or "hard_failed".
	Result   string   `json:"result"`
	Messages []string `json:"messages"`
}

// PolicyCheckInclude names related resources to embed in a policy check response (HCP
// Terraform).
type PolicyCheckInclude string

// Values for PolicyCheckListOptions.Include and PolicyCheckReadOptions.Include.
const (
	PolicyCheckIncludeRun          PolicyCheckInclude = "run"
	PolicyCheckIncludeRunWorkspace PolicyCheckInclude = "run.workspace"
)

// PolicyCheckListOptions pages PolicyChecksService.List. Without a page number or size
// HCP Terraform returns every check of the run in one response.
type PolicyCheckListOptions struct {
	ListOptions
	Include []PolicyCheckInclude `url:"include,comma,omitempty"`
}

// PolicyCheckReadOptions are the options of PolicyChecksService.Read and Wait.
type PolicyCheckReadOptions struct {
	Include []PolicyCheckInclude `url:"include,comma,omitempty"`
}

// PolicyCheckOutputOptions are the options of PolicyChecksService.Output.
type PolicyCheckOutputOptions struct {
	// Clean asks Scalr to strip ANSI escape codes (clean=true).
	Clean bool `url:"clean,omitempty"`
}

// PolicyCheckWaitOptions are the options of PolicyChecksService.Wait.
type PolicyCheckWaitOptions struct {
	// StopAtSoftFailed makes Wait return at soft_failed, where a deploy gate decides
	// whether to override. Otherwise Wait goes on until someone overrides the check
	// or it ends another way.
	StopAtSoftFailed bool
	// PollInterval is the first wait between reads (default 1 s); each further wait
	// doubles, up to MaxPollInterval (default 15 s or PollInterval, whichever is
	// larger). Waits are jittered downwards by up to half.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Read is passed to every Read.
	Read *PolicyCheckReadOptions
}

// Default poll intervals of PolicyChecksService.Wait.
const (
	defaultPollInterval    = time.Second
	defaultMaxPollInterval = 15 * time.Second
)

// List returns one page of a run's policy checks.
//
// GET /runs/:run_id/policy-checks
func (s *PolicyChecksService) List(ctx context.Context, runID string, opts *PolicyCheckListOptions) (*Page[PolicyCheck], error) {
	if err := requireID("run ID", runID); err != nil {
		return nil, err
	}
	if opts != nil {
		if err := opts.ListOptions.validate(); err != nil {
			return nil, err
		}
	}
	return listPage(ctx, &s.client.pipeline, apiPath("runs", runID, "policy-checks"), opts, policyCheckFromWire)
}

// All iterates over every policy check of a run, following meta.pagination. opts is
// not modified.
func (s *PolicyChecksService) All(ctx context.Context, runID string, opts *PolicyCheckListOptions) iter.Seq2[*PolicyCheck, error] {
	var o PolicyCheckListOptions
	if opts != nil {
		o = *opts
	}
	return allItems(ctx, o.ListOptions, func(ctx context.Context, lo ListOptions) (*Page[PolicyCheck], error) {
		o.ListOptions = lo
		return s.List(ctx, runID, &o)
	})
}

// Read returns one policy check.
//
// GET /policy-checks/:id, with include=run[,run.workspace] if asked.
func (s *PolicyChecksService) Read(ctx context.Context, policyCheckID string, opts *PolicyCheckReadOptions) (*PolicyCheck, error) {
	if err := requireID("policy check ID", policyCheckID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, path: apiPath("policy-checks", policyCheckID), query: opts}
	return readOne(ctx, &s.client.pipeline, c, policyCheckFromWire)
}

// Override lets the run of a soft_failed check go on to apply, and returns the check,
// now overridden. A check that cannot be overridden in its current state gives an
// *APIError matching ErrConflict whose Errors carry the service's reason; a token
// without the permission gets 403 or 404.
//
// POST /policy-checks/:id/actions/override, without a body. Like every POST it is
// retried only when the service surely did not act on it.
func (s *PolicyChecksService) Override(ctx context.Context, policyCheckID string) (*PolicyCheck, error) {
	if err := requireID("policy check ID", policyCheckID); err != nil {
		return nil, err
	}
	c := call{method: http.MethodPost, path: apiPath("policy-checks", policyCheckID, "actions", "override")}
	return readOne(ctx, &s.client.pipeline, c, policyCheckFromWire)
}

// Wait reads a policy check until it is final (or, with opts.StopAtSoftFailed,
// soft_failed) and returns it. It also returns at a status it does not know, so a
// status added by the service cannot make it poll forever; a missing or unreadable
// status (read as "") is not final, and the wait goes on. Reads back off from
// opts.PollInterval and wait on ctx, so a deadline on ctx bounds the whole wait. When
// ctx ends or a read fails, Wait returns the last check it read (nil if none) with the
// error. An error caused by ctx names the call, the ID, the reads made and the last
// status read, and still matches context.DeadlineExceeded or context.Canceled with
// errors.Is.
//
// GET /policy-checks/:id, repeatedly.
func (s *PolicyChecksService) Wait(ctx context.Context, policyCheckID string, opts *PolicyCheckWaitOptions) (*PolicyCheck, error) {
	var o PolicyCheckWaitOptions
	if opts != nil {
		o = *opts
	}
	if o.PollInterval < 0 || o.MaxPollInterval < 0 {
		return nil, invalidArg("poll interval", "must not be negative")
	}
	if o.PollInterval == 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.MaxPollInterval == 0 {
		o.MaxPollInterval = max(defaultMaxPollInterval, o.PollInterval)
	}
	if o.MaxPollInterval < o.PollInterval {
		return nil, invalidArg("max poll interval", "must be at least the poll interval")
	}
	backoff := RetryPolicy{MinWait: o.PollInterval, MaxWait: o.MaxPollInterval}
	var last *PolicyCheck
	for attempt := 0; ; attempt++ {
		pc, err := s.Read(ctx, policyCheckID, o.Read)
		if err != nil {
			if ctx.Err() != nil {
				err = waitEnded(policyCheckID, attempt+1, last, err)
			}
			return last, err
		}
		last = pc
		// An empty status is no answer (lenient decoding reads an odd value as ""), so
		// the wait goes on rather than report a check as final that may not be.
		if pc.Status != "" && (!pc.Status.IsTransient() || (o.StopAtSoftFailed && pc.Status == PolicyCheckSoftFailed)) {
			return pc, nil
		}
		timer := time.NewTimer(backoff.backoff(attempt))
		select {
		case <-ctx.Done():
			timer.Stop()
			return last, waitEnded(policyCheckID, attempt+1, last, ctx.Err())
		case <-timer.C:
		}
	}
}

// waitEnded says where Wait was when its context ended: a bare "context deadline
// exceeded" would not tell which of several waits gave up, or how far it got.
func waitEnded(policyCheckID string, reads int, last *PolicyCheck, err error) error {
	status := "none read"
	if last != nil {
		status = string(last.Status)
	}
	return fmt.Errorf("tfc: PolicyChecks.Wait %s: stopped after %d reads (last status: %s): %w", policyCheckID, reads, status, err)
}

// Output streams the raw output of a policy check. The service answers with a redirect
// to a short-lived URL, which is followed without the token; the caller reads the
// stream and closes it. Nothing is buffered, so the output may be of any size; bound
// the read with ctx, which the stream stays tied to.
//
// GET /policy-checks/:id/output, with clean=true if asked (Scalr).
func (s *PolicyChecksService) Output(ctx context.Context, policyCheckID string, opts *PolicyCheckOutputOptions) (io.ReadCloser, error) {
	if err := requireID("policy check ID", policyCheckID); err != nil {
		return nil, err
	}
	return s.stream(ctx, call{method: http.MethodGet, path: apiPath("policy-checks", policyCheckID, "output"), query: opts})
}

// OutputFromLink streams the raw output from a check's OutputLink, which may be a path
// (HCP Terraform's "/api/v2/policy-checks/…/output") or a URL (Scalr); a path is
// resolved against the client's address. A link to another host or scheme than the
// client's is refused with an *ArgumentError before any request, so the token is only
// ever sent to the service. Otherwise it behaves as Output.
//
// GET <links.output>, with clean=true if asked (Scalr).
func (s *PolicyChecksService) OutputFromLink(ctx context.Context, outputLink string, opts *PolicyCheckOutputOptions) (io.ReadCloser, error) {
	const name = "policy check output link"
	if outputLink == "" {
		return nil, invalidArg(name, "must not be empty")
	}
	base := s.client.base
	ref, err := url.Parse(outputLink)
	if err != nil {
		return nil, invalidArg(name, "is not a URL or path")
	}
	u := base.ResolveReference(ref)
	if !sameOrigin(u, base) || u.User != nil {
		return nil, invalidArg(name, "points to another host than the client's; the token is not sent there")
	}
	if opts != nil && opts.Clean {
		q := u.Query()
		q.Set("clean", "true")
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return s.stream(ctx, call{method: http.MethodGet, url: u.String(), urlName: name})
}

// stream sends c and hands over the open body of the successful response.
func (s *PolicyChecksService) stream(ctx context.Context, c call) (io.ReadCloser, error) {
	resp, _, err := s.client.send(ctx, c)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// sameOrigin reports whether a and b have the same scheme, host and port, with the
// scheme's default port filled in.
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "http" {
			return "80"
		}
		return "443"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// Wire types and conversions for policy checks.

const typeRuns = "runs"

type policyCheckAttrs struct {
	Status           PolicyCheckStatus `json:"status"`
	StatusTimestamps StatusTimestamps  `json:"status-timestamps"`
	Scope            PolicyScope       `json:"scope"`
	Result           struct {
		Result         bool                `json:"result"`
		Passed         int                 `json:"passed"`
		TotalFailed    int                 `json:"total-failed"`
		HardFailed     int                 `json:"hard-failed"`
		SoftFailed     int                 `json:"soft-failed"`
		AdvisoryFailed int                 `json:"advisory-failed"`
		DurationMS     millis              `json:"duration-ms"`
		Policies       []PolicyCheckPolicy `json:"policies"`
		Sentinel       json.RawMessage     `json:"sentinel"`
	} `json:"result"`
	Actions struct {
		IsOverridable *bool `json:"is-overridable"`
	} `json:"actions"`
	Permissions  policyCheckPermissions `json:"permissions"`
	ErrorMessage string                 `json:"error-message"`
}

// policyCheckPermissions keeps the permissions object whole (Scalr's is free-form)
// and reads HCP Terraform's can-override from it.
type policyCheckPermissions struct {
	Raw         json.RawMessage
	CanOverride *bool
}

// UnmarshalJSON keeps a copy of the object and reads can-override, leniently as every
// attribute (see unmarshalAttributes). A value that is not an object, null included,
// leaves p as it is.
func (p *policyCheckPermissions) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var w struct {
		CanOverride *bool `json:"can-override"`
	}
	if err := unmarshalAttributes(b, &w); err != nil {
		return err
	}
	*p = policyCheckPermissions{Raw: bytes.Clone(b), CanOverride: w.CanOverride}
	return nil
}

type policyCheckRels struct {
	Run *toOne `json:"run"`
}

type policyCheckRunAttrs struct {
	Status string `json:"status"`
}

type policyCheckRunRels struct {
	Workspace *toOne `json:"workspace"`
}

type policyCheckWorkspaceAttrs struct {
	Name string `json:"name"`
}

func policyCheckFromWire(r *resource[policyCheckAttrs, policyCheckRels], inc *includes) PolicyCheck {
	a := &r.Attributes
	res := &a.Result
	pc := PolicyCheck{
		ID:               r.ID,
		Status:           a.Status,
		StatusTimestamps: a.StatusTimestamps,
		Scope:            a.Scope,
		Result: PolicyCheckResult{
			Result:         res.Result,
			Passed:         res.Passed,
			TotalFailed:    res.TotalFailed,
			HardFailed:     res.HardFailed,
			SoftFailed:     res.SoftFailed,
			AdvisoryFailed: res.AdvisoryFailed,
			Duration:       res.DurationMS.duration(),
			Policies:       res.Policies,
		},
		IsOverridable: a.Actions.IsOverridable,
		CanOverride:   a.Permissions.CanOverride,
		Permissions:   a.Permissions.Raw,
		ErrorMessage:  a.ErrorMessage,
		OutputLink:    string(r.Links.Output),
		RunID:         r.Relationships.Run.id(),
	}
	if len(res.Sentinel) > 0 && string(res.Sentinel) != "null" {
		pc.Result.Sentinel = res.Sentinel
	}
	if it := inc.find(typeRuns, pc.RunID); it != nil {
		if run, ok := decodeIncluded[policyCheckRunAttrs, policyCheckRunRels](it); ok {
			pc.RunStatus = run.Attributes.Status
			pc.WorkspaceID = run.Relationships.Workspace.id()
		}
	}
	if it := inc.find(typeWorkspaces, pc.WorkspaceID); it != nil {
		if ws, ok := decodeIncluded[policyCheckWorkspaceAttrs, noRelationships](it); ok {
			pc.WorkspaceName = ws.Attributes.Name
		}
	}
	return pc
}
