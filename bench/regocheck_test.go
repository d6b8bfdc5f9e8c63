package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/tfkit/tfc/regocheck"
)

// Policy evaluation on 1 MB and 10 MB plans, with the policies of
// regocheck/testdata/policy (six rules over resource_changes and planned_values,
// helpers across files). Each benchmark reports the plan's size as bytes/op for
// MB/s.

const policyDir = "../regocheck/testdata/policy"

var planSizes = []struct {
	name string
	size int
}{{"1MB", 1 << 20}, {"10MB", 10 << 20}}

// eachSize runs bench as a sub-benchmark for each plan size, reporting the plan's
// bytes per operation and the allocations.
func eachSize(b *testing.B, bench func(b *testing.B, data []byte)) {
	for _, s := range planSizes {
		b.Run(s.name, func(b *testing.B) {
			data := syntheticPlan(b, s.size)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			bench(b, data)
		})
	}
}

func loadPolicies(b *testing.B) *regocheck.Policies {
	b.Helper()
	p, err := regocheck.Load(policyDir)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func readPlan(b *testing.B, data []byte) *regocheck.Plan {
	plan, err := regocheck.ReadPlan(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

// BenchmarkRegoCheck is what a delivery costs past the download: decode the plan
// once into OPA's form, evaluate every rule, build the task result.
func BenchmarkRegoCheck(b *testing.B) {
	policies := loadPolicies(b)
	eachSize(b, func(b *testing.B, data []byte) {
		for b.Loop() {
			u, err := policies.Result(context.Background(), readPlan(b, data))
			if err != nil {
				b.Fatal(err)
			}
			if len(u.Outcomes) == 0 {
				b.Fatal("no findings: the synthetic plan should break the policies")
			}
		}
	})
}

// BenchmarkRegoReadPlan is the decoding alone (ast.ValueFromReader: JSON into Go
// values, then into OPA's terms) and the summary.
func BenchmarkRegoReadPlan(b *testing.B) {
	eachSize(b, func(b *testing.B, data []byte) {
		for b.Loop() {
			readPlan(b, data)
		}
	})
}

// BenchmarkRegoEvaluate is the evaluation alone, on a plan decoded beforehand.
func BenchmarkRegoEvaluate(b *testing.B) {
	policies := loadPolicies(b)
	eachSize(b, func(b *testing.B, data []byte) {
		plan := readPlan(b, data)
		for b.Loop() {
			if _, err := policies.Evaluate(context.Background(), plan); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRegoRawInput is the other way to feed OPA, for comparison with
// BenchmarkRegoCheck: the plan unmarshalled into Go values once, and handed to each
// rule's prepared query with rego.EvalInput, which OPA round-trips through JSON and
// converts to its terms again on every evaluation.
func BenchmarkRegoRawInput(b *testing.B) {
	policies := loadPolicies(b)
	var queries []rego.PreparedEvalQuery
	for _, q := range policies.Rules() {
		pq, err := rego.New(rego.Query(q), rego.Load([]string{policyDir}, nil)).PrepareForEval(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		queries = append(queries, pq)
	}
	eachSize(b, func(b *testing.B, data []byte) {
		for b.Loop() {
			var input any
			if err := json.Unmarshal(data, &input); err != nil {
				b.Fatal(err)
			}
			for _, q := range queries {
				if _, err := q.Eval(context.Background(), rego.EvalInput(input)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
