package tfc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tfkit/tfc/internal/syncbuf"
)

func TestReceiverRefusesBadDeliveries(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var ran atomic.Int64
	check := func(context.Context, *Delivery) (TaskResultUpdate, error) { ran.Add(1); return Passed("ok"), nil }
	_, srv := newTestReceiver(t, f, check, WithMaxBodyBytes(64<<10))
	valid, _ := json.Marshal(f.request("taskrs-valid", StagePostPlan, true))
	signed := func(b []byte) (string, string) { return SignatureHeader, Sign(f.key, b) }
	mutate := func(change func(map[string]any)) []byte {
		p := f.request("taskrs-bad", StagePostPlan, true)
		change(p)
		b, _ := json.Marshal(p)
		return b
	}

	tests := []struct {
		name   string
		body   []byte
		header string
		sig    string
		want   int
	}{
		{"no signature", valid, "", "", 401},
		{"empty signature", valid, SignatureHeader, "", 401},
		{"wrong key", valid, SignatureHeader, Sign("other-key", valid), 401},
		{"not hex", valid, SignatureHeader, strings.Repeat("zz", 64), 401},
		{"signature of other bytes", valid, SignatureHeader, Sign(f.key, append([]byte(" "), valid...)), 401},
		{"malformed JSON", []byte(`{"payload_version":1,`), "", "", 400},
		{"payload version 2", mutate(func(p map[string]any) { p["payload_version"] = 2 }), "", "", 400},
		{"no callback URL", mutate(func(p map[string]any) { delete(p, "task_result_callback_url") }), "", "", 400},
		{"relative callback URL", mutate(func(p map[string]any) { p["task_result_callback_url"] = "/api/v2/task-results/x/callback" }), "", "", 400},
		{"no access token", mutate(func(p map[string]any) { p["access_token"] = "" }), "", "", 400},
		{"no task result id", mutate(func(p map[string]any) { p["task_result_id"] = "" }), "", "", 400},
		{"plan URL elsewhere", mutate(func(p map[string]any) { p["plan_json_api_url"] = "https://evil.example/steal" }), "", "", 403},
		{"configuration URL elsewhere", mutate(func(p map[string]any) {
			p["configuration_version_download_url"] = "http://169.254.169.254/latest/meta-data"
		}), "", "", 403},
		{"body over the cap", bytes.Repeat([]byte(" "), 65<<10), "", "", 413},
	}
	for _, tt := range tests {
		header, sig := tt.header, tt.sig
		if header == "" && tt.want != 401 {
			header, sig = signed(tt.body)
		}
		if got := f.deliverRaw(srv.URL, tt.body, header, sig); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}

	// Other methods get 405 with Allow.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// A chunked body over the cap (no Content-Length) is cut off, not read whole.
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 100 { // 3.2 MB offered
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked oversize: %d", resp.StatusCode)
		}
	}
	pr.CloseWithError(io.ErrClosedPipe)

	if ran.Load() != 0 || len(f.allCallbacks()) != 0 {
		t.Errorf("refused deliveries ran %d checks and made callbacks %v", ran.Load(), f.allCallbacks())
	}
}

func TestReceiverAllowList(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, passCheck, WithAllowedHosts("app.terraform.io"))
	if got := f.deliver(srv.URL, f.request("taskrs-1", StagePostPlan, false)); got != 403 {
		t.Errorf("delivery to a host off the allow-list: %d, want 403", got)
	}
	_, port, _ := strings.Cut(f.host(), ":")
	_, pinned := newTestReceiver(t, f, passCheck, WithAllowedHosts("127.0.0.1:1"+port))
	if got := f.deliver(pinned.URL, f.request("taskrs-3", StagePostPlan, false)); got != 403 {
		t.Errorf("delivery to the allowed host on another port: %d, want 403", got)
	}
	_, srv2 := newTestReceiver(t, f, passCheck, WithAllowedHosts("APP.terraform.io", "[::1]", " "+strings.ToUpper(f.host())))
	if got := f.deliver(srv2.URL, f.request("taskrs-2", StagePostPlan, false)); got != 200 {
		t.Errorf("allowed host: %d", got)
	}
	f.waitFinal()
	if len(f.callbacksFor("taskrs-1"))+len(f.callbacksFor("taskrs-3")) != 0 {
		t.Error("a refused delivery was called back")
	}
}

