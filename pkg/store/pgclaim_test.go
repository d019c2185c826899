package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// A claim of an Idempotency-Key fails while a live row holds the key (the operation writes
// nothing) and takes over a row that expired, swept or not.
func TestPostgresClaimTakesOverExpiredKeysOnly(t *testing.T) {
	clock := newTestClock()
	_, rs := replicas(t, 2, store.Options{Now: clock.Now})
	a, b := rs[0], rs[1]
	bg := context.Background()
	create := func(s *store.Store, title string) error {
		_, err := s.CreateIntent(store.WithIdempotencyClaim(bg, claimFor("k")), models.Intent{Title: title}, "agent", nil)
		return err
	}
	if err := create(a, "first"); err != nil {
		t.Fatal(err)
	}
	if err := create(b, "again"); !errors.Is(err, store.ErrIdempotencyKeyTaken) {
		t.Fatalf("claim of a live key: %v", err)
	}
	clock.advance(store.IdempotencyTTL + time.Second)
	if err := create(b, "after expiry"); err != nil {
		t.Fatalf("claim of an expired key: %v", err)
	}
	if err := create(a, "again"); !errors.Is(err, store.ErrIdempotencyKeyTaken) {
		t.Fatalf("claim of the key claimed anew: %v", err)
	}
	_, n, err := a.ListIntents(bg, store.IntentQuery{Limit: 10})
	if err != nil || n != 2 {
		t.Fatalf("intents: %d %v", n, err)
	}
}
