package tfc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tfkit/tfc/internal/printguard"
)

// TaskResultUpdate is what a run task integration reports for a task result: the
// callback body. A check returns one with status passed or failed; progress updates
// are running.
type TaskResultUpdate struct {
	// Status is running, passed or failed. passed and failed are final.
	Status TaskResultStatus
	// Message is shown on the run page. Longer than MaxMessageLength characters, it is
	// cut at a character boundary and ends with "…".
	Message string
	// URL links to details, at most MaxURLLength characters, http or https.
	URL string
	// Outcomes are detailed findings, sent only when the request's
	// capabilities.outcomes is true.
	Outcomes []Outcome
}

// Passed returns a passing result with message.
func Passed(message string) TaskResultUpdate {
	return TaskResultUpdate{Status: TaskResultPassed, Message: message}
}

// Failed returns a failing result with message.
func Failed(message string) TaskResultUpdate {
	return TaskResultUpdate{Status: TaskResultFailed, Message: message}
}

// Outcome is one detailed finding of a run task (wire type "task-result-outcomes").
type Outcome struct {
	// ID identifies the finding in the integration, 1 to 64 characters; it need not be
	// unique.
	ID string
	// Description is a one-line summary, 1 to 1000 characters.
	Description string
	// Body is optional Markdown detail, at most 5 MB.
	Body string
	// URL optionally links to the finding, http or https, at most 500 characters.
	URL string
	// Tags group labels under headers; "Status" and "Severity" get special rendering.
	// At most 10 headers, each with 1 to 32 labels.
	Tags map[string][]Tag
}

// Tag is a label under an outcome's tag header.
type Tag struct {
	// Label is 1 to 32 characters.
	Label string `json:"label"`
	// Level colours the label; empty means none.
	Level TagLevel `json:"level,omitempty"`
}

// TagLevel is how a tag is rendered.
type TagLevel string

// Tag levels.
const (
	TagNone    TagLevel = "none"
	TagInfo    TagLevel = "info"
	TagWarning TagLevel = "warning"
	TagError   TagLevel = "error"
)

// Limits of the callback body, from the service's documentation and schemas.
const (
	MaxMessageLength     = 1000
	MaxURLLength         = 500
	MaxOutcomes          = 250
	MaxOutcomeIDLength   = 64
	MaxDescriptionLength = 1000
	MaxOutcomeBodyBytes  = 5 << 20
	MaxTagHeaders        = 10
	MaxTagsPerHeader     = 32
	MaxTagLabelLength    = 32
)

// CallbackTarget is where and how one task result is reported: the request's
// task_result_callback_url, its access token, and whether the service accepts
// outcomes (capabilities.outcomes). Get it from RunTaskRequest.CallbackTarget.
//
// The URL may carry a credential in its query and the token is a Secret, so a
// CallbackTarget prints (String, GoString, LogValue) as the URL's host and path only.
type CallbackTarget struct {
	// URL is task_result_callback_url, used exactly as the service gave it.
	URL string
	// AccessToken is the request's access_token, sent as "Authorization: Bearer …".
	AccessToken Secret
	// Outcomes is capabilities.outcomes: without it, an update's outcomes are not sent.
	Outcomes bool
}

// CallbackTarget returns where and how r's task result is reported.
func (r *RunTaskRequest) CallbackTarget() CallbackTarget {
	return CallbackTarget{URL: r.TaskResultCallbackURL, AccessToken: r.AccessToken, Outcomes: r.Capabilities.Outcomes}
}

// String describes the target by the callback URL's host and path; the query (which
// may hold a credential) and the token are left out.
func (t CallbackTarget) String() string {
	return fmt.Sprintf("tfc.CallbackTarget(%s, outcomes %t)", redactedURL(t.URL), t.Outcomes)
}

// GoString is String, so that %#v cannot reach the token or the URL's query.
func (t CallbackTarget) GoString() string { return t.String() }

// Format prints String whatever the verb, so that no verb reaches the token.
func (t CallbackTarget) Format(f fmt.State, verb rune) { printguard.Format(f, verb, t) }

