package tfc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestCTSTasksList(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/tasks", serveCTS(t, http.StatusOK, "cts_tasks_list_response.json"))
	list, err := api.client.Tasks.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if list.RequestID != "0e0290f9-94df-3a4a-fd17-72467a16083c" || len(list.Tasks) != 1 {
		t.Fatalf("list = %+v", list)
	}
	want := &CTSTask{
		Name:   "task_a",
		Module: "path/to/module",
		Condition: CTSCondition{Services: &CTSServicesCondition{
			Names:              []string{"api", "web"},
			CTSUserDefinedMeta: map[string]string{},
			UseAsModuleInput:   Ptr(true),
		}},
		Description:  "Writes the service name, id, and IP address to a file",
		Enabled:      Ptr(true),
		Providers:    []string{"my-provider"},
		Variables:    map[string]string{},
		BufferPeriod: &CTSBufferPeriod{Enabled: Ptr(true), Min: 5 * time.Second, Max: 25 * time.Second},
		ModuleInput:  &CTSModuleInput{},
	}
	if got := list.Tasks[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("task =\n %+v\nwant\n %+v", got, want)
	}
	if !list.Tasks[0].IsEnabled() || list.Tasks[0].Condition.Kind() != "services" {
		t.Errorf("IsEnabled %v, Kind %q", list.Tasks[0].IsEnabled(), list.Tasks[0].Condition.Kind())
	}
}

func TestCTSTasksRead(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/tasks/task_a", serveCTS(t, http.StatusOK, "cts_task_get_response.json"))
	api.handle("GET /v1/tasks/task_x", serveCTS(t, http.StatusNotFound, "cts_error_response.json"))
	ctx := context.Background()

	res, err := api.client.Tasks.Read(ctx, "task_a")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequestID != "b7559ab0-5111-381b-367a-0dfb7e216d41" || res.Inspection != nil {
		t.Errorf("result = %+v", res)
	}
	task := res.Task
	if kv := task.Condition.ConsulKV; kv == nil || kv.Path != "my_key" || kv.Recurse || !*kv.UseAsModuleInput {
		t.Errorf("condition = %+v", task.Condition)
	}
	if task.Condition.Kind() != "consul_kv" || task.Condition.Services != nil {
		t.Errorf("condition kind %q", task.Condition.Kind())
	}
	if mi := task.ModuleInput; mi == nil || mi.Services == nil || !reflect.DeepEqual(mi.Services.Names, []string{"api"}) {
		t.Errorf("module input = %+v", task.ModuleInput)
	}
	if bp := task.BufferPeriod; bp == nil || bp.Max != 20*time.Second || bp.Min != 5*time.Second {
		t.Errorf("buffer period = %+v", task.BufferPeriod)
	}
	if task.Providers == nil || len(task.Providers) != 0 {
		t.Errorf("providers = %#v, want empty", task.Providers)
	}

	if _, err := api.client.Tasks.Read(ctx, "task_x"); !isNotFound(err) {
		t.Errorf("unknown task: %v", err)
	}
}

func TestCTSTasksCreate(t *testing.T) {
	task := CTSTask{
		Name:        "task_a",
		Description: "Writes the service name, id, and IP address to a file",
		Enabled:     Ptr(true),
		Providers:   []string{"my-provider"},
		Condition:   CTSCondition{Services: &CTSServicesCondition{Names: []string{"web", "api"}}},
		Module:      "path/to/module",
	}
	for _, tc := range []struct {
		run      CTSRunMode
		query    string
		status   int
		response string
	}{
		{"", "", http.StatusCreated, "cts_task_create_response.json"},
		{CTSRunNow, "run=now", http.StatusCreated, "cts_task_create_response.json"},
		{CTSRunInspect, "run=inspect", http.StatusOK, "cts_task_create_inspect_response.json"},
	} {
		t.Run("run="+string(tc.run), func(t *testing.T) {
			api := newCTSTestAPI(t)
			api.handle("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.RawQuery != tc.query {
					t.Errorf("query = %q, want %q", r.URL.RawQuery, tc.query)
				}
				assertJSONEqual(t, readBody(t, r), fixture(t, "cts_task_create_request.json"))
				serveCTS(t, tc.status, tc.response)(w, r)
			})
			res, err := api.client.Tasks.Create(context.Background(), task, tc.run)
			if err != nil {
				t.Fatal(err)
			}
			if res.Task == nil || res.Task.Name != "task_a" || res.Task.BufferPeriod.Max != 25*time.Second {
				t.Errorf("task = %+v", res.Task)
			}
			switch tc.run {
			case CTSRunInspect:
				in := res.Inspection
				if res.RequestID != "bb63cd70-8f45-4f42-b27b-bc2a6f4931e6" || in == nil || !in.ChangesPresent ||
					in.RunURL != "https://app.terraform.io/app/my-org/workspaces/my-ws/runs/run-abcDeFgHijk12345" ||
					len(in.Plan) < 40 {
					t.Errorf("inspection = %+v (request id %q)", in, res.RequestID)
				}
			default:
				if res.RequestID != "0428ed18-1359-874c-8b27-742e43ebd7e7" || res.Inspection != nil {
					t.Errorf("result = %+v", res)
				}
			}
		})
	}
}

