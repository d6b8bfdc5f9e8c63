package tfc

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/tfkit/tfc/internal/printguard"
)

// Secret is a string that must not leak: an API token, a run task access token, an
// HMAC key. It prints as "[redacted]" with fmt (%v, %s, %q, %#v), in slog, and when
// marshalled to JSON, so that logging a struct that holds one (slog's JSON handler
// marshals it) cannot reveal it. It unmarshals from JSON normally. tfc puts the real
// value on the wire itself; convert with string(s) to use it deliberately.
type Secret string

const redacted = "[redacted]"

// String returns "[redacted]" (or "" for an empty secret, so that its absence shows).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("tfc.Secret(%q)", s.String()) }

// Format prints String (GoString for %#v) whatever the verb, so that %d or %t cannot
// print the value in fmt's bad-verb form.
func (s Secret) Format(f fmt.State, verb rune) { printguard.Format(f, verb, s) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes "[redacted]" (or "" for an empty secret).
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// wireSecret is a secret inside a request body being built. It prints redacted like
// Secret, but marshals to its value, which the body must carry. Only request bodies
// hold it; nothing decodes into it.
type wireSecret string

func (s wireSecret) String() string                { return Secret(s).String() }
func (s wireSecret) GoString() string              { return Secret(s).GoString() }
func (s wireSecret) Format(f fmt.State, verb rune) { printguard.Format(f, verb, s) }
func (s wireSecret) LogValue() slog.Value          { return Secret(s).LogValue() }
func (s wireSecret) MarshalJSON() ([]byte, error)  { return json.Marshal(string(s)) }

// reveal turns a Nullable[Secret] into the Nullable[wireSecret] that goes on the wire.
func reveal(n Nullable[Secret]) Nullable[wireSecret] {
	return Nullable[wireSecret]{value: wireSecret(n.value), state: n.state}
}

// Ptr returns a pointer to v, for optional fields in options structs:
// Enabled: tfc.Ptr(false).
func Ptr[T any](v T) *T { return &v }

// Nullable is an update field that can be left out, set to a value, or set to null (to
// clear it): Description: tfc.Set("…"), AgentPoolID: tfc.Null[string](). The zero value
// is left out of the request body.
type Nullable[T any] struct {
	value T
	state nullableState
}

type nullableState uint8

const (
	nullableUnset nullableState = iota
	nullableValue
	nullableNull
)

// Set returns a Nullable holding v.
func Set[T any](v T) Nullable[T] { return Nullable[T]{value: v, state: nullableValue} }

// Null returns a Nullable that sends null.
func Null[T any]() Nullable[T] { return Nullable[T]{state: nullableNull} }

// IsZero reports whether n is unset; with the omitzero tag it keeps n out of the body.
func (n Nullable[T]) IsZero() bool { return n.state == nullableUnset }

// IsNull reports whether n sends null.
func (n Nullable[T]) IsNull() bool { return n.state == nullableNull }

// Get returns the value and whether n holds one.
func (n Nullable[T]) Get() (T, bool) { return n.value, n.state == nullableValue }

// MarshalJSON writes the value, or null when n is null or unset.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if n.state != nullableValue {
		return []byte("null"), nil
	}
	return json.Marshal(n.value)
}

// String formats the value (through its own String method, so a Nullable[Secret] stays
// redacted), "null" or "unset".
func (n Nullable[T]) String() string {
	switch n.state {
	case nullableValue:
		return fmt.Sprint(n.value)
	case nullableNull:
		return "null"
	}
	return "unset"
}

// GoString is String, so that %#v cannot reach the value around its String method.
func (n Nullable[T]) GoString() string { return n.String() }

// Format prints String whatever the verb, so that no verb reaches the value around it.
func (n Nullable[T]) Format(f fmt.State, verb rune) { printguard.Format(f, verb, n) }
