package tfc

import (
	"context"
	"net/http"
	"testing"
)

// The deprecated names still work, each as the call it names.
func TestCTSDeprecatedNamesStillWork(t *testing.T) {
	api := newCTSTestAPI(t)
	api.handle("GET /v1/tasks", serveCTS(t, http.StatusOK, "cts_tasks_list_response.json"))
	api.handle("GET /v1/tasks/task_a", serveCTS(t, http.StatusOK, "cts_task_get_response.json"))
	api.handle("POST /v1/tasks", serveCTS(t, http.StatusCreated, "cts_task_create_response.json"))
	api.handle("PATCH /v1/tasks/task_a", serveCTS(t, http.StatusOK, "cts_task_update_response.json"))
	api.handle("DELETE /v1/tasks/task_a", serveCTS(t, http.StatusAccepted, "cts_task_delete_response.json"))
	api.handle("GET /v1/status/tasks", serveCTS(t, http.StatusOK, "cts_status_tasks_response.json"))
	api.handle("GET /v1/status/tasks/task_b", serveCTS(t, http.StatusOK, "cts_status_tasks_response.json"))
	c, ctx := api.client, context.Background()

	if list, err := c.ListTasks(ctx); err != nil || len(list.Tasks) == 0 {
		t.Errorf("ListTasks = %v, %v", list, err)
	}
	if res, err := c.GetTask(ctx, "task_a"); err != nil || res.Task == nil {
		t.Errorf("GetTask = %v, %v", res, err)
	}
	task := CTSTask{Name: "task_a", Module: "path/to/module", Condition: CTSCondition{Schedule: &CTSScheduleCondition{Cron: "* * * * *"}}}
	if res, err := c.CreateTask(ctx, task, ""); err != nil || res.Task == nil {
		t.Errorf("CreateTask = %v, %v", res, err)
	}
	if _, err := c.UpdateTask(ctx, "task_a", CTSTaskUpdateOptions{Enabled: Ptr(false)}); err != nil {
		t.Errorf("UpdateTask: %v", err)
	}
	if _, err := c.DeleteTask(ctx, "task_a"); err != nil {
		t.Errorf("DeleteTask: %v", err)
	}
	if all, err := c.TaskStatuses(ctx, nil); err != nil || len(all) == 0 {
		t.Errorf("TaskStatuses = %v, %v", all, err)
	}
	if st, err := c.TaskStatus(ctx, "task_b", nil); err != nil || st == nil {
		t.Errorf("TaskStatus = %v, %v", st, err)
	}
}
