package regocheck_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tfkit/tfc/regocheck"
)

// readPlan decodes a plan written by `terraform show -json`.
func readPlan(name string) *regocheck.Plan {
	f, err := os.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	plan, err := regocheck.ReadPlan(f)
	if err != nil {
		log.Fatal(err)
	}
	return plan
}

// Judge a plan written by `terraform show -json` with a directory of conftest
// policies, outside any run task: the same result Check reports to HCP Terraform.
func ExampleLoad() {
	policies, err := regocheck.Load("testdata/readme")
	if err != nil {
		log.Fatal(err) // a policy that does not compile: file, line and reason
	}
	plan := readPlan("testdata/plans/violations.json")
	result, err := policies.Result(context.Background(), plan)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Status)
	fmt.Println(result.Message)
	// Output:
	// failed
	// 2 errors, 1 warning: aws_db_instance.main would be destroyed; module.web.aws_instance.app[0] uses m5.4xlarge; module.web.aws_instance.app[0] has no owner tag. Plan: 5 to add, 1 to change, 2 to destroy.
}

func ExamplePolicies_Evaluate() {
	policies, err := regocheck.Load("testdata/policy_v0", regocheck.WithRegoV0())
	if err != nil {
		log.Fatal(err)
	}
	plan := readPlan("testdata/plans/violations.json")
	findings, err := policies.Evaluate(context.Background(), plan)
	if err != nil {
		log.Fatal(err)
	}
	for _, finding := range findings {
		fmt.Printf("%s %s: %s\n", finding.Severity, finding.ID, finding.Message)
	}
	// Output:
	// error main.deny: aws_db_instance.main would be destroyed
	// error main.violation: module.web.aws_instance.app[0] has no owner tag
	// warning main.warn_replaced: aws_iam_role.ci is replaced
}
