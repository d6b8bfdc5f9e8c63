package tfc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRunTaskRequestDecode(t *testing.T) {
	var r RunTaskRequest
	if err := json.Unmarshal(fixture(t, "runtask_request_post_plan.json"), &r); err != nil {
		t.Fatal(err)
	}
	if r.PayloadVersion != 1 || r.Stage != StagePostPlan || !r.Capabilities.Outcomes ||
		string(r.AccessToken) != "4QEuyyxug1f2rw.atlasv1.iDyxqhXGVZ0ykes53YdQyHyYtFOrdAWNBxcVUgWvzb64NFHjcquu8gJMEdUwoSLRu4Q" ||
		r.TaskResultID != "taskrs-2nH5dncYoXaMVQmJ" || r.TaskResultEnforcementLevel != EnforcementMandatory ||
		r.VCSCommitHash == nil || *r.VCSCommitHash != "7d8fb2a2d601edebdb7a59ad2088a96673637d22" ||
		r.VCSPullRequestURL != nil || r.WorkspaceWorkingDirectory != "/terraform" ||
		!r.RunCreatedAt.Equal(time.Date(2021, 9, 2, 14, 47, 13, 36e6, time.UTC)) ||
		r.ConfigurationVersionDownloadURL == nil || r.IsVerification() {
		t.Errorf("decoded %#v", r.LogValue())
	}

	var old RunTaskRequest
	if err := json.Unmarshal(fixture(t, "runtask_request_2021.json"), &old); err != nil {
		t.Fatal(err)
	}
	if old.RunID != "run-i3Df5to9ELvibKpQ" || old.Stage != "" || old.Capabilities.Outcomes {
		t.Errorf("2021 payload: %+v", old)
	}

	var lenient RunTaskRequest
	err := json.Unmarshal([]byte(`{"payload_version":1,"stage":"pre-apply","access_token":"test-token","run_created_at":"xxxx","capabilitites":{"outcomes":true},"new_field":{"a":1}}`), &lenient)
	if err != nil || lenient.Stage != StagePreApply || !lenient.RunCreatedAt.IsZero() || !lenient.Capabilities.Outcomes || !lenient.IsVerification() {
		t.Errorf("lenient decode: %v %+v", err, lenient)
	}
}

func TestRunTaskRequestPrintsNoSecrets(t *testing.T) {
	var r RunTaskRequest
	_ = json.Unmarshal(fixture(t, "runtask_request_post_plan.json"), &r)
	r.TaskResultCallbackURL += "?url_code=secret-code"
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "r", r, "p", &r)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "r", r)
	j, _ := json.Marshal(r)
	out := fmt.Sprintf("%v %+v %#v %s", r, r, r, &r) + logs.String() + string(j)
	assertNoSecrets(t, "request printing", out, string(r.AccessToken), "secret-code")
	if !strings.Contains(string(j), `"task_result_callback_url":"https://app.terraform.io/api/v2/task-results/5ea8d46c-2ceb-42cd-83f2-82e54697bddd/callback"`) {
		t.Errorf("marshalled callback URL: %s", j)
	}
}

