package tfc

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/tfkit/tfc/internal/jsonscan"
)

// The fast decoding path. The wire structs of the frequent documents (run tasks,
// workspace tasks, task stages and results, policy checks and evaluations, pagination)
// implement fieldDecoder and are read field by field with jsonscan, without
// reflection; anything else falls back to encoding/json through its tags. Both paths
// give the same result: decode_test.go holds them to it on the fixtures and under
// fuzzing.

// fieldDecoder is implemented by wire structs that decode without reflection.
type fieldDecoder interface {
	decodeFields(d *jsonscan.Decoder)
}

// decodeValue reads the next value into v, fast if v knows how, through encoding/json
// otherwise.
func decodeValue[T any](d *jsonscan.Decoder, v *T) {
	if fd, ok := any(v).(fieldDecoder); ok {
		fd.decodeFields(d)
		return
	}
	raw := d.Raw()
	if d.Err() != nil {
		return
	}
	if err := json.Unmarshal(raw, v); err != nil {
		d.Fail(err)
	}
}

// decodeResource reads a resource object.
func decodeResource[A, R any](d *jsonscan.Decoder, r *resource[A, R]) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "type":
			r.Type = internString(d)
		case "id":
			r.ID = d.String()
		case "attributes":
			decodeValue(d, &r.Attributes)
		case "relationships":
			decodeValue(d, &r.Relationships)
		case "links":
			r.Links.decodeFields(d)
		default:
			d.Skip()
		}
	}
}

// decodeResourceList reads an array of resource objects, as encoding/json fills a
// slice: null leaves nil, [] gives an empty slice.
func decodeResourceList[A, R any](d *jsonscan.Decoder, list *[]resource[A, R]) {
	if !d.Array() {
		return
	}
	s := (*list)[:0]
	if s == nil {
		s = make([]resource[A, R], 0, 16)
	}
	for d.Next() {
		s = append(s, resource[A, R]{})
		decodeResource(d, &s[len(s)-1])
	}
	*list = s
}

// decodeDocument reads a top-level document, its primary data with data.
func decodeDocument[D any](body []byte, doc *document[D], data func(*jsonscan.Decoder, *D)) error {
	d := scanners.Get().(*jsonscan.Decoder)
	defer scanners.Put(d)
	d.Reset(body)
	if d.Object() {
		for d.More() {
			switch string(d.Key()) {
			case "data":
				data(d, &doc.Data)
			case "included":
				decodeIncludedList(d, &doc.Included)
			case "meta":
				if d.Object() {
					if doc.Meta == nil {
						doc.Meta = new(docMeta)
					}
					for d.More() {
						switch {
						case string(d.Key()) != "pagination":
							d.Skip()
						case d.Null():
							doc.Meta.Pagination = nil
						case d.Object():
							if doc.Meta.Pagination == nil {
								doc.Meta.Pagination = new(Pagination)
							}
							doc.Meta.Pagination.decodeMembers(d)
						}
					}
				}
			default:
				d.Skip()
			}
		}
	}
	return d.End()
}

var scanners = sync.Pool{New: func() any { return new(jsonscan.Decoder) }}

// decodeIncludedList reads "included", keeping each member's attributes and
// relationships as subslices of the body, decoded later by type. They alias the
// response buffer: conversion must finish before the buffer is released.
func decodeIncludedList(d *jsonscan.Decoder, list *[]included) {
	if !d.Array() {
		return
	}
	s := (*list)[:0]
	if s == nil {
		s = []included{}
	}
	for d.Next() {
		var inc included
		if d.Object() {
			for d.More() {
				switch string(d.Key()) {
				case "type":
					inc.Type = internString(d)
				case "id":
					inc.ID = d.String()
				case "attributes":
					inc.Attributes = d.Raw()
				case "relationships":
					inc.Relationships = d.Raw()
				default:
					d.Skip()
				}
			}
		}
		s = append(s, inc)
	}
	*list = s
}

// decodeRaw decodes raw (a member of an included resource) into v.
func decodeRaw[T any](raw []byte, v *T) bool {
	if fd, ok := any(v).(fieldDecoder); ok {
		d := scanners.Get().(*jsonscan.Decoder)
		defer scanners.Put(d)
		d.Reset(raw)
		fd.decodeFields(d)
		return d.End() == nil
	}
	return json.Unmarshal(raw, v) == nil
}

