// Package deletionguard is the check of the runtask-server example, shared with the
// quickstart: it fails a run whose plan deletes any resource, plainly or by replacing
// it, and passes any other run with the plan's summary.
package deletionguard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

// Deletion is a resource the plan deletes.
type Deletion struct {
	Address string
	// Replaced is true when the resource is deleted to be created again.
	Replaced bool
}

// Summary is the plan's summary line (a replacement counts as one to add and one to
// destroy, as `terraform plan` prints it) and every deletion.
type Summary struct {
	tfc.PlanSummary
	Deletions []Deletion
}

// Analyze summarises the resource changes of plan.
func Analyze(plan *tfjson.Plan) Summary {
	s := Summary{PlanSummary: tfc.Changes(plan).Summary()}
	for c := range tfc.Changes(plan).Managed().Where(tfc.Change.Deletes) {
		s.Deletions = append(s.Deletions, Deletion{Address: c.Address, Replaced: c.Action == tfc.ActionReplace})
	}
	return s
}

// Check is the deletion guard as a tfc.CheckFunc.
func Check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if !d.HasPlan() { // pre_plan; a 2021-style delivery has no stage but a plan
		return tfc.Passed(fmt.Sprintf("No plan yet at %s: nothing to check.", d.Request.Stage)), nil
	}
	if err := d.Progress(ctx, "Reading the plan."); err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	plan, err := d.Plan(ctx)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	return Result(Analyze(plan), d.Request.Capabilities.Outcomes), nil
}

// Result turns a summary into the task result: failed, naming every deleted address
// (and one outcome each when the service accepts outcomes), or passed with the counts.
func Result(s Summary, withOutcomes bool) tfc.TaskResultUpdate {
	if len(s.Deletions) == 0 {
		return tfc.Passed(s.PlanSummary.String() + " Nothing is deleted.")
	}
	names := make([]string, len(s.Deletions))
	for i, del := range s.Deletions {
		names[i] = del.Address
		if del.Replaced {
			names[i] += " (replaced)"
		}
	}
	noun := "resource would be deleted"
	if len(s.Deletions) > 1 {
		noun = "resources would be deleted"
	}
	head := fmt.Sprintf("%d %s: ", len(s.Deletions), noun)
	tail := ". " + s.PlanSummary.String()
	room := tfc.MaxMessageLength - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail)
	report := tfc.Report{
		Findings: findings(s.Deletions),
		Message:  head + listWithin(names, room) + tail,
	}
	u := report.Result()
	if !withOutcomes {
		u.Outcomes = nil
	}
	return u
}

// listWithin joins names with commas in at most room characters: as many names as
// fit, then "and N more", so that the plan summary after the list is never what the
// service's message limit cuts.
func listWithin(names []string, room int) string {
	all := strings.Join(names, ", ")
	if utf8.RuneCountInString(all) <= room {
		return all
	}
	listed := 0 // characters of names[:i] joined
	for i, name := range names {
		with := listed + utf8.RuneCountInString(name)
		if i > 0 {
			with += len(", ")
		}
		if with+utf8.RuneCountInString(fmt.Sprintf(", and %d more", len(names)-i-1)) > room {
			if i == 0 {
				return "addresses too long to list here (see the outcomes and the plan)"
			}
			return fmt.Sprintf("%s, and %d more", strings.Join(names[:i], ", "), len(names)-i)
		}
		listed = with
	}
	return all
}

// highSeverity is the guard's Severity tag: deletions are its only findings.
var highSeverity = []tfc.Tag{{Label: "High", Level: tfc.TagError}}

// findings makes one finding per deletion. The guard keeps its outcomes as they were
// before tfc.Report: an ID is the address's first MaxOutcomeIDLength characters, and
// past MaxOutcomes the last outcome says how many more resources would be deleted.
func findings(dels []Deletion) []tfc.Finding {
	out := make([]tfc.Finding, 0, min(len(dels), tfc.MaxOutcomes))
	for i, del := range dels {
		if i == tfc.MaxOutcomes-1 && len(dels) > tfc.MaxOutcomes {
			out = append(out, tfc.Finding{ID: "DELETIONS-MORE",
				Message: fmt.Sprintf("%d more resources would be deleted; see the run's plan.", len(dels)-i),
				Tags:    map[string][]tfc.Tag{"Severity": highSeverity}})
			break
		}
		action, what := "Delete", "deleted"
		if del.Replaced {
			action, what = "Replace", "deleted and created again"
		}
		out = append(out, tfc.Finding{
			ID:      firstRunes(del.Address, tfc.MaxOutcomeIDLength),
			Message: fmt.Sprintf("%s would be %s.", del.Address, what),
			Body:    fmt.Sprintf("The plan %ss `%s`. This guard refuses plans that delete resources: change the configuration, or override the task stage if the deletion is intended.", strings.ToLower(action), del.Address),
			Tags: map[string][]tfc.Tag{
				"Severity": highSeverity,
				"Action":   {{Label: action, Level: tfc.TagWarning}},
			},
		})
	}
	return out
}

// NewServer returns an http.Server for handler at addr with timeouts fit for a
// receiver on the internet: slow or stalled clients cannot hold connections.
func NewServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// firstRunes returns s cut to at most n characters (the service counts characters, and
// a cut inside a multi-byte character would leave invalid UTF-8).
func firstRunes(s string, n int) string {
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}
