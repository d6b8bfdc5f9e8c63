package regocheck

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/tfkit/tfc"
)

func policyFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

// TestLoadRefuses: a server with a broken policy does not start, and the error says
// which file and line.
func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		opts  []Option
		want  []string
	}{
		{"syntax error", map[string]string{
			"ok.rego":        "package main\nimport rego.v1\ndeny contains \"x\" if false\n",
			"policy/s3.rego": "package main\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := \n}\n"},
			nil, []string{"policy/s3.rego:6:", "rego_parse_error"}},
		{"v0 syntax read as v1", map[string]string{"a.rego": "package main\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n"},
			nil, []string{"a.rego:3:", "rego_parse_error"}},
		{"undefined function", map[string]string{"b.rego": "package main\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := no_such_helper(input)\n}\n"},
			nil, []string{"b.rego:5:", "rego_type_error", "no_such_helper"}},
		{"unsafe variable", map[string]string{"c.rego": "package main\nimport rego.v1\n\nwarn contains msg if {\n\tx > 1\n\tmsg := \"m\"\n}\n"},
			nil, []string{"c.rego:5:", "rego_unsafe_var_error"}},
		{"boolean deny rule", map[string]string{"d.rego": "package main\nimport rego.v1\n\ndeny if {\n\tinput.x\n}\n"},
			nil, []string{"d.rego:4: rule deny is a boolean rule", "deny contains msg if"}},
		{"boolean deny rule in v0", map[string]string{"d.rego": "package main\n\ndeny_x {\n\tinput.x\n}\n"},
			[]Option{WithRegoV0()}, []string{"d.rego:3: rule deny_x is a boolean rule"}},
		{"single-value rules that can never be collections", map[string]string{"s.rego": "package main\nimport rego.v1\n\n" +
			"warn = \"always\"\n" +
			"deny_n := 3 if input.x\n" +
			"deny_null := null\n" +
			"violation_obj := {\"msg\": \"m\"} if input.x\n" +
			"warn_objs := {k: 1 | some k in input.keys}\n"},
			nil, []string{"s.rego:4: rule warn has a single value", "s.rego:5: rule deny_n has a single value",
				"s.rego:6: rule deny_null has a single value", "s.rego:7: rule violation_obj has a single value",
				"s.rego:8: rule warn_objs has a single value", "warn contains msg if"}},
		{"reference head", map[string]string{"e.rego": "package main\nimport rego.v1\n\nwarn[\"x\"] if input.x\nviolation.db contains \"y\" if input.y\n"},
			nil, []string{"e.rego:4: rule warn.x has a reference head", "e.rego:5: rule violation.db has a reference head"}},
		{"no rules in the namespace", map[string]string{"f.rego": "package terraform\nimport rego.v1\n\ndeny contains \"x\" if input.x\n"},
			nil, []string{"no deny, violation or warn rule in package main", "packages found: terraform"}},
		{"a namespace without rules", map[string]string{"f.rego": "package terraform.gcp\nimport rego.v1\n\ndeny contains \"x\" if input.x\n",
			"h.rego": "package util\nimport rego.v1\n\nhelper := 1\n"},
			[]Option{WithNamespaces("terraform.gcp", "terraform.gpc", "util")},
			[]string{"no deny, violation or warn rule in packages terraform.gpc, util", "packages found: terraform.gcp, util"}},
		{"no rules at all", map[string]string{"g.rego": "package main\nimport rego.v1\n\nallow if input.x\n"},
			[]Option{WithAllNamespaces()}, []string{"no deny, violation or warn rule in any package"}},
		{"no files", map[string]string{"README.md": "policies go here"}, nil, []string{"no .rego files"}},
	}
	for _, tt := range tests {
		p, err := LoadFS(policyFS(tt.files), tt.opts...)
		if err == nil {
			t.Errorf("%s: loaded %v", tt.name, p.Rules())
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", tt.name, want, err)
			}
		}
	}

	if _, err := Load("testdata/no-such-dir"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := Load("testdata/plans/clean.json"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file for a directory: %v", err)
	}
}

// TestLoadNamesFilesByDirectory: errors of Load name files by their path from the
// working directory, so they can be opened as printed.
func TestLoadNamesFilesByDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "aws"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "aws", "bad.rego"), []byte("package main\nimport rego.v1\ndeny contains x if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.ToSlash(filepath.Join(dir, "aws", "bad.rego"))+":") {
		t.Errorf("error does not name the file from the working directory: %v", err)
	}
}

