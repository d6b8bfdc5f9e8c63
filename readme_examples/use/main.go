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

	// Every run task of the organization, 100 per request, on ctx.
	for task, err := range client.RunTasks.All(ctx, "my-org", nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(task.ID, task.Name, task.URL)
	}

	// Attach one as mandatory after the plan.
	_, err = client.WorkspaceRunTasks.Create(ctx, "ws-kRsDRPtTmtcEme4t", tfc.WorkspaceRunTaskCreateOptions{
		RunTaskID:        "task-7oD7doVTQdAFnMLV",
		EnforcementLevel: tfc.EnforcementMandatory,
		Stages:           []tfc.Stage{tfc.StagePostPlan},
	})
	var apiErr *tfc.APIError
	switch {
	case errors.Is(err, tfc.ErrNotFound):
		log.Fatal("no such workspace or run task, or no permission")
	case errors.As(err, &apiErr):
		log.Fatalf("HCP Terraform refused (%d, request %s): %v", apiErr.StatusCode, apiErr.RequestID, err)
	case err != nil:
		log.Fatal(err)
	}
}
