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
	// CTS_ADDRESS (default http://localhost:8558) and the CTS_* TLS variables.
	cts, err := tfc.NewCTSClient(tfc.CTSFromEnv())
	if err != nil {
		log.Fatal(err)
	}

	// Preview what disabling a task would do: nothing changes with CTSRunInspect.
	off := tfc.CTSTaskUpdateOptions{Enabled: tfc.Ptr(false), Run: tfc.CTSRunInspect}
	preview, err := cts.Tasks.Update(ctx, "task_a", off)
	var notLeader *tfc.NotLeaderError
	switch {
	case errors.As(err, &notLeader): // a follower of a high-availability cluster
		log.Fatalf("ask the leader %q at %s", notLeader.LeaderID, notLeader.LeaderAddress)
	case errors.Is(err, tfc.ErrNotFound):
		log.Fatal("no task called task_a")
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("changes:", preview.Inspection.ChangesPresent)
	fmt.Println(preview.Inspection.Plan)

	// Then disable it.
	off.Run = ""
	if _, err := cts.Tasks.Update(ctx, "task_a", off); err != nil {
		log.Fatal(err)
	}
}
