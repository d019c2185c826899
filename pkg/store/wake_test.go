package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
)

// woken reports whether ch is closed, waiting for it up to wait.
func woken(ch <-chan struct{}, wait time.Duration) bool {
	if wait == 0 {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	select {
	case <-ch:
		return true
	case <-time.After(wait):
		return false
	}
}

// A topic's watchers wake when a transaction that woke the topic commits, and only then: not
// for a transaction that rolls back, nor for another topic, nor for events.
func TestTopicsWakeOnCommit(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if s.Shared() && !woken(s.WatchTopic("warm-up"), 30*time.Second) {
				// The first watcher makes a PostgreSQL store listen, which then wakes every
				// watcher once (what was committed before it listened was not notified).
				t.Fatal("the store never started listening")
			}
			a, b, events := s.WatchTopic("channel/a"), s.WatchTopic("channel/b"), s.Watch(store.AnyIntent)
			failed := errors.New("rolled back")
			err := s.Write(ctx, func(w *store.Writer) error {
				w.Wake("channel/a")
				_, err := w.Insert(store.Record{Kind: "wake_test", ID: store.NewID()}, map[string]any{})
				if err != nil {
					return err
				}
				return failed
			})
			if !errors.Is(err, failed) {
				t.Fatal(err)
			}
			if woken(a, 0) {
				t.Fatal("a rolled back transaction woke the topic")
			}
			if err := s.Write(ctx, func(w *store.Writer) error {
				w.Wake("channel/a")
				w.Wake("channel/a")
				_, err := w.Insert(store.Record{Kind: "wake_test", ID: store.NewID()}, map[string]any{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !woken(a, 0) {
				t.Fatal("a committed transaction did not wake its topic at once")
			}
			if woken(b, 0) || woken(events, 0) {
				t.Fatal("a topic woke another topic's watchers, or the event log's")
			}
			// A transaction that only wakes a topic wakes it too.
			a = s.WatchTopic("channel/a")
			if err := s.Write(ctx, func(w *store.Writer) error { w.Wake("channel/a"); return nil }); err != nil {
				t.Fatal(err)
			}
			if !woken(a, 0) {
				t.Fatal("a transaction that only woke the topic did not wake it")
			}
			// Events still wake the event log's watchers only.
			if _, err := s.CreateIntent(ctx, models.Intent{Title: "x"}, "agent", nil); err != nil {
				t.Fatal(err)
			}
			if !woken(events, 0) || woken(b, 0) {
				t.Fatalf("after an event: log watcher woken %v, topic watcher woken %v", woken(events, 0), woken(b, 0))
			}
		})
	}
}

// A topic's watcher on one replica wakes for a transaction committed on another: by
// notification, and by polling alone when notifications are off.
func TestPostgresTopicsWakeAcrossReplicas(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts store.Options
	}{
		{"notify", store.Options{PollInterval: -1}}, // no polling: the notification must do it
		{"polling", store.Options{DisableNotify: true, PollInterval: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.URL(t)
			ctx := context.Background()
			writer, err := store.Open(ctx, dsn, store.Options{DisableNotify: true, PollInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			// Woken before the watcher opened: the watcher hears of none of it.
			if err := writer.Write(ctx, func(w *store.Writer) error { w.Wake("channel/x"); return nil }); err != nil {
				t.Fatal(err)
			}
			watcher, err := store.Open(ctx, dsn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer watcher.Close()
			if tc.name == "notify" {
				// The first watcher makes the store listen, which then wakes every watcher once.
				if !woken(watcher.WatchTopic("channel/x"), 30*time.Second) {
					t.Fatal("the store never started listening")
				}
			}
			for round := range 3 {
				x, y, events := watcher.WatchTopic("channel/x"), watcher.WatchTopic("channel/y"), watcher.Watch(store.AnyIntent)
				if err := writer.Write(ctx, func(w *store.Writer) error {
					w.Wake("channel/x")
					_, err := w.Insert(store.Record{Kind: "wake_test", ID: store.NewID()}, map[string]any{"round": round})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if !woken(x, 30*time.Second) {
					t.Fatalf("round %d: the topic's watcher never woke", round)
				}
				if tc.name == "notify" && (woken(y, 0) || woken(events, 0)) {
					t.Fatalf("round %d: another topic's watcher or the event log's woke", round)
				}
			}
			// The stamps are rows of their own, which no list of records shows.
			rs, err := watcher.ListRecords(ctx, store.Query{Kind: "wake_test"})
			if err != nil || len(rs) != 3 {
				t.Fatalf("records: %d, %v", len(rs), err)
			}
		})
	}
}

// The rows stamping topics on PostgreSQL are swept once they are an hour old; the record clock
// keeps its order.
func TestPostgresTopicStampsAreSwept(t *testing.T) {
	dsn := pgtest.URL(t)
	ctx := context.Background()
	c := newTestClock()
	s, err := store.Open(ctx, dsn, store.Options{Now: c.Now, PollInterval: -1, DisableNotify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wake := func(topic string) {
		t.Helper()
		if err := s.Write(ctx, func(w *store.Writer) error { w.Wake(topic); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	stamps := func() map[string]bool {
		t.Helper()
		rs, err := s.ListRecords(ctx, store.Query{Kind: "_wake"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, r := range rs {
			out[r.ID] = true
		}
		return out
	}
	wake("channel/old")
	wake("channel/kept")
	if got := stamps(); !got["channel/old"] || !got["channel/kept"] {
		t.Fatalf("stamps: %v", got)
	}
	c.advance(50 * time.Minute)
	wake("channel/kept") // restamped: younger than an hour from now on
	c.advance(20 * time.Minute)
	wake("channel/new")
	if got := stamps(); got["channel/old"] || !got["channel/kept"] || !got["channel/new"] {
		t.Fatalf("after the sweep: %v", got)
	}
	// Records created later still sort after the stamps' ticks of the record clock.
	var recs []store.Record
	for range 3 {
		if err := s.Write(ctx, func(w *store.Writer) error {
			w.Wake("channel/new")
			r, err := w.Insert(store.Record{Kind: "wake_test", ID: store.NewID()}, map[string]any{})
			recs = append(recs, r)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	listed, err := s.ListRecords(ctx, store.Query{Kind: "wake_test"})
	if err != nil || len(listed) != 3 {
		t.Fatalf("%d records, %v", len(listed), err)
	}
	for i := range recs {
		if listed[i].ID != recs[i].ID {
			t.Fatalf("records listed out of order: %v", listed)
		}
	}
}
