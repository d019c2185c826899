package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL store: several server processes (replicas) share one database.
//
// Every write transaction first takes one transaction-scoped advisory lock, so write
// transactions run one at a time across every replica, exactly as they do on one SQLite file:
// read-check-writes (versions, lease exclusivity, unique keys) need no retry, the hash chain
// links each event to its intent's previous one, and event sequence numbers are given in commit
// order without gaps (the next after the largest), so a reader following the log with
// seq > cursor never skips a transaction that commits late. Nothing a replica could change is
// answered from memory: intents, the recent events, Idempotency-Keys and the chain's tips are
// read from the database. Watchers are woken by NOTIFY (sent in the writing transaction, so
// delivered only once it commits) and, as a backstop, by polling the log; the watchers of topics
// (wake.go) likewise, by NOTIFY and by polling the stamps of the topics woken.

//go:embed migrations_pg/*.sql
var pgMigrations embed.FS

// Advisory lock keys (bigint; advisory locks are per database).
const (
	pgWriteLock   int64 = 0x6f69_7374_6f72_6501 // every write transaction, for its duration
	pgMigrateLock int64 = 0x6f69_7374_6f72_6502 // schema migrations, for their duration
)

// pgAppName prefixes a store's id in the application_name of its connections.
const pgAppName = "openintent "

// pgChannel is the NOTIFY channel of committed events. A payload is the writing store's id and
// the ids of the intents whose logs grew, separated by spaces ("*" for too many to list).
const pgChannel = "openintent_events"

// DefaultPollInterval is how often a PostgreSQL store looks for events committed by other
// replicas when Options.PollInterval is zero.
const DefaultPollInterval = time.Second

// isPostgres reports whether path names a PostgreSQL database.
func isPostgres(path string) bool {
	return strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://")
}

// pgStore is a Store's PostgreSQL side.
type pgStore struct {
	pool *pgxpool.Pool
	// id names this store in NOTIFY payloads, so that it skips its own.
	id string
	// dbClock tells that Options.Now was nil: the store's clock is the database's, as last read
	// by a write transaction (offset: database minus local clock, in nanoseconds).
	dbClock bool
	offset  atomic.Int64
	// lastNow is the latest time clockNow gave (Unix nanoseconds).
	lastNow atomic.Int64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// lastWakeSweep is when the rows of topics woken were last swept (wake.go; guarded by the
	// write transaction).
	lastWakeSweep time.Time
	// hint is the log's last sequence number as this store last wrote or read it, when
	// hintKnown: what a speculative transaction checks (pgspec.go; guarded by writeMu).
	hint      int64
	hintKnown bool
	// misses is the recent rate of transactions for which the hint was wrong (pgspec.go).
	misses float64
	// staleGuards counts the speculative transactions whose guard failed.
	staleGuards atomic.Int64
	// known is what the store knows of its own writes (pgknown.go).
	known pgKnown
}

func openPG(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not the parser's message: it may quote the connection string, password and all.
		return nil, errors.New("store: the PostgreSQL connection string does not parse (postgres://user:password@host:port/database?option=value)")
	}
	id := newID()
	// Every connection of this store names it, so that other replicas can tell whether it is
	// still connected (pgIdempotentResponse).
	cfg.ConnConfig.RuntimeParams["application_name"] = pgAppName + id
	if cfg.MinConns == 0 {
		cfg.MinConns = 1 // connected while alive, even when idle
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err)
	}
	p := &pgStore{pool: pool, id: id, dbClock: opts.Now == nil}
	s := &Store{pg: p, now: opts.Now}
	if p.dbClock {
		s.now = p.clockNow
	}
	fail := func(err error) (*Store, error) {
		pool.Close()
		return nil, err
	}
	if err := p.readClock(ctx); err != nil {
		return fail(fmt.Errorf("store: open PostgreSQL: %w", err))
	}
	if err := p.migrate(ctx, s); err != nil {
		return fail(err)
	}
	last, err := pgTables{q: pool}.lastSeq(ctx)
	if err != nil {
		return fail(err)
	}
	p.noteSeq(last)
	lastWake, err := p.lastWakeStamp(ctx)
	if err != nil {
		return fail(err)
	}
	bg, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if !opts.DisableNotify {
		s.watch.demand = make(chan struct{}, 1)
		p.wg.Add(1)
		go p.listen(bg, s, cfg.ConnConfig.Copy())
	}
	if opts.PollInterval >= 0 {
		every := opts.PollInterval
		if every == 0 {
			every = DefaultPollInterval
		}
		p.wg.Add(1)
		go p.poll(bg, s, every, last, lastWake)
	}
	return s, nil
}

