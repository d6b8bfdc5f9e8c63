package tfc

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"github.com/tfkit/tfc/internal/jsonscan"
)

// The fast decoding path. The wire structs of the frequent documents (run tasks,
// workspace tasks, task stages and results, policy checks and evaluations, pagination)
// implement fieldDecoder and are read field by field with jsonscan, without
// reflection; anything else falls back to encoding/json through its tags. Attributes
// are read leniently on both paths (see "Odd attributes" in jsonapi.go). Both paths
// give the same result: decode_test.go holds them to it on the fixtures and under
// fuzzing.

// fieldDecoder is implemented by wire structs that decode without reflection.
type fieldDecoder interface {
	decodeFields(d *jsonscan.Decoder)
}

// decodeValue reads the next value into v, fast if v knows how, through encoding/json
// otherwise.
func decodeValue[T any](d *jsonscan.Decoder, v *T) { decodeWith(d, v, jsonUnmarshal[T]) }

// decodeAttributes reads a resource's attributes into v: fast if v knows how, through
// unmarshalAttributes otherwise. Either way an odd attribute is ignored (see
// unmarshalAttributes).
func decodeAttributes[T any](d *jsonscan.Decoder, v *T) { decodeWith(d, v, unmarshalAttributes[T]) }

// decodeWith reads the next value into v with its field decoder, or else hands the
// value's bytes to unmarshal.
func decodeWith[T any](d *jsonscan.Decoder, v *T, unmarshal func([]byte, *T) error) {
	if fd, ok := any(v).(fieldDecoder); ok {
		fd.decodeFields(d)
		return
	}
	raw := d.Raw()
	if d.Err() != nil {
		return
	}
	if err := unmarshal(raw, v); err != nil {
		d.Fail(err)
	}
}

func jsonUnmarshal[T any](data []byte, v *T) error { return json.Unmarshal(data, v) }

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
			decodeAttributes(d, &r.Attributes)
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

// decodeRaw decodes raw (the relationships of an included resource) into v.
func decodeRaw[T any](raw []byte, v *T) bool {
	if fd, ok := any(v).(fieldDecoder); ok {
		return scanWith(raw, fd.decodeFields) == nil
	}
	return json.Unmarshal(raw, v) == nil
}

