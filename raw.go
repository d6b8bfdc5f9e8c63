package tfc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tfkit/tfc/internal/printguard"
)

// RawRequest is a call to an endpoint that tfc does not wrap, sent with Client.Do or
// CTSClient.Do through the same pipeline as every other call.
type RawRequest struct {
	// Method is GET, HEAD, POST, PUT, PATCH or DELETE.
	Method string
	// Path is relative to the client's base URL (https://app.terraform.io/api/v2/, a
	// CTS daemon's /v1/), for example "organizations/my-org/projects". Write it
	// unescaped: tfc escapes each segment, so an ID cannot change the shape of the
	// path. A leading slash, a URL with a host, an empty, "." or ".." segment, and
	// "?" or "#" (put the query in Query) are refused, so the call cannot leave the
	// API.
	Path string
	// Query is sent as the query string, for example
	// url.Values{"filter[names]": {"networking"}, "page[size]": {"100"}}.
	Query url.Values
	// Body, if not nil, is encoded with encoding/json and sent as the request document:
	// a JSON:API document for Client (Content-Type application/vnd.api+json), plain
	// JSON for CTSClient. A json.RawMessage is sent as it is.
	Body any
}

// String names the method and path, and never the query or the body, which may hold
// anything, secrets included.
func (r RawRequest) String() string {
	s := "tfc.RawRequest(" + r.Method + " " + r.Path
	if r.Body != nil {
		s += " with a body"
	}
	return s + ")"
}

// GoString is String.
func (r RawRequest) GoString() string { return r.String() }

// Format prints String whatever the verb, so that no verb reaches the headers or body.
func (r RawRequest) Format(f fmt.State, verb rune) { printguard.Format(f, verb, r) }

// RawResponse describes the successful answer to a RawRequest; its body has been
// decoded into the output value and closed.
type RawResponse struct {
	// StatusCode is the HTTP status, 2xx.
	StatusCode int
	// Header holds the response headers, for example X-Request-Id and the rate limit
	// headers.
	Header http.Header
}

// String reports the status and the request id, and never the headers, which a proxy
// may fill with anything.
func (r RawResponse) String() string {
	s := http.StatusText(r.StatusCode)
	if id := r.Header.Get("X-Request-Id"); id != "" {
		return "tfc.RawResponse(" + strconv.Itoa(r.StatusCode) + " " + s + ", request id " + id + ")"
	}
	return "tfc.RawResponse(" + strconv.Itoa(r.StatusCode) + " " + s + ")"
}

// GoString is String.
func (r RawResponse) GoString() string { return r.String() }

// Format prints String whatever the verb, so that no verb reaches the headers.
func (r RawResponse) Format(f fmt.State, verb rune) { printguard.Format(f, verb, r) }

// Do sends req to an endpoint of the HCP Terraform or Terraform Enterprise API that tfc
// does not wrap, so that one client serves them all: the same token, rate ceiling,
// retries, logging with redaction, and errors as every other call.
//
// Before the network, a method outside GET, HEAD, POST, PUT, PATCH and DELETE, or a
// path that could leave the API (see RawRequest.Path), is an error matching
// ErrInvalidArgument. A non-2xx answer is an *APIError matching the sentinel of its
// status (ErrNotFound, ErrConflict, …). Retries follow RetryPolicy: 429 for every
// method; 5xx and transport errors for every method but POST, which is retried only
// when it surely never reached the service. A PATCH or PUT that must not be repeated
// needs NoRetries on a client of its own.
//
// A successful body is decoded into out with encoding/json, unless out is nil, the
// method is HEAD or the status is 204 No Content; pass a *json.RawMessage to keep the
// document as it came. A 2xx answer with an empty body (202 Accepted from a run
// action, say) leaves out untouched and is no error: the service acted.
//
// METHOD <base URL><path>[?query]
func (c *Client) Do(ctx context.Context, req RawRequest, out any) (*RawResponse, error) {
	return c.pipeline.raw(ctx, req, out)
}

// Do sends req to an endpoint of the CTS daemon's API that the CTSClient does not
// wrap, with its retries, logging and errors: plain JSON, paths relative to /v1/. See
// Client.Do for the rules on methods, paths, retries and decoding; a follower of a
// high-availability cluster answers with an error matching ErrNotLeader.
//
// METHOD <address>/v1/<path>[?query]
func (c *CTSClient) Do(ctx context.Context, req RawRequest, out any) (*RawResponse, error) {
	return c.pipeline.raw(ctx, req, out)
}

// raw sends a RawRequest.
func (p *pipeline) raw(ctx context.Context, req RawRequest, out any) (*RawResponse, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, invalidArg("method", "must be GET, HEAD, POST, PUT, PATCH or DELETE")
	}
	path, err := rawPath(req.Path)
	if err != nil {
		return nil, err
	}
	c := call{method: req.Method, path: path, body: req.Body}
	if len(req.Query) > 0 {
		c.query = req.Query
	}
	resp, info, err := p.send(ctx, c)
	if err != nil {
		return nil, err
	}
	defer drainAndClose(resp.Body)
	rr := &RawResponse{StatusCode: resp.StatusCode, Header: resp.Header}
	if req.Method == http.MethodHead || out == nil {
		return rr, nil
	}
	// An empty 2xx body is an answer, not an error, so peek before decoding.
	body := bufio.NewReader(resp.Body)
	if _, err := body.Peek(1); errors.Is(err, io.EOF) {
		return rr, nil
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{body, resp.Body}
	if err := decodeJSON(resp, info, out); err != nil {
		return nil, err
	}
	return rr, nil
}

// rawPath checks a caller's path and escapes each of its segments.
func rawPath(path string) (string, error) {
	const name = "path"
	switch {
	case path == "":
		return "", invalidArg(name, `is required, for example "organizations/my-org/projects"`)
	case strings.Contains(path, "://") || strings.HasPrefix(path, "//"):
		return "", invalidArg(name, "must be a path under the base URL, not a URL")
	case strings.HasPrefix(path, "/"):
		return "", invalidArg(name, `must be relative to the base URL, without a leading slash, for example "organizations/my-org"`)
	case strings.ContainsAny(path, "?#"):
		return "", invalidArg(name, "must not contain ? or #: put the query in Query")
	}
	segments := strings.Split(path, "/")
	for _, s := range segments {
		switch s {
		case "":
			return "", invalidArg(name, "must not contain empty segments (// or a trailing /)")
		case ".", "..":
			return "", invalidArg(name, "must not contain . or .. segments")
		}
	}
	return apiPath(segments...), nil
}
