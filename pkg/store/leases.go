package store

import (
	"context"
	"database/sql"
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

const leaseColumns = `id, intent_id, agent_id, scope, acquired_at, expires_at, released_at`

func scanLease(r scanner, now time.Time) (models.Lease, error) {
	var (
		l                 models.Lease
		acquired, expires int64
		released          sql.NullInt64
	)
	if err := r.Scan(&l.ID, &l.IntentID, &l.AgentID, &l.Scope, &acquired, &expires, &released); err != nil {
		return l, err
	}
	l.AcquiredAt = timestamp.New(fromMicros(acquired))
	l.ExpiresAt = timestamp.New(fromMicros(expires))
	switch {
	case released.Valid:
		l.ReleasedAt = timestamp.New(fromMicros(released.Int64))
		l.Status = models.LeaseStatusReleased
	case expires <= micros(now):
		l.Status = models.LeaseStatusExpired
	default:
		l.Status = models.LeaseStatusActive
	}
	return l, nil
}

// AcquireLease gives agent an exclusive lease on scope of an intent for d. While another active
// lease holds the scope it returns a LeaseConflictError; an expired lease does not block.
func (s *Store) AcquireLease(ctx context.Context, intentID, scope, agent string, d time.Duration) (models.Lease, error) {
	var out models.Lease
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.intentRow(intentID); err != nil {
			return err
		}
		now := s.Now()
		existing, err := one(ctx, tx, func(r scanner) (models.Lease, error) { return scanLease(r, now) },
			`SELECT `+leaseColumns+` FROM leases WHERE intent_id = ? AND scope = ? AND released_at IS NULL AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`, intentID, scope, micros(now))
		if err == nil {
			return &LeaseConflictError{Existing: existing}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		out = models.Lease{ID: newID(), IntentID: intentID, AgentID: agent, Scope: scope, Status: models.LeaseStatusActive,
			AcquiredAt: timestamp.New(now), ExpiresAt: timestamp.New(now.Add(d))}
		if _, err := tx.ExecContext(ctx, `INSERT INTO leases (`+leaseColumns+`) VALUES (?,?,?,?,?,?,NULL)`,
			out.ID, intentID, agent, scope, micros(now), micros(out.ExpiresAt.Time)); err != nil {
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
	l, err := one(ctx, tx, func(r scanner) (models.Lease, error) { return scanLease(r, now) },
		`SELECT `+leaseColumns+` FROM leases WHERE id = ? AND intent_id = ?`, leaseID, intentID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && l.AgentID != agent) {
		return l, errLeaseNotOwned
	}
	return l, err
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
		if _, err := tx.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE id = ?`, micros(l.ExpiresAt.Time), l.ID); err != nil {
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
		if _, err := tx.ExecContext(ctx, `UPDATE leases SET released_at = ? WHERE id = ?`, micros(now), l.ID); err != nil {
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
	return collect(ctx, s.read, func(r scanner) (models.Lease, error) { return scanLease(r, now) },
		`SELECT `+leaseColumns+` FROM leases WHERE intent_id = ? ORDER BY acquired_at, rowid`, intentID)
}
