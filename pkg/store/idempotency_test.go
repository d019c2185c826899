package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
)

func openFile(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func claimFor(key string) *store.IdempotencyClaim {
	return &store.IdempotencyClaim{Principal: "p", Key: key, Method: "POST", Path: "/api/v1/intents", BodyHash: "h"}
}

func TestIdempotencyClaimCommitsWithTheOperation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	t.Run("file", func(t *testing.T) { claimCommitsWithTheOperation(t, path) })
	t.Run("postgres", func(t *testing.T) { claimCommitsWithTheOperation(t, pgtest.URL(t)) })
}

// claimCommitsWithTheOperation: on the store at path, a second store (a process started after
// a crash, or another replica) sees the claim an operation committed, then its response.
func claimCommitsWithTheOperation(t *testing.T, path string) {
	a := openFile(t, path)
	claim := claimFor("k1")
	ctx := store.WithIdempotencyClaim(context.Background(), claim)
	if _, err := a.CreateIntent(ctx, models.Intent{Title: "once"}, "agent", nil); err != nil {
		t.Fatal(err)
	}
	if !claim.Written() {
		t.Fatal("the claim was not written with the operation")
	}
	// The process stops before the response is recorded: another process sees the claim.
	b := openFile(t, path)
	got, found, err := b.GetIdempotentResponse(context.Background(), "p", "k1")
	if err != nil || !found || got.Status != 0 || got.Method != "POST" || got.BodyHash != "h" {
		t.Fatalf("after a crash: %+v found=%v err=%v", got, found, err)
	}
	// Had it lived, the response would have completed the claim's row.
	a.RecordIdempotentResponse(claim, 200, "application/json", []byte(`{}`))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, found, err = b.GetIdempotentResponse(context.Background(), "p", "k1")
	if err != nil || !found || got.Status != 200 || string(got.Body) != `{}` || got.Path != "/api/v1/intents" {
		t.Fatalf("recorded: %+v found=%v err=%v", got, found, err)
	}
}

func TestIdempotencyClaimRollsBackWithTheOperation(t *testing.T) {
	for name, s := range withPostgres(t, map[string]*store.Store{"file": openFile(t, filepath.Join(t.TempDir(), "s.db"))}) {
		t.Run(name, func(t *testing.T) { claimRollsBackWithTheOperation(t, s) })
	}
}

func claimRollsBackWithTheOperation(t *testing.T, s *store.Store) {
	in, err := s.CreateIntent(context.Background(), models.Intent{Title: "x"}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	claim := claimFor("k2")
	ctx := store.WithIdempotencyClaim(context.Background(), claim)
	_, err = s.UpdateIntent(ctx, in.ID, in.Version+5, "agent", func(*store.Tx, *models.Intent) (store.Change, error) {
		return store.Change{EventType: "state_patched"}, nil
	})
	var conflict *store.VersionConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("err = %v", err)
	}
	if claim.Written() {
		t.Fatal("a rolled back operation left its claim")
	}
	if _, found, err := s.GetIdempotentResponse(context.Background(), "p", "k2"); found || err != nil {
		t.Fatalf("found=%v err=%v", found, err)
	}
}

func TestRecordedResponsesReachTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	a, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	record := func(key string) {
		a.RecordIdempotentResponse(&store.IdempotencyClaim{Principal: "p", Key: key, Method: "POST", Path: "/x", BodyHash: "h"},
			201, "application/json", []byte(`{"k":"`+key+`"}`))
	}
	// Visible at once to the recording store.
	record("timer")
	if got, found, _ := a.GetIdempotentResponse(context.Background(), "p", "timer"); !found || got.Status != 201 {
		t.Fatalf("own read: %+v %v", got, found)
	}
	// Without any other write, a timer carries it to the database.
	b := openRaw(t, path)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, found := rawResponse(t, b, "timer")
		if found {
			if got.Status != 201 || string(got.Body) != `{"k":"timer"}` || got.ContentType != "application/json" {
				t.Fatalf("flushed: %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the recorded response never reached the database")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A write transaction (or the timer, whichever comes first) carries the queue; a forgotten key
	// is deleted the same way.
	record("carried")
	a.ForgetIdempotencyKey(claimFor("timer"))
	if _, found, _ := a.GetIdempotentResponse(context.Background(), "p", "timer"); found {
		t.Fatal("a forgotten key is still replayed")
	}
	if _, err := a.CreateIntent(context.Background(), models.Intent{Title: "w"}, "agent", nil); err != nil {
		t.Fatal(err)
	}
	if _, found := rawResponse(t, b, "carried"); !found {
		t.Fatal("the write transaction did not carry the queued response")
	}
	if _, found := rawResponse(t, b, "timer"); found {
		t.Fatal("the write transaction did not delete the forgotten key")
	}
	// Close writes what is still queued.
	record("closed")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, found := rawResponse(t, b, "closed"); !found {
		t.Fatal("Close lost a queued response")
	}
}

// openRaw opens a store file with database/sql alone, to see what reached it.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawResponse(t *testing.T, db *sql.DB, key string) (store.IdempotentResponse, bool) {
	t.Helper()
	var r store.IdempotentResponse
	err := db.QueryRow(`SELECT status, content_type, body FROM idempotency_keys WHERE principal = 'p' AND key = ?`, key).Scan(&r.Status, &r.ContentType, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// The in-memory store keeps its keys in memory only, with the same rules as the file store.
func TestInMemoryIdempotencyKeys(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s, err := store.Open(context.Background(), store.Memory, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(key string) (store.IdempotentResponse, bool) {
		t.Helper()
		r, found, err := s.GetIdempotentResponse(context.Background(), "p", key)
		if err != nil {
			t.Fatal(err)
		}
		return r, found
	}
	claim := claimFor("k1")
	if _, err := s.CreateIntent(store.WithIdempotencyClaim(context.Background(), claim), models.Intent{Title: "once"}, "agent", nil); err != nil {
		t.Fatal(err)
	}
	if r, found := get("k1"); !claim.Written() || !found || r.Status != 0 || r.BodyHash != "h" {
		t.Fatalf("claim: %+v %v", r, found)
	}
	s.RecordIdempotentResponse(claim, 200, "application/json", []byte(`{}`))
	if r, found := get("k1"); !found || r.Status != 200 || string(r.Body) != `{}` {
		t.Fatalf("recorded: %+v %v", r, found)
	}
	// A rolled back operation leaves no claim.
	rolled := claimFor("k2")
	_, err = s.UpdateIntent(store.WithIdempotencyClaim(context.Background(), rolled), "missing", 1, "agent", nil)
	if !errors.Is(err, store.ErrNotFound) || rolled.Written() {
		t.Fatalf("err = %v written = %v", err, rolled.Written())
	}
	if _, found := get("k2"); found {
		t.Fatal("a rolled back claim is replayed")
	}
	s.ForgetIdempotencyKey(claim)
	if _, found := get("k1"); found {
		t.Fatal("a forgotten key is replayed")
	}
	// Keys expire after IdempotencyTTL, counted from the claim.
	s.RecordIdempotentResponse(claimFor("k3"), 201, "application/json", []byte(`{}`))
	now = now.Add(store.IdempotencyTTL - time.Second)
	if _, found := get("k3"); !found {
		t.Fatal("expired early")
	}
	now = now.Add(time.Second)
	if _, found := get("k3"); found {
		t.Fatal("replayed after IdempotencyTTL")
	}
}

// A file store skips the query for keys it knows are absent, and never for keys that may be in
// the file: its own flushed keys, and those there when it was opened.
func TestFileStoreFindsKeysAfterFlushAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	a, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	claim := claimFor("flushed")
	if _, err := a.CreateIntent(store.WithIdempotencyClaim(context.Background(), claim), models.Intent{Title: "x"}, "agent", nil); err != nil {
		t.Fatal(err)
	}
	a.RecordIdempotentResponse(claim, 200, "application/json", []byte(`{"n":1}`))
	raw := openRaw(t, path)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if r, found := rawResponse(t, raw, "flushed"); found && r.Status == 200 {
			break // the queue is empty: the answer below comes from the file
		}
		if time.Now().After(deadline) {
			t.Fatal("never flushed")
		}
	}
	if r, found, err := a.GetIdempotentResponse(context.Background(), "p", "flushed"); err != nil || !found || string(r.Body) != `{"n":1}` {
		t.Fatalf("own flushed key: %+v %v %v", r, found, err)
	}
	if _, found, err := a.GetIdempotentResponse(context.Background(), "p", "never"); found || err != nil {
		t.Fatalf("unknown key: %v %v", found, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openFile(t, path)
	if r, found, err := b.GetIdempotentResponse(context.Background(), "p", "flushed"); err != nil || !found || r.Status != 200 {
		t.Fatalf("after a restart: %+v %v %v", r, found, err)
	}
}

// Expired keys are swept from the file in batches, oldest first; younger keys stay.
func TestExpiredKeysAreSwept(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := store.Open(context.Background(), path, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const old = 2500 // more than one sweep batch
	for i := range old {
		s.RecordIdempotentResponse(claimFor(fmt.Sprint("old-", i)), 201, "application/json", []byte(`{}`))
	}
	write := func() {
		t.Helper()
		if _, err := s.CreateIntent(context.Background(), models.Intent{Title: "w"}, "agent", nil); err != nil {
			t.Fatal(err)
		}
	}
	write() // carries the old keys (and sweeps nothing: none has expired)
	advance(store.IdempotencyTTL / 2)
	s.RecordIdempotentResponse(claimFor("young"), 201, "application/json", []byte(`{}`))
	write()
	advance(store.IdempotencyTTL/2 + time.Minute)
	s.RecordIdempotentResponse(claimFor("fresh"), 201, "application/json", []byte(`{}`))
	write() // the old keys are now expired, "young" is not
	raw := openRaw(t, path)
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d keys left, want young and fresh", n)
	}
	for _, k := range []string{"young", "fresh"} {
		if _, found := rawResponse(t, raw, k); !found {
			t.Fatalf("%s was swept", k)
		}
	}
}
