package tfc

import "context"

// The CTS client's first method names, kept for one release so that code written
// against them still compiles. Every other service names its calls List, Read, Create,
// Update and Delete; the CTS task calls now do too, on CTSClient.Tasks.

// ListTasks is Tasks.List.
//
// Deprecated: use c.Tasks.List. ListTasks will be removed in the next release.
func (c *CTSClient) ListTasks(ctx context.Context) (*CTSTaskList, error) {
	return c.Tasks.List(ctx)
}

// GetTask is Tasks.Read.
//
// Deprecated: use c.Tasks.Read. GetTask will be removed in the next release.
func (c *CTSClient) GetTask(ctx context.Context, name string) (*CTSTaskResult, error) {
	return c.Tasks.Read(ctx, name)
}

// CreateTask is Tasks.Create.
//
// Deprecated: use c.Tasks.Create. CreateTask will be removed in the next release.
func (c *CTSClient) CreateTask(ctx context.Context, task CTSTask, run CTSRunMode) (*CTSTaskResult, error) {
	return c.Tasks.Create(ctx, task, run)
}

// UpdateTask is Tasks.Update.
//
// Deprecated: use c.Tasks.Update. UpdateTask will be removed in the next release.
func (c *CTSClient) UpdateTask(ctx context.Context, name string, opts CTSTaskUpdateOptions) (*CTSTaskUpdateResult, error) {
	return c.Tasks.Update(ctx, name, opts)
}

// DeleteTask is Tasks.Delete.
//
// Deprecated: use c.Tasks.Delete. DeleteTask will be removed in the next release.
func (c *CTSClient) DeleteTask(ctx context.Context, name string) (*CTSTaskDeletion, error) {
	return c.Tasks.Delete(ctx, name)
}

// TaskStatuses is Tasks.ListStatuses.
//
// Deprecated: use c.Tasks.ListStatuses. TaskStatuses will be removed in the next
// release.
func (c *CTSClient) TaskStatuses(ctx context.Context, opts *CTSTaskStatusListOptions) (map[string]*CTSTaskStatus, error) {
	return c.Tasks.ListStatuses(ctx, opts)
}

// TaskStatus is Tasks.ReadStatus.
//
// Deprecated: use c.Tasks.ReadStatus. TaskStatus will be removed in the next release.
func (c *CTSClient) TaskStatus(ctx context.Context, name string, opts *CTSTaskStatusOptions) (*CTSTaskStatus, error) {
	return c.Tasks.ReadStatus(ctx, name, opts)
}
