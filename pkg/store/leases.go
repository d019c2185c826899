package store

import (
	"context"
	"errors"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// LeaseConflictError reports that another active lease holds the scope.
type LeaseConflictError struct {
	// Existing is the active lease.
	Existing models.Lease
}

func (e *LeaseConflictError) Error() string { return "Lease already held for this scope" }

// ErrLeaseExpired reports an attempt to renew a lease that has expired.
var ErrLeaseExpired = errors.New("Lease has expired; acquire it again")

// AcquireLease gives agent an exclusive lease on scope of an intent for d. While another active
// lease holds the scope it returns a LeaseConflictError; an expired lease does not block.
func (s *Store) AcquireLease(ctx context.Context, intentID, scope, agent string, d time.Duration) (models.Lease, error) {
	var out models.Lease
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.intentRow(intentID); err != nil {
			return err
		}
		now := s.Now()
		existing, held, err := tx.t.activeLease(ctx, intentID, scope, now)
		if err != nil {
			return err
		}
		if held {
			return &LeaseConflictError{Existing: withStatus(existing, now)}
		}
		out = models.Lease{ID: newID(), IntentID: intentID, AgentID: agent, Scope: scope, Status: models.LeaseStatusActive,
			AcquiredAt: timestamp.New(now), ExpiresAt: timestamp.New(now.Add(d))}
		if err := tx.t.insertLease(ctx, out); err != nil {
			return err
		}
		_, err = s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "lease_acquired", Actor: agent,
			Payload: models.Object{"scope": scope, "lease_id": out.ID, "expires_at": out.ExpiresAt.String()}}, now)
		return err
	})
	return out, err
}

var errLeaseNotOwned = &NotFoundError{Detail: "Lease not found or not owned by you"}

// ownedLease loads a lease of intentID held by agent (NotFoundError otherwise).
func ownedLease(ctx context.Context, tx *wtx, intentID, leaseID, agent string, now time.Time) (models.Lease, error) {
	l, ok, err := tx.t.lease(ctx, intentID, leaseID)
	if err == nil && (!ok || l.AgentID != agent) {
		return l, errLeaseNotOwned
	}
	return withStatus(l, now), err
}

// RenewLease sets the expiry of agent's active lease to now + d. A released lease, or another
// agent's, is a NotFoundError; an expired one is ErrLeaseExpired.
func (s *Store) RenewLease(ctx context.Context, intentID, leaseID, agent string, d time.Duration) (models.Lease, error) {
	var out models.Lease
	err := s.inTx(ctx, func(tx *wtx) error {
		now := s.Now()
		l, err := ownedLease(ctx, tx, intentID, leaseID, agent, now)
		if err != nil {
			return err
		}
		switch l.Status {
		case models.LeaseStatusReleased:
			return errLeaseNotOwned
		case models.LeaseStatusExpired:
			return ErrLeaseExpired
		}
		l.ExpiresAt = timestamp.New(now.Add(d))
		if err := tx.t.updateLease(ctx, l); err != nil {
			return err
		}
		out = l
		_, err = s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "lease_renewed", Actor: agent,
			Payload: models.Object{"lease_id": l.ID, "duration_seconds": int64(d / time.Second), "expires_at": l.ExpiresAt.String()}}, now)
		return err
	})
	return out, err
}

// ReleaseLease releases agent's lease. Releasing it again changes nothing.
func (s *Store) ReleaseLease(ctx context.Context, intentID, leaseID, agent string) error {
	return s.inTx(ctx, func(tx *wtx) error {
		now := s.Now()
		l, err := ownedLease(ctx, tx, intentID, leaseID, agent, now)
		if err != nil || !l.ReleasedAt.IsZero() {
			return err
		}
		l.ReleasedAt = timestamp.New(now)
		if err := tx.t.updateLease(ctx, l); err != nil {
			return err
		}
		_, err = s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "lease_released", Actor: agent,
			Payload: models.Object{"lease_id": l.ID, "scope": l.Scope}}, now)
		return err
	})
}

// ListLeases returns every lease ever taken on an intent, oldest first, with derived status.
func (s *Store) ListLeases(ctx context.Context, intentID string) ([]models.Lease, error) {
	now := s.Now()
	ls, err := reading(s, func(t tables) ([]models.Lease, error) { return t.leases(ctx, intentID) })
	for i := range ls {
		ls[i] = withStatus(ls[i], now)
	}
	return ls, err
}