// TestReceiverRequiresHTTPS: without InsecureAllowHTTP, a delivery whose URLs are
// plain http is refused before any token is sent, even to an allowed host.
func TestReceiverRequiresHTTPS(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	r, err := NewReceiver(passCheck, WithHMACKeys(f.key), WithAllowedHosts(f.host()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer func() {
		srv.Close()
		_ = r.Shutdown(context.Background())
	}()
	if got := f.deliver(srv.URL, f.request("taskrs-http", StagePostPlan, false)); got != 403 {
		t.Errorf("plain http delivery: %d, want 403", got)
	}
	// https callback, plain http plan URL on the same host: refused too.
	p := f.request("taskrs-mixed", StagePostPlan, false)
	p["task_result_callback_url"] = strings.Replace(p["task_result_callback_url"].(string), "http://", "https://", 1)
	if got := f.deliver(srv.URL, p); got != 403 {
		t.Errorf("mixed schemes: %d, want 403", got)
	}
	if n := len(f.allCallbacks()); n != 0 {
		t.Errorf("%d task results were called back", n)
	}
}

// TestReceiverReadsBodiesAsTheyArrive: a body declaring 1 MiB whose sender stalls after
// 100 bytes holds 100 bytes of the pending bound and no buffer sized from its header.
func TestReceiverReadsBodiesAsTheyArrive(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	r, _ := newTestReceiver(t, f, passCheck)
	stalled := make(chan struct{})
	release := make(chan struct{})
	body := &stallingBody{first: bytes.Repeat([]byte("{"), 100), stalled: stalled, release: release}
	req := httptest.NewRequest(http.MethodPost, "/", body)
	req.ContentLength = 1 << 20
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ServeHTTP(rec, req)
	}()
	<-stalled
	runtime.ReadMemStats(&after)
	if held := r.held.Load(); held != 100 {
		t.Errorf("a stalled body holds %d bytes of the bound, want 100", held)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 256<<10 {
		t.Errorf("%d bytes allocated for a body that sent 100", grown)
	}
	close(release)
	<-done
	if rec.Code != http.StatusBadRequest || r.held.Load() != 0 {
		t.Errorf("after the sender gave up: %d, %d bytes held", rec.Code, r.held.Load())
	}
}

// stallingBody gives its first bytes, then blocks until released and fails.
type stallingBody struct {
	first   []byte
	stalled chan<- struct{}
	release <-chan struct{}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	close(b.stalled)
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

// TestReceiverPendingByteBound: bodies count against the pending byte bound as they
// arrive; a delivery that would pass it gets 503 with Retry-After and gives its bytes
// back.
func TestReceiverPendingByteBound(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	one, _ := json.Marshal(f.request("taskrs-0", StagePostPlan, false))
	bound := int64(len(one))*2 + int64(len(one))/2 // room for two and a half deliveries
	release := make(chan struct{})
	r, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		<-release
		return Passed("ok"), nil
	}, WithMaxInFlight(1), WithMaxPending(100, bound), WithMaxBodyBytes(bound), WithHeartbeat(0))
	defer close(release)
	statuses := map[int]int{}
	for i := range 4 {
		statuses[f.deliver(srv.URL, f.request(fmt.Sprintf("taskrs-%d", i), StagePostPlan, false))]++
	}
	// The first runs (its bytes are given back when it starts), two wait, the last
	// does not fit.
	if statuses[200] != 3 || statuses[503] != 1 {
		t.Errorf("answers %v, want three 200 and one 503", statuses)
	}
	if held := r.held.Load(); held != 2*int64(len(one)) {
		t.Errorf("%d bytes held, want %d", held, 2*len(one))
	}
}

func TestReceiverVerificationRequest(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var ran atomic.Int64
	_, srv := newTestReceiver(t, f, func(context.Context, *Delivery) (TaskResultUpdate, error) {
		ran.Add(1)
		return Passed(""), nil
	})
	p := f.request("taskrs-test", StageTest, false)
	p["access_token"] = VerificationAccessToken
	p["task_result_enforcement_level"] = "test"
	p["run_created_at"] = "placeholder"
	if got := f.deliver(srv.URL, p); got != 200 {
		t.Fatalf("verification: %d", got)
	}
	// A verification request must still be signed correctly.
	body, _ := json.Marshal(p)
	if got := f.deliverRaw(srv.URL, body, SignatureHeader, Sign("wrong", body)); got != 401 {
		t.Errorf("badly signed verification: %d", got)
	}
	if ran.Load() != 0 || len(f.allCallbacks()) != 0 {
		t.Error("a verification request ran the check or was called back")
	}
}

func TestReceiverLegacySignatureHeaderAndRotation(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, passCheck, WithHMACKeys("new-key", testHMACKey))
	body, _ := json.Marshal(f.request("taskrs-legacy", StagePrePlan, false))
	if got := f.deliverRaw(srv.URL, body, LegacySignatureHeader, strings.ToUpper(Sign(testHMACKey, body))); got != 200 {
		t.Fatalf("legacy header, old key of a rotation, upper-case hex: %d", got)
	}
	if cb := f.waitFinal(); cb.Status != TaskResultPassed {
		t.Errorf("final = %+v", cb)
	}
}

