// Package jsonscan is a small pull decoder for JSON held in memory. tfc decodes its
// most frequent documents (list pages, included resources) with it, field by field,
// instead of through encoding/json's reflection: several times faster and with a
// fraction of the allocations. The wire structs keep their encoding/json tags, and the
// tests hold both decoders to the same results.
//
// A Decoder reads one value at a time. Errors are sticky: after the first, every
// method returns a zero value, so decoding code checks Err once at the end. The
// accepted language is RFC 8259 JSON, validated as it is read, with encoding/json's
// treatment of invalid UTF-8 (replaced by U+FFFD) and a nesting limit.
package jsonscan

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting, as encoding/json does, so hostile input cannot exhaust the
// stack or memory.
const MaxDepth = 10000

// Decoder reads JSON values from a byte slice.
type Decoder struct {
	data  []byte
	pos   int
	err   error
	depth int
	first bool   // the object or array just opened has had no member yet
	key   []byte // the current object key (may alias data or scratch)
	// scratch holds unescaped keys.
	scratch []byte
}

// Reset makes d read data from the start.
func (d *Decoder) Reset(data []byte) {
	*d = Decoder{data: data, scratch: d.scratch[:0]}
}

// Err returns the first error, if any.
func (d *Decoder) Err() error { return d.err }

// Fail records err (with the offset) unless an error is already recorded.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = &SyntaxError{Offset: d.pos, Err: err}
	}
}

// SyntaxError is a decoding error at a byte offset.
type SyntaxError struct {
	Offset int
	Err    error
}

// Error returns the problem with its byte offset.
func (e *SyntaxError) Error() string { return fmt.Sprintf("json: %v at offset %d", e.Err, e.Offset) }

// Unwrap returns the problem without the offset.
func (e *SyntaxError) Unwrap() error { return e.Err }

var (
	errUnexpectedEnd = errors.New("unexpected end of input")
	errTooDeep       = errors.New("exceeded max depth")
	errTrailing      = errors.New("invalid data after top-level value")
)

func (d *Decoder) failf(format string, args ...any) {
	d.Fail(fmt.Errorf(format, args...))
}

