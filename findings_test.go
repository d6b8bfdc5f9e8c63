package tfc_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tfkit/tfc"
)

func TestReportResult(t *testing.T) {
	sum := &tfc.PlanSummary{Add: 3, Change: 1, Destroy: 3}
	tests := []struct {
		name    string
		report  tfc.Report
		status  tfc.TaskResultStatus
		message string
	}{
		{"nothing found", tfc.Report{Summary: sum}, tfc.TaskResultPassed,
			"No findings. Plan: 3 to add, 1 to change, 3 to destroy."},
		{"no summary", tfc.Report{}, tfc.TaskResultPassed, "No findings."},
		{"warnings pass", tfc.Report{Summary: sum, Findings: []tfc.Finding{
			{ID: "w1", Severity: tfc.SeverityWarning, Message: "aws_instance.web has no owner tag."},
		}}, tfc.TaskResultPassed, "1 warning: aws_instance.web has no owner tag. Plan: 3 to add, 1 to change, 3 to destroy."},
		{"errors fail, named first", tfc.Report{Summary: sum, Findings: []tfc.Finding{
			{ID: "w1", Severity: tfc.SeverityWarning, Message: "aws_instance.web has no owner tag"},
			{ID: "e1", Severity: tfc.SeverityError, Message: "aws_s3_bucket.logs is public"},
			{ID: "i1", Severity: tfc.SeverityInfo, Message: "3 resources change"},
			{ID: "e2", Message: "aws_db_instance.main would be deleted"}, // zero severity: an error
		}}, tfc.TaskResultFailed,
			"2 errors, 1 warning, 1 notice: aws_s3_bucket.logs is public; aws_db_instance.main would be deleted; aws_instance.web has no owner tag; and 1 more. Plan: 3 to add, 1 to change, 3 to destroy."},
		{"unknown severity is an error", tfc.Report{Findings: []tfc.Finding{{ID: "x", Severity: "critical", Message: "bad\nthing  here"}}},
			tfc.TaskResultFailed, "1 error: bad thing here."},
		{"ID when there is no message", tfc.Report{Findings: []tfc.Finding{{ID: "CIS-1.2", Severity: tfc.SeverityInfo}, {ID: "CIS-1.3", Severity: tfc.SeverityInfo}}},
			tfc.TaskResultPassed, "2 notices: CIS-1.2; CIS-1.3."},
		{"own message", tfc.Report{Message: "Custom.", URL: "https://example.com/r/1", Findings: []tfc.Finding{{ID: "x"}}},
			tfc.TaskResultFailed, "Custom."},
	}
	for _, tt := range tests {
		u := tt.report.Result()
		if u.Status != tt.status || u.Message != tt.message {
			t.Errorf("%s: %s %q\nwant %s %q", tt.name, u.Status, u.Message, tt.status, tt.message)
		}
		if err := u.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if len(u.Outcomes) != len(tt.report.Findings) {
			t.Errorf("%s: %d outcomes for %d findings", tt.name, len(u.Outcomes), len(tt.report.Findings))
		}
	}
}

func TestReportOutcomes(t *testing.T) {
	findings := []tfc.Finding{
		{ID: "warn", Severity: tfc.SeverityWarning, Message: "w", Tags: map[string][]tfc.Tag{"Rule": {{Label: "tags"}}}},
		{ID: "deny", Message: "d", Body: "**why**", URL: "https://example.com/deny"},
		{ID: "own", Severity: tfc.SeverityError, Message: "o", Tags: map[string][]tfc.Tag{"Severity": {{Label: "High", Level: tfc.TagError}}}},
		{ID: "info", Severity: tfc.SeverityInfo, Message: "i"},
	}
	u := tfc.Report{Findings: findings}.Result()
	var ids, labels []string
	for _, o := range u.Outcomes {
		ids = append(ids, o.ID)
		labels = append(labels, fmt.Sprintf("%s/%s", o.Tags["Severity"][0].Label, o.Tags["Severity"][0].Level))
	}
	if got := strings.Join(ids, " "); got != "deny own warn info" {
		t.Errorf("order %s", got)
	}
	if got := strings.Join(labels, " "); got != "Error/error High/error Warning/warning Info/info" {
		t.Errorf("severity tags %s", got)
	}
	if o := u.Outcomes[0]; o.Description != "d" || o.Body != "**why**" || o.URL != "https://example.com/deny" {
		t.Errorf("outcome %+v", o)
	}
	if tags := u.Outcomes[2].Tags; len(tags["Rule"]) != 1 || tags["Rule"][0].Label != "tags" {
		t.Errorf("tags not kept: %+v", tags)
	}
	if len(findings[0].Tags) != 1 || findings[1].Tags != nil {
		t.Error("Result changed the caller's findings")
	}
}

// TestReportWithinLimits: the limits are Sendable's: more findings than the service
// takes are cut with a note in the message, long IDs are shortened, long messages
// leave room for the counts and the summary.
func TestReportWithinLimits(t *testing.T) {
	var findings []tfc.Finding
	for i := range 300 {
		findings = append(findings, tfc.Finding{
			ID:      fmt.Sprintf("module.a_very_long_module_name.module.another_long_one.aws_s3_bucket.b[%d]", i),
			Message: strings.Repeat("é", 400),
		})
	}
	u := tfc.Report{Findings: findings, Summary: &tfc.PlanSummary{Add: 300}}.Result()
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(u.Outcomes) != tfc.MaxOutcomes {
		t.Errorf("%d outcomes", len(u.Outcomes))
	}
	if n := utf8.RuneCountInString(u.Message); n > tfc.MaxMessageLength {
		t.Errorf("message of %d characters", n)
	}
	for _, want := range []string{"300 errors: ", "; and 297 more.", "Plan: 300 to add, 0 to change, 0 to destroy.", "50 more findings are not listed"} {
		if !strings.Contains(u.Message, want) {
			t.Errorf("message lacks %q:\n%s", want, u.Message)
		}
	}
	if u.Outcomes[0].ID == u.Outcomes[1].ID {
		t.Error("shortened IDs collide")
	}
}