// decodeMembers reads the members of meta.pagination (its brace already open).
func (p *Pagination) decodeMembers(d *jsonscan.Decoder) {
	for d.More() {
		switch string(d.Key()) {
		case "current-page":
			setInt(d, &p.CurrentPage)
		case "page-size":
			setInt(d, &p.PageSize)
		case "prev-page":
			setInt(d, &p.PrevPage)
		case "next-page":
			setInt(d, &p.NextPage)
		case "total-pages":
			setInt(d, &p.TotalPages)
		case "total-count":
			setInt(d, &p.TotalCount)
		default:
			d.Skip()
		}
	}
}

func (l *links) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "self":
			l.Self.decode(d)
		case "output":
			l.Output.decode(d)
		default:
			d.Skip()
		}
	}
}

// decode reads a link: a URL string, a link object whose href is used, or null.
func (l *link) decode(d *jsonscan.Decoder) {
	switch d.Peek() {
	case 'n':
		d.Null()
		*l = ""
	case '{':
		var href string
		onlyKey(d, "href", func() { setString(d, &href) })
		*l = link(href)
	default:
		setString(d, (*string)(l))
	}
}

func (r *toOne) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		if string(d.Key()) != "data" {
			d.Skip()
			continue
		}
		if d.Null() {
			r.Data = nil
			continue
		}
		if r.Data == nil {
			r.Data = new(resourceID)
		}
		r.Data.decodeFields(d)
	}
}

func (r *toMany) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		if string(d.Key()) != "data" || !d.Array() {
			if string(d.Key()) != "data" {
				d.Skip()
			} else {
				r.Data = nil // null
			}
			continue
		}
		s := r.Data[:0]
		if s == nil {
			s = []resourceID{}
		}
		for d.Next() {
			s = append(s, resourceID{})
			s[len(s)-1].decodeFields(d)
		}
		r.Data = s
	}
}

func (r *resourceID) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "type":
			r.Type = internString(d)
		case "id":
			r.ID = d.String()
		default:
			d.Skip()
		}
	}
}

// decodeToOne and decodeToMany read an optional relationship into a pointer field,
// as encoding/json does: null leaves nil, an object allocates.
func decodeToOne(d *jsonscan.Decoder, p **toOne) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(toOne)
	}
	(*p).decodeFields(d)
}

func decodeToMany(d *jsonscan.Decoder, p **toMany) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(toMany)
	}
	(*p).decodeFields(d)
}

func (noRelationships) decodeFields(d *jsonscan.Decoder) { d.Skip() }

// decodeTimestamps reads status-timestamps: an object of RFC 3339 strings (or nulls,
// skipped). A value that is a string but not a time is skipped too, so one odd value
// does not fail a response; a value of another type is an error. null leaves t alone.
func decodeTimestamps(d *jsonscan.Decoder, t *StatusTimestamps) {
	if !d.Object() {
		return
	}
	m := make(StatusTimestamps, 4)
	for d.More() {
		key := internKey(d.Key())
		switch d.Peek() {
		case 'n':
			d.Null()
		case '"':
			raw := d.Raw()
			var ts time.Time
			if d.Err() == nil && ts.UnmarshalJSON(raw) == nil {
				m[key] = ts
			}
		default:
			d.Fail(errTimestampNotString)
			return
		}
	}
	*t = m
}

var errTimestampNotString = errors.New("a status timestamp is not a string")

// setString, setEnum, setInt, setBool and setTime read a value into a field and, like
// encoding/json, leave the field alone when the value is null.
func setString(d *jsonscan.Decoder, p *string) {
	if b, ok := d.StringBytes(); ok {
		*p = string(b)
	}
}

func setEnum[T ~string](d *jsonscan.Decoder, p *T) {
	if b, ok := d.StringBytes(); ok {
		*p = T(intern(b))
	}
}

func setInt[T ~int | ~int64](d *jsonscan.Decoder, p *T) {
	if !d.Null() {
		*p = T(d.Int())
	}
}

