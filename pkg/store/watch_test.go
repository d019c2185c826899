package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Live readers are served the newest events from memory; the answers must be exactly those of
// the database, for every filter, and older events still come from the database.
func TestRecentEventsMatchTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	ctx := context.Background()
	w := openFile(t, path)
	var ids []string
	for i := range 3 {
		in, err := w.CreateIntent(ctx, models.Intent{Title: fmt.Sprint(i), Status: models.IntentStatusDraft}, "creator", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	payloads := []models.Object{{"agent_id": "bob"}, {"agent_id": 7}, {"n": 1.5, "nested": map[string]any{"a": []any{"x"}}}, nil}
	for i := range 40 {
		ev := models.IntentEvent{IntentID: ids[i%3], EventType: "comment", Actor: []string{"alice", "bob", "carol"}[i%3], Payload: payloads[i%4]}
		if i%5 == 0 {
			ev.TraceID, ev.ParentEventID = "trace", "parent"
		}
		if _, err := w.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// A store opened now has nothing in memory: it answers from the database.
	db := openFile(t, path)
	filters := []store.StreamFilter{
		{Limit: 100},
		{AfterSeq: 10, Limit: 7},
		{IntentIDs: []string{ids[1]}, Limit: 100},
		{IntentIDs: []string{ids[0], ids[2]}, AfterSeq: 20, Limit: 5},
		{IntentIDs: []string{}, Limit: 100},
		{Agent: "bob", Limit: 100},
		{Agent: "bob", Limit: 3},
		{Agent: "bob", AfterSeq: 5, Limit: 4},
		{Agent: "bob", IntentIDs: []string{ids[0]}, Limit: 100},
		{AfterSeq: 1000, Limit: 100},
	}
	for _, f := range filters {
		fromMemory, err := w.EventsAfter(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		fromDB, err := db.EventsAfter(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromMemory, fromDB) {
			t.Errorf("filter %+v:\nmemory %+v\ndb     %+v", f, fromMemory, fromDB)
		}
	}
	// Each reader gets its own payloads.
	a, _ := w.EventsAfter(ctx, store.StreamFilter{Limit: 1})
	a[0].Payload["mutated"] = true
	b, _ := w.EventsAfter(ctx, store.StreamFilter{Limit: 1})
	if _, ok := b[0].Payload["mutated"]; ok {
		t.Fatal("readers share payload maps")
	}

	// Beyond the window, the oldest events come from the database again.
	if err := w.AppendEvents(ctx, ids[0], "bulk", store.RecentEvents+10); err != nil {
		t.Fatal(err)
	}
	all, err := w.EventsAfter(ctx, store.StreamFilter{Limit: 50})
	if err != nil || len(all) != 50 || all[0].Sequence != 1 || all[49].Sequence != 50 {
		t.Fatalf("old events after the window moved: %d %v", len(all), err)
	}
	// Commits that push the window past twice its size trim it.
	for range 5 {
		if err := w.AppendEvents(ctx, ids[1], "chunk", 1000); err != nil {
			t.Fatal(err)
		}
	}
	fresh := openFile(t, path)
	last, _ := fresh.LastSeq(ctx)
	for _, after := range []int64{200, last - store.RecentEvents - 5, last - store.RecentEvents, last - 3} {
		f := store.StreamFilter{AfterSeq: after, Limit: 30}
		fromDB, _ := fresh.EventsAfter(ctx, f)
		fromMemory, _ := w.EventsAfter(ctx, f)
		if len(fromDB) == 0 || !reflect.DeepEqual(fromMemory, fromDB) {
			t.Fatalf("after %d, once the window moved:\nmemory %+v\ndb     %+v", after, fromMemory, fromDB)
		}
	}
}
