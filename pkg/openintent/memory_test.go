package openintent_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestMemory(t *testing.T) {
	e := newClockEnv(t)
	c := e.client(t, "researcher")
	ctx := ctxT(t)

	m, err := c.CreateMemory(ctx, openintent.MemoryEntryCreate{Namespace: "research", Key: "sources", Value: openintent.Object{"urls": []any{"a"}},
		Tags: []string{"q4", "web"}, TTL: "PT1H"})
	if err != nil || m.AgentID != "researcher" || m.MemoryType != "working" || m.Version != 1 || m.ExpiresAt.IsZero() {
		t.Fatalf("create: %+v %v", m, err)
	}
	// Keys are unique per agent and namespace.
	var ce *openintent.ConflictError
	if _, err := c.CreateMemory(ctx, openintent.MemoryEntryCreate{Namespace: "research", Key: "sources", Value: openintent.Object{}}); !errors.As(err, &ce) {
		t.Fatalf("duplicate key: %v", err)
	}
	if _, err := c.CreateMemory(ctx, openintent.MemoryEntryCreate{Namespace: "other", Key: "sources", Value: openintent.Object{}, MemoryType: openintent.MemorySemantic, Tags: []string{"q4"}}); err != nil {
		t.Fatalf("same key, other namespace: %v", err)
	}
	if _, err := c.CreateMemory(ctx, openintent.MemoryEntryCreate{Namespace: "n", Key: "k", Value: openintent.Object{}, TTL: "soon"}); !isValidation(err, "ttl") {
		t.Fatalf("bad ttl: %v", err)
	}
	// Optimistic concurrency; pinned=false is sent, not dropped.
	pinned, unpinned := true, false
	m2, err := c.UpdateMemory(ctx, m.ID, 1, openintent.MemoryEntryUpdate{Value: map[string]any{"urls": []any{"a", "b"}}, Pinned: &pinned})
	if err != nil || m2.Version != 2 || !m2.Pinned || len(m2.Value["urls"].([]any)) != 2 {
		t.Fatalf("update: %+v %v", m2, err)
	}
	if _, err := c.UpdateMemory(ctx, m.ID, 1, openintent.MemoryEntryUpdate{Pinned: &unpinned}); !errors.Is(err, openintent.ErrVersionConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if m3, err := c.UpdateMemory(ctx, m.ID, 2, openintent.MemoryEntryUpdate{Pinned: &unpinned}); err != nil || m3.Pinned {
		t.Fatalf("unpin: %+v %v", m3, err)
	}
	// Filters: namespace, type, all tags.
	for _, tc := range []struct {
		p    openintent.ListMemoryParams
		want int
	}{
		{openintent.ListMemoryParams{}, 2},
		{openintent.ListMemoryParams{Namespace: "research"}, 1},
		{openintent.ListMemoryParams{MemoryType: openintent.MemorySemantic}, 1},
		{openintent.ListMemoryParams{Tags: []string{"q4"}}, 2},
		{openintent.ListMemoryParams{Tags: []string{"q4", "web"}}, 1},
		{openintent.ListMemoryParams{Tags: []string{"nope"}}, 0},
	} {
		got, err := c.ListMemory(ctx, "", tc.p)
		if err != nil || len(got) != tc.want {
			t.Errorf("ListMemory(%+v) = %d entries, %v; want %d", tc.p, len(got), err, tc.want)
		}
	}
	// TTL: after an hour the entry is gone from reads and lists, and its key is free again.
	e.clock.Advance(time.Hour + time.Second)
	if _, err := c.GetMemory(ctx, m.ID); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("expired entry read: %v", err)
	}
	if got, _ := c.ListMemory(ctx, "", openintent.ListMemoryParams{Namespace: "research"}); len(got) != 0 {
		t.Fatalf("expired entry listed: %+v", got)
	}
	if _, err := c.CreateMemory(ctx, openintent.MemoryEntryCreate{Namespace: "research", Key: "sources", Value: openintent.Object{}}); err != nil {
		t.Fatalf("key of an expired entry: %v", err)
	}
	// Delete.
	if err := c.DeleteMemory(ctx, m.ID); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("delete expired: %v", err)
	}
	others, _ := c.ListMemory(ctx, "", openintent.ListMemoryParams{Namespace: "other"})
	if err := c.DeleteMemory(ctx, others[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetMemory(ctx, others[0].ID); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("deleted entry read: %v", err)
	}
}

func TestTypedMemory(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "agent-typed")
	ctx := ctxT(t)
	type prefs struct {
		Tone  string   `json:"tone"`
		Langs []string `json:"langs"`
	}
	if _, err := openintent.GetMemoryValue[prefs](ctx, c, "profile", "prefs"); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("missing value: %v", err)
	}
	if _, err := openintent.PutMemoryValue(ctx, c, "profile", "prefs", prefs{Tone: "brief", Langs: []string{"en"}}); err != nil {
		t.Fatal(err)
	}
	e2, err := openintent.PutMemoryValue(ctx, c, "profile", "prefs", prefs{Tone: "formal", Langs: []string{"en", "fr"}})
	if err != nil || e2.Version != 2 || e2.Value["tone"] != "formal" {
		t.Fatalf("replace: %+v %v", e2, err)
	}
	got, err := openintent.GetMemoryValue[prefs](ctx, c, "profile", "prefs")
	if err != nil || got.Tone != "formal" || len(got.Langs) != 2 {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Values that are not objects are wrapped.
	if _, err := openintent.PutMemoryValue(ctx, c, "profile", "visits", 42); err != nil {
		t.Fatal(err)
	}
	if n, err := openintent.GetMemoryValue[int](ctx, c, "profile", "visits"); err != nil || n != 42 {
		t.Fatalf("int: %d %v", n, err)
	}
	if _, err := openintent.GetMemoryValue[int](ctx, c, "profile", "prefs"); err == nil {
		t.Fatal("decoding an object into an int did not fail")
	}
}
