// Package store is the embedded SQLite store of the reference server: intents, events, leases and
// assignments, with schema migrations compiled into the binary.
//
// The store uses modernc.org/sqlite (pure Go, no cgo). A file store runs in WAL mode with
// synchronous=FULL, so a write is durable once a method returns; writes go through one
// connection, so every read-check-write runs serialised in its own transaction, while reads use a
// pool of read-only connections. An in-memory store keeps everything on one connection. One
// process writes a store file at a time: live readers of the event log are woken, and served the
// newest events, from memory.
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
}

// Store is the server's persistent state. It is safe for concurrent use.
type Store struct {
	write *db
	read  *db
	now   func() time.Time
	watch watchers
	// intents caches committed intent rows.
	intents intentCache
	// writeMu serialises write transactions, from their beginning to the end of their publishing.
	writeMu sync.Mutex
	// held is a file store's write connection, taken from write once the store is open.
	held *heldConn
	// responses holds recorded idempotent responses until a write transaction takes them.
	responses responses

	// lastCreated is the newest record creation time handed out (guarded by the write
	// transaction), so records of one kind list in insertion order even within a microsecond.
	lastCreated time.Time
}

// Open opens (creating if needed) the store at path, or an in-memory store for Memory, and
// applies pending migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty path")
	}
	s := &Store{now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)"}
	if path == Memory {
		mem, err := sql.Open("sqlite", "file::memory:?"+pragmaQuery(pragmas))
		if err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
		// One connection holds the in-memory database; it must never be closed.
		mem.SetMaxOpenConns(1)
		mem.SetMaxIdleConns(1)
		mem.SetConnMaxLifetime(0)
		mem.SetConnMaxIdleTime(0)
		shared := &db{DB: mem}
		s.write, s.read = shared, shared
		s.responses.inMemory = true
	} else {
		dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
		w, err := sql.Open("sqlite", dsn+pragmaQuery(append(pragmas, "journal_mode(WAL)", "wal_autocheckpoint(4000)", syncPragma(opts)))+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		s.write = &db{DB: w}
		// Make sure the file exists and is in WAL mode before readers open it.
		if err := w.PingContext(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		r, err := sql.Open("sqlite", dsn+pragmaQuery(append(pragmas, "query_only(1)")))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		n := runtime.GOMAXPROCS(0) * 2
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		s.read = &db{DB: r}
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if !s.responses.inMemory {
		if err := s.startWritten(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.watch.startRecent(last)
	if s.read != s.write {
		conn, err := s.write.Conn(ctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.held = &heldConn{Conn: conn, stmts: map[string]*sql.Stmt{}}
	}
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
	err := s.closeResponses()
	if s.held != nil {
		s.writeMu.Lock()
		err = errors.Join(err, s.held.close())
		s.held = nil
		s.writeMu.Unlock()
	}
	err = errors.Join(err, s.write.Close())
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return err
}

// Now returns the store's current time, in UTC and truncated to the stored precision.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := s.write.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
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
	ctx = context.WithoutCancel(ctx)
	// The write connection serialises transactions too, but it is free again as soon as one
	// commits: the lock also covers publishing what the transaction wrote, so that the next
	// transaction reads it.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var tx *wtx
	var err error
	if s.held != nil {
		tx, err = s.held.beginTx(ctx)
	} else {
		tx, err = s.write.beginTx(ctx)
	}
	if err != nil {
		return err
	}
	tx.s = s
	err = fn(tx)
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
	if err == nil {
		s.intents.publish(tx.written) // before waking readers of the events that announce it
	}
	after(err == nil)
	s.watch.settle(err == nil)
	return err
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

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
