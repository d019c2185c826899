package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/store"
)

// A replica's creates speculate on the log's last sequence number (pgspec.go). When another
// replica wrote in between, the speculation fails and the create succeeds the normal way; an
// Idempotency-Key claimed in the transaction is claimed by the run that commits, and refused as
// before when taken. Sequence numbers stay gapless and every chain valid.
func TestPostgresSpeculativeCreateAcrossReplicas(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	a, b := rs[0], rs[1]
	bg := context.Background()
	actor := map[*store.Store]string{a: "replica a", b: "replica b"}
	create := func(s *store.Store, ctx context.Context, title string) (models.Intent, error) {
		return s.CreateIntent(ctx, models.Intent{Title: title, Status: models.IntentStatusActive}, actor[s], map[string]any{"title": title})
	}
	must := func(in models.Intent, err error) models.Intent {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	stale := func(want0, want1 int64) {
		t.Helper()
		if n0, n1 := store.StaleGuards(a), store.StaleGuards(b); n0 != want0 || n1 != want1 {
			t.Fatalf("failed speculations: a %d, b %d; want %d, %d", n0, n1, want0, want1)
		}
	}
	// Alone, a's creates speculate right: its hint is the last sequence number it wrote.
	a1 := must(create(a, bg, "a1"))
	must(create(a, bg, "a2"))
	stale(0, 0)
	// b read the log's last when it opened (empty): a wrote since.
	b1 := must(create(b, bg, "b1"))
	stale(0, 1)
	must(create(a, bg, "a3"))
	stale(1, 1)
	// A normal transaction (an update) leaves the hint right too.
	must(a.UpdateIntent(bg, b1.ID, b1.Version, actor[a], func(_ *store.Tx, in *models.Intent) (store.Change, error) {
		in.Title = "moved"
		return store.Change{EventType: "state_patched"}, nil
	}))
	must(create(a, bg, "a4"))
	stale(1, 1)
	// b appends to a1's log: a's speculation fails, its claim is made by the run that commits.
	if _, err := b.AppendEvent(bg, models.IntentEvent{IntentID: a1.ID, EventType: "comment", Actor: actor[b]}); err != nil {
		t.Fatal(err)
	}
	must(create(a, store.WithIdempotencyClaim(bg, claimFor("k1")), "claimed by a"))
	stale(2, 1)
	if _, err := create(b, store.WithIdempotencyClaim(bg, claimFor("k1")), "k1 again"); !errors.Is(err, store.ErrIdempotencyKeyTaken) {
		t.Fatalf("claim of a key a claimed: %v", err)
	}
	stale(2, 2)
	// A key taken by another replica is refused when the speculation fails as well.
	must(create(b, store.WithIdempotencyClaim(bg, claimFor("k2")), "claimed by b"))
	stale(2, 2) // b's failed claim read the log's last
	if _, err := create(a, store.WithIdempotencyClaim(bg, claimFor("k2")), "k2 again"); !errors.Is(err, store.ErrIdempotencyKeyTaken) {
		t.Fatalf("claim of a key b claimed: %v", err)
	}
	stale(3, 2)
	must(create(a, bg, "a5"))
	stale(3, 2)
	checkLog(t, a, 8, 10)
}

// Replicas creating intents at once speculate, fail and run again many times over: every
// create commits once, with gapless sequence numbers and valid chains, and each replica's
// timestamps grow with its sequence numbers.
func TestPostgresSpeculativeCreatesRace(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	const workers, each = 3, 15
	var wg sync.WaitGroup
	for r, s := range rs {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := s.CreateIntent(context.Background(), models.Intent{Title: "race"}, fmt.Sprint("replica ", r), nil); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	n := len(rs) * workers * each
	checkLog(t, rs[0], n, n)
	t.Logf("failed speculations: %d, %d of %d creates", store.StaleGuards(rs[0]), store.StaleGuards(rs[1]), n)
}

// checkLog checks that s's database holds intents intents and events events numbered 1 to
// events, that every chain is valid and that the events of each actor (a replica, in these
// tests) have times that never go back as their sequence numbers grow.
func checkLog(t *testing.T, s *store.Store, intents, events int) {
	t.Helper()
	bg := context.Background()
	if _, n, err := s.ListIntents(bg, store.IntentQuery{Limit: 1}); err != nil || n != int64(intents) {
		t.Fatalf("intents: %d %v, want %d", n, err, intents)
	}
	all, err := s.EventsAfter(bg, store.StreamFilter{Limit: events + 10})
	if err != nil || len(all) != events {
		t.Fatalf("events: %d %v, want %d", len(all), err, events)
	}
	ids := map[string]bool{}
	last := map[string]models.IntentEvent{}
	for i, ev := range all {
		if ev.Sequence != int64(i+1) {
			t.Fatalf("event %d numbered %d", i+1, ev.Sequence)
		}
		ids[ev.IntentID] = true
		if prev, ok := last[ev.Actor]; ok && ev.CreatedAt.Time.Before(prev.CreatedAt.Time) {
			t.Errorf("%s: event %d at %s, before event %d at %s", ev.Actor, ev.Sequence, ev.CreatedAt.Time, prev.Sequence, prev.CreatedAt.Time)
		}
		last[ev.Actor] = ev
	}
	for id := range ids {
		log, err := s.LogEvents(bg, id, 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		if r := eventlog.CheckChain(log, "", nil); len(r.Breaks) != 0 {
			t.Fatalf("intent %s: %+v", id, r.Breaks)
		}
	}
}
