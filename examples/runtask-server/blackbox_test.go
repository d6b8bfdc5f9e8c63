package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

// These tests build the command as its documentation says (go build in this
// directory) and drive the binary as a black box: its flags, its environment, its
// answers and its logs, with tfctest playing HCP Terraform.

// binary builds runtask-server once per test binary run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "runtask-server-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "runtask-server")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// server is a running runtask-server.
type server struct {
	addr string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when its stderr is drained
}

// startServer runs the binary with the HMAC key in its environment and args after
// -addr 127.0.0.1:0, in a working directory of its own (so its state directory is
// ./runtask-server-data there), and waits until it listens. It is stopped with SIGINT
// when the test ends, if the test did not stop it.
func startServer(t *testing.T, key string, args ...string) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), key, args...)
}

// startServerIn is startServer in the working directory dir.
func startServerIn(t *testing.T, dir, key string, args ...string) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Env = []string{"RUN_TASK_HMAC_KEY=" + key}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenLine.FindStringSubmatch(line); m != nil {
				listening <- m[1]
			}
		}
		close(listening)
	}()
	addr, ok := <-listening
	if !ok {
		_ = s.cmd.Wait()
		t.Fatalf("runtask-server did not start:\n%s", s.log())
	}
	s.addr = addr
	t.Cleanup(func() { _ = s.stop() })
	return s
}

var listenLine = regexp.MustCompile(`msg="(?:deletion guard|rego policies) listening" addr=(\S+)`)

// stop sends SIGINT and waits for the process to exit.
func (s *server) stop() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	<-s.done
	return s.cmd.Wait()
}

// kill ends the process with SIGKILL: no shutdown, no flush, nothing acknowledged.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
	_ = s.cmd.Wait()
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func hostOf(rawURL string) string { return strings.TrimPrefix(rawURL, "http://") }

// TestBlackBoxBurstUnderCallbackFaults: 1,000 runs started together, a third of whose
// callback attempts fail (429, 5xx, dropped connections): every delivery is answered
// 200 at its first attempt, every task result ends passed or failed as its plan
// says, and each got exactly one final result from the server.
func TestBlackBoxBurstUnderCallbackFaults(t *testing.T) {
	const n, key = 1000, "black-box-hmac-key"
	hcp := tfctest.NewServer(tfctest.WithFaults(tfctest.Faults{Seed: 13, RateLimited: 1.0 / 9, ServerErrors: 1.0 / 9, DroppedConnections: 1.0 / 9, CallbacksOnly: true}))
	defer hcp.Close()
	srv := startServer(t, key, "-allowed-host", hostOf(hcp.URL), "-allow-http")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := attach(t, hcp, srv.addr, key, srv.log)
	runs := startRuns(t, hcp, ws, n)
	for i, run := range runs {
		if err := run.Wait(ctx); err != nil {
			t.Fatalf("run %d: %v\n%.3000s", i, err, srv.log())
		}
		result := run.TaskStages()[0].TaskResults[0]
		if want := []tfc.TaskResultStatus{tfc.TaskResultPassed, tfc.TaskResultFailed}[i%2]; result.Status != want {
			t.Errorf("run %d: result %s (%s), want %s", i, result.Status, result.Message, want)
		}
	}
	if err := srv.stop(); err != nil {
		t.Errorf("runtask-server exit: %v", err)
	}
	if hcp.FaultsInjected() < n/2 {
		t.Errorf("only %d faults injected", hcp.FaultsInjected())
	}
	for _, d := range hcp.Deliveries() {
		if d.StatusCode != http.StatusOK || d.Attempt != 1 {
			t.Fatalf("delivery of %s, attempt %d: %d %v", d.TaskResultID, d.Attempt, d.StatusCode, d.Err)
		}
	}
	logs := srv.log()
	reported := map[string]int{}
	for _, m := range reportedLine.FindAllStringSubmatch(logs, -1) {
		reported[m[1]]++
	}
	if len(reported) != n {
		t.Errorf("%d task results reported, want %d", len(reported), n)
	}
	for id, c := range reported {
		if c != 1 {
			t.Errorf("%s reported %d times", id, c)
		}
	}
	for _, bad := range []string{"already final", "could not be reported", "not accepted"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the logs say %q", bad)
		}
	}
}