// LogValue logs the callback URL's host and path and the outcomes capability only.
func (t CallbackTarget) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", redactedURL(t.URL)), slog.Bool("outcomes", t.Outcomes))
}

// redactedURL is raw without user information, query or fragment, or a placeholder
// when raw does not parse.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// Callback reports a task result to the service, for integrations that run the check
// somewhere other than a Receiver.
//
// PATCH to.URL (used exactly as given) with "Authorization: Bearer <to.AccessToken>"
// and a JSON:API task-results body. It needs no API token on the client. Without
// to.Outcomes, update.Outcomes are not sent. An update the service would refuse (see
// TaskResultUpdate.Validate) is an *ArgumentError before the network; Sendable makes
// any update sendable. Retried on 429, 5xx and transport errors within ctx. The
// service answers 401 for a bad or expired token, 422 for a body it rejects, and 409
// when the result is already final; each is an *APIError (ErrUnauthorized,
// ErrUnprocessable, ErrConflict).
func (s *TaskResultsService) Callback(ctx context.Context, to CallbackTarget, update TaskResultUpdate) error {
	return s.callback(ctx, to, update, nil, nil)
}

// callback is Callback with a limiter of the call's own, the window of a receiver's
// delivery (nil for none), and a function told the outcome of each attempt (nil for
// none).
func (s *TaskResultsService) callback(ctx context.Context, to CallbackTarget, update TaskResultUpdate, limiter Limiter, attempt func(*http.Response, error)) error {
	if to.URL == "" {
		return invalidArg("task_result_callback_url", "must not be empty")
	}
	if to.AccessToken == "" {
		return invalidArg("access token", "must not be empty")
	}
	if !to.Outcomes {
		update.Outcomes = nil
	}
	if err := update.Validate(); err != nil {
		return err
	}
	c := call{method: http.MethodPatch, url: to.URL, urlName: "task_result_callback_url", token: to.AccessToken, body: update.body(), limiter: limiter, attempt: attempt}
	return s.client.do(ctx, c, nil)
}

// Validate reports the first part of u that the service would refuse, as an
// *ArgumentError (matching ErrInvalidArgument): a status other than running, passed or
// failed, a URL that is not an absolute http(s) URL of at most MaxURLLength characters,
// more than MaxOutcomes outcomes, or an outcome outside the limits documented on
// Outcome and Tag. A message over MaxMessageLength is not an error: Callback cuts it.
// It makes no network call.
func (u TaskResultUpdate) Validate() error {
	switch u.Status {
	case TaskResultRunning, TaskResultPassed, TaskResultFailed:
	default:
		return invalidArg("status", `must be "running", "passed" or "failed"`)
	}
	if err := checkLinkURL("url", u.URL); err != nil {
		return err
	}
	return validateOutcomes(u.Outcomes)
}

// Sendable returns a copy of u that passes Validate (given a valid status), changed
// no more than it must, so that a result is never lost to a detail:
//
//   - an outcome ID over MaxOutcomeIDLength characters keeps its start and end around
//     ".." and ends with a hash of the whole ID, so that distinct IDs stay distinct; an
//     empty one becomes "outcome-N";
//   - descriptions, bodies and tag labels over their limits are cut (an empty
//     description becomes the outcome's ID); URLs that are not sendable links, empty
//     tag headers and labels, and tag levels the service does not know are dropped;
//     tag headers past MaxTagHeaders and labels past MaxTagsPerHeader are cut;
//   - outcomes past MaxOutcomes are cut, and a link that is not sendable is dropped;
//     each says so in a note at the end of the message, which is trimmed so that the
//     note survives.
//
// u itself is not modified.
func (u TaskResultUpdate) Sendable() TaskResultUpdate {
	var notes []string
	if checkLinkURL("url", u.URL) != nil {
		u.URL = ""
		notes = append(notes, "The details link was omitted: it was not a valid http(s) URL.")
	}
	if n := len(u.Outcomes); n > 0 {
		kept := u.Outcomes[:min(n, MaxOutcomes)]
		out := make([]Outcome, len(kept))
		for i, o := range kept {
			out[i] = o.sendable(i)
		}
		u.Outcomes = out
		if cut := n - len(kept); cut > 0 {
			notes = append(notes, fmt.Sprintf("%d more findings are not listed: the service accepts at most %d.", cut, MaxOutcomes))
		}
	}
	u.Message = withNotes(u.Message, notes)
	return u
}

