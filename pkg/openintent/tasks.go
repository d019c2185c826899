package openintent

import (
	"context"
	"iter"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Task statuses and plan states.
const (
	TaskPending   = models.TaskStatusPending
	TaskReady     = models.TaskStatusReady
	TaskClaimed   = models.TaskStatusClaimed
	TaskRunning   = models.TaskStatusRunning
	TaskBlocked   = models.TaskStatusBlocked
	TaskCompleted = models.TaskStatusCompleted
	TaskFailed    = models.TaskStatusFailed
	TaskCancelled = models.TaskStatusCancelled
	TaskSkipped   = models.TaskStatusSkipped

	PlanDraft     = models.PlanStateDraft
	PlanActive    = models.PlanStateActive
	PlanPaused    = models.PlanStatePaused
	PlanCompleted = models.PlanStateCompleted
	PlanFailed    = models.PlanStateFailed
	PlanCancelled = models.PlanStateCancelled
)

// ListTasksParams filters ListTasks.
type ListTasksParams struct {
	// Status keeps tasks in this status; empty keeps all.
	Status TaskStatus
	// Limit bounds the page (server default 100); Offset skips tasks.
	Limit, Offset int
}

// CreateTask creates a pending task on an intent (create_task). t.IntentID and t.Name are
// required.
func (c *Client) CreateTask(ctx context.Context, t TaskCreate, opts ...Option) (*Task, error) {
	if err := requireIDs("CreateTask", "t.IntentID", t.IntentID, "t.Name", t.Name); err != nil {
		return nil, err
	}
	return call[Task](ctx, c, op1(client.NewCreateTaskRequest, t), opts)
}

// GetTask returns a task (get_task).
func (c *Client) GetTask(ctx context.Context, taskID string, opts ...Option) (*Task, error) {
	if err := requireIDs("GetTask", "taskID", taskID); err != nil {
		return nil, err
	}
	return call[Task](ctx, c, op1(client.NewGetTaskRequest, taskID), opts)
}

// ListTasks returns one page of an intent's tasks, oldest first (list_tasks).
func (c *Client) ListTasks(ctx context.Context, intentID string, p ListTasksParams, opts ...Option) ([]Task, error) {
	if err := requireIDs("ListTasks", "intentID", intentID); err != nil {
		return nil, err
	}
	if p.Limit < 0 || p.Offset < 0 {
		return nil, invalidArg("ListTasks", "limit", "limit and offset must not be negative")
	}
	q := &models.ListIntentTasksParams{Status: string(p.Status), Limit: models.Limit100(p.Limit), Offset: models.Offset(p.Offset)}
	out := []Task{}
	err := c.do(ctx, request{build: op2(client.NewListIntentTasksRequest, intentID, nil), query: q, out: &out}, opts)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Tasks iterates over every task of an intent matching p, page by page from p.Offset. It stops
// at the first error, which it yields.
func (c *Client) Tasks(ctx context.Context, intentID string, p ListTasksParams, opts ...Option) iter.Seq2[Task, error] {
	return paginate(p.Offset, p.Limit, func(offset, limit int) ([]Task, error) {
		p.Offset, p.Limit = offset, limit
		return c.ListTasks(ctx, intentID, p, opts...)
	})
}

// paginate walks offset-paged lists: pages of limit (100 when zero) until a short page.
func paginate[T any](offset, limit int, list func(offset, limit int) ([]T, error)) iter.Seq2[T, error] {
	if limit <= 0 {
		limit = 100
	}
	return func(yield func(T, error) bool) {
		for {
			page, err := list(offset, limit)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range page {
				if !yield(v, nil) {
					return
				}
			}
			if len(page) < limit {
				return
			}
			offset += len(page)
		}
	}
}

// UpdateTask changes a task's status (and assignment, output, error, blocked reason) if it is at
// version (update_task). A stale version is a *VersionConflictError; a move the task's status
// does not allow is a *ConflictError.
func (c *Client) UpdateTask(ctx context.Context, taskID string, version int64, u TaskUpdate, opts ...Option) (*Task, error) {
	if err := requireIDs("UpdateTask", "taskID", taskID, "u.Status", string(u.Status)); err != nil {
		return nil, err
	}
	return call[Task](ctx, c, op3(client.NewUpdateTaskStatusRequest, taskID,
		&models.UpdateTaskStatusParams{IfMatch: version}, u), opts)
}

// CreatePlan creates a draft plan for an intent (create_plan).
func (c *Client) CreatePlan(ctx context.Context, p PlanCreate, opts ...Option) (*Plan, error) {
	if err := requireIDs("CreatePlan", "p.IntentID", p.IntentID); err != nil {
		return nil, err
	}
	return call[Plan](ctx, c, op1(client.NewCreatePlanRequest, p), opts)
}

// GetPlan returns a plan (get_plan).
func (c *Client) GetPlan(ctx context.Context, planID string, opts ...Option) (*Plan, error) {
	if err := requireIDs("GetPlan", "planID", planID); err != nil {
		return nil, err
	}
	return call[Plan](ctx, c, op1(client.NewGetPlanRequest, planID), opts)
}

// ListPlans returns an intent's plans, oldest first (list_plans).
func (c *Client) ListPlans(ctx context.Context, intentID string, opts ...Option) ([]Plan, error) {
	if err := requireIDs("ListPlans", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[Plan](ctx, c, op1(client.NewListIntentPlansRequest, intentID), opts)
}

// UpdatePlan changes a plan's state, tasks or checkpoints if it is at version (update_plan).
func (c *Client) UpdatePlan(ctx context.Context, planID string, version int64, u PlanUpdate, opts ...Option) (*Plan, error) {
	if err := requireIDs("UpdatePlan", "planID", planID); err != nil {
		return nil, err
	}
	return call[Plan](ctx, c, op3(client.NewUpdatePlanRequest, planID,
		&models.UpdatePlanParams{IfMatch: version}, u), opts)
}