func TestCallbackWireFormat(t *testing.T) {
	api := newTestAPI(t)
	const token = "run-task-access-token"
	api.mux.HandleFunc("PATCH /api/v2/task-results/5ea8d46c/callback", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.Header.Get("Content-Type") != mediaTypeJSONAPI {
			t.Errorf("headers: %v", r.Header)
		}
		if r.URL.RawQuery != "url_code=abc" {
			t.Errorf("the callback URL was not used as given: query %q", r.URL.RawQuery)
		}
		assertJSONEqual(t, readBody(t, r), fixture(t, "runtask_callback_request.json"))
	})
	update := Failed("0 passed, 0 skipped, 1 failed")
	update.URL = "https://external.service.dev/terraform-plan-checker/run-i3Df5to9ELvibKpQ"
	update.Outcomes = []Outcome{{
		ID:          "PRTNR-CC-TF-127",
		Description: "ST-2942: S3 Bucket will not enforce MFA login on delete requests",
		Body:        "# Resolution for issue ST-2942\n\n## Impact\n\nFollow instructions in the [AWS S3 docs](https://docs.aws.amazon.com/AmazonS3/latest/userguide/MultiFactorAuthenticationDelete.html) to manually configure the MFA setting.\n—-- Payload truncated —--",
		URL:         "https://external.service.dev/result/PRTNR-CC-TF-127",
		Tags: map[string][]Tag{
			"Status":      {{Label: "Denied", Level: TagError}},
			"Severity":    {{Label: "High", Level: TagError}, {Label: "Recoverable", Level: TagInfo}},
			"Cost Centre": {{Label: "IT-OPS"}},
		},
	}}
	// The client has no API token of its own: the callback needs none.
	c, err := NewClient(WithRetryPolicy(fastRetries), WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	err = c.TaskResults.Callback(context.Background(), CallbackTarget{URL: api.server.URL + "/api/v2/task-results/5ea8d46c/callback?url_code=abc", AccessToken: token, Outcomes: true}, update)
	if err != nil {
		t.Fatal(err)
	}
}

func TestCallbackSimpleAndWithoutOutcomes(t *testing.T) {
	api := newTestAPI(t)
	api.mux.HandleFunc("PATCH /cb", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, "runtask_callback_simple.json"))
	})
	u := Passed("Hello task")
	u.URL = "https://example.com"
	u.Outcomes = []Outcome{{ID: "x", Description: "not sent without the capability"}}
	if err := api.client.TaskResults.Callback(context.Background(), CallbackTarget{URL: api.server.URL + "/cb", AccessToken: "t"}, u); err != nil {
		t.Fatal(err)
	}
}

func TestCallbackErrors(t *testing.T) {
	api := newTestAPI(t, WithRetryPolicy(NoRetries()))
	for status, sentinel := range map[int]error{401: ErrUnauthorized, 409: ErrConflict, 422: ErrUnprocessable} {
		api.mux.HandleFunc(fmt.Sprintf("PATCH /cb/%d", status), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
		})
		err := api.client.TaskResults.Callback(context.Background(), CallbackTarget{URL: fmt.Sprintf("%s/cb/%d?url_code=zzz", api.server.URL, status), AccessToken: "tok-secret"}, Passed("x"))
		if !errors.Is(err, sentinel) {
			t.Errorf("%d: %v", status, err)
		}
		if strings.Contains(err.Error(), "zzz") || strings.Contains(err.Error(), "tok-secret") {
			t.Errorf("%d: error leaks: %v", status, err)
		}
	}
}

