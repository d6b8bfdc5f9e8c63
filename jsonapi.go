package tfc

import (
	"encoding/json"
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
	if len(inc.Attributes) > 0 && !decodeRaw(inc.Attributes, &r.Attributes) {
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
