package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// IdempotencyTTL is how long a stored response is replayed.
const IdempotencyTTL = 24 * time.Hour

// ResponseFlushDelay is the longest a recorded response waits in memory for a write transaction
// to carry it to the database before one is run for it alone.
const ResponseFlushDelay = 10 * time.Millisecond

// IdempotentResponse is the first response to a request sent with an Idempotency-Key.
type IdempotentResponse struct {
	// Principal identifies who sent the key (keys are scoped per principal).
	Principal string
	// Key is the Idempotency-Key.
	Key string
	// Method, Path and BodyHash identify the request the key was first used with.
	Method, Path, BodyHash string
	// Status, ContentType and Body are the response. Status is 0 for a claim whose operation
	// committed but whose response was never recorded (the server stopped in between).
	Status      int
	ContentType string
	Body        []byte

	// abandoned marks a claim (Status 0) on a store shared by replicas whose server is gone
	// (pgIdempotentResponse): no response will come.
	abandoned bool
}

// IdempotencyClaim is an Idempotency-Key taken by a request whose operation is running. Passed
// down with WithIdempotencyClaim, it is written by the request's first write transaction, in
// that transaction: an operation that committed can never run again for a retry of the same
// request, even if the server stops before the response is recorded.
type IdempotencyClaim struct {
	// Principal, Key, Method, Path and BodyHash are as in IdempotentResponse.
	Principal, Key, Method, Path, BodyHash string

	written atomic.Bool
}

// Written reports whether a committed transaction wrote the claim.
func (c *IdempotencyClaim) Written() bool { return c.written.Load() }

type claimKey struct{}

