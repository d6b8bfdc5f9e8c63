package tfctest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
)

func TestRunTaskCreateVerifiesTheURL(t *testing.T) {
	s := newServer(t)
	s.AddOrganization("acme")
	client := s.Client()
	bodies := make(chan []byte, 4)
	url := serveStatus(t, ok, bodies)

	task, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: url, HMACKey: hmacKey, Description: "Refuses deletions"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(task.ID, "task-") || task.Name != "guard" || task.URL != url || task.Category != "task" ||
		!task.Enabled || task.Organization != "acme" || task.Description != "Refuses deletions" || task.CreatedAt.IsZero() {
		t.Errorf("created %+v", task)
	}
	var req tfc.RunTaskRequest
	if err := json.Unmarshal(<-bodies, &req); err != nil {
		t.Fatal(err)
	}
	d := s.Deliveries()[0]
	if !req.IsVerification() || req.Stage != tfc.StageTest || req.AccessToken != tfc.VerificationAccessToken ||
		!d.Verification || d.TaskID != task.ID || d.Signature != tfc.Sign(hmacKey, d.Body) {
		t.Errorf("verification request %v, delivery %+v", req, d)
	}

	// The key is write-only: no answer carries it.
	resp, body := rawRequest(t, http.MethodGet, s.URL+"/api/v2/tasks/"+task.ID, s.Token, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.api+json" ||
		strings.Contains(string(body), hmacKey) || !strings.Contains(string(body), `"hmac-key":null`) {
		t.Errorf("read: %d %s", resp.StatusCode, body)
	}

	// Without a key the signature header is sent, empty.
	if _, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: "unsigned", URL: url}); err != nil {
		t.Fatal(err)
	}
	<-bodies
	if d := s.Deliveries()[1]; d.Signature != "" {
		t.Errorf("unsigned verification carries %q", d.Signature)
	}
	if _, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: url}); !errors.Is(err, tfc.ErrUnprocessable) {
		t.Errorf("a second task named guard: %v", err)
	}
}

func TestRunTaskCreateFailsWhenVerificationFails(t *testing.T) {
	s := newServer(t)
	s.AddOrganization("acme")
	client := s.Client()
	_, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: serveStatus(t, func([]byte) int { return 401 }, nil)})
	var apiErr *tfc.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("create: %v", err)
	}
	if detail, ok := apiErr.Detail("/data/attributes/url"); !ok || !strings.Contains(detail, "401") {
		t.Errorf("detail %q", detail)
	}
	page, err := client.RunTasks.List(ctx(t), "acme", nil)
	if err != nil || len(page.Items) != 0 {
		t.Errorf("tasks after a failed create: %v %v", page, err)
	}
	if _, err := client.RunTasks.Create(ctx(t), "nope", tfc.RunTaskCreateOptions{Name: "guard", URL: "http://127.0.0.1:1"}); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("create in an unknown organization: %v", err)
	}
}

func TestRunTaskUpdateReverifiesAndDeleteNeedsDetaching(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	client := s.Client()
	first, second := serveStatus(t, ok, nil), serveStatus(t, ok, nil)
	task, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: first, HMACKey: hmacKey})
	if err != nil {
		t.Fatal(err)
	}

	updated, err := client.RunTasks.Update(ctx(t), task.ID, tfc.RunTaskUpdateOptions{URL: tfc.Ptr(second), Description: tfc.Set("moved")})
	if err != nil {
		t.Fatal(err)
	}
	if updated.URL != second || updated.Description != "moved" || len(s.Deliveries()) != 2 || s.Deliveries()[1].URL != second {
		t.Errorf("update: %+v, deliveries %d", updated, len(s.Deliveries()))
	}
	if _, err := client.RunTasks.Update(ctx(t), task.ID, tfc.RunTaskUpdateOptions{Enabled: tfc.Ptr(false)}); err != nil || len(s.Deliveries()) != 2 {
		t.Errorf("an update without a new URL or key was verified (%v)", err)
	}
	if _, err := client.RunTasks.Update(ctx(t), task.ID, tfc.RunTaskUpdateOptions{HMACKey: tfc.Set[tfc.Secret]("rotated")}); err != nil {
		t.Fatal(err)
	}
	if d := s.Deliveries()[2]; d.Signature != tfc.Sign("rotated", d.Body) {
		t.Error("the verification of a new key is not signed with it")
	}
	broken := serveStatus(t, func([]byte) int { return http.StatusInternalServerError }, nil)
	if _, err := client.RunTasks.Update(ctx(t), task.ID, tfc.RunTaskUpdateOptions{URL: tfc.Ptr(broken)}); !errors.Is(err, tfc.ErrUnprocessable) {
		t.Errorf("update to a failing URL: %v", err)
	}
	if got, _ := client.RunTasks.Read(ctx(t), task.ID, nil); got.URL != second {
		t.Errorf("the failed update changed the URL to %s", got.URL)
	}

	wt, err := client.WorkspaceRunTasks.Create(ctx(t), ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory})
	if err != nil {
		t.Fatal(err)
	}
	err = client.RunTasks.Delete(ctx(t), task.ID)
	var apiErr *tfc.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict || !strings.Contains(apiErr.Errors[0].Detail, "attached") {
		t.Errorf("delete while attached: %v", err)
	}
	if err := client.WorkspaceRunTasks.Delete(ctx(t), ws.ID, wt.ID); err != nil {
		t.Fatal(err)
	}
	if err := client.RunTasks.Delete(ctx(t), task.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RunTasks.Read(ctx(t), task.ID, nil); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("read after delete: %v", err)
	}
}