// pgClockExpr is the database's clock, in microseconds; pgXmaxExpr the xmax of the statement's
// snapshot: one past the newest transaction id to have ended (pgknown.go).
const (
	pgClockExpr = `(extract(epoch FROM clock_timestamp()) * 1000000)::bigint`
	pgXmaxExpr  = `pg_snapshot_xmax(pg_current_snapshot())::text::bigint`
)

// pgClockSQL reads the database's clock.
const pgClockSQL = `SELECT ` + pgClockExpr

// readClock measures the offset of the database's clock from the local one.
func (p *pgStore) readClock(ctx context.Context) error {
	var us int64
	if err := p.pool.QueryRow(ctx, pgClockSQL).Scan(&us); err != nil {
		return err
	}
	p.setClock(us)
	return nil
}

// clockNow is the database's clock as last read, never earlier than a time it gave before: a
// new reading of the offset may be lower than the last (the time an answer takes to arrive
// varies), and the timestamps a replica gives, under its write lock, must grow with the
// sequence numbers it gives.
func (p *pgStore) clockNow() time.Time {
	now := time.Now().Add(time.Duration(p.offset.Load()))
	n := now.UnixNano()
	for {
		last := p.lastNow.Load()
		if n <= last {
			return time.Unix(0, last)
		}
		if p.lastNow.CompareAndSwap(last, n) {
			return now
		}
	}
}

// setClock takes a reading of the database's clock (microseconds) just received.
func (p *pgStore) setClock(us int64) {
	if p.dbClock {
		p.offset.Store(time.UnixMicro(us).Sub(time.Now()).Nanoseconds())
	}
}