// TestCTSTaskEveryField sends a task that sets every field and compares the body with
// the hand-made sample; the sample decodes back to the same task.
func TestCTSTaskEveryField(t *testing.T) {
	task := CTSTask{
		Name:        "lb_pool",
		Description: "Keeps the load balancer pool in step with the web services",
		Enabled:     Ptr(false),
		Module:      "registry.example.com/net/lb-pool/aws",
		Version:     "1.2.0",
		Providers:   []string{"aws.east"},
		Variables:   map[string]string{"pool_name": "web", "ports": "[80,443]"},
		BufferPeriod: &CTSBufferPeriod{Enabled: Ptr(true), Min: 10 * time.Second,
			Max: 90 * time.Second},
		Condition: CTSCondition{CatalogServices: &CTSCatalogServicesCondition{
			Regexp: "^web-.*", Datacenter: "dc1", Namespace: "default",
			NodeMeta: map[string]string{"rack": "r1"}, UseAsModuleInput: Ptr(false),
		}},
		ModuleInput: &CTSModuleInput{
			Services: &CTSServicesModuleInput{
				Names: []string{"web-east", "web-west"}, Filter: `Service.Tags contains "prod"`,
				Datacenter: "dc1", Namespace: "default",
				CTSUserDefinedMeta: map[string]string{"owner": "net-team"},
			},
			ConsulKV: &CTSConsulKVModuleInput{Path: "config/lb", Recurse: true, Datacenter: "dc1", Namespace: "default"},
		},
		TerraformCloudWorkspace: &CTSTerraformCloudWorkspace{ExecutionMode: "agent",
			AgentPoolID: "apool-yoGUFz5zcRMMz53i", AgentPoolName: "cts-agents", TerraformVersion: "1.9.5"},
		TerraformVersion: "1.9.5",
	}
	want := fixture(t, "cts_task_create_full_request.json")

	api := newCTSTestAPI(t)
	api.handle("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		assertJSONEqual(t, readBody(t, r), want)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"request_id":"r1","task":` + string(mustTaskJSON(t, want)) + `}`))
	})
	res, err := api.client.Tasks.Create(context.Background(), task, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Task, &task) {
		t.Errorf("decoded task =\n %+v\nwant\n %+v", res.Task, &task)
	}
	if task.IsEnabled() || task.Condition.Kind() != "catalog_services" {
		t.Errorf("IsEnabled %v, Kind %q", task.IsEnabled(), task.Condition.Kind())
	}
}

