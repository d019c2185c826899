package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Speculative write transactions on PostgreSQL (issue #17: round trips). A transaction appending
// to the log numbers its events after the log's last sequence number, which it reads once it
// holds the write lock: a round trip before its writes can go, and another with its COMMIT.
// Within one process write transactions already run one at a time (Store.writeMu), so the store
// knows the last sequence number it committed or read: a hint, never an answer, as another
// replica may have written since. A speculative transaction sends, right after the write lock, a
// guard that fails the transaction unless the log's last sequence number is the hint, and numbers
// its events after the hint without waiting: a transaction that needs no other answer (creating
// an intent) goes whole with its COMMIT, in one round trip. When the guard fails the transaction
// wrote nothing; the store forgets the hint and runs it again the normal way. Only transactions
// whose function may run twice speculate (inTxRerunnable).
//
// A failed speculation costs two round trips more than the normal way (the rollback, then the
// normal way's two): a store speculates only while its hint has been right often enough
// (pgStore.misses), which every write transaction tells: a speculative one by its guard, a normal
// one by the last sequence number it reads.

// pgMissWeight is the weight of one transaction in pgStore.misses, an exponentially weighted
// average; pgMaxMisses is the average beyond which the store does not speculate (a failure costs
// 4 round trips, a success 1, the normal way 2: speculating pays below a third).
const (
	pgMissWeight = 1.0 / 8
	pgMaxMisses  = 0.25
)

// pgGuardMarker names the guard's failure in its message.
const pgGuardMarker = "openintent: stale sequence hint"

// pgGuardSQL fails (a cast error carrying pgGuardMarker, as a pipelined statement cannot raise
// an error of its own) unless the log's last sequence number is $1. A statement of its own after
// the write lock's, so that it sees every commit made before the lock was granted.
const pgGuardSQL = `SELECT CASE WHEN coalesce(max(seq), 0) = $1::bigint THEN 0
	ELSE ('` + pgGuardMarker + ` (last ' || coalesce(max(seq), 0) || ')')::integer END FROM events`

// errStaleHint reports a speculative transaction whose guard failed: it wrote nothing.
var errStaleHint = errors.New("store: the sequence hint of a speculative transaction is stale")

// isGuardFailure reports whether err is the guard's failure.
func isGuardFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, pgGuardMarker)
}

// holdGuard holds back the guard of a speculative transaction against hint and marks the
// transaction as started with hint as the log's last sequence number. p's hint is forgotten when
// the guard fails.
func (t *pgTx) holdGuard(p *pgStore, hint int64) {
	t.held = append(t.held, heldStmt{sql: pgGuardSQL, args: []any{hint}, scan: func(r pgx.Row) error {
		var zero int
		err := r.Scan(&zero)
		if isGuardFailure(err) {
			t.stale = true
			p.hintKnown = false // guarded by writeMu, as the transaction is
			p.staleGuards.Add(1)
			p.observe(true)
			return errStaleHint
		}
		if err == nil {
			p.observe(false)
		}
		return err
	}})
	t.started, t.lastSeq, t.speculative = true, hint, true
}

// speculates reports whether the next transaction that may speculate does (writeMu is held).
func (p *pgStore) speculates() bool { return p.hintKnown && p.misses < pgMaxMisses }

// observe takes in whether the hint was wrong for a transaction (writeMu is held).
func (p *pgStore) observe(miss bool) {
	p.misses *= 1 - pgMissWeight
	if miss {
		p.misses += pgMissWeight
	}
}

// noteSeq remembers seq as the log's last sequence number, as a hint for the next speculative
// transaction (writeMu is held).
func (p *pgStore) noteSeq(seq int64) {
	p.hint, p.hintKnown = seq, true
}

// noteEnd takes in what a transaction ending tells of the log's last sequence number: after a
// commit, the last it wrote (or the last it found); after a rollback, the last it found (nothing
// when its guard failed or it learned nothing).
func (t *wtx) noteEnd(committed bool) {
	x, p := t.pg, t.s.pg
	if !x.started || x.stale {
		return
	}
	if !x.speculative && p.hintKnown {
		p.observe(x.lastSeq != p.hint) // would the hint have been right?
	}
	if committed && t.tips.seq > 0 {
		p.noteSeq(t.tips.seq)
		return
	}
	p.noteSeq(x.lastSeq)
}
