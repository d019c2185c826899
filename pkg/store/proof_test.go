package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// TestEventProofsAreKept: the RFC-0018 proof of a signed event comes back from every read, on
// both kinds of store (the file store's lists read SQLite); events without one have none.
func TestEventProofsAreKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	proof := models.EventProof{Type: "Ed25519Signature2026", Created: "2026-02-12T10:15:00Z",
		VerificationMethod: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", Signature: "c2ln"}
	for name, s := range withPostgres(t, map[string]*store.Store{"memory": openFile(t, store.Memory), "file": openFile(t, path)}) {
		in, err := s.CreateIntent(ctx, models.Intent{Title: "t", Status: models.IntentStatusActive}, "a", nil)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: "comment", Actor: "a", Proof: proof})
		if err != nil || signed.Proof != proof {
			t.Fatalf("%s: append: %+v, %v", name, signed.Proof, err)
		}
		if _, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: "comment", Actor: "a"}); err != nil {
			t.Fatal(err)
		}
		evs, err := s.ListEvents(ctx, in.ID, store.EventFilter{Limit: 10})
		if err != nil || len(evs) != 3 {
			t.Fatalf("%s: list: %d events, %v", name, len(evs), err)
		}
		if evs[1].Proof != proof || evs[0].Proof != (models.EventProof{}) {
			t.Errorf("%s: listed proofs %+v and %+v", name, evs[1].Proof, evs[0].Proof)
		}
		after, err := s.EventsAfter(ctx, store.StreamFilter{IntentIDs: []string{in.ID}, Limit: 10})
		if err != nil || len(after) != 3 || after[1].Proof != proof {
			t.Errorf("%s: streamed: %+v, %v", name, after, err)
		}
	}
}
