package tfc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/tfkit/tfc/internal/jsonscan"
)

// The JSON:API envelopes, on encoding/json. Each resource file declares the wire form
// of its attributes and relationships and converts it to the public type, so the public
// types stay flat and no struct-tag reflection library is involved.

// document is a JSON:API top-level document whose primary data is D (a resource or a
// slice of resources).
type document[D any] struct {
	Data     D          `json:"data"`
	Included []included `json:"included,omitempty"`
	Meta     *docMeta   `json:"meta,omitempty"`
}

type docMeta struct {
	Pagination *Pagination `json:"pagination"`
}

// pagination returns the document's meta.pagination, or nil.
func (m *docMeta) pagination() *Pagination {
	if m == nil {
		return nil
	}
	return m.Pagination
}

// resource is a JSON:API resource object with attributes A and relationships R.
type resource[A, R any] struct {
	Type          string `json:"type"`
	ID            string `json:"id,omitempty"`
	Attributes    A      `json:"attributes"`
	Relationships R      `json:"relationships,omitzero"`
	Links         links  `json:"links,omitzero"`
}

// UnmarshalJSON decodes a resource as encoding/json does, except that its attributes go
// through unmarshalAttributes, so that one odd attribute does not fail the document.
func (r *resource[A, R]) UnmarshalJSON(data []byte) error {
	wire := struct {
		*resourceFields[A, R]
		Attributes lenientAttributes[A] `json:"attributes"` // hides the embedded field
	}{(*resourceFields[A, R])(r), lenientAttributes[A]{&r.Attributes}}
	return json.Unmarshal(data, &wire)
}

// resourceFields is resource without its UnmarshalJSON method.
type resourceFields[A, R any] resource[A, R]

// lenientAttributes decodes into *p with unmarshalAttributes.
type lenientAttributes[A any] struct{ p *A }

func (l lenientAttributes[A]) UnmarshalJSON(data []byte) error { return unmarshalAttributes(data, l.p) }

// Odd attributes. The service's documents, and above all the official samples the
// service is written against, hold values that do not fit the documented types: the
// run task samples print "enabled": "true". One such value must not fail a document,
// let alone a whole page, so attributes (at any depth inside a resource's "attributes"
// object) are read leniently:
//   - a boolean may be the string "true" or "false";
//   - any other value that does not fit its field is ignored and the field keeps its
//     zero value: a value of another JSON type (a string for a number, an object for
//     a string, …), an integer with a fraction or beyond int64, a string that is not
//     an RFC 3339 time for a time;
//   - null leaves a field alone and clears a pointer, a slice or a map, as ever.
//
// Everything else is as strict as before: malformed JSON, a document, resource,
// relationship, link or meta member of the wrong type, and an "attributes" member that
// is not an object (or null) fail the document. Both decoding paths behave alike: the
// attribute readers of decode.go on the fast path, unmarshalAttributes on the
// encoding/json path (new resources, included resources without a fast decoder).

// unmarshalAttributes decodes the attributes object data into v (a pointer to a
// struct) with encoding/json, then, if that failed on a value and not on the syntax,
// again member by member so that only the odd values are left out (see "Odd
// attributes"). Members decoded before the failure are decoded again, which leaves
// them as they were. A non-object data (null aside) is an error.
func unmarshalAttributes[T any](data []byte, v *T) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) || !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return err
	}
	applyMembers(v, nil, data)
	return nil
}

// applyMembers decodes each member of the object obj, found at path in the document,
// into v on its own, through applyMember.
func applyMembers[T any](v *T, path []string, obj []byte) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		return
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return
		}
		applyMember(v, append(path[:len(path):len(path)], key), raw)
	}
}

// applyMember decodes the document {path: raw} into v, unless raw does not fit: then a
// boolean string is read as the boolean, an object is opened and its members applied
// one by one, and a value encoding/json skips by itself (a type mismatch, also inside
// an array) is applied as encoding/json leaves it. A value a field's own decoder
// refuses (a time that does not parse) is left out.
func applyMember[T any](v *T, path []string, raw json.RawMessage) {
	doc := atPath(path, raw)
	var probe T
	err := json.Unmarshal(doc, &probe)
	var typeErr *json.UnmarshalTypeError
	isTypeErr := errors.As(err, &typeErr)
	switch {
	case err == nil:
		_ = json.Unmarshal(doc, v)
	case isTypeErr && typeErr.Type != nil && typeErr.Type.Kind() == reflect.Bool && boolString(raw) != "":
		_ = json.Unmarshal(atPath(path, json.RawMessage(boolString(raw))), v)
	case raw[0] == '{':
		// Opening it first allocates a pointer to a struct as encoding/json does, even
		// when none of the members fits.
		_ = json.Unmarshal(atPath(path, json.RawMessage("{}")), v)
		applyMembers(v, path, raw)
	case isTypeErr:
		_ = json.Unmarshal(doc, v)
	}
}

// atPath wraps raw in one object per key of path: {"a":{"b":raw}}.
func atPath(path []string, raw json.RawMessage) []byte {
	var b []byte
	for _, k := range path {
		key, _ := json.Marshal(k)
		b = append(append(append(b, '{'), key...), ':')
	}
	b = append(b, raw...)
	return append(b, bytes.Repeat([]byte("}"), len(path))...)
}

// boolString returns "true" or "false" when raw is that string, and "" otherwise.
func boolString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil && (s == "true" || s == "false") {
		return s
	}
	return ""
}

