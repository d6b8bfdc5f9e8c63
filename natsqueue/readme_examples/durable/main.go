package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/natsqueue"
)

// check is your check. A job may run more than once (a worker that died mid-check):
// make it safe to repeat.
func check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	return tfc.Passed("Nothing to object to."), nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// JetStream inside this process, its file store in ./state. For a cluster:
	// natsqueue.Config{URL: "nats://n1:4222,nats://n2:4222,nats://n3:4222", Replicas: 3}.
	q, err := natsqueue.Open(ctx, natsqueue.Config{StateDir: "state"})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close() // last: flushes the store
	receiver, err := tfc.NewReceiver(check,
		tfc.WithHMACKeys(tfc.Secret(os.Getenv("RUN_TASK_HMAC_KEY"))),
		tfc.WithAllowedHosts("app.terraform.io"),
		tfc.WithExecutor(q),          // answer 200 only once the delivery is stored
		tfc.WithHandBackOnShutdown(), // jobs cut short go back to the queue, unreported
	)
	if err != nil {
		log.Fatal(err)
	}
	// The worker takes jobs off the queue and runs each with receiver.Process.
	worker, err := q.StartWorker(receiver, natsqueue.WorkerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8080", Handler: receiver, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)      // no new deliveries: the service retries them elsewhere
	_ = worker.Stop(shutdown)       // running checks finish, or are handed back when time is up
	_ = receiver.Shutdown(shutdown) // nothing runs on it any more
}
