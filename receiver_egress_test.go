package tfc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tfkit/tfc/internal/syncbuf"
)

func TestNonPublicAddresses(t *testing.T) {
	refused := map[string]string{
		"127.0.0.1":              "loopback",
		"127.255.0.9":            "loopback",
		"10.1.2.3":               "private",
		"172.16.0.1":             "private",
		"192.168.1.1":            "private",
		"169.254.169.254":        "link-local",
		"0.0.0.0":                "unspecified",
		"0.1.2.3":                "this-network",
		"100.64.0.1":             "shared (carrier-grade NAT)",
		"224.0.0.1":              "multicast",
		"255.255.255.255":        "reserved",
		"::1":                    "loopback",
		"::":                     "unspecified",
		"fe80::1":                "link-local",
		"fc00::1":                "private",
		"fd12:3456::1":           "private",
		"ff02::1":                "multicast",
		"::ffff:127.0.0.1":       "loopback",
		"::ffff:169.254.169.254": "link-local",
		"::ffff:10.0.0.1":        "private",
		"::127.0.0.1":            "IPv4-compatible",
		"64:ff9b::7f00:1":        "loopback", // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe":     "link-local",
		"2002:7f00:1::1":         "loopback", // 6to4 of 127.0.0.1
		"2002:c0a8:101::1":       "private",
	}
	for addr, want := range refused {
		if got := nonPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
	for _, addr := range []string{"8.8.8.8", "1.1.1.1", "52.1.2.3", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		if got := nonPublic(netip.MustParseAddr(addr)); got != "" {
			t.Errorf("%s is public, classified %q", addr, got)
		}
	}
	for _, address := range []string{"127.0.0.1:443", "[::ffff:127.0.0.1]:443", "[fe80::1%eth0]:80", "not-an-address"} {
		if err := refuseNonPublic("tcp", address, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control(%s) = %v", address, err)
		}
	}
	if err := refuseNonPublic("tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("Control(8.8.8.8) = %v", err)
	}
}

// resolver maps test host names to addresses, standing in for DNS.
func resolver(names map[string]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := names[host]; ok {
			return []netip.Addr{netip.MustParseAddr(a)}, nil
		}
		if a, err := netip.ParseAddr(host); err == nil {
			return []netip.Addr{a}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

func withLookup(fn func(context.Context, string) ([]netip.Addr, error)) ReceiverOption {
	return func(r *Receiver) error {
		r.lookupIP = fn
		return nil
	}
}

// TestDialGuard: the receiver's client connects to a host on the allow-list wherever
// it resolves, and refuses, without retrying, every connection to a non-public address
// of another host, redirect targets included: the blob host on loopback, a name that
// resolves to loopback or to the metadata address, and (with the allow-list opted out)
// a delivery's own loopback URLs.
func TestDialGuard(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	_, apiPort, _ := net.SplitHostPort(f.host())
	_, blobPort, _ := net.SplitHostPort(strings.TrimPrefix(f.blob.URL, "http://"))
	names := resolver(map[string]string{
		"service.test":  "127.0.0.1",
		"rebound.test":  "127.0.0.1",
		"metadata.test": "169.254.169.254",
	})

	planErrs := make(chan error, 8)
	var logs syncbuf.Buffer
	check := func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		_, err := d.Plan(ctx)
		planErrs <- err
		return Passed("ok"), nil
	}
	_, srv := newTestReceiver(t, f, check, WithAllowedHosts("service.test:"+apiPort), withLookup(names),
		WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithHeartbeat(0))
	deliver := func(id, blobHost string) error {
		f.mu.Lock()
		f.planLocation = "http://" + blobHost + ":" + blobPort + "/v1/object/plan-signed-" + id
		f.mu.Unlock()
		p := f.request(id, StagePostPlan, false)
		for _, k := range []string{"task_result_callback_url", "plan_json_api_url", "configuration_version_download_url"} {
			p[k] = strings.Replace(p[k].(string), "127.0.0.1", "service.test", 1)
		}
		if got := f.deliver(srv.URL, p); got != 200 {
			t.Fatalf("%s: %d", id, got)
		}
		return <-planErrs
	}
	// The allowed name resolves to loopback and is reached; the plan's redirect to the
	// blob host on loopback (not named) is refused at dial time.
	for id, blobHost := range map[string]string{"taskrs-loop": "127.0.0.1", "taskrs-rebound": "rebound.test", "taskrs-meta": "metadata.test", "taskrs-mapped": "[::ffff:127.0.0.1]"} {
		err := deliver(id, blobHost)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: plan fetch = %v, want ErrForbiddenAddress", id, err)
		}
		if cb := f.waitFinal(); cb.TaskResultID != id {
			t.Errorf("the final callback to the allowed host did not land: %+v", cb)
		}
	}
	if n := f.blobHits.Load(); n != 0 {
		t.Errorf("the blob host was reached %d times", n)
	}
	// Naming the blob host opens it.
	_, named := newTestReceiver(t, f, check, WithAllowedHosts("service.test:"+apiPort, "127.0.0.1"), withLookup(names), WithHeartbeat(0))
	srv = named
	if err := deliver("taskrs-named", "127.0.0.1"); err != nil || f.blobHits.Load() != 1 {
		t.Errorf("blob host on the allow-list: %v, %d hits", err, f.blobHits.Load())
	}
	f.waitFinal()
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("a refused connection was retried:\n%s", logs.String())
	}
}