var reportedLine = regexp.MustCompile(`msg="tfc: run task result reported" .*task_result_id=(\S+)`)

// TestBlackBoxSafeDefaults: by default the server accepts deliveries for
// app.terraform.io only, over https only; -allow-http and -allowed-host open exactly
// what they name; an empty list and unsigned mode without a list do not start.
func TestBlackBoxSafeDefaults(t *testing.T) {
	const key = "black-box-hmac-key"
	delivery := func(callbackURL string) []byte {
		return []byte(`{"payload_version":1,"stage":"pre_plan","access_token":"at-x","task_result_id":"taskrs-x",` +
			`"task_result_callback_url":"` + callbackURL + `"}`)
	}
	post := func(s *server, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/", bytes.NewReader(body))
		req.Header.Set(tfc.SignatureHeader, tfc.Sign(key, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// A service nobody should call: every request to it is an error.
	called := make(chan string, 8)
	trap := newTrap(t, called)

	defaults := startServer(t, key)
	for name, u := range map[string]string{
		"loopback host":                trap + "/api/v2/task-results/x/callback",
		"metadata address":             "http://169.254.169.254/latest/meta-data",
		"app.terraform.io, plain http": "http://app.terraform.io/api/v2/task-results/x/callback",
	} {
		if got := post(defaults, delivery(u)); got != http.StatusForbidden {
			t.Errorf("default flags, %s: %d, want 403", name, got)
		}
	}
	httpOnly := startServer(t, key, "-allow-http")
	if got := post(httpOnly, delivery(trap+"/cb")); got != http.StatusForbidden {
		t.Errorf("-allow-http alone, loopback host: %d, want 403", got)
	}
	listed := startServer(t, key, "-allowed-host", "tfe.example.com, "+hostOf(trap))
	if got := post(listed, delivery(trap+"/cb")); got != http.StatusForbidden {
		t.Errorf("listed host over plain http without -allow-http: %d, want 403", got)
	}
	select {
	case path := <-called:
		t.Errorf("a refused delivery reached the service: %s", path)
	default:
	}

	for _, args := range [][]string{{"-allowed-host", " , "}, {"-insecure-no-hmac", "-allowed-host", ""}} {
		bin, err := binary()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{"RUN_TASK_HMAC_KEY=" + key}
		if args[0] == "-insecure-no-hmac" {
			cmd.Env = nil
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "allowed-host") {
			t.Errorf("%v: exit %v, output %s", args, err, out)
		}
		if _, err := os.Stat(filepath.Join(cmd.Dir, "runtask-server-data")); !os.IsNotExist(err) {
			t.Errorf("%v: a refused start made its state directory (%v)", args, err)
		}
	}
}

// newTrap serves a URL whose every request is reported on called.
func newTrap(t *testing.T, called chan<- string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- r.URL.Path
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBlackBoxSIGKILLAfterAck: the server answers a batch of deliveries 200, starts
// their checks, whose plans are slow to come (the service holds the plan requests),
// and is killed with SIGKILL. Started again in the same working directory (its state
// in ./runtask-server-data), it finishes every delivery it had answered: each task
// result gets exactly one final result accepted, as its plan says, after a "running"
// update that resumes it; the service never had to deliver anything twice.
func TestBlackBoxSIGKILLAfterAck(t *testing.T) {
	const n, key = 48, "black-box-hmac-key"
	hcp := tfctest.NewServer()
	defer hcp.Close()
	hold := hcp.HoldPlans()
	defer hold.Release()
	work := t.TempDir()
	args := []string{"-allowed-host", hostOf(hcp.URL), "-allow-http"}
	first := startServerIn(t, work, key, args...)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := attach(t, hcp, first.addr, key, first.log)
	runs := startRuns(t, hcp, ws, n)
	// Every delivery answered 200, and every check started ("Reading the plan.") and
	// waiting for its plan: held at the service, or for its turn to download (a
	// receiver reads a few plans at once).
	waitFor(t, "the batch acknowledged and every check at its plan", func() bool {
		return acknowledged(hcp) == n && readingPlan(hcp) == n && hold.Waiting() > 0
	})
	first.kill()
	killedAt := time.Now()
	for _, cb := range hcp.Callbacks() {
		if cb.Status != tfc.TaskResultRunning {
			t.Fatalf("a final result before the kill: %+v", cb)
		}
	}

	// The restart reaches the service from a new port: the run task's URL is not used
	// again, since every delivery was answered already.
	second := startServerIn(t, work, key, args...)
	hold.Release()
	for i, run := range runs {
		if err := run.Wait(ctx); err != nil {
			t.Fatalf("run %d: %v\n%.3000s", i, err, second.log())
		}
	}
	finishedIn := time.Since(killedAt)
	if err := second.stop(); err != nil {
		t.Errorf("runtask-server exit: %v", err)
	}
	if got := acknowledged(hcp); got != n || len(hcp.Deliveries()) != n+1 {
		t.Errorf("%d deliveries acknowledged, %d sent; want %d and %d (one each, and the verification)", got, len(hcp.Deliveries()), n, n+1)
	}
	accepted, conflicts, resumed := map[string]int{}, 0, map[string]bool{}
	for _, cb := range hcp.Callbacks() {
		switch {
		case cb.Status == tfc.TaskResultRunning && cb.Message == "Resuming the check after an interruption.":
			resumed[cb.TaskResultID] = true
		case cb.Status == tfc.TaskResultRunning:
		case cb.StatusCode == http.StatusOK:
			accepted[cb.TaskResultID]++
		case cb.StatusCode == http.StatusConflict:
			conflicts++
		}
	}
	for i, run := range runs {
		result := run.TaskStages()[0].TaskResults[0]
		if want := []tfc.TaskResultStatus{tfc.TaskResultPassed, tfc.TaskResultFailed}[i%2]; result.Status != want {
			t.Errorf("run %d: result %s (%s), want %s", i, result.Status, result.Message, want)
		}
		if accepted[result.ID] != 1 || !resumed[result.ID] {
			t.Errorf("run %d: %d accepted finals, resumed %t; want exactly one, resumed", i, accepted[result.ID], resumed[result.ID])
		}
	}
	t.Logf("%d task results, %d accepted finals, %d finals answered 409; all finished %v after the SIGKILL",
		n, len(accepted), conflicts, finishedIn.Round(time.Millisecond))
}

// attach makes a workspace of hcp with the server at addr attached as a mandatory run
// task, which the service verifies first with a signed request; logs are the server's,
// shown if that fails.
func attach(t *testing.T, hcp *tfctest.Server, addr, key string, logs func() string) tfctest.Workspace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := hcp.Client()
	ws := hcp.AddWorkspace("acme", fmt.Sprintf("ws-%d", len(hcp.Deliveries())))
	task, err := client.RunTasks.Create(ctx, "acme", tfc.RunTaskCreateOptions{Name: ws.Name, URL: "http://" + addr + "/", HMACKey: tfc.Secret(key)})
	if err != nil {
		t.Fatalf("creating the run task (the verification request): %v\n%s", err, logs())
	}
	if _, err := client.WorkspaceRunTasks.Create(ctx, ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory}); err != nil {
		t.Fatal(err)
	}
	return ws
}

// startRuns starts n runs of ws, every other one with a plan that deletes resources:
// run i's task result should be passed for even i, failed for odd i.
func startRuns(t *testing.T, hcp *tfctest.Server, ws tfctest.Workspace, n int) []*tfctest.Run {
	t.Helper()
	plans := [2][]byte{readTestdata(t, "plan_safe.json"), readTestdata(t, "plan_deletes.json")}
	runs := make([]*tfctest.Run, n)
	for i := range runs {
		var err error
		if runs[i], err = hcp.StartRun(ws.ID, plans[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	return runs
}

// acknowledged counts the run deliveries the server answered 200.
func acknowledged(hcp *tfctest.Server) int {
	n := 0
	for _, d := range hcp.Deliveries() {
		if !d.Verification && d.StatusCode == http.StatusOK {
			n++
		}
	}
	return n
}

// readingPlan counts the task results whose check said it is reading the plan.
func readingPlan(hcp *tfctest.Server) int {
	ids := map[string]bool{}
	for _, cb := range hcp.Callbacks() {
		if cb.Message == "Reading the plan." {
			ids[cb.TaskResultID] = true
		}
	}
	return len(ids)
}

// waitFor polls cond until it holds, within a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
