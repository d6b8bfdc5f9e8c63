package tfc

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tfkit/tfc/internal/syncbuf"
)

const testHMACKey Secret = "hmac-key-Zm9vYmFyYmF6"

// newTestReceiver serves a receiver for f's deliveries: f's API host allowed, plain
// http allowed (the fake is an httptest server), and its own client (with the dial
// guard) retrying fast. opts come after these and may override them.
func newTestReceiver(t *testing.T, f *fakeService, check CheckFunc, opts ...ReceiverOption) (*Receiver, *httptest.Server) {
	t.Helper()
	base := []ReceiverOption{WithHMACKeys(f.key), WithAllowedHosts(f.host()), InsecureAllowHTTP(), WithCallbackRetryPolicy(fastRetries)}
	r, err := NewReceiver(check, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r, srv
}

func passCheck(context.Context, *Delivery) (TaskResultUpdate, error) { return Passed("ok"), nil }

// TestNewReceiverSafeDefaults: a receiver does not start without keys (or the
// unsigned opt-in), without an allow-list (or the loudly named opt-out), or unsigned
// without an allow-list; contradictory and invalid options are refused.
func TestNewReceiverSafeDefaults(t *testing.T) {
	hosts := WithAllowedHosts("app.terraform.io")
	tests := []struct {
		name  string
		check CheckFunc
		opts  []ReceiverOption
		want  string // "" for success
	}{
		{"nothing", passCheck, nil, "HMAC keys"},
		{"no keys", passCheck, []ReceiverOption{hosts}, "HMAC keys"},
		{"empty key list", passCheck, []ReceiverOption{WithHMACKeys(), hosts}, "HMAC keys"},
		{"empty key", passCheck, []ReceiverOption{WithHMACKeys(""), hosts}, "HMAC keys"},
		{"nil check", nil, []ReceiverOption{WithHMACKeys("k"), hosts}, "check"},
		{"no allow-list", passCheck, []ReceiverOption{WithHMACKeys("k")}, "InsecureAllowAnyServiceHost"},
		{"unsigned without allow-list", passCheck, []ReceiverOption{AllowUnsignedDeliveries()}, "unsigned deliveries need WithAllowedHosts"},
		{"unsigned with the opt-out", passCheck, []ReceiverOption{AllowUnsignedDeliveries(), InsecureAllowAnyServiceHost()}, "unsigned deliveries need WithAllowedHosts"},
		{"list and opt-out", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts, InsecureAllowAnyServiceHost()}, "contradict"},
		{"empty list", passCheck, []ReceiverOption{WithHMACKeys("k"), WithAllowedHosts()}, "at least one host"},
		{"URL in list", passCheck, []ReceiverOption{WithHMACKeys("k"), WithAllowedHosts("https://app.terraform.io/")}, "host names"},
		{"body over the pending bound", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts, WithMaxPending(10, 1<<10)}, "pending byte bound"},
		{"bad retry policy", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts, WithCallbackRetryPolicy(RetryPolicy{MaxRetries: 1})}, "MinWait"},
		{"zero plan cap", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts, WithMaxPlanBytes(0)}, "max plan bytes"},
		{"negative grace", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts, WithShutdownGrace(-time.Second)}, "shutdown grace"},
		{"zero in flight", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts, WithMaxInFlight(0)}, "max in flight"},

		{"signed, listed", passCheck, []ReceiverOption{WithHMACKeys("k"), hosts}, ""},
		{"signed, opt-out", passCheck, []ReceiverOption{WithHMACKeys("k"), InsecureAllowAnyServiceHost()}, ""},
		{"unsigned, listed", passCheck, []ReceiverOption{AllowUnsignedDeliveries(), hosts, InsecureAllowHTTP()}, ""},
	}
	for _, tt := range tests {
		r, err := NewReceiver(tt.check, tt.opts...)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (!errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one about %q", tt.name, err, tt.want)
		}
		if r != nil {
			_ = r.Shutdown(context.Background())
		}
	}
}

// TestNewReceiverWarnsAboutOptOuts: the insecure opt-outs say so in the log.
func TestNewReceiverWarnsAboutOptOuts(t *testing.T) {
	var logs syncbuf.Buffer
	r, err := NewReceiver(passCheck, WithHMACKeys("k"), InsecureAllowAnyServiceHost(), InsecureAllowHTTP(),
		WithReceiverLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	for _, want := range []string{"InsecureAllowAnyServiceHost", "InsecureAllowHTTP"} {
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), want) {
			t.Errorf("no warning about %s:\n%s", want, logs.String())
		}
	}
}
