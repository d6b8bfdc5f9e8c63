package printguard

import (
	"fmt"
	"testing"
)

type hidden struct{ token string }

func (h hidden) String() string                { return "hidden" }
func (h hidden) GoString() string              { return "printguard.hidden{…}" }
func (h hidden) Format(f fmt.State, verb rune) { Format(f, verb, h) }

type plain struct{ token string }

func (p plain) String() string                { return "plain" }
func (p plain) Format(f fmt.State, verb rune) { Format(f, verb, p) }

func TestEveryVerbSeesOnlyString(t *testing.T) {
	for _, tt := range []struct {
		format string
		value  any
		want   string
	}{
		{"%v", hidden{"tok"}, "hidden"},
		{"%+v", hidden{"tok"}, "hidden"},
		{"%#v", hidden{"tok"}, "printguard.hidden{…}"},
		{"%#v", plain{"tok"}, `"plain"`},
		{"%s", hidden{"tok"}, "hidden"},
		{"%8s|", hidden{"tok"}, "  hidden|"},
		{"%-8s|", hidden{"tok"}, "hidden  |"},
		{"%.3s", hidden{"tok"}, "hid"},
		{"%q", hidden{"tok"}, `"hidden"`},
		{"%x", hidden{"tok"}, "68696464656e"},
		{"%d", hidden{"tok"}, "%!d(printguard.hidden=hidden)"},
		{"%t", &hidden{"tok"}, "%!t(printguard.hidden=hidden)"},
		{"%v", struct{ H hidden }{hidden{"tok"}}, "{hidden}"},
		{"%d", struct{ H hidden }{hidden{"tok"}}, "{%!d(printguard.hidden=hidden)}"},
	} {
		if got := fmt.Sprintf(tt.format, tt.value); got != tt.want {
			t.Errorf("Sprintf(%q, %T) = %q, want %q", tt.format, tt.value, got, tt.want)
		}
	}
}
