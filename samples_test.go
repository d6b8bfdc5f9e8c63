package tfc

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tfkit/tfc/internal/docsample"
)

// sample returns an official sample of testdata/, kept as printed, with the printing
// quirks that keep it from being JSON undone (see internal/docsample).
func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := docsample.Read("testdata", name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveSample answers with status and sample(name) as a JSON:API body.
func serveSample(t *testing.T, status int, name string) http.HandlerFunc {
	return serveBody(status, sample(t, name))
}

// TestPrintedSamplesThatAreNotJSON: a response as the documentation prints it, "{...}"
// and all, is an error value naming the call, never a panic or a half-filled result.
func TestPrintedSamplesThatAreNotJSON(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/runs/run-1", serveFixture(t, http.StatusOK, "run_show_response.json"))
	api.handle("GET /api/v2/workspaces/ws-1", serveFixture(t, http.StatusOK, "workspace_show_response.json"))
	api.handle("GET /api/v2/task-stages/ts-1/policy-evaluations", serveFixture(t, http.StatusOK, "policy_evaluations_list_response.json"))
	ctx := context.Background()
	run, err := api.client.Runs.Read(ctx, "run-1")
	if err == nil || run != nil || errors.Is(err, ErrInvalidArgument) {
		t.Errorf("run: %v, %v", run, err)
	}
	ws, err := api.client.Workspaces.ReadByID(ctx, "ws-1")
	if err == nil || ws != nil {
		t.Errorf("workspace: %v, %v", ws, err)
	}
	page, err := api.client.PolicyEvaluations.List(ctx, "ts-1", nil)
	if err == nil || page != nil {
		t.Errorf("policy evaluations: %v, %v", page, err)
	}
	for _, name := range []string{"run_show_response.json", "runs_list_response.json", "workspace_show_response.json",
		"policy_evaluations_list_response.json", "runtasks_create_task_configs_request.json"} {
		if !docsample.Quirky(name) {
			t.Errorf("%s: no printing quirks listed", name)
		}
	}
}
