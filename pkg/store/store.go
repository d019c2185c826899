// Package store is the store of the reference server: intents, events, leases, assignments and
// the records of the later RFCs. It comes in three kinds with one behaviour:
//
//   - a file store, on SQLite (modernc.org/sqlite: pure Go, no cgo) with schema migrations
//     compiled into the binary, in WAL mode: a write survives a crash of the process once a
//     method returns, and with Options.FsyncEveryCommit a power loss too; one process opens a
//     file at a time (a lock on <file>.lock refuses others);
//   - a PostgreSQL store (pgx), which several processes (replicas) share: see pg.go for how
//     they stay consistent;
//   - the in-memory store (Memory), for tests and trying the protocol out, which keeps its rows
//     in Go maps and loses them when it closes.
//
// Writes run one transaction at a time, so every read-check-write runs serialised in its own
// transaction; a transaction that fails leaves no trace. A file store writes through one
// connection held for its life and reads through a pool of read-only connections.
//
// Committed intents are cached (on a file store reads and read-check-writes of an intent cost
// no query; on the in-memory store reads do not wait for a write in progress). A file store
// serves live readers of the event log the newest events from memory and remembers the
// Idempotency-Keys it wrote: all of which assumes that one process writes a store file at a
// time. A PostgreSQL store caches nothing another replica could change.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openintent-go/openintent/internal/eventlog"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Memory is the path that opens an in-memory store.
const Memory = ":memory:"

// Options configure a Store.
type Options struct {
	// Now returns the current time; nil means time.Now. Tests use it to control expiry.
	Now func() time.Time
	// FsyncEveryCommit makes the file store flush to disk on every commit, so that acknowledged
	// writes survive power loss and OS crashes too. Without it (the default) they survive a crash
	// of the server process, and the database is never corrupted, but a power loss may roll back
	// the last commits before the periodic checkpoint. Each commit then costs a disk flush.
	FsyncEveryCommit bool

	// PollInterval (PostgreSQL) is how often the store looks for events committed by other
	// replicas, to wake its watchers should a notification be lost: 0 means
	// DefaultPollInterval, a negative interval no polling.
	PollInterval time.Duration
	// DisableNotify (PostgreSQL) makes the store neither listen for other replicas'
	// notifications (LISTEN) nor, where it applies, rely on them: its watchers wake for other
	// replicas' events only by polling. Its own commits still notify the others.
	DisableNotify bool
}

// Store is the server's persistent state. It is safe for concurrent use.
type Store struct {
	// mem holds the in-memory store's rows (nil for a file store).
	mem *memTables
	// pg is a PostgreSQL store's pool and background work (nil for the other kinds); such a
	// store has no mem, writer or readers.
	pg *pgStore
	// lock is a file store's lock on its file (one process at a time).
	lock *fileLock
	// closed tells that the in-memory store is closed (guarded by writeMu).
	closed bool

	// writer is a file store's connection pool holding the write connection, and held that
	// connection, taken for the store's life.
	writer *sql.DB
	held   *heldConn
	// read runs a file store's reads on its pool of read-only connections (readers).
	read    querier
	readers *pool
	now     func() time.Time
	watch   watchers
	// intents caches committed intent rows.
	intents intentCache
	// checkpoints runs a file store's WAL checkpoints off the write path.
	checkpoints checkpointer
	// writeMu serialises write transactions, from their beginning to the end of their
	// publishing; the in-memory store's reads hold it for reading.
	writeMu sync.RWMutex
	// responses holds recorded idempotent responses until a write transaction takes them.
	responses responses

	// lastCreated is the newest record creation time handed out (guarded by the write
	// transaction), so records of one kind list in insertion order even within a microsecond.
	lastCreated time.Time
	// hasher computes the hash of each event appended (guarded by the write transaction).
	hasher eventlog.Hasher
	// trees caches the decoded Merkle trees of checkpoints, which never change (chain.go).
	trees treeCache
	// tips caches the log's last sequence number and intents' newest hashes (chain.go; guarded
	// by writeMu).
	tips chainTips
}

