package tfctest_test

import (
	"bytes"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc/tfctest"
)

// TestSamplePlans: the exported plans are the repository's plan fixtures, byte for
// byte, decode as Terraform plans, and are fresh copies.
func TestSamplePlans(t *testing.T) {
	for name, get := range map[string]func() []byte{
		"plan_safe.json":    tfctest.SamplePlanSafe,
		"plan_deletes.json": tfctest.SamplePlanDeletes,
	} {
		b := get()
		if !bytes.Equal(b, readPlan(t, name)) {
			t.Errorf("%s: the sample differs from testdata/%s", name, name)
		}
		var plan tfjson.Plan
		if err := plan.UnmarshalJSON(b); err != nil || len(plan.ResourceChanges) == 0 {
			t.Errorf("%s: %v, %d changes", name, err, len(plan.ResourceChanges))
		}
		b[0] = 'x'
		if get()[0] == 'x' {
			t.Errorf("%s: the sample is shared between calls", name)
		}
	}
	deletes := 0
	var plan tfjson.Plan
	if err := plan.UnmarshalJSON(tfctest.SamplePlanDeletes()); err != nil {
		t.Fatal(err)
	}
	for _, rc := range plan.ResourceChanges {
		if rc.Change.Actions.Delete() || rc.Change.Actions.Replace() {
			deletes++
		}
	}
	if deletes != 3 {
		t.Errorf("SamplePlanDeletes deletes %d resources", deletes)
	}
}