func setBool(d *jsonscan.Decoder, p *bool) {
	if !d.Null() {
		*p = d.Bool()
	}
}

func setBoolPtr(d *jsonscan.Decoder, p **bool) {
	if d.Null() {
		*p = nil
		return
	}
	v := d.Bool()
	*p = &v
}

func setTime(d *jsonscan.Decoder, p *time.Time) {
	if !d.Null() {
		*p = d.Time()
	}
}

// decodeStage reads a stage, accepting the hyphenated spellings as UnmarshalText does.
func decodeStage(d *jsonscan.Decoder, s *Stage) {
	b, ok := d.StringBytes()
	if !ok {
		return
	}
	if bytes.IndexByte(b, '-') >= 0 {
		b = bytes.ReplaceAll(b, []byte("-"), []byte("_"))
	}
	*s = Stage(intern(b))
}

func decodeStages(d *jsonscan.Decoder, p *[]Stage) {
	if !d.Array() {
		if d.Err() == nil {
			*p = nil
		}
		return
	}
	s := (*p)[:0]
	if s == nil {
		s = []Stage{}
	}
	for d.Next() {
		var st Stage
		decodeStage(d, &st)
		s = append(s, st)
	}
	*p = s
}

// onlyKey reads an object and hands the value of key to read, skipping every other
// member; null leaves everything alone.
func onlyKey(d *jsonscan.Decoder, key string, read func()) {
	if !d.Object() {
		return
	}
	for d.More() {
		if string(d.Key()) == key {
			read()
		} else {
			d.Skip()
		}
	}
}

func internString(d *jsonscan.Decoder) string {
	b, ok := d.StringBytes()
	if !ok {
		return ""
	}
	return intern(b)
}

// intern returns the constant for the enum values and type names the API repeats on
// every item, so decoding them does not allocate.
func intern(b []byte) string {
	switch string(b) {
	case "tasks":
		return "tasks"
	case "task":
		return "task"
	case "workspace-tasks":
		return "workspace-tasks"
	case "workspaces":
		return "workspaces"
	case "organizations":
		return "organizations"
	case "agent-pools":
		return "agent-pools"
	case "task-stages":
		return "task-stages"
	case "task-results":
		return "task-results"
	case "policy-evaluations":
		return "policy-evaluations"
	case "policy-checks":
		return "policy-checks"
	case "runs":
		return "runs"
	case "pre_plan":
		return "pre_plan"
	case "post_plan":
		return "post_plan"
	case "pre_apply":
		return "pre_apply"
	case "post_apply":
		return "post_apply"
	case "advisory":
		return "advisory"
	case "mandatory":
		return "mandatory"
	case "pending":
		return "pending"
	case "queued":
		return "queued"
	case "running":
		return "running"
	case "passed":
		return "passed"
	case "failed":
		return "failed"
	case "errored":
		return "errored"
	case "canceled":
		return "canceled"
	case "unreachable":
		return "unreachable"
	case "awaiting_override":
		return "awaiting_override"
	case "overridden":
		return "overridden"
	case "soft_failed":
		return "soft_failed"
	case "hard_failed":
		return "hard_failed"
	case "advisory_failed":
		return "advisory_failed"
	case "organization":
		return "organization"
	case "workspace":
		return "workspace"
	case "opa":
		return "opa"
	case "sentinel":
		return "sentinel"
	}
	return string(b)
}

// internKey interns the status timestamp keys.
func internKey(b []byte) string {
	switch string(b) {
	case "pending-at":
		return "pending-at"
	case "queued-at":
		return "queued-at"
	case "running-at":
		return "running-at"
	case "passed-at":
		return "passed-at"
	case "failed-at":
		return "failed-at"
	case "errored-at":
		return "errored-at"
	case "canceled-at":
		return "canceled-at"
	case "unreachable-at":
		return "unreachable-at"
	case "awaiting-override-at":
		return "awaiting-override-at"
	case "overridden-at":
		return "overridden-at"
	case "soft-failed-at":
		return "soft-failed-at"
	case "hard-failed-at":
		return "hard-failed-at"
	}
	return string(b)
}

// The field decoders of the wire structs. Each mirrors the struct's json tags.

