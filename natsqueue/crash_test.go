package natsqueue

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tfkit/tfc"
)

// Environment of the crash helper process.
const (
	crashDirEnv  = "NATSQUEUE_CRASH_STATE_DIR"
	crashJobsEnv = "NATSQUEUE_CRASH_JOBS"
	crashHostEnv = "NATSQUEUE_CRASH_SERVICE_HOST"
)

// A process stores jobs in its embedded queue, starts checks on some of them, and is
// killed with SIGKILL: no Close, no flush, no acknowledgement. A new process on the
// same state directory finishes every stored job, the ones that were running too,
// each with exactly one accepted final, after asking the service whether it is still
// open.
func TestStoredJobsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a helper process")
	}
	svc := newFakeService(t)
	dir := t.TempDir()
	const n, running = 12, 3
	jobs := make([]tfc.Job, n)
	ids := make([]string, n)
	for i := range jobs {
		jobs[i] = svc.newJob()
		ids[i] = jobs[i].TaskResultID
	}
	jobsFile := filepath.Join(t.TempDir(), "jobs.json")
	raw, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobsFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashJobsEnv+"="+jobsFile, crashHostEnv+"="+svc.host())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	stored, started := 0, 0
	lines := bufio.NewScanner(out)
	for (stored < n || started < running) && lines.Scan() {
		switch {
		case strings.HasPrefix(lines.Text(), "stored "):
			stored++
		case strings.HasPrefix(lines.Text(), "started "):
			started++
		}
	}
	if stored < n || started < running {
		t.Fatalf("the helper stored %d of %d jobs and started %d of %d checks before it ended", stored, n, started, running)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true

	q := openQueue(t, Config{StateDir: dir, AckWait: testAckWait})
	startWorker(t, q, newReceiver(t, svc, passPlan), WorkerOptions{})
	svc.waitFinal(t, ids...)
	svc.assertExactlyOneFinal(t, tfc.TaskResultPassed, ids...)
	eventually(t, "every job acknowledged", func() bool { return streamMsgs(t, q) == 0 })
	// The killed process's delivery counts may be lost with it: every job it stored
	// asks the service first, as a job delivered again does.
	for _, id := range ids {
		if res := svc.snapshot(id); res.resumes != 1 {
			t.Errorf("task result %s: %d resume updates, want 1", id, res.resumes)
		}
	}
}

// TestCrashHelperProcess is the process TestStoredJobsSurviveSIGKILL kills: it
// submits the jobs it is given to an embedded queue, printing "stored ID" as each
// Submit returns, runs checks that never end (printing "started ID"), and waits to be
// killed. Run by itself it does nothing.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Getenv(crashJobsEnv))
	if err != nil {
		fail(err)
	}
	var jobs []tfc.Job
	if err := json.Unmarshal(raw, &jobs); err != nil {
		fail(err)
	}
	q, err := Open(context.Background(), Config{StateDir: dir, AckWait: testAckWait})
	if err != nil {
		fail(err)
	}
	never := func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		fmt.Println("started", d.Request.TaskResultID)
		<-ctx.Done()
		return tfc.TaskResultUpdate{}, ctx.Err()
	}
	r := newReceiverWithClient(t, os.Getenv(crashHostEnv), http.DefaultTransport, never)
	for _, job := range jobs {
		if err := q.Submit(context.Background(), job); err != nil {
			fail(err)
		}
		fmt.Println("stored", job.TaskResultID)
	}
	if _, err := q.StartWorker(r, WorkerOptions{Concurrency: 3}); err != nil {
		fail(err)
	}
	time.Sleep(time.Hour) // not a wait for anything: the parent SIGKILLs this process
}
