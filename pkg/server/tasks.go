package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Record kinds of RFC-0012 tasks and plans (parent = the intent).
const (
	kindTask = "task"
	kindPlan = "plan"
)

// taskTransitions lists the statuses each task status may move to (see TaskStatus in the spec).
// Completed, cancelled and skipped are final.
var taskTransitions = map[models.TaskStatus][]models.TaskStatus{
	models.TaskStatusPending: {models.TaskStatusReady, models.TaskStatusClaimed, models.TaskStatusRunning, models.TaskStatusBlocked, models.TaskStatusCancelled, models.TaskStatusSkipped},
	models.TaskStatusReady:   {models.TaskStatusClaimed, models.TaskStatusRunning, models.TaskStatusBlocked, models.TaskStatusCancelled, models.TaskStatusSkipped},
	models.TaskStatusClaimed: {models.TaskStatusRunning, models.TaskStatusReady, models.TaskStatusBlocked, models.TaskStatusFailed, models.TaskStatusCancelled},
	models.TaskStatusRunning: {models.TaskStatusCompleted, models.TaskStatusFailed, models.TaskStatusBlocked, models.TaskStatusCancelled},
	models.TaskStatusBlocked: {models.TaskStatusReady, models.TaskStatusRunning, models.TaskStatusCancelled, models.TaskStatusFailed},
	models.TaskStatusFailed:  {models.TaskStatusReady},
}

// taskTransition checks a status change; staying in a non-final status is allowed (to record
// output or an assignment).
func taskTransition(from, to models.TaskStatus) error {
	if _, known := taskTransitions[to]; !known && !slices.Contains([]models.TaskStatus{models.TaskStatusCompleted, models.TaskStatusCancelled, models.TaskStatusSkipped}, to) {
		return validationFailed("status", fmt.Sprintf("unknown task status %q", to))
	}
	next, open := taskTransitions[from]
	if from == to && open {
		return nil
	}
	if !slices.Contains(next, to) {
		allowed := "none: the task is final"
		if len(next) > 0 {
			allowed = fmt.Sprint(next)
		}
		return conflict("invalid_transition", fmt.Sprintf("Task cannot move from %s to %s (allowed: %s)", from, to, allowed))
	}
	return nil
}

func (h *handlers) CreateTask(ctx context.Context, req genserver.CreateTaskRequestObject) (genserver.CreateTaskResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Name) == "" {
		return nil, validationFailed("name", "must not be empty")
	}
	if err := h.authorize(ctx, b.IntentID, models.PermissionWrite); err != nil {
		return nil, err
	}
	t := models.Task{IntentID: b.IntentID, Name: b.Name, Status: models.TaskStatusPending, Priority: b.Priority, Input: b.Input,
		Artifacts: []string{}, Attempt: 1, MaxAttempts: b.MaxAttempts, CapabilitiesRequired: b.CapabilitiesRequired,
		DependsOn: b.DependsOn, Blocks: []string{}, ParentTaskID: orNull(b.ParentTaskID), TimeoutSeconds: orNull(b.TimeoutSeconds),
		Permissions: b.Permissions, MemoryPolicy: b.MemoryPolicy, RequiresTools: b.RequiresTools, TaskMetadata: b.Metadata, Version: 1}
	if b.Description != "" {
		t.Description = &b.Description
	}
	if b.PlanID != "" {
		t.PlanID = &b.PlanID
	}
	if t.Priority == "" {
		t.Priority = "normal"
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = 3
	}
	if t.Permissions == "" {
		t.Permissions = "inherit"
	}
	t.Input = orEmpty(t.Input)
	t.TaskMetadata = orEmpty(t.TaskMetadata)
	t.CapabilitiesRequired = nonNil(t.CapabilitiesRequired)
	t.DependsOn = nonNil(t.DependsOn)
	t.RequiresTools = nonNil(t.RequiresTools)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(t.IntentID); err != nil {
			return err
		}
		for i, d := range t.DependsOn {
			if _, err := w.Get(kindTask, d); err != nil {
				return validationFailed(fmt.Sprintf("depends_on/%d", i), fmt.Sprintf("no task %q", d))
			}
		}
		if t.PlanID != nil {
			if _, err := w.Get(kindPlan, *t.PlanID); err != nil {
				return validationFailed("plan_id", fmt.Sprintf("no plan %q", *t.PlanID))
			}
		}
		t.ID, t.CreatedAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindTask, ID: t.ID, Parent: t.IntentID}, t); err != nil {
			return err
		}
		_, err := w.AppendEvent(t.IntentID, "task.created", agentFrom(ctx), models.Object{"task_id": t.ID, "name": t.Name})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateTask200JSONResponse(t), nil
}

