package openintent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// DefaultLeaseDuration is the lease duration used when a method is given 0 (the Python SDK's 300 s).
const DefaultLeaseDuration = 300 * time.Second

// leaseSeconds converts a duration to whole seconds for the wire, rounding up.
func leaseSeconds(method string, d time.Duration) (int64, error) {
	if d == 0 {
		d = DefaultLeaseDuration
	}
	if d < 0 {
		return 0, invalidArg(method, "duration", "duration must be positive, got %v", d)
	}
	return int64((d + time.Second - 1) / time.Second), nil
}

// AcquireLease takes an exclusive lease on scope of the intent for duration (0 means 5 minutes;
// rounded up to whole seconds), held by the client's agent (the Python SDK's acquire_lease). If another
// lease holds the scope it fails with *LeaseConflictError.
func (c *Client) AcquireLease(ctx context.Context, intentID, scope string, duration time.Duration, opts ...Option) (*Lease, error) {
	if err := requireID("AcquireLease", "intentID", intentID); err != nil {
		return nil, err
	}
	if scope == "" {
		return nil, invalidArg("AcquireLease", "scope", "scope is empty")
	}
	secs, err := leaseSeconds("AcquireLease", duration)
	if err != nil {
		return nil, err
	}
	var out leaseWire
	if err := c.do(ctx, request{build: op2(client.NewAcquireIntentLeaseRequest, intentID,
		models.LeaseCreate{Scope: scope, DurationSeconds: secs}), out: &out}, opts); err != nil {
		return nil, err
	}
	l := Lease(out)
	return &l, nil
}

// RenewLease extends a lease held by the client's agent to duration from now (the Python SDK's
// renew_lease). A released, expired or foreign lease fails with *NotFoundError or
// *ConflictError.
func (c *Client) RenewLease(ctx context.Context, intentID, leaseID string, duration time.Duration, opts ...Option) (*Lease, error) {
	if err := requireID("RenewLease", "intentID", intentID); err != nil {
		return nil, err
	}
	if err := requireID("RenewLease", "leaseID", leaseID); err != nil {
		return nil, err
	}
	secs, err := leaseSeconds("RenewLease", duration)
	if err != nil {
		return nil, err
	}
	var out leaseWire
	if err := c.do(ctx, request{build: op3(client.NewRenewIntentLeaseRequest, intentID, leaseID,
		models.LeaseRenew{DurationSeconds: secs}), out: &out}, opts); err != nil {
		return nil, err
	}
	l := Lease(out)
	return &l, nil
}

// ReleaseLease releases a lease held by the client's agent (the Python SDK's release_lease).
func (c *Client) ReleaseLease(ctx context.Context, intentID, leaseID string, opts ...Option) error {
	if err := requireID("ReleaseLease", "intentID", intentID); err != nil {
		return err
	}
	if err := requireID("ReleaseLease", "leaseID", leaseID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op2(client.NewReleaseIntentLeaseRequest, intentID, leaseID)}, opts)
}

// GetLeases lists the intent's leases, each with its status (the Python SDK's get_leases).
func (c *Client) GetLeases(ctx context.Context, intentID string, opts ...Option) ([]Lease, error) {
	if err := requireID("GetLeases", "intentID", intentID); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{build: op1(client.NewListIntentLeasesRequest, intentID), out: &raw}, opts); err != nil {
		return nil, err
	}
	return decodeLeases(raw)
}

// WithLease runs fn while holding a lease on scope of the intent (the Python SDK's lease context
// manager). It acquires the lease (failing with *LeaseConflictError when the scope is held),
// renews it in the background every duration/3, and always releases it when fn returns, fails
// or panics (the panic is re-raised after the release). If the lease cannot be renewed (it was
// revoked, or the server stayed unreachable until shortly before expiry) fn's context is
// cancelled with a cause matching ErrLeaseLost, and WithLease returns an error matching it.
func (c *Client) WithLease(ctx context.Context, intentID, scope string, duration time.Duration, fn func(ctx context.Context, lease *Lease) error, opts ...Option) (err error) {
	if fn == nil {
		return invalidArg("WithLease", "fn", "fn is nil")
	}
	if duration == 0 {
		duration = DefaultLeaseDuration
	}
	lease, err := c.AcquireLease(ctx, intentID, scope, duration, opts...)
	if err != nil {
		return err
	}
	workCtx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.keepLease(workCtx, lease, duration, stop, cancel, opts)
	}()

	defer func() {
		close(stop)
		wg.Wait()
		lost := context.Cause(workCtx)
		cancel(nil)
		relCtx, relCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		relErr := c.ReleaseLease(relCtx, intentID, lease.ID, opts...)
		relCancel()
		if errors.Is(lost, ErrLeaseLost) {
			err = errors.Join(err, lost)
		} else if relErr != nil && !errors.Is(relErr, ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("openintent: WithLease: release: %w", relErr))
		}
		if p := recover(); p != nil {
			panic(p)
		}
	}()
	return fn(workCtx, lease)
}

// keepLease renews the lease every duration/3 until stop is closed. A renewal refused by the
// server, or transient failures lasting until 10% of the duration before expiry, cancel the
// work with ErrLeaseLost.
func (c *Client) keepLease(ctx context.Context, lease *Lease, duration time.Duration, stop <-chan struct{}, cancel context.CancelCauseFunc, opts []Option) {
	interval := duration / 3
	retryEvery := max(interval/4, 50*time.Millisecond)
	deadline := time.Now().Add(duration - duration/10)
	wait := interval
	for {
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		rctx, rcancel := context.WithDeadline(ctx, deadline)
		sent := time.Now()
		_, err := c.RenewLease(rctx, lease.IntentID, lease.ID, duration, opts...)
		rcancel()
		switch {
		case err == nil:
			deadline = sent.Add(duration - duration/10)
			wait = interval
		case ctx.Err() != nil:
			return // the work ended; WithLease releases the lease
		case isPermanent(err):
			cancel(fmt.Errorf("%w: %s on %s: renewal refused: %w", ErrLeaseLost, lease.ID, lease.Scope, err))
			return
		case !time.Now().Before(deadline):
			cancel(fmt.Errorf("%w: %s on %s: could not renew before expiry: %w", ErrLeaseLost, lease.ID, lease.Scope, err))
			return
		default:
			wait = min(retryEvery, time.Until(deadline))
		}
	}
}

// isPermanent reports whether an error is the server's refusal (a 4xx other than 429).
func isPermanent(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && apiErr.StatusCode != http.StatusTooManyRequests
}
