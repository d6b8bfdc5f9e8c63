// Command cts-tasks lists the tasks of a Consul-Terraform-Sync daemon, and enables or
// disables one, optionally previewing the plan first.
//
//	go run ./examples/cts-tasks                          # one line a task
//	go run ./examples/cts-tasks -disable task_a -inspect # print the plan; change nothing
//	go run ./examples/cts-tasks -disable task_a
//	go run ./examples/cts-tasks -enable task_a
//
// The daemon's address and TLS settings come from CTS_ADDRESS (default
// http://localhost:8558), CTS_CACERT, CTS_CAPATH, CTS_CLIENT_CERT, CTS_CLIENT_KEY and
// CTS_SSL_VERIFY, as for the CTS command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/tfkit/tfc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "cts-tasks:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "cts-tasks:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: cts-tasks [-enable NAME | -disable NAME [-inspect]]")

// run carries out one invocation: args are the command-line arguments without the
// program name; the listing, the plan or the confirmation go to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("cts-tasks", flag.ContinueOnError)
	enable := flags.String("enable", "", "enable the task `NAME`")
	disable := flags.String("disable", "", "disable the task `NAME`")
	inspect := flags.Bool("inspect", false, "with -enable or -disable: print the plan the change would run, and change nothing")
	if err := flags.Parse(args); err != nil {
		return err
	}
	name, enabled := *enable, true
	if *disable != "" {
		name, enabled = *disable, false
	}
	switch {
	case flags.NArg() > 0, *enable != "" && *disable != "", *inspect && name == "":
		return errUsage
	}

	cts, err := tfc.NewCTSClient(tfc.CTSFromEnv(), tfc.WithCTSUserAgent("cts-tasks"))
	if err != nil {
		return err
	}
	if name == "" {
		return list(ctx, cts, stdout)
	}
	return setEnabled(ctx, cts, stdout, name, enabled, *inspect)
}

// list prints one line a task: name, whether it is enabled, its condition and module.
func list(ctx context.Context, cts *tfc.CTSClient, stdout io.Writer) error {
	res, err := cts.Tasks.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, task := range res.Tasks {
		state := "disabled"
		if task.IsEnabled() {
			state = "enabled"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", task.Name, state, task.Condition.Kind(), task.Module)
	}
	return w.Flush()
}

// setEnabled enables or disables a task, or with inspect prints the plan doing so would
// run.
func setEnabled(ctx context.Context, cts *tfc.CTSClient, stdout io.Writer, name string, enabled, inspect bool) error {
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	opts := tfc.CTSTaskUpdateOptions{Enabled: tfc.Ptr(enabled)}
	if inspect {
		opts.Run = tfc.CTSRunInspect
	}
	res, err := cts.Tasks.Update(ctx, name, opts)
	if err != nil {
		var notLeader *tfc.NotLeaderError
		if errors.As(err, &notLeader) && notLeader.LeaderAddress != "" {
			return fmt.Errorf("%w; point CTS_ADDRESS at the leader, %s", err, notLeader.LeaderAddress)
		}
		return err
	}
	if !inspect {
		_, err := fmt.Fprintf(stdout, "%sd %s\n", verb, name)
		return err
	}
	if res.Inspection == nil {
		return fmt.Errorf("the daemon sent no plan for %s", name)
	}
	outcome := "would change nothing"
	if res.Inspection.ChangesPresent {
		outcome = "would change infrastructure"
	}
	fmt.Fprintf(stdout, "to %s %s %s (nothing was changed)\n\n%s\n", verb, name, outcome, res.Inspection.Plan)
	if res.Inspection.RunURL != "" {
		fmt.Fprintf(stdout, "\nrun: %s\n", res.Inspection.RunURL)
	}
	return nil
}
