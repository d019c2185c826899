package openintent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestLeaseAcquireConflictRenewRelease(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client(t, "alice"), e.client(t, "bob")
	ctx := ctxT(t)
	in := mustCreate(t, alice, openintent.IntentCreate{Title: "Leased"})

	l, err := alice.AcquireLease(ctx, in.ID, "analysis", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.AgentID != "alice" || l.Scope != "analysis" || l.Status != openintent.LeaseActive {
		t.Fatalf("lease = %+v", l)
	}
	if got := l.ExpiresAt.Sub(l.AcquiredAt.Time); got != openintent.DefaultLeaseDuration {
		t.Fatalf("default duration = %v", got)
	}

	_, err = bob.AcquireLease(ctx, in.ID, "analysis", time.Minute)
	var lc *openintent.LeaseConflictError
	if !errors.As(err, &lc) || !errors.Is(err, openintent.ErrLeaseConflict) || errors.Is(err, openintent.ErrVersionConflict) {
		t.Fatalf("bob's acquire = %v, want LeaseConflictError", err)
	}
	if lc.ExistingLease == nil || lc.ExistingLease.ID != l.ID || lc.ExistingLease.AgentID != "alice" {
		t.Fatalf("existing lease = %+v", lc.ExistingLease)
	}
	if _, err := bob.AcquireLease(ctx, in.ID, "synthesis", time.Minute); err != nil {
		t.Fatalf("other scope: %v", err)
	}

	if _, err := bob.RenewLease(ctx, in.ID, l.ID, time.Minute); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("bob renews alice's lease: %v", err)
	}
	if err := bob.ReleaseLease(ctx, in.ID, l.ID); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("bob releases alice's lease: %v", err)
	}
	renewed, err := alice.RenewLease(ctx, in.ID, l.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.ExpiresAt.After(l.ExpiresAt.Time) {
		t.Fatalf("renewal did not extend: %v -> %v", l.ExpiresAt, renewed.ExpiresAt)
	}
	if err := alice.ReleaseLease(ctx, in.ID, l.ID); err != nil {
		t.Fatal(err)
	}
	leases, err := alice.GetLeases(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]openintent.LeaseStatus{}
	for _, x := range leases {
		status[x.ID] = x.Status
	}
	if len(leases) != 2 || status[l.ID] != openintent.LeaseReleased {
		t.Fatalf("leases = %+v", leases)
	}
	if _, err := bob.AcquireLease(ctx, in.ID, "analysis", time.Minute); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if _, err := alice.AcquireLease(ctx, in.ID, "x", -time.Second); err == nil {
		t.Fatal("negative duration accepted")
	}
}

func TestLeaseExpiry(t *testing.T) {
	e := newClockEnv(t)
	alice, bob := e.client(t, "alice"), e.client(t, "bob")
	ctx := ctxT(t)
	in := mustCreate(t, alice, openintent.IntentCreate{Title: "Expiring"})
	l, err := alice.AcquireLease(ctx, in.ID, "s", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(31 * time.Second)
	leases, err := alice.GetLeases(ctx, in.ID)
	if err != nil || len(leases) != 1 || leases[0].Status != openintent.LeaseExpired {
		t.Fatalf("after expiry: %+v %v", leases, err)
	}
	if _, err := alice.RenewLease(ctx, in.ID, l.ID, time.Minute); err == nil {
		t.Fatal("renewed an expired lease")
	}
	if _, err := bob.AcquireLease(ctx, in.ID, "s", time.Minute); err != nil {
		t.Fatalf("acquire after expiry: %v", err)
	}
}

func TestWithLeaseReleasesOnReturnErrorAndPanic(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "worker")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Guarded"})
	active := func() int {
		leases, err := c.GetLeases(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range leases {
			if l.Status == openintent.LeaseActive {
				n++
			}
		}
		return n
	}

	var held *openintent.Lease
	err := c.WithLease(ctx, in.ID, "work", time.Minute, func(ctx context.Context, l *openintent.Lease) error {
		held = l
		if n := active(); n != 1 {
			t.Errorf("inside: %d active leases", n)
		}
		_, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"note": "working"})
		return err
	})
	if err != nil || held == nil || active() != 0 {
		t.Fatalf("WithLease = %v, held %v, active after %d", err, held, active())
	}

	boom := errors.New("boom")
	if err := c.WithLease(ctx, in.ID, "work", time.Minute, func(context.Context, *openintent.Lease) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error not returned: %v", err)
	}
	if n := active(); n != 0 {
		t.Fatalf("lease kept after error: %d", n)
	}

	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		_ = c.WithLease(ctx, in.ID, "work", time.Minute, func(context.Context, *openintent.Lease) error { panic("kaboom") })
	}()
	if n := active(); n != 0 {
		t.Fatalf("lease kept after panic: %d", n)
	}

	// A held scope fails fast with a lease conflict, without running fn.
	other := e.client(t, "other")
	l, err := other.AcquireLease(ctx, in.ID, "work", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	err = c.WithLease(ctx, in.ID, "work", time.Minute, func(context.Context, *openintent.Lease) error { ran = true; return nil })
	if !errors.Is(err, openintent.ErrLeaseConflict) || ran {
		t.Fatalf("held scope: err %v ran %v", err, ran)
	}
	if err := other.ReleaseLease(ctx, in.ID, l.ID); err != nil {
		t.Fatal(err)
	}
}

