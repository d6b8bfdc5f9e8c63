package main

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tfkit/tfc"
)

func main() {
	ctx := context.Background()
	client, err := tfc.NewClient(tfc.FromEnv()) // TFE_TOKEN, TFE_ADDRESS
	if err != nil {
		log.Fatal(err)
	}
	ws, err := client.Workspaces.Read(ctx, "my-org", "networking")
	if err != nil {
		log.Fatal(err)
	}

	// The newest run that waits for a decision.
	var run *tfc.Run
	for r, err := range client.Runs.All(ctx, ws.ID, &tfc.RunListOptions{StatusGroup: tfc.RunStatusGroupDiscardable}) {
		if err != nil {
			log.Fatal(err)
		}
		run = r
		break
	}
	if run == nil {
		log.Fatal("no run waits for a decision")
	}

	// Every policy that errored or failed as mandatory, by name.
	blocking := &tfc.PolicySetOutcomeListOptions{Filters: []tfc.PolicySetOutcomeFilter{
		{Status: tfc.PolicyOutcomeErrored},
		{Status: tfc.PolicyOutcomeFailed, EnforcementLevel: tfc.EnforcementMandatory},
	}}
	failed := 0
	for stage, err := range client.TaskStages.All(ctx, run.ID, nil) {
		if err != nil {
			log.Fatal(err)
		}
		for _, evaluation := range stage.PolicyEvaluations {
			for set, err := range client.PolicySetOutcomes.All(ctx, evaluation.ID, blocking) {
				if err != nil {
					log.Fatal(err)
				}
				for _, p := range set.Failed() {
					fmt.Printf("%s/%s: %s (%s) %s\n", set.PolicySetName, p.PolicyName, p.Status, p.EnforcementLevel, p.Description)
					if p.EnforcementLevel != tfc.EnforcementAdvisory {
						failed++
					}
				}
			}
		}
	}

	// Discard or apply it; 409 means the run moved on meanwhile.
	switch {
	case failed > 0:
		err = client.Runs.Discard(ctx, run.ID, &tfc.RunActionOptions{Comment: "Policies failed."})
	case run.Actions.IsConfirmable:
		err = client.Runs.Apply(ctx, run.ID, &tfc.RunActionOptions{Comment: "Policies passed."})
	}
	if errors.Is(err, tfc.ErrConflict) {
		log.Printf("%s moved on: %v", run.ID, err)
	} else if err != nil {
		log.Fatal(err)
	}
}