func (a *runTaskAttrs) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "name":
			setString(d, &a.Name)
		case "url":
			setString(d, &a.URL)
		case "description":
			setString(d, &a.Description)
		case "category":
			setEnum(d, &a.Category)
		case "enabled":
			setBool(d, &a.Enabled)
		case "global-configuration":
			if d.Null() {
				a.GlobalConfiguration = nil
				continue
			}
			if a.GlobalConfiguration == nil {
				a.GlobalConfiguration = new(globalConfigurationW)
			}
			a.GlobalConfiguration.decodeFields(d)
		case "created-at":
			setTime(d, &a.CreatedAt)
		case "updated-at":
			setTime(d, &a.UpdatedAt)
		default:
			d.Skip()
		}
	}
}

func (g *globalConfigurationW) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "enabled":
			setBoolPtr(d, &g.Enabled)
		case "stages":
			decodeStages(d, &g.Stages)
		case "enforcement-level":
			setEnum(d, &g.EnforcementLevel)
		default:
			d.Skip()
		}
	}
}

func (r *runTaskRels) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "organization":
			decodeToOne(d, &r.Organization)
		case "workspace-tasks":
			decodeToMany(d, &r.WorkspaceTasks)
		case "tasks":
			decodeToMany(d, &r.Tasks)
		case "agent-pool":
			decodeToOne(d, &r.AgentPool)
		case "task-configs":
			decodeToMany(d, &r.TaskConfigs)
		default:
			d.Skip()
		}
	}
}

func (a *workspaceTaskAttrs) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "enforcement-level":
			setEnum(d, &a.EnforcementLevel)
		case "stages":
			decodeStages(d, &a.Stages)
		case "stage":
			decodeStage(d, &a.Stage)
		case "created-at":
			setTime(d, &a.CreatedAt)
		case "updated-at":
			setTime(d, &a.UpdatedAt)
		default:
			d.Skip()
		}
	}
}

func (r *workspaceTaskRels) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "task":
			decodeToOne(d, &r.Task)
		case "workspace":
			decodeToOne(d, &r.Workspace)
		default:
			d.Skip()
		}
	}
}

func (a *taskStageAttrs) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "stage":
			decodeStage(d, &a.Stage)
		case "status":
			setEnum(d, &a.Status)
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "duration":
			setInt(d, &a.Duration)
		case "permissions":
			if d.Object() {
				for d.More() {
					switch string(d.Key()) {
					case "can-override-policy":
						setBool(d, &a.Permissions.CanOverridePolicy)
					case "can-override-tasks":
						setBool(d, &a.Permissions.CanOverrideTasks)
					case "can-override":
						setBool(d, &a.Permissions.CanOverride)
					default:
						d.Skip()
					}
				}
			}
		case "actions":
			onlyKey(d, "is-overridable", func() { setBool(d, &a.Actions.IsOverridable) })
		case "created-at":
			setTime(d, &a.CreatedAt)
		case "updated-at":
			setTime(d, &a.UpdatedAt)
		default:
			d.Skip()
		}
	}
}

func (r *taskStageRels) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "run":
			decodeToOne(d, &r.Run)
		case "task-results":
			decodeToMany(d, &r.TaskResults)
		case "policy-evaluations":
			decodeToMany(d, &r.PolicyEvaluations)
		default:
			d.Skip()
		}
	}
}

func (a *policyEvaluationAttrs) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "status":
			setEnum(d, &a.Status)
		case "policy-kind":
			setEnum(d, &a.PolicyKind)
		case "policy-tool-version":
			setString(d, &a.PolicyToolVersion)
		case "result-count":
			if d.Object() {
				for d.More() {
					switch string(d.Key()) {
					case "advisory-failed":
						setInt(d, &a.ResultCount.AdvisoryFailed)
					case "errored":
						setInt(d, &a.ResultCount.Errored)
					case "mandatory-failed":
						setInt(d, &a.ResultCount.MandatoryFailed)
					case "passed":
						setInt(d, &a.ResultCount.Passed)
					default:
						d.Skip()
					}
				}
			}
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "created-at":
			setTime(d, &a.CreatedAt)
		case "updated-at":
			setTime(d, &a.UpdatedAt)
		default:
			d.Skip()
		}
	}
}

