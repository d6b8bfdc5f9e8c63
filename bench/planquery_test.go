package bench

import (
	"encoding/json"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

// Plan queries against the loop a check author writes by hand, on a 10 MB plan
// decoded beforehand (as Delivery.Plan returns it): public bucket ACLs created or
// updated, and the plan's summary line.
//
// Each loop body is one call of a named function: the first version of these
// benchmarks, with the queries and checks written inline in the b.Loop bodies, made
// Go 1.26.8's compiler fail with an internal error in escape analysis.

func decodedPlan(b *testing.B) *tfjson.Plan {
	b.Helper()
	var plan tfjson.Plan
	if err := json.Unmarshal(syntheticPlan(b, 10<<20), &plan); err != nil {
		b.Fatal(err)
	}
	return &plan
}

func publicACLsQuery(plan *tfjson.Plan) int {
	return tfc.Changes(plan).Type("aws_s3_bucket_acl").Action(tfc.ActionCreate, tfc.ActionUpdate).
		Where(func(c tfc.Change) bool {
			acl, _ := c.After("acl").AsString()
			return acl == "public-read"
		}).Count()
}

func publicACLsHand(plan *tfjson.Plan) int {
	n := 0
	for _, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Type != "aws_s3_bucket_acl" {
			continue
		}
		if !rc.Change.Actions.Create() && !rc.Change.Actions.Update() {
			continue
		}
		if after, ok := rc.Change.After.(map[string]any); ok && after["acl"] == "public-read" {
			n++
		}
	}
	return n
}

func summaryQuery(plan *tfjson.Plan) tfc.PlanSummary { return tfc.Changes(plan).Summary() }

// summaryHand is the usual hand count; it misses what Terraform also counts
// (imports, create-then-forget) and skips (deleted data sources).
func summaryHand(plan *tfjson.Plan) tfc.PlanSummary {
	var s tfc.PlanSummary
	for _, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode != tfjson.ManagedResourceMode {
			continue
		}
		a := rc.Change.Actions
		switch {
		case a.Replace():
			s.Add++
			s.Destroy++
		case a.Create():
			s.Add++
		case a.Update():
			s.Change++
		case a.Delete():
			s.Destroy++
		}
	}
	return s
}

func BenchmarkPlanQuery(b *testing.B) {
	plan := decodedPlan(b)
	if q, h := publicACLsQuery(plan), publicACLsHand(plan); q != h || q == 0 {
		b.Fatalf("public ACLs: query %d, hand %d", q, h)
	}
	for _, bm := range []struct {
		name  string
		count func(*tfjson.Plan) int
	}{{"tfc", publicACLsQuery}, {"hand", publicACLsHand}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = bm.count(plan)
			}
			_ = n
		})
	}
}

func BenchmarkPlanSummary(b *testing.B) {
	plan := decodedPlan(b)
	if q, h := summaryQuery(plan), summaryHand(plan); q != h || q.Add == 0 {
		b.Fatalf("summary: query %+v, hand %+v", q, h)
	}
	for _, bm := range []struct {
		name string
		sum  func(*tfjson.Plan) tfc.PlanSummary
	}{{"tfc", summaryQuery}, {"hand", summaryHand}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			var s tfc.PlanSummary
			for b.Loop() {
				s = bm.sum(plan)
			}
			_ = s
		})
	}
}

// BenchmarkPlanDecode is what Delivery.Plan spends decoding the same 10 MB plan with
// terraform-json, for scale: the queries above cost a small fraction of it.
func BenchmarkPlanDecode(b *testing.B) {
	data := syntheticPlan(b, 10<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		decode(b, data)
	}
}

func decode(b *testing.B, data []byte) {
	var plan tfjson.Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		b.Fatal(err)
	}
}
