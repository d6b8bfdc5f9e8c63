package regocheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/tfkit/tfc"
)

// Evaluate judges plan with every rule and returns one finding per message, in rule
// order: deny and violation messages with tfc.SeverityError, warn messages with
// tfc.SeverityWarning, and the messages of a rule that the namespace's exception rule
// names with tfc.SeverityInfo (they do not fail the run, and are not hidden either).
// An empty message counts as none, as in conftest.
//
// A finding's ID is the rule ("main.deny_public_bucket"), its Message the policy's
// message, its Body names the rule and shows, as JSON, the fields of an object
// message other than msg; its "Rule" tag holds the rule's name.
//
// An error is ctx's error once ctx ends, or an *EvalError: a rule that failed to
// evaluate (a conflict between complete rules, …; with WithStrictBuiltinErrors, also
// an error in a built-in function), a message object without a string msg, or a rule
// whose value is not a set of messages.
func (p *Policies) Evaluate(ctx context.Context, plan *Plan) ([]tfc.Finding, error) {
	if plan == nil {
		return nil, errors.New("regocheck: Evaluate: nil plan")
	}
	var findings []tfc.Finding
	for _, r := range p.rules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		found, err := r.evaluate(ctx, plan)
		if err != nil {
			return nil, err
		}
		findings = append(findings, found...)
	}
	return findings, nil
}

// evaluate runs one rule, and its exception query first.
func (r *rule) evaluate(ctx context.Context, plan *Plan) ([]tfc.Finding, error) {
	input := rego.EvalParsedInput(plan.input)
	severity := r.severity
	if r.exception != nil {
		rs, err := r.exception.Eval(ctx, input)
		if err != nil {
			return nil, newEvalError(r.exceptionQuery, err)
		}
		if len(rs) > 0 {
			severity = tfc.SeverityInfo
		}
	}
	rs, err := r.prepared.Eval(ctx, input)
	if err != nil {
		return nil, newEvalError(r.query, err)
	}
	var out []tfc.Finding
	for _, result := range rs {
		for _, expr := range result.Expressions {
			// Load refuses only the values written as scalars or objects; a variable,
			// a reference or a call may yield anything, and a value that is not a
			// collection fails the delivery rather than pass unread.
			messages, ok := expr.Value.([]any)
			if !ok {
				return nil, &EvalError{Query: r.query, Code: "regocheck_result_error",
					reason: fmt.Sprintf("its value is %s, not a set of messages", kind(expr.Value))}
			}
			for _, m := range messages {
				f, ok, err := r.finding(m, severity)
				if err != nil {
					return nil, err
				}
				if ok {
					out = append(out, f)
				}
			}
		}
	}
	return out, nil
}

// finding reads one message as conftest does: a string, or an object with a string
// msg (its other fields are metadata); an empty message, or a value of another type,
// is no finding.
func (r *rule) finding(message any, severity tfc.Severity) (tfc.Finding, bool, error) {
	var msg string
	var metadata map[string]any
	switch m := message.(type) {
	case string:
		msg = m
	case map[string]any:
		s, ok := m["msg"].(string)
		if !ok {
			return tfc.Finding{}, false, &EvalError{Query: r.query, Code: "regocheck_result_error",
				reason: `a message object has no "msg" string`}
		}
		msg, metadata = s, maps.Clone(m)
		delete(metadata, "msg")
	}
	if msg == "" {
		return tfc.Finding{}, false, nil
	}
	f := tfc.Finding{
		ID:       r.namespace + "." + r.name,
		Severity: severity,
		Message:  msg,
		Body:     r.body(metadata, severity == tfc.SeverityInfo && r.severity != tfc.SeverityInfo),
		Tags:     map[string][]tfc.Tag{"Rule": {{Label: r.name}}},
	}
	return f, true, nil
}

// body is a finding's Markdown detail: the rule, whether an exception covers it, and
// the message's metadata as JSON.
func (r *rule) body(metadata map[string]any, excepted bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reported by `%s`.", r.query)
	if excepted {
		fmt.Fprintf(&b, " An exception in package %s covers this rule, so it does not fail the run.", r.namespace)
	}
	if len(metadata) > 0 {
		if js, err := json.MarshalIndent(metadata, "", "  "); err == nil {
			b.WriteString("\n\n```json\n")
			b.Write(js)
			b.WriteString("\n```")
		}
	}
	return b.String()
}

// kind names the JSON type of a rule's value.
func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

// EvalError is an error evaluating a policy rule. Its message names the query, OPA's
// error code and the policy location only: OPA's own message may quote values of the
// plan, so it is kept behind Unwrap (errors.As with *topdown.Error reaches it).
type EvalError struct {
	// Query is the rule's query, "data.main.deny".
	Query string
	// Code is OPA's error code ("eval_conflict_error", "eval_cancel_error", and with
	// WithStrictBuiltinErrors "eval_builtin_error" or "eval_type_error", …), or
	// "regocheck_result_error" for a value that is not a set of messages.
	Code string
	// Location is the policy file and line where evaluation failed, if known.
	Location string

	reason string // what regocheck found wrong with a result
	err    error
}

func newEvalError(query string, err error) *EvalError {
	e := &EvalError{Query: query, err: err}
	var te *topdown.Error
	if errors.As(err, &te) {
		e.Code = te.Code
		if te.Location != nil {
			e.Location = fmt.Sprintf("%s:%d", te.Location.File, te.Location.Row)
		}
	}
	return e
}

// Error describes the failure without the plan's values.
func (e *EvalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "regocheck: evaluating %s", e.Query)
	if e.reason != "" {
		b.WriteString(": " + e.reason)
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Location != "" {
		b.WriteString(" at " + e.Location)
	}
	return b.String()
}

// Unwrap returns OPA's error, whose message may quote the plan: do not log it.
func (e *EvalError) Unwrap() error { return e.err }
