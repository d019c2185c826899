package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
)

// What a PostgreSQL store knows of its own writes (pgknown.go) answers a request's reads only on
// condition that its first write transaction confirms it: while no other replica wrote, the
// request is confirmed; once another did (an update, a record keyed by the intent), its write
// transaction fails with ErrSpeculationFailed having written nothing, and the request, served
// again without speculation, sees the other's write.
func TestPostgresSpeculationIsConfirmedOrRefused(t *testing.T) {
	_, rs := replicas(t, 2, store.Options{})
	a, b := rs[0], rs[1]
	bg := context.Background()
	set := func(key string, v float64) func(*store.Tx, *models.Intent) (store.Change, error) {
		return func(_ *store.Tx, in *models.Intent) (store.Change, error) {
			in.State[key] = v
			return store.Change{EventType: "state_patched"}, nil
		}
	}
	// request is one request on s: the access decision's record read, then the update.
	request := func(s *store.Store, id string, version int64, key string, v float64) (models.Intent, bool, error) {
		ctx, sp := s.Speculate(bg)
		if _, err := s.GetRecord(ctx, "acl", id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("acl of %s: %v", id, err)
		}
		in, err := s.UpdateIntent(ctx, id, version, "agent", set(key, v))
		return in, sp.Failed(), err
	}
	in, err := a.CreateIntent(bg, models.Intent{Title: "counter", State: models.Object{}}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Alone, a's requests are confirmed, one after another.
	for v := int64(1); v <= 3; v++ {
		up, failed, err := request(a, in.ID, v, "a", float64(v))
		if err != nil || failed || up.Version != v+1 {
			t.Fatalf("update %d on a: version %d, failed %v, %v", v, up.Version, failed, err)
		}
	}
	// b writes: a's knowledge of the intent is stale, and its next request is refused.
	if _, err := b.UpdateIntent(bg, in.ID, 4, "agent", set("b", 1)); err != nil {
		t.Fatal(err)
	}
	if _, failed, err := request(a, in.ID, 4, "a", 4); !errors.Is(err, store.ErrSpeculationFailed) || !failed {
		t.Fatalf("request on stale knowledge: failed %v, %v", failed, err)
	}
	// Served again without speculation, it sees b's write.
	var vc *store.VersionConflictError
	if _, err := a.UpdateIntent(bg, in.ID, 4, "agent", set("a", 4)); !errors.As(err, &vc) || vc.Current != 5 {
		t.Fatalf("stale version after b's write: %v", err)
	}
	got, err := a.UpdateIntent(bg, in.ID, 5, "agent", set("a", 5))
	if err != nil || got.State["a"] != float64(5) || got.State["b"] != float64(1) {
		t.Fatalf("update after b's write: %+v %v", got.State, err)
	}
	// b writes a record keyed by an intent a created (as closing its ACL does): a's knowledge
	// that there is none is stale, and the request is refused.
	other, err := a.CreateIntent(bg, models.Intent{Title: "closed soon", State: models.Object{}}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Write(bg, func(w *store.Writer) error {
		_, err := w.Insert(store.Record{Kind: "acl", ID: other.ID}, map[string]string{"default_policy": "closed"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, failed, err := request(a, other.ID, 1, "a", 1); !errors.Is(err, store.ErrSpeculationFailed) || !failed {
		t.Fatalf("request after b wrote the intent's record: failed %v, %v", failed, err)
	}
	if _, err := a.GetRecord(bg, "acl", other.ID); err != nil {
		t.Fatalf("the record b wrote, read by a: %v", err)
	}
	checkLog(t, a, 2, 7)
}

// A store's own writes keep its knowledge exact: a record it writes with an intent's id is
// never answered as absent, and a request whose update it cannot judge from what it knows (a
// stale If-Match) is not confirmed (served again, it gets the database's answer).
func TestPostgresSpeculationFollowsOwnWrites(t *testing.T) {
	_, rs := replicas(t, 1, store.Options{})
	s := rs[0]
	bg := context.Background()
	in, err := s.CreateIntent(bg, models.Intent{Title: "t"}, "agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, sp := s.Speculate(bg)
	if _, err := s.GetRecord(ctx, "acl", in.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	var vc *store.VersionConflictError
	_, err = s.UpdateIntent(ctx, in.ID, 7, "agent", func(*store.Tx, *models.Intent) (store.Change, error) {
		return store.Change{EventType: "state_patched"}, nil
	})
	if !errors.As(err, &vc) || vc.Current != 1 || !sp.Failed() {
		t.Fatalf("stale If-Match judged from knowledge: %v, failed %v", err, sp.Failed())
	}
	if err := s.Write(bg, func(w *store.Writer) error {
		_, err := w.Insert(store.Record{Kind: "acl", ID: in.ID}, map[string]string{"default_policy": "closed"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, sp = s.Speculate(bg)
	if _, err := s.GetRecord(ctx, "acl", in.ID); err != nil {
		t.Fatalf("the store's own record, read speculating: %v", err)
	}
	if sp.Failed() {
		t.Fatal("a read from the database failed the speculation")
	}
}

// On a cluster whose other databases keep writing, a store's knowledge is stale after every
// transaction: a request stops speculating on it after a few refusals, creates (whose guard
// concerns only the store's own database) keep speculating right, and once the other writes stop
// the store speculates again and is confirmed.
func TestPostgresKnowledgeStopsWhileOtherDatabasesWrite(t *testing.T) {
	_, rs := replicas(t, 1, store.Options{})
	s := rs[0]
	bg := context.Background()
	other, err := pgx.Connect(bg, pgtest.URL(t)) // another database of the same cluster
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(bg)
	if _, err := other.Exec(bg, `CREATE TABLE noise (n int)`); err != nil {
		t.Fatal(err)
	}
	noise := func() {
		t.Helper()
		if _, err := other.Exec(bg, `INSERT INTO noise VALUES (1)`); err != nil {
			t.Fatal(err)
		}
	}
	// cycle creates an intent (with other writes before and after, when noisy) and updates it in
	// a request; it reports whether the request speculated, and whether that was refused.
	cycle := func(noisy bool) (speculated, refused bool) {
		t.Helper()
		in, err := s.CreateIntent(bg, models.Intent{Title: "t"}, "agent", nil)
		if err != nil {
			t.Fatal(err)
		}
		if noisy {
			noise()
		}
		ctx, sp := s.Speculate(bg)
		if _, err := s.GetRecord(ctx, "acl", in.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		_, err = s.UpdateIntent(ctx, in.ID, 1, "agent", func(*store.Tx, *models.Intent) (store.Change, error) {
			return store.Change{EventType: "state_patched"}, nil
		})
		if sp.Failed() {
			if !errors.Is(err, store.ErrSpeculationFailed) {
				t.Fatalf("refused request: %v", err)
			}
			// Served again.
			if _, err = s.UpdateIntent(bg, in.ID, 1, "agent", func(*store.Tx, *models.Intent) (store.Change, error) {
				return store.Change{EventType: "state_patched"}, nil
			}); err != nil {
				t.Fatal(err)
			}
			return true, true
		}
		if err != nil {
			t.Fatal(err)
		}
		return sp != nil, false
	}
	if speculated, refused := cycle(false); !speculated || refused {
		t.Fatalf("quiet cluster: speculated %v, refused %v", speculated, refused)
	}
	before := store.StaleGuards(s)
	refusals := 0
	for i := range 20 {
		speculated, refused := cycle(true)
		if refused {
			refusals++
		}
		if i >= 10 && speculated {
			t.Fatalf("cycle %d on a noisy cluster still speculates (%d refusals)", i, refusals)
		}
	}
	if refusals == 0 || refusals > 5 {
		t.Fatalf("%d requests refused on a noisy cluster, want 1..5", refusals)
	}
	if n := store.StaleGuards(s) - before; n != int64(refusals) {
		t.Fatalf("%d stale guards for %d refused requests: creates failed theirs", n, refusals)
	}
	confirmed := false
	for range 20 {
		if speculated, refused := cycle(false); refused {
			t.Fatal("refused on a quiet cluster")
		} else if speculated {
			confirmed = true
			break
		}
	}
	if !confirmed {
		t.Fatal("the store never speculated again once the cluster was quiet")
	}
	t.Logf("%d requests refused before the store stopped speculating on a noisy cluster", refusals)
}
