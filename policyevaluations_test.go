package tfc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestPolicyEvaluationsList(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/task-stages/ts-rL5ZsuwfjqfPJcdi/policy-evaluations", func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Get("page[number]") != "2" || q.Get("page[size]") != "5" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		serveSample(t, http.StatusOK, "policy_evaluations_list_response.json")(w, r)
	})
	page, err := api.client.PolicyEvaluations.List(context.Background(), "ts-rL5ZsuwfjqfPJcdi",
		&PolicyEvaluationListOptions{ListOptions{PageNumber: 2, PageSize: 5}})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	want := PolicyEvaluation{
		ID: "poleval-8Jj9Hfoz892D9WMX", Status: PolicyEvaluationPassed, PolicyKind: PolicyKindOPA, PolicyToolVersion: "0.44.0",
		ResultCount: PolicyResultCount{Passed: 1},
		StatusTimestamps: StatusTimestamps{
			"passed-at":  at("2022-09-16T01:40:30+00:00"),
			"queued-at":  at("2022-09-16T01:40:04+00:00"),
			"running-at": at("2022-09-16T01:40:08+00:00"),
		},
		TaskStageID: "ts-yxskot8Gz5yHa38W",
		CreatedAt:   at("2022-09-16T01:39:07.782Z"),
		UpdatedAt:   at("2022-09-16T01:40:30.010Z"),
	}
	if len(page.Items) != 1 || page.Pagination != nil {
		t.Fatalf("page = %+v", page)
	}
	if !reflect.DeepEqual(*page.Items[0], want) {
		t.Errorf("got  %+v\nwant %+v", *page.Items[0], want)
	}
	if !want.Status.IsFinal() || PolicyEvaluationRunning.IsFinal() {
		t.Error("IsFinal")
	}
}

// The outcome of the documented sample, field by field.
var documentedPolicySetOutcome = PolicySetOutcome{
	ID: "psout-cu8E9a97LBepZZXd", PolicySetName: "opa-policies-vcs", Overridable: true,
	Outcomes: []PolicyOutcome{{PolicyName: "policyVCS", Status: PolicyOutcomeFailed, EnforcementLevel: EnforcementAdvisory,
		Query: "data.terraform.main.main"}},
	ResultCount: PolicyResultCount{AdvisoryFailed: 1}, PolicyToolVersion: "0.54.0",
	PolicyEvaluationID: "poleval-8Jj9Hfoz892D9WMX",
}

func TestPolicySetOutcomesList(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/policy-evaluations/poleval-8Jj9Hfoz892D9WMX/policy-set-outcomes", func(w http.ResponseWriter, r *http.Request) {
		// The documented request for failed and errored outcomes (All adds the page).
		q := r.URL.Query()
		q.Del("page[number]")
		q.Del("page[size]")
		if want := "filter[0][status]=errored&filter[1][enforcementLevel]=mandatory&filter[1][status]=failed"; q.Encode() != url.Values(map[string][]string{
			"filter[0][status]": {"errored"}, "filter[1][status]": {"failed"}, "filter[1][enforcementLevel]": {"mandatory"}}).Encode() {
			t.Errorf("query = %s, want %s", r.URL.RawQuery, want)
		}
		serveSample(t, http.StatusOK, "policy_set_outcomes_list_response.json")(w, r)
	})
	opts := &PolicySetOutcomeListOptions{Filters: []PolicySetOutcomeFilter{
		{Status: PolicyOutcomeErrored}, {Status: PolicyOutcomeFailed, EnforcementLevel: EnforcementMandatory}}}
	page, err := api.client.PolicySetOutcomes.List(context.Background(), "poleval-8Jj9Hfoz892D9WMX", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Pagination == nil || *page.Pagination != (Pagination{CurrentPage: 1, PageSize: 20, TotalPages: 1, TotalCount: 1}) {
		t.Fatalf("page = %+v", page)
	}
	if !reflect.DeepEqual(*page.Items[0], documentedPolicySetOutcome) {
		t.Errorf("got  %+v\nwant %+v", *page.Items[0], documentedPolicySetOutcome)
	}
	if failed := page.Items[0].Failed(); len(failed) != 1 || failed[0].PolicyName != "policyVCS" {
		t.Errorf("Failed() = %+v", failed)
	}

	// All pages through with the filters kept.
	n := 0
	for o, err := range api.client.PolicySetOutcomes.All(context.Background(), "poleval-8Jj9Hfoz892D9WMX", &PolicySetOutcomeListOptions{Filters: opts.Filters}) {
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != "psout-cu8E9a97LBepZZXd" {
			t.Errorf("All yielded %+v", o)
		}
		n++
	}
	if n != 1 {
		t.Errorf("All yielded %d", n)
	}
}

