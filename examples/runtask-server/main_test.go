package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/internal/syncbuf"
	"github.com/tfkit/tfc/natsqueue/natsqueuetest"
	"github.com/tfkit/tfc/tfctest"
)

// TestMain fails the tests when a goroutine outlives them: run must leave nothing
// behind when it returns (the embedded NATS server, the worker, the HTTP server).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// These tests call run in this process, as main does.

// inProcess is run serving in this process.
type inProcess struct {
	addr   string
	logs   *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startInProcess runs the command with the HMAC key key and args after -addr
// 127.0.0.1:0 (and -state in a new directory, unless args name -nats), until the test
// ends or stop is called.
func startInProcess(t *testing.T, key string, args ...string) *inProcess {
	t.Helper()
	base := []string{"-addr", "127.0.0.1:0"}
	if !slices.Contains(args, "-nats") {
		base = append(base, "-state", t.TempDir())
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{logs: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	getenv := func(k string) string { return map[string]string{"RUN_TASK_HMAC_KEY": key}[k] }
	go func() { p.done <- run(ctx, append(base, args...), getenv, p.logs, ready) }()
	select {
	case p.addr = <-ready:
	case err := <-p.done:
		t.Fatalf("run: %v\n%s", err, p.logs)
	}
	t.Cleanup(func() { _ = p.stop() })
	return p
}

// stop ends run as a signal would and returns its error.
func (p *inProcess) stop() error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	p.cancel = nil
	return <-p.done
}

// get fetches path from the server and returns the status and body.
func (p *inProcess) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServesDeliveries(t *testing.T) {
	const key = "example-hmac-key"
	p := startInProcess(t, key)
	post := func(body, signature string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/", strings.NewReader(body))
		req.Header.Set(tfc.SignatureHeader, signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	verification := `{"payload_version":1,"stage":"test","access_token":"test-token","task_result_id":"taskrs-xxxxxxxxxxxxxxxx"}`
	if got := post(verification, tfc.Sign(key, []byte(verification))); got != 200 {
		t.Errorf("signed verification request: %d", got)
	}
	if got := post(verification, ""); got != 401 {
		t.Errorf("unsigned request: %d", got)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.logs.String(), key) {
		t.Error("the HMAC key was logged")
	}
}

func TestNeedsKey(t *testing.T) {
	err := run(context.Background(), []string{"-state", filepath.Join(t.TempDir(), "state")}, func(string) string { return "" }, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "RUN_TASK_HMAC_KEY") {
		t.Errorf("error = %v", err)
	}
}

// TestRefusesBeforeOpeningAnything: flags that cannot work together, and a policy
// directory that does not compile, stop the command before it creates its state
// directory or listens.
func TestRefusesBeforeOpeningAnything(t *testing.T) {
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "plan.rego"), []byte("package main\n\ndeny contains msg if {\n\tmsg := no_such_function(input)\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "a-key" }
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-nats", "nats://127.0.0.1:4222", "-state", "x"}, "exclude each other"},
		{[]string{"-nats-replicas", "3"}, "only with -nats"},
		{[]string{"-nats-creds", "user.creds"}, "only with -nats"},
		{[]string{"-nats", "nats://127.0.0.1:4222", "-nats-replicas", "9"}, "between 1 and 5"},
		{[]string{"-policy", broken}, "plan.rego:4"},
		{[]string{"-policy", filepath.Join(broken, "missing")}, "no such file"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		state := filepath.Join(t.TempDir(), "state")
		args := c.args
		if !slices.Contains(args, "-state") && !slices.Contains(args, "-nats") {
			args = append([]string{"-state", state}, args...)
		}
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), getenv, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
		if _, err := os.Stat(state); !os.IsNotExist(err) {
			t.Errorf("%v: the state directory was made (%v)", c.args, err)
		}
	}
}

// runPlans attaches the server p to a new workspace of hcp as a mandatory run task and
// runs each plan through it to the end.
func runPlans(t *testing.T, hcp *tfctest.Server, p *inProcess, key string, plans ...[]byte) []*tfc.TaskResult {
	t.Helper()
	ws := attach(t, hcp, p.addr, key, p.logs.String)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var results []*tfc.TaskResult
	for _, plan := range plans {
		run, err := hcp.StartRun(ws.ID, plan)
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		results = append(results, run.TaskStages()[0].TaskResults[0])
	}
	return results
}

// TestHealthzAndMetrics: /healthz says the embedded queue takes writes; /metrics
// counts deliveries, checks, callback attempts and finals, and shows the queue's
// gauges, with no secret in it.
func TestHealthzAndMetrics(t *testing.T) {
	const key = "metrics-hmac-key"
	hcp := tfctest.NewServer()
	defer hcp.Close()
	p := startInProcess(t, key, "-allowed-host", strings.TrimPrefix(hcp.URL, "http://"), "-allow-http")
	if code, body := p.get(t, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/healthz", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	results := runPlans(t, hcp, p, key, tfctest.SamplePlanSafe(), tfctest.SamplePlanDeletes())
	if results[0].Status != tfc.TaskResultPassed || results[1].Status != tfc.TaskResultFailed {
		t.Fatalf("results %s, %s", results[0].Status, results[1].Status)
	}
	if resp, err := http.Post("http://"+p.addr+"/", "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != 401 {
		t.Fatalf("unsigned delivery: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The service settles a run when it takes the final callback; the receiver counts
	// the final once it has read the answer, a moment later.
	var code int
	var metrics string
	waitFor(t, "both finals counted", func() bool {
		code, metrics = p.get(t, "/metrics")
		return code != 200 || strings.Contains(metrics, `tfc_receiver_finals_total{outcome="accepted",status="failed"} 1`) &&
			strings.Contains(metrics, `tfc_receiver_finals_total{outcome="accepted",status="passed"} 1`)
	})
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"tfc_receiver_deliveries_accepted_total 2",
		`tfc_receiver_deliveries_refused_total{code="401"} 1`,
		"tfc_receiver_deliveries_duplicate_total 0",
		"tfc_receiver_deliveries_pending 0",
		"tfc_receiver_checks_in_flight 0",
		`tfc_receiver_check_duration_seconds_count{result="passed"} 1`,
		`tfc_receiver_check_duration_seconds_count{result="failed"} 1`,
		`tfc_receiver_check_duration_seconds_count{result="timeout"} 0`,
		`tfc_receiver_callback_attempts_total{code="200",kind="final"} 2`,
		`tfc_receiver_callback_attempts_total{code="200",kind="progress"} 2`, // "Reading the plan."
		`tfc_receiver_finals_total{outcome="accepted",status="passed"} 1`,
		`tfc_receiver_finals_total{outcome="accepted",status="failed"} 1`,
		`tfc_receiver_finals_total{outcome="already_final",status="passed"} 0`,
		"tfc_queue_ready 1",
		"tfc_queue_jobs_waiting 0",
		"tfc_queue_jobs_in_flight",
		"tfc_queue_jobs_redelivered 0",
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want+"\n") && !strings.Contains(metrics, want+" ") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, key) || regexp.MustCompile(`atlasv1|Bearer`).MatchString(metrics) {
		t.Error("/metrics shows a secret")
	}
}

// TestPolicyFlag: with -policy the server judges plans with the Rego policies of the
// README (regocheck/testdata/readme): the plan that breaks them fails with one outcome
// per message, a clean one passes.
func TestPolicyFlag(t *testing.T) {
	const key = "policy-hmac-key"
	hcp := tfctest.NewServer()
	defer hcp.Close()
	p := startInProcess(t, key, "-allowed-host", strings.TrimPrefix(hcp.URL, "http://"), "-allow-http",
		"-policy", "../../regocheck/testdata/readme")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("../../regocheck/testdata/plans", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	results := runPlans(t, hcp, p, key, read("violations.json"), read("clean.json"))
	bad, clean := results[0], results[1]
	const wantMessage = "2 errors, 1 warning: aws_db_instance.main would be destroyed; module.web.aws_instance.app[0] uses m5.4xlarge; " +
		"module.web.aws_instance.app[0] has no owner tag. Plan: 5 to add, 1 to change, 2 to destroy."
	if bad.Status != tfc.TaskResultFailed || bad.Message != wantMessage {
		t.Errorf("violations: %s %q", bad.Status, bad.Message)
	}
	var ids []string
	for _, o := range hcp.Outcomes(bad.ID) {
		ids = append(ids, o.ID)
	}
	if want := []string{"main.deny", "main.violation", "main.warn"}; !slices.Equal(ids, want) {
		t.Errorf("outcomes %v, want %v", ids, want)
	}
	if clean.Status != tfc.TaskResultPassed {
		t.Errorf("clean plan: %s %q", clean.Status, clean.Message)
	}
	if !strings.Contains(p.logs.String(), `msg="rego policies listening"`) || !strings.Contains(p.logs.String(), "check=\"rego policies in ../../regocheck/testdata/readme\"") {
		t.Errorf("the logs do not name the policies:\n%s", p.logs)
	}
}

// TestNATSFlag: with -nats the server stores deliveries on that NATS server, and
// /healthz turns 503 when it goes away.
func TestNATSFlag(t *testing.T) {
	const key = "nats-hmac-key"
	cluster := natsqueuetest.StartCluster(t, 1)
	hcp := tfctest.NewServer()
	defer hcp.Close()
	p := startInProcess(t, key, "-allowed-host", strings.TrimPrefix(hcp.URL, "http://"), "-allow-http", "-nats", cluster.URLs())
	if code, _ := p.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz with NATS up: %d", code)
	}
	if results := runPlans(t, hcp, p, key, tfctest.SamplePlanSafe()); results[0].Status != tfc.TaskResultPassed {
		t.Errorf("result %s %q", results[0].Status, results[0].Message)
	}
	if !strings.Contains(p.logs.String(), "queue=\"natsqueue.Queue(stream TFC_RUN_TASK_JOBS on nats://") {
		t.Errorf("the logs do not name the NATS server:\n%s", p.logs)
	}
	cluster.Stop(0)
	waitFor(t, "/healthz to report the queue down", func() bool {
		code, body := p.get(t, "/healthz")
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "not ready: ")
	})
	if code, metrics := p.get(t, "/metrics"); code != 200 || !strings.Contains(metrics, "tfc_queue_ready 0\n") {
		t.Errorf("/metrics with NATS down: %d, tfc_queue_ready 0 missing", code)
	}
}
