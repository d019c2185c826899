package openintent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScheduleTriggerFiresOnTime(t *testing.T) {
	e := newClockEnv(t) // 2026-11-23 12:00:00 UTC
	c := e.client(t, "scheduler")
	ctx := ctxT(t)
	e.clock.Advance(59*time.Minute + 30*time.Second) // 12:59:30

	tr, err := c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "hourly report", Type: openintent.TriggerSchedule,
		Condition:      map[string]any{"cron": "0 * * * *"},
		IntentTemplate: map[string]any{"title": "Report {{ trigger.fire_count }}", "context": map[string]any{"source": "{{ trigger.trigger_id }}"}}})
	if err != nil || !tr.Enabled || tr.FireCount != 0 || tr.Deduplication != "allow" {
		t.Fatalf("create: %+v %v", tr, err)
	}
	fireCount := func() int64 {
		got, err := c.GetTrigger(ctx, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.FireCount
	}
	// Not before its time: the engine evaluates every 20 ms; give it many rounds.
	time.Sleep(150 * time.Millisecond)
	if n := fireCount(); n != 0 {
		t.Fatalf("fired %d times before 13:00", n)
	}
	e.clock.Advance(30 * time.Second) // 13:00:00
	waitFor(t, "the 13:00 firing", func() bool { return fireCount() == 1 })
	got, _ := c.GetTrigger(ctx, tr.ID)
	if !got.LastFiredAt.Equal(e.clock.Now()) || got.Version != 1 {
		t.Fatalf("after firing: %+v", got)
	}
	// The intent came from the template, with lineage on its creation event.
	page, err := c.ListIntents(ctx, openintent.ListIntentsParams{})
	if err != nil || len(page) != 1 || page[0].Title != "Report 1" || page[0].State["source"] != tr.ID ||
		page[0].CreatedBy != "trigger:"+tr.ID || page[0].Status != openintent.StatusActive {
		t.Fatalf("created intents: %+v %v", page, err)
	}
	evs, _ := c.GetEvents(ctx, page[0].ID, openintent.GetEventsParams{})
	byType := map[string]openintent.IntentEvent{}
	for _, ev := range evs {
		byType[string(ev.EventType)] = ev
	}
	if byType["intent_created"].Payload["trigger"] == nil || byType["trigger.fired"].Payload["created_intent_id"] != page[0].ID {
		t.Fatalf("events of the created intent: %+v", evs)
	}
	// Once per matching minute: 13:30 is not one, 14:00 is; a missed hour fires once, not twice.
	e.clock.Advance(30 * time.Minute)
	time.Sleep(100 * time.Millisecond)
	if n := fireCount(); n != 1 {
		t.Fatalf("fired at 13:30: %d", n)
	}
	e.clock.Advance(150 * time.Minute) // 16:00, past 14:00 and 15:00
	waitFor(t, "the catch-up firing", func() bool { return fireCount() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := fireCount(); n != 2 {
		t.Fatalf("missed firings were back-filled: %d", n)
	}

	// Disabled triggers do not fire, on schedule or by hand; re-enabling does not catch up.
	off := false
	upd, err := c.UpdateTrigger(ctx, tr.ID, 1, openintent.TriggerUpdate{Enabled: &off})
	if err != nil || upd.Enabled || upd.Version != 2 {
		t.Fatalf("disable: %+v %v", upd, err)
	}
	if _, err := c.UpdateTrigger(ctx, tr.ID, 1, openintent.TriggerUpdate{Enabled: &off}); !errors.Is(err, openintent.ErrVersionConflict) {
		t.Fatalf("stale update: %v", err)
	}
	e.clock.Advance(time.Hour) // 17:00
	time.Sleep(100 * time.Millisecond)
	if n := fireCount(); n != 2 {
		t.Fatalf("a disabled trigger fired: %d", n)
	}
	var ce *openintent.ConflictError
	if _, err := c.FireTrigger(ctx, tr.ID); !errors.As(err, &ce) {
		t.Fatalf("manual fire of a disabled trigger: %v", err)
	}
	on := true
	if _, err := c.UpdateTrigger(ctx, tr.ID, 2, openintent.TriggerUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := fireCount(); n != 2 {
		t.Fatalf("re-enabling caught up on the disabled hour: %d", n)
	}
	e.clock.Advance(time.Hour) // 18:00
	waitFor(t, "the 18:00 firing", func() bool { return fireCount() == 3 })

	// Deleted triggers never fire again.
	if err := c.DeleteTrigger(ctx, tr.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTrigger(ctx, tr.ID); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("deleted trigger: %v", err)
	}
	e.clock.Advance(time.Hour)
	time.Sleep(100 * time.Millisecond)
	if page, _ := c.ListIntents(ctx, openintent.ListIntentsParams{}); len(page) != 3 {
		t.Fatalf("intents after deletion: %d", len(page))
	}
}

func TestTriggerValidationAndDedup(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "ops")
	ctx := ctxT(t)
	for _, tc := range []struct {
		cond  map[string]any
		typ   openintent.TriggerType
		field string
	}{
		{map[string]any{}, openintent.TriggerSchedule, "condition/cron"},
		{map[string]any{"cron": "61 * * * *"}, openintent.TriggerSchedule, "condition/cron"},
		{map[string]any{"cron": "* * * * *", "timezone": "Mars/Olympus"}, openintent.TriggerSchedule, "condition/timezone"},
		{map[string]any{}, openintent.TriggerEvent, "condition/event"},
	} {
		if _, err := c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "bad", Type: tc.typ, Condition: tc.cond}); !isValidation(err, tc.field) {
			t.Errorf("condition %v: %v", tc.cond, err)
		}
	}
	// skip: while the last intent is open, firing is skipped; once it completes, it fires.
	tr, err := c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "sweep", Type: openintent.TriggerWebhook, Deduplication: openintent.DedupSkip,
		IntentTemplate: map[string]any{"title": "Sweep", "description": "clean up"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.FireTrigger(ctx, tr.ID)
	if err != nil || f.Status != "fired" || f.FireCount != 1 || f.IntentID == "" {
		t.Fatalf("fire: %+v %v", f, err)
	}
	if f2, err := c.FireTrigger(ctx, tr.ID); err != nil || f2.Status != "skipped" || f2.FireCount != 1 {
		t.Fatalf("fire while open: %+v %v", f2, err)
	}
	in, _ := c.GetIntent(ctx, f.IntentID)
	if in.Description != "clean up" {
		t.Fatalf("template description: %+v", in)
	}
	if _, err := c.SetStatus(ctx, in.ID, in.Version, openintent.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	if f3, err := c.FireTrigger(ctx, tr.ID); err != nil || f3.Status != "fired" || f3.FireCount != 2 {
		t.Fatalf("fire after completion: %+v %v", f3, err)
	}
	// queue: a deferred firing happens by itself once the open intent completes.
	q, _ := c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "queued", Type: openintent.TriggerWebhook, Deduplication: openintent.DedupQueue})
	first, _ := c.FireTrigger(ctx, q.ID)
	if f, err := c.FireTrigger(ctx, q.ID); err != nil || f.Status != "queued" {
		t.Fatalf("queue: %+v %v", f, err)
	}
	in, _ = c.GetIntent(ctx, first.IntentID)
	if _, err := c.SetStatus(ctx, in.ID, in.Version, openintent.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queued firing", func() bool {
		got, err := c.GetTrigger(ctx, q.ID)
		return err == nil && got.FireCount == 2
	})
	list, err := c.ListTriggers(ctx, openintent.ListTriggersParams{Type: openintent.TriggerWebhook})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
}

