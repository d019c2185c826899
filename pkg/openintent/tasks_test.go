package openintent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestTasksAndPlans(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "planner")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Quarterly report"})

	a, err := c.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "Collect sources", CapabilitiesRequired: []string{"search"},
		Input: openintent.Object{"topic": "q4"}, Metadata: openintent.Object{"team": "research"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != openintent.TaskPending || a.Version != 1 || a.Attempt != 1 || a.MaxAttempts != 3 || a.Priority != "normal" ||
		a.TaskMetadata["team"] != "research" || a.Input["topic"] != "q4" {
		t.Fatalf("new task: %+v", a)
	}
	b, err := c.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "Write", DependsOn: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// Bad input names the field; an unknown intent is 404.
	if _, err := c.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "x", DependsOn: []string{"nope"}}); !isValidation(err, "depends_on/0") {
		t.Errorf("unknown dependency: %v", err)
	}
	if _, err := c.CreateTask(ctx, openintent.TaskCreate{IntentID: "missing", Name: "x"}); !errors.Is(err, openintent.ErrNotFound) {
		t.Errorf("unknown intent: %v", err)
	}

	// Lifecycle: pending -> claimed -> running -> completed, with times, output and versions.
	got, err := c.UpdateTask(ctx, a.ID, 1, openintent.TaskUpdate{Status: openintent.TaskClaimed, AssignedAgent: "research-agent"})
	if err != nil || got.Version != 2 || got.AssignedAgent == nil || *got.AssignedAgent != "research-agent" {
		t.Fatalf("claim: %+v %v", got, err)
	}
	var vc *openintent.VersionConflictError
	if _, err := c.UpdateTask(ctx, a.ID, 1, openintent.TaskUpdate{Status: openintent.TaskRunning}); !errors.As(err, &vc) || vc.CurrentVersion != 2 {
		t.Fatalf("stale version: %v", err)
	}
	got, err = c.UpdateTask(ctx, a.ID, 2, openintent.TaskUpdate{Status: openintent.TaskRunning})
	if err != nil || got.StartedAt.IsZero() || !got.CompletedAt.IsZero() {
		t.Fatalf("run: %+v %v", got, err)
	}
	got, err = c.UpdateTask(ctx, a.ID, 3, openintent.TaskUpdate{Status: openintent.TaskCompleted, Output: map[string]any{"sources": 12.0}})
	if err != nil || got.CompletedAt.IsZero() || got.Output == nil || got.Output["sources"] != 12.0 || got.Version != 4 {
		t.Fatalf("complete: %+v %v", got, err)
	}
	// Completed is final: moving on is a conflict naming the rule, not a version error.
	_, err = c.UpdateTask(ctx, a.ID, 4, openintent.TaskUpdate{Status: openintent.TaskRunning})
	var ce *openintent.ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "completed to running") {
		t.Fatalf("final status: %v", err)
	}
	// A pending task cannot complete without running.
	if _, err := c.UpdateTask(ctx, b.ID, 1, openintent.TaskUpdate{Status: openintent.TaskCompleted}); !errors.As(err, &ce) {
		t.Fatalf("pending -> completed: %v", err)
	}
	// Failed tasks retry until max_attempts.
	r, _ := c.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "Flaky", MaxAttempts: 2})
	v := r.Version
	for _, s := range []openintent.TaskStatus{openintent.TaskRunning, openintent.TaskFailed, openintent.TaskReady, openintent.TaskRunning, openintent.TaskFailed} {
		got, err := c.UpdateTask(ctx, r.ID, v, openintent.TaskUpdate{Status: s, Error: "boom"})
		if err != nil {
			t.Fatalf("flaky -> %s: %v", s, err)
		}
		v = got.Version
	}
	if _, err := c.UpdateTask(ctx, r.ID, v, openintent.TaskUpdate{Status: openintent.TaskReady}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("third attempt: %v", err)
	}

	// Lists: filter, paging, iterator.
	all, err := c.ListTasks(ctx, in.ID, openintent.ListTasksParams{})
	if err != nil || len(all) != 3 || all[0].ID != a.ID {
		t.Fatalf("list: %d %v", len(all), err)
	}
	done, _ := c.ListTasks(ctx, in.ID, openintent.ListTasksParams{Status: openintent.TaskCompleted})
	if len(done) != 1 || done[0].ID != a.ID {
		t.Fatalf("completed: %+v", done)
	}
	var ids []string
	for task, err := range c.Tasks(ctx, in.ID, openintent.ListTasksParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	if len(ids) != 3 || ids[1] != b.ID {
		t.Fatalf("iterator: %v", ids)
	}

	// Plans reference the intent's tasks.
	p, err := c.CreatePlan(ctx, openintent.PlanCreate{IntentID: in.ID, Tasks: []string{a.ID, b.ID}})
	if err != nil || p.State != openintent.PlanDraft || p.Version != 1 || p.OnFailure != "pause_and_escalate" {
		t.Fatalf("plan: %+v %v", p, err)
	}
	other := mustCreate(t, c, openintent.IntentCreate{Title: "other"})
	foreign, _ := c.CreateTask(ctx, openintent.TaskCreate{IntentID: other.ID, Name: "elsewhere"})
	if _, err := c.UpdatePlan(ctx, p.ID, 1, openintent.PlanUpdate{Tasks: []string{a.ID, foreign.ID}}); !isValidation(err, "tasks/1") {
		t.Fatalf("foreign task: %v", err)
	}
	p, err = c.UpdatePlan(ctx, p.ID, 1, openintent.PlanUpdate{State: openintent.PlanActive})
	if err != nil || p.State != openintent.PlanActive || p.Version != 2 || len(p.Tasks) != 2 {
		t.Fatalf("activate: %+v %v", p, err)
	}
	if _, err := c.UpdatePlan(ctx, p.ID, 1, openintent.PlanUpdate{State: openintent.PlanPaused}); !errors.Is(err, openintent.ErrVersionConflict) {
		t.Fatalf("stale plan: %v", err)
	}
	if got, err := c.GetPlan(ctx, p.ID); err != nil || got.State != openintent.PlanActive {
		t.Fatalf("get plan: %+v %v", got, err)
	}
	plans, err := c.ListPlans(ctx, in.ID)
	if err != nil || len(plans) != 1 {
		t.Fatalf("plans: %v %v", plans, err)
	}
	// Task and plan changes are on the intent's event log.
	evs, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range evs {
		seen[string(ev.EventType)]++
	}
	if seen["task.created"] != 3 || seen["task.status_changed"] < 3 || seen["plan.created"] != 1 || seen["plan.updated"] != 1 {
		t.Fatalf("events: %v", seen)
	}
}

// isValidation reports whether err is a validation error naming field.
func isValidation(err error, field string) bool {
	var ve *openintent.ValidationError
	return errors.As(err, &ve) && strings.Contains(err.Error(), field)
}