// sendable is o within the outcome limits; i is its position, for a missing ID.
func (o Outcome) sendable(i int) Outcome {
	switch {
	case o.ID == "":
		o.ID = fmt.Sprintf("outcome-%d", i+1)
	case utf8.RuneCountInString(o.ID) > MaxOutcomeIDLength:
		o.ID = shortenID(o.ID)
	}
	if o.Description == "" {
		o.Description = o.ID
	}
	o.Description = truncate(o.Description, MaxDescriptionLength)
	if len(o.Body) > MaxOutcomeBodyBytes {
		o.Body = truncateBytes(o.Body, MaxOutcomeBodyBytes)
	}
	if checkLinkURL("url", o.URL) != nil {
		o.URL = ""
	}
	o.Tags = sendableTags(o.Tags)
	return o
}

// shortenID fits an over-long outcome ID into MaxOutcomeIDLength characters: its
// first and last characters (module addresses differ at either end) around "..", and
// 8 hex digits of its SHA-256, so that two long IDs sharing both ends still differ.
// The marks are ASCII, so that an ASCII ID also fits the limit counted in bytes.
func shortenID(id string) string {
	const elision = ".."
	sum := sha256.Sum256([]byte(id))
	suffix := "~" + hex.EncodeToString(sum[:4])
	runes := []rune(id)
	room := MaxOutcomeIDLength - len(suffix) - len(elision)
	head := room / 3
	tail := room - head
	return string(runes[:head]) + elision + string(runes[len(runes)-tail:]) + suffix
}

// sendableTags returns tags within the limits: headers in a stable order (Status and
// Severity first, as the run page renders them specially), at most MaxTagHeaders of
// them, each with 1 to MaxTagsPerHeader labels of 1 to MaxTagLabelLength characters
// and a known level.
func sendableTags(tags map[string][]Tag) map[string][]Tag {
	if len(tags) == 0 {
		return tags
	}
	headers := make([]string, 0, len(tags))
	for h := range tags {
		if strings.TrimSpace(h) != "" {
			headers = append(headers, h)
		}
	}
	slices.SortFunc(headers, func(a, b string) int {
		if pa, pb := tagHeaderRank(a), tagHeaderRank(b); pa != pb {
			return pa - pb
		}
		return strings.Compare(a, b)
	})
	out := make(map[string][]Tag, min(len(headers), MaxTagHeaders))
	for _, h := range headers {
		if len(out) == MaxTagHeaders {
			break
		}
		var labels []Tag
		for _, t := range tags[h] {
			if len(labels) == MaxTagsPerHeader {
				break
			}
			if t.Label == "" {
				continue
			}
			t.Label = truncate(t.Label, MaxTagLabelLength)
			if !t.Level.known() {
				t.Level = ""
			}
			labels = append(labels, t)
		}
		if len(labels) > 0 {
			out[h] = labels
		}
	}
	return out
}

func tagHeaderRank(h string) int {
	switch h {
	case "Status":
		return 0
	case "Severity":
		return 1
	}
	return 2
}

func (l TagLevel) known() bool {
	switch l {
	case "", TagNone, TagInfo, TagWarning, TagError:
		return true
	}
	return false
}

// withNotes appends notes to message, cutting message first so that the whole fits
// in MaxMessageLength and the notes survive.
func withNotes(message string, notes []string) string {
	if len(notes) == 0 {
		return message
	}
	note := strings.Join(notes, " ")
	room := MaxMessageLength - utf8.RuneCountInString(note) - 1
	message = strings.TrimSpace(message)
	if message == "" || room < 2 {
		return truncate(note, MaxMessageLength)
	}
	return truncate(message, room) + " " + note
}

