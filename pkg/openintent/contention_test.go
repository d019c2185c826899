package openintent_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// storeEnvs runs fn against an in-process server on each store.
func storeEnvs(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, kind := range []string{"memory", "file"} {
		t.Run(kind, func(t *testing.T) {
			var opts []openintenttest.Option
			if kind == "file" {
				opts = append(opts, openintenttest.WithStoreFile(filepath.Join(t.TempDir(), "contention.db")))
			}
			srv := openintenttest.NewServer(t, opts...)
			fn(t, &env{url: srv.URL, apiKey: srv.APIKey, srv: srv})
		})
	}
}

// 64 goroutines each add 1 to one counter 50 times through ModifyState: not one increment is
// lost and the version advances once per increment.
func TestCounterUnderContention(t *testing.T) {
	if testing.Short() {
		t.Skip("long contention test")
	}
	storeEnvs(t, func(t *testing.T, e *env) {
		const workers, each = 64, 50
		setup := e.client(t, "setup")
		in := mustCreate(t, setup, openintent.IntentCreate{Title: "Counter", State: openintent.Object{"n": 0}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		backoff := openintent.ConflictBackoff{Steps: 10000, Initial: 20 * time.Millisecond, Max: 2 * time.Second}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			c := e.client(t, fmt.Sprintf("w%d", w))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					_, err := c.ModifyState(ctx, in.ID, backoff, func(cur *openintent.Intent) ([]openintent.StatePatch, error) {
						n, _ := cur.State["n"].(float64)
						return []openintent.StatePatch{{Op: openintent.PatchSet, Path: "/n", Value: n + 1}}, nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := setup.GetIntent(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State["n"] != float64(workers*each) || got.Version != in.Version+workers*each {
			t.Fatalf("n = %v, version %d; want %d and %d", got.State["n"], got.Version, workers*each, in.Version+workers*each)
		}
	})
}

// 32 agents contend for one scope with 3-second leases (renewed every second), some holding
// theirs across a renewal; the server's lease records form a timeline in which no two leases
// are ever active at once. The lease is long enough that a renewal delayed by a loaded machine
// (two cores, -race, every package at once) still lands before expiry.
func TestLeaseTimelineHasOneHolderAtATime(t *testing.T) {
	storeEnvs(t, func(t *testing.T, e *env) {
		setup := e.client(t, "setup")
		in := mustCreate(t, setup, openintent.IntentCreate{Title: "Timeline"})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		var mu sync.Mutex
		holds := 0
		for a := range 32 {
			c := e.client(t, fmt.Sprintf("agent-%02d", a))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					err := c.WithLease(ctx, in.ID, "exclusive", 3*time.Second, func(ctx context.Context, l *openintent.Lease) error {
						mu.Lock()
						holds++
						mu.Unlock()
						if a%8 == 0 {
							time.Sleep(1200 * time.Millisecond) // across the first renewal
						}
						return nil
					})
					if err == nil {
						return
					}
					if !errors.Is(err, openintent.ErrLeaseConflict) {
						t.Error(err)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Error("never got the lease")
			}()
		}
		wg.Wait()
		leases, err := setup.GetLeases(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) != 32 || holds != 32 {
			t.Fatalf("leases %d, holds %d, want 32", len(leases), holds)
		}
		// Each lease was active from acquired_at until released_at (or expires_at if earlier).
		type span struct{ from, to time.Time }
		spans := make([]span, len(leases))
		for i, l := range leases {
			end := l.ExpiresAt.Time
			if !l.ReleasedAt.IsZero() && l.ReleasedAt.Before(end) {
				end = l.ReleasedAt.Time
			}
			spans[i] = span{l.AcquiredAt.Time, end}
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
		for i := 1; i < len(spans); i++ {
			if spans[i].from.Before(spans[i-1].to) {
				t.Fatalf("two active holders: lease from %v to %v overlaps the next from %v", spans[i-1].from, spans[i-1].to, spans[i].from)
			}
		}
	})
}

// Concurrent writers append to one intent's log: the log is gapless and in order.
func TestEventLogIsGaplessUnderConcurrentWriters(t *testing.T) {
	storeEnvs(t, func(t *testing.T, e *env) {
		setup := e.client(t, "setup")
		in := mustCreate(t, setup, openintent.IntentCreate{Title: "Busy log"})
		const writers, each = 16, 20
		var wg sync.WaitGroup
		for w := range writers {
			c := e.client(t, fmt.Sprintf("w%d", w))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if _, err := c.LogEvent(ctxT(t), in.ID, "tick", openintent.Object{"w": w, "i": i}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		var seqs []int64
		perWriter := map[float64]float64{}
		for ev, err := range setup.Events(ctxT(t), in.ID, openintent.GetEventsParams{Limit: 1000}) {
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ev.Sequence)
			if ev.EventType == "tick" {
				w, i := ev.Payload["w"].(float64), ev.Payload["i"].(float64)
				// Newest first: each writer's own events appear in descending order.
				if last, ok := perWriter[w]; ok && i >= last {
					t.Fatalf("writer %v: event %v listed after %v", w, i, last)
				}
				perWriter[w] = i
			}
		}
		if len(seqs) != writers*each+1 {
			t.Fatalf("%d events, want %d", len(seqs), writers*each+1)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]-1 {
				t.Fatalf("sequence gap or disorder: %d then %d", seqs[i-1], seqs[i])
			}
		}
	})
}
