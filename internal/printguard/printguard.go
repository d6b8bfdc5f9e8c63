// Package printguard keeps fmt from printing a value's fields around the String method
// that hides its secrets.
//
// fmt routes only %v, %s, %q, %x and %X to a String method (and %#v to GoString). Any
// other verb (%d, %t, %e…) prints a struct field by field and a string type as it is,
// and a bad verb's "%!d(T=…)" shows the raw value too. A type whose String redacts
// therefore also implements fmt.Formatter through Format, so that every verb sees
// only what String shows.
package printguard

import (
	"fmt"
	"io"
)

// Format writes s for fmt: GoString for %#v when s has one, String for the string
// verbs with the caller's flags, width and precision, and for any other verb fmt's
// own bad-verb form around String ("%!d(tfc.Job=tfc.Job(…))").
func Format(f fmt.State, verb rune, s fmt.Stringer) {
	switch verb {
	case 'v':
		if g, ok := s.(fmt.GoStringer); ok && f.Flag('#') {
			_, _ = io.WriteString(f, g.GoString())
			return
		}
		fallthrough
	case 's', 'q', 'x', 'X':
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
	default:
		_, _ = fmt.Fprintf(f, "%%!%c(%T=%s)", verb, s, s.String())
	}
}
