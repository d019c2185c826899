package server_test

import (
	"strings"
	"sync"
	"testing"
)

func TestIdempotencyKeyReplaysTheFirstResponse(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"title": "Made once"}
	first := e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "k-1")
	again := e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "k-1")
	if id(first.body) != id(again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay = %v (replayed %q), first %v", again.body, again.header.Get("Idempotent-Replayed"), first.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first response marked as replayed")
	}
	list := e.must(200, "GET", "/api/v1/intents", nil).body
	if list["total"] != 1.0 {
		t.Fatalf("intents after a replayed create: %v", list["total"])
	}

	// The same key with a different body is refused, naming the header.
	r := e.must(422, "POST", "/api/v1/intents", map[string]any{"title": "Other"}, "Idempotency-Key", "k-1")
	if r.body["code"] != "idempotency_key_reused" {
		t.Fatalf("reuse = %v", r.body)
	}
	// Keys are scoped per principal: another agent may use the same key.
	e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "k-1", "X-Agent-ID", "agent-b")
	// A 4xx is stored too: a retry gets the same refusal without running again.
	e.must(404, "POST", "/api/v1/intents/missing/events", map[string]any{"event_type": "x", "actor": "a"}, "Idempotency-Key", "k-2")
	e.must(404, "POST", "/api/v1/intents/missing/events", map[string]any{"event_type": "x", "actor": "a"}, "Idempotency-Key", "k-2")
	e.must(400, "POST", "/api/v1/intents", body, "Idempotency-Key", strings.Repeat("k", 256))
}

func TestConcurrentRetriesWithOneKeyCreateOneIntent(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.call("POST", "/api/v1/intents", map[string]any{"title": "Raced"}, "Idempotency-Key", "race")
			if r.status == 200 {
				ids[i] = id(r.body)
			}
		}()
	}
	wg.Wait()
	for _, got := range ids {
		if got == "" || got != ids[0] {
			t.Fatalf("ids = %v", ids)
		}
	}
	if total := e.must(200, "GET", "/api/v1/intents", nil).body["total"]; total != 1.0 {
		t.Fatalf("intents = %v, want 1", total)
	}
}
