package tfctest

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The JSON:API documents the fake writes and reads. Everything written is a fresh value
// built under the server's lock, so it can be encoded after the lock is released.

const mediaTypeJSONAPI = "application/vnd.api+json"

// resource is a JSON:API resource object.
type resource struct {
	ID            string                  `json:"id"`
	Type          string                  `json:"type"`
	Attributes    any                     `json:"attributes"`
	Relationships map[string]relationship `json:"relationships,omitzero"` // an empty, non-nil map is sent as {}
	Links         map[string]string       `json:"links,omitempty"`
}

// relationship is a to-one (Data a *resourceRef, possibly nil) or to-many (Data a
// []resourceRef, never nil) relationship, with its related link where the service
// sends one.
type relationship struct {
	Data  any               `json:"data"`
	Links map[string]string `json:"links,omitempty"`
}

// withRelated adds a "related" link to a relationship.
func (r relationship) withRelated(path string) relationship {
	r.Links = map[string]string{"related": path}
	return r
}

type resourceRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// toOne relates to one resource; an empty id sends {"data": null}.
func toOne(typ, id string) relationship {
	if id == "" {
		return relationship{Data: nil}
	}
	return relationship{Data: &resourceRef{ID: id, Type: typ}}
}

// toMany relates to resources of one type; no ids sends {"data": []}.
func toMany(typ string, ids []string) relationship {
	refs := make([]resourceRef, len(ids))
	for i, id := range ids {
		refs[i] = resourceRef{ID: id, Type: typ}
	}
	return relationship{Data: refs}
}

// idsOf returns the IDs of items, in order, for a to-many relationship.
func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// document is a JSON:API top-level document.
type document struct {
	Data     any                `json:"data"`
	Included []resource         `json:"included,omitempty"`
	Links    map[string]*string `json:"links,omitempty"`
	Meta     *listMeta          `json:"meta,omitempty"`
}

type listMeta struct {
	Pagination pagination `json:"pagination"`
}

// pagination is meta.pagination; PrevPage and NextPage are null where there is no
// such page.
type pagination struct {
	CurrentPage int  `json:"current-page"`
	PageSize    int  `json:"page-size"`
	PrevPage    *int `json:"prev-page"`
	NextPage    *int `json:"next-page"`
	TotalPages  int  `json:"total-pages"`
	TotalCount  int  `json:"total-count"`
}

// apiError is one JSON:API error object.
type apiError struct {
	Status string       `json:"status"`
	Title  string       `json:"title"`
	Detail string       `json:"detail,omitempty"`
	Source *errorSource `json:"source,omitempty"`
}

type errorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// httpError is an answer other than 2xx: its status and its error objects.
type httpError struct {
	status int
	errors []apiError
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.errors[0].Detail) }

func newError(status int, title, detail string) *httpError {
	return &httpError{status: status, errors: []apiError{{Status: strconv.Itoa(status), Title: title, Detail: detail}}}
}

func notFound(detail string) *httpError { return newError(http.StatusNotFound, "not found", detail) }

func badRequest(detail string) *httpError {
	return newError(http.StatusBadRequest, "bad request", detail)
}

func conflict(detail string) *httpError { return newError(http.StatusConflict, "conflict", detail) }

// invalidAttribute is the 422 the service answers for a rejected attribute, with the
// JSON pointer of the attribute ("/data/attributes/url").
func invalidAttribute(pointer, detail string) *httpError {
	e := newError(http.StatusUnprocessableEntity, "Invalid Attribute", detail)
	e.errors[0].Source = &errorSource{Pointer: pointer}
	return e
}

// writeJSON writes v as the body of a JSON:API answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value written is built from plain data; failing here is a bug in the fake.
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"status":"500","title":"internal error","detail":"tfctest could not encode its answer: ` +
			strings.ReplaceAll(err.Error(), `"`, `'`) + `"}]}`)
	}
	w.Header().Set("Content-Type", mediaTypeJSONAPI)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes err: an *httpError as its JSON:API errors, anything else as a 500.
func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = newError(http.StatusInternalServerError, "internal error", err.Error())
	}
	writeJSON(w, he.status, map[string]any{"errors": he.errors})
}

// maxRequestBody bounds what the fake reads of a request. Callback outcomes may carry
// Markdown bodies of up to 5 MB each, so this is generous.
const maxRequestBody = 64 << 20

// inResource is the primary data of a request document, its attributes kept raw so
// that absent, null and set can be told apart.
type inResource struct {
	Type          string                     `json:"type"`
	ID            string                     `json:"id"`
	Attributes    attributes                 `json:"attributes"`
	Relationships map[string]json.RawMessage `json:"relationships"`
}

