package tfc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIErrorMatchesSentinel(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		sentinel error
	}{
		{401, `{"errors":[{"status":"401","title":"unauthorized"}]}`, ErrUnauthorized},
		{403, string(fixture(t, "testconfig_error_403.json")), ErrForbidden},
		{404, string(fixture(t, "error_404.json")), ErrNotFound},
		{409, `{"errors":[{"status":"409","title":"conflict","detail":"Override is not possible"}]}`, ErrConflict},
		{422, string(fixture(t, "testconfig_error_422_provider.json")), ErrUnprocessable},
		{429, string(fixture(t, "error_429.json")), ErrRateLimited},
	}
	sentinels := []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrUnprocessable, ErrRateLimited, ErrInvalidArgument}
	for _, tt := range tests {
		api := newTestAPI(t, WithRetryPolicy(NoRetries()))
		api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", "req-123")
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(tt.body))
		})
		_, err := api.client.RunTasks.Read(context.Background(), "task-1", nil)
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%d: error %v is not an *APIError", tt.status, err)
		}
		for _, s := range sentinels {
			if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
				t.Errorf("%d: errors.Is(err, %v) = %v", tt.status, s, got)
			}
		}
		if apiErr.StatusCode != tt.status || apiErr.RequestID != "req-123" || apiErr.Method != "GET" ||
			apiErr.Path != "/api/v2/tasks/task-1" || len(apiErr.Errors) == 0 {
			t.Errorf("%d: APIError = %+v", tt.status, apiErr)
		}
		if !strings.Contains(err.Error(), "(request id req-123)") {
			t.Errorf("%d: Error() lacks the request id: %s", tt.status, err)
		}
	}
}

func TestAPIErrorFields(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/tasks/task-1", serveFixture(t, 422, "testconfig_error_422_configuration.json"))
	_, err := api.client.RunTasks.Read(context.Background(), "task-1", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatal(err)
	}
	o := apiErr.Errors[0]
	if o.Status != "422" || o.Title != "Invalid Attribute" || o.Source == nil || o.Source.Pointer != "/data/attributes/oidc-configuration" {
		t.Errorf("error object = %+v", o)
	}
	if d, ok := apiErr.Detail("/data/attributes/oidc-configuration"); !ok || d != "OIDC configuration is required when OIDC is enabled" {
		t.Errorf("Detail = %q, %v", d, ok)
	}
	want := "tfc: GET /api/v2/tasks/task-1: 422 Unprocessable Entity: Invalid Attribute: OIDC configuration is required when OIDC is enabled [/data/attributes/oidc-configuration]"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
}

func TestAPIErrorNonJSONBody(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"html from a proxy", "text/html", "<html><head><TITLE>502 Bad Gateway</TITLE></head><body><h1>nginx</h1></body></html>", "502 Bad Gateway"},
		{"plain text", "text/plain", "\n\n  upstream connect error\nor disconnect\n", "upstream connect error"},
		{"html without title", "text/html", "<html><body>oops</body></html>", ""},
		{"empty", "", "", ""},
		{"errors as strings", mediaTypeJSONAPI, `{"errors":["Workspace not found"]}`, ""},
		{"long line", "text/plain", strings.Repeat("x", 500), strings.Repeat("x", maxMessage) + "…"},
	}
	for _, tt := range tests {
		api := newTestAPI(t, WithRetryPolicy(NoRetries()))
		api.handle("GET /api/v2/tasks/task-1", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tt.contentType)
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(tt.body))
		})
		_, err := api.client.RunTasks.Read(context.Background(), "task-1", nil)
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if apiErr.StatusCode != 502 || apiErr.Message != tt.want {
			t.Errorf("%s: StatusCode %d, Message %q; want %q", tt.name, apiErr.StatusCode, apiErr.Message, tt.want)
		}
		if tt.name == "errors as strings" && (len(apiErr.Errors) != 1 || apiErr.Errors[0].Detail != "Workspace not found") {
			t.Errorf("string error objects: %+v", apiErr.Errors)
		}
	}
}

func TestErrorStatusAsNumber(t *testing.T) {
	var e APIError
	parseJSONAPIError(&e, fixture(t, "error_429.json"))
	if len(e.Errors) != 1 || e.Errors[0].Status != "429" || e.Errors[0].Title != "Too many requests" {
		t.Errorf("errors = %+v", e.Errors)
	}
}

func TestAPIErrorWithoutStatusText(t *testing.T) {
	e := &APIError{StatusCode: 599, Method: "GET", Path: "/x", RetryAfter: time.Second}
	if got := e.Error(); got != "tfc: GET /x: 599" {
		t.Errorf("Error() = %q", got)
	}
}