// noRelationships is R for resources whose relationships tfc does not read or send.
type noRelationships struct{}

// newResource builds a request body resource of the given type.
func newResource[A, R any](typ string, attrs A, rels R) document[resource[A, R]] {
	return document[resource[A, R]]{Data: resource[A, R]{Type: typ, Attributes: attrs, Relationships: rels}}
}

// resourceID is a resource identifier object.
type resourceID struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// toOne is a to-one relationship. On the wire {"data": null} clears it, which a
// non-nil *toOne with nil Data sends.
type toOne struct {
	Data *resourceID `json:"data"`
}

func (r *toOne) id() string {
	if r == nil || r.Data == nil {
		return ""
	}
	return r.Data.ID
}

// typ returns the related resource's type, or "" when there is none.
func (r *toOne) typ() string {
	if r == nil || r.Data == nil {
		return ""
	}
	return r.Data.Type
}

// relateTo builds a to-one relationship for a request body from a Nullable ID: nil
// when unset (left out), {"data": null} when null.
func relateTo(typ string, id Nullable[string]) *toOne {
	if id.IsZero() {
		return nil
	}
	if v, ok := id.Get(); ok {
		return &toOne{Data: &resourceID{Type: typ, ID: v}}
	}
	return &toOne{}
}

// toMany is a to-many relationship.
type toMany struct {
	Data []resourceID `json:"data"`
}

// ids returns the IDs of the related resources, or nil for none.
func (r *toMany) ids() []string {
	if r == nil || len(r.Data) == 0 {
		return nil
	}
	out := make([]string, len(r.Data))
	for i, ref := range r.Data {
		out[i] = ref.ID
	}
	return out
}

// links are the resource links tfc reads.
type links struct {
	Self   link `json:"self,omitempty"`
	Output link `json:"output,omitempty"`
}

// link is a JSON:API link: a URL string, or a link object whose href is used.
type link string

// UnmarshalJSON reads a link (see decode) for the encoding/json path.
func (l *link) UnmarshalJSON(data []byte) error {
	return scanWith(data, l.decode)
}

// included is a member of a document's "included" array, kept raw until a resource file
// decodes the types it asked for.
type included struct {
	Type          string          `json:"type"`
	ID            string          `json:"id"`
	Attributes    json.RawMessage `json:"attributes"`
	Relationships json.RawMessage `json:"relationships"`
}

// includes finds included resources by type and ID.
type includes struct {
	items []included
	index map[resourceID]int
}

// indexThreshold is the size above which lookups go through a map instead of a scan.
const indexThreshold = 16

func newIncludes(items []included) *includes {
	in := &includes{items: items}
	if len(items) > indexThreshold {
		in.index = make(map[resourceID]int, len(items))
		for i, it := range items {
			in.index[resourceID{Type: it.Type, ID: it.ID}] = i
		}
	}
	return in
}

// onlyID returns the ID of the one included resource of type typ, or "" when there is
// none or more than one.
func (in *includes) onlyID(typ string) string {
	if in == nil {
		return ""
	}
	id := ""
	for i := range in.items {
		if in.items[i].Type == typ {
			if id != "" {
				return ""
			}
			id = in.items[i].ID
		}
	}
	return id
}

func (in *includes) find(typ, id string) *included {
	if in == nil || id == "" {
		return nil
	}
	if in.index != nil {
		if i, ok := in.index[resourceID{Type: typ, ID: id}]; ok {
			return &in.items[i]
		}
		return nil
	}
	for i := range in.items {
		if in.items[i].ID == id && in.items[i].Type == typ {
			return &in.items[i]
		}
	}
	return nil
}

// decodeIncluded decodes an included resource into the typed form. A member that does
// not decode is skipped rather than failing the whole response: it is extra data.
func decodeIncluded[A, R any](inc *included) (resource[A, R], bool) {
	r := resource[A, R]{Type: inc.Type, ID: inc.ID}
	if len(inc.Attributes) > 0 && !decodeRawAttributes(inc.Attributes, &r.Attributes) {
		return r, false
	}
	if len(inc.Relationships) > 0 && !decodeRaw(inc.Relationships, &r.Relationships) {
		return r, false
	}
	return r, true
}

// StatusTimestamps maps "<status>-at" keys, as the service sends them, to times.
type StatusTimestamps map[string]time.Time

// At returns when status was entered: At("awaiting_override") reads
// "awaiting-override-at".
func (t StatusTimestamps) At(status string) (time.Time, bool) {
	ts, ok := t[strings.ReplaceAll(status, "_", "-")+"-at"]
	return ts, ok
}

// UnmarshalJSON keeps every well-formed timestamp and skips the rest, so one odd value
// does not fail a whole response.
func (t *StatusTimestamps) UnmarshalJSON(data []byte) error {
	return scanWith(data, func(d *jsonscan.Decoder) { decodeTimestamps(d, t) })
}

// scanWith runs a field decoder over data, for the UnmarshalJSON methods that share
// their logic with the fast path.
func scanWith(data []byte, decode func(*jsonscan.Decoder)) error {
	d := scanners.Get().(*jsonscan.Decoder)
	defer scanners.Put(d)
	d.Reset(data)
	decode(d)
	return d.End()
}

// millis is a duration the service sends as integer milliseconds.
type millis int64

func (m millis) duration() time.Duration { return time.Duration(m) * time.Millisecond }
