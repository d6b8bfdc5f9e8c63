package tfc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

// documentedTaskConfig is the configuration of the documented responses.
var documentedTaskConfig = TaskConfig{
	ID: "taskcfg-3oF7doSTQdAFnMLK", EnforcementLevel: EnforcementMandatory, AllowedStages: []Stage{StagePrePlan},
	RunTaskID: "task-7oD7doVTQdAFnMLV", OwnerType: "organizations", OwnerID: "my-organization",
	ProjectIDs: []string{"prj-jT92VLSFpv8FwKtc"},
}

func TestTaskConfigsCreate(t *testing.T) {
	api := newTestAPI(t)
	var want string
	api.handle("POST /api/v2/organizations/my-organization/task-configs", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, want))
		serveFixture(t, http.StatusCreated, "task_config_response.json")(w, r)
	})
	ctx := context.Background()
	for _, tt := range []struct {
		request string
		opts    TaskConfigOptions
	}{
		{"task_config_create_global_request.json", TaskConfigOptions{Global: true, EnforcementLevel: EnforcementMandatory, AllowedStages: []Stage{StagePrePlan}}},
		{"task_config_create_targeted_request.json", TaskConfigOptions{EnforcementLevel: EnforcementMandatory, AllowedStages: []Stage{StagePrePlan},
			ProjectIDs: []string{"prj-jT92VLSFpv8FwKtc"}}},
	} {
		want = tt.request
		tc, err := api.client.TaskConfigs.Create(ctx, "my-organization", TaskConfigCreateOptions{RunTaskID: "task-7oD7doVTQdAFnMLV", TaskConfigOptions: tt.opts})
		if err != nil {
			t.Fatalf("%s: %v", tt.request, err)
		}
		if !reflect.DeepEqual(*tc, documentedTaskConfig) {
			t.Errorf("got  %+v\nwant %+v", *tc, documentedTaskConfig)
		}
	}
}

func TestTaskConfigsUpdate(t *testing.T) {
	api := newTestAPI(t)
	var want string
	api.handle("PATCH /api/v2/task-configs/taskcfg-3oF7doSTQdAFnMLK", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), fixture(t, want))
		serveFixture(t, http.StatusCreated, "task_config_response.json")(w, r) // the page documents 201
	})
	ctx := context.Background()
	for _, tt := range []struct {
		request string
		opts    TaskConfigUpdateOptions
	}{
		{"task_config_update_global_request.json", TaskConfigUpdateOptions{Global: Ptr(true), EnforcementLevel: EnforcementMandatory, AllowedStages: []Stage{StagePrePlan}}},
		{"task_config_update_targeted_request.json", TaskConfigUpdateOptions{Global: Ptr(false), EnforcementLevel: EnforcementMandatory,
			AllowedStages: []Stage{StagePrePlan}, ProjectIDs: []string{"prj-jT92VLSFpv8FwKtc"}}},
	} {
		want = tt.request
		tc, err := api.client.TaskConfigs.Update(ctx, "taskcfg-3oF7doSTQdAFnMLK", tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.request, err)
		}
		if !reflect.DeepEqual(*tc, documentedTaskConfig) {
			t.Errorf("got %+v", *tc)
		}
	}

	// Nothing but what is set is sent; an empty project list clears the targets.
	api.handle("PATCH /api/v2/task-configs/taskcfg-2", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), []byte(`{"data":{"type":"task-configs","id":"taskcfg-2","attributes":{},
			"relationships":{"projects":{"data":[]}}}}`))
		serveFixture(t, http.StatusOK, "task_config_response.json")(w, r)
	})
	if _, err := api.client.TaskConfigs.Update(ctx, "taskcfg-2", TaskConfigUpdateOptions{ProjectIDs: []string{}}); err != nil {
		t.Fatal(err)
	}
}

