package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// SQLite spends a large share of a small query's time parsing it, so every handle here
// prepares each distinct query once and reuses the statement.

// maxStatements bounds each statement cache: some queries are built per call (a LIMIT, an IN
// list), and past the bound new ones run unprepared rather than being kept forever.
const maxStatements = 512

// pool is a file store's pool of read-only connections.
type pool struct {
	*sql.DB
	stmts sync.Map // query -> *sql.Stmt
	n     atomic.Int64
}

// stmt returns the prepared statement for query, or nil when the cache is full.
func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	if p.n.Load() >= maxStatements {
		return nil, nil
	}
	st, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	p.n.Add(1)
	return st, nil
}

func (p *pool) withRows(ctx context.Context, fn func(*sql.Rows) error, query string, args ...any) error {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return err
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = p.QueryContext(ctx, query, args...)
	}
	return eachRows(rows, err, fn)
}

func (p *pool) withRow(ctx context.Context, fn func(*sql.Row) error, query string, args ...any) error {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return fn(p.QueryRowContext(ctx, query, args...))
	}
	return fn(st.QueryRowContext(ctx, args...))
}

// close closes the statements and the pool.
func (p *pool) close() error {
	p.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return p.Close()
}

// eachRows hands rows (the result of a query that returned err) to fn and closes them.
func eachRows(rows *sql.Rows, err error, fn func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := fn(rows); err != nil {
		return err
	}
	return rows.Err()
}

// heldConn is a file store's write connection, held for the store's life: its transactions are BEGIN IMMEDIATE and COMMIT statements, which spares
// database/sql's goroutine per transaction. Its use is serialised by Store.writeMu.
type heldConn struct {
	*sql.Conn
	stmts map[string]*sql.Stmt
}

// stmt returns the prepared statement for query, or nil if it does not prepare (running the
// query unprepared then reports the error) or the cache is full.
func (c *heldConn) stmt(ctx context.Context, query string) *sql.Stmt {
	st, ok := c.stmts[query]
	if !ok {
		if len(c.stmts) >= maxStatements {
			return nil
		}
		var err error
		if st, err = c.PrepareContext(ctx, query); err != nil {
			return nil
		}
		c.stmts[query] = st
	}
	return st
}

func (c *heldConn) beginTx(ctx context.Context) (*wtx, error) {
	if _, err := c.exec(ctx, "BEGIN IMMEDIATE", nil); err != nil {
		return nil, err
	}
	tx := &wtx{c: c, ctx: ctx}
	tx.t = sqlTables{q: tx, x: tx}
	return tx, nil
}

// close closes the statements and gives the connection back to its pool.
func (c *heldConn) close() error {
	for _, st := range c.stmts {
		st.Close()
	}
	return c.Close()
}

func (c *heldConn) withRows(ctx context.Context, fn func(*sql.Rows) error, query string, args ...any) error {
	rows, err := c.query(ctx, query, args)
	return eachRows(rows, err, fn)
}

func (c *heldConn) withRow(ctx context.Context, fn func(*sql.Row) error, query string, args ...any) error {
	return fn(c.queryRow(ctx, query, args))
}

func (c *heldConn) query(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.QueryContext(ctx, query, args...)
}

func (c *heldConn) queryRow(ctx context.Context, query string, args []any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.QueryRowContext(ctx, query, args...)
}

func (c *heldConn) exec(ctx context.Context, query string, args []any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.ExecContext(ctx, query, args...)
}

// wtx is a write transaction: on a file store's held connection (c), or on the in-memory
// store's maps.
type wtx struct {
	c   *heldConn // nil on the in-memory store and PostgreSQL
	pg  *pgTx     // PostgreSQL's transaction (nil on the other stores)
	s   *Store
	ctx context.Context // the transaction's uncancellable context, used for every statement
	// t is the tables as the transaction sees them.
	t tables
	// written holds the intent rows the transaction wrote, published to the cache on commit.
	written map[string]*intentRow
	// tips is how far it moved the hash chain (chain.go), kept by the store on commit.
	tips txTips
}

func (t *wtx) wrote(row *intentRow) {
	if t.written == nil {
		t.written = map[string]*intentRow{}
	}
	t.written[row.id] = row
}

func (t *wtx) commit() error {
	if t.pg != nil {
		return t.commitPG()
	}
	if t.c == nil {
		t.s.mem.commit()
		return nil
	}
	_, err := t.c.exec(t.ctx, "COMMIT", nil)
	if err != nil {
		t.rollback() // a failed COMMIT may leave the transaction open
		return err
	}
	t.s.tips.committed(&t.tips)
	return nil
}

func (t *wtx) rollback() error {
	if t.pg != nil {
		return t.rollbackPG()
	}
	if t.c == nil {
		t.s.mem.rollback()
		return nil
	}
	_, err := t.c.exec(t.ctx, "ROLLBACK", nil)
	return err
}

// ExecContext runs a prepared statement in the transaction.
func (t *wtx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	return t.c.exec(t.ctx, query, args)
}

func (t *wtx) withRows(_ context.Context, fn func(*sql.Rows) error, query string, args ...any) error {
	return t.c.withRows(t.ctx, fn, query, args...)
}

func (t *wtx) withRow(_ context.Context, fn func(*sql.Row) error, query string, args ...any) error {
	return t.c.withRow(t.ctx, fn, query, args...)
}
