package largeplans

import (
	"os"
	"slices"
	"testing"
)

// TestDeletions: the streaming reader finds what the deletion guard finds in the same
// plan.
func TestDeletions(t *testing.T) {
	f, err := os.Open("../../testdata/plan_deletes.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := deletions(f)
	want := []string{"aws_db_instance.main", "aws_instance.web", "module.net.aws_subnet.private[0]"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("deletions = %v, %v; want %v", got, err, want)
	}
	_ = check // compiled as the README shows it
}