func (a *taskResultAttrs) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "status":
			setEnum(d, &a.Status)
		case "message":
			setString(d, &a.Message)
		case "url":
			setString(d, &a.URL)
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "duration":
			setInt(d, &a.Duration)
		case "task-id":
			setString(d, &a.TaskID)
		case "task-name":
			setString(d, &a.TaskName)
		case "task-url":
			setString(d, &a.TaskURL)
		case "stage":
			decodeStage(d, &a.Stage)
		case "is-speculative":
			setBool(d, &a.IsSpeculative)
		case "workspace-task-id":
			setString(d, &a.WorkspaceTaskID)
		case "workspace-task-enforcement-level":
			setEnum(d, &a.WorkspaceTaskEnforcementLevel)
		case "agent-pool-id":
			setString(d, &a.AgentPoolID)
		case "task-result-outcomes-count":
			setInt(d, &a.OutcomesCount)
		case "created-at":
			setTime(d, &a.CreatedAt)
		case "updated-at":
			setTime(d, &a.UpdatedAt)
		default:
			d.Skip()
		}
	}
}

func (r *taskResultRels) decodeFields(d *jsonscan.Decoder) {
	onlyKey(d, "task-stage", func() { decodeToOne(d, &r.TaskStage) })
}

func (a *policyCheckAttrs) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "status":
			setEnum(d, &a.Status)
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "scope":
			setEnum(d, &a.Scope)
		case "result":
			a.decodeResult(d)
		case "actions":
			onlyKey(d, "is-overridable", func() { setBoolPtr(d, &a.Actions.IsOverridable) })
		case "permissions":
			a.decodePermissions(d)
		case "error-message":
			setString(d, &a.ErrorMessage)
		default:
			d.Skip()
		}
	}
}

// decodePermissions mirrors policyCheckPermissions.UnmarshalJSON: the object is kept
// (copied out of the reused input buffer) and can-override read from it.
func (a *policyCheckAttrs) decodePermissions(d *jsonscan.Decoder) {
	if d.Null() || d.Err() != nil {
		return
	}
	raw := d.Raw()
	if d.Err() != nil {
		return
	}
	var sub jsonscan.Decoder
	sub.Reset(raw)
	var canOverride *bool
	onlyKey(&sub, "can-override", func() { setBoolPtr(&sub, &canOverride) })
	if err := sub.Err(); err != nil {
		var se *jsonscan.SyntaxError
		if errors.As(err, &se) {
			err = se.Err
		}
		d.Fail(err)
		return
	}
	a.Permissions = policyCheckPermissions{Raw: bytes.Clone(raw), CanOverride: canOverride}
}

func (a *policyCheckAttrs) decodeResult(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	r := &a.Result
	for d.More() {
		switch string(d.Key()) {
		case "result":
			setBool(d, &r.Result)
		case "passed":
			setInt(d, &r.Passed)
		case "total-failed":
			setInt(d, &r.TotalFailed)
		case "hard-failed":
			setInt(d, &r.HardFailed)
		case "soft-failed":
			setInt(d, &r.SoftFailed)
		case "advisory-failed":
			setInt(d, &r.AdvisoryFailed)
		case "duration-ms":
			setInt(d, &r.DurationMS)
		case "sentinel":
			// json.RawMessage keeps the value's bytes, null included; copied, since the
			// input is a reused buffer.
			r.Sentinel = bytes.Clone(d.Raw())
		case "policies":
			decodePolicies(d, &r.Policies)
		default:
			d.Skip()
		}
	}
}

