package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain runs main itself when the test binary is started as the quickstart by
// TestExitStatus.
func TestMain(m *testing.M) {
	if os.Getenv("QUICKSTART_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRoundTrip(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"1. Started an in-memory HCP Terraform at http://127.0.0.1:",
		"2. Started the deletion guard, a run task integration, at http://127.0.0.1:",
		"tfc.InsecureAllowHTTP() and tfc.WithAllowedHosts(\"127.0.0.1:",
		`3. Created the run task "deletion-guard" (task-`,
		"it answered 200, so the task was created.",
		"4. Attached it to workspace my-org/networking (ws-",
		"mandatory, after the plan (post_plan).",
		"task stage post_plan (ts-",
		"): passed\n   deletion-guard: passed - Plan: 1 to add, 1 to change, 0 to destroy. Nothing is deleted.",
		"): awaiting_override - the run stops here\n   deletion-guard: failed - 3 resources would be deleted: aws_db_instance.main,",
		"   - aws_db_instance.main would be deleted. [Action: Delete, Severity: High]",
		"   - aws_instance.web would be deleted and created again. [Action: Replace, Severity: High]",
		"override the stage: client.TaskStages.Override(ctx, \"ts-",
		": it is now passed, and the run goes on.",
		"(cd examples/runtask-server && go run .)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q:\n%s", want, got)
		}
	}
}

// TestExitStatus runs the command as `go run ./examples/quickstart` would and expects
// exit status 0 and the output on stdout.
func TestExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the command in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "QUICKSTART_RUN_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exit: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "tfc quickstart:") || !strings.Contains(stdout.String(), "\nDone.") || stderr.Len() != 0 {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}
