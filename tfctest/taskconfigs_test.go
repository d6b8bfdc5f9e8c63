package tfctest_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/tfctest"
)

func TestTaskConfigsDecideWhereTasksRun(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	project := s.AddOrganization("acme").DefaultProjectID
	client := s.Client()
	c := ctx(t)
	task, err := client.RunTasks.Create(c, "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: serveReceiver(t, deletionCheck), HMACKey: hmacKey})
	if err != nil {
		t.Fatal(err)
	}

	// Targeted at the workspace's project, mandatory before the plan.
	cfg, err := client.TaskConfigs.Create(c, "acme", tfc.TaskConfigCreateOptions{RunTaskID: task.ID, TaskConfigOptions: tfc.TaskConfigOptions{
		EnforcementLevel: tfc.EnforcementMandatory, AllowedStages: []tfc.Stage{tfc.StagePrePlan}, ProjectIDs: []string{project}}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global || cfg.RunTaskID != task.ID || cfg.OwnerType != "organizations" || cfg.OwnerID != "acme" ||
		len(cfg.ProjectIDs) != 1 || cfg.ProjectIDs[0] != project || cfg.EnforcementLevel != tfc.EnforcementMandatory {
		t.Errorf("created %+v", cfg)
	}
	r := settledRun(t, s, ws.ID, tfctest.SamplePlanSafe())
	if st := r.TaskStages(); len(st) != 1 || st[0].Stage != tfc.StagePrePlan || st[0].TaskResults[0].WorkspaceTaskEnforcementLevel != tfc.EnforcementMandatory {
		t.Errorf("stages %+v", st)
	}

	// The run task reads back its configuration.
	read, err := client.RunTasks.Read(c, task.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(read.TaskConfigs) != 1 || read.TaskConfigs[0].ID != cfg.ID || read.GlobalConfiguration == nil || read.GlobalConfiguration.Enabled {
		t.Errorf("run task %+v", read)
	}

	// Without targets it runs nowhere; made global, everywhere, at post_plan.
	if _, err := client.TaskConfigs.Update(c, cfg.ID, tfc.TaskConfigUpdateOptions{ProjectIDs: []string{}}); err != nil {
		t.Fatal(err)
	}
	if r := settledRun(t, s, ws.ID, []byte(`{}`)); len(r.TaskStages()) != 0 {
		t.Errorf("untargeted: %+v", r.TaskStages())
	}
	updated, err := client.TaskConfigs.Update(c, cfg.ID, tfc.TaskConfigUpdateOptions{Global: tfc.Ptr(true), AllowedStages: []tfc.Stage{tfc.StagePostPlan},
		EnforcementLevel: tfc.EnforcementAdvisory})
	if err != nil {
		t.Fatal(err)
	}
	if !updated.Global || updated.AllowedStages[0] != tfc.StagePostPlan || updated.EnforcementLevel != tfc.EnforcementAdvisory {
		t.Errorf("updated %+v", updated)
	}
	r = settledRun(t, s, ws.ID, tfctest.SamplePlanDeletes())
	if st := r.TaskStages(); len(st) != 1 || st[0].Stage != tfc.StagePostPlan || st[0].Status != tfc.TaskStagePassed ||
		st[0].TaskResults[0].Status != tfc.TaskResultFailed || r.Status() != "applied" {
		t.Errorf("global advisory: run %s, stages %+v", r.Status(), st)
	}

	// Listing, with the project filter.
	all, err := client.TaskConfigs.List(c, "acme", nil)
	if err != nil || len(all.Items) != 1 {
		t.Fatalf("list: %v %+v", err, all)
	}
	targeted, err := client.TaskConfigs.List(c, "acme", &tfc.TaskConfigListOptions{TargetType: tfc.TaskConfigTargetProject, TargetID: project})
	if err != nil || len(targeted.Items) != 0 {
		t.Errorf("targeting the project: %v %+v", err, targeted)
	}

	// One configuration per task and owner; the owner is the organization.
	_, err = client.TaskConfigs.Create(c, "acme", tfc.TaskConfigCreateOptions{RunTaskID: task.ID, TaskConfigOptions: tfc.TaskConfigOptions{
		Global: true, EnforcementLevel: tfc.EnforcementMandatory, AllowedStages: []tfc.Stage{tfc.StagePrePlan}}})
	if !errors.Is(err, tfc.ErrUnprocessable) {
		t.Errorf("a second configuration: %v", err)
	}
	if _, err := client.TaskConfigs.Update(c, "taskcfg-unknown", tfc.TaskConfigUpdateOptions{Global: tfc.Ptr(true)}); !errors.Is(err, tfc.ErrNotFound) {
		t.Errorf("unknown configuration: %v", err)
	}
	if _, err := client.TaskConfigs.Update(c, cfg.ID, tfc.TaskConfigUpdateOptions{ProjectIDs: []string{"prj-elsewhere"}}); !errors.Is(err, tfc.ErrUnprocessable) {
		t.Errorf("unknown project: %v", err)
	}
	body := `{"data":{"type":"task-configs","attributes":{"global":true,"enforcement-level":"advisory","allowed-stages":["post_plan"]},
		"relationships":{"task":{"data":{"id":"` + task.ID + `","type":"tasks"}},"owner":{"data":{"id":"other-org","type":"organizations"}}}}}`
	if resp, b := rawRequest(t, http.MethodPost, s.URL+"/api/v2/organizations/acme/task-configs", s.Token, body); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("another owner: %d %s", resp.StatusCode, b)
	}
}

// TestRunTaskCreatedWithTaskConfigs: the task-configs relationship of a run task
// create, as the documented sample sends it, configures the task.
func TestRunTaskCreatedWithTaskConfigs(t *testing.T) {
	s := newServer(t)
	ws := s.AddWorkspace("acme", "networking")
	client := s.Client()
	c := ctx(t)
	task, err := client.RunTasks.Create(c, "acme", tfc.RunTaskCreateOptions{Name: "guard", URL: serveReceiver(t, deletionCheck), HMACKey: hmacKey,
		TaskConfigs: []tfc.TaskConfigOptions{{Global: true, EnforcementLevel: tfc.EnforcementMandatory, AllowedStages: []tfc.Stage{tfc.StagePostPlan}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(task.TaskConfigs) != 1 || task.GlobalConfiguration == nil || !task.GlobalConfiguration.Enabled {
		t.Errorf("created %+v", task)
	}
	r := settledRun(t, s, ws.ID, tfctest.SamplePlanDeletes())
	if r.Status() != "post_plan_awaiting_decision" {
		t.Errorf("run %s", r.Status())
	}
	// Updating through the run task replaces the configuration's settings.
	if _, err := client.RunTasks.Update(c, task.ID, tfc.RunTaskUpdateOptions{Organization: "acme",
		TaskConfigs: []tfc.TaskConfigOptions{{EnforcementLevel: tfc.EnforcementAdvisory, AllowedStages: []tfc.Stage{tfc.StagePrePlan},
			ProjectIDs: []string{ws.ProjectID}}}}); err != nil {
		t.Fatal(err)
	}
	list, err := client.TaskConfigs.List(c, "acme", nil)
	if err != nil || len(list.Items) != 1 || list.Items[0].Global || list.Items[0].AllowedStages[0] != tfc.StagePrePlan {
		t.Errorf("configs %v %+v", err, list)
	}
	// Deleting the task deletes its configuration.
	if err := client.RunTasks.Delete(c, task.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := client.TaskConfigs.List(c, "acme", nil); err != nil || len(list.Items) != 0 {
		t.Errorf("after delete: %v %+v", err, list)
	}
}
