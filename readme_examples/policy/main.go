package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/tfkit/tfc"
)

func main() {
	ctx := context.Background()
	client, err := tfc.NewClient(tfc.WithScalr("my-account"), tfc.WithToken(os.Getenv("SCALR_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	for check, err := range client.PolicyChecks.All(ctx, "run-t61g5rlk9qbudh0", nil) {
		if err != nil {
			log.Fatal(err)
		}
		// Wait until the check is final, or soft-failed and waiting for a decision.
		check, err = client.PolicyChecks.Wait(ctx, check.ID, &tfc.PolicyCheckWaitOptions{StopAtSoftFailed: true})
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range check.Result.Policies {
			fmt.Println(p.Name, p.Result, p.Messages)
		}
		if check.Status.CanBeOverridden() {
			_, err := client.PolicyChecks.Override(ctx, check.ID)
			if errors.Is(err, tfc.ErrConflict) {
				log.Printf("%s can no longer be overridden", check.ID)
			} else if err != nil {
				log.Fatal(err)
			}
		}
	}
}