func decodePolicies(d *jsonscan.Decoder, p *[]PolicyCheckPolicy) {
	if !d.Array() {
		if d.Err() == nil {
			*p = nil
		}
		return
	}
	s := (*p)[:0]
	if s == nil {
		s = []PolicyCheckPolicy{}
	}
	for d.Next() {
		s = append(s, PolicyCheckPolicy{})
		pol := &s[len(s)-1]
		if !d.Object() {
			continue
		}
		for d.More() {
			switch string(d.Key()) {
			case "name":
				setString(d, &pol.Name)
			case "result":
				setEnum(d, &pol.Result)
			case "messages":
				if !d.Array() {
					if d.Err() == nil {
						pol.Messages = nil
					}
					continue
				}
				msgs := pol.Messages[:0]
				if msgs == nil {
					msgs = []string{}
				}
				for d.Next() {
					var m string
					setString(d, &m)
					msgs = append(msgs, m)
				}
				pol.Messages = msgs
			default:
				d.Skip()
			}
		}
	}
	*p = s
}

func (r *policyCheckRels) decodeFields(d *jsonscan.Decoder) {
	onlyKey(d, "run", func() { decodeToOne(d, &r.Run) })
}

// decodeFields reads a run task request. The receiver decodes every delivery with it.
func (r *RunTaskRequest) decodeFields(d *jsonscan.Decoder) {
	if !d.Object() {
		return
	}
	var misspelled *RunTaskCapabilities
	for d.More() {
		switch string(d.Key()) {
		case "payload_version":
			setInt(d, &r.PayloadVersion)
		case "stage":
			decodeStage(d, &r.Stage)
		case "access_token":
			setString(d, (*string)(&r.AccessToken))
		case "capabilities":
			r.Capabilities.decodeFields(d)
		case "capabilitites":
			if d.Null() {
				misspelled = nil
				continue
			}
			if misspelled == nil {
				misspelled = new(RunTaskCapabilities)
			}
			misspelled.decodeFields(d)
		case "configuration_version_id":
			setString(d, &r.ConfigurationVersionID)
		case "configuration_version_download_url":
			setStringPtr(d, &r.ConfigurationVersionDownloadURL)
		case "plan_json_api_url":
			setString(d, &r.PlanJSONAPIURL)
		case "is_speculative":
			setBool(d, &r.IsSpeculative)
		case "organization_name":
			setString(d, &r.OrganizationName)
		case "run_app_url":
			setString(d, &r.RunAppURL)
		case "run_created_at":
			// Any string; a time when it parses as one.
			if b, ok := d.StringBytes(); ok {
				r.RunCreatedAt, _ = time.Parse(time.RFC3339Nano, string(b))
			}
		case "run_created_by":
			setString(d, &r.RunCreatedBy)
		case "run_id":
			setString(d, &r.RunID)
		case "run_message":
			setString(d, &r.RunMessage)
		case "task_result_callback_url":
			setString(d, &r.TaskResultCallbackURL)
		case "task_result_enforcement_level":
			setEnum(d, &r.TaskResultEnforcementLevel)
		case "task_result_id":
			setString(d, &r.TaskResultID)
		case "vcs_branch":
			setStringPtr(d, &r.VCSBranch)
		case "vcs_commit_hash":
			setStringPtr(d, &r.VCSCommitHash)
		case "vcs_commit_url":
			setStringPtr(d, &r.VCSCommitURL)
		case "vcs_pull_request_url":
			setStringPtr(d, &r.VCSPullRequestURL)
		case "vcs_repo_url":
			setStringPtr(d, &r.VCSRepoURL)
		case "workspace_app_url":
			setString(d, &r.WorkspaceAppURL)
		case "workspace_id":
			setString(d, &r.WorkspaceID)
		case "workspace_name":
			setString(d, &r.WorkspaceName)
		case "workspace_working_directory":
			setString(d, &r.WorkspaceWorkingDirectory)
		case "project_id":
			setString(d, &r.ProjectID)
		case "project_name":
			setString(d, &r.ProjectName)
		case "project_app_url":
			setString(d, &r.ProjectAppURL)
		default:
			d.Skip()
		}
	}
	if misspelled != nil && !r.Capabilities.Outcomes {
		r.Capabilities = *misspelled
	}
}

func (c *RunTaskCapabilities) decodeFields(d *jsonscan.Decoder) {
	onlyKey(d, "outcomes", func() { setBool(d, &c.Outcomes) })
}

func setStringPtr(d *jsonscan.Decoder, p **string) {
	if d.Null() {
		*p = nil
		return
	}
	if b, ok := d.StringBytes(); ok {
		s := string(b)
		*p = &s
	}
}
