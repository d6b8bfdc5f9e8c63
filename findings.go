package tfc

import (
	"fmt"
	"slices"
	"strings"
)

// Severity is how much a finding matters. A finding of SeverityError fails the run
// task; warnings and notices do not. The zero value, and any value not listed here,
// counts as SeverityError, so that a finding fails the run unless it says otherwise.
type Severity string

// Severities, named as the tag levels the run page colours them with.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// rank orders severities for listing, errors first.
func (s Severity) rank() int {
	switch s {
	case SeverityWarning:
		return 1
	case SeverityInfo:
		return 2
	}
	return 0
}

// Finding is one thing a check found: one outcome on the run page.
type Finding struct {
	// ID names the finding in the integration: a rule, a control or a resource
	// address. It need not be unique. An ID too long for the service is shortened
	// (see TaskResultUpdate.Sendable).
	ID string
	// Severity decides whether the finding fails the run (see Severity).
	Severity Severity
	// Message is the one-line description, and what the task result's message quotes.
	Message string
	// Body is optional Markdown detail.
	Body string
	// URL optionally links to more about the finding.
	URL string
	// Tags are shown under headers on the run page. A "Severity" header is added
	// from Severity unless Tags has one.
	Tags map[string][]Tag
}

// Report makes a task result out of a check's findings.
//
//	report := tfc.Report{Findings: findings, Summary: &summary}
//	return report.Result(), nil
type Report struct {
	// Findings, in the order the check found them. Outcomes list errors first, then
	// warnings, then notices, each in this order.
	Findings []Finding
	// Summary, when set, ends the built message ("Plan: 1 to add, …").
	Summary *PlanSummary
	// Message, when set, replaces the built message.
	Message string
	// URL links the task result to details.
	URL string
}

// maxNamed is how many findings the built message names.
const maxNamed = 3

// maxNameLength bounds each finding named in the message, so that the counts and
// the plan summary always fit in MaxMessageLength.
const maxNameLength = 150

// Result returns the task result: failed when any finding has SeverityError, passed
// otherwise; one outcome per finding, with a Severity tag; and a message that counts
// the findings by severity, names the first few and ends with the plan summary:
//
//	2 errors, 1 warning: aws_s3_bucket.logs is public; aws_db_instance.main would be deleted; and 1 more. Plan: 3 to add, 1 to change, 3 to destroy.
//
// The result is made sendable with TaskResultUpdate.Sendable: past MaxOutcomes, the
// message says how many findings are not listed, and nothing is dropped silently.
// Outcomes are sent only when the service accepts them (CallbackTarget.Outcomes).
func (r Report) Result() TaskResultUpdate {
	ordered := slices.Clone(r.Findings)
	slices.SortStableFunc(ordered, func(a, b Finding) int { return a.Severity.rank() - b.Severity.rank() })

	u := TaskResultUpdate{Status: TaskResultPassed, Message: r.Message, URL: r.URL}
	if len(ordered) > 0 {
		u.Outcomes = make([]Outcome, len(ordered))
	}
	for i, f := range ordered {
		if f.Severity.rank() == 0 {
			u.Status = TaskResultFailed
		}
		u.Outcomes[i] = f.outcome()
	}
	if u.Message == "" {
		u.Message = r.message(ordered)
	}
	return u.Sendable()
}

// outcome is f as an outcome, with a Severity tag unless f has one.
func (f Finding) outcome() Outcome {
	o := Outcome{ID: f.ID, Description: f.Message, Body: f.Body, URL: f.URL, Tags: f.Tags}
	if _, ok := f.Tags["Severity"]; !ok {
		o.Tags = make(map[string][]Tag, len(f.Tags)+1)
		for h, tags := range f.Tags {
			o.Tags[h] = tags
		}
		o.Tags["Severity"] = []Tag{f.Severity.tag()}
	}
	return o
}

// tag is the Severity tag of a finding of severity s.
func (s Severity) tag() Tag {
	switch s.rank() {
	case 1:
		return Tag{Label: "Warning", Level: TagWarning}
	case 2:
		return Tag{Label: "Info", Level: TagInfo}
	}
	return Tag{Label: "Error", Level: TagError}
}

// message builds the result's message from findings in listing order.
func (r Report) message(ordered []Finding) string {
	var b strings.Builder
	if len(ordered) == 0 {
		b.WriteString("No findings.")
	} else {
		var counts [3]int
		for _, f := range ordered {
			counts[f.Severity.rank()]++
		}
		var parts []string
		for rank, noun := range [3][2]string{{"error", "errors"}, {"warning", "warnings"}, {"notice", "notices"}} {
			switch n := counts[rank]; n {
			case 0:
			case 1:
				parts = append(parts, "1 "+noun[0])
			default:
				parts = append(parts, fmt.Sprintf("%d %s", n, noun[1]))
			}
		}
		b.WriteString(strings.Join(parts, ", "))
		b.WriteString(": ")
		for i, f := range ordered[:min(len(ordered), maxNamed)] {
			if i > 0 {
				b.WriteString("; ")
			}
			name := f.Message
			if name == "" {
				name = f.ID
			}
			b.WriteString(truncate(strings.TrimRight(strings.Join(strings.Fields(name), " "), "."), maxNameLength))
		}
		if more := len(ordered) - maxNamed; more > 0 {
			fmt.Fprintf(&b, "; and %d more", more)
		}
		b.WriteByte('.')
	}
	if r.Summary != nil {
		b.WriteByte(' ')
		b.WriteString(r.Summary.String())
	}
	return b.String()
}
