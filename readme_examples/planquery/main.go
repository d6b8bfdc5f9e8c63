package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/tfkit/tfc"
)

// check fails plans that make a bucket public or destroy a database, and warns about
// new instances without an owner tag.
func check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if !d.HasPlan() {
		return tfc.Passed("No plan at this stage."), nil
	}
	plan, err := d.Plan(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	changes := tfc.Changes(plan)
	var findings []tfc.Finding
	for c := range changes.Type("aws_s3_bucket_acl").Action(tfc.ActionCreate, tfc.ActionUpdate) {
		if acl, _ := c.After("acl").AsString(); acl == "public-read" {
			findings = append(findings, tfc.Finding{ID: c.Address, Message: c.Address + " is public"})
		}
	}
	for c := range changes.Type("aws_db_instance").Where(tfc.Change.Deletes) {
		findings = append(findings, tfc.Finding{ID: c.Address, Message: c.Address + " would be destroyed"})
	}
	for c := range changes.Type("aws_instance").Where(tfc.Change.Creates) {
		if _, ok := c.After("tags", "owner").AsString(); !ok {
			findings = append(findings, tfc.Finding{ID: c.Address, Severity: tfc.SeverityWarning, Message: c.Address + " has no owner tag"})
		}
	}
	summary := changes.Summary()
	return tfc.Report{Findings: findings, Summary: &summary}.Result(), nil
}

func main() {
	receiver, err := tfc.NewReceiver(check,
		tfc.WithHMACKeys(tfc.Secret(os.Getenv("RUN_TASK_HMAC_KEY"))),
		tfc.WithAllowedHosts("app.terraform.io"),
	)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/run-task", receiver)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