func TestRunTaskReadIncludesAttachments(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	task := attach(t, s, ws, "guard", serveStatus(t, ok, nil), tfc.EnforcementAdvisory, tfc.StagePrePlan, tfc.StagePostPlan)
	client := s.Client()
	got, err := client.RunTasks.Read(ctx(t), task.ID, &tfc.RunTaskReadOptions{Include: []tfc.RunTaskInclude{tfc.RunTaskIncludeWorkspaceTasks, tfc.RunTaskIncludeWorkspaceTasksWorkspace}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.WorkspaceRunTasks) != 1 {
		t.Fatalf("attachments %+v", got.WorkspaceRunTasks)
	}
	wt := got.WorkspaceRunTasks[0]
	if wt.WorkspaceID != ws.ID || wt.WorkspaceName != "networking" || wt.EnforcementLevel != tfc.EnforcementAdvisory ||
		len(wt.Stages) != 2 || wt.Stage != tfc.StagePrePlan {
		t.Errorf("attachment %+v", wt)
	}
	page, err := client.RunTasks.List(ctx(t), "acme", &tfc.RunTaskListOptions{Include: []tfc.RunTaskInclude{tfc.RunTaskIncludeWorkspaceTasks}})
	if err != nil || len(page.Items) != 1 || page.Items[0].WorkspaceRunTasks[0].EnforcementLevel != tfc.EnforcementAdvisory {
		t.Errorf("list with include: %+v %v", page, err)
	}
	resp, body := rawRequest(t, http.MethodGet, s.URL+"/api/v2/tasks/"+task.ID+"?include=bogus", s.Token, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "include parameter") {
		t.Errorf("unknown include: %d %s", resp.StatusCode, body)
	}
}

func TestWorkspaceRunTasks(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	other := s.AddWorkspace("other-org", "elsewhere")
	client := s.Client()
	task, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: serveStatus(t, ok, nil)})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := client.WorkspaceRunTasks.Create(ctx(t), ws.ID, tfc.WorkspaceRunTaskCreateOptions{RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementMandatory})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wt.ID, "wstask-") || wt.RunTaskID != task.ID || wt.WorkspaceID != ws.ID ||
		len(wt.Stages) != 1 || wt.Stages[0] != tfc.StagePostPlan || wt.Stage != tfc.StagePostPlan {
		t.Errorf("attached %+v", wt)
	}
	for name, opts := range map[string]tfc.WorkspaceRunTaskCreateOptions{
		"twice":         {RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementAdvisory},
		"unknown task":  {RunTaskID: "task-doesnotexist0000", EnforcementLevel: tfc.EnforcementAdvisory},
		"another org's": {RunTaskID: task.ID, EnforcementLevel: tfc.EnforcementAdvisory},
	} {
		target := ws.ID
		if name == "another org's" {
			target = other.ID
		}
		if _, err := client.WorkspaceRunTasks.Create(ctx(t), target, opts); !errors.Is(err, tfc.ErrUnprocessable) {
			t.Errorf("attach %s: %v", name, err)
		}
	}
	updated, err := client.WorkspaceRunTasks.Update(ctx(t), ws.ID, wt.ID, tfc.WorkspaceRunTaskUpdateOptions{
		EnforcementLevel: tfc.EnforcementAdvisory, Stages: []tfc.Stage{tfc.StagePreApply, tfc.StagePostApply}})
	if err != nil || updated.EnforcementLevel != tfc.EnforcementAdvisory || updated.Stage != tfc.StagePreApply || len(updated.Stages) != 2 {
		t.Errorf("update: %+v %v", updated, err)
	}
	// The deprecated single stage still works.
	resp, body := rawRequest(t, http.MethodPatch, s.URL+"/api/v2/workspaces/"+ws.ID+"/tasks/"+wt.ID, s.Token,
		`{"data":{"type":"workspace-tasks","attributes":{"stage":"pre_plan"}}}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"stages":["pre_plan"]`) {
		t.Errorf("update with stage: %d %s", resp.StatusCode, body)
	}
	page, err := client.WorkspaceRunTasks.List(ctx(t), ws.ID, nil)
	if err != nil || len(page.Items) != 1 || page.Pagination.TotalCount != 1 {
		t.Errorf("list: %+v %v", page, err)
	}
	if got, err := client.WorkspaceRunTasks.Read(ctx(t), ws.ID, wt.ID); err != nil || got.RunTaskID != task.ID {
		t.Errorf("read: %+v %v", got, err)
	}
	if _, err := client.WorkspaceRunTasks.Read(ctx(t), other.ID, wt.ID); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("read through another workspace: %v", err)
	}
	if err := client.WorkspaceRunTasks.Delete(ctx(t), ws.ID, wt.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.WorkspaceRunTasks.List(ctx(t), "ws-doesnotexist000000", nil); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("list of an unknown workspace: %v", err)
	}
}

