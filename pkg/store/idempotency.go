package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// IdempotencyTTL is how long a stored response is replayed.
const IdempotencyTTL = 24 * time.Hour

// IdempotentResponse is the first response to a request sent with an Idempotency-Key.
type IdempotentResponse struct {
	// Principal identifies who sent the key (keys are scoped per principal).
	Principal string
	// Key is the Idempotency-Key.
	Key string
	// Method, Path and BodyHash identify the request the key was first used with.
	Method, Path, BodyHash string
	// Status, ContentType and Body are the response.
	Status      int
	ContentType string
	Body        []byte
}

// GetIdempotentResponse returns the stored response for (principal, key), if any younger than
// IdempotencyTTL.
func (s *Store) GetIdempotentResponse(ctx context.Context, principal, key string) (IdempotentResponse, bool, error) {
	r := IdempotentResponse{Principal: principal, Key: key}
	err := s.read.QueryRowContext(ctx, `SELECT method, path, body_hash, status, content_type, body FROM idempotency_keys
		WHERE principal = ? AND key = ? AND created_at > ?`, principal, key, micros(s.Now().Add(-IdempotencyTTL))).
		Scan(&r.Method, &r.Path, &r.BodyHash, &r.Status, &r.ContentType, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// PutIdempotentResponse stores a response (replacing an expired one) and drops expired entries.
func (s *Store) PutIdempotentResponse(ctx context.Context, r IdempotentResponse) error {
	now := s.Now()
	return s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at <= ?`, micros(now.Add(-IdempotencyTTL))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO idempotency_keys
			(principal, key, method, path, body_hash, status, content_type, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Principal, r.Key, r.Method, r.Path, r.BodyHash, r.Status, r.ContentType, r.Body, micros(now))
		return err
	})
}