func TestTaskConfigsList(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/my-organization/task-configs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("filter[target_type]") != "project" || q.Get("filter[target_id]") != "prj-WsVcWRr7SfxRci1v" ||
			q.Get("filter[task_category]") != "hook" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		serveFixture(t, http.StatusOK, "task_configs_list_response.json")(w, r)
	})
	opts := &TaskConfigListOptions{TargetType: TaskConfigTargetProject, TargetID: "prj-WsVcWRr7SfxRci1v", TaskCategory: "hook"}
	page, err := api.client.TaskConfigs.List(context.Background(), "my-organization", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Pagination == nil || page.Pagination.TotalCount != 1 || !reflect.DeepEqual(*page.Items[0], documentedTaskConfig) {
		t.Errorf("page %+v, first %+v", page, page.Items[0])
	}
	n := 0
	for tc, err := range api.client.TaskConfigs.All(context.Background(), "my-organization", opts) {
		if err != nil || tc.ID != documentedTaskConfig.ID {
			t.Fatal(tc, err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("All yielded %d", n)
	}
}

// TestRunTasksCreateWithTaskConfigs builds the documented create request with a task
// configuration. The sample, as printed, names the key "hmac_key" and sends enabled as
// the string "true", where the attribute table (and tfc) use "hmac-key" and a boolean;
// everything else, the task-configs relationship whole, is compared as printed.
func TestRunTasksCreateWithTaskConfigs(t *testing.T) {
	api := newTestAPI(t)
	api.handle("POST /api/v2/organizations/my-organization/tasks", func(w http.ResponseWriter, r *http.Request) {
		var got, want map[string]map[string]any
		if err := json.Unmarshal(readBody(t, r), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sample(t, "runtasks_create_task_configs_request.json"), &want); err != nil {
			t.Fatal(err)
		}
		attrs := want["data"]["attributes"].(map[string]any)
		attrs["hmac-key"], attrs["enabled"] = attrs["hmac_key"], true
		delete(attrs, "hmac_key")
		g, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		assertJSONEqual(t, g, wj)
		serveFixture(t, http.StatusCreated, "runtasks_create_response.json")(w, r)
	})
	_, err := api.client.RunTasks.Create(context.Background(), "my-organization", RunTaskCreateOptions{
		Name: "example", URL: "http://example.com", Description: "Simple description", HMACKey: "secret", Enabled: Ptr(true),
		AgentPoolID: "apool-yoGUFz5zcRMMz53i",
		TaskConfigs: []TaskConfigOptions{{Global: true, EnforcementLevel: EnforcementMandatory, AllowedStages: []Stage{StagePrePlan}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunTasksUpdateWithTaskConfigs(t *testing.T) {
	api := newTestAPI(t)
	api.handle("PATCH /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), []byte(`{"data":{"type":"tasks","attributes":{},"relationships":{"task-configs":{"data":[
			{"type":"task-configs","attributes":{"global":false,"enforcement-level":"advisory","allowed-stages":["post_plan"]},
			 "relationships":{"owner":{"data":{"type":"organizations","id":"acme"}},"projects":{"data":[{"type":"projects","id":"prj-1"}]}}}]}}}}`))
		serveFixture(t, http.StatusOK, "runtasks_update_response.json")(w, r)
	})
	ctx := context.Background()
	opts := RunTaskUpdateOptions{Organization: "acme", TaskConfigs: []TaskConfigOptions{
		{EnforcementLevel: EnforcementAdvisory, AllowedStages: []Stage{StagePostPlan}, ProjectIDs: []string{"prj-1"}}}}
	if _, err := api.client.RunTasks.Update(ctx, "task-1", opts); err != nil {
		t.Fatal(err)
	}
	opts.Organization = ""
	if _, err := api.client.RunTasks.Update(ctx, "task-1", opts); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("without the owning organization: %v", err)
	}
}

// TestRunTaskReadTaskConfigs: what a run task's read says about its configurations.
func TestRunTaskReadTaskConfigs(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"task-1","type":"tasks","attributes":{"name":"guard"},
			"relationships":{"task-configs":{"data":[{"id":"taskcfg-1","type":"task-configs"}]}}}}`))
	})
	task, err := api.client.RunTasks.Read(context.Background(), "task-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.TaskConfigs) != 1 || !reflect.DeepEqual(*task.TaskConfigs[0], TaskConfig{ID: "taskcfg-1"}) {
		t.Errorf("task configs %+v", task.TaskConfigs)
	}
}

func TestTaskConfigArgumentsCheckedBeforeTheNetwork(t *testing.T) {
	c := offlineClient(t)
	ctx := context.Background()
	good := TaskConfigOptions{EnforcementLevel: EnforcementAdvisory, AllowedStages: []Stage{StagePostPlan}}
	with := func(change func(*TaskConfigOptions)) TaskConfigCreateOptions {
		o := good
		change(&o)
		return TaskConfigCreateOptions{RunTaskID: "task-1", TaskConfigOptions: o}
	}
	assertRefused(t, map[string]func() error{
		"no organization": func() error {
			_, err := c.TaskConfigs.Create(ctx, "", TaskConfigCreateOptions{RunTaskID: "task-1", TaskConfigOptions: good})
			return err
		},
		"no task": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", TaskConfigCreateOptions{TaskConfigOptions: good})
			return err
		},
		"no level": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", with(func(o *TaskConfigOptions) { o.EnforcementLevel = "" }))
			return err
		},
		"no stages": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", with(func(o *TaskConfigOptions) { o.AllowedStages = nil }))
			return err
		},
		"bad stage": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", with(func(o *TaskConfigOptions) { o.AllowedStages = []Stage{"apply"} }))
			return err
		},
		"global with projects": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", with(func(o *TaskConfigOptions) { o.Global, o.ProjectIDs = true, []string{"prj-1"} }))
			return err
		},
		"targeted at no project": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", with(func(o *TaskConfigOptions) { o.Global, o.ProjectIDs = false, nil }))
			return err
		},
		"empty project": func() error {
			_, err := c.TaskConfigs.Create(ctx, "acme", with(func(o *TaskConfigOptions) { o.ProjectIDs = []string{""} }))
			return err
		},
		"update level": func() error {
			_, err := c.TaskConfigs.Update(ctx, "taskcfg-1", TaskConfigUpdateOptions{EnforcementLevel: "strict"})
			return err
		},
		"update no ID": func() error { _, err := c.TaskConfigs.Update(ctx, "", TaskConfigUpdateOptions{}); return err },
		"update global with projects": func() error {
			_, err := c.TaskConfigs.Update(ctx, "taskcfg-1", TaskConfigUpdateOptions{Global: Ptr(true), ProjectIDs: []string{"prj-1"}})
			return err
		},
		"target without ID": func() error {
			_, err := c.TaskConfigs.List(ctx, "acme", &TaskConfigListOptions{TargetType: TaskConfigTargetProject})
			return err
		},
		"unknown target": func() error {
			_, err := c.TaskConfigs.List(ctx, "acme", &TaskConfigListOptions{TargetType: "workspace", TargetID: "ws-1"})
			return err
		},
		"run task with a bad config": func() error {
			_, err := c.RunTasks.Create(ctx, "acme", RunTaskCreateOptions{Name: "a", URL: "https://a.example",
				TaskConfigs: []TaskConfigOptions{{EnforcementLevel: EnforcementAdvisory}}})
			return err
		},
	})
}
