package store

import (
	"context"
	"errors"
	"sync"

	"github.com/openintent-go/openintent/internal/eventlog"
)

// What a PostgreSQL store knows of its own writes (issue #17: round trips).
//
// A replica that has just written an intent knows its row and chain head as committed, and, when
// it created the intent, that no record is keyed by the intent's id (the id was drawn at random
// in that transaction: nothing could refer to it before). That knowledge stays exact for as long
// as no other transaction writes to the database. PostgreSQL tells whether one did: a snapshot's
// xmax is one past the newest transaction id to have ended, so right after this store's write
// lock is granted, xmax = (this store's last transaction id) + 1 holds exactly when no
// transaction has ended since this store's last one did (every writer takes the write lock
// before it writes; a transaction that ended without writing only makes the test fail).
//
// Knowledge never answers on its own: a speculative write transaction (pgspec.go) may read from
// it, and its guard then checks xmax; a request (Speculate) may have its access decision read
// from it, and then its first write transaction must pass that guard or the request is served
// again without knowledge. When the guard fails, the transaction wrote nothing and the store
// forgets what it knew. xmax concerns every database of the cluster: while other transactions
// keep making the knowledge stale, nothing reads from it (pgKnown.misses).

// pgKnown is what a store knows, valid while no transaction but its own has ended since its
// transaction xid did.
type pgKnown struct {
	mu      sync.Mutex
	xid     int64 // 0: knows nothing
	intents map[string]*knownIntent
	// misses is the recent rate of transactions for which the knowledge was stale (weighted as
	// pgStore.misses): transactions of other databases of the cluster, or of other replicas,
	// make it so; a transaction reads from knowledge only while it pays (a stale guard costs a
	// request served twice).
	misses float64
}

// observe takes in whether the knowledge was stale for a transaction.
func (k *pgKnown) observe(miss bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.misses *= 1 - pgMissWeight
	if miss {
		k.misses += pgMissWeight
	}
}

// pays reports whether reading from knowledge has recently been confirmed often enough.
func (k *pgKnown) pays() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.misses < pgMaxMisses
}

// knownIntent is an intent as this store last committed it. Entries are replaced, never changed.
type knownIntent struct {
	row  *intentRow
	head eventlog.Hash // the zero hash: no event
	// noRecords tells that no record has the intent's id as its id (the store created the intent
	// and wrote no such record since).
	noRecords bool
}

// maxKnown bounds the intents known (knowledge starts afresh beyond).
const maxKnown = 4096

// lookup returns what is known of intent id (nil: nothing) and the transaction the knowledge is
// that of (0: none).
func (k *pgKnown) lookup(id string) (*knownIntent, int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.xid == 0 {
		return nil, 0
	}
	return k.intents[id], k.xid
}

// forget drops all knowledge.
func (k *pgKnown) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.xid, k.intents = 0, nil
}

// learn takes in what transaction t wrote, committed as transaction xid; valid tells that the
// knowledge was still exact when t took the write lock (else it is dropped first). writeMu is
// held.
func (k *pgKnown) learn(t *wtx, xid int64, valid bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !valid || k.intents == nil || len(k.intents)+len(t.written) > maxKnown {
		k.intents = map[string]*knownIntent{}
	}
	k.xid = xid
	for id, row := range t.written {
		var head eventlog.Hash
		if h, ok := t.tips.heads[id]; ok {
			head = h
		} else if !t.tips.fresh[id] {
			h, _, known := t.pg.head(id) // read with the intent, or known
			if !known {
				delete(k.intents, id) // its chain head is unknown
				continue
			}
			head = h
		}
		old := k.intents[id]
		k.intents[id] = &knownIntent{row: row, head: head, noRecords: t.pg.inserted[id] || (old != nil && old.noRecords)}
	}
	for id, h := range t.tips.heads { // appended to without a new row
		if _, ok := t.written[id]; !ok {
			if old := k.intents[id]; old != nil {
				k.intents[id] = &knownIntent{row: old.row, head: h, noRecords: old.noRecords}
			}
		}
	}
	for id := range t.pg.recordIDs {
		if old := k.intents[id]; old != nil && old.noRecords {
			k.intents[id] = &knownIntent{row: old.row, head: old.head}
		}
	}
}