func TestCallbackValidation(t *testing.T) {
	c, _ := NewClient(WithHTTPClient(&http.Client{Transport: failTransport{t}}))
	ctx := context.Background()
	ok := Outcome{ID: "id", Description: "d"}
	tests := map[string]struct {
		url   string
		token Secret
		u     TaskResultUpdate
	}{
		"no URL":          {"", "t", Passed("x")},
		"relative URL":    {"/api/v2/task-results/x/callback", "t", Passed("x")},
		"no token":        {"https://h/cb", "", Passed("x")},
		"status errored":  {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultErrored}},
		"empty status":    {"https://h/cb", "t", TaskResultUpdate{}},
		"link not http":   {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultPassed, URL: "javascript:alert(1)"}},
		"link too long":   {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultPassed, URL: "https://x/" + strings.Repeat("a", 500)}},
		"too many":        {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultFailed, Outcomes: make([]Outcome, 251)}},
		"empty id":        {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultFailed, Outcomes: []Outcome{{Description: "d"}}}},
		"long id":         {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultFailed, Outcomes: []Outcome{{ID: strings.Repeat("i", 65), Description: "d"}}}},
		"no description":  {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultFailed, Outcomes: []Outcome{{ID: "i"}}}},
		"bad level":       {"https://h/cb", "t", withTags(ok, map[string][]Tag{"Severity": {{Label: "High", Level: "critical"}}})},
		"empty label":     {"https://h/cb", "t", withTags(ok, map[string][]Tag{"Severity": {{Label: ""}}})},
		"header no label": {"https://h/cb", "t", withTags(ok, map[string][]Tag{"Severity": {}})},
		"11 headers":      {"https://h/cb", "t", withTags(ok, elevenHeaders())},
		"body over 5 MB":  {"https://h/cb", "t", TaskResultUpdate{Status: TaskResultFailed, Outcomes: []Outcome{{ID: "i", Description: "d", Body: strings.Repeat("b", 5<<20+1)}}}},
	}
	for name, tt := range tests {
		if err := c.TaskResults.Callback(ctx, CallbackTarget{URL: tt.url, AccessToken: tt.token, Outcomes: true}, tt.u); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func withTags(o Outcome, tags map[string][]Tag) TaskResultUpdate {
	o.Tags = tags
	return TaskResultUpdate{Status: TaskResultFailed, Outcomes: []Outcome{o}}
}

func elevenHeaders() map[string][]Tag {
	m := map[string][]Tag{}
	for i := range 11 {
		m[fmt.Sprint("h", i)] = []Tag{{Label: "x"}}
	}
	return m
}

func TestMessageTruncation(t *testing.T) {
	long := strings.Repeat("é", 1200) // two bytes each: a byte cut would split a rune
	got := truncate(long, MaxMessageLength)
	if utf8.RuneCountInString(got) != MaxMessageLength || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("truncated to %d runes, valid %v", utf8.RuneCountInString(got), utf8.ValidString(got))
	}
	if truncate("short", 10) != "short" || truncate(strings.Repeat("a", 1000), 1000) != strings.Repeat("a", 1000) {
		t.Error("cut a message within the limit")
	}
}

func TestSendableMakesEveryRefusedUpdateValid(t *testing.T) {
	ok := Outcome{ID: "i", Description: "d"}
	refused := map[string]TaskResultUpdate{
		"link not http":   {Status: TaskResultPassed, URL: "javascript:alert(1)"},
		"link too long":   {Status: TaskResultPassed, URL: "https://x/" + strings.Repeat("a", 500)},
		"too many":        {Status: TaskResultFailed, Outcomes: make([]Outcome, 251)},
		"empty id":        {Status: TaskResultFailed, Outcomes: []Outcome{{Description: "d"}}},
		"long id":         {Status: TaskResultFailed, Outcomes: []Outcome{{ID: strings.Repeat("i", 65), Description: "d"}}},
		"no description":  {Status: TaskResultFailed, Outcomes: []Outcome{{ID: "i"}}},
		"long desc":       {Status: TaskResultFailed, Outcomes: []Outcome{{ID: "i", Description: strings.Repeat("d", 1001)}}},
		"bad level":       withTags(ok, map[string][]Tag{"Severity": {{Label: "High", Level: "critical"}}}),
		"empty label":     withTags(ok, map[string][]Tag{"Severity": {{Label: ""}}}),
		"long label":      withTags(ok, map[string][]Tag{"Severity": {{Label: strings.Repeat("l", 33)}}}),
		"33 labels":       withTags(ok, map[string][]Tag{"Severity": make([]Tag, 33)}),
		"header no label": withTags(ok, map[string][]Tag{"Severity": {}}),
		"empty header":    withTags(ok, map[string][]Tag{" ": {{Label: "x"}}}),
		"11 headers":      withTags(ok, elevenHeaders()),
		"outcome link":    {Status: TaskResultFailed, Outcomes: []Outcome{{ID: "i", Description: "d", URL: "ftp://x"}}},
		"body over 5 MB":  {Status: TaskResultFailed, Outcomes: []Outcome{{ID: "i", Description: "d", Body: strings.Repeat("é", 5<<19+1)}}},
	}
	for name, u := range refused {
		if err := u.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		s := u.Sendable()
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Sendable still refused: %v", name, err)
		}
		if len(s.Outcomes) > 0 && !utf8.ValidString(s.Outcomes[0].Body) {
			t.Errorf("%s: body cut inside a character", name)
		}
	}
	if err := (TaskResultUpdate{Status: "done"}).Sendable().Validate(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("an invalid status is not Sendable's to fix: %v", err)
	}
}

