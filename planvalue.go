package tfc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tfkit/tfc/internal/printguard"
)

// Value is an attribute of a resource change, from Change.Before or Change.After:
// present or absent, known or known only after apply, sensitive or not.
//
// Its accessors return sensitive values as they are in the plan (a check may need to
// judge them); String, which is what fmt, slog and messages use, never shows them: it
// prints "(sensitive value)" in their place and "(known after apply)" for unknown
// values, as Terraform does.
type Value struct {
	raw       any  // decoded JSON: map[string]any, []any, string, float64 or json.Number, bool or nil
	exists    bool // the path is in the object (or is unknown, which the object leaves out)
	unknown   any  // the matching part of after_unknown: true, an object or array of marks, or nil
	sensitive any  // the matching part of before_sensitive or after_sensitive, likewise
}

// Get returns the part of v at path: each step is an attribute or map key (string)
// or a list, set or tuple index (int). A step of any other type, a key that is not
// there or an index out of range gives a Value that does not exist. Every part of an
// unknown value is unknown, and every part of a sensitive value is sensitive.
func (v Value) Get(path ...any) Value {
	for _, step := range path {
		if !v.exists {
			return Value{}
		}
		if isTrue(v.unknown) {
			// Every part of an unknown value is unknown; its sensitivity is still read
			// from the marks, which may name a part of it.
			v = Value{exists: true, unknown: true, sensitive: markAt(v.sensitive, step)}
			continue
		}
		var next Value
		switch s := step.(type) {
		case string:
			m, _ := v.raw.(map[string]any)
			next.raw, next.exists = m[s]
		case int:
			if l, _ := v.raw.([]any); s >= 0 && s < len(l) {
				next.raw, next.exists = l[s], true
			}
		default:
			return Value{}
		}
		next.unknown = markAt(v.unknown, step)
		next.sensitive = markAt(v.sensitive, step)
		if isTrue(next.unknown) {
			next.exists = true // Terraform leaves unknown attributes out of "after"
		}
		v = next
	}
	return v
}

// Exists reports whether the change has a value at this path: an attribute that is
// set (null included) or that is unknown until apply.
func (v Value) Exists() bool { return v.exists }

// Unknown reports whether the value is known only after apply (after_unknown). Parts
// of a known object or list may still be unknown: Get them to ask.
func (v Value) Unknown() bool { return v.exists && isTrue(v.unknown) }

// Known reports whether the value exists and is known now.
func (v Value) Known() bool { return v.exists && !isTrue(v.unknown) }

// Sensitive reports whether the value is marked sensitive (before_sensitive or
// after_sensitive). Parts of an object or list that is not sensitive as a whole may
// be: Get them to ask.
func (v Value) Sensitive() bool { return v.exists && isTrue(v.sensitive) }

// Null reports whether the value is known and null.
func (v Value) Null() bool { return v.Known() && v.raw == nil }

// Raw returns the value as decoded from JSON (map[string]any, []any, string,
// float64 or json.Number, bool), nil when it is null, unknown or absent. Sensitive
// values are returned as they are.
func (v Value) Raw() any {
	if !v.Known() {
		return nil
	}
	return v.raw
}

// AsString returns the value if it is a known string.
func (v Value) AsString() (string, bool) {
	s, ok := v.Raw().(string)
	return s, ok
}

// AsBool returns the value if it is a known boolean.
func (v Value) AsBool() (bool, bool) {
	b, ok := v.Raw().(bool)
	return b, ok
}

// AsNumber returns the value if it is a known number.
func (v Value) AsNumber() (float64, bool) {
	switch n := v.Raw().(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// AsInt returns the value if it is a known whole number that fits in an int64.
func (v Value) AsInt() (int64, bool) {
	switch n := v.Raw().(type) {
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// Len returns the number of elements of a known list or attributes of a known
// object, and 0 for anything else.
func (v Value) Len() int {
	switch x := v.Raw().(type) {
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	return 0
}

// String renders the value for people: a string as it is, anything else as JSON,
// with "(sensitive value)" in place of sensitive parts, "(known after apply)" in
// place of unknown ones, and "(absent)" when there is no value.
func (v Value) String() string {
	if s, ok := v.AsString(); ok && !v.Sensitive() {
		return s
	}
	var b strings.Builder
	v.write(&b)
	return b.String()
}

// GoString is String, so that %#v cannot print a sensitive value either.
func (v Value) GoString() string { return "tfc.Value(" + v.String() + ")" }

// Format prints String (GoString for %#v) whatever the verb, so that no verb reaches
// a sensitive value.
func (v Value) Format(f fmt.State, verb rune) { printguard.Format(f, verb, v) }

// LogValue logs String.
func (v Value) LogValue() slog.Value { return slog.StringValue(v.String()) }

func (v Value) write(b *strings.Builder) {
	switch {
	case !v.exists:
		b.WriteString("(absent)")
		return
	case isTrue(v.unknown):
		b.WriteString("(known after apply)")
		return
	case isTrue(v.sensitive):
		b.WriteString("(sensitive value)")
		return
	}
	switch x := v.raw.(type) {
	case map[string]any:
		keys := slices.Collect(maps.Keys(x))
		if marks, ok := v.unknown.(map[string]any); ok {
			for k, m := range marks { // unknown attributes are left out of "after"
				if _, set := x[k]; !set && isTrue(m) {
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(k))
			b.WriteString(": ")
			v.Get(k).write(b)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			v.Get(i).write(b)
		}
		b.WriteByte(']')
	default:
		out, err := json.Marshal(x)
		if err != nil {
			b.WriteString("(unprintable value)")
			return
		}
		b.Write(out)
	}
}

// markAt is the part of an after_unknown or *_sensitive mark at one path step: a
// mark of true covers everything below it.
func markAt(mark any, step any) any {
	switch m := mark.(type) {
	case bool:
		return m
	case map[string]any:
		if s, ok := step.(string); ok {
			return m[s]
		}
	case []any:
		if i, ok := step.(int); ok && i >= 0 && i < len(m) {
			return m[i]
		}
	}
	return nil
}

func isTrue(x any) bool {
	b, ok := x.(bool)
	return ok && b
}
