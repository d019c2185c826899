package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/openintent-go/openintent/pkg/store"
)

// A database written before migration 0004 keeps its events (and their sequence numbers),
// intents and idempotency keys, and new events continue the sequence.
func TestLeanWritesMigrationKeepsData(t *testing.T) {
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
	for _, name := range []string{"0001_core.sql", "0002_idempotency.sql", "0003_records.sql"} {
		body, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations VALUES (?, 0)`, "migrations/"+name)
	}
	exec(`INSERT INTO intents (id, title, description, created_by, parent_id, depends_on, constraints, state, status, confidence, version, governance_policy, created_at, updated_at)
		VALUES ('i1', 'old', '', 'a', NULL, '[]', '{}', '{}', 'active', 0, 3, NULL, 1, 2)`)
	exec(`INSERT INTO events (seq, id, intent_id, event_type, actor, payload, created_at) VALUES (7, 'e7', 'i1', 'comment', 'a', '{}', 1)`)
	exec(`INSERT INTO events (seq, id, intent_id, event_type, actor, payload, created_at) VALUES (9, 'e9', 'i1', 'comment', 'a', '{"n":1}', 2)`)
	exec(`INSERT INTO idempotency_keys VALUES ('p', 'k', 'POST', '/x', 'h', 201, 'application/json', x'7b7d', 9000000000000000)`)
	old.Close()

	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	in, err := s.GetIntent(ctx, "i1")
	if err != nil || in.Version != 3 || in.Title != "old" {
		t.Fatalf("intent: %+v %v", in, err)
	}
	evs, err := s.ListEvents(ctx, "i1", store.EventFilter{Limit: 10})
	if err != nil || len(evs) != 2 || evs[0].Sequence != 9 || evs[1].Sequence != 7 || evs[0].Payload["n"] != 1.0 {
		t.Fatalf("events: %+v %v", evs, err)
	}
	if r, found, err := s.GetIdempotentResponse(ctx, "p", "k"); err != nil || !found || r.Status != 201 || string(r.Body) != "{}" {
		t.Fatalf("idempotency key: %+v %v %v", r, found, err)
	}
	ev, err := s.AppendEvent(ctx, evs[0])
	if err != nil || ev.Sequence != 10 {
		t.Fatalf("new event: %+v %v", ev, err)
	}
}
