package regocheck

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
)

// TestReadmeSection keeps the README's regocheck section true: its policy file is
// testdata/readme/policy.rego, and the outcome it shows is what that policy gives for
// testdata/plans/violations.json. (Its Go block is readme_examples/policies, which
// this module's build compiles; the root README test checks that the two match.)
func TestReadmeSection(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := os.ReadFile("testdata/readme/policy.rego")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "```rego\n")
	if !ok {
		t.Fatal("README has no rego block")
	}
	block, section, _ := strings.Cut(section, "```\n")
	if block != string(policy) {
		t.Errorf("README's rego block is not testdata/readme/policy.rego:\n%s", block)
	}
	_, section, ok = strings.Cut(section, "```text\n")
	if !ok {
		t.Fatal("README has no text block after the rego block")
	}
	shown, _, _ := strings.Cut(section, "```\n")

	p, err := Load("testdata/readme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.Result(context.Background(), readPlanFile(t, "testdata/plans/violations.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := renderResult(u); shown != got {
		t.Errorf("README shows\n%s\nthe policy gives\n%s", shown, got)
	}
}

// renderResult prints a task result as the README shows it.
func renderResult(u tfc.TaskResultUpdate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status:  %s\nmessage: %s\noutcomes:\n", u.Status, u.Message)
	for _, o := range u.Outcomes {
		fmt.Fprintf(&b, "  %-8s %-15s %s\n", o.Tags["Severity"][0].Label, o.ID, o.Description)
	}
	return b.String()
}
