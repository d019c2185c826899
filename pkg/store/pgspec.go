package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openintent-go/openintent/internal/eventlog"
)

// Speculative write transactions on PostgreSQL (issue #17: round trips). A transaction appending
// to the log numbers its events after the log's last sequence number, which it reads once it
// holds the write lock: a round trip before its writes can go, and another with its COMMIT.
// Within one process write transactions already run one at a time (Store.writeMu), so the store
// knows the last sequence number it committed or read: a hint, never an answer, as another
// replica may have written since. A speculative transaction sends, right after the write lock, a
// guard that fails the transaction unless the log's last sequence number is the hint (or, when
// the store knows the id of its last transaction, unless no transaction ended since that one,
// which also confirms what it knows of its own writes: pgknown.go), and numbers its events after
// the hint without waiting: a transaction that needs no other answer (creating an intent) goes
// whole, in one round trip. When the guard fails the transaction wrote nothing; the store forgets
// the hint and runs it again the normal way. Only transactions whose function may run twice
// speculate (inTxRerunnable), and the first of a request that speculated (Speculation), which
// then is served again.
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
const pgGuardMarker = "openintent: stale hint"

// pgGuardSQL fails (a cast error carrying pgGuardMarker, as a pipelined statement cannot raise
// an error of its own) unless the log's last sequence number is $1, and answers the snapshot's
// xmax (pgknown.go). A statement of its own after the write lock's, so that it sees every
// commit made before the lock was granted.
const pgGuardSQL = `SELECT CASE WHEN coalesce(max(seq), 0) = $1::bigint THEN ` + pgXmaxExpr + `
	ELSE ('` + pgGuardMarker + ` (last ' || coalesce(max(seq), 0) || ')')::bigint END FROM events`

// pgKnowingGuardSQL fails likewise unless the snapshot's xmax is $1: no transaction but the
// store's own has ended since its last one, so that the log's last sequence number is the one it
// knows too, and its knowledge is exact (pgknown.go). It answers $1. It replaces pgGuardSQL
// (held[guard]) in a transaction that reads from knowledge (know).
const pgKnowingGuardSQL = `SELECT CASE WHEN ` + pgXmaxExpr + ` = $1::bigint THEN $1::bigint
	ELSE ('` + pgGuardMarker + ` (xmax ' || ` + pgXmaxExpr + ` || ')')::bigint END`

// errStaleHint reports a speculative transaction whose guard failed: it wrote nothing.
var errStaleHint = errors.New("store: the hint of a speculative transaction is stale")

// isGuardFailure reports whether err is the guard's failure.
func isGuardFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, pgGuardMarker)
}

// holdGuard holds back the guard of a speculative transaction against hint and marks the
// transaction as started with hint as the log's last sequence number. p's hint and knowledge
// are forgotten when the guard fails.
func (t *pgTx) holdGuard(p *pgStore, hint int64) {
	t.guard = len(t.held)
	t.held = append(t.held, heldStmt{sql: pgGuardSQL, args: []any{hint}, scan: func(r pgx.Row) error {
		err := r.Scan(&t.xmax)
		if isGuardFailure(err) {
			t.stale = true
			p.hintKnown = false // guarded by writeMu, as the transaction is
			p.known.forget()
			p.staleGuards.Add(1)
			if !t.knowing {
				p.observe(true) // (a stale xmax says nothing of the sequence number)
			}
			if t.knownXid != 0 {
				p.known.observe(true) // the other writer made the knowledge stale as well
			}
			return errStaleHint
		}
		if err == nil {
			p.observe(false)
			if t.knowing {
				p.known.observe(false)
			}
		}
		return err
	}})
	t.started, t.lastSeq, t.speculative = true, hint, true
}

// know reports whether the transaction may read from its store's knowledge (pgknown.go): a
// speculative one whose guard was not sent yet, while knowledge has recently been confirmed
// often enough; its guard then checks the snapshot's xmax instead of the log's last sequence
// number (which that implies). The sequence number alone concerns the store's own database,
// xmax every transaction of the cluster: a transaction reads from knowledge only when it must.
func (t *pgTx) know() bool {
	if t.knowing {
		return true
	}
	if !t.speculative || t.sent || t.knownXid == 0 || !t.p.known.pays() {
		return false
	}
	g := &t.held[t.guard]
	g.sql, g.args = pgKnowingGuardSQL, []any{t.knownXid + 1}
	t.knowing = true
	return true
}

// knownRow returns intent id's row as the store knows it, or nil; its chain head is then known
// to the transaction as well.
func (t *pgTx) knownRow(id string) *intentRow {
	e, xid := t.p.known.lookup(id)
	if e == nil || xid != t.knownXid || !t.know() {
		return nil
	}
	if t.heads == nil {
		t.heads = map[string]eventlog.Hash{}
	}
	t.heads[id] = e.head
	return e.row
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

// noteEnd takes in what a transaction ending tells of the log's last sequence number (after a
// commit, the last it wrote, or the last it found; after a rollback, the last it found; nothing
// when its guard failed or it learned nothing) and of the store's knowledge (pgknown.go): it was
// exact when the transaction took the write lock when the snapshot's xmax was one past the
// store's last transaction id; a commit adds what the transaction wrote.
func (t *wtx) noteEnd(committed bool) {
	x, p := t.pg, t.s.pg
	if !x.sent {
		return // nothing was asked: nothing learned
	}
	if !x.started || x.stale {
		p.known.forget() // what happened is unknown (the guard's failure forgot it already)
		return
	}
	valid := x.knownXid != 0 && x.xmax == x.knownXid+1
	switch {
	case committed && x.xid != 0:
		p.known.learn(t, x.xid, valid)
	case committed || !valid:
		p.known.forget()
	case x.xid != 0: // rolled back, with a transaction id: it ended, writing nothing
		p.known.ended(x.knownXid, x.xid)
	}
	if !x.speculative && p.hintKnown {
		p.observe(x.lastSeq != p.hint) // would the hint have been right?
	}
	if !x.knowing && x.knownXid != 0 {
		p.known.observe(!valid) // would the knowledge have been confirmed?
	}
	if committed && t.tips.seq > 0 {
		p.noteSeq(t.tips.seq)
		return
	}
	p.noteSeq(x.lastSeq)
}