// body builds the callback document of a valid update, its message cut to the limit.
func (u TaskResultUpdate) body() any {
	attrs := callbackAttrs{Status: u.Status, Message: truncate(u.Message, MaxMessageLength), URL: u.URL}
	var rels callbackRels
	if len(u.Outcomes) > 0 {
		rels.Outcomes = &outcomesRel{Data: make([]resource[outcomeAttrs, noRelationships], len(u.Outcomes))}
		for i, o := range u.Outcomes {
			rels.Outcomes.Data[i] = resource[outcomeAttrs, noRelationships]{
				Type: typeTaskResultOutcomes,
				Attributes: outcomeAttrs{OutcomeID: o.ID, Description: o.Description, Body: o.Body,
					URL: o.URL, Tags: o.Tags},
			}
		}
	}
	return newResource(typeTaskResults, attrs, rels)
}

func validateOutcomes(outcomes []Outcome) error {
	if len(outcomes) > MaxOutcomes {
		return invalidArg("outcomes", fmt.Sprintf("at most %d are accepted, got %d", MaxOutcomes, len(outcomes)))
	}
	for i, o := range outcomes {
		name := fmt.Sprintf("outcome %d", i)
		switch n := utf8.RuneCountInString(o.ID); {
		case n == 0 || n > MaxOutcomeIDLength:
			return invalidArg(name+" ID", fmt.Sprintf("must be 1 to %d characters", MaxOutcomeIDLength))
		}
		switch n := utf8.RuneCountInString(o.Description); {
		case n == 0 || n > MaxDescriptionLength:
			return invalidArg(name+" description", fmt.Sprintf("must be 1 to %d characters", MaxDescriptionLength))
		}
		if len(o.Body) > MaxOutcomeBodyBytes {
			return invalidArg(name+" body", "must be at most 5 MB")
		}
		if err := checkLinkURL(name+" URL", o.URL); err != nil {
			return err
		}
		if len(o.Tags) > MaxTagHeaders {
			return invalidArg(name+" tags", fmt.Sprintf("at most %d headers are accepted", MaxTagHeaders))
		}
		for header, tags := range o.Tags {
			if strings.TrimSpace(header) == "" {
				return invalidArg(name+" tags", "a header is empty")
			}
			if len(tags) == 0 || len(tags) > MaxTagsPerHeader {
				return invalidArg(name+" tags", fmt.Sprintf("header %q must have 1 to %d labels", header, MaxTagsPerHeader))
			}
			for _, t := range tags {
				if n := utf8.RuneCountInString(t.Label); n == 0 || n > MaxTagLabelLength {
					return invalidArg(name+" tags", fmt.Sprintf("labels under %q must be 1 to %d characters", header, MaxTagLabelLength))
				}
				if !t.Level.known() {
					return invalidArg(name+" tags", fmt.Sprintf("level %q is not none, info, warning or error", t.Level))
				}
			}
		}
	}
	return nil
}

// checkLinkURL accepts "" or an absolute http(s) URL of at most MaxURLLength characters:
// the run page renders anything else badly.
func checkLinkURL(name, raw string) error {
	if raw == "" {
		return nil
	}
	if utf8.RuneCountInString(raw) > MaxURLLength {
		return invalidArg(name, fmt.Sprintf("must be at most %d characters", MaxURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidArg(name, "must be an absolute http(s) URL")
	}
	return nil
}

// truncate cuts s to at most n characters, at a character boundary, ending with "…"
// when it cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}

// truncateBytes cuts s to at most n bytes, at a character boundary, ending with "…"
// when it cut.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

const typeTaskResultOutcomes = "task-result-outcomes"

type callbackAttrs struct {
	Status  TaskResultStatus `json:"status"`
	Message string           `json:"message,omitempty"`
	URL     string           `json:"url,omitempty"`
}

type callbackRels struct {
	Outcomes *outcomesRel `json:"outcomes,omitempty"`
}

type outcomesRel struct {
	Data []resource[outcomeAttrs, noRelationships] `json:"data"`
}

type outcomeAttrs struct {
	OutcomeID   string           `json:"outcome-id"`
	Description string           `json:"description"`
	Body        string           `json:"body,omitempty"`
	URL         string           `json:"url,omitempty"`
	Tags        map[string][]Tag `json:"tags,omitempty"`
}