// decodeRawAttributes decodes raw (the attributes of an included resource) into v, as
// decodeAttributes does.
func decodeRawAttributes[T any](raw []byte, v *T) bool {
	return scanWith(raw, func(d *jsonscan.Decoder) { decodeAttributes(d, v) }) == nil
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

// decodeTimestamps reads status-timestamps: an object of RFC 3339 strings. An entry
// that is not a time (null, another string, another type) is skipped, and a value that
// is not an object leaves t alone, so that one odd value does not fail a response.
func decodeTimestamps(d *jsonscan.Decoder, t *StatusTimestamps) {
	if !attrObject(d) {
		return
	}
	m := make(StatusTimestamps, 4)
	for d.More() {
		key := internKey(d.Key())
		var ts time.Time
		if attrTime(d, &ts) {
			m[key] = ts
		}
	}
	*t = m
}

// setString, setEnum, setInt and setBool read a value into a field and, like
// encoding/json, leave the field alone when the value is null; a value of another type
// fails the document. They read what is not an attribute: pagination, links, the run
// task request.
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

// The attribute readers. Attributes are read leniently (see unmarshalAttributes): a
// value of the wrong JSON type, or one that does not fit its field (a number with a
// fraction for an integer, a string that is not a time), is skipped and the field
// keeps what it held, where the readers above fail the document; a boolean may come
// as the string "true" or "false". Each mirrors what encoding/json does for its field
// type through unmarshalAttributes, and the tests hold them to it.

// attrString reads a string attribute.
func attrString(d *jsonscan.Decoder, p *string) {
	if d.Peek() != '"' {
		d.Skip()
		return
	}
	if b, ok := d.StringBytes(); ok {
		*p = string(b)
	}
}

// attrEnum reads a string attribute of an enum type.
func attrEnum[T ~string](d *jsonscan.Decoder, p *T) {
	if d.Peek() != '"' {
		d.Skip()
		return
	}
	if b, ok := d.StringBytes(); ok {
		*p = T(intern(b))
	}
}

// attrInt reads an integer attribute.
func attrInt[T ~int | ~int64](d *jsonscan.Decoder, p *T) {
	if c := d.Peek(); c != '-' && (c < '0' || c > '9') {
		d.Skip()
		return
	}
	if n, ok := d.TryInt(); ok {
		*p = T(n)
	}
}

// attrBool reads a boolean attribute, also from the strings "true" and "false", which
// the official run task samples print.
func attrBool(d *jsonscan.Decoder, p *bool) {
	if v, ok := readBool(d); ok {
		*p = v
	}
}

// attrBoolPtr reads an optional boolean attribute: null clears it; any other value
// allocates it, as encoding/json does before it finds the value's type wrong.
func attrBoolPtr(d *jsonscan.Decoder, p **bool) {
	if d.Peek() == 'n' {
		d.Null()
		*p = nil
		return
	}
	if *p == nil {
		*p = new(bool)
	}
	if v, ok := readBool(d); ok {
		**p = v
	}
}

// readBool reads true, false, "true" or "false"; anything else is skipped with ok
// false.
func readBool(d *jsonscan.Decoder) (v, ok bool) {
	switch d.Peek() {
	case 't', 'f':
		v = d.Bool()
		return v, d.Err() == nil
	case '"':
		b, _ := d.StringBytes()
		switch string(b) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		return false, false
	}
	d.Skip()
	return false, false
}

// attrTime reads an RFC 3339 time attribute and reports whether it held one.
func attrTime(d *jsonscan.Decoder, p *time.Time) bool {
	if d.Peek() != '"' {
		d.Skip()
		return false
	}
	raw := d.Raw()
	var t time.Time
	if d.Err() != nil || t.UnmarshalJSON(raw) != nil {
		return false
	}
	*p = t
	return true
}

// attrObject starts an object attribute: it reports whether members follow, and skips
// a value that is not an object (null included).
func attrObject(d *jsonscan.Decoder) bool {
	if d.Peek() != '{' {
		d.Skip()
		return false
	}
	return d.Object()
}

// attrList reads a list attribute into *p, each element with read: null clears the
// slice, as encoding/json does, and a value that is not an array leaves it alone.
func attrList[T any](d *jsonscan.Decoder, p *[]T, read func(*jsonscan.Decoder, *T)) {
	switch d.Peek() {
	case '[':
		if !d.Array() {
			return
		}
		s := (*p)[:0]
		if s == nil {
			s = []T{}
		}
		for d.Next() {
			var v T
			read(d, &v)
			s = append(s, v)
		}
		*p = s
	case 'n':
		d.Null()
		*p = nil
	default:
		d.Skip()
	}
}

// attrOnlyKey reads an object attribute and hands the value of key to read, skipping
// every other member and a value that is not an object.
func attrOnlyKey(d *jsonscan.Decoder, key string, read func()) {
	if d.Peek() != '{' {
		d.Skip()
		return
	}
	onlyKey(d, key, read)
}

// attrStage reads a stage attribute, accepting the hyphenated spellings as
// Stage.UnmarshalText does.
func attrStage(d *jsonscan.Decoder, s *Stage) {
	if d.Peek() != '"' {
		d.Skip()
		return
	}
	decodeStage(d, s)
}

// attrStages reads a list of stages.
func attrStages(d *jsonscan.Decoder, p *[]Stage) { attrList(d, p, attrStage) }

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
			attrString(d, &a.Name)
		case "url":
			attrString(d, &a.URL)
		case "description":
			attrString(d, &a.Description)
		case "category":
			attrEnum(d, &a.Category)
		case "enabled":
			attrBool(d, &a.Enabled)
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
			attrTime(d, &a.CreatedAt)
		case "updated-at":
			attrTime(d, &a.UpdatedAt)
		default:
			d.Skip()
		}
	}
}