func (d *Decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end.
func (d *Decoder) peek() byte {
	d.ws()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// Peek returns the first byte of the next value without reading it ('{', '[', '"',
// 't', 'f', 'n', '-' or a digit), or 0 at the end of the input or after an error.
func (d *Decoder) Peek() byte {
	if d.err != nil {
		return 0
	}
	return d.peek()
}

// failNoValue records why no value starts where peek returned 0: the input ended, or
// it holds a NUL byte, which peek cannot tell apart from the end by itself.
func (d *Decoder) failNoValue() {
	if d.pos >= len(d.data) {
		d.Fail(errUnexpectedEnd)
		return
	}
	d.failf("invalid character %q", d.data[d.pos])
}

// End checks that nothing but whitespace follows the value read.
func (d *Decoder) End() error {
	if d.err == nil {
		if d.ws(); d.pos < len(d.data) {
			d.Fail(errTrailing)
		}
	}
	return d.err
}

// Null consumes a null and reports whether it was one.
func (d *Decoder) Null() bool {
	if d.err != nil || d.peek() != 'n' {
		return false
	}
	d.literal("null")
	return d.err == nil
}

func (d *Decoder) literal(lit string) {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		d.failf("invalid literal")
		return
	}
	d.pos += len(lit)
}

func (d *Decoder) enter() bool {
	d.depth++
	if d.depth > MaxDepth {
		d.Fail(errTooDeep)
		return false
	}
	return true
}

// Object starts an object value. It returns false for null (consumed) and on error,
// and true when members follow, to be read with More.
func (d *Decoder) Object() bool {
	switch d.peek() {
	case '{':
		if !d.enter() {
			return false
		}
		d.pos++
		d.first = true
		return true
	case 'n':
		d.Null()
		return false
	case 0:
		d.failNoValue()
	default:
		d.failf("expected an object")
	}
	return false
}

// More reads the next member's key (see Key) and its colon, or the closing brace, in
// which case it returns false. The caller must read or Skip the member's value.
func (d *Decoder) More() bool {
	if d.err != nil {
		return false
	}
	c := d.peek()
	switch {
	case c == '}':
		d.pos++
		d.depth--
		d.first = false
		return false
	case d.first:
		d.first = false
	case c == ',':
		d.pos++
		c = d.peek()
	default:
		d.failf("expected , or }")
		return false
	}
	if c != '"' {
		d.failf("expected a string key")
		return false
	}
	k, ok := d.rawString(true)
	if !ok {
		return false
	}
	d.key = k
	if d.peek() != ':' {
		d.failf("expected :")
		return false
	}
	d.pos++
	return true
}

// Key is the key of the member More just read. It is valid until the next call.
func (d *Decoder) Key() []byte { return d.key }

// Array starts an array value. It returns false for null (consumed) and on error, and
// true when elements follow, to be read with Next.
func (d *Decoder) Array() bool {
	switch d.peek() {
	case '[':
		if !d.enter() {
			return false
		}
		d.pos++
		d.first = true
		return true
	case 'n':
		d.Null()
		return false
	case 0:
		d.failNoValue()
	default:
		d.failf("expected an array")
	}
	return false
}

// Next moves to the next element (which the caller must read or Skip), or consumes
// the closing bracket and returns false.
func (d *Decoder) Next() bool {
	if d.err != nil {
		return false
	}
	c := d.peek()
	switch {
	case c == ']':
		d.pos++
		d.depth--
		d.first = false
		return false
	case d.first:
		d.first = false
		return true
	case c == ',':
		d.pos++
		if d.peek() == ']' {
			d.failf("expected a value after ,")
			return false
		}
		return true
	case c == 0:
		d.Fail(errUnexpectedEnd)
	default:
		d.failf("expected , or ]")
	}
	return false
}

// String reads a string (copied); null leaves "" (as encoding/json leaves a string
// unchanged).
func (d *Decoder) String() string {
	b, ok := d.StringBytes()
	if !ok {
		return ""
	}
	return string(b)
}

// StringBytes reads a string without copying when it has no escapes; the bytes are
// valid until the next call. ok is false for null and on error.
func (d *Decoder) StringBytes() ([]byte, bool) {
	switch d.peek() {
	case '"':
		return d.rawString(false)
	case 'n':
		d.Null()
	case 0:
		d.failNoValue()
	default:
		d.failf("expected a string")
	}
	return nil, false
}

// rawString reads the string at pos (which is '"'), unescaping into scratch when
// needed. Invalid UTF-8 becomes U+FFFD, as with encoding/json.
func (d *Decoder) rawString(isKey bool) ([]byte, bool) {
	start := d.pos + 1
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			s := d.data[start:i]
			d.pos = i + 1
			if !utf8.Valid(s) {
				return d.fixUTF8(s), true
			}
			return s, true
		case c == '\\':
			return d.unescape(start, isKey)
		case c < 0x20:
			d.pos = i
			d.failf("invalid control character in string")
			return nil, false
		}
		i++
	}
	d.pos = len(d.data)
	d.Fail(errUnexpectedEnd)
	return nil, false
}

func (d *Decoder) fixUTF8(s []byte) []byte {
	out := d.scratch[:0]
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		out = utf8.AppendRune(out, r) // RuneError for invalid bytes
		s = s[size:]
	}
	d.scratch = out
	return out
}

// unescape decodes a string with escapes, starting at start (after the quote).
func (d *Decoder) unescape(start int, _ bool) ([]byte, bool) {
	out := d.scratch[:0]
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = out
			return out, true
		case c < 0x20:
			d.pos = i
			d.failf("invalid control character in string")
			return nil, false
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = len(d.data)
				d.Fail(errUnexpectedEnd)
				return nil, false
			}
			e := d.data[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4(i)
				if !ok {
					return nil, false
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := unicode_ReplacementChar
					if i+6 <= len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						if lo, ok := d.hex4(i + 2); ok {
							if dec := utf16.DecodeRune(r, lo); dec != unicode_ReplacementChar {
								r2 = dec
								i += 6
							}
						} else {
							return nil, false
						}
					}
					r = r2
				}
				out = utf8.AppendRune(out, r)
			default:
				d.pos = i - 1
				d.failf("invalid escape")
				return nil, false
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			out = utf8.AppendRune(out, r)
			i += size
		}
	}
	d.pos = len(d.data)
	d.Fail(errUnexpectedEnd)
	return nil, false
}

const unicode_ReplacementChar = utf8.RuneError

