package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/store"
)

// bothStores opens an in-memory and a file store, and a PostgreSQL store where there is one.
func bothStores(t *testing.T) map[string]*store.Store {
	return withPostgres(t, map[string]*store.Store{"memory": openFile(t, store.Memory), "file": openFile(t, filepath.Join(t.TempDir(), "s.db"))})
}

// Every event is chained as it is appended, whatever appends it (an intent's creation, a state
// change, an assignment, a lease, an event), and carries the trace its context gives.
func TestEventsAreChainedAndTraced(t *testing.T) {
	for name, s := range bothStores(t) {
		ctx := store.WithTrace(context.Background(), "trace-1", "parent-1")
		in, err := s.CreateIntent(ctx, models.Intent{Title: "t", Status: models.IntentStatusActive}, "a", nil)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := s.CreateIntent(context.Background(), models.Intent{Title: "o", Status: models.IntentStatusActive}, "a", nil)
		if _, err := s.AssignAgent(ctx, in.ID, "b", "worker", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireLease(ctx, in.ID, "scope", "b", 60e9); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: "comment", Actor: "a", TraceID: "own", Payload: models.Object{"big": 1e300, "n": 3}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendEvent(context.Background(), models.IntentEvent{IntentID: other.ID, EventType: "comment", Actor: "a"}); err != nil {
			t.Fatal(err)
		}
		log, err := s.LogEvents(context.Background(), in.ID, 0, 1<<62)
		if err != nil || len(log) != 4 {
			t.Fatalf("%s: %d events, %v", name, len(log), err)
		}
		if r := eventlog.CheckChain(log, "", nil); len(r.Breaks) != 0 {
			t.Fatalf("%s: %+v", name, r.Breaks)
		}
		for i, ev := range log[:3] {
			if ev.TraceID != "trace-1" || ev.ParentEventID != "parent-1" {
				t.Errorf("%s: event %d (%s) has trace %q, parent %q", name, i, ev.EventType, ev.TraceID, ev.ParentEventID)
			}
		}
		if log[3].TraceID != "own" || log[3].ParentEventID != "" {
			t.Errorf("%s: an event's own trace was replaced: %q %q", name, log[3].TraceID, log[3].ParentEventID)
		}
		if log[0].PreviousEventHash != nil || *log[1].PreviousEventHash != log[0].EventHash {
			t.Errorf("%s: links: %v, %v", name, log[0].PreviousEventHash, log[1].PreviousEventHash)
		}
		// Every read gives the same hashes as the append did.
		page, _ := s.ListEvents(context.Background(), in.ID, store.EventFilter{Limit: 10})
		after, _ := s.EventsAfter(context.Background(), store.StreamFilter{IntentIDs: []string{in.ID}, Limit: 10})
		for i := range log {
			if page[len(log)-1-i].EventHash != log[i].EventHash || after[i].EventHash != log[i].EventHash {
				t.Errorf("%s: event %d is read with other hashes", name, i)
			}
		}
	}
}

// A payload rewritten behind the log's back is found at that event; the checkpoint over it no
// longer matches either.
func TestTamperedEventIsFound(t *testing.T) {
	for name, s := range bothStores(t) {
		ctx := context.Background()
		in, _ := s.CreateIntent(ctx, models.Intent{Title: "t", Status: models.IntentStatusActive}, "a", nil)
		if err := s.AppendEvents(ctx, in.ID, "a", 9); err != nil {
			t.Fatal(err)
		}
		cp, err := s.CreateLogCheckpoint(ctx, in.ID, nil)
		if err != nil || cp.EventCount != 10 {
			t.Fatalf("%s: checkpoint %+v, %v", name, cp, err)
		}
		log, _ := s.LogEvents(ctx, in.ID, 0, 1<<62)
		victim := log[4]
		if err := s.TamperWithEvent(ctx, victim.ID, models.Object{"n": 1000.0}); err != nil {
			t.Fatal(err)
		}
		log, _ = s.LogEvents(ctx, in.ID, 0, 1<<62)
		r := eventlog.CheckChain(log, "", []models.LogCheckpoint{cp})
		if len(r.Breaks) != 2 || r.Breaks[0].EventID != victim.ID || r.Breaks[0].Reason != eventlog.ReasonHash ||
			r.Breaks[1].CheckpointID != cp.ID || r.Breaks[1].Reason != eventlog.ReasonCheckpoint {
			t.Errorf("%s: breaks %+v", name, r.Breaks)
		}
		if err := s.TamperWithEvent(ctx, "00000000-0000-7000-8000-000000000000", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: tampering with no event: %v", name, err)
		}
	}
}

// Checkpoints cover the events since the previous one of their log; every event of a large
// checkpoint (several blocks, a partial last one) has a proof that verifies; the server's log
// has its own checkpoints; an empty batch is refused.
func TestCheckpointsAndProofs(t *testing.T) {
	for name, s := range bothStores(t) {
		ctx := context.Background()
		a, _ := s.CreateIntent(ctx, models.Intent{Title: "a", Status: models.IntentStatusActive}, "x", nil)
		b, _ := s.CreateIntent(ctx, models.Intent{Title: "b", Status: models.IntentStatusActive}, "x", nil)
		if err := s.AppendEvents(ctx, a.ID, "x", 600); err != nil {
			t.Fatal(err)
		}
		first, err := s.CreateLogCheckpoint(ctx, a.ID, nil)
		if err != nil || first.EventCount != 601 || first.Scope != store.ScopeIntent {
			t.Fatalf("%s: %+v %v", name, first, err)
		}
		if _, err := s.CreateLogCheckpoint(ctx, a.ID, nil); !errors.Is(err, store.ErrNothingToCheckpoint) {
			t.Fatalf("%s: empty batch: %v", name, err)
		}
		if _, err := s.CreateLogCheckpoint(ctx, "00000000-0000-7000-8000-000000000000", nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: unknown intent: %v", name, err)
		}
		s.AppendEvents(ctx, b.ID, "x", 3)
		s.AppendEvents(ctx, a.ID, "x", 2)
		second, err := s.CreateLogCheckpoint(ctx, a.ID, nil)
		if err != nil || second.EventCount != 2 || second.FirstSequence <= first.LastSequence {
			t.Fatalf("%s: second %+v %v", name, second, err)
		}
		server, err := s.CreateLogCheckpoint(ctx, "", nil)
		if err != nil || server.Scope != store.ScopeServer || server.IntentID != nil || server.EventCount != 607 || server.FirstSequence != 1 {
			t.Fatalf("%s: server %+v %v", name, server, err)
		}
		for _, cp := range []models.LogCheckpoint{first, second, server} {
			intent := ""
			if cp.IntentID != nil {
				intent = *cp.IntentID
			}
			evs, _ := s.LogEvents(ctx, intent, cp.FirstSequence, cp.LastSequence)
			if int64(len(evs)) != cp.EventCount {
				t.Fatalf("%s: %d events in %+v", name, len(evs), cp)
			}
			for i, ev := range evs {
				p, err := s.InclusionProof(ctx, cp.ID, ev.ID)
				if err != nil || p.LeafIndex != int64(i) || p.EventHash != ev.EventHash {
					t.Fatalf("%s: proof of leaf %d: %+v %v", name, i, p, err)
				}
				if err := eventlog.VerifyProof(p, cp.MerkleRoot, cp.EventCount); err != nil {
					t.Fatalf("%s: proof of leaf %d: %v", name, i, err)
				}
			}
		}
		// An event outside the checkpoint, or unknown, has no proof in it.
		bEvents, _ := s.LogEvents(ctx, b.ID, 0, 1<<62)
		for _, id := range []string{bEvents[0].ID, "00000000-0000-7000-8000-000000000000", "nope"} {
			if _, err := s.InclusionProof(ctx, first.ID, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: proof of %s: %v", name, id, err)
			}
		}
		list, err := s.ListLogCheckpoints(ctx, store.CheckpointQuery{IntentID: a.ID, Limit: 10})
		if err != nil || len(list) != 2 || list[0].ID != first.ID {
			t.Errorf("%s: list %+v %v", name, list, err)
		}
		if list, _ := s.ListLogCheckpoints(ctx, store.CheckpointQuery{Scope: store.ScopeServer, Limit: 10}); len(list) != 1 {
			t.Errorf("%s: server list %+v", name, list)
		}
	}
}

// Events stored before the chain existed are hashed, in log order per intent, when the store
// opens: the chain then holds over them and continues with the next event.
func TestChainMigrationHashesOldEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := old.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`)
	names, _ := filepath.Glob("migrations/*.sql")
	for _, name := range names {
		if name >= "migrations/0007" {
			break
		}
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations VALUES (?, 0)`, name)
	}
	exec(`INSERT INTO intents (id, title, description, created_by, parent_id, depends_on, constraints, state, status, confidence, version, governance_policy, created_at, updated_at)
		VALUES ('i1', 'old', '', 'a', NULL, '[]', '{}', '{}', 'active', 0, 3, NULL, 1, 2)`)
	// Ids that are not UUIDs, and UUIDs whose clocks went back: proofs still find them.
	exec(`INSERT INTO events (seq, id, intent_id, event_type, actor, payload, created_at) VALUES (1, 'e1', 'i1', 'comment', 'a', '{}', 1)`)
	exec(`INSERT INTO events (seq, id, intent_id, event_type, actor, payload, created_at) VALUES (2, 'e2', 'i2', 'comment', 'a', '{}', 1)`)
	exec(`INSERT INTO events (seq, id, intent_id, event_type, actor, payload, trace_id, created_at) VALUES (3, '01900000-0003-7000-8000-000000000000', 'i1', 'comment', 'a', '{"n":1}', 't', 2)`)
	exec(`INSERT INTO events (seq, id, intent_id, event_type, actor, payload, created_at) VALUES (4, '01900000-0001-7000-8000-000000000000', 'i1', 'comment', 'a', '{}', 3)`)
	old.Close()

	s := openFile(t, path)
	ctx := context.Background()
	if _, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: "i1", EventType: "comment", Actor: "a"}); err != nil {
		t.Fatal(err)
	}
	log, err := s.LogEvents(ctx, "i1", 0, 1<<62)
	if err != nil || len(log) != 4 {
		t.Fatalf("%+v %v", log, err)
	}
	if r := eventlog.CheckChain(log, "", nil); len(r.Breaks) != 0 || log[0].EventHash == "" {
		t.Fatalf("breaks %+v", r.Breaks)
	}
	for _, intent := range []string{"i1", ""} {
		cp, err := s.CreateLogCheckpoint(ctx, intent, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := s.LogEvents(ctx, intent, cp.FirstSequence, cp.LastSequence)
		for i, ev := range evs {
			p, err := s.InclusionProof(ctx, cp.ID, ev.ID)
			if err != nil || p.LeafIndex != int64(i) || eventlog.VerifyProof(p, cp.MerkleRoot, cp.EventCount) != nil {
				t.Errorf("proof of %s in the %q log: %+v %v", ev.ID, intent, p, err)
			}
		}
	}
	s.Close()
	// Opening again leaves the hashes as they are.
	s = openFile(t, path)
	again, _ := s.LogEvents(ctx, "i1", 0, 1<<62)
	for i := range log {
		if again[i].EventHash != log[i].EventHash {
			t.Errorf("event %d rehashed", i)
		}
	}
}