func TestLoadOptions(t *testing.T) {
	files := map[string]string{
		"main.rego": "package main\nimport rego.v1\n\nwarn contains msg if {\n\tsome rc in input.resource_changes\n\tnot rc.change.after.region in data.allowed_regions\n\tmsg := sprintf(\"%s is outside the allowed regions\", [rc.address])\n}\n",
		"aws.rego":  "package terraform.aws\nimport rego.v1\n\nviolation_db contains \"aws\" if true\n",
		"gcp.rego":  "package terraform.gcp\nimport rego.v1\n\ndeny contains \"gcp\" if true\n",
		"v1.rego":   "package util\nimport rego.v1\n\nhelper := 1\n",
	}
	plan, err := ReadPlan(strings.NewReader(`{"resource_changes":[
		{"address":"a.eu","change":{"actions":["create"],"after":{"region":"eu-west-1"}}},
		{"address":"a.us","change":{"actions":["create"],"after":{"region":"us-east-1"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	messages := func(opts ...Option) []string {
		t.Helper()
		p, err := LoadFS(policyFS(files), opts...)
		if err != nil {
			t.Fatal(err)
		}
		findings, err := p.Evaluate(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range findings {
			out = append(out, f.ID+": "+f.Message)
		}
		return out
	}
	data := WithData(map[string]any{"allowed_regions": []any{"eu-west-1"}})
	if got := messages(data); !slices.Equal(got, []string{"main.warn: a.us is outside the allowed regions"}) {
		t.Errorf("with data: %q", got)
	}
	if _, err := LoadFS(policyFS(files), WithData(map[string]any{"hook": func() {}})); err == nil || !strings.Contains(err.Error(), "WithData") {
		t.Errorf("data that is not JSON: %v", err)
	}
	if got := messages(WithNamespaces("terraform.gcp", "terraform.aws")); !slices.Equal(got, []string{"terraform.gcp.deny: gcp", "terraform.aws.violation_db: aws"}) {
		t.Errorf("namespaces in the order given: %q", got)
	}
	if got := messages(WithNamespaces("terraform.gcp", "terraform.gcp"), WithNamespaces("terraform.gcp")); !slices.Equal(got, []string{"terraform.gcp.deny: gcp"}) {
		t.Errorf("a namespace named twice: %q", got)
	}
	if got := messages(WithAllNamespaces(), data); !slices.Equal(got, []string{"main.warn: a.us is outside the allowed regions", "terraform.aws.violation_db: aws", "terraform.gcp.deny: gcp"}) {
		t.Errorf("all namespaces: %q", got)
	}
	// A v1 file that says so loads among v0 files.
	p, err := LoadFS(policyFS(map[string]string{
		"old.rego": "package main\n\ndeny[msg] { msg := \"old\" }\n",
		"new.rego": "package main\nimport rego.v1\n\nwarn contains \"new\" if true\n",
	}), WithRegoV0())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rules(); !slices.Equal(got, []string{"data.main.deny", "data.main.warn"}) {
		t.Errorf("rules %q", got)
	}
	// A single value written as an array is a collection of messages, as conftest
	// reads it.
	files = map[string]string{"list.rego": "package main\nimport rego.v1\n\ndeny := [m | some rc in input.resource_changes; m := rc.address]\n"}
	if got := messages(); !slices.Equal(got, []string{"main.deny: a.eu", "main.deny: a.us"}) {
		t.Errorf("array deny rule: %q", got)
	}
	// So is any value that evaluates to one: a variable, a call, a reference.
	files = map[string]string{"values.rego": `package main
import rego.v1

addresses contains rc.address if some rc in input.resource_changes

deny := msgs if {
	msgs := {m | some a in addresses; m := concat(" ", [a, "is new"])}
}

violation := union({{"a.eu is in the EU"}, {m | m := "a.us is in the US"; "a.us" in addresses}})

warn_addresses := addresses
`}
	want := []string{"main.deny: a.eu is new", "main.deny: a.us is new", "main.violation: a.eu is in the EU",
		"main.violation: a.us is in the US", "main.warn_addresses: a.eu", "main.warn_addresses: a.us"}
	if got := messages(); !slices.Equal(got, want) {
		t.Errorf("rules whose value is a set:\n%q\nwant\n%q", got, want)
	}
}

// TestEvaluationErrors: a rule that cannot be evaluated is an *EvalError naming the
// query, OPA's code and the policy line, never the plan's values.
func TestEvaluationErrors(t *testing.T) {
	const secret = "hunter2-in-the-plan"
	plan, err := ReadPlan(strings.NewReader(`{"resource_changes":[
		{"address":"a.one","type":"a","change":{"actions":["create"],"after":{"password":"` + secret + `"}}},
		{"address":"a.two","type":"b","change":{"actions":["create"],"after":{"password":"other"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const builtinError = "package main\nimport rego.v1\n\ndeny contains msg if {\n\tsome rc in input.resource_changes\n\tn := to_number(rc.change.after.password)\n\tmsg := sprintf(\"%v\", [n])\n}\n"
	const typeError = "package main\nimport rego.v1\n\nwarn contains msg if {\n\tsome rc in input.resource_changes\n\tabs(rc.change.after.password) > 1\n\tmsg := \"big\"\n}\n"
	tests := []struct {
		name, src string
		opts      []Option
		want      []string
	}{
		{"conflicting complete rule", "package main\nimport rego.v1\n\npassword := rc.change.after.password if {\n\tsome rc in input.resource_changes\n}\n\ndeny contains msg if {\n\tcount(password) > 100\n\tmsg := \"long\"\n}\n",
			nil, []string{"evaluating data.main.deny", "eval_conflict_error at policy.rego:4"}},
		// By default builtin errors make the expression undefined, as in conftest: no
		// finding, no error.
		{"builtin error", builtinError, nil, nil},
		{"type error", typeError, nil, nil},
		{"strict builtin error", builtinError, []Option{WithStrictBuiltinErrors()},
			[]string{"evaluating data.main.deny", "eval_builtin_error at policy.rego:6"}},
		{"strict type error", typeError, []Option{WithStrictBuiltinErrors()},
			[]string{"evaluating data.main.warn", "eval_type_error at policy.rego:6"}},
		{"single value that is a string", "package main\nimport rego.v1\n\ndeny := msg if {\n\tsome rc in input.resource_changes\n\trc.address == \"a.one\"\n\tmsg := rc.change.after.password\n}\n",
			nil, []string{"evaluating data.main.deny", "its value is a string, not a set of messages", "regocheck_result_error"}},
		{"object without msg", "package main\nimport rego.v1\n\nviolation contains {\"message\": rc.change.after.password} if {\n\tsome rc in input.resource_changes\n}\n",
			nil, []string{"evaluating data.main.violation", `a message object has no "msg" string`, "regocheck_result_error"}},
	}
	for _, tt := range tests {
		p, err := LoadFS(policyFS(map[string]string{"policy.rego": tt.src}), tt.opts...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		findings, err := p.Evaluate(context.Background(), plan)
		if tt.want == nil {
			if err != nil || len(findings) > 0 {
				t.Errorf("%s: %v, %d findings", tt.name, err, len(findings))
			}
			continue
		}
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %T %v, want an *EvalError", tt.name, err, err)
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q: %v", tt.name, want, err)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error quotes the plan: %v", tt.name, err)
		}
	}

	// OPA's own error stays reachable for programs that want it.
	p, err := LoadFS(policyFS(map[string]string{"policy.rego": tests[0].src}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Evaluate(context.Background(), plan)
	var te *topdown.Error
	if !errors.As(err, &te) || te.Code != topdown.ConflictErr {
		t.Errorf("OPA's error not reachable: %v", err)
	}

	// A cancelled context stops evaluation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err = Load("testdata/policy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Evaluate(ctx, readPlanFile(t, "testdata/plans/violations.json")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := p.Evaluate(context.Background(), nil); err == nil {
		t.Error("nil plan evaluated")
	}
}

func TestReadPlan(t *testing.T) {
	for _, bad := range []string{"", "[1,2]", `"plan"`, "{", `{"a":}`} {
		if _, err := ReadPlan(strings.NewReader(bad)); err == nil {
			t.Errorf("%q read as a plan", bad)
		}
	}
	b, err := os.ReadFile("../testdata/plan_queries.json")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ReadPlan(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// The summary is the core package's, read from the decoded input.
	if got, want := plan.Summary(), (tfc.PlanSummary{Import: 2, Add: 6, Change: 2, Destroy: 4}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	plan, err = ReadPlan(strings.NewReader(`{"resource_changes":[null,{"change":null},{"change":{"actions":"x"}},{"mode":"managed","change":{"actions":["create"],"importing":null}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Summary(); got != (tfc.PlanSummary{Add: 1}) {
		t.Errorf("odd resource changes: %+v", got)
	}
}

// TestConcurrentEvaluation: one Policies judges many plans at once (run with -race).
func TestConcurrentEvaluation(t *testing.T) {
	p := loadPolicies(t, "testdata/policy")
	plans := []*Plan{readPlanFile(t, "testdata/plans/violations.json"), readPlanFile(t, "testdata/plans/clean.json")}
	want := make([]int, len(plans))
	for i, plan := range plans {
		f, err := p.Evaluate(context.Background(), plan)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = len(f)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for range 10 {
				i := g % len(plans)
				f, err := p.Evaluate(context.Background(), plans[i])
				if err != nil {
					errs <- err
					return
				}
				if len(f) != want[i] {
					errs <- errors.New("a different number of findings under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
