package agent

import (
	"context"
	"slices"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// TaskWorkFunc runs a task (RFC-0012); the object it returns is the task's output.
type TaskWorkFunc func(ctx context.Context, w *Work, task openintent.Task) (openintent.Object, error)

// Worker is an agent that runs tasks: for each intent it is assigned to (or follows, see Watch
// and WatchPortfolio), it claims the pending and ready tasks it can do (their required
// capabilities are among its Capabilities, and the tasks they depend on are completed), runs
// them, and reports their output or failure. A claim is a versioned update of the task, so two
// workers never run the same task; a failed task that has attempts left is made ready again for
// any worker to retry.
type Worker struct {
	*Agent
}

// NewWorker returns a worker acting as id through client, running fn for each task it claims.
// Start it with Run.
func NewWorker(client *openintent.Client, id string, fn TaskWorkFunc, opts ...Option) *Worker {
	opts = append(opts[:len(opts):len(opts)], func(c *config) {
		if fn == nil {
			c.fail("NewWorker: fn is nil")
			return
		}
		c.taskWork = fn
	})
	return &Worker{Agent: New(client, id, opts...)}
}

// onTaskEvent handles task.created and task.status_changed: the OnTask handlers, and a Worker's
// claims.
func (a *Agent) onTaskEvent(ctx context.Context, ev openintent.IntentEvent, o *occurrence) {
	taskID := str(ev.Payload["task_id"])
	if taskID == "" {
		return
	}
	status := openintent.TaskPending
	if ev.EventType == eventTaskStatusChange {
		status = openintent.TaskStatus(str(ev.Payload["to"]))
	}
	var handlers []taskHandler
	for _, th := range a.cfg.task {
		if th.status == "" || th.status == status {
			handlers = append(handlers, th)
		}
	}
	if len(handlers) > 0 {
		t, err := a.client.GetTask(ctx, taskID)
		if err != nil {
			a.log.Warn("agent: read task", "task_id", taskID, "error", err)
		} else {
			for _, th := range handlers {
				a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error { return th.fn(ctx, w, *t) })
			}
		}
	}
	if a.cfg.taskWork == nil {
		return
	}
	switch status {
	case openintent.TaskPending, openintent.TaskReady:
		a.startTask(ev.IntentID, taskID, ev)
	case openintent.TaskCompleted:
		a.scanTasks(ctx, ev.IntentID) // tasks that depended on it may be ready
	}
}

// scanTasks offers the intent's pending and ready tasks to the Worker.
func (a *Agent) scanTasks(ctx context.Context, intentID string) {
	for t, err := range a.client.Tasks(ctx, intentID, openintent.ListTasksParams{}) {
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("agent: list tasks", "intent_id", intentID, "error", err)
			}
			return
		}
		if t.Status == openintent.TaskPending || t.Status == openintent.TaskReady {
			a.startTask(intentID, t.ID, openintent.IntentEvent{IntentID: intentID})
		}
	}
}

// startTask tries to claim and run a task, unless the Worker is already on it.
func (a *Agent) startTask(intentID, taskID string, ev openintent.IntentEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.draining.Load() || a.workCtx == nil || a.tasks[taskID] {
		return
	}
	a.tasks[taskID] = true
	ctx, cancel := context.WithCancelCause(a.workCtx)
	a.jobsWG.Add(1)
	go func() {
		defer a.jobsWG.Done()
		defer func() {
			cancel(nil)
			a.mu.Lock()
			delete(a.tasks, taskID)
			a.mu.Unlock()
		}()
		a.runTask(ctx, intentID, taskID, ev)
	}()
}

// runTask claims a task if the Worker can do it, runs it and reports the outcome.
func (a *Agent) runTask(ctx context.Context, intentID, taskID string, ev openintent.IntentEvent) {
	if !a.acquire(ctx) {
		return
	}
	w := a.newWork(nil, ev, nil)
	w.holding = true
	defer w.releaseSlot()
	tctx := w.traced(ctx)
	t, err := a.client.GetTask(tctx, taskID)
	if err != nil || (t.Status != openintent.TaskPending && t.Status != openintent.TaskReady) {
		return
	}
	for _, c := range t.CapabilitiesRequired {
		if !slices.Contains(a.cfg.capabilities, c) {
			return
		}
	}
	for _, dep := range t.DependsOn {
		d, err := a.client.GetTask(tctx, dep)
		if err != nil || d.Status != openintent.TaskCompleted {
			return // offered again when it completes
		}
	}
	claimed, err := a.client.UpdateTask(tctx, t.ID, t.Version, openintent.TaskUpdate{Status: openintent.TaskClaimed, AssignedAgent: a.id})
	if err != nil {
		return // another worker claimed it first
	}
	running, err := a.client.UpdateTask(tctx, claimed.ID, claimed.Version, openintent.TaskUpdate{Status: openintent.TaskRunning, AssignedAgent: a.id})
	if err != nil {
		a.log.Warn("agent: start task", "task_id", taskID, "error", err)
		return
	}
	in, err := a.client.GetIntent(tctx, intentID)
	if err != nil {
		a.log.Warn("agent: read intent of task", "task_id", taskID, "error", err)
		in = &openintent.Intent{ID: intentID}
	}
	w.Intent, w.Attempt = in, int(running.Attempt)
	w.setLatest(in)
	a.active.Add(1)
	var out openintent.Object
	herr := callSafely(func() error {
		var err error
		out, err = a.cfg.taskWork(tctx, w, *running)
		return err
	})
	a.active.Add(-1)
	uctx, cancel := context.WithTimeout(context.WithoutCancel(tctx), 10*time.Second)
	defer cancel()
	if herr == nil && ctx.Err() != nil {
		herr = context.Cause(ctx)
	}
	if herr == nil {
		if _, err := a.client.UpdateTask(uctx, running.ID, running.Version, openintent.TaskUpdate{Status: openintent.TaskCompleted, Output: out}); err != nil {
			a.log.Error("agent: report task output", "task_id", taskID, "error", err)
		}
		return
	}
	failed, err := a.client.UpdateTask(uctx, running.ID, running.Version, openintent.TaskUpdate{Status: openintent.TaskFailed, Error: herr.Error()})
	if err != nil {
		a.log.Error("agent: report task failure", "task_id", taskID, "error", err)
		return
	}
	if failed.Attempt < failed.MaxAttempts && !IsPermanent(herr) {
		// Ready again for any worker (the server counts the attempt).
		if _, err := a.client.UpdateTask(uctx, failed.ID, failed.Version, openintent.TaskUpdate{Status: openintent.TaskReady}); err != nil {
			a.log.Warn("agent: make task ready again", "task_id", taskID, "error", err)
		}
	}
}
