package regocheck

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
)

// conftestResult is one entry of `conftest test --output json`.
type conftestResult struct {
	Namespace  string            `json:"namespace"`
	Successes  int               `json:"successes"`
	Failures   []conftestMessage `json:"failures"`
	Warnings   []conftestMessage `json:"warnings"`
	Exceptions []conftestMessage `json:"exceptions"`
}

type conftestMessage struct {
	Msg      string         `json:"msg"`
	Metadata map[string]any `json:"metadata"`
}

func readPlanFile(t testing.TB, name string) *Plan {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plan, err := ReadPlan(f)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestSameDenialsAsConftest runs the policies of testdata against the plans and
// compares with what conftest itself reported for them (testdata/conftest, made by
// its generate.sh): the same failures and warnings, message for message, the
// metadata of object messages, and the rules an exception turns off.
func TestSameDenialsAsConftest(t *testing.T) {
	tests := []struct {
		golden, policy, plan string
		opts                 []Option
	}{
		{"policy_violations", "policy", "plans/violations.json", nil},
		{"policy_clean", "policy", "plans/clean.json", nil},
		{"policy_plan_deletes", "policy", "../../testdata/plan_deletes.json", nil},
		{"policy_plan_queries", "policy", "../../testdata/plan_queries.json", nil},
		{"policy_v0_violations", "policy_v0", "plans/violations.json", []Option{WithRegoV0()}},
		{"policy_ns_violations", "policy_ns", "plans/violations.json", []Option{WithNamespaces("terraform.aws")}},
		{"policy_exceptions_violations", "policy_exceptions", "plans/violations.json", nil},
		{"readme_violations", "readme", "plans/violations.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			b, err := os.ReadFile("testdata/conftest/" + tt.golden + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var want []conftestResult
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			policies, err := Load("testdata/"+tt.policy, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			findings, err := policies.Evaluate(context.Background(), readPlanFile(t, "testdata/"+tt.plan))
			if err != nil {
				t.Fatal(err)
			}

			var wantFail, wantWarn []string
			wantMeta := map[string]map[string]any{}
			excepted := map[string]bool{}
			for _, r := range want {
				for _, m := range r.Failures {
					wantFail = append(wantFail, m.Msg)
					wantMeta[m.Msg] = m.Metadata
				}
				for _, m := range r.Warnings {
					wantWarn = append(wantWarn, m.Msg)
					wantMeta[m.Msg] = m.Metadata
				}
				for _, m := range r.Exceptions { // data.main.exception[_][_] == "public_bucket"
					_, name, _ := strings.Cut(m.Msg, `== "`)
					excepted[strings.TrimSuffix(name, `"`)] = true
				}
			}
			var gotFail, gotWarn []string
			for _, f := range findings {
				switch f.Severity {
				case tfc.SeverityError:
					gotFail = append(gotFail, f.Message)
				case tfc.SeverityWarning:
					gotWarn = append(gotWarn, f.Message)
				case tfc.SeverityInfo: // a message of an excepted rule
					rule := f.Tags["Rule"][0].Label
					if !excepted[exceptionName(rule)] {
						t.Errorf("%s reported as excepted; conftest excepted %v", rule, excepted)
					}
				}
				if meta, ok := wantMeta[f.Message]; ok {
					checkMetadata(t, f, meta)
				}
			}
			slices.Sort(wantFail)
			slices.Sort(wantWarn)
			slices.Sort(gotFail)
			slices.Sort(gotWarn)
			if !slices.Equal(gotFail, wantFail) {
				t.Errorf("failures:\n%q\nconftest:\n%q", gotFail, wantFail)
			}
			if !slices.Equal(gotWarn, wantWarn) {
				t.Errorf("warnings:\n%q\nconftest:\n%q", gotWarn, wantWarn)
			}

			u, err := policies.Result(context.Background(), readPlanFile(t, "testdata/"+tt.plan))
			if err != nil {
				t.Fatal(err)
			}
			if wantStatus := map[bool]tfc.TaskResultStatus{true: tfc.TaskResultFailed, false: tfc.TaskResultPassed}[len(wantFail) > 0]; u.Status != wantStatus {
				t.Errorf("status %s, want %s: %s", u.Status, wantStatus, u.Message)
			}
			if err := u.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkMetadata: the fields of an object message other than msg (conftest's metadata
// without its own "query") are in the finding's body as JSON, and the query names
// the rule.
func checkMetadata(t *testing.T, f tfc.Finding, meta map[string]any) {
	t.Helper()
	if q, _ := meta["query"].(string); !strings.Contains(f.Body, "`"+q+"`") {
		t.Errorf("%q: body does not name %s:\n%s", f.Message, q, f.Body)
	}
	want := maps.Clone(meta)
	delete(want, "query")
	got := map[string]any{}
	if _, block, ok := strings.Cut(f.Body, "```json\n"); ok {
		block, _, _ = strings.Cut(block, "\n```")
		if err := json.Unmarshal([]byte(block), &got); err != nil {
			t.Fatalf("%q: body JSON: %v", f.Message, err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q: metadata %v, conftest %v", f.Message, got, want)
	}
}
