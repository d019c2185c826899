package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
)

// withPostgres adds a PostgreSQL store to m where there is one (pgtest.Maybe).
func withPostgres(t *testing.T, m map[string]*store.Store) map[string]*store.Store {
	t.Helper()
	if dsn, ok := pgtest.Maybe(t); ok {
		m["postgres"] = openFile(t, dsn)
	}
	return m
}

// testClock is a clock shared by the replicas of a test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// replicas opens n stores on one new PostgreSQL database.
func replicas(t *testing.T, n int, opts store.Options) (string, []*store.Store) {
	t.Helper()
	dsn := pgtest.URL(t)
	out := make([]*store.Store, n)
	for i := range out {
		s, err := store.Open(context.Background(), dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return dsn, out
}

// Two replicas incrementing one intent with If-Match versions lose no update: each write sees
// the one before it, whichever replica made it, and stale versions are refused.
func TestPostgresReplicasLoseNoUpdate(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	ctx := context.Background()
	in, err := rs[0].CreateIntent(ctx, models.Intent{Title: "counter", State: models.Object{"n": float64(0)}}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 15
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for w := range workers {
		s := rs[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				cur, err := s.GetIntent(ctx, in.ID)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.UpdateIntent(ctx, in.ID, cur.Version, "agent", func(_ *store.Tx, in *models.Intent) (store.Change, error) {
					in.State["n"] = in.State["n"].(float64) + 1
					return store.Change{EventType: "state_patched"}, nil
				})
				var conflict *store.VersionConflictError
				switch {
				case errors.As(err, &conflict):
					conflicts.Add(1)
				case err != nil:
					t.Error(err)
					return
				default:
					done++
				}
			}
		}()
	}
	wg.Wait()
	for i, s := range rs {
		got, err := s.GetIntent(ctx, in.ID)
		if err != nil || got.State["n"] != float64(workers*each) || got.Version != 1+workers*each {
			t.Fatalf("replica %d: n = %v, version %d (%v); want %d and %d", i, got.State["n"], got.Version, err, workers*each, 1+workers*each)
		}
	}
	t.Logf("%d version conflicts refused", conflicts.Load())
	// The log is gapless, in commit order, and its chain holds, read from either replica.
	for i, s := range rs {
		log, err := s.LogEvents(ctx, in.ID, 0, 1<<62)
		if err != nil || len(log) != 1+workers*each {
			t.Fatalf("replica %d: %d events, %v", i, len(log), err)
		}
		for k, ev := range log {
			if ev.Sequence != int64(k+1) || (k > 0 && ev.Payload["version"] != float64(k+1)) {
				t.Fatalf("replica %d: event %d is %d (version %v)", i, k, ev.Sequence, ev.Payload["version"])
			}
		}
		if r := eventlog.CheckChain(log, "", nil); len(r.Breaks) != 0 {
			t.Fatalf("replica %d: chain %+v", i, r.Breaks)
		}
	}
}

// A lease taken on one replica excludes every other agent on every replica until it expires or
// is released; of replicas racing for a free scope exactly one wins.
func TestPostgresReplicasShareLeases(t *testing.T) {
	clock := newTestClock()
	_, rs := replicas(t, 2, store.Options{Now: clock.Now})
	ctx := context.Background()
	in, err := rs[0].CreateIntent(ctx, models.Intent{Title: "leased"}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		scope := fmt.Sprint("scope-", round)
		var wins atomic.Int64
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := rs[w%2].AcquireLease(ctx, in.ID, scope, fmt.Sprint("agent-", w), time.Minute)
				var conflict *store.LeaseConflictError
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.As(err, &conflict):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d agents hold the scope", round, wins.Load())
		}
	}
	l, err := rs[0].AcquireLease(ctx, in.ID, "x", "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var conflict *store.LeaseConflictError
	if _, err := rs[1].AcquireLease(ctx, in.ID, "x", "bob", time.Minute); !errors.As(err, &conflict) || conflict.Existing.ID != l.ID {
		t.Fatalf("bob on the other replica: %v", err)
	}
	if _, err := rs[1].RenewLease(ctx, in.ID, l.ID, "alice", time.Minute); err != nil {
		t.Fatalf("alice renews on the other replica: %v", err)
	}
	clock.advance(2 * time.Minute)
	if _, err := rs[1].AcquireLease(ctx, in.ID, "x", "bob", time.Minute); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// An Idempotency-Key claimed by one replica's operation is seen by another at once: the other's
// operation with the same key writes nothing (ErrIdempotencyKeyTaken), and it reads the claim,
// then the response, from the database.
func TestPostgresReplicasShareIdempotencyKeys(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	a, b := rs[0], rs[1]
	ctx := context.Background()
	first := claimFor("k")
	if _, err := a.CreateIntent(store.WithIdempotencyClaim(ctx, first), models.Intent{Title: "once"}, "agent", nil); err != nil {
		t.Fatal(err)
	}
	got, found, err := b.GetIdempotentResponse(ctx, "p", "k")
	if err != nil || !found || got.Status != 0 {
		t.Fatalf("the claim, from the other replica: %+v %v %v", got, found, err)
	}
	retry := claimFor("k")
	if _, err := b.CreateIntent(store.WithIdempotencyClaim(ctx, retry), models.Intent{Title: "once"}, "agent", nil); !errors.Is(err, store.ErrIdempotencyKeyTaken) {
		t.Fatalf("the same key on the other replica: %v", err)
	}
	if retry.Written() {
		t.Fatal("the refused claim says it was written")
	}
	if _, total, _ := b.ListIntents(ctx, store.IntentQuery{Limit: 10}); total != 1 {
		t.Fatalf("%d intents: the operation ran twice", total)
	}
	if got, found, err := b.AwaitIdempotentResponse(ctx, "p", "k", 50*time.Millisecond); err != nil || !found || got.Status != 0 {
		t.Fatalf("no response yet: %+v %v %v", got, found, err)
	}
	a.RecordIdempotentResponse(first, 201, "application/json", []byte(`{"id":"x"}`))
	got, found, err = b.AwaitIdempotentResponse(ctx, "p", "k", 30*time.Second)
	if err != nil || !found || got.Status != 201 || string(got.Body) != `{"id":"x"}` {
		t.Fatalf("the response never reached the other replica: %+v %v %v", got, found, err)
	}
	// Racing replicas with one key: exactly one operation commits.
	var wins atomic.Int64
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := rs[w%2].CreateIntent(store.WithIdempotencyClaim(ctx, claimFor("race")), models.Intent{Title: "race"}, "agent", nil)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrIdempotencyKeyTaken):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d operations ran for one key", wins.Load())
	}
}

// Nothing a replica keeps in memory hides another's writes: intents, records in creation order,
// assignments, events after a cursor.
func TestPostgresReplicasReadEachOthersWrites(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	a, b := rs[0], rs[1]
	ctx := context.Background()
	in, err := a.CreateIntent(ctx, models.Intent{Title: "shared"}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= 4; v++ {
		w, r := rs[v%2], rs[(v+1)%2]
		if _, err := r.GetIntent(ctx, in.ID); err != nil { // would fill a cache
			t.Fatal(err)
		}
		if _, err := w.UpdateIntent(ctx, in.ID, v, "agent", func(_ *store.Tx, in *models.Intent) (store.Change, error) {
			in.Title = fmt.Sprint("v", v+1)
			return store.Change{EventType: "state_patched"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetIntent(ctx, in.ID)
		if err != nil || got.Version != v+1 || got.Title != fmt.Sprint("v", v+1) {
			t.Fatalf("the other replica reads %+v, %v", got, err)
		}
	}
	// Records created alternately on both replicas list in creation order, even within one
	// microsecond of the database's clock.
	var ids []string
	for i := range 10 {
		err := rs[i%2].Write(ctx, func(w *store.Writer) error {
			r, err := w.Insert(store.Record{Kind: "note", ID: fmt.Sprintf("z%02d", 10-i), Parent: in.ID}, map[string]any{"i": i})
			ids = append(ids, r.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range rs {
		listed, err := s.ListRecords(ctx, store.Query{Kind: "note", Parent: in.ID})
		if err != nil || len(listed) != len(ids) {
			t.Fatalf("%d records, %v", len(listed), err)
		}
		for i, r := range listed {
			if r.ID != ids[i] {
				t.Fatalf("record %d is %s, want %s (creation order)", i, r.ID, ids[i])
			}
		}
	}
	if _, err := b.AssignAgent(ctx, in.ID, "carol", "worker", "agent"); err != nil {
		t.Fatal(err)
	}
	if as, err := a.ListAssignments(ctx, in.ID); err != nil || len(as) != 1 {
		t.Fatalf("assignments on the other replica: %+v %v", as, err)
	}
	last, _ := a.LastSeq(ctx)
	ev, err := b.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: "comment", Actor: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	after, err := a.EventsAfter(ctx, store.StreamFilter{AfterSeq: last, Limit: 10})
	if err != nil || len(after) != 1 || after[0].ID != ev.ID || after[0].Sequence != last+1 {
		t.Fatalf("events after %d on the other replica: %+v %v", last, after, err)
	}
}

// A watcher on one replica wakes for events committed by another: by notification, and by
// polling alone when notifications are off.
func TestPostgresWatchersWakeAcrossReplicas(t *testing.T) {
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
			in, err := writer.CreateIntent(ctx, models.Intent{Title: "watched"}, "agent", nil)
			if err != nil {
				t.Fatal(err)
			}
			other, err := writer.CreateIntent(ctx, models.Intent{Title: "other"}, "agent", nil)
			if err != nil {
				t.Fatal(err)
			}
			// Opened after those commits, the watcher hears of none of them.
			watcher, err := store.Open(ctx, dsn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer watcher.Close()
			if tc.name == "notify" {
				// The first watcher makes the store listen, which then wakes every watcher once
				// (a commit before it listened was not notified to them).
				select {
				case <-watcher.Watch(store.AnyIntent):
				case <-time.After(30 * time.Second):
					t.Fatal("the store never started listening")
				}
			}
			for round := range 3 {
				last, err := watcher.LastSeq(ctx)
				if err != nil {
					t.Fatal(err)
				}
				one, anyCh := watcher.Watch(in.ID), watcher.Watch(store.AnyIntent)
				unrelated := watcher.Watch(other.ID)
				if _, err := writer.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: "comment", Actor: "agent"}); err != nil {
					t.Fatal(err)
				}
				for name, ch := range map[string]<-chan struct{}{"intent": one, "any": anyCh} {
					select {
					case <-ch:
					case <-time.After(30 * time.Second):
						t.Fatalf("round %d: the %s watcher never woke", round, name)
					}
				}
				evs, err := watcher.EventsAfter(ctx, store.StreamFilter{AfterSeq: last, Limit: 10})
				if err != nil || len(evs) != 1 || evs[0].IntentID != in.ID {
					t.Fatalf("round %d: woken, it reads %+v, %v", round, evs, err)
				}
				if tc.name == "notify" {
					select {
					case <-unrelated:
						t.Fatalf("round %d: a watcher of another intent woke", round)
					default:
					}
				}
			}
		})
	}
}

// Replicas opening a new database together apply each migration once.
func TestPostgresReplicasMigrateTogether(t *testing.T) {
	dsn := pgtest.URL(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(context.Background(), dsn, store.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, distinct int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations_pg/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations_pg: %v %v", files, err)
	}
	if n != len(files) || distinct != len(files) {
		t.Fatalf("%d migrations recorded (%d distinct), want %d", n, distinct, len(files))
	}
}

// Without Options.Now a PostgreSQL store's clock is the database's.
func TestPostgresClockIsTheDatabases(t *testing.T) {
	dsn, rs := replicas(t, 1, store.Options{})
	s := rs[0]
	ctx := context.Background()
	if _, err := s.CreateIntent(ctx, models.Intent{Title: "tick"}, "agent", nil); err != nil { // reads the clock
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var db time.Time
	before := s.Now()
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	after := s.Now()
	// The same machine: the clocks agree but for the round trips.
	if db.Before(before.Add(-time.Second)) || db.After(after.Add(time.Second)) {
		t.Fatalf("database clock %v, store clock %v..%v", db, before, after)
	}
}

// Every string a Go program can hold is stored and found again, on every kind of store:
// PostgreSQL's text refuses NUL and bytes that are not UTF-8, so its store encodes them.
func TestStoresKeepAnyString(t *testing.T) {
	odd := []string{"a\x00b", "caf\xe9", "\uffff", "\uffff0", "\uffffx41", "x\xef\xbf", "ｆｕｌｌ", "plain"}
	ctx := context.Background()
	for name, s := range withPostgres(t, map[string]*store.Store{"memory": openFile(t, store.Memory), "file": openFile(t, filepath.Join(t.TempDir(), "s.db"))}) {
		t.Run(name, func(t *testing.T) {
			for _, o := range odd {
				in, err := s.CreateIntent(ctx, models.Intent{Title: o, Description: o, CreatedBy: o, State: models.Object{"s": o}}, "agent", nil)
				if err != nil {
					t.Fatalf("%q: %v", o, err)
				}
				got, err := s.GetIntent(ctx, in.ID)
				if err != nil || got.Title != o || got.Description != o || got.CreatedBy != o {
					t.Fatalf("%q: read back %q %q %q, %v", o, got.Title, got.Description, got.CreatedBy, err)
				}
				if utf8.ValidString(o) { // (an event's hash covers its fields' canonical JSON: UTF-8)
					ev, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: in.ID, EventType: models.EventType(o), Actor: o, TraceID: o})
					if err != nil {
						t.Fatalf("%q: %v", o, err)
					}
					evs, err := s.EventsAfter(ctx, store.StreamFilter{AfterSeq: ev.Sequence - 1, Agent: o, Limit: 1})
					if err != nil || len(evs) != 1 || evs[0].Actor != o || string(evs[0].EventType) != o || evs[0].TraceID != o || evs[0].EventHash != ev.EventHash {
						t.Fatalf("%q: event read back %+v, %v", o, evs, err)
					}
					if _, err := s.AcquireLease(ctx, in.ID, o, o, time.Minute); err != nil {
						t.Fatalf("%q: lease: %v", o, err)
					}
					var conflict *store.LeaseConflictError
					if _, err := s.AcquireLease(ctx, in.ID, o, "other", time.Minute); !errors.As(err, &conflict) || conflict.Existing.Scope != o {
						t.Fatalf("%q: the scope is not held: %v", o, err)
					}
				}
				err = s.Write(ctx, func(w *store.Writer) error {
					_, err := w.Insert(store.Record{Kind: "k" + o, ID: o, Parent: o, Ref: o, Key: o}, map[string]any{"v": o})
					return err
				})
				if err != nil {
					t.Fatalf("%q: insert: %v", o, err)
				}
				err = s.Write(ctx, func(w *store.Writer) error {
					_, err := w.Insert(store.Record{Kind: "k" + o, ID: store.NewID(), Key: o}, map[string]any{})
					return err
				})
				if !errors.Is(err, store.ErrDuplicate) {
					t.Fatalf("%q: a second record with the key: %v", o, err)
				}
				rs, err := s.ListRecords(ctx, store.Query{Kind: "k" + o, Parent: o, Ref: o})
				if err != nil || len(rs) != 1 || rs[0].ID != o || rs[0].Key != o {
					t.Fatalf("%q: records %+v, %v", o, rs, err)
				}
				if _, err := s.GetIntent(ctx, o); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%q as an intent id: %v", o, err)
				}
			}
		})
	}
}

// Expired Idempotency-Keys are swept from the database, the live ones kept.
func TestPostgresExpiredKeysAreSwept(t *testing.T) {
	clock := newTestClock()
	dsn, rs := replicas(t, 1, store.Options{Now: clock.Now})
	s := rs[0]
	ctx := context.Background()
	const old = 1200 // more than one sweep batch
	for i := range old {
		s.RecordIdempotentResponse(claimFor(fmt.Sprint("old-", i)), 201, "application/json", []byte(`{}`))
	}
	write := func() {
		t.Helper()
		if _, err := s.CreateIntent(ctx, models.Intent{Title: "w"}, "agent", nil); err != nil {
			t.Fatal(err)
		}
	}
	write()
	clock.advance(store.IdempotencyTTL / 2)
	s.RecordIdempotentResponse(claimFor("young"), 201, "application/json", []byte(`{}`))
	write()
	clock.advance(store.IdempotencyTTL/2 + time.Minute)
	s.RecordIdempotentResponse(claimFor("fresh"), 201, "application/json", []byte(`{}`))
	write()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT key FROM idempotency_keys ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(keys, ",") != "fresh,young" {
		t.Fatalf("keys left: %v %v", keys, err)
	}
}

// envReplica makes the test binary a replica process (TestPostgresReplicaProcesses).
const envReplica = "OPENINTENT_TEST_STORE_REPLICA"

// Replicas in separate processes: each increments a shared intent with If-Match versions and
// appends events; no update is lost, and the log is gapless and chained.
func TestPostgresReplicaProcesses(t *testing.T) {
	if spec := os.Getenv(envReplica); spec != "" {
		replicaProcess(t, spec)
		return
	}
	dsn := pgtest.URL(t)
	ctx := context.Background()
	s, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in, err := s.CreateIntent(ctx, models.Intent{Title: "counter", State: models.Object{"n": float64(0)}}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	const procs, each = 3, 20
	var wg sync.WaitGroup
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresReplicaProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), envReplica+"="+strings.Join([]string{dsn, in.ID, strconv.Itoa(each), strconv.Itoa(p)}, "\n"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("replica %d: %v\n%s", p, err, out)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetIntent(ctx, in.ID)
	if err != nil || got.State["n"] != float64(procs*each) || got.Version != 1+procs*each {
		t.Fatalf("n = %v, version %d (%v); want %d", got.State["n"], got.Version, err, procs*each)
	}
	log, err := s.LogEvents(ctx, "", 0, 1<<62)
	if err != nil || len(log) != 1+2*procs*each {
		t.Fatalf("%d events, %v", len(log), err)
	}
	for k, ev := range log {
		if ev.Sequence != int64(k+1) {
			t.Fatalf("event %d has sequence %d", k, ev.Sequence)
		}
	}
	if r := eventlog.CheckChain(log, "", nil); len(r.Breaks) != 0 {
		t.Fatalf("chain: %+v", r.Breaks)
	}
}

// replicaProcess is one process of TestPostgresReplicaProcesses.
func replicaProcess(t *testing.T, spec string) {
	parts := strings.Split(spec, "\n")
	dsn, id := parts[0], parts[1]
	each, _ := strconv.Atoi(parts[2])
	ctx := context.Background()
	s, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for done := 0; done < each; {
		cur, err := s.GetIntent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateIntent(ctx, id, cur.Version, "replica-"+parts[3], func(_ *store.Tx, in *models.Intent) (store.Change, error) {
			in.State["n"] = in.State["n"].(float64) + 1
			return store.Change{EventType: "state_patched"}, nil
		})
		var conflict *store.VersionConflictError
		if errors.As(err, &conflict) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendEvent(ctx, models.IntentEvent{IntentID: id, EventType: "comment", Actor: "replica-" + parts[3]}); err != nil {
			t.Fatal(err)
		}
		done++
	}
}

// A connection string that does not parse is refused without being quoted: it holds a password.
func TestPostgresBadURLIsNotQuoted(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://user:s3cret@host:notaport/db", store.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
}