func TestSendableKeepsLongIDsDistinctAndReadable(t *testing.T) {
	addr := func(s string) string {
		return `module.platform.module.networking.module.subnets.aws_subnet.private["` + s + `"]`
	}
	u := Failed("x")
	for _, az := range []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"} {
		u.Outcomes = append(u.Outcomes, Outcome{ID: addr(az), Description: addr(az) + " would be deleted"})
	}
	s := u.Sendable()
	seen := map[string]bool{}
	for i, o := range s.Outcomes {
		if n := len(o.ID); n != MaxOutcomeIDLength {
			t.Errorf("ID %q has %d characters", o.ID, n)
		}
		if !strings.HasPrefix(o.ID, "module.platform") || !strings.Contains(o.ID, `["eu-west-1`) {
			t.Errorf("ID %q lost its start or end", o.ID)
		}
		if seen[o.ID] {
			t.Errorf("ID %q repeats", o.ID)
		}
		seen[o.ID] = true
		if o.Description != u.Outcomes[i].Description {
			t.Errorf("description changed: %q", o.Description)
		}
	}
	if u.Outcomes[0].ID != addr("eu-west-1a") {
		t.Error("Sendable modified its receiver")
	}
	if again := u.Sendable(); again.Outcomes[0].ID != s.Outcomes[0].ID {
		t.Error("shortening is not deterministic")
	}
}

func TestSendableCutsOutcomesWithANoteThatSurvives(t *testing.T) {
	u := Failed(strings.Repeat("m", MaxMessageLength))
	u.URL = "not a url"
	for i := range 300 {
		u.Outcomes = append(u.Outcomes, Outcome{ID: fmt.Sprint("o", i), Description: "d"})
	}
	s := u.Sendable()
	if len(s.Outcomes) != MaxOutcomes || s.Outcomes[MaxOutcomes-1].ID != "o249" {
		t.Fatalf("%d outcomes kept, last %q", len(s.Outcomes), s.Outcomes[len(s.Outcomes)-1].ID)
	}
	if n := utf8.RuneCountInString(s.Message); n > MaxMessageLength {
		t.Errorf("message has %d characters", n)
	}
	for _, want := range []string{"50 more findings are not listed", "details link was omitted"} {
		if !strings.Contains(s.Message, want) {
			t.Errorf("message %q lacks %q", s.Message[len(s.Message)-200:], want)
		}
	}
	if !strings.HasPrefix(s.Message, "mmm") || s.URL != "" {
		t.Errorf("message start or URL: %q %q", s.Message[:10], s.URL)
	}
	if plain := Passed("all good").Sendable(); plain.Message != "all good" {
		t.Errorf("a valid update changed: %+v", plain)
	}
}

func TestCallbackTargetPrintsNoSecrets(t *testing.T) {
	r := RunTaskRequest{TaskResultCallbackURL: "https://app.terraform.io/api/v2/task-results/x/callback?url_code=secret-code",
		AccessToken: "secret-token", Capabilities: RunTaskCapabilities{Outcomes: true}}
	to := r.CallbackTarget()
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "to", to)
	out := fmt.Sprintf("%v %+v %#v %s %v", to, to, to, &to, &to) + logs.String()
	assertNoSecrets(t, "callback target", out, "secret-token", "secret-code")
	if !strings.Contains(out, "app.terraform.io/api/v2/task-results/x/callback") {
		t.Errorf("target does not show its path: %s", out)
	}
}
