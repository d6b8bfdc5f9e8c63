// Command list-run-tasks prints the run tasks of an organization, one per line: ID,
// name, URL and whether the task is enabled.
//
//	TFE_TOKEN=… go run ./examples/list-run-tasks -org my-org
//
// TFE_ADDRESS points it at Terraform Enterprise or a local fake (default
// https://app.terraform.io).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/tfkit/tfc"
)

func main() {
	org := flag.String("org", "", "organization name (required)")
	flag.Parse()
	if *org == "" {
		fmt.Fprintln(os.Stderr, "usage: list-run-tasks -org ORGANIZATION (token and address from TFE_TOKEN and TFE_ADDRESS)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *org); err != nil {
		fmt.Fprintln(os.Stderr, "list-run-tasks:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, org string) error {
	client, err := tfc.NewClient(tfc.FromEnv(), tfc.WithUserAgent("list-run-tasks"))
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for task, err := range client.RunTasks.All(ctx, org, nil) {
		if err != nil {
			return err
		}
		enabled := "disabled"
		if task.Enabled {
			enabled = "enabled"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", task.ID, task.Name, task.URL, enabled)
	}
	return w.Flush()
}