// Whatever Go values a payload is built of, its hash is that of the payload as read back: the
// chain verifies over the events a reader gets.
func TestHashesCoverPayloadsAsReadBack(t *testing.T) {
	type point struct{ X, Y int }
	payloads := []models.Object{
		{"plain": "a<b&c", "n": 3, "f": 0.1, "list": []any{1.5, "x", nil, true}, "nested": models.Object{"k": []string{"a", "b"}}},
		{"f32": float32(0.1), "big": int64(1) << 60, "u": uint8(7)},
		{"struct": point{1, 2}, "time": "2026-01-01T00:00:00Z", "map": map[string]int{"b": 2, "a": 1}},
		{"bad": "caf\xe9", "bad key \xff": 1.0},
	}
	for name, s := range bothStores(t) {
		ctx := context.Background()
		in, _ := s.CreateIntent(ctx, models.Intent{Title: "t", Status: models.IntentStatusActive}, "a", nil)
		for i, p := range payloads {
			if _, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: "comment", Actor: "a", Payload: p}); err != nil {
				t.Fatalf("%s: payload %d: %v", name, i, err)
			}
		}
		log, _ := s.LogEvents(ctx, in.ID, 0, 1<<62)
		if r := eventlog.CheckChain(log, "", nil); len(r.Breaks) != 0 {
			t.Errorf("%s: %+v", name, r.Breaks)
		}
	}
}
