package tfc

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every *APIError matches the one for its status with errors.Is, and
// every client-side validation error matches ErrInvalidArgument.
var (
	// ErrInvalidArgument: a call was refused before any request was sent.
	ErrInvalidArgument = errors.New("tfc: invalid argument")
	// ErrUnauthorized: 401, the token is missing, invalid or expired.
	ErrUnauthorized = errors.New("tfc: unauthorized")
	// ErrForbidden: 403. HCP Terraform usually answers 404 instead for a valid token
	// that lacks permission.
	ErrForbidden = errors.New("tfc: forbidden")
	// ErrNotFound: 404, the resource does not exist, is not visible to the token, or
	// the organization lacks the entitlement for the feature.
	ErrNotFound = errors.New("tfc: not found")
	// ErrConflict: 409, for example overriding a policy check that is not overridable.
	ErrConflict = errors.New("tfc: conflict")
	// ErrUnprocessable: 422, the service rejected the request's content.
	ErrUnprocessable = errors.New("tfc: unprocessable entity")
	// ErrRateLimited: 429, still rate limited after the retries ran out.
	ErrRateLimited = errors.New("tfc: rate limited")
)

// ArgumentError is a call refused before any request was sent. It matches
// ErrInvalidArgument.
type ArgumentError struct {
	// Name names the argument or field, for example "run task ID".
	Name string
	// Problem says what is wrong with it.
	Problem string
}

// Error returns "tfc: invalid argument: " followed by the name and the problem; it
// never includes the argument's value, which may be a secret.
func (e *ArgumentError) Error() string {
	return "tfc: invalid argument: " + e.Name + ": " + e.Problem
}

// Is makes errors.Is(err, ErrInvalidArgument) true.
func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

func invalidArg(name, problem string) *ArgumentError {
	return &ArgumentError{Name: name, Problem: problem}
}

// APIError is a response with a status outside 2xx, after any retries.
type APIError struct {
	// StatusCode is the HTTP status, for example 404; Status its text, "404 Not Found".
	StatusCode int
	Status     string
	// Method and Path identify the call. Path has no query string and never a signed
	// URL.
	Method string
	Path   string
	// RequestID is the service's X-Request-Id, to quote to support.
	RequestID string
	// Errors are the JSON:API error objects of the body, in order.
	Errors []ErrorObject
	// Message is a short summary of a body that held no error objects: the title of an
	// HTML page from a proxy, or the first line of a text body.
	Message string
	// RetryAfter is the wait the service advised (Retry-After or X-RateLimit-Reset) on a
	// 429 or 503, zero when it advised none.
	RetryAfter time.Duration
}

// ErrorObject is one JSON:API error object.
type ErrorObject struct {
	ID     string       `json:"id,omitempty"`
	Status string       `json:"status,omitempty"`
	Code   string       `json:"code,omitempty"`
	Title  string       `json:"title,omitempty"`
	Detail string       `json:"detail,omitempty"`
	Source *ErrorSource `json:"source,omitempty"`
}

// ErrorSource points at what an error object is about: a JSON pointer into the request
// document (for example "/data/attributes/oidc-provider") or a query parameter.
type ErrorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Header    string `json:"header,omitempty"`
}

// Error reads, for example:
//
//	tfc: PATCH /api/v2/registry-modules/private/org/vpc/aws/test-configuration: 422 Unprocessable Entity: Invalid Attribute: OIDC provider must be one of: aws, gcp, azure, vault [/data/attributes/oidc-provider] (request id 5b0e…)
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("tfc: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Status != "" {
		b.WriteString(e.Status)
	} else {
		b.WriteString(strconv.Itoa(e.StatusCode))
		if t := http.StatusText(e.StatusCode); t != "" {
			b.WriteByte(' ')
			b.WriteString(t)
		}
	}
	for i, o := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(o.summary())
	}
	if len(e.Errors) == 0 && e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// Is matches the sentinel for the status: ErrUnauthorized, ErrForbidden, ErrNotFound,