func (h *handlers) GetTask(ctx context.Context, req genserver.GetTaskRequestObject) (genserver.GetTaskResponseObject, error) {
	t, err := store.Get[models.Task](ctx, h.store, kindTask, req.TaskID)
	if err != nil {
		return nil, err
	}
	return genserver.GetTask200JSONResponse(taskWire(t)), nil
}

func (h *handlers) ListIntentTasks(ctx context.Context, req genserver.ListIntentTasksRequestObject) (genserver.ListIntentTasksResponseObject, error) {
	ts, err := store.List[models.Task](ctx, h.store, store.Query{Kind: kindTask, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	out := make([]models.Task, 0, len(ts))
	for _, t := range ts {
		if req.Params.Status == "" || string(t.Status) == req.Params.Status {
			out = append(out, taskWire(t))
		}
	}
	return genserver.ListIntentTasks200JSONResponse(page(out, int(req.Params.Limit), int(req.Params.Offset), 100)), nil
}

func (h *handlers) UpdateTaskStatus(ctx context.Context, req genserver.UpdateTaskStatusRequestObject) (genserver.UpdateTaskStatusResponseObject, error) {
	b := req.Body
	var t models.Task
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var from models.TaskStatus
		var err error
		t, err = store.Modify(w, kindTask, req.TaskID, req.Params.IfMatch, func(t *models.Task, r *store.Record) error {
			from = t.Status
			if err := taskTransition(t.Status, b.Status); err != nil {
				return err
			}
			now := w.Timestamp()
			if b.Status == models.TaskStatusRunning && t.StartedAt.IsZero() {
				t.StartedAt = now
			}
			if b.Status == models.TaskStatusReady && from == models.TaskStatusFailed {
				t.Attempt++
				if t.Attempt > t.MaxAttempts {
					return conflict("max_attempts", fmt.Sprintf("Task has used its %d attempts", t.MaxAttempts))
				}
			}
			switch b.Status {
			case models.TaskStatusCompleted, models.TaskStatusFailed, models.TaskStatusCancelled, models.TaskStatusSkipped:
				t.CompletedAt = now
			default:
				t.CompletedAt = timestamp.Time{}
			}
			t.Status = b.Status
			if b.AssignedAgent != "" {
				t.AssignedAgent = &b.AssignedAgent
			}
			if b.Output != nil {
				t.Output = b.Output
			}
			if b.Error != "" {
				t.Error = &b.Error
			}
			if b.BlockedReason != "" || b.Status != models.TaskStatusBlocked {
				t.BlockedReason = orNull(b.BlockedReason)
			}
			t.Version = r.Version + 1
			return nil
		})
		if err != nil || from == t.Status {
			return err
		}
		_, err = w.AppendEvent(t.IntentID, "task.status_changed", agentFrom(ctx),
			models.Object{"task_id": t.ID, "from": string(from), "to": string(t.Status)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdateTaskStatus200JSONResponse(taskWire(t)), nil
}

func (h *handlers) CreatePlan(ctx context.Context, req genserver.CreatePlanRequestObject) (genserver.CreatePlanResponseObject, error) {
	b := req.Body
	if err := h.authorize(ctx, b.IntentID, models.PermissionWrite); err != nil {
		return nil, err
	}
	p := models.Plan{IntentID: b.IntentID, Version: 1, State: models.PlanStateDraft, Tasks: nonNil(b.Tasks),
		Checkpoints: nonNil(b.Checkpoints), Conditions: nonNil(b.Conditions), OnFailure: b.OnFailure, OnComplete: b.OnComplete,
		PlanMetadata: orEmpty(b.Metadata)}
	if p.OnFailure == "" {
		p.OnFailure = "pause_and_escalate"
	}
	if p.OnComplete == "" {
		p.OnComplete = "notify"
	}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(p.IntentID); err != nil {
			return err
		}
		if err := checkPlanTasks(w, p.IntentID, p.Tasks); err != nil {
			return err
		}
		p.ID = store.NewID()
		p.CreatedAt, p.UpdatedAt = w.Timestamp(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindPlan, ID: p.ID, Parent: p.IntentID}, p); err != nil {
			return err
		}
		_, err := w.AppendEvent(p.IntentID, "plan.created", agentFrom(ctx), models.Object{"plan_id": p.ID, "tasks": p.Tasks})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreatePlan200JSONResponse(p), nil
}

// checkPlanTasks checks that a plan's tasks exist and belong to its intent.
func checkPlanTasks(w *store.Writer, intentID string, tasks []string) error {
	for i, id := range tasks {
		var t models.Task
		if _, err := w.GetInto(kindTask, id, &t); err != nil {
			return validationFailed(fmt.Sprintf("tasks/%d", i), fmt.Sprintf("no task %q", id))
		}
		if t.IntentID != intentID {
			return validationFailed(fmt.Sprintf("tasks/%d", i), fmt.Sprintf("task %q belongs to another intent", id))
		}
		if slices.Contains(tasks[:i], id) {
			return validationFailed(fmt.Sprintf("tasks/%d", i), fmt.Sprintf("task %q is listed twice", id))
		}
	}
	return nil
}

func (h *handlers) GetPlan(ctx context.Context, req genserver.GetPlanRequestObject) (genserver.GetPlanResponseObject, error) {
	p, err := store.Get[models.Plan](ctx, h.store, kindPlan, req.PlanID)
	if err != nil {
		return nil, err
	}
	if p.SuspendedTasks, err = h.suspendedTasks(ctx, p); err != nil { // RFC-0026 rule 4 (suspension.go)
		return nil, err
	}
	return genserver.GetPlan200JSONResponse(p), nil
}

func (h *handlers) ListIntentPlans(ctx context.Context, req genserver.ListIntentPlansRequestObject) (genserver.ListIntentPlansResponseObject, error) {
	ps, err := store.List[models.Plan](ctx, h.store, store.Query{Kind: kindPlan, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentPlans200JSONResponse(ps), nil
}

func (h *handlers) UpdatePlan(ctx context.Context, req genserver.UpdatePlanRequestObject) (genserver.UpdatePlanResponseObject, error) {
	b := req.Body
	var p models.Plan
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		p, err = store.Modify(w, kindPlan, req.PlanID, req.Params.IfMatch, func(p *models.Plan, r *store.Record) error {
			if b.Tasks != nil {
				if err := checkPlanTasks(w, p.IntentID, b.Tasks); err != nil {
					return err
				}
				p.Tasks = b.Tasks
			}
			if b.Checkpoints != nil {
				p.Checkpoints = b.Checkpoints
			}
			if b.State != "" {
				p.State = b.State
			}
			p.Version, p.UpdatedAt = r.Version+1, w.Timestamp()
			return nil
		})
		if err != nil {
			return err
		}
		_, err = w.AppendEvent(p.IntentID, "plan.updated", agentFrom(ctx), models.Object{"plan_id": p.ID, "state": string(p.State), "version": p.Version})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdatePlan200JSONResponse(p), nil
}

// taskWire fills what a task stored before these keys were always written lacks, so that every
// answer has the keys the reference server always sends (issue #18).
func taskWire(t models.Task) models.Task {
	t.Blocks, t.RequiresTools, t.TaskMetadata = nonNil(t.Blocks), nonNil(t.RequiresTools), orEmpty(t.TaskMetadata)
	if t.Permissions == "" {
		t.Permissions = "inherit"
	}
	return t
}
