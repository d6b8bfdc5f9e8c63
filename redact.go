package tfc

import (
	"context"
	"errors"
	"strings"
)

// net/http builds some transport errors with a URL in their text: a Location header it
// cannot parse is quoted whole ("failed to parse Location header ..."), and a nested
// *url.Error repeats its URL. After a redirect that URL may be a signed blob URL, so
// such text never reaches an error string or a log line.

// errMalformedLocation replaces net/http's error for a Location header it cannot parse.
var errMalformedLocation = errors.New("a redirect's Location header is not a valid URL")

// withheldError stands for a transport error whose text named a URL. It keeps the
// context errors and the receiver's refusals matchable with errors.Is.
type withheldError struct{ kind error }

func (e *withheldError) Error() string {
	if e.kind != nil {
		return e.kind.Error() + " (details withheld: they named a URL)"
	}
	return "transport error (details withheld: they named a URL)"
}

func (e *withheldError) Unwrap() error { return e.kind }

// redactNetHTTPError returns err unchanged unless its text could carry a URL; then it
// returns an error that says what went wrong without it.
func redactNetHTTPError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Location header"):
		return errMalformedLocation
	case !strings.Contains(msg, "://"):
		return err
	}
	for _, kind := range []error{context.Canceled, context.DeadlineExceeded, ErrForbiddenAddress, errInsecureRedirect, errTooManyRedirects} {
		if errors.Is(err, kind) {
			return &withheldError{kind: kind}
		}
	}
	return &withheldError{}
}
