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

// A claim whose response was never written is waited for while the replica that made it is
// connected (it is still carrying the request out), and given up at once when that replica is
// gone (killed between the commit and its response): a retry on another replica is answered
// without waiting for a response that cannot come.
func TestPostgresAbandonedClaimIsNotWaitedFor(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	a, b := rs[0], rs[1]
	bg := context.Background()
	if _, err := a.CreateIntent(store.WithIdempotencyClaim(bg, claimFor("k")), models.Intent{Title: "t"}, "agent", nil); err != nil {
		t.Fatal(err)
	}
	// a is alive: b waits the whole bound for its response.
	const short = 300 * time.Millisecond
	start := time.Now()
	r, found, err := b.AwaitIdempotentResponse(bg, "p", "k", short)
	if err != nil || !found || r.Status != 0 {
		t.Fatalf("claim of a live replica: %+v %v %v", r, found, err)
	}
	if waited := time.Since(start); waited < short {
		t.Fatalf("gave up the claim of a live replica after %v, before the %v bound", waited, short)
	}
	// a stops without ever recording the response (as if killed after the commit).
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, found, err = b.AwaitIdempotentResponse(bg, "p", "k", time.Hour)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("still waiting for the response of a replica that is gone")
	}
	if err != nil || !found || r.Status != 0 || r.Method != "POST" {
		t.Fatalf("abandoned claim: %+v %v %v", r, found, err)
	}
}
