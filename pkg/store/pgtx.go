package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openintent-go/openintent/internal/eventlog"
)

// pgTx is a PostgreSQL write transaction, on a connection of the pool held until it commits or
// rolls back. It saves round trips: statements whose answer nobody needs (BEGIN, the write lock,
// most writes) are held back and sent, pipelined, with the next statement that needs one (a
// read) or with the COMMIT. A held write that fails fails that next statement, so the
// transaction still fails as a whole: a failed write is never passed over.
type pgTx struct {
	conn *pgxpool.Conn
	held []heldStmt
	// sent tells that statements went to the server (a rollback has something to undo).
	sent bool
	// started tells that the transaction's first statements were answered: lastSeq, the log's
	// last sequence number once the write lock was granted, is known.
	started bool
	lastSeq int64
	// speculative tells that lastSeq is the store's hint, which the held guard (held[guard])
	// checks (pgspec.go); stale, that the guard failed: the transaction wrote nothing.
	speculative, stale bool
	guard              int
	// p is the transaction's store. knownXid is the transaction its knowledge was that of when
	// this one began (pgknown.go); xmax the snapshot's xmax once the write lock was granted (as
	// the first statements answer); xid this transaction's id (read before it ends); knowing
	// tells that the guard confirms the knowledge, which the transaction may read from.
	p                   *pgStore
	knownXid, xmax, xid int64
	knowing             bool
	// inserted holds the intents the transaction created, recordIDs the ids of the records it
	// wrote (what the store knows of them changes, pgknown.go).
	inserted, recordIDs map[string]bool
	// lastCreated is the record clock (record_clock), read when the transaction first creates a
	// record; moved when the transaction moved it.
	lastCreated   time.Time
	loaded, moved bool
	// heads holds the chain heads read with intents (see intentWithHead): an intent's newest
	// event's hash, or the zero hash for none. Valid for the transaction, which holds the write
	// lock; its own appends are in wtx.tips, which comes first.
	heads map[string]eventlog.Hash
}

// intentWithHead reads intent id and its chain head in one statement (a write transaction that
// reads an intent usually appends to its log next). A missing intent leaves the head unknown.
func (t *pgTx) intentWithHead(ctx context.Context, id string) (*intentRow, error) {
	var b []byte
	row, err := pgOne(ctx, t, func(r scanner) (*intentRow, error) { return scanIntentRow(withColumn{r, &b}) },
		`SELECT `+intentColumns+`, (SELECT event_hash FROM events WHERE intent_id = $1 ORDER BY seq DESC LIMIT 1) FROM intents WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	h := eventlog.Hash{} // none: the zero hash
	if b != nil {
		if h, err = hashOf(b); err != nil {
			return nil, err
		}
	}
	if t.heads == nil {
		t.heads = map[string]eventlog.Hash{}
	}
	t.heads[id] = h
	return row, nil
}

// noteInsert notes that the transaction created intent id.
func (t *pgTx) noteInsert(id string) {
	if t.inserted == nil {
		t.inserted = map[string]bool{}
	}
	t.inserted[id] = true
}

// noteRecord notes that the transaction wrote a record with id.
func (t *pgTx) noteRecord(id string) {
	if t.recordIDs == nil {
		t.recordIDs = map[string]bool{}
	}
	t.recordIDs[id] = true
}

// withColumn scans a row's last column into col, after the columns its caller scans.
type withColumn struct {
	scanner
	col any
}

func (w withColumn) Scan(dest ...any) error { return w.scanner.Scan(append(dest, w.col)...) }

// head returns intent id's chain head as prefetched: known false when it was not.
func (t *pgTx) head(id string) (h eventlog.Hash, ok, known bool) {
	h, known = t.heads[id]
	return h, known && h != (eventlog.Hash{}), known
}

// heldStmt is a statement held back; scan, when set, reads its one row.
type heldStmt struct {
	sql  string
	args []any
	scan func(pgx.Row) error
}

// hold queues a statement whose answer is not needed.
func (t *pgTx) hold(sql string, args ...any) {
	t.held = append(t.held, heldStmt{sql: sql, args: pgArgs(args)})
}

// flush sends the held statements followed by sql (when not empty), reads the held statements'
// answers, and returns the batch positioned at sql's answer: the caller reads it and closes br.
func (t *pgTx) flush(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	for _, h := range t.held {
		b.Queue(h.sql, h.args...)
	}
	if sql != "" {
		b.Queue(sql, args...)
	}
	held := t.held
	t.held = nil
	t.sent = true
	br := t.conn.SendBatch(ctx, b)
	for _, h := range held {
		var err error
		if h.scan != nil {
			err = h.scan(br.QueryRow())
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			br.Close()
			return nil, pgErr(err)
		}
	}
	return br, nil
}

// start makes sure the transaction's first statements were answered.
func (t *pgTx) start(ctx context.Context) error {
	if t.started {
		return nil
	}
	br, err := t.flush(ctx, "", nil)
	if err != nil {
		return err
	}
	return br.Close()
}

// Exec runs sql after the held statements and returns its answer.
func (t *pgTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(t.held) == 0 {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.flush(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs sql after the held statements.
func (t *pgTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(t.held) == 0 {
		return t.conn.Query(ctx, sql, args...)
	}
	br, err := t.flush(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs sql after the held statements.
func (t *pgTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(t.held) == 0 {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	br, err := t.flush(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

// batchRows are the rows of a batch's last statement; closing them closes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

// batchRow is the row of a batch's last statement; scanning it closes the batch.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// errRow is a row that failed before it was read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
