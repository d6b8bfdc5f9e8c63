package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// The decoders built on this package are compared with encoding/json document by
// document in the root package. These tests hold each scalar reader to encoding/json
// on its own, where the corner cases (escapes, surrogates, invalid UTF-8, number
// grammar, overflow) are easiest to read.

// scalarInputs are values of every kind, well and badly formed.
var scalarInputs = []string{
	// strings
	`""`, `"plain"`, `"tab\there"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`,
	`"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\u12"`, `"\uZZZZ"`, `"\x"`, `"a`,
	"\"\xff\xfe\"", "\"caf\xc3\"", "\"\xed\xa0\x80\"", "\"ctl\x01\"", `"\u0000"`, "\"\u2028\"",
	// numbers
	`0`, `-0`, `7`, `-42`, `01`, `-`, `1.`, `.5`, `1.5`, `1e3`, `1E+3`, `1e`, `2e-1`, `+1`,
	`9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `-9223372036854775809`,
	`18446744073709551616`, `99999999999999999999999`,
	// literals and others
	`true`, `false`, `null`, `tru`, `nul`, `True`, `[]`, `{}`, `[1,"x",{"a":null}]`, `{"a":1,}`,
	`[1,]`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `"2026-11-01T10:00:00Z"`,
	`"2026-11-01T10:00:00.123+02:00"`, `"2026-11-01"`, `"2026-13-01T10:00:00Z"`, ``, `   `,
	` "padded" `, `"x" "y"`, `1 2`,
}

// read runs f on a fresh decoder over in and reports whether it and End succeeded.
func read(in string, f func(*Decoder)) bool {
	var d Decoder
	d.Reset([]byte(in))
	f(&d)
	if d.Err() != nil {
		return false
	}
	return d.End() == nil
}

// compareScalars checks String, Int, Bool, Time and Skip on in against encoding/json.
func compareScalars(t *testing.T, in string) {
	t.Helper()
	compareReader(t, "String", in, (*Decoder).String, same[string])
	compareReader(t, "Int", in, (*Decoder).Int, same[int64])
	compareReader(t, "Bool", in, (*Decoder).Bool, same[bool])
	compareReader(t, "Time", in, (*Decoder).Time, time.Time.Equal)
	compareTryInt(t, in)

	var raw []byte
	ok := read(in, func(d *Decoder) { raw = d.Raw() })
	if ok != json.Valid([]byte(in)) {
		t.Errorf("Raw(%q) ok %v; json.Valid %v", in, ok, json.Valid([]byte(in)))
	}
	if ok && strings.TrimSpace(string(raw)) != strings.TrimSpace(in) {
		t.Errorf("Raw(%q) = %q", in, raw)
	}
}

// compareReader reads in with one reader and with encoding/json into the reader's type:
// both must accept or refuse it, and agree on the value.
func compareReader[T any](t *testing.T, name, in string, reader func(*Decoder) T, equal func(T, T) bool) {
	t.Helper()
	var want T
	wantErr := json.Unmarshal([]byte(in), &want)
	var got T
	ok := read(in, func(d *Decoder) { got = reader(d) })
	if ok != (wantErr == nil) || (ok && !equal(got, want)) {
		t.Errorf("%s(%q) = %v, ok %v; encoding/json %v, %v", name, in, got, ok, want, wantErr)
	}
}

func same[T comparable](a, b T) bool { return a == b }

// compareTryInt checks TryInt on numbers: a well-formed number is read without error,
// and ok is true exactly when encoding/json decodes it into an int64, with the same
// value; malformed input is an error as in Int.
func compareTryInt(t *testing.T, in string) {
	t.Helper()
	trimmed := strings.TrimSpace(in)
	if trimmed == "" || (trimmed[0] != '-' && (trimmed[0] < '0' || trimmed[0] > '9')) {
		return // TryInt reads numbers only; its callers peek first
	}
	var want int64
	wantErr := json.Unmarshal([]byte(in), &want)
	var got int64
	var gotOK bool
	readOK := read(in, func(d *Decoder) { got, gotOK = d.TryInt() })
	var anyNumber json.Number
	wellFormed := json.Unmarshal([]byte(in), &anyNumber) == nil
	if readOK != wellFormed {
		t.Errorf("TryInt(%q) read without error: %v; well formed: %v", in, readOK, wellFormed)
	}
	if readOK && (gotOK != (wantErr == nil) || (gotOK && got != want)) {
		t.Errorf("TryInt(%q) = %d, %v; encoding/json %d, %v", in, got, gotOK, want, wantErr)
	}
}

func TestScalarsMatchEncodingJSON(t *testing.T) {
	for _, in := range scalarInputs {
		compareScalars(t, in)
	}
}

// TestObjectKeys reads keys with escapes and checks that Key is the unescaped key and
// that members follow in order.
func TestObjectKeys(t *testing.T) {
	var d Decoder
	d.Reset([]byte(`{"plain":1, "esc\u0061ped":2, "a\"b":3, "":4}`))
	var keys []string
	var values []int64
	if !d.Object() {
		t.Fatal(d.Err())
	}
	for d.More() {
		keys = append(keys, string(d.Key()))
		values = append(values, d.Int())
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, "|") != `plain|escaped|a"b|` || len(values) != 4 || values[3] != 4 {
		t.Errorf("keys %q values %v", keys, values)
	}
}

// TestNullContainers: null is an absent object or array, consumed without error.
func TestNullContainers(t *testing.T) {
	var d Decoder
	d.Reset([]byte(`[null, null]`))
	if !d.Array() || !d.Next() || d.Object() || !d.Next() || d.Array() || d.Next() {
		t.Fatalf("null containers misread: %v", d.Err())
	}
	if err := d.End(); err != nil || d.Err() != nil {
		t.Fatalf("End %v, Err %v", err, d.Err())
	}
}

// TestErrorsAreStickyAndPlaced: the first error stays, names its offset, and every
// later read returns a zero value.
func TestErrorsAreStickyAndPlaced(t *testing.T) {
	var d Decoder
	d.Reset([]byte(`{"a":tru, "b":"x"}`))
	d.Object()
	d.More()
	d.Bool()
	first := d.Err()
	var se *SyntaxError
	if !errors.As(first, &se) || se.Offset != 5 {
		t.Fatalf("error %v, want a SyntaxError at offset 5", first)
	}
	if d.More() || d.String() != "" || d.Int() != 0 || d.Err() != first {
		t.Error("reads after an error returned values or replaced the error")
	}
}

// TestDepthLimit: nesting beyond MaxDepth is an error, as in encoding/json, and never
// a stack overflow.
func TestDepthLimit(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if read(deep, (*Decoder).Skip) {
		t.Error("nesting past MaxDepth was accepted")
	}
	if json.Valid([]byte(deep)) {
		t.Error("encoding/json accepts the nesting; MaxDepth no longer mirrors it")
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if !read(ok, (*Decoder).Skip) {
		t.Error("nesting of exactly MaxDepth was refused")
	}
}

// FuzzScalars holds every scalar reader and Skip to encoding/json on arbitrary input.
func FuzzScalars(f *testing.F) {
	for _, in := range scalarInputs {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		compareScalars(t, in)
	})
}
