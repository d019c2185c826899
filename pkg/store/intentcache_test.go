package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// stores opens an in-memory and a file store, and a PostgreSQL store where there is one.
func stores(t *testing.T) map[string]*store.Store {
	return withPostgres(t, map[string]*store.Store{"memory": openFile(t, store.Memory), "file": openFile(t, filepath.Join(t.TempDir(), "s.db"))})
}

func TestIntentReadsSeeEveryCommitAndNoRollback(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			in, err := s.CreateIntent(ctx, models.Intent{Title: "cached", State: models.Object{"n": float64(0), "nested": map[string]any{"a": []any{"x"}}}}, "agent", nil)
			if err != nil {
				t.Fatal(err)
			}
			// A reader's copy is its own: changing it changes neither the store nor other readers.
			a, _ := s.GetIntent(ctx, in.ID)
			a.State["n"] = float64(99)
			a.State["nested"].(map[string]any)["a"].([]any)[0] = "changed"
			b, _ := s.GetIntent(ctx, in.ID)
			if b.State["n"] != float64(0) || b.State["nested"].(map[string]any)["a"].([]any)[0] != "x" {
				t.Fatalf("a reader's change leaked: %v", b.State)
			}
			// A write that fails after changing the intent leaves no trace.
			boom := errors.New("boom")
			_, err = s.UpdateIntent(ctx, in.ID, in.Version, "agent", func(_ *store.Tx, in *models.Intent) (store.Change, error) {
				in.State["n"] = float64(1)
				in.Title = "rolled back"
				return store.Change{}, boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			if got, _ := s.GetIntent(ctx, in.ID); got.Title != "cached" || got.Version != 1 || got.State["n"] != float64(0) {
				t.Fatalf("after a failed write: %+v", got)
			}
			// A write inside a transaction is seen by the rest of it, and by everyone after it.
			err = s.Write(ctx, func(w *store.Writer) error {
				child, err := w.CreateIntent(models.Intent{Title: "child", ParentID: &in.ID}, "agent", nil)
				if err != nil {
					return err
				}
				got, err := w.Intent(child.ID)
				if err != nil || got.Title != "child" || *got.ParentID != in.ID {
					t.Errorf("own write in the transaction: %+v %v", got, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			kids, err := s.ListChildren(ctx, in.ID)
			if err != nil || len(kids) != 1 {
				t.Fatalf("children: %v %v", kids, err)
			}
			if got, err := s.GetIntent(ctx, kids[0].ID); err != nil || got.Title != "child" {
				t.Fatalf("child: %+v %v", got, err)
			}
			if _, err := s.GetIntent(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("missing: %v", err)
			}
			if ok, err := s.IntentExists(ctx, "missing"); ok || err != nil {
				t.Fatalf("missing exists: %v %v", ok, err)
			}
		})
	}
}

// Readers racing writers never see a version go backwards, and see the last write once the
// writers are done (run with -race).
func TestIntentReadsRacingWritesAreMonotonic(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ids := make([]string, 4)
			for i := range ids {
				in, err := s.CreateIntent(ctx, models.Intent{Title: "raced", State: models.Object{"n": float64(0)}}, "agent", nil)
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = in.ID
			}
			const writes = 50
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for v := int64(1); v <= writes; v++ {
						if _, err := s.UpdateIntent(ctx, id, v, "agent", func(_ *store.Tx, in *models.Intent) (store.Change, error) {
							in.State["n"] = float64(v)
							return store.Change{EventType: "state_patched"}, nil
						}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			done := make(chan struct{})
			var readers sync.WaitGroup
			for range 3 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					last := map[string]int64{}
					for {
						select {
						case <-done:
							return
						default:
						}
						for _, id := range ids {
							in, err := s.GetIntent(ctx, id)
							if err != nil {
								t.Error(err)
								return
							}
							if in.Version < last[id] || in.State["n"] != float64(in.Version-1) {
								t.Errorf("read version %d (n=%v) after %d", in.Version, in.State["n"], last[id])
								return
							}
							last[id] = in.Version
						}
					}
				}()
			}
			wg.Wait()
			close(done)
			readers.Wait()
			for _, id := range ids {
				if in, err := s.GetIntent(ctx, id); err != nil || in.Version != writes+1 {
					t.Fatalf("final: %+v %v", in, err)
				}
			}
		})
	}
}

// Writers that read an intent, then write it expecting the version they read, lose no update:
// each transaction reads what the one before it committed (run with -race).
func TestReadCheckWritesLoseNoUpdate(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			in, err := s.CreateIntent(ctx, models.Intent{Title: "counter", State: models.Object{"n": float64(0)}}, "agent", nil)
			if err != nil {
				t.Fatal(err)
			}
			const workers, each = 8, 25
			var wg sync.WaitGroup
			for range workers {
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
			got, err := s.GetIntent(ctx, in.ID)
			if err != nil || got.State["n"] != float64(workers*each) || got.Version != 1+workers*each {
				t.Fatalf("n = %v, version %d (%v); want %d and %d", got.State["n"], got.Version, err, workers*each, 1+workers*each)
			}
		})
	}
}