func TestEventTrigger(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "watcher")
	ctx := ctxT(t)
	tr, err := c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "follow-up", Type: openintent.TriggerEvent,
		Condition:      map[string]any{"event": "billing.*", "filter": map[string]any{"region": "eu-*"}},
		IntentTemplate: map[string]any{"title": "Receipt for {{ event.invoice }}"}})
	if err != nil {
		t.Fatal(err)
	}
	src := mustCreate(t, c, openintent.IntentCreate{Title: "Billing run"})
	for _, ev := range []struct {
		typ     string
		payload openintent.Object
	}{
		{"billing.paid", openintent.Object{"invoice": "INV-1", "region": "us-east"}},  // filter does not match
		{"shipping.done", openintent.Object{"invoice": "INV-2", "region": "eu-west"}}, // type does not match
		{"billing.paid", openintent.Object{"invoice": "INV-3", "region": "eu-west"}},  // fires
	} {
		if _, err := c.LogEvent(ctx, src.ID, openintent.EventType(ev.typ), ev.payload); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the event firing", func() bool {
		got, err := c.GetTrigger(ctx, tr.ID)
		return err == nil && got.FireCount == 1
	})
	time.Sleep(100 * time.Millisecond)
	page, _ := c.ListIntents(ctx, openintent.ListIntentsParams{})
	var titles []string
	for _, in := range page {
		titles = append(titles, in.Title)
	}
	if len(page) != 2 || !strings.Contains(strings.Join(titles, "|"), "Receipt for INV-3") {
		t.Fatalf("intents: %v", titles)
	}

	// A trigger that reacts to its own intents stops at the cascade limit.
	loop, err := c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "loop", Type: openintent.TriggerEvent,
		Condition: map[string]any{"event": "trigger.fired"}, IntentTemplate: map[string]any{"title": "again"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FireTrigger(ctx, loop.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cascade to stop at depth 10", func() bool {
		got, err := c.GetTrigger(ctx, loop.ID)
		return err == nil && got.FireCount == 10
	})
	time.Sleep(200 * time.Millisecond)
	if got, _ := c.GetTrigger(ctx, loop.ID); got.FireCount != 10 {
		t.Fatalf("cascade went on: %d firings", got.FireCount)
	}
}