func (g *globalConfigurationW) decodeFields(d *jsonscan.Decoder) {
	if !attrObject(d) {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "enabled":
			attrBoolPtr(d, &g.Enabled)
		case "stages":
			attrStages(d, &g.Stages)
		case "enforcement-level":
			attrEnum(d, &g.EnforcementLevel)
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
			attrEnum(d, &a.EnforcementLevel)
		case "stages":
			attrStages(d, &a.Stages)
		case "stage":
			attrStage(d, &a.Stage)
		case "created-at":
			attrTime(d, &a.CreatedAt)
		case "updated-at":
			attrTime(d, &a.UpdatedAt)
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
			attrStage(d, &a.Stage)
		case "status":
			attrEnum(d, &a.Status)
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "duration":
			attrInt(d, &a.Duration)
		case "permissions":
			if attrObject(d) {
				for d.More() {
					switch string(d.Key()) {
					case "can-override-policy":
						attrBool(d, &a.Permissions.CanOverridePolicy)
					case "can-override-tasks":
						attrBool(d, &a.Permissions.CanOverrideTasks)
					case "can-override":
						attrBool(d, &a.Permissions.CanOverride)
					default:
						d.Skip()
					}
				}
			}
		case "actions":
			attrOnlyKey(d, "is-overridable", func() { attrBool(d, &a.Actions.IsOverridable) })
		case "created-at":
			attrTime(d, &a.CreatedAt)
		case "updated-at":
			attrTime(d, &a.UpdatedAt)
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
			attrEnum(d, &a.Status)
		case "policy-kind":
			attrEnum(d, &a.PolicyKind)
		case "policy-tool-version":
			attrString(d, &a.PolicyToolVersion)
		case "result-count":
			if attrObject(d) {
				for d.More() {
					switch string(d.Key()) {
					case "advisory-failed":
						attrInt(d, &a.ResultCount.AdvisoryFailed)
					case "errored":
						attrInt(d, &a.ResultCount.Errored)
					case "mandatory-failed":
						attrInt(d, &a.ResultCount.MandatoryFailed)
					case "passed":
						attrInt(d, &a.ResultCount.Passed)
					default:
						d.Skip()
					}
				}
			}
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "created-at":
			attrTime(d, &a.CreatedAt)
		case "updated-at":
			attrTime(d, &a.UpdatedAt)
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
			attrEnum(d, &a.Status)
		case "message":
			attrString(d, &a.Message)
		case "url":
			attrString(d, &a.URL)
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "duration":
			attrInt(d, &a.Duration)
		case "task-id":
			attrString(d, &a.TaskID)
		case "task-name":
			attrString(d, &a.TaskName)
		case "task-url":
			attrString(d, &a.TaskURL)
		case "stage":
			attrStage(d, &a.Stage)
		case "is-speculative":
			attrBool(d, &a.IsSpeculative)
		case "workspace-task-id":
			attrString(d, &a.WorkspaceTaskID)
		case "workspace-task-enforcement-level":
			attrEnum(d, &a.WorkspaceTaskEnforcementLevel)
		case "agent-pool-id":
			attrString(d, &a.AgentPoolID)
		case "task-result-outcomes-count":
			attrInt(d, &a.OutcomesCount)
		case "created-at":
			attrTime(d, &a.CreatedAt)
		case "updated-at":
			attrTime(d, &a.UpdatedAt)
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
			attrEnum(d, &a.Status)
		case "status-timestamps":
			decodeTimestamps(d, &a.StatusTimestamps)
		case "scope":
			attrEnum(d, &a.Scope)
		case "result":
			a.decodeResult(d)
		case "actions":
			attrOnlyKey(d, "is-overridable", func() { attrBoolPtr(d, &a.Actions.IsOverridable) })
		case "permissions":
			a.decodePermissions(d)
		case "error-message":
			attrString(d, &a.ErrorMessage)
		default:
			d.Skip()
		}
	}
}

// decodePermissions mirrors policyCheckPermissions.UnmarshalJSON: the object is kept
// (copied out of the reused input buffer) and can-override read from it; a value that
// is not an object (null included) leaves the permissions alone.
func (a *policyCheckAttrs) decodePermissions(d *jsonscan.Decoder) {
	if d.Peek() != '{' {
		d.Skip()
		return
	}
	raw := d.Raw()
	if d.Err() != nil {
		return
	}
	var canOverride *bool
	_ = scanWith(raw, func(sub *jsonscan.Decoder) {
		attrOnlyKey(sub, "can-override", func() { attrBoolPtr(sub, &canOverride) })
	}) // raw was read whole, so it scans without error
	a.Permissions = policyCheckPermissions{Raw: bytes.Clone(raw), CanOverride: canOverride}
}

func (a *policyCheckAttrs) decodeResult(d *jsonscan.Decoder) {
	if !attrObject(d) {
		return
	}
	r := &a.Result
	for d.More() {
		switch string(d.Key()) {
		case "result":
			attrBool(d, &r.Result)
		case "passed":
			attrInt(d, &r.Passed)
		case "total-failed":
			attrInt(d, &r.TotalFailed)
		case "hard-failed":
			attrInt(d, &r.HardFailed)
		case "soft-failed":
			attrInt(d, &r.SoftFailed)
		case "advisory-failed":
			attrInt(d, &r.AdvisoryFailed)
		case "duration-ms":
			attrInt(d, &r.DurationMS)
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

func decodePolicies(d *jsonscan.Decoder, p *[]PolicyCheckPolicy) { attrList(d, p, decodePolicy) }

func decodePolicy(d *jsonscan.Decoder, pol *PolicyCheckPolicy) {
	if !attrObject(d) {
		return
	}
	for d.More() {
		switch string(d.Key()) {
		case "name":
			attrString(d, &pol.Name)
		case "result":
			attrEnum(d, &pol.Result)
		case "messages":
			attrList(d, &pol.Messages, attrString)
		default:
			d.Skip()
		}
	}
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