func TestWithLeaseRenewsInBackground(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "worker")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Long work"})
	err := c.WithLease(ctx, in.ID, "long", time.Second, func(ctx context.Context, l *openintent.Lease) error {
		time.Sleep(2500 * time.Millisecond) // outlives the 1s lease unless renewed
		leases, err := c.GetLeases(ctx, in.ID)
		if err != nil {
			return err
		}
		if len(leases) != 1 || leases[0].Status != openintent.LeaseActive || !leases[0].ExpiresAt.After(l.ExpiresAt.Time) {
			return fmt.Errorf("lease not renewed: %+v (acquired %+v)", leases, l)
		}
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	events, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventLeaseRenewed})
	if err != nil || len(events) < 2 {
		t.Fatalf("lease_renewed events = %d, %v", len(events), err)
	}
}

func TestWithLeaseCancelsWorkWhenLeaseIsLost(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "worker")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Lost"})
	err := c.WithLease(ctx, in.ID, "fragile", time.Second, func(ctx context.Context, l *openintent.Lease) error {
		// Someone with the holder's identity releases the lease under the work.
		if err := c.ReleaseLease(ctx, in.ID, l.ID); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			if !errors.Is(context.Cause(ctx), openintent.ErrLeaseLost) {
				return fmt.Errorf("cause = %v", context.Cause(ctx))
			}
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return errors.New("work was not cancelled")
		}
	})
	if !errors.Is(err, openintent.ErrLeaseLost) || !errors.Is(err, context.Canceled) {
		t.Fatalf("WithLease = %v, want ErrLeaseLost", err)
	}
}

func TestWithLeaseHonoursCancellation(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "worker")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Cancelled"})
	ctx, cancel := context.WithCancel(ctxT(t))
	err := c.WithLease(ctx, in.ID, "s", time.Minute, func(ctx context.Context, _ *openintent.Lease) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, openintent.ErrLeaseLost) {
		t.Fatalf("WithLease = %v", err)
	}
	leases, err := c.GetLeases(ctxT(t), in.ID)
	if err != nil || len(leases) != 1 || leases[0].Status != openintent.LeaseReleased {
		t.Fatalf("lease after cancellation: %+v %v", leases, err)
	}
	if _, err := c.GetIntent(ctx, in.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("call on cancelled ctx = %v", err)
	}
}

func TestAgentsContendForOneScope(t *testing.T) {
	e := newEnv(t)
	setup := e.client(t, "setup")
	in := mustCreate(t, setup, openintent.IntentCreate{Title: "Contended"})
	const agents = 8
	var inside, maxInside, done atomic.Int32
	var wg sync.WaitGroup
	for a := range agents {
		c := e.client(t, fmt.Sprintf("agent-%d", a))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxT(t)
			for {
				err := c.WithLease(ctx, in.ID, "exclusive", 5*time.Second, func(context.Context, *openintent.Lease) error {
					n := inside.Add(1)
					for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
					}
					time.Sleep(5 * time.Millisecond)
					inside.Add(-1)
					return nil
				})
				switch {
				case err == nil:
					done.Add(1)
					return
				case errors.Is(err, openintent.ErrLeaseConflict):
					time.Sleep(2 * time.Millisecond)
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || done.Load() != agents {
		t.Fatalf("max holders at once = %d, completed = %d", maxInside.Load(), done.Load())
	}
}
