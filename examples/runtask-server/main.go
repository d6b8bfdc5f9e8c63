// Command runtask-server is a run task integration for HCP Terraform and Terraform
// Enterprise: a deletion guard. At a stage with a plan it fails the run when any
// resource would be deleted (plainly or by a replacement), naming each one, and passes
// otherwise with the plan's summary; at pre_plan it passes.
//
//	RUN_TASK_HMAC_KEY=… go run ./examples/runtask-server -addr 0.0.0.0:8080
//
// Deliveries are served at /. The HMAC key (the run task's hmac-key) comes from the
// environment variable RUN_TASK_HMAC_KEY and is required unless -insecure-no-hmac is
// given. -allowed-host is the comma-separated list of service hosts deliveries may
// name (default app.terraform.io; a Terraform Enterprise user names their host, with
// :port if needed). Service URLs must be https unless -allow-http is given, for local
// testing against a fake service. On SIGINT or SIGTERM it stops accepting and finishes
// what is in flight, for at most 30 seconds.
//
// Build it with `cd examples/runtask-server && go build .`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/examples/internal/deletionguard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "runtask-server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, receives the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("runtask-server", flag.ContinueOnError)
	fs.SetOutput(logOut)
	addr := fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` to listen on")
	insecure := fs.Bool("insecure-no-hmac", false, "accept unsigned deliveries (local testing only)")
	allowed := fs.String("allowed-host", "app.terraform.io", "comma-separated service `hosts` deliveries may name (your Terraform Enterprise host, with :port if needed)")
	allowHTTP := fs.Bool("allow-http", false, "accept plain-http service URLs (local testing against a fake service only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var hosts []string
	for _, h := range strings.Split(*allowed, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return errors.New("-allowed-host names no host")
	}
	logger := slog.New(slog.NewTextHandler(logOut, nil))

	opts := []tfc.ReceiverOption{tfc.WithReceiverLogger(logger)}
	switch key := getenv("RUN_TASK_HMAC_KEY"); {
	case key != "":
		opts = append(opts, tfc.WithHMACKeys(tfc.Secret(key)))
	case *insecure:
		opts = append(opts, tfc.AllowUnsignedDeliveries())
	default:
		return errors.New("RUN_TASK_HMAC_KEY is not set (or pass -insecure-no-hmac for local testing)")
	}
	opts = append(opts, tfc.WithAllowedHosts(hosts...))
	if *allowHTTP {
		opts = append(opts, tfc.InsecureAllowHTTP())
	}
	receiver, err := tfc.NewReceiver(deletionguard.Check, opts...)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := deletionguard.NewServer(*addr, receiver)
	logger.Info("deletion guard listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := receiver.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