func TestPagination(t *testing.T) {
	s := newServer(t)
	s.AddOrganization("acme")
	client := s.Client()
	url := serveStatus(t, ok, nil)
	for i := range 45 {
		if _, err := client.RunTasks.Create(ctx(t), "acme", tfc.RunTaskCreateOptions{Name: fmt.Sprintf("task-%02d", i), URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := client.RunTasks.List(ctx(t), "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := page.Pagination; len(page.Items) != 20 || p.CurrentPage != 1 || p.PageSize != 20 || p.PrevPage != 0 ||
		p.NextPage != 2 || p.TotalPages != 3 || p.TotalCount != 45 || page.Items[0].Name != "task-00" {
		t.Errorf("default page: %d items, %+v", len(page.Items), p)
	}
	page, err = client.RunTasks.List(ctx(t), "acme", &tfc.RunTaskListOptions{ListOptions: tfc.ListOptions{PageNumber: 3, PageSize: 20}})
	if err != nil || len(page.Items) != 5 || page.Pagination.PrevPage != 2 || page.Pagination.NextPage != 0 || page.Items[0].Name != "task-40" {
		t.Errorf("last page: %+v %v", page.Pagination, err)
	}
	n := 0
	for task, err := range client.RunTasks.All(ctx(t), "acme", &tfc.RunTaskListOptions{ListOptions: tfc.ListOptions{PageSize: 7}}) {
		if err != nil {
			t.Fatal(err)
		}
		if task.Name != fmt.Sprintf("task-%02d", n) {
			t.Errorf("item %d is %s", n, task.Name)
		}
		n++
	}
	if n != 45 {
		t.Errorf("All yielded %d tasks", n)
	}

	// The wire form: null prev/next, links, page[size] capped at 100.
	_, body := rawRequest(t, http.MethodGet, s.URL+"/api/v2/organizations/acme/tasks?page%5Bsize%5D=500", s.Token, "")
	var doc struct {
		Data  []json.RawMessage  `json:"data"`
		Links map[string]*string `json:"links"`
		Meta  struct {
			Pagination map[string]any `json:"pagination"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Meta.Pagination
	if len(doc.Data) != 45 || p["page-size"] != float64(100) || p["prev-page"] != nil || p["next-page"] != nil ||
		doc.Links["next"] != nil || doc.Links["self"] == nil || !strings.HasPrefix(*doc.Links["self"], s.URL+"/api/v2/organizations/acme/tasks?") {
		t.Errorf("page of 100: %s", body)
	}
	if resp, _ := rawRequest(t, http.MethodGet, s.URL+"/api/v2/organizations/acme/tasks?page%5Bnumber%5D=x", s.Token, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("page[number]=x: %d", resp.StatusCode)
	}
}
