package tfc_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

// examplePlan reads a plan as Delivery.Plan returns it.
func examplePlan(name string) *tfjson.Plan {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		log.Fatal(err)
	}
	var plan tfjson.Plan
	if err := json.Unmarshal(b, &plan); err != nil {
		log.Fatal(err)
	}
	return &plan
}

func ExampleChanges() {
	plan := examplePlan("plan_queries.json")

	// Every managed resource the plan destroys, replacements included.
	for c := range tfc.Changes(plan).Managed().Where(tfc.Change.Deletes) {
		fmt.Println(c.Action, c.Address)
	}
	// Buckets created or updated in the root module.
	buckets := tfc.Changes(plan).Module("").Type("aws_s3_bucket").Action(tfc.ActionCreate, tfc.ActionUpdate)
	fmt.Println(buckets.Addresses())
	fmt.Println(tfc.Changes(plan).Summary())
	// Output:
	// replace aws_instance.web[0]
	// replace aws_instance.web[1]
	// delete module.app["eu"].aws_s3_bucket.assets
	// delete module.net.aws_subnet.private[2]
	// [aws_s3_bucket.logs]
	// Plan: 2 to import, 6 to add, 2 to change, 4 to destroy.
}

func ExampleChange_After() {
	plan := examplePlan("plan_queries.json")
	for c := range tfc.Changes(plan).Type("aws_db_instance", "aws_s3_bucket").Action(tfc.ActionCreate, tfc.ActionUpdate) {
		if acl, _ := c.After("acl").AsString(); acl == "public-read" {
			fmt.Println(c.Address, "is public; its ARN is", c.After("arn"))
		}
		if class := c.After("instance_class"); class.Known() {
			fmt.Println(c.Address, "runs on", class, "with password", c.After("password"))
		}
	}
	// Output:
	// aws_s3_bucket.logs is public; its ARN is (known after apply)
	// aws_db_instance.main runs on db.r6g.large with password (sensitive value)
	// module.app["eu"].module.db.aws_db_instance.replica["read-1"] runs on db.t3.micro with password (sensitive value)
}

func ExampleReport_Result() {
	plan := examplePlan("plan_queries.json")
	var findings []tfc.Finding
	for c := range tfc.Changes(plan).Type("aws_s3_bucket").Action(tfc.ActionCreate, tfc.ActionUpdate) {
		if acl, _ := c.After("acl").AsString(); acl == "public-read" {
			findings = append(findings, tfc.Finding{ID: c.Address, Message: c.Address + " would be public."})
		}
	}
	for c := range tfc.Changes(plan).Managed().Where(tfc.Change.Deletes) {
		findings = append(findings, tfc.Finding{ID: c.Address, Severity: tfc.SeverityWarning, Message: c.Address + " would be destroyed."})
	}
	summary := tfc.Changes(plan).Summary()
	result := tfc.Report{Findings: findings, Summary: &summary}.Result()

	fmt.Println(result.Status)
	fmt.Println(result.Message)
	for _, o := range result.Outcomes {
		fmt.Printf("%s [%s] %s\n", o.Tags["Severity"][0].Label, o.ID, o.Description)
	}
	// Output:
	// failed
	// 1 error, 4 warnings: aws_s3_bucket.logs would be public; aws_instance.web[0] would be destroyed; aws_instance.web[1] would be destroyed; and 2 more. Plan: 2 to import, 6 to add, 2 to change, 4 to destroy.
	// Error [aws_s3_bucket.logs] aws_s3_bucket.logs would be public.
	// Warning [aws_instance.web[0]] aws_instance.web[0] would be destroyed.
	// Warning [aws_instance.web[1]] aws_instance.web[1] would be destroyed.
	// Warning [module.app["eu"].aws_s3_bucket.assets] module.app["eu"].aws_s3_bucket.assets would be destroyed.
	// Warning [module.net.aws_subnet.private[2]] module.net.aws_subnet.private[2] would be destroyed.
}
