package deletionguard

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

func loadPlan(t *testing.T, name string) *tfjson.Plan {
	t.Helper()
	b, err := os.ReadFile("../../../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var p tfjson.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestSafePlanPasses(t *testing.T) {
	s := Analyze(loadPlan(t, "plan_safe.json"))
	if s.Add != 1 || s.Change != 1 || s.Destroy != 0 || len(s.Deletions) != 0 {
		t.Fatalf("summary %+v", s)
	}
	u := Result(s, true)
	if u.Status != tfc.TaskResultPassed || u.Message != "Plan: 1 to add, 1 to change, 0 to destroy. Nothing is deleted." || len(u.Outcomes) != 0 {
		t.Errorf("result %+v", u)
	}
}

func TestDeletingPlanFails(t *testing.T) {
	s := Analyze(loadPlan(t, "plan_deletes.json"))
	if s.Add != 3 || s.Change != 1 || s.Destroy != 3 || len(s.Deletions) != 3 {
		t.Fatalf("summary %+v", s)
	}
	u := Result(s, true)
	want := "3 resources would be deleted: aws_db_instance.main, aws_instance.web (replaced), module.net.aws_subnet.private[0] (replaced). Plan: 3 to add, 1 to change, 3 to destroy."
	if u.Status != tfc.TaskResultFailed || u.Message != want {
		t.Errorf("message %q", u.Message)
	}
	if len(u.Outcomes) != 3 || u.Outcomes[0].ID != "aws_db_instance.main" || u.Outcomes[1].Tags["Action"][0].Label != "Replace" {
		t.Errorf("outcomes %+v", u.Outcomes)
	}
	if u := Result(s, false); len(u.Outcomes) != 0 {
		t.Error("outcomes without the capability")
	}
}

// TestLongListKeepsTheSummary: past the service's message limit the list of
// addresses ends in "and N more", and the plan summary after it survives.
func TestLongListKeepsTheSummary(t *testing.T) {
	s := Summary{PlanSummary: tfc.PlanSummary{Destroy: 120}}
	for i := range 120 {
		s.Deletions = append(s.Deletions, Deletion{Address: fmt.Sprintf("module.storage.aws_s3_bucket.logs[%d]", i)})
	}
	u := Result(s, false)
	if n := utf8.RuneCountInString(u.Message); n > tfc.MaxMessageLength {
		t.Errorf("message of %d characters", n)
	}
	if !strings.HasPrefix(u.Message, "120 resources would be deleted: module.storage.aws_s3_bucket.logs[0], ") ||
		!regexp.MustCompile(`logs\[\d+\], and \d+ more\. Plan: 0 to add, 0 to change, 120 to destroy\.$`).MatchString(u.Message) {
		t.Errorf("message %q", u.Message)
	}
	if got := listWithin([]string{strings.Repeat("x", 50)}, 20); !strings.Contains(got, "too long") {
		t.Errorf("one address longer than the room: %q", got)
	}
}

func TestOutcomesStayWithinLimits(t *testing.T) {
	var s Summary
	for i := range 400 {
		s.Deletions = append(s.Deletions, Deletion{Address: "module.very_long_module_name_for_testing.aws_instance.web[" + strings.Repeat("9", 40) + string(rune('a'+i%26)) + "]"})
	}
	u := Result(s, true)
	if len(u.Outcomes) != tfc.MaxOutcomes || u.Outcomes[tfc.MaxOutcomes-1].ID != "DELETIONS-MORE" {
		t.Errorf("%d outcomes, last %q", len(u.Outcomes), u.Outcomes[len(u.Outcomes)-1].ID)
	}
	for _, o := range u.Outcomes {
		if len(o.ID) > tfc.MaxOutcomeIDLength {
			t.Fatalf("outcome ID of %d characters", len(o.ID))
		}
	}

	// Addresses may hold any character in an index key: the ID is cut by characters.
	wide := `aws_s3_bucket.b["` + strings.Repeat("é", 70) + `"]`
	u = Result(Summary{Deletions: []Deletion{{Address: wide}}}, true)
	if id := u.Outcomes[0].ID; !utf8.ValidString(id) || utf8.RuneCountInString(id) != tfc.MaxOutcomeIDLength {
		t.Errorf("ID %q: %d characters, valid UTF-8 %v", id, utf8.RuneCountInString(id), utf8.ValidString(id))
	}
}