// Speculation lets a request's reads be answered from what a PostgreSQL store knows of its own
// writes, on condition that the request's first write transaction confirms that knowledge (its
// guard, with the write lock held). A request whose speculation is not confirmed (Failed) must be
// served again, without it: it wrote nothing, and what it answered may rest on stale knowledge.
// Only requests with no effect outside the store before their first write transaction may
// speculate.
type Speculation struct {
	mu        sync.Mutex
	used      map[string]*knownIntent // what the reads were answered from
	done      bool                    // the first write transaction began: later reads go to the database
	confirmed bool
}

type speculationKey struct{}

// Speculate returns ctx letting the request's reads speculate, and the Speculation to ask
// afterwards; on a store that is not PostgreSQL, or one that knows nothing, ctx and nil.
func (s *Store) Speculate(ctx context.Context) (context.Context, *Speculation) {
	if s.pg == nil {
		return ctx, nil
	}
	if s.pg.known.current() == 0 || !s.pg.known.pays() {
		return ctx, nil
	}
	sp := &Speculation{}
	return context.WithValue(ctx, speculationKey{}, sp), sp
}

// Failed reports whether reads were answered from knowledge that no write transaction confirmed.
func (sp *Speculation) Failed() bool {
	if sp == nil {
		return false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.used) > 0 && !sp.confirmed
}

// SpeculationFailed reports whether ctx's request speculated and was not confirmed.
func SpeculationFailed(ctx context.Context) bool {
	sp, _ := ctx.Value(speculationKey{}).(*Speculation)
	return sp.Failed()
}

// ErrSpeculationFailed is what a write transaction of a request whose speculation it could not
// confirm returns: it wrote nothing, and the request is to be served again (Speculation).
var ErrSpeculationFailed = errors.New("store: the knowledge a request speculated on is stale")

// knownRecordAbsent reports whether ctx's speculation may answer that record kind/id does not
// exist, and notes that it did.
func (s *Store) knownRecordAbsent(ctx context.Context, id string) bool {
	sp, _ := ctx.Value(speculationKey{}).(*Speculation)
	if sp == nil {
		return false
	}
	e, _ := s.pg.known.lookup(id)
	if e == nil || !e.noRecords {
		return false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.done {
		return false
	}
	if sp.used == nil {
		sp.used = map[string]*knownIntent{}
	}
	if old, ok := sp.used[id]; ok && old != e {
		return false
	}
	sp.used[id] = e
	return true
}

// beginSpeculation ends ctx's request speculation for later reads and reports what the
// request's first write transaction must do: nothing when the request read nothing from
// knowledge (speculated false); else whether that knowledge is still what this store knows
// (current), in which case the transaction must speculate and its guard confirm it. writeMu is
// held.
func (s *Store) beginSpeculation(ctx context.Context) (sp *Speculation, speculated, current bool) {
	sp, _ = ctx.Value(speculationKey{}).(*Speculation)
	if sp == nil {
		return nil, false, false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.done {
		return nil, false, false
	}
	sp.done = true
	if len(sp.used) == 0 {
		return nil, false, false
	}
	for id, e := range sp.used {
		if now, _ := s.pg.known.lookup(id); now != e {
			return sp, true, false
		}
	}
	return sp, true, true
}

// confirm marks sp confirmed by a transaction whose guard passed.
func (sp *Speculation) confirm() {
	sp.mu.Lock()
	sp.confirmed = true
	sp.mu.Unlock()
}

// current returns the id of the transaction the knowledge is that of (0: none).
func (k *pgKnown) current() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.xid
}

// ended takes in that transaction xid ended without writing, the knowledge having been that of
// transaction was and exact: it stays exact, now as of xid.
func (k *pgKnown) ended(was, xid int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.xid == was && xid > was {
		k.xid = xid
	}
}
