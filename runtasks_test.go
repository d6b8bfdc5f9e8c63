package tfc

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestRunTasksCreate(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/organizations/hashicorp/tasks", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, "runtasks_create_request.json"))
		serveFixture(t, http.StatusCreated, "runtasks_create_response.json")(w, r)
	})
	// The documented create sample, built from options.
	task, err := api.client.RunTasks.Create(context.Background(), "hashicorp", RunTaskCreateOptions{
		Name:        "example",
		URL:         "http://example.com",
		Description: "Simple description",
		HMACKey:     "secret",
		Enabled:     Ptr(true),
		GlobalConfiguration: &RunTaskGlobalConfigurationOptions{
			Enabled: Ptr(true), Stages: []Stage{StagePrePlan}, EnforcementLevel: EnforcementMandatory,
		},
		AgentPoolID: "apool-yoGUFz5zcRMMz53i",
	})
	if err != nil {
		t.Fatal(err)
	}
	if task.ID != "task-7oD7doVTQdAFnMLV" || task.Name != "my-run-task" || task.Category != "task" ||
		task.Organization != "hashicorp" || task.AgentPoolID != "apool-yoGUFz5zcRMMz53i" ||
		task.GlobalConfiguration == nil || task.GlobalConfiguration.EnforcementLevel != EnforcementMandatory {
		t.Errorf("decoded %+v", task)
	}
}

func TestRunTasksList(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/hashicorp/tasks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("page[number]") != "2" || q.Get("page[size]") != "10" || q.Get("include") != "workspace_tasks,workspace_tasks.workspace" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		serveFixture(t, http.StatusOK, "runtasks_list_response.json")(w, r)
	})
	page, err := api.client.RunTasks.List(context.Background(), "hashicorp", &RunTaskListOptions{
		ListOptions: ListOptions{PageNumber: 2, PageSize: 10},
		Include:     []RunTaskInclude{RunTaskIncludeWorkspaceTasks, RunTaskIncludeWorkspaceTasksWorkspace},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) == 0 || page.Pagination == nil || page.Pagination.CurrentPage != 1 {
		t.Fatalf("page = %+v", page)
	}
	first := page.Items[0]
	if first.ID != "task-7oD7doVTQdAFnMLV" || first.Name != "my-task" || first.URL != "http://example.com" || !first.Enabled {
		t.Errorf("first item = %+v", first)
	}
}