func mustTaskJSON(t *testing.T, request []byte) json.RawMessage {
	t.Helper()
	var doc struct {
		Task json.RawMessage `json:"task"`
	}
	if err := json.Unmarshal(request, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Task
}

func TestCTSScheduleCondition(t *testing.T) {
	var task CTSTask
	if err := json.Unmarshal([]byte(`{"name":"nightly","module":"m","condition":{"schedule":{"cron":"0 3 * * *"}},"buffer_period":{"enabled":false,"min":"","max":"0s"}}`), &task); err != nil {
		t.Fatal(err)
	}
	if task.Condition.Kind() != "schedule" || task.Condition.Schedule.Cron != "0 3 * * *" {
		t.Errorf("condition = %+v", task.Condition)
	}
	if bp := task.BufferPeriod; *bp.Enabled || bp.Min != 0 || bp.Max != 0 {
		t.Errorf("buffer period = %+v", bp)
	}
	if !task.IsEnabled() {
		t.Error("a task without enabled should read as enabled (the API default)")
	}
	if (CTSCondition{}).Kind() != "" {
		t.Error("an empty condition has a kind")
	}
}

func TestCTSBufferPeriodJSON(t *testing.T) {
	b, err := json.Marshal(CTSBufferPeriod{Min: 1500 * time.Millisecond, Max: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, b, []byte(`{"min":"1.5s","max":"2m0s"}`))
	b, err = json.Marshal(CTSBufferPeriod{Enabled: Ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, b, []byte(`{"enabled":false}`))

	for _, bad := range []string{`{"min":"5"}`, `{"max":"soon"}`, `{"enabled":"yes"}`, `[]`} {
		var bp CTSBufferPeriod
		if err := json.Unmarshal([]byte(bad), &bp); err == nil {
			t.Errorf("%s decoded without an error", bad)
		}
	}
}

func TestCTSTasksUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     CTSTaskUpdateOptions
		query    string
		request  []byte
		response string
		want     *CTSInspection
	}{
		{"disable", CTSTaskUpdateOptions{Enabled: Ptr(false)}, "",
			fixture(t, "cts_task_update_request.json"), "cts_task_update_response.json", nil},
		{"enable now", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunNow}, "run=now",
			[]byte(`{"enabled":true}`), "cts_task_update_response.json", nil},
		{"inspect, no changes", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunInspect}, "run=inspect",
			[]byte(`{"enabled":true}`), "cts_task_inspect_nochanges_response.json",
			&CTSInspection{Plan: "No changes. Infrastructure is up-to-date. <truncated>"}},
		{"inspect, changes", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunInspect}, "run=inspect",
			[]byte(`{"enabled":true}`), "cts_task_inspect_changes_response.json",
			&CTSInspection{ChangesPresent: true, Plan: "<terraform plan truncated> Plan: 3 to add, 0 to change, 0 to destroy."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newCTSTestAPI(t)
			api.handle("PATCH /v1/tasks/task_a", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.RawQuery != tc.query {
					t.Errorf("query = %q, want %q", r.URL.RawQuery, tc.query)
				}
				assertJSONEqual(t, readBody(t, r), tc.request)
				serveCTS(t, http.StatusOK, tc.response)(w, r)
			})
			res, err := api.client.Tasks.Update(context.Background(), "task_a", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Inspection, tc.want) {
				t.Errorf("inspection = %+v, want %+v", res.Inspection, tc.want)
			}
		})
	}
}

func TestCTSTasksUpdateInspectRunURL(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("PATCH /v1/tasks/task_a", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"inspect":{"changes_present":true,"plan":"p","url":"https://app.terraform.io/app/o/workspaces/w/runs/run-1"}}`))
	})
	api.handle("PATCH /v1/tasks/task_x", serveCTS(t, http.StatusNotFound, "cts_error_response.json"))
	ctx := context.Background()
	res, err := api.client.Tasks.Update(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(true), Run: CTSRunInspect})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inspection == nil || res.Inspection.RunURL != "https://app.terraform.io/app/o/workspaces/w/runs/run-1" {
		t.Errorf("inspection = %+v", res.Inspection)
	}
	if _, err := api.client.Tasks.Update(ctx, "task_x", CTSTaskUpdateOptions{Enabled: Ptr(true)}); !isNotFound(err) {
		t.Errorf("unknown task: %v", err)
	}
}

func TestCTSTasksDelete(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("DELETE /v1/tasks/task_a", serveCTS(t, http.StatusAccepted, "cts_task_delete_response.json"))
	api.handle("DELETE /v1/tasks/task_x", serveCTS(t, http.StatusNotFound, "cts_error_response.json"))
	ctx := context.Background()
	res, err := api.client.Tasks.Delete(ctx, "task_a")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequestID != "9b23eea7-a435-2797-c71e-10c15766cd73" {
		t.Errorf("request id = %q", res.RequestID)
	}
	if _, err := api.client.Tasks.Delete(ctx, "task_x"); !isNotFound(err) {
		t.Errorf("unknown task: %v", err)
	}
}

func TestCTSTaskNameEscaped(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/tasks/{name}", func(w http.ResponseWriter, r *http.Request) {
		if got := r.PathValue("name"); got != "web?x=1#y%" {
			t.Errorf("name = %q", got)
		}
		if r.URL.RawQuery != "" {
			t.Errorf("the name leaked into the query: %q", r.URL.RawQuery)
		}
		_, _ = w.Write([]byte(`{"request_id":"r","task":{"name":"web?x=1#y%"}}`))
	})
	if _, err := api.client.Tasks.Read(context.Background(), "web?x=1#y%"); err != nil {
		t.Fatal(err)
	}
}

func isNotFound(err error) bool {
	var apiErr *APIError
	return err != nil && errors.Is(err, ErrNotFound) && errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}