// Open opens (creating if needed) the store at path, or an in-memory store for Memory, or a
// PostgreSQL store for a path starting with postgres:// or postgresql:// (a connection string,
// with pgxpool's options such as pool_max_conns), and applies pending migrations. A file store
// refuses a file another process (or another Store) has open.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty path")
	}
	if isPostgres(path) {
		return openPG(ctx, path, opts)
	}
	s := &Store{now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if path == Memory {
		// Its log is all in memory: live readers need no window of recent events.
		s.mem = newMemTables()
		return s, nil
	}
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)"}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
	if s.writer, err = sql.Open("sqlite", dsn+pragmaQuery(append(pragmas, "journal_mode(WAL)", "wal_autocheckpoint(10000)", syncPragma(opts)))); err != nil {
		lock.release()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+pragmaQuery(append(pragmas, "query_only(1)")))
	if err != nil {
		s.writer.Close()
		lock.release()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	cp, err := sql.Open("sqlite", dsn+pragmaQuery(append(pragmas, syncPragma(opts))))
	if err != nil {
		s.writer.Close()
		r.Close()
		lock.release()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.startCheckpointer(cp)
	n := runtime.GOMAXPROCS(0) * 2
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.readers = &pool{DB: r}
	s.read = s.readers
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	// Taking the connection creates the file, in WAL mode, before readers open it.
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.held = &heldConn{Conn: conn, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startWritten(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.backfillChain(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: hash the events stored before RFC-0019: %w", err)
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.watch.startRecent(last)
	return s, nil
}

func syncPragma(opts Options) string {
	if opts.FsyncEveryCommit {
		return "synchronous(FULL)"
	}
	return "synchronous(NORMAL)"
}

func pragmaQuery(p []string) string {
	q := make([]string, len(p))
	for i, v := range p {
		q[i] = "_pragma=" + url.QueryEscape(v)
	}
	return strings.Join(q, "&")
}

// Close closes the store.
func (s *Store) Close() error {
	if s.mem != nil {
		err := s.closeResponses()
		s.writeMu.Lock()
		s.closed = true
		s.writeMu.Unlock()
		return err
	}
	if s.pg != nil {
		return s.closePG()
	}
	var err error
	if s.held != nil {
		err = s.closeResponses()
		s.writeMu.Lock()
		err = errors.Join(err, s.held.close())
		s.held = nil
		s.writeMu.Unlock()
	}
	s.checkpoints.stop()
	err = errors.Join(err, s.writer.Close())
	if s.readers != nil {
		err = errors.Join(err, s.readers.close())
	}
	if s.lock != nil {
		err = errors.Join(err, s.lock.release())
		s.lock = nil
	}
	return err
}

// Now returns the store's current time, in UTC and truncated to the stored precision.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.held.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := s.held.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.inTx(ctx, func(tx *wtx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, micros(s.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

// inTx runs fn in a write transaction, committing when it returns nil.
//
// A write, once begun, runs to its end even if ctx is canceled: writes are short, and an
// uncancellable context also spares the driver a watcher goroutine per statement.
func (s *Store) inTx(ctx context.Context, fn func(tx *wtx) error) error {
	return s.runTx(ctx, false, fn)
}

// inTxRerunnable is inTx for a fn that may run twice: it has no effect outside the transaction
// but on variables it sets anew each run. On PostgreSQL such a transaction speculates
// (pgspec.go), and runs again the normal way when its speculation fails.
func (s *Store) inTxRerunnable(ctx context.Context, fn func(tx *wtx) error) error {
	return s.runTx(ctx, true, fn)
}

func (s *Store) runTx(ctx context.Context, rerunnable bool, fn func(tx *wtx) error) (err error) {
	var timing TxTiming
	// Metrics and trace spans (observe.go); ctx is read before WithoutCancel wraps it, as every
	// Value looked up through that wrapper allocates.
	if o, octx := txObserverFrom(ctx), ctx; o != nil {
		timing = TxTiming{Start: time.Now(), File: s.mem == nil, Postgres: s.pg != nil}
		defer func() { // after the unlock below
			timing.End, timing.Committed = time.Now(), err == nil
			o.ObserveTx(octx, timing)
		}()
	}
	ctx = context.WithoutCancel(ctx)
	// The lock serialises transactions and covers publishing what one wrote, so that the next
	// reads it; on the in-memory store it also keeps reads out of a transaction in progress.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if !timing.Start.IsZero() {
		timing.Locked = time.Now()
	}
	speculate := rerunnable && s.pg != nil
	var sp *Speculation
	if s.pg != nil {
		// A request that read from the store's knowledge: this transaction must confirm it, or
		// write nothing and have the request served again (pgknown.go).
		var speculated, current bool
		if sp, speculated, current = s.beginSpeculation(ctx); speculated && (!current || !s.pg.speculates()) {
			return ErrSpeculationFailed
		}
		speculate = speculate || sp != nil
	}
	for {
		tx, err := s.begin(ctx, speculate)
		if err != nil {
			return err
		}
		if sp != nil && !tx.pg.know() {
			tx.rollback()
			return ErrSpeculationFailed
		}
		err = s.run(ctx, tx, fn)
		if tx.pg != nil && tx.pg.stale {
			if sp != nil {
				return ErrSpeculationFailed
			}
			// The speculation failed (another replica wrote since): nothing was written, and
			// whatever fn made of the failure is moot. Run it again the normal way.
			speculate = false
			continue
		}
		if sp != nil && tx.pg.knowing && tx.pg.xmax != 0 {
			// Its guard passed: what the request read from knowledge was exact when the write
			// lock was granted, whether the transaction then committed or failed on its own.
			sp.confirm()
		}
		return err
	}
}

// run runs fn in tx and commits when it returns nil, else rolls back.
func (s *Store) run(ctx context.Context, tx *wtx, fn func(tx *wtx) error) error {
	err := fn(tx)
	var after func(committed bool)
	if err == nil {
		after, err = s.writeIdempotency(ctx, tx, s.Now())
	}
	if err != nil {
		tx.rollback()
		s.watch.settle(false)
		return err
	}
	err = tx.commit()
	if err == nil && s.pg == nil {
		s.intents.publish(tx.written) // before waking readers of the events that announce it
		s.committed()
	}
	after(err == nil)
	s.watch.settle(err == nil)
	return err
}

// errClosed reports a store used after Close.
var errClosed = errors.New("store: closed")

// begin opens a write transaction, speculative when speculate (PostgreSQL only); writeMu is
// held.
func (s *Store) begin(ctx context.Context, speculate bool) (*wtx, error) {
	if s.pg != nil {
		return s.beginPG(ctx, speculate)
	}
	if s.mem != nil {
		if s.closed {
			return nil, errClosed
		}
		return &wtx{s: s, ctx: ctx, t: s.mem}, nil
	}
	if s.held == nil {
		return nil, errClosed
	}
	tx, err := s.held.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	tx.s = s
	return tx, nil
}

// NotFoundError reports a missing resource; it matches ErrNotFound with errors.Is.
type NotFoundError struct {
	// Detail is the message for humans, e.g. "Intent not found".
	Detail string
}

func (e *NotFoundError) Error() string { return e.Detail }

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ErrNotFound matches every NotFoundError.
var ErrNotFound = errors.New("not found")

// VersionConflictError reports a stale expected version.
type VersionConflictError struct {
	// Current is the resource's current version.
	Current int64
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("Version conflict: current version is %d", e.Current)
}

// newID returns a version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random bits.
// Ids made later sort later, so the indexes keyed by them grow at their right edge instead of
// taking a random page (and splitting it) on every insert.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err)
	}
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// formatUUID returns the canonical text of a UUID.
func formatUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// parseUUID reads the canonical text of a UUID.
func parseUUID(s string) ([16]byte, bool) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	k := 0
	for _, part := range [5][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}} {
		n, err := hex.Decode(b[k:], []byte(s[part[0]:part[1]]))
		if err != nil {
			return b, false
		}
		k += n
	}
	return b, true
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