func (d *Decoder) hex4(i int) (rune, bool) {
	if i+4 > len(d.data) {
		d.pos = len(d.data)
		d.Fail(errUnexpectedEnd)
		return 0, false
	}
	var r rune
	for _, c := range d.data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			d.pos = i
			d.failf("invalid \\u escape")
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Bool reads true or false; null leaves false.
func (d *Decoder) Bool() bool {
	switch d.peek() {
	case 't':
		d.literal("true")
		return d.err == nil
	case 'f':
		d.literal("false")
	case 'n':
		d.Null()
	case 0:
		d.failNoValue()
	default:
		d.failf("expected a boolean")
	}
	return false
}

// Int reads an integer that fits in int64; null leaves 0. A number with a fraction or
// exponent is an error, as it is for an int field in encoding/json.
func (d *Decoder) Int() int64 {
	c := d.peek()
	if c == 'n' {
		d.Null()
		return 0
	}
	start := d.pos
	n, ok, why := d.integer()
	if !ok && why != "" {
		d.pos = start
		d.failf("%s", why)
	}
	return n
}

// TryInt reads a number and reports whether it is an integer that fits in int64. A
// well-formed number that is not one (a fraction, an exponent, too large) is read and
// reported with ok false, without an error; malformed input is still an error.
func (d *Decoder) TryInt() (n int64, ok bool) {
	if d.err != nil {
		return 0, false
	}
	d.ws()
	n, ok, _ = d.integer()
	return n, ok
}

// integer reads a number at pos. When it is well formed but not an int64, ok is false
// and why says what it is; when it is malformed, the error is recorded and why is "".
func (d *Decoder) integer() (n int64, ok bool, why string) {
	start := d.pos
	end, isInt, valid := d.number()
	if !valid {
		return 0, false, ""
	}
	if !isInt {
		return 0, false, "expected an integer"
	}
	b := d.data[start:end]
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var u uint64
	for _, c := range b {
		if u > (math.MaxUint64-9)/10 {
			return 0, false, "integer overflows int64"
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u > 1<<63, !neg && u > math.MaxInt64:
		return 0, false, "integer overflows int64"
	case neg:
		return -int64(u), true, ""
	}
	return int64(u), true, ""
}

// number validates a number at pos and moves past it.
func (d *Decoder) number() (end int, isInt, ok bool) {
	i := d.pos
	n := len(d.data)
	if i < n && d.data[i] == '-' {
		i++
	}
	switch {
	case i < n && d.data[i] == '0':
		i++
	case i < n && d.data[i] >= '1' && d.data[i] <= '9':
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
	default:
		if i >= n {
			d.pos = n
			d.Fail(errUnexpectedEnd)
		} else {
			d.failf("invalid number")
		}
		return 0, false, false
	}
	isInt = true
	if i < n && d.data[i] == '.' {
		isInt = false
		i++
		if i >= n || d.data[i] < '0' || d.data[i] > '9' {
			d.pos = i
			d.failf("invalid number")
			return 0, false, false
		}
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
	}
	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		isInt = false
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if i >= n || d.data[i] < '0' || d.data[i] > '9' {
			d.pos = i
			d.failf("invalid number")
			return 0, false, false
		}
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return i, isInt, true
}

// Time reads an RFC 3339 time string as time.Time.UnmarshalJSON does; null leaves the
// zero time.
func (d *Decoder) Time() time.Time {
	c := d.peek()
	if c == 'n' {
		d.Null()
		return time.Time{}
	}
	raw := d.Raw()
	if d.err != nil {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalJSON(raw); err != nil {
		d.Fail(err)
		return time.Time{}
	}
	return t
}

// Raw reads any value and returns its bytes (a subslice of the input).
func (d *Decoder) Raw() []byte {
	d.ws()
	start := d.pos
	d.Skip()
	if d.err != nil {
		return nil
	}
	return d.data[start:d.pos]
}

// Skip reads and validates any value without keeping it.
func (d *Decoder) Skip() {
	switch c := d.peek(); c {
	case '{':
		if d.Object() {
			for d.More() {
				d.Skip()
			}
		}
	case '[':
		if d.Array() {
			for d.Next() {
				d.Skip()
			}
		}
	case '"':
		d.rawString(false)
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	case 0:
		d.failNoValue()
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			d.number()
			return
		}
		d.failf("invalid character %q looking for a value", c)
	}
}