// TestValidationSendsNothing calls every method with an argument that is wrong in a way
// knowable before the network.
func TestValidationSendsNothing(t *testing.T) {
	c, err := NewClient(WithToken(testToken), WithHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	valid := RunTaskCreateOptions{Name: "ok", URL: "https://example.com/hook"}
	calls := map[string]func() error{
		"create: empty org": func() error { _, err := c.RunTasks.Create(ctx, "", valid); return err },
		"create: no name": func() error {
			_, err := c.RunTasks.Create(ctx, "org", RunTaskCreateOptions{URL: valid.URL})
			return err
		},
		"create: bad name": func() error {
			_, err := c.RunTasks.Create(ctx, "org", RunTaskCreateOptions{Name: "has space", URL: valid.URL})
			return err
		},
		"create: relative url": func() error {
			_, err := c.RunTasks.Create(ctx, "org", RunTaskCreateOptions{Name: "ok", URL: "/hook"})
			return err
		},
		"create: category": func() error {
			o := valid
			o.Category = "other"
			_, err := c.RunTasks.Create(ctx, "org", o)
			return err
		},
		"create: long description": func() error {
			o := valid
			o.Description = strings.Repeat("d", 301)
			_, err := c.RunTasks.Create(ctx, "org", o)
			return err
		},
		"create: bad global stage": func() error {
			o := valid
			o.GlobalConfiguration = &RunTaskGlobalConfigurationOptions{Stages: []Stage{"plan"}}
			_, err := c.RunTasks.Create(ctx, "org", o)
			return err
		},
		"create: bad global enforcement": func() error {
			o := valid
			o.GlobalConfiguration = &RunTaskGlobalConfigurationOptions{EnforcementLevel: "strict"}
			_, err := c.RunTasks.Create(ctx, "org", o)
			return err
		},
		"list: page size": func() error {
			_, err := c.RunTasks.List(ctx, "org", &RunTaskListOptions{ListOptions: ListOptions{PageSize: 101}})
			return err
		},
		"list: negative page": func() error {
			_, err := c.RunTasks.List(ctx, "org", &RunTaskListOptions{ListOptions: ListOptions{PageNumber: -1}})
			return err
		},
		"list: org with slash": func() error { _, err := c.RunTasks.List(ctx, "a/b", nil); return err },
		"read: empty id":       func() error { _, err := c.RunTasks.Read(ctx, "", nil); return err },
		"read: id with space":  func() error { _, err := c.RunTasks.Read(ctx, "task 1", nil); return err },
		"update: empty name": func() error {
			_, err := c.RunTasks.Update(ctx, "task-1", RunTaskUpdateOptions{Name: Ptr("")})
			return err
		},
		"update: empty pool": func() error {
			_, err := c.RunTasks.Update(ctx, "task-1", RunTaskUpdateOptions{AgentPoolID: Set("")})
			return err
		},
		"update: bad url": func() error {
			_, err := c.RunTasks.Update(ctx, "task-1", RunTaskUpdateOptions{URL: Ptr("ftp://x")})
			return err
		},
		"delete: empty id": func() error { return c.RunTasks.Delete(ctx, "") },
		"attach: no task": func() error {
			_, err := c.WorkspaceRunTasks.Create(ctx, "ws-1", WorkspaceRunTaskCreateOptions{EnforcementLevel: EnforcementAdvisory})
			return err
		},
		"attach: no enforcement": func() error {
			_, err := c.WorkspaceRunTasks.Create(ctx, "ws-1", WorkspaceRunTaskCreateOptions{RunTaskID: "task-1"})
			return err
		},
		"attach: bad stage": func() error {
			_, err := c.WorkspaceRunTasks.Create(ctx, "ws-1", WorkspaceRunTaskCreateOptions{RunTaskID: "task-1", EnforcementLevel: EnforcementMandatory, Stages: []Stage{StageTest}})
			return err
		},
		"attach: empty workspace": func() error {
			_, err := c.WorkspaceRunTasks.Create(ctx, "", WorkspaceRunTaskCreateOptions{})
			return err
		},
		"ws update: enforcement": func() error {
			_, err := c.WorkspaceRunTasks.Update(ctx, "ws-1", "wstask-1", WorkspaceRunTaskUpdateOptions{EnforcementLevel: "x"})
			return err
		},
		"ws read: empty id":   func() error { _, err := c.WorkspaceRunTasks.Read(ctx, "ws-1", ""); return err },
		"ws delete: empty id": func() error { return c.WorkspaceRunTasks.Delete(ctx, "ws-1", "") },
		"ws list: page size": func() error {
			_, err := c.WorkspaceRunTasks.List(ctx, "ws-1", &WorkspaceRunTaskListOptions{ListOptions{PageSize: 1000}})
			return err
		},
		"stages: empty run":       func() error { _, err := c.TaskStages.List(ctx, "", nil); return err },
		"stage: empty id":         func() error { _, err := c.TaskStages.Read(ctx, "", nil); return err },
		"override: empty id":      func() error { _, err := c.TaskStages.Override(ctx, "", nil); return err },
		"result: empty id":        func() error { _, err := c.TaskResults.Read(ctx, ""); return err },
		"entitlements: empty org": func() error { _, err := c.Organizations.ReadEntitlements(ctx, ""); return err },
		"ttl: too short": func() error {
			_, err := c.Organizations.UpdateModuleTestTokenTTL(ctx, "org", 299*time.Second)
			return err
		},
		"ttl: too long": func() error {
			_, err := c.Organizations.UpdateModuleTestTokenTTL(ctx, "org", 1801*time.Second)
			return err
		},
		"ttl: not whole seconds": func() error {
			_, err := c.Organizations.UpdateModuleTestTokenTTL(ctx, "org", 600*time.Second+time.Millisecond)
			return err
		},
		"organization: empty name": func() error { _, err := c.Organizations.Read(ctx, ""); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", name, err)
			continue
		}
		var argErr *ArgumentError
		if !errors.As(err, &argErr) || argErr.Name == "" || !strings.HasPrefix(err.Error(), "tfc: invalid argument: ") {
			t.Errorf("%s: error %q is not a descriptive *ArgumentError", name, err)
		}
	}
	for range c.RunTasks.All(ctx, "org", &RunTaskListOptions{ListOptions: ListOptions{PageSize: 500}}) {
		break
	}
}
