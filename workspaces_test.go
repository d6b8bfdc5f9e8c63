package tfc

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// documentedWorkspace is the workspace of the documented sample, field by field.
func documentedWorkspace() Workspace {
	at := func(ms int) time.Time { return time.Date(2021, 8, 16, 21, 22, 49, ms*1e6, time.UTC) }
	return Workspace{
		ID: "ws-6jrRyVDv1J8zQMB5", Name: "workspace-1", Organization: "my-organization", ProjectID: "prj-hjy7ndEkmCtn31ps",
		ExecutionMode: "agent", AgentPoolID: "apool-QxGd2tRjympfMvQc", CurrentRunID: "run-hjy7ndEkmCtn31ps",
		CurrentStateVersionID: "sv-hjy7ndEkmCtn31ps", CurrentConfigurationVersionID: "cv-hjy7ndEkmCtn31ps",
		LockedByID: "user-hjy7ndEkmCtn31ps", LockedByType: "users",
		Environment: "default", AllowDestroyPlan: true, FileTriggersEnabled: true, SpeculativeEnabled: true,
		StructuredRunOutputEnabled: true, Operations: true, Locked: true,
		TerraformVersion: "1.9.4", TriggerPrefixes: []string{}, TagNames: []string{},
		Source: "tfe-api", ResourceCount: 10,
		ApplyDurationAverage: 35 * time.Second, PlanDurationAverage: 53 * time.Second, RunFailures: 3, RunsCount: 8,
		Permissions: WorkspacePermissions{
			CanUpdate: true, CanDestroy: true, CanQueueRun: true, CanReadRun: true, CanReadVariable: true, CanUpdateVariable: true,
			CanReadStateVersions: true, CanReadStateOutputs: true, CanCreateStateVersions: true, CanQueueApply: true,
			CanLock: true, CanUnlock: true, CanForceUnlock: true, CanReadSettings: true, CanManageTags: true,
			CanManageRunTasks: true, CanForceDelete: true, CanManageAssessments: true, CanReadAssessmentResults: true,
			CanQueueDestroy: true,
		},
		SettingOverwrites:      WorkspaceSettingOverwrites{ExecutionMode: true, AgentPool: true},
		IsDestroyable:          true,
		CreatedAt:              at(566),
		UpdatedAt:              at(566),
		LatestChangeAt:         at(566),
		LastAssessmentResultAt: time.Date(2021, 8, 17, 21, 20, 12, 908e6, time.UTC),
	}
}

func TestWorkspacesRead(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/organizations/my-organization/workspaces/workspace-1", serveSample(t, http.StatusOK, "workspace_show_response.json"))
	api.handle("GET /api/v2/workspaces/ws-6jrRyVDv1J8zQMB5", serveSample(t, http.StatusOK, "workspace_show_response.json"))
	api.handle("GET /api/v2/organizations/my-organization/workspaces/missing", serveFixture(t, http.StatusNotFound, "error_404.json"))
	ctx := context.Background()
	want := documentedWorkspace()
	byName, err := api.client.Workspaces.Read(ctx, "my-organization", "workspace-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*byName, want) {
		t.Errorf("got  %+v\nwant %+v", *byName, want)
	}
	byID, err := api.client.Workspaces.ReadByID(ctx, "ws-6jrRyVDv1J8zQMB5")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*byID, want) {
		t.Errorf("by ID: %+v", *byID)
	}
	if _, err := api.client.Workspaces.Read(ctx, "my-organization", "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v", err)
	}
}