func TestRunTasksReadInclude(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/tasks/task-7oD7doVTQdAFnMLV", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("include"); got != "workspace_tasks,workspace_tasks.workspace" {
			t.Errorf("include = %q", got)
		}
		serveFixture(t, http.StatusOK, "runtasks_show_include_response.json")(w, r)
	})
	task, err := api.client.RunTasks.Read(context.Background(), "task-7oD7doVTQdAFnMLV", &RunTaskReadOptions{
		Include: []RunTaskInclude{RunTaskIncludeWorkspaceTasks, RunTaskIncludeWorkspaceTasksWorkspace},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := RunTask{
		ID: "task-7oD7doVTQdAFnMLV", Name: "my-task", URL: "http://example.com", Description: "Simple description",
		Category: "task", Enabled: true, Organization: "hashicorp", AgentPoolID: "apool-yoGUFz5zcRMMz53i",
		GlobalConfiguration: &RunTaskGlobalConfiguration{Enabled: true, Stages: []Stage{StagePrePlan, StagePostPlan}, EnforcementLevel: EnforcementMandatory},
		WorkspaceRunTasks: []*WorkspaceRunTask{
			{ID: "wstask-tBXYu8GVAFBpcmPm", EnforcementLevel: EnforcementMandatory, Stages: []Stage{StagePreApply, StagePostPlan},
				Stage: StagePreApply, RunTaskID: "task-7oD7doVTQdAFnMLV", WorkspaceID: "ws-kRsDRPtTmtcEme4t", WorkspaceName: "networking-prod"},
			{ID: "wstask-notIncluded00001"},
		},
		CreatedAt: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(*task, want) {
		t.Errorf("got  %+v\nwant %+v", *task, want)
	}
}

func TestRunTasksReadDocumentSample(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/tasks/task-7oD7doVTQdAFnMLV", serveFixture(t, http.StatusOK, "runtasks_show_response.json"))
	task, err := api.client.RunTasks.Read(context.Background(), "task-7oD7doVTQdAFnMLV", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The sample's "tasks" relationship holds a reference of type "tasks", not an
	// attachment (workspace-tasks): it is not read as a workspace run task.
	if len(task.WorkspaceRunTasks) != 0 || task.GlobalConfiguration != nil {
		t.Errorf("task = %+v", task)
	}
}

func TestRunTasksUpdate(t *testing.T) {
	api := newTestAPI(t)
	api.handle("PATCH /api/v2/tasks/task-7oD7doVTQdAFnMLV", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, "runtasks_update_request.json"))
		serveFixture(t, http.StatusOK, "runtasks_update_response.json")(w, r)
	})
	task, err := api.client.RunTasks.Update(context.Background(), "task-7oD7doVTQdAFnMLV", RunTaskUpdateOptions{
		Name:                Ptr("new-example"),
		URL:                 Ptr("http://new-example.com"),
		Description:         Set("New description"),
		HMACKey:             Set[Secret]("new-secret"),
		Enabled:             Ptr(false),
		Category:            Ptr("task"),
		GlobalConfiguration: &RunTaskGlobalConfigurationOptions{Enabled: Ptr(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if task.Enabled {
		t.Errorf("task = %+v", task)
	}
}

func TestRunTasksUpdateSendsNull(t *testing.T) {
	api := newTestAPI(t)
	api.handle("PATCH /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), []byte(`{"data":{"type":"tasks","attributes":{"description":null,"hmac-key":null},"relationships":{"agent-pool":{"data":null}}}}`))
		serveFixture(t, http.StatusOK, "runtasks_update_response.json")(w, r)
	})
	_, err := api.client.RunTasks.Update(context.Background(), "task-1", RunTaskUpdateOptions{
		Description: Null[string](), HMACKey: Null[Secret](), AgentPoolID: Null[string](),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunTasksDelete(t *testing.T) {
	api := newTestAPI(t)
	api.handle("DELETE /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	if err := api.client.RunTasks.Delete(context.Background(), "task-1"); err != nil {
		t.Fatal(err)
	}
}

func TestWorkspaceRunTasksCreate(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/workspaces/ws-kRsDRPtTmtcEme4t/tasks", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, "workspace_runtasks_create_request.json"))
		serveFixture(t, http.StatusCreated, "workspace_runtasks_create_response.json")(w, r)
	})
	wt, err := api.client.WorkspaceRunTasks.Create(context.Background(), "ws-kRsDRPtTmtcEme4t", WorkspaceRunTaskCreateOptions{
		RunTaskID: "task-7oD7doVTQdAFnMLV", EnforcementLevel: EnforcementAdvisory, Stages: []Stage{StagePostPlan},
	})
	if err != nil {
		t.Fatal(err)
	}
	if wt.ID == "" || wt.EnforcementLevel != EnforcementAdvisory || wt.RunTaskID == "" || len(wt.Stages) == 0 {
		t.Errorf("attachment = %+v", wt)
	}
}

func TestWorkspaceRunTasksCreateNoContent(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/workspaces/ws-1/tasks", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	wt, err := api.client.WorkspaceRunTasks.Create(context.Background(), "ws-1", WorkspaceRunTaskCreateOptions{
		RunTaskID: "task-1", EnforcementLevel: EnforcementMandatory,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := WorkspaceRunTask{EnforcementLevel: EnforcementMandatory, RunTaskID: "task-1", WorkspaceID: "ws-1"}
	if !reflect.DeepEqual(*wt, want) {
		t.Errorf("got %+v, want %+v", *wt, want)
	}
}

func TestWorkspaceRunTasksListReadUpdateDelete(t *testing.T) {
	api := newTestAPI(t)
	const ws, id = "ws-kRsDRPtTmtcEme4t", "wstask-tBXYu8GVAFBpcmPm"
	api.handle("GET /api/v2/workspaces/"+ws+"/tasks", serveFixture(t, http.StatusOK, "workspace_runtasks_list_response.json"))
	api.handle("GET /api/v2/workspaces/"+ws+"/tasks/"+id, serveFixture(t, http.StatusOK, "workspace_runtasks_show_response.json"))
	api.handle("PATCH /api/v2/workspaces/"+ws+"/tasks/"+id, func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, "workspace_runtasks_update_request.json"))
		serveFixture(t, http.StatusOK, "workspace_runtasks_update_response.json")(w, r)
	})
	api.handle("DELETE /api/v2/workspaces/"+ws+"/tasks/"+id, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()

	page, err := api.client.WorkspaceRunTasks.List(ctx, ws, nil)
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("List: %v, %+v", err, page)
	}
	n := 0
	for wt, err := range api.client.WorkspaceRunTasks.All(ctx, ws, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if wt.WorkspaceID != ws {
			t.Errorf("workspace = %q", wt.WorkspaceID)
		}
		n++
	}
	if n != len(page.Items) {
		t.Errorf("All yielded %d, List %d", n, len(page.Items))
	}

	wt, err := api.client.WorkspaceRunTasks.Read(ctx, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	want := WorkspaceRunTask{ID: id, EnforcementLevel: EnforcementAdvisory, Stages: []Stage{StagePostPlan}, Stage: StagePostPlan,
		RunTaskID: "task-hu74ST39g566Q4m5", WorkspaceID: ws}
	if !reflect.DeepEqual(*wt, want) {
		t.Errorf("Read = %+v\nwant %+v", *wt, want)
	}

	if _, err := api.client.WorkspaceRunTasks.Update(ctx, ws, id, WorkspaceRunTaskUpdateOptions{
		EnforcementLevel: EnforcementMandatory, Stages: []Stage{StagePostPlan},
	}); err != nil {
		t.Fatal(err)
	}
	if err := api.client.WorkspaceRunTasks.Delete(ctx, ws, id); err != nil {
		t.Fatal(err)
	}
}

func TestWorkspaceRunTaskDeprecatedStage(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/workspaces/ws-1/tasks/wstask-1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"wstask-1","type":"workspace-tasks","attributes":{"enforcement-level":"advisory","stage":"pre-apply"}}}`))
	})
	wt, err := api.client.WorkspaceRunTasks.Read(context.Background(), "ws-1", "wstask-1")
	if err != nil {
		t.Fatal(err)
	}
	if wt.Stage != StagePreApply || !reflect.DeepEqual(wt.Stages, []Stage{StagePreApply}) {
		t.Errorf("stage %q, stages %v", wt.Stage, wt.Stages)
	}
}

// TestRunTasksCurrentPageSamples decodes the four responses of the current tasks page
// (TASKS in testdata/README.md), printed quirks included: string booleans, no
// global-configuration, and a "tasks" relationship that holds a task in one sample and
// an attachment in another.
func TestRunTasksCurrentPageSamples(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/organizations/hashicorp/tasks", serveSample(t, http.StatusCreated, "tasks_create_response.json"))
	api.handle("GET /api/v2/organizations/hashicorp/tasks", serveSample(t, http.StatusOK, "tasks_list_response.json"))
	api.handle("GET /api/v2/tasks/task-7oD7doVTQdAFnMLV", serveSample(t, http.StatusOK, "tasks_show_response.json"))
	api.handle("PATCH /api/v2/tasks/task-7oD7doVTQdAFnMLV", serveSample(t, http.StatusOK, "tasks_update_response.json"))
	ctx := context.Background()
	base := RunTask{ID: "task-7oD7doVTQdAFnMLV", Category: "task", URL: "http://example.com", Description: "Simple description",
		Enabled: true, Organization: "hashicorp"}

	created, err := api.client.RunTasks.Create(ctx, "hashicorp", RunTaskCreateOptions{Name: "my-run-task", URL: "http://example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := base
	want.Name, want.AgentPoolID = "my-run-task", "apool-yoGUFz5zcRMMz53i"
	if !reflect.DeepEqual(*created, want) {
		t.Errorf("create:\ngot  %+v\nwant %+v", *created, want)
	}

	page, err := api.client.RunTasks.List(ctx, "hashicorp", nil)
	if err != nil {
		t.Fatal(err)
	}
	want = base
	want.Name = "my-task"
	if len(page.Items) != 1 || !reflect.DeepEqual(*page.Items[0], want) || page.Pagination.TotalCount != 1 {
		t.Errorf("list: %+v %+v", page.Items, page.Pagination)
	}

	shown, err := api.client.RunTasks.Read(ctx, "task-7oD7doVTQdAFnMLV", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*shown, want) { // its "tasks" reference is a task, not an attachment
		t.Errorf("show:\ngot  %+v\nwant %+v", *shown, want)
	}

	updated, err := api.client.RunTasks.Update(ctx, "task-7oD7doVTQdAFnMLV", RunTaskUpdateOptions{Enabled: Ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	want = RunTask{ID: "task-7oD7doVTQdAFnMLV", Category: "task", Name: "new-example", URL: "http://new-example.com",
		Description: "New description", Organization: "hashicorp",
		WorkspaceRunTasks: []*WorkspaceRunTask{{ID: "wstask-xjKZw9KaeXda61az"}}}
	if !reflect.DeepEqual(*updated, want) {
		t.Errorf("update:\ngot  %+v\nwant %+v", *updated, want)
	}
}