// readResource decodes a request's JSON:API document.
func readResource(r *http.Request) (*inResource, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return nil, badRequest("the request body could not be read")
	}
	var doc struct {
		Data *inResource `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, badRequest("the request body is not a JSON document: " + err.Error())
	}
	if doc.Data == nil {
		return nil, invalidAttribute("/data", "the document has no primary data")
	}
	if doc.Data.Attributes == nil {
		doc.Data.Attributes = attributes{}
	}
	return doc.Data, nil
}

// checkType answers 409, as JSON:API prescribes, when the document's type is not want.
func (d *inResource) checkType(want string) error {
	if d.Type != want {
		return &httpError{status: http.StatusConflict, errors: []apiError{{Status: "409", Title: "conflict",
			Detail: fmt.Sprintf("the resource type must be %q", want), Source: &errorSource{Pointer: "/data/type"}}}}
	}
	return nil
}

// relationshipID returns the ID of a to-one relationship of the request, "" when it is
// absent or null.
func (d *inResource) relationshipID(name string) (string, error) {
	raw, ok := d.Relationships[name]
	if !ok {
		return "", nil
	}
	var rel struct {
		Data *resourceRef `json:"data"`
	}
	if err := json.Unmarshal(raw, &rel); err != nil {
		return "", invalidAttribute("/data/relationships/"+name, "the relationship is malformed")
	}
	if rel.Data == nil {
		return "", nil
	}
	return rel.Data.ID, nil
}

// attributes are a request's attributes, undecoded.
type attributes map[string]json.RawMessage

// isNull reports whether the attribute is present and null.
func (a attributes) isNull(name string) bool {
	raw, ok := a[name]
	return ok && string(raw) == "null"
}

// get decodes a present, non-null attribute into v; ok is false when it is absent or
// null. A value of the wrong type is a 422 pointing at the attribute.
func (a attributes) get(name string, v any) (ok bool, err error) {
	raw, present := a[name]
	if !present || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, invalidAttribute("/data/attributes/"+name, fmt.Sprintf("%s has the wrong type", name))
	}
	return true, nil
}

// page is the page a list request asks for.
type page struct {
	number, size int
	// asked is false when the request named neither page[number] nor page[size].
	asked bool
}

// Page sizes of list endpoints.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// parsePage reads page[number] (default 1) and page[size] (default 20; larger than 100
// is served as 100, as the service does).
func parsePage(r *http.Request) (page, error) {
	q := r.URL.Query()
	p := page{number: 1, size: defaultPageSize}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page[number]", &p.number}, {"page[size]", &p.size}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		p.asked = true
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			e := badRequest(f.name + " must be a positive integer")
			e.errors[0].Source = &errorSource{Parameter: f.name}
			return p, e
		}
		*f.dst = n
	}
	p.size = min(p.size, maxPageSize)
	return p, nil
}

// paginate cuts items to the page and describes it.
func paginate[T any](items []T, p page) ([]T, pagination) {
	total := len(items)
	pages := max(1, (total+p.size-1)/p.size)
	pg := pagination{CurrentPage: p.number, PageSize: p.size, TotalPages: pages, TotalCount: total}
	if p.number > 1 {
		prev := min(p.number-1, pages)
		pg.PrevPage = &prev
	}
	if p.number < pages {
		next := p.number + 1
		pg.NextPage = &next
	}
	start := min((p.number-1)*p.size, total)
	end := min(start+p.size, total)
	return items[start:end], pg
}

// pageLinks are a list's self, first, prev, next and last links, absolute, keeping the
// request's other query parameters.
func pageLinks(base string, r *http.Request, pg pagination) map[string]*string {
	at := func(n int) *string {
		q := r.URL.Query()
		q.Set("page[number]", strconv.Itoa(n))
		q.Set("page[size]", strconv.Itoa(pg.PageSize))
		u := base + r.URL.EscapedPath() + "?" + q.Encode()
		return &u
	}
	links := map[string]*string{"self": at(pg.CurrentPage), "first": at(1), "last": at(pg.TotalPages), "prev": nil, "next": nil}
	if pg.PrevPage != nil {
		links["prev"] = at(*pg.PrevPage)
	}
	if pg.NextPage != nil {
		links["next"] = at(*pg.NextPage)
	}
	return links
}

// timestampLayout is how every time is written: UTC with milliseconds, which both the
// RFC 3339 and go-tfe's ISO 8601 ("2006-01-02T15:04:05Z") readers accept.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

func stamp(t time.Time) string { return t.UTC().Format(timestampLayout) }

// statusTimestamps maps "<status>-at" keys to times, as status-timestamps attributes.
type statusTimestamps map[string]time.Time

// record notes that status was entered at t ("awaiting_override" → "awaiting-override-at").
func (ts statusTimestamps) record(status string, t time.Time) {
	key := []byte(status)
	for i, c := range key {
		if c == '_' {
			key[i] = '-'
		}
	}
	ts[string(key)+"-at"] = t
}

func (ts statusTimestamps) wire() map[string]string {
	out := make(map[string]string, len(ts))
	for k, t := range ts {
		out[k] = stamp(t)
	}
	return out
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix followed by 16 random letters and digits, the shape of the
// service's IDs ("task-7oD7doVTQdAFnMLV").
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	for i, v := range b {
		b[i] = idAlphabet[int(v)%len(idAlphabet)]
	}
	return prefix + string(b[:])
}

// newSecret returns a random token of 26 base32 characters (130 bits).
func newSecret() string { return rand.Text() }

// newUUID returns a random version 4 UUID, the shape of callback URL segments.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// absURL joins the server's base URL and a path of escaped segments.
func absURL(base string, segments ...string) string {
	u := base
	for _, s := range segments {
		u += "/" + url.PathEscape(s)
	}
	return u
}

// isHTTPURL reports whether raw is an absolute http or https URL with a host.
func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// drainAndClose reads a little of what is left of an answer, so that its connection can
// be reused, and closes it.
func drainAndClose(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

// lookup returns what m holds under key, or a 404 saying that what was not found. The
// caller holds the server's lock.
func lookup[T any](m map[string]T, key, what string) (T, error) {
	v, ok := m[key]
	if !ok {
		return v, notFound(what + " not found")
	}
	return v, nil
}

// show answers a GET of one resource: the item m holds under key, rendered, with the
// resources include returns (nil for none) as included.
func show[T any](s *Server, w http.ResponseWriter, m map[string]T, key, what string, render func(T) resource, include func(T) []resource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := lookup(m, key, what)
	if err != nil {
		return err
	}
	doc := document{Data: render(v)}
	if include != nil {
		doc.Included = include(v)
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}