// ErrConflict, ErrUnprocessable or ErrRateLimited.
func (e *APIError) Is(target error) bool {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusForbidden:
		return target == ErrForbidden
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusConflict:
		return target == ErrConflict
	case http.StatusUnprocessableEntity:
		return target == ErrUnprocessable
	case http.StatusTooManyRequests:
		return target == ErrRateLimited
	}
	return false
}

// Detail returns the detail of the first error object whose source pointer is pointer,
// for example "/data/attributes/oidc-provider".
func (e *APIError) Detail(pointer string) (string, bool) {
	for _, o := range e.Errors {
		if o.Source != nil && o.Source.Pointer == pointer {
			return o.Detail, true
		}
	}
	return "", false
}

func (o ErrorObject) summary() string {
	s := o.Title
	switch {
	case s == "":
		s = o.Detail
	case o.Detail != "" && o.Detail != o.Title:
		s += ": " + o.Detail
	}
	if s == "" {
		s = o.Code
	}
	if o.Source != nil {
		switch {
		case o.Source.Pointer != "":
			s += " [" + o.Source.Pointer + "]"
		case o.Source.Parameter != "":
			s += " [parameter " + o.Source.Parameter + "]"
		}
	}
	return s
}

// UnmarshalJSON accepts the shapes the services send: status as a string or a number
// (HCP Terraform's 429 body uses a number), and bare strings in place of objects (some
// Terraform Enterprise endpoints).
func (o *ErrorObject) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*o = ErrorObject{Detail: s}
		return nil
	}
	var wire struct {
		ID     flexString   `json:"id"`
		Status flexString   `json:"status"`
		Code   flexString   `json:"code"`
		Title  string       `json:"title"`
		Detail string       `json:"detail"`
		Source *ErrorSource `json:"source"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*o = ErrorObject{ID: string(wire.ID), Status: string(wire.Status), Code: string(wire.Code),
		Title: wire.Title, Detail: wire.Detail, Source: wire.Source}
	return nil
}

// flexString decodes a JSON string or number as a string.
type flexString string

func (f *flexString) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		err := json.Unmarshal(data, &s)
		*f = flexString(s)
		return err
	}
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	*f = flexString(data)
	return nil
}

// parseJSONAPIError fills e from a JSON:API error document, or summarises a body that
// is not one (an HTML error page from a proxy, plain text).
func parseJSONAPIError(e *APIError, body []byte) {
	var doc struct {
		Errors []ErrorObject `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		e.Errors = doc.Errors
		return
	}
	e.Message = summarizeBody(body)
}

// maxMessage bounds APIError.Message.
const maxMessage = 200

// summarizeBody returns the <title> of an HTML page, or else the first non-empty line,
// with control characters removed and at most maxMessage characters.
func summarizeBody(body []byte) string {
	s := string(body)
	if i := indexFold(s, "<title>"); i >= 0 {
		rest := s[i+len("<title>"):]
		if j := indexFold(rest, "</title>"); j >= 0 {
			return clean(rest[:j])
		}
	}
	if strings.HasPrefix(strings.TrimSpace(s), "<") {
		return "" // markup without a title says nothing useful
	}
	for line := range strings.Lines(s) {
		if t := clean(line); t != "" {
			return t
		}
	}
	return ""
}

// clean collapses whitespace, drops control characters and cuts to maxMessage runes.
func clean(s string) string {
	var b strings.Builder
	space, n := false, 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			space = false
			if n < maxMessage-1 {
				b.WriteByte(' ')
				n++
			}
		}
		if n == maxMessage {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// indexFold finds the ASCII lowercase sub in s ignoring ASCII case. Only ASCII is
// folded, so byte offsets in the folded copy are offsets in s (strings.ToLower can
// change the length of non-ASCII text).
func indexFold(s, sub string) int {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return bytes.Index(b, []byte(sub))
}
