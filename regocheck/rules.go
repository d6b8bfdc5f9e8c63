package regocheck

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/tfkit/tfc"
)

// conftest's rule names: failures are deny or violation, warnings are warn, each
// optionally followed by _suffix parts.
var (
	failureName = regexp.MustCompile(`^(deny|violation)(_[a-zA-Z0-9]+)*$`)
	warningName = regexp.MustCompile(`^warn(_[a-zA-Z0-9]+)*$`)
)

// rule is one deny, violation or warn rule of a namespace, prepared for evaluation.
type rule struct {
	namespace string
	name      string
	severity  tfc.Severity
	query     string // data.main.deny_public
	// exceptionQuery asks whether the namespace's exception rule names this rule
	// (conftest: data.main.exception[_][_] == "public"); "" without an exception rule.
	exceptionQuery string

	prepared  rego.PreparedEvalQuery
	exception *rego.PreparedEvalQuery
}

// findRules returns the deny, violation and warn rules of the namespaces (every
// namespace when namespaces is nil), in evaluation order, or every problem with them.
// Each namespace named must have such a rule; with namespaces nil, some package must.
// namespaces holds no name twice.
func findRules(modules map[string]*ast.Module, namespaces []string) ([]*rule, error) {
	type found struct {
		path      ast.Ref
		names     map[string]bool
		exception bool
	}
	byNamespace := map[string]*found{}
	var problems []error
	for _, file := range slices.Sorted(maps.Keys(modules)) {
		m := modules[file]
		ns := strings.TrimPrefix(m.Package.Path.String(), "data.")
		if namespaces != nil && !slices.Contains(namespaces, ns) {
			continue
		}
		f := byNamespace[ns]
		if f == nil {
			f = &found{path: m.Package.Path, names: map[string]bool{}}
			byNamespace[ns] = f
		}
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			name, ok := ref[0].Value.(ast.Var)
			if !ok {
				continue
			}
			switch {
			case name == "exception":
				f.exception = true
				continue
			case !failureName.MatchString(string(name)) && !warningName.MatchString(string(name)):
				continue
			}
			if err := collectsMessages(r); err != nil {
				problems = append(problems, err)
				continue
			}
			f.names[string(name)] = true
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("regocheck: %w", errors.Join(problems...))
	}

	order := namespaces
	if order == nil {
		order = slices.Sorted(maps.Keys(byNamespace))
	}
	var rules []*rule
	var empty []string // namespaces named without a rule to evaluate
	for _, ns := range order {
		f := byNamespace[ns]
		if f == nil || len(f.names) == 0 {
			empty = append(empty, ns)
			continue
		}
		names := slices.SortedFunc(maps.Keys(f.names), func(a, b string) int {
			if fa, fb := failureName.MatchString(a), failureName.MatchString(b); fa != fb {
				if fa {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, name := range names {
			r := &rule{namespace: ns, name: name, severity: tfc.SeverityWarning,
				query: f.path.Append(ast.StringTerm(name)).String()}
			if failureName.MatchString(name) {
				r.severity = tfc.SeverityError
			}
			if f.exception {
				r.exceptionQuery = fmt.Sprintf("%s[_][_] == %q", f.path.Append(ast.StringTerm("exception")), exceptionName(name))
			}
			rules = append(rules, r)
		}
	}
	// A namespace named but misspelt, or without rules, would check nothing while the
	// others pass the plan.
	var missing string
	switch {
	case namespaces == nil && len(rules) == 0:
		missing = "any package"
	case namespaces != nil && len(empty) == 1:
		missing = "package " + empty[0]
	case namespaces != nil && len(empty) > 1:
		missing = "packages " + strings.Join(empty, ", ")
	default:
		return rules, nil
	}
	return nil, fmt.Errorf("regocheck: no deny, violation or warn rule in %s (packages found: %s)",
		missing, strings.Join(slices.Sorted(maps.Keys(packagesOf(modules))), ", "))
}

// collectsMessages refuses deny, violation and warn rules that conftest would query
// but that can never report a message: rules with a longer reference (`deny.x
// contains …`, `warn["x"] if …`), boolean rules (`deny if { … }`), and single-value
// rules whose value is written as a scalar (`warn = "always"`, `deny := 3 if …`) or
// an object (`deny := {"msg": …}`, or an object comprehension), which conftest reads
// as passing whatever they hold. Any other single value (a variable, a reference, a
// call, an array or set) may be a collection of messages, as conftest reads it, and
// stays: should it evaluate to something else, Evaluate returns an *EvalError, so the
// delivery fails rather than pass.
func collectsMessages(r *ast.Rule) error {
	ref := r.Head.Ref()
	loc := r.Head.Location
	var why string
	switch {
	case len(ref) > 1:
		why = "has a reference head, so conftest would never report it"
	case r.Head.RuleKind() != ast.SingleValue || r.Head.Value == nil:
		return nil
	case isBoolean(r.Head.Value):
		why = "is a boolean rule, so it can never report a message"
	case neverCollection(r.Head.Value):
		why = "has a single value, not a set of messages, so conftest would read it as passing"
	default:
		return nil
	}
	return fmt.Errorf("%s:%d: rule %s %s: write `%s contains msg if { … }`", loc.File, loc.Row, ref, why, ref[0])
}

func isBoolean(t *ast.Term) bool {
	_, ok := t.Value.(ast.Boolean)
	return ok
}

// neverCollection reports whether a rule's value is written in a form that cannot
// evaluate to an array or a set: a string, number or null, or an object.
func neverCollection(t *ast.Term) bool {
	switch t.Value.(type) {
	case ast.String, ast.Number, ast.Null, ast.Object, *ast.ObjectComprehension:
		return true
	}
	return false
}

// exceptionName is the name an exception rule uses for a rule: its name without the
// deny_, violation_ or warn_ prefix, and "" for deny, violation and warn themselves.
func exceptionName(rule string) string {
	for _, prefix := range []string{"deny", "violation", "warn"} {
		if rule == prefix {
			return ""
		}
		if rest, ok := strings.CutPrefix(rule, prefix+"_"); ok {
			return rest
		}
	}
	return rule
}

// packagesOf returns the packages of modules, as namespaces ("terraform.aws").
func packagesOf(modules map[string]*ast.Module) map[string]bool {
	out := map[string]bool{}
	for _, m := range modules {
		out[strings.TrimPrefix(m.Package.Path.String(), "data.")] = true
	}
	return out
}