// migrate applies pending migrations under an advisory lock, so that replicas starting together
// apply each once.
func (p *pgStore) migrate(ctx context.Context, s *Store) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, pgMigrateLock); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, pgMigrateLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(pgMigrations, "migrations_pg/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := pgMigrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body), pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, micros(s.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

// beginPG opens a write transaction holding the write lock; writeMu is held. Its first
// statements are held back until one needs an answer (pgTx): BEGIN, the wait for the lock, then
// (a statement of its own, so that it sees every commit before the lock was granted) the log's
// last sequence number and the database's clock. A speculative transaction (speculate, while
// the store knows a hint that was recently right often enough: pgspec.go) holds back the guard
// of the hint instead, and reads the clock with its COMMIT.
func (s *Store) beginPG(ctx context.Context, speculate bool) (*wtx, error) {
	if s.closed {
		return nil, errClosed
	}
	p := s.pg
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	t := &pgTx{conn: conn, p: p, guard: -1, knownXid: p.known.current()}
	t.hold(`BEGIN`)
	t.hold(`SELECT pg_advisory_xact_lock($1)`, pgWriteLock)
	if speculate && p.speculates() {
		t.holdGuard(p, p.hint)
		return &wtx{s: s, ctx: ctx, t: pgTables{q: t}, pg: t}, nil
	}
	t.held = append(t.held, heldStmt{sql: `SELECT coalesce(max(seq), 0), ` + pgClockExpr + `, ` + pgXmaxExpr + ` FROM events`,
		scan: func(r pgx.Row) error {
			var us int64
			if err := r.Scan(&t.lastSeq, &us, &t.xmax); err != nil {
				return err
			}
			t.started = true
			p.setClock(us)
			return nil
		}})
	return &wtx{s: s, ctx: ctx, t: pgTables{q: t}, pg: t}, nil
}

// pgRelease rolls back whatever the connection has open and gives it back to the pool (which
// closes a connection still in a transaction).
func pgRelease(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() != 'I' {
		conn.Exec(ctx, "ROLLBACK")
	}
	conn.Release()
}

// rollbackPG ends a write transaction without a trace (without a round trip when nothing was
// sent).
func (t *wtx) rollbackPG() error {
	if x := t.pg; x.sent && x.started && !x.stale && x.conn.Conn().PgConn().TxStatus() == 'T' {
		// The transaction's id, if it got one, with the rollback: the knowledge stays exact
		// (pgknown.go).
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_current_xact_id_if_assigned()::text::bigint`)
		b.Queue(`ROLLBACK`)
		br := x.conn.SendBatch(t.ctx, b)
		var xid *int64
		if br.QueryRow().Scan(&xid) == nil && xid != nil {
			x.xid = *xid
		}
		br.Close()
	}
	t.noteEnd(false)
	if t.pg.sent {
		pgRelease(t.ctx, t.pg.conn)
	} else {
		t.pg.conn.Release()
	}
	return nil
}

// commitPG sends what the transaction holds back, the NOTIFY of its events and the record
// clock, and commits, in one round trip (none when the transaction did nothing).
func (t *wtx) commitPG() error {
	ctx, x := t.ctx, t.pg
	topics := t.s.watch.pendingTopicList()
	if !x.sent && len(x.held) == 3 && len(topics) == 0 {
		x.conn.Release() // only the beginning is held: nothing to commit
		return nil
	}
	if x.moved {
		x.hold(`UPDATE record_clock SET last_created = $1 WHERE last_created < $1`, micros(x.lastCreated))
	}
	if len(topics) > 0 {
		t.holdWakes(topics) // after the record clock's move: a stamp comes after it
	}
	// The transaction's last statement reads its id (pgknown.go) and the database's clock, and
	// sends the NOTIFY of its events.
	final, args := pgFinalSQL, []any(nil)
	if ids := t.s.watch.pendingIntents(); len(ids) > 0 {
		payload := t.s.pg.id + " " + strings.Join(ids, " ")
		if len(payload) > 7900 { // NOTIFY payloads are limited to 8000 bytes
			payload = t.s.pg.id + " " + AnyIntent
		}
		final, args = pgFinalNotifySQL, []any{pgChannel, payload}
	}
	var us int64
	scan := func(r pgx.Row) error { return r.Scan(&x.xid, &us) }
	var err error
	if !x.sent {
		// The whole transaction goes in one batch, which PostgreSQL runs as one implicit
		// transaction (a batch ends with one Sync): it commits when every statement succeeded
		// and rolls back at the first that fails, without a BEGIN or COMMIT of its own.
		x.held = x.held[1:] // BEGIN
		var br pgx.BatchResults
		if br, err = x.flush(ctx, final, args); err == nil {
			err = scan(br.QueryRow())
			if cerr := br.Close(); err == nil {
				err = cerr
			}
		}
	} else {
		x.held = append(x.held, heldStmt{sql: final, args: pgArgs(args), scan: scan})
		_, err = x.Exec(ctx, `COMMIT`)
	}
	if err == nil {
		t.s.pg.setClock(us)
	} else {
		// Whether it committed is not known (a failure after the last statement may come after
		// the commit): what the store knows can no longer be vouched for.
		x.xid = 0
		t.s.pg.known.forget()
	}
	t.noteEnd(err == nil)
	pgRelease(ctx, x.conn) // rolls back what a failure left open
	return err
}

// pgFinalSQL is a write transaction's last statement: its id and the database's clock
// (microseconds); pgFinalNotifySQL sends a NOTIFY ($1, $2) as well.
const (
	pgFinalSQL       = `SELECT pg_current_xact_id()::text::bigint, ` + pgClockExpr
	pgFinalNotifySQL = pgFinalSQL + ` FROM pg_notify($1, $2)`
)

// recordClock returns the newest creation time a record was given, by any replica.
func (t *pgTx) recordClock(ctx context.Context) (time.Time, error) {
	if !t.loaded {
		var us int64
		if err := t.QueryRow(ctx, `SELECT last_created FROM record_clock`).Scan(&us); err != nil {
			return time.Time{}, err
		}
		t.lastCreated, t.loaded = fromMicros(us), true
	}
	return t.lastCreated, nil
}

// created notes that the transaction gave a record creation time at.
func (t *pgTx) created(at time.Time) {
	if at.After(t.lastCreated) {
		t.lastCreated, t.moved = at, true
	}
}

// closePG stops the listener and the poller and closes the pool; writeMu is not held.
func (s *Store) closePG() error {
	err := s.closeResponses()
	s.writeMu.Lock()
	s.closed = true
	s.writeMu.Unlock()
	s.pg.cancel()
	s.pg.wg.Wait()
	s.pg.pool.Close()
	return err
}

// listenLinger is how long the listener keeps listening once nobody watches.
const listenLinger = 30 * time.Second

// listen wakes watchers on the NOTIFY of other replicas' commits. It listens only while this
// store has watchers (and listenLinger after), so that a replica without live readers is not
// woken by every commit: it starts when Watch signals demand, and then wakes every watcher once,
// as a commit made before LISTEN took effect was not notified to them (they read the log again
// and find it). It reconnects when its connection breaks, waking every watcher likewise.
func (p *pgStore) listen(ctx context.Context, s *Store, cfg *pgx.ConnConfig) {
	defer p.wg.Done()
	for backoff := 100 * time.Millisecond; ctx.Err() == nil; {
		if !s.watch.watching() {
			select {
			case <-ctx.Done():
				return
			case <-s.watch.demand:
			}
			continue
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN `+pgChannel); err == nil {
				_, err = conn.Exec(ctx, `LISTEN `+pgWakeChannel)
			}
			if err == nil {
				s.watch.wake(nil, true)
				backoff = 100 * time.Millisecond
				p.listenOn(ctx, s, conn)
			}
			conn.Close(context.Background())
		}
		if err == nil {
			continue // it stopped listening for want of watchers, or the store closed
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenOn hands the notifications conn receives to the watchers, until the connection breaks,
// ctx ends, or nobody has watched for listenLinger.
func (p *pgStore) listenOn(ctx context.Context, s *Store, conn *pgx.Conn) {
	var idle time.Time // since when nobody watches
	for {
		wctx, cancel := context.WithTimeout(ctx, listenLinger/3)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return // the connection broke
		case err != nil: // a quiet while
			if s.watch.watching() {
				idle = time.Time{}
			} else if idle.IsZero() {
				idle = time.Now()
			} else if time.Since(idle) >= listenLinger {
				return
			}
			continue
		}
		from, ids, _ := strings.Cut(n.Payload, " ")
		if from == p.id {
			continue // this store woke its watchers when it committed
		}
		list := strings.Fields(ids)
		all := len(list) == 1 && list[0] == AnyIntent
		if n.Channel == pgWakeChannel {
			s.watch.wakeTopicsFrom(list, all)
		} else {
			s.watch.wake(list, all)
		}
	}
}

// pollBatch is how many new events one poll reads; beyond, it wakes every watcher.
const pollBatch = 256

// poll looks for events newer than the newest it saw (and for topics woken since the newest
// stamp it saw, wake.go), every interval while someone watches, and wakes their watchers: a
// backstop for lost notifications.
func (p *pgStore) poll(ctx context.Context, s *Store, every time.Duration, last, lastWake int64) {
	defer p.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.watch.watchingTopics() {
			lastWake = p.pollTopics(ctx, s, lastWake)
		}
		if !s.watch.watchingEvents() {
			continue
		}
		type hit struct {
			seq    int64
			intent string
		}
		hits, err := pgCollect(ctx, p.pool, func(r scanner) (hit, error) {
			var h hit
			return h, r.Scan(&h.seq, &h.intent)
		}, `SELECT seq, intent_id FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, last, pollBatch)
		if err != nil || len(hits) == 0 {
			continue
		}
		if len(hits) == pollBatch {
			if n, err := (pgTables{q: p.pool}).lastSeq(ctx); err == nil {
				last = n
			}
			s.watch.wake(nil, true)
			continue
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.intent
		}
		last = hits[len(hits)-1].seq
		s.watch.wake(ids, false)
	}
}

// The Idempotency-Keys of a PostgreSQL store: every lookup reads the database (another replica
// may have written the key), and a claim is an insert that succeeds only while no live row holds
// the key.

// ErrIdempotencyKeyTaken reports a write transaction carrying an IdempotencyClaim whose key
// another transaction claimed first (on a PostgreSQL store, another replica running the same
// request): the transaction wrote nothing. The request's response is (or soon will be) that of
// the other; GetIdempotentResponse returns it once recorded.
var ErrIdempotencyKeyTaken = errors.New("store: Idempotency-Key already claimed by another request")

// A claim without a response (status 0) is abandoned when the store that claimed it has no
// connection to the database left: its server stopped after the operation committed and before
// the response was written, and nobody will write it.
func (s *Store) pgIdempotentResponse(ctx context.Context, principal, key string, since time.Time) (IdempotentResponse, bool, error) {
	return found(pgOne(ctx, s.pg.pool, func(row scanner) (IdempotentResponse, error) {
		r := IdempotentResponse{Principal: principal, Key: key}
		var owner string
		err := row.Scan(&r.Method, &r.Path, &r.BodyHash, &r.Status, &r.ContentType, &r.Body, &owner, &r.abandoned)
		// A claim of this store's own: the caller holds the key's lock (no request of this
		// process carries it out), so the request that made it ended without its response.
		r.abandoned = r.abandoned || (r.Status == 0 && owner == s.pg.id)
		return r, err
	}, `SELECT method, path, body_hash, status, content_type, body, owner,
			CASE WHEN status = 0 AND owner <> '' THEN NOT EXISTS
				(SELECT 1 FROM pg_stat_activity WHERE application_name = $4 || owner) ELSE false END
		FROM idempotency_keys WHERE principal = $1 AND key = $2 AND created_at > $3`, principal, key, micros(since), pgAppName))
}

// pgInsertResponseSQL writes a response as created at $9 unless a live row (younger than
// IdempotencyTTL: created after $10) holds its key.
const pgInsertResponseSQL = `INSERT INTO idempotency_keys
	(principal, key, method, path, body_hash, status, content_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (principal, key) DO UPDATE SET method = EXCLUDED.method, path = EXCLUDED.path, body_hash = EXCLUDED.body_hash,
		status = EXCLUDED.status, content_type = EXCLUDED.content_type, body = EXCLUDED.body, created_at = EXCLUDED.created_at
	WHERE idempotency_keys.created_at <= $10`

func pgInsertResponseArgs(r *IdempotentResponse, at time.Time) []any {
	return []any{r.Principal, r.Key, r.Method, r.Path, r.BodyHash, r.Status, r.ContentType, r.Body, micros(at), micros(at.Add(-IdempotencyTTL))}
}

// pgClaimSQL claims a key for a request, as created at $9 by the store $11, once an expired row holding it
// (created at $10 or before) is deleted; a live row makes it fail with a unique violation.
const pgClaimSQL = `WITH expired AS (DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND created_at <= $10::bigint RETURNING 1)
	INSERT INTO idempotency_keys (principal, key, method, path, body_hash, status, content_type, body, created_at, owner)
	SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::integer, $7::text, $8::bytea, $9::bigint, $11::text FROM (SELECT count(*) FROM expired) AS e`

// pgWriteIdempotency is writeIdempotency on PostgreSQL.
func (s *Store) pgWriteIdempotency(ctx context.Context, tx *wtx, claim *IdempotencyClaim, now time.Time) (func(committed bool), error) {
	if claim != nil {
		// Held back like the transaction's writes: a live row holding the key makes the insert
		// (and so the commit) fail with a unique violation, which pgErr turns into
		// ErrIdempotencyKeyTaken. An expired row gives the key up first.
		// One statement: the delete runs first (the insert reads its count), and the insert's
		// unique check does not see the row the transaction deleted.
		r := claim.response(0, "", []byte{})
		tx.pg.hold(pgClaimSQL, r.Principal, r.Key, r.Method, r.Path, r.BodyHash, r.Status, r.ContentType, r.Body, micros(now), micros(now.Add(-IdempotencyTTL)), s.pg.id)
	}
	pending := s.responses.take()
	for _, q := range pending {
		switch {
		case q.forget:
			tx.pg.hold(`DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2`, q.Principal, q.Key)
		case q.update:
			tx.pg.hold(`UPDATE idempotency_keys SET status = $1, content_type = $2, body = $3 WHERE principal = $4 AND key = $5`,
				q.Status, q.ContentType, q.Body, q.Principal, q.Key)
		default:
			// A response to a request that wrote nothing; a key another replica holds keeps its own.
			tx.pg.hold(pgInsertResponseSQL, pgInsertResponseArgs(q.IdempotentResponse, now)...)
		}
	}
	if len(pending) > 0 && now.Sub(s.responses.lastSweep) >= time.Minute {
		s.responses.lastSweep = now // guarded by the write transaction
		for range 100 {             // at most 100,000 keys per sweep; the next sweep goes on
			tag, err := tx.pg.Exec(ctx, `DELETE FROM idempotency_keys WHERE (principal, key) IN
				(SELECT principal, key FROM idempotency_keys WHERE created_at <= $1 LIMIT $2)`, micros(now.Add(-IdempotencyTTL)), sweepBatch)
			if err != nil {
				s.requeue(pending)
				return nil, err
			}
			if tag.RowsAffected() < sweepBatch {
				break
			}
		}
	}
	return func(committed bool) {
		if !committed {
			s.requeue(pending)
		} else if claim != nil {
			claim.written.Store(true)
		}
	}, nil
}
