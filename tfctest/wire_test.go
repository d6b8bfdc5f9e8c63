package tfctest_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/internal/docsample"
	"github.com/tfkit/tfc/tfctest"
)

// stateful are objects whose keys depend on the state of the resource (which statuses
// it went through) or are documented as unstable, so only their presence is compared.
var stateful = map[string]bool{"status-timestamps": true, "sentinel": true}

// missingKeys returns the paths of the keys of want (a documented sample) that got
// (what tfctest sent) lacks, recursing into objects and the first element of arrays.
func missingKeys(path string, want, got any) []string {
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + " (not an object)"}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if data, has := g["data"]; k == "links" && has && data == nil {
					continue // an empty relationship has nothing to link to
				}
				out = append(out, path+"/"+k)
				continue
			}
			if gv != nil && wv != nil && !stateful[k] {
				out = append(out, missingKeys(path+"/"+k, wv, gv)...)
			}
		}
	case []any:
		if g, ok := got.([]any); ok && len(w) > 0 && len(g) > 0 {
			out = append(out, missingKeys(path+"/0", w[0], g[0])...)
		}
	}
	return out
}

// shapeOf decodes a JSON document into generic values.
func shapeOf(t *testing.T, name string, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestDocumentsHaveTheDocumentedShape compares what tfctest sends with the samples of
// the API documents in testdata: every documented key of the primary data (type,
// attributes, nested attribute objects, relationships) and of links and meta is there.
func TestDocumentsHaveTheDocumentedShape(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	mod := s.AddRegistryModule("acme", "vpc", "aws")
	client := s.Client()
	if _, err := client.TestConfigurations.EnableOIDC(ctx(t), mod.Address, &tfc.AWSOIDCConfiguration{RoleARN: "arn:aws:iam::1:role/x"}); err != nil {
		t.Fatal(err)
	}
	task := attach(t, s, ws, "guard", serveReceiver(t, deletionCheck), tfc.EnforcementMandatory, tfc.StagePostPlan)
	r := settledRun(t, s, ws.ID, readPlan(t, "plan_deletes.json"))
	stage := r.TaskStages()[0]
	wsTask := stage.TaskResults[0].WorkspaceTaskID
	check := s.AddPolicyCheck(r.ID, tfctest.PolicyCheck{Status: tfc.PolicyCheckSoftFailed})
	policed := settledRun(t, s, ws.ID, []byte(`{}`), tfctest.WithPolicyEvaluation(tfctest.PolicyEvaluation{PolicySets: []tfctest.PolicySet{
		{Name: "opa-policies-vcs", Overridable: true, Outcomes: []tfc.PolicyOutcome{{PolicyName: "policyVCS", Status: tfc.PolicyOutcomeFailed,
			EnforcementLevel: tfc.EnforcementAdvisory, Query: "data.terraform.main.main"}}}}}))
	policedStage := policed.TaskStages()[0]
	evaluation := policedStage.PolicyEvaluations[0].ID
	outcomes, err := client.PolicySetOutcomes.List(ctx(t), evaluation, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.TaskConfigs.Create(ctx(t), "acme", tfc.TaskConfigCreateOptions{RunTaskID: task.ID, TaskConfigOptions: tfc.TaskConfigOptions{
		EnforcementLevel: tfc.EnforcementMandatory, AllowedStages: []tfc.Stage{tfc.StagePrePlan}, ProjectIDs: []string{ws.ProjectID}}}); err != nil {
		t.Fatal(err)
	}

	api := s.URL + "/api/v2"
	for fixture, get := range map[string]string{
		"runtasks_show_response.json":                 api + "/tasks/" + task.ID,
		"runtasks_list_response.json":                 api + "/organizations/acme/tasks",
		"workspace_runtasks_show_response.json":       api + "/workspaces/" + ws.ID + "/tasks/" + wsTask,
		"workspace_runtasks_list_response.json":       api + "/workspaces/" + ws.ID + "/tasks",
		"task_stages_list_response.json":              api + "/runs/" + r.ID + "/task-stages",
		"task_stage_show_include_response.json":       api + "/task-stages/" + stage.ID + "?include=task_results",
		"task_result_show_response.json":              api + "/task-results/" + stage.TaskResults[0].ID,
		"hcp_policy_checks_list_response.json":        api + "/runs/" + r.ID + "/policy-checks",
		"hcp_policy_check_show_include_response.json": api + "/policy-checks/" + check + "?include=run,run.workspace",
		"testconfig_response.json":                    api + "/registry-modules/private/acme/vpc/aws/test-configuration",
		"organization_ttl_response.json":              api + "/organizations/acme",
		"entitlement_set_response.json":               api + "/organizations/acme/entitlement-set",
		"workspace_show_response.json":                api + "/organizations/acme/workspaces/networking",
		"run_show_response.json":                      api + "/runs/" + r.ID,
		"runs_list_response.json":                     api + "/workspaces/" + ws.ID + "/runs",
		"policy_evaluations_list_response.json":       api + "/task-stages/" + policedStage.ID + "/policy-evaluations",
		"policy_set_outcomes_list_response.json":      api + "/policy-evaluations/" + evaluation + "/policy-set-outcomes",
		"policy_set_outcome_show_response.json":       api + "/policy-set-outcomes/" + outcomes.Items[0].ID,
		"task_configs_list_response.json":             api + "/organizations/acme/task-configs",
		"task_config_response.json":                   api + "/organizations/acme/task-configs?filter[target_type]=project&filter[target_id]=" + ws.ProjectID,
	} {
		t.Run(fixture, func(t *testing.T) {
			doc, err := docsample.Read("../testdata", fixture)
			if err != nil {
				t.Fatal(err)
			}
			want := shapeOf(t, fixture, doc)
			resp, body := rawRequest(t, http.MethodGet, get, s.Token, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", get, resp.StatusCode, body)
			}
			got := shapeOf(t, get, body)
			wantData, gotData := want["data"], got["data"]
			if list, ok := gotData.([]any); ok {
				gotData = list[0]
			}
			if list, ok := wantData.([]any); ok {
				wantData = list[0]
			}
			w, g := wantData.(map[string]any), gotData.(map[string]any)
			if w["type"] != g["type"] {
				t.Errorf("type %v, documented %v", g["type"], w["type"])
			}
			missing := missingKeys("data/attributes", w["attributes"], g["attributes"])
			if rels, ok := w["relationships"].(map[string]any); ok {
				delete(rels, "tasks") // the documents' name for workspace-tasks, which tfctest sends
				missing = append(missing, missingKeys("data/relationships", rels, g["relationships"])...)
			}
			for _, top := range []string{"links", "meta"} {
				if want[top] != nil {
					missing = append(missing, missingKeys(top, want[top], got[top])...)
				}
			}
			if inc, ok := want["included"].([]any); ok && len(inc) > 0 {
				if len(got["included"].([]any)) == 0 {
					missing = append(missing, "included")
				}
			}
			if len(missing) > 0 {
				t.Errorf("missing documented keys %v in %s", missing, body)
			}
		})
	}
}

func TestScalrAndCTSDocumentsHaveTheDocumentedShape(t *testing.T) {
	scalr := newServer(t, tfctest.WithScalr())
	id := scalr.AddPolicyCheck("run-scalr00000000000", tfctest.PolicyCheck{Status: tfc.PolicyCheckPassed,
		Policies: []tfc.PolicyCheckPolicy{{Name: "cost-check", Result: "advisory_failed", Messages: []string{"too expensive"}}}})
	cts := newCTSServer(t)
	cts.AddTask(webTask)
	for fixture, get := range map[string]string{
		"scalr_policy_check_show_response.json":  scalr.URL + "/api/iacp/v3/policy-checks/" + id,
		"scalr_policy_checks_list_response.json": scalr.URL + "/api/iacp/v3/runs/run-scalr00000000000/policy-checks",
		"cts_tasks_list_response.json":           cts.URL + "/v1/tasks",
		"cts_task_get_response.json":             cts.URL + "/v1/tasks/web",
		"cts_status_response.json":               cts.URL + "/v1/status",
	} {
		doc, err := os.ReadFile("../testdata/" + fixture)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := rawRequest(t, http.MethodGet, get, scalr.Token, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", get, resp.StatusCode, body)
		}
		want, got := shapeOf(t, fixture, doc), shapeOf(t, get, body)
		for _, k := range []string{"included", "meta"} { // Scalr's null members say nothing
			if v, ok := want[k]; ok && v == nil {
				delete(want, k)
			}
		}
		// Conditions differ by kind between samples; compare the rest.
		for _, m := range []map[string]any{want, got} {
			for _, k := range []string{"task", "tasks"} {
				switch v := m[k].(type) {
				case map[string]any:
					delete(v, "condition")
					delete(v, "module_input")
				case []any:
					for _, it := range v {
						delete(it.(map[string]any), "condition")
						delete(it.(map[string]any), "module_input")
					}
				}
			}
		}
		if missing := missingKeys("", want, got); len(missing) > 0 {
			t.Errorf("%s: missing documented keys %v in %s", fixture, missing, body)
		}
	}
}