func TestReceiverUnsigned(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, srv := newTestReceiver(t, f, passCheck, AllowUnsignedDeliveries())
	body, _ := json.Marshal(f.request("taskrs-u", StagePostPlan, false))
	if got := f.deliverRaw(srv.URL, body, SignatureHeader, ""); got != 200 {
		t.Fatalf("unsigned delivery: %d", got)
	}
	f.waitFinal()
	if got := f.deliverRaw(srv.URL, body, SignatureHeader, Sign(f.key, body)); got != 400 {
		t.Errorf("a signed delivery to a receiver without keys: %d, want 400", got)
	}
}

// TestReceiverNoSecretsInLogs runs deliveries through every path with debug logging on
// the receiver and its client, and checks the logs for every secret involved.
func TestReceiverNoSecretsInLogs(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.respond = func(_ string, n int, _ TaskResultStatus) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("user logs the delivery", "delivery", d, "request", d.Request, "r", *d.Request)
		fmt.Fprintf(&logs, "%v %+v %#v %s\n", d.Request, *d.Request, *d.Request, d)
		if _, err := d.Plan(ctx); err != nil {
			return TaskResultUpdate{}, err
		}
		if d.Request.TaskResultID == "taskrs-err" {
			return TaskResultUpdate{}, errors.New("check failed")
		}
		return Passed("ok"), nil
	}, WithReceiverLogger(logger))
	for _, id := range []string{"taskrs-ok", "taskrs-err"} {
		f.deliver(srv.URL, f.request(id, StagePostPlan, true))
		f.waitFinal()
	}
	body, _ := json.Marshal(f.request("taskrs-forged", StagePostPlan, true))
	forged := Sign("attacker-key", body)
	f.deliverRaw(srv.URL, body, SignatureHeader, forged)

	secrets := []string{string(testHMACKey), accessTokenFor("taskrs-ok"), accessTokenFor("taskrs-err"),
		accessTokenFor("taskrs-forged"), forged, Sign(f.key, body), "Bearer", "url_code", "cb-secret", "plan-signed", "cv-signed"}
	assertNoSecrets(t, "receiver logs", logs.String(), secrets...)
	for _, want := range []string{`"run_id":"run-i3Df5to9ELvibKpQ"`, `"task_result_id":"taskrs-ok"`, `"stage":"post_plan"`, "delivery refused"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	r, err := NewReceiver(passCheck, WithHMACKeys("k"), WithAllowedHosts("App.Terraform.io", "tfe.example.com:8443", "[::1]", "[fd00::1]:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	for raw, want := range map[string]bool{
		"https://app.terraform.io/x":      true,
		"https://app.terraform.io:443/x":  true,
		"https://tfe.example.com:8443/x":  true,
		"https://tfe.example.com/x":       false,
		"https://[::1]:9000/x":            true,
		"https://[fd00::1]:443/x":         true,
		"https://[fd00::1]:444/x":         false,
		"https://app.terraform.io.evil/x": false,
		"https://evil.app.terraform.io/x": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.hostAllowed(u); got != want {
			t.Errorf("%s: allowed %v, want %v", raw, got, want)
		}
	}
}
