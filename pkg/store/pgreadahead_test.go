package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// A request's read-ahead (WithIntentReadAhead) reads the intent with the request's first record
// read and answers the request's first read of that intent with it, once: every later read goes
// to the database and sees another replica's writes. The other stores read nothing ahead.
func TestPostgresIntentReadAheadAnswersOnce(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	a, b := rs[0], rs[1]
	bg := context.Background()
	in, err := a.CreateIntent(bg, models.Intent{Title: "ahead"}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := a.WithIntentReadAhead(bg, in.ID)
	if ctx == bg {
		t.Fatal("no read-ahead on PostgreSQL")
	}
	if _, err := a.GetRecord(ctx, "acl", in.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the record read with the read-ahead: %v", err)
	}
	// Another replica moves the intent after the read-ahead.
	if _, err := b.UpdateIntent(bg, in.ID, in.Version, "agent", func(_ *store.Tx, in *models.Intent) (store.Change, error) {
		in.Title = "moved"
		return store.Change{EventType: "state_patched"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetIntent(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another intent: %v", err)
	}
	got, err := a.GetIntent(ctx, in.ID)
	if err != nil || got.Version != in.Version || got.Title != "ahead" {
		t.Fatalf("first read, read ahead: %+v %v", got, err)
	}
	got, err = a.GetIntent(ctx, in.ID)
	if err != nil || got.Version != in.Version+1 || got.Title != "moved" {
		t.Fatalf("second read, afresh: %+v %v", got, err)
	}
	// A later record read reads nothing ahead; an intent read first leaves nothing to read ahead.
	if _, err := a.GetRecord(ctx, "acl", in.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	ctx = a.WithIntentReadAhead(bg, in.ID)
	if got, err := a.GetIntent(ctx, in.ID); err != nil || got.Title != "moved" {
		t.Fatalf("read before any record: %+v %v", got, err)
	}
	// A missing intent is read ahead as missing.
	ctx = a.WithIntentReadAhead(bg, "missing")
	if _, err := a.GetRecord(ctx, "acl", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := a.GetIntent(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing intent read ahead: %v", err)
	}
	mem, err := store.Open(bg, store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.WithIntentReadAhead(bg, in.ID) != bg {
		t.Fatal("read-ahead on the in-memory store")
	}
}
