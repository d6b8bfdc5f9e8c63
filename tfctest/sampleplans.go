package tfctest

import (
	"bytes"
	_ "embed" // the sample plans
)

// Sample plans in Terraform's JSON plan format, to give StartRun in tests of run task
// checks without a plan of one's own. Each call returns a fresh copy.
var (
	//go:embed sampleplans/safe.json
	samplePlanSafe []byte
	//go:embed sampleplans/deletes.json
	samplePlanDeletes []byte
)

// SamplePlanSafe returns a plan (format_version 1.2) that creates one resource, updates
// one, leaves one unchanged and reads a data source: nothing is deleted.
func SamplePlanSafe() []byte { return bytes.Clone(samplePlanSafe) }

// SamplePlanDeletes returns a plan that creates one resource, deletes one,
// replaces two (delete-then-create, and create-then-delete in a module) and updates
// one: a plan a deletion guard refuses.
func SamplePlanDeletes() []byte { return bytes.Clone(samplePlanDeletes) }