// TestDialGuardWithoutAllowList: with InsecureAllowAnyServiceHost, a signed delivery
// naming loopback is accepted, but nothing connects there: no callback, no token sent.
func TestDialGuardWithoutAllowList(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	var logs syncbuf.Buffer
	r, err := NewReceiver(passCheck, WithHMACKeys(f.key), InsecureAllowAnyServiceHost(), InsecureAllowHTTP(),
		WithCallbackRetryPolicy(fastRetries), WithHeartbeat(0), WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	for _, host := range []string{f.host(), "[::1]:1", "169.254.169.254", "[::ffff:7f00:1]:" + strings.Split(f.host(), ":")[1]} {
		p := f.request("taskrs-"+host, StagePrePlan, false)
		p["task_result_callback_url"] = "http://" + host + "/api/v2/task-results/x/callback"
		p["configuration_version_download_url"] = nil
		if got := f.deliver(srv.URL, p); got != 200 {
			t.Errorf("%s: %d", host, got)
		}
	}
	srv.Close()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.apiHits.Load(); n != 0 {
		t.Errorf("the loopback service was called %d times", n)
	}
	if c := strings.Count(logs.String(), "refusing to connect"); c != 4 {
		t.Errorf("%d refusals logged, want 4:\n%s", c, logs.String())
	}
}

// TestReceiverRefusesRedirectToHTTP: without InsecureAllowHTTP, a redirect to plain
// http is not followed.
func TestReceiverRefusesRedirectToHTTP(t *testing.T) {
	r := &Receiver{}
	req := httptest.NewRequest(http.MethodGet, "http://blob.example/x", nil)
	if err := r.checkRedirect(req, []*http.Request{req}); !errors.Is(err, errInsecureRedirect) || !refusedByPolicy(err) {
		t.Errorf("redirect to http: %v", err)
	}
	r.allowHTTP = true
	if err := r.checkRedirect(req, []*http.Request{req}); err != nil {
		t.Errorf("redirect to http with InsecureAllowHTTP: %v", err)
	}
	if err := r.checkRedirect(req, make([]*http.Request, 10)); !errors.Is(err, errTooManyRedirects) {
		t.Errorf("eleventh redirect: %v", err)
	}
}

// TestMalformedLocationIsRedacted: net/http quotes a Location header it cannot parse
// in its error; the signed URL in it reaches neither the error nor the logs.
func TestMalformedLocationIsRedacted(t *testing.T) {
	f := newFakeService(t, testHMACKey)
	f.planLocation = "http://[::1/v1/object/plan-signed-SECRET-SIG"
	errs := make(chan error, 1)
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, srv := newTestReceiver(t, f, func(ctx context.Context, d *Delivery) (TaskResultUpdate, error) {
		_, err := d.Plan(ctx)
		errs <- err
		return TaskResultUpdate{}, err
	}, WithReceiverLogger(logger), WithHeartbeat(0))
	f.deliver(srv.URL, f.request("taskrs-loc", StagePostPlan, false))
	err := <-errs
	f.waitFinal()
	if err == nil || !strings.Contains(err.Error(), "Location header is not a valid URL") {
		t.Errorf("error %v", err)
	}
	assertNoSecrets(t, "error and logs", errText(err)+logs.String(), "SECRET-SIG", "plan-signed")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRedactNetHTTPError(t *testing.T) {
	secret := errors.New(`Get "https://blob.example/v1/object/SIG": context canceled`)
	wrapped := &net.OpError{Op: "dial", Err: &withheldError{kind: context.Canceled}}
	for _, tt := range []struct {
		in   error
		want string
		is   error
	}{
		{errors.New("dial tcp 10.0.0.1:443: connect: connection refused"), "connection refused", nil},
		{errors.New(`failed to parse Location header "http://x/SIG%zz": invalid URL escape`), "Location header is not a valid URL", nil},
		{secret, "details withheld", nil},
		{errors.Join(secret, context.DeadlineExceeded), "deadline exceeded (details withheld", context.DeadlineExceeded},
		{wrapped, "canceled", context.Canceled},
	} {
		got := redactNetHTTPError(tt.in)
		if !strings.Contains(got.Error(), tt.want) || strings.Contains(got.Error(), "SIG") {
			t.Errorf("%v → %v", tt.in, got)
		}
		if tt.is != nil && !errors.Is(got, tt.is) {
			t.Errorf("%v lost %v", got, tt.is)
		}
	}
}
