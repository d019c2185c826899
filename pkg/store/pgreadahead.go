package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Read-ahead of one request on a PostgreSQL store (issue #17: round trips). The server reads the
// ACL record of an intent before it serves a request on it, and, for GET /api/v1/intents/{id},
// the intent itself right after. WithIntentReadAhead names that intent; the request's first
// record read then reads it in the same round trip, and the request's first read of that intent
// answers with it. It is the request's own read of the database, a moment earlier, taken once:
// nothing outlives the request, any later read goes to the database, and write transactions
// never answer from it.

type readAheadKey struct{}

// intentAhead is a request's read-ahead of one intent.
type intentAhead struct {
	mu    sync.Mutex
	id    string
	state int // aheadPending, aheadRead (row, err hold the answer), aheadSpent
	row   *intentRow
	err   error
}

const (
	aheadPending = iota
	aheadRead
	aheadSpent
)

// WithIntentReadAhead returns ctx asking a PostgreSQL store to read intent id along with the
// request's first record read (the access decision's), in one round trip, and to answer the
// request's first read of the intent with it. Other stores read nothing more: ctx is returned
// as it is.
func (s *Store) WithIntentReadAhead(ctx context.Context, id string) context.Context {
	if s.pg == nil || id == "" {
		return ctx
	}
	return context.WithValue(ctx, readAheadKey{}, &intentAhead{id: id})
}

// pendingAhead returns ctx's read-ahead when nothing was read for it yet, and marks it spent
// (the caller reads it, or nothing will).
func pendingAhead(ctx context.Context) *intentAhead {
	a, _ := ctx.Value(readAheadKey{}).(*intentAhead)
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != aheadPending {
		return nil
	}
	a.state = aheadSpent
	return a
}

// takeAhead returns intent id as ctx's read-ahead read it, once (ok false: read the database).
func takeAhead(ctx context.Context, id string) (row *intentRow, err error, ok bool) {
	a, _ := ctx.Value(readAheadKey{}).(*intentAhead)
	if a == nil {
		return nil, nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == aheadPending {
		a.state = aheadSpent // the intent was read first: the read-ahead has nothing to add
	}
	if a.state != aheadRead || a.id != id {
		return nil, nil, false
	}
	a.state = aheadSpent
	return a.row, a.err, true
}

// pgRecordReadingAhead is GetRecord on PostgreSQL reading a's intent in the same round trip.
func (s *Store) pgRecordReadingAhead(ctx context.Context, a *intentAhead, now time.Time, kind, id string) (Record, error) {
	q := &batchQuerier{b: &pgx.Batch{}}
	t := pgTables{q: q}
	// The first pass queues the statements the readers send; the second reads their answers.
	getRecord(ctx, t, now, kind, id)
	existingIntent(ctx, t, a.id)
	q.br = s.pg.pool.SendBatch(ctx, q.b)
	r, err := getRecord(ctx, t, now, kind, id)
	row, ierr := existingIntent(ctx, t, a.id)
	if cerr := q.br.Close(); cerr != nil {
		if err == nil {
			err = cerr
		}
		return r, err
	}
	var nf *NotFoundError
	if ierr == nil || errors.As(ierr, &nf) {
		a.mu.Lock()
		a.row, a.err, a.state = row, ierr, aheadRead
		a.mu.Unlock()
	}
	return r, err
}

// errQueued is the answer of a statement a batchQuerier queued.
var errQueued = errors.New("store: statement queued")

// batchQuerier queues the statements it is asked to run in b until br is set; then it answers
// each with br's next result (the statements must come in the same order).
type batchQuerier struct {
	b  *pgx.Batch
	br pgx.BatchResults
}

func (q *batchQuerier) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	if q.br == nil {
		q.b.Queue(sql, args...)
		return nil, errQueued
	}
	return q.br.Query()
}

func (q *batchQuerier) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	if q.br == nil {
		q.b.Queue(sql, args...)
		return errRow{errQueued}
	}
	return q.br.QueryRow()
}

func (q *batchQuerier) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if q.br == nil {
		q.b.Queue(sql, args...)
		return pgconn.CommandTag{}, errQueued
	}
	return q.br.Exec()
}
