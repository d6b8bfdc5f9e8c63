package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tfkit/tfc"
)

// check fails any plan that would delete a resource.
func check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if !d.HasPlan() {
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
				ID:          rc.Address, // over 64 characters, shortened and kept distinct
				Description: rc.Address + " would be deleted",
				Tags:        map[string][]tfc.Tag{"Severity": {{Label: "High", Level: tfc.TagError}}},
			})
		}
	}
	if n := len(result.Outcomes); n > 0 {
		result.Status, result.Message = tfc.TaskResultFailed, fmt.Sprintf("%d resources would be deleted.", n)
		// Outcomes are sent only if the service accepts them, at most 250 (the rest are
		// cut, with a note in the message); result.Validate() says what would be changed.
		return result, nil
	}
	return tfc.Passed("Nothing is deleted."), nil
}

func main() {
	receiver, err := tfc.NewReceiver(check,
		tfc.WithHMACKeys(tfc.Secret(os.Getenv("RUN_TASK_HMAC_KEY"))),
		tfc.WithAllowedHosts("app.terraform.io"), // or your Terraform Enterprise host
	)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/run-task", receiver)
	srv := &http.Server{ // timeouts, so that slow or stalled senders cannot hold connections
		Addr:              ":8080",
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done() // stop accepting, then let the checks in flight report, for 30 s at most
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		_ = receiver.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