func TestWorkspaceVCSRepo(t *testing.T) {
	api := newTestAPI(t)
	api.handle("GET /api/v2/workspaces/ws-1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"ws-1","type":"workspaces","attributes":{"name":"app","description":"The app",
			"vcs-repo":{"branch":"main","identifier":"acme/app","display-identifier":"acme/app","ingress-submodules":true,
			"oauth-token-id":"ot-1","tags-regex":null,"repository-http-url":"https://github.com/acme/app","service-provider":"github",
			"webhook-url":"https://app.terraform.io/webhooks/vcs/a1b2"},
			"hyok-enabled":true,"auto-destroy-status":"scheduled","inherits-project-auto-destroy":true,"oauth-client-name":"GitHub",
			"vcs-repo-identifier":"acme/app","working-directory":"infra","trigger-patterns":["infra/**/*"],
			"auto-destroy-at":"2030-01-02T03:04:05.000Z","auto-destroy-activity-duration":"14d","apply-duration-average":1500.5}}}`))
	})
	ws, err := api.client.Workspaces.ReadByID(context.Background(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	want := &WorkspaceVCSRepo{Identifier: "acme/app", DisplayIdentifier: "acme/app", Branch: "main", IngressSubmodules: true,
		OAuthTokenID: "ot-1", RepositoryHTTPURL: "https://github.com/acme/app", ServiceProvider: "github",
		WebhookURL: "https://app.terraform.io/webhooks/vcs/a1b2"}
	if !reflect.DeepEqual(ws.VCSRepo, want) || ws.VCSRepoIdentifier != "acme/app" || ws.WorkingDirectory != "infra" ||
		ws.Description != "The app" || !reflect.DeepEqual(ws.TriggerPatterns, []string{"infra/**/*"}) ||
		!ws.AutoDestroyAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) || ws.AutoDestroyActivityDuration != "14d" ||
		ws.ApplyDurationAverage != 1500500*time.Microsecond || !ws.HYOKEnabled || ws.AutoDestroyStatus != "scheduled" ||
		!ws.InheritsProjectAutoDestroy || ws.OAuthClientName != "GitHub" {
		t.Errorf("workspace %+v, repo %+v", ws, ws.VCSRepo)
	}
}

func TestWorkspaceArgumentsCheckedBeforeTheNetwork(t *testing.T) {
	c := offlineClient(t)
	ctx := context.Background()
	assertRefused(t, map[string]func() error{
		"no organization": func() error { _, err := c.Workspaces.Read(ctx, "", "app"); return err },
		"no name":         func() error { _, err := c.Workspaces.Read(ctx, "acme", ""); return err },
		"slash":           func() error { _, err := c.Workspaces.Read(ctx, "acme", "a/b"); return err },
		"dot":             func() error { _, err := c.Workspaces.Read(ctx, "acme", "app.prod"); return err },
		"no ID":           func() error { _, err := c.Workspaces.ReadByID(ctx, ""); return err },
	})
}

// TestWorkspacesReadWithCurrentRun: include=current_run fills Workspace.CurrentRun, by
// name and by ID; a run and a workspace included together that name each other (a task
// stage read with run.workspace, the run being the workspace's current one) decode
// without recursing.
func TestWorkspacesReadWithCurrentRun(t *testing.T) {
	api := newTestAPI(t)
	const doc = `{"data":{"id":"ws-1","type":"workspaces","attributes":{"name":"app"},
		"relationships":{"current-run":{"data":{"id":"run-1","type":"runs"}}}},
		"included":[{"id":"run-1","type":"runs","attributes":{"status":"applied","message":"ship it"},
		"relationships":{"workspace":{"data":{"id":"ws-1","type":"workspaces"}}}}]}`
	serve := func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("include"); got != "current_run" {
			t.Errorf("include=%q", got)
		}
		_, _ = w.Write([]byte(doc))
	}
	api.handle("GET /api/v2/organizations/acme/workspaces/app", serve)
	api.handle("GET /api/v2/workspaces/ws-1", serve)
	api.handle("GET /api/v2/task-stages/ts-1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"ts-1","type":"task-stages","attributes":{"stage":"post_plan","status":"passed"},
			"relationships":{"run":{"data":{"id":"run-1","type":"runs"}}}},
			"included":[{"id":"run-1","type":"runs","attributes":{"status":"applied"},
			"relationships":{"workspace":{"data":{"id":"ws-1","type":"workspaces"}}}},
			{"id":"ws-1","type":"workspaces","attributes":{"name":"app"},
			"relationships":{"current-run":{"data":{"id":"run-1","type":"runs"}}}}]}`))
	})
	ctx := context.Background()
	opts := &WorkspaceReadOptions{Include: []WorkspaceInclude{WorkspaceIncludeCurrentRun}}
	byName, err := api.client.Workspaces.ReadWithOptions(ctx, "acme", "app", opts)
	if err != nil {
		t.Fatal(err)
	}
	byID, err := api.client.Workspaces.ReadByIDWithOptions(ctx, "ws-1", opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*Workspace{byName, byID} {
		if ws.CurrentRun == nil || ws.CurrentRun.ID != "run-1" || ws.CurrentRun.Status != RunApplied || ws.CurrentRun.Message != "ship it" {
			t.Errorf("current run %+v", ws.CurrentRun)
		}
	}
	st, err := api.client.TaskStages.Read(ctx, "ts-1", &TaskStageReadOptions{Include: []TaskStageInclude{TaskStageIncludeRun, TaskStageIncludeRunWorkspace}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Run == nil || st.Run.Workspace == nil || st.Run.Workspace.CurrentRunID != "run-1" || st.Run.Workspace.CurrentRun != nil {
		t.Errorf("stage's run %+v", st.Run)
	}
}
