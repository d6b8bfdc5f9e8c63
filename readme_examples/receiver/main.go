package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/tfkit/tfc"
)

// check fails any plan that would delete a resource.
func check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if !d.Request.Stage.HasPlan() {
		return tfc.Passed("No plan at this stage."), nil
	}
	plan, err := d.Plan(ctx) // fetched with the delivery's token, decoded with terraform-json
	if err != nil {
		return tfc.TaskResultUpdate{}, err // reported as failed, with a generic message
	}
	var result tfc.TaskResultUpdate
	for _, rc := range plan.ResourceChanges {
		if rc.Change != nil && (rc.Change.Actions.Delete() || rc.Change.Actions.Replace()) {
			result.Outcomes = append(result.Outcomes, tfc.Outcome{
				ID:          rc.Address,
				Description: rc.Address + " would be deleted",
				Tags:        map[string][]tfc.Tag{"Severity": {{Label: "High", Level: tfc.TagError}}},
			})
		}
	}
	if n := len(result.Outcomes); n > 0 {
		result.Status, result.Message = tfc.TaskResultFailed, fmt.Sprintf("%d resources would be deleted.", n)
		return result, nil // outcomes are sent only if the service accepts them
	}
	return tfc.Passed("Nothing is deleted."), nil
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