// WithIdempotencyClaim returns ctx carrying c for the store's write transactions.
func WithIdempotencyClaim(ctx context.Context, c *IdempotencyClaim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// responses holds recorded responses (and forgotten keys) until a write transaction carries
// them to the database, so that recording a response costs no commit of its own. An in-memory
// store keeps its keys here only (until they expire): it has no crash to survive.
type responses struct {
	mu        sync.Mutex
	pending   map[[2]string]queued
	timer     *time.Timer
	closed    bool
	lastSweep time.Time

	// written holds the keys this store wrote to its file, with their ages, and unknownUntil the
	// newest age of keys the file may hold that written lacks (those there when it was opened, or
	// dropped when written was full): a key in neither needs no query to be known absent. (One
	// process writes a store file at a time.)
	written      map[[2]string]time.Time
	unknownUntil time.Time
}

// idempotencyKeysRemembered bounds responses.written (about 10 MB).
const idempotencyKeysRemembered = 1 << 16

// remember notes that key was written at; rs.mu is held.
func (rs *responses) remember(k [2]string, at time.Time) {
	if rs.written == nil {
		rs.written = map[[2]string]time.Time{}
	}
	if _, ok := rs.written[k]; ok {
		return
	}
	if len(rs.written) >= idempotencyKeysRemembered {
		clear(rs.written)
		rs.unknownUntil = at
	}
	rs.written[k] = at
}

// mayBeInFile reports whether the file may hold key k younger than since.
func (rs *responses) mayBeInFile(k [2]string, since time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	_, ok := rs.written[k]
	return ok || rs.unknownUntil.After(since)
}

// startWritten sets unknownUntil to now when the file holds keys: any of them may be young.
// (The newest key's age would need a scan of the whole table: created_at has no index.)
func (s *Store) startWritten(ctx context.Context) error {
	var holds bool
	if err := s.held.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM idempotency_keys)`).Scan(&holds); err != nil {
		return err
	}
	if holds {
		s.responses.unknownUntil = s.Now()
	}
	return nil
}

// GetIdempotentResponse returns the response recorded for (principal, key), if any younger than
// IdempotencyTTL.
func (s *Store) GetIdempotentResponse(ctx context.Context, principal, key string) (IdempotentResponse, bool, error) {
	if r, found, known := s.ownIdempotentResponse(principal, key); known || s.mem != nil {
		return r, found, nil
	}
	since := s.Now().Add(-IdempotencyTTL)
	if s.pg != nil { // another replica may have written it
		return s.pgIdempotentResponse(ctx, principal, key, since)
	}
	if !s.responses.mayBeInFile([2]string{principal, key}, since) {
		return IdempotentResponse{}, false, nil
	}
	r := IdempotentResponse{Principal: principal, Key: key}
	err := s.read.withRow(ctx, func(row *sql.Row) error {
		return row.Scan(&r.Method, &r.Path, &r.BodyHash, &r.Status, &r.ContentType, &r.Body)
	}, `SELECT method, path, body_hash, status, content_type, body FROM idempotency_keys
		WHERE principal = ? AND key = ? AND created_at > ?`, principal, key, micros(since))
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// OwnIdempotentResponse is GetIdempotentResponse without reading the database: it answers
// (known true) only when this store itself holds what to answer, a response (or a forgotten key)
// it recorded and has not yet written to the database. On a store shared by replicas, an
// operation whose every write transaction carries its IdempotencyClaim (as all do) and whose
// handler has no effect outside the store may skip the database lookup before it runs: a key
// already claimed makes the claim's insert fail (ErrIdempotencyKeyTaken) and the operation write
// nothing, and a request that wrote nothing looks the key up afterwards.
func (s *Store) OwnIdempotentResponse(principal, key string) (r IdempotentResponse, found, known bool) {
	return s.ownIdempotentResponse(principal, key)
}

func (s *Store) ownIdempotentResponse(principal, key string) (IdempotentResponse, bool, bool) {
	s.responses.mu.Lock()
	q, ok := s.responses.pending[[2]string{principal, key}]
	s.responses.mu.Unlock()
	if !ok {
		return IdempotentResponse{}, false, false
	}
	if !q.forget && q.at.After(s.Now().Add(-IdempotencyTTL)) {
		return *q.IdempotentResponse, true, true
	}
	return IdempotentResponse{}, false, true
}

// AwaitIdempotentResponse waits for the response to (principal, key) to be recorded: it returns
// as soon as GetIdempotentResponse finds it with a status, or, when ctx ends or wait has passed,
// what it found last (found false: no claim; Status 0: claimed, no response yet). It returns at
// once a claim whose server stopped before writing the response (it will never come). A server whose
// operation failed with ErrIdempotencyKeyTaken (another replica ran the same request) replays
// the other's response once it is there.
func (s *Store) AwaitIdempotentResponse(ctx context.Context, principal, key string, wait time.Duration) (IdempotentResponse, bool, error) {
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		r, found, err := s.GetIdempotentResponse(ctx, principal, key)
		if err != nil || (found && (r.Status != 0 || r.abandoned)) || !time.Now().Before(deadline) {
			return r, found, err
		}
		t := time.NewTimer(min(pause, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return r, found, nil
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// RecordIdempotentResponse records the response to the request that took claim. It is visible to
// GetIdempotentResponse at once and reaches the database with the next write transaction, or
// within ResponseFlushDelay.
func (s *Store) RecordIdempotentResponse(claim *IdempotencyClaim, status int, contentType string, body []byte) {
	if s.mem != nil {
		body = bytes.Clone(body) // kept for a day: without the spare capacity of the buffer it came in
	}
	s.queueResponse(queued{IdempotentResponse: claim.response(status, contentType, body), update: claim.Written(), at: s.Now()})
}

// response is the claim's request with a response (status 0: none yet).
func (c *IdempotencyClaim) response(status int, contentType string, body []byte) *IdempotentResponse {
	return &IdempotentResponse{Principal: c.Principal, Key: c.Key, Method: c.Method, Path: c.Path, BodyHash: c.BodyHash,
		Status: status, ContentType: contentType, Body: body}
}

// ForgetIdempotencyKey drops the claim, so that a retry runs the request again (used when the
// first attempt failed with a server error).
func (s *Store) ForgetIdempotencyKey(claim *IdempotencyClaim) {
	s.queueResponse(queued{IdempotentResponse: &IdempotentResponse{Principal: claim.Principal, Key: claim.Key}, forget: true})
}

// queued is a response waiting for a write transaction.
type queued struct {
	*IdempotentResponse
	update bool // the claim's row exists: only the response columns change
	forget bool // delete the row
	at     time.Time
	queued time.Time // when it was queued (the local clock: the flush delay's)
}

func (s *Store) queueResponse(q queued) {
	rs := &s.responses
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.pending == nil {
		rs.pending = map[[2]string]queued{}
	}
	k := [2]string{q.Principal, q.Key}
	if s.mem != nil {
		if old, ok := rs.pending[k]; ok && !q.forget {
			q.at = old.at // a response keeps its claim's age
		}
		if q.forget {
			delete(rs.pending, k)
		} else {
			rs.pending[k] = q
		}
		return
	}
	q.queued = time.Now()
	rs.pending[k] = q
	if s.pg != nil {
		// PostgreSQL: every lookup reads the database; nothing to remember.
	} else if q.forget {
		delete(rs.written, k)
	} else {
		rs.remember(k, q.at)
	}
	if rs.timer == nil && !rs.closed {
		// One timer for the queue, armed while it holds anything: a write transaction taking the
		// queue leaves it running (setting a timer may wake the runtime's network poller: not
		// once per request).
		rs.timer = time.AfterFunc(ResponseFlushDelay, func() { s.responsesDue() })
	}
}

// responsesDue runs when the queue's timer fires: it writes the queued responses when the
// oldest has waited ResponseFlushDelay, else sets the timer for when it will have.
func (s *Store) responsesDue() {
	rs := &s.responses
	rs.mu.Lock()
	var oldest time.Time
	for _, q := range rs.pending {
		if oldest.IsZero() || q.queued.Before(oldest) {
			oldest = q.queued
		}
	}
	switch wait := ResponseFlushDelay - time.Since(oldest); {
	case rs.closed || len(rs.pending) == 0:
		rs.timer = nil
	case wait > 0:
		rs.timer.Reset(wait)
	default:
		rs.timer = nil
	}
	due := rs.timer == nil && len(rs.pending) > 0
	rs.mu.Unlock()
	if due {
		s.flushResponses() // a failed flush stays queued (and sets the timer again)
	}
}

// flushResponses writes the queued responses in a transaction of their own, unless the store
// closed (Close wrote them) or a write transaction took them first.
func (s *Store) flushResponses() error {
	s.responses.mu.Lock()
	closed, empty := s.responses.closed, len(s.responses.pending) == 0
	s.responses.mu.Unlock()
	if closed || empty {
		return nil
	}
	return s.inTx(context.Background(), func(*wtx) error { return nil }) // inTx writes them
}

// take empties the queue and returns what it held (its timer, when it fires, finds it empty).
func (q *responses) take() map[[2]string]queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pending
	q.pending = nil
	return p
}

// requeue puts back responses whose transaction failed, unless newer ones replaced them.
func (s *Store) requeue(p map[[2]string]queued) {
	for k, q := range p {
		s.responses.mu.Lock()
		_, newer := s.responses.pending[k]
		s.responses.mu.Unlock()
		if !newer {
			s.queueResponse(q)
		}
	}
}

// writeIdempotency runs inside every successful write transaction before it commits: it writes
// the claim carried by ctx (if not written yet) and the queued responses, and, at most once a
// minute, drops expired entries. It returns what to do after the commit.
func (s *Store) writeIdempotency(ctx context.Context, tx *wtx, now time.Time) (func(committed bool), error) {
	claim, _ := ctx.Value(claimKey{}).(*IdempotencyClaim)
	if claim != nil && claim.written.Load() {
		claim = nil
	}
	if s.mem != nil {
		return s.keepInMemory(claim, now), nil
	}
	if s.pg != nil {
		return s.pgWriteIdempotency(ctx, tx, claim, now)
	}
	if claim != nil {
		s.responses.mu.Lock()
		s.responses.remember([2]string{claim.Principal, claim.Key}, now) // before the row can be seen
		s.responses.mu.Unlock()
		if err := insertResponse(ctx, tx, claim.response(0, "", []byte{}), now); err != nil {
			return nil, err
		}
	}
	pending := s.responses.take()
	for _, q := range pending {
		var err error
		switch {
		case q.forget:
			_, err = tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE principal = ? AND key = ?`, q.Principal, q.Key)
		case q.update:
			_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? WHERE principal = ? AND key = ?`,
				q.Status, q.ContentType, q.Body, q.Principal, q.Key)
		default:
			err = insertResponse(ctx, tx, q.IdempotentResponse, now)
		}
		if err != nil {
			s.requeue(pending)
			return nil, err
		}
	}
	if len(pending) > 0 && now.Sub(s.responses.lastSweep) >= time.Minute {
		s.responses.lastSweep = now // guarded by the write transaction
		if err := sweepIdempotencyKeys(ctx, tx, now.Add(-IdempotencyTTL)); err != nil {
			s.requeue(pending)
			return nil, err
		}
		s.responses.mu.Lock()
		for k, at := range s.responses.written {
			if !at.After(now.Add(-IdempotencyTTL)) {
				delete(s.responses.written, k)
			}
		}
		s.responses.mu.Unlock()
	}
	return func(committed bool) {
		if !committed {
			s.requeue(pending)
		} else if claim != nil {
			claim.written.Store(true)
		}
	}, nil
}

// insertResponse writes r (replacing an expired key's row) as created at.
func insertResponse(ctx context.Context, tx *wtx, r *IdempotentResponse, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO idempotency_keys
		(principal, key, method, path, body_hash, status, content_type, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Principal, r.Key, r.Method, r.Path, r.BodyHash, r.Status, r.ContentType, r.Body, micros(at))
	return err
}

// closeResponses writes the queued responses and stops the queue's timer.
func (s *Store) closeResponses() error {
	err := s.flushResponses()
	s.responses.mu.Lock()
	s.responses.closed = true
	if s.responses.timer != nil {
		s.responses.timer.Stop()
		s.responses.timer = nil
	}
	s.responses.mu.Unlock()
	return err
}

// keepInMemory is writeIdempotency for an in-memory store: the claim is kept in the queue, which
// is never carried to the database, and expired keys are dropped at most once a minute.
func (s *Store) keepInMemory(claim *IdempotencyClaim, now time.Time) func(committed bool) {
	return func(committed bool) {
		if !committed {
			return
		}
		rs := &s.responses
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if claim != nil {
			if rs.pending == nil {
				rs.pending = map[[2]string]queued{}
			}
			rs.pending[[2]string{claim.Principal, claim.Key}] = queued{IdempotentResponse: claim.response(0, "", nil), at: now}
			claim.written.Store(true)
		}
		if now.Sub(rs.lastSweep) >= time.Minute {
			rs.lastSweep = now
			for k, q := range rs.pending {
				if !q.at.After(now.Add(-IdempotencyTTL)) {
					delete(rs.pending, k)
				}
			}
		}
	}
}

// sweepBatch is how many of the oldest keys a sweep examines at a time.
const sweepBatch = 1000

// sweepIdempotencyKeys deletes keys created at or before cutoff. Keys are inserted in time
// order, so rowids follow age: it deletes from the low end, a batch at a time, and stops at the
// first batch that is not wholly expired. (Should the clock step back, a few expired keys may
// outlive a sweep; lookups ignore them.)
func sweepIdempotencyKeys(ctx context.Context, tx *wtx, cutoff time.Time) error {
	for range 100 { // at most 100,000 keys per sweep; the next sweep goes on
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE rowid IN
			(SELECT rowid FROM idempotency_keys ORDER BY rowid LIMIT ?) AND created_at <= ?`, sweepBatch, micros(cutoff))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n < sweepBatch {
			return err
		}
	}
	return nil
}