func TestPolicySetOutcomesRead(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/policy-set-outcomes/psout-cu8E9a97LBepZZXd", serveSample(t, http.StatusOK, "policy_set_outcome_show_response.json"))
	api.handle("GET /api/v2/policy-set-outcomes/psout-gone", serveFixture(t, http.StatusNotFound, "error_404.json"))
	ctx := context.Background()
	o, err := api.client.PolicySetOutcomes.Read(ctx, "psout-cu8E9a97LBepZZXd")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*o, documentedPolicySetOutcome) {
		t.Errorf("got  %+v\nwant %+v", *o, documentedPolicySetOutcome)
	}
	if _, err := api.client.PolicySetOutcomes.Read(ctx, "psout-gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v", err)
	}
}

// TestPolicyOutcomeOutput: the print output HCP Terraform sends with an outcome, which
// the API page does not show.
func TestPolicyOutcomeOutput(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/policy-set-outcomes/psout-1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"psout-1","type":"policy-set-outcomes","attributes":{"outcomes":[
			{"enforcement_level":"mandatory","query":"data.terraform.deny","status":"failed","policy_name":"deny-public",
			 "description":"No public buckets","output":[{"print":"bucket logs is public"},{"print":"bucket www is public"}]},
			{"query":"data.terraform.size","status":"errored","policy_name":"size","description":""}],
			"error":"","overridable":false,"policy-set-name":"s3","policy-set-description":"S3 rules",
			"result-count":{"advisory-failed":0,"errored":1,"mandatory-failed":1,"passed":0}}}}`))
	})
	o, err := api.client.PolicySetOutcomes.Read(context.Background(), "psout-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []PolicyOutcome{
		{PolicyName: "deny-public", Description: "No public buckets", Status: PolicyOutcomeFailed, EnforcementLevel: EnforcementMandatory,
			Query: "data.terraform.deny", Output: []string{"bucket logs is public", "bucket www is public"}},
		{PolicyName: "size", Status: PolicyOutcomeErrored, Query: "data.terraform.size"},
	}
	if !reflect.DeepEqual(o.Outcomes, want) || o.Overridable || o.PolicySetDescription != "S3 rules" ||
		o.ResultCount != (PolicyResultCount{Errored: 1, MandatoryFailed: 1}) || len(o.Failed()) != 2 {
		t.Errorf("outcome %+v", o)
	}
}

func TestPolicyEvaluationArgumentsCheckedBeforeTheNetwork(t *testing.T) {
	c := offlineClient(t)
	ctx := context.Background()
	assertRefused(t, map[string]func() error{
		"no task stage": func() error { _, err := c.PolicyEvaluations.List(ctx, "", nil); return err },
		"page size": func() error {
			_, err := c.PolicyEvaluations.List(ctx, "ts-1", &PolicyEvaluationListOptions{ListOptions{PageSize: 101}})
			return err
		},
		"no evaluation": func() error { _, err := c.PolicySetOutcomes.List(ctx, "a/b", nil); return err },
		"no outcome":    func() error { _, err := c.PolicySetOutcomes.Read(ctx, ""); return err },
		"no status": func() error {
			_, err := c.PolicySetOutcomes.List(ctx, "poleval-1", &PolicySetOutcomeListOptions{Filters: []PolicySetOutcomeFilter{{}}})
			return err
		},
		"errored with a level": func() error {
			_, err := c.PolicySetOutcomes.List(ctx, "poleval-1", &PolicySetOutcomeListOptions{Filters: []PolicySetOutcomeFilter{
				{Status: PolicyOutcomeErrored, EnforcementLevel: EnforcementMandatory}}})
			return err
		},
		"unknown level": func() error {
			_, err := c.PolicySetOutcomes.List(ctx, "poleval-1", &PolicySetOutcomeListOptions{Filters: []PolicySetOutcomeFilter{
				{Status: PolicyOutcomeFailed, EnforcementLevel: "hard-mandatory"}}})
			return err
		},
	})
}
