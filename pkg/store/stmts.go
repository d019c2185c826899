package store

import (
	"context"
	"database/sql"
	"sync"
)

// db is a database handle that prepares each distinct query once and reuses the statement
// (SQLite spends a large share of a small query's time parsing it).
type db struct {
	*sql.DB
	stmts   sync.Map // query -> *sql.Stmt
	pending sync.Map // query -> struct{}: seen inside a transaction, to prepare after it
}

// cached returns the prepared statement for query, if there is one.
func (d *db) cached(query string) *sql.Stmt {
	if st, ok := d.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// preparePending prepares the queries first seen inside a transaction. It runs after the
// transaction ends: preparing on the pool while a transaction holds its only connection would
// wait forever.
func (d *db) preparePending(ctx context.Context) {
	d.pending.Range(func(q, _ any) bool {
		d.pending.Delete(q)
		d.stmt(ctx, q.(string)) // a failure here only means the query stays unprepared
		return true
	})
}

func (d *db) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := d.cached(query); st != nil {
		return st, nil
	}
	st, err := d.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryContext runs a cached statement.
func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs a cached statement.
func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return d.DB.QueryRowContext(ctx, query, args...) // reports the error through Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// ExecContext runs a cached statement.
func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// Close closes the cached statements and the database.
func (d *db) Close() error {
	d.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return d.DB.Close()
}

// sqlExec is what *sql.Tx and *sql.Conn have in common.
type sqlExec interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// wtx is a write transaction using prepared statements.
type wtx struct {
	sqlExec // the *sql.Tx, or the held write connection, the transaction runs on
	// stmt returns the prepared statement for query usable in the transaction, or nil.
	stmt     func(query string) *sql.Stmt
	commit   func() error
	rollback func() error
	s        *Store
	ctx      context.Context // the transaction's uncancellable context, used for every statement
	// written holds the intent rows the transaction wrote, published to the cache on commit.
	written map[string]*intentRow
}

func (t *wtx) wrote(row *intentRow) {
	if t.written == nil {
		t.written = map[string]*intentRow{}
	}
	t.written[row.id] = row
}

// beginTx begins a transaction on the pool's connection with database/sql (the in-memory store,
// whose one connection serves reads too). Statements prepared on the pool are bound to it;
// queries first seen in it are prepared after it ends.
func (d *db) beginTx(ctx context.Context) (*wtx, error) {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &wtx{sqlExec: tx, ctx: ctx,
		stmt: func(query string) *sql.Stmt {
			st := d.cached(query)
			if st == nil {
				d.pending.Store(query, struct{}{})
				return nil
			}
			return tx.StmtContext(ctx, st)
		},
		commit:   func() error { defer d.preparePending(ctx); return tx.Commit() },
		rollback: func() error { defer d.preparePending(ctx); return tx.Rollback() },
	}, nil
}

// heldConn is a file store's write connection, held for the store's life: its transactions are
// BEGIN IMMEDIATE and COMMIT statements, which spares database/sql's goroutine per transaction.
// Its use is serialised by Store.writeMu.
type heldConn struct {
	*sql.Conn
	stmts map[string]*sql.Stmt
}

func (c *heldConn) beginTx(ctx context.Context) (*wtx, error) {
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	return &wtx{sqlExec: c.Conn, ctx: ctx,
		stmt: func(query string) *sql.Stmt {
			st, ok := c.stmts[query]
			if !ok {
				var err error
				if st, err = c.PrepareContext(ctx, query); err != nil {
					return nil // the unprepared query reports the error
				}
				c.stmts[query] = st
			}
			return st
		},
		commit: func() error {
			_, err := c.ExecContext(ctx, "COMMIT")
			if err != nil {
				c.ExecContext(ctx, "ROLLBACK") // a failed COMMIT may leave the transaction open
			}
			return err
		},
		rollback: func() error { _, err := c.ExecContext(ctx, "ROLLBACK"); return err },
	}, nil
}

// close closes the statements and gives the connection back to its pool.
func (c *heldConn) close() error {
	for _, st := range c.stmts {
		st.Close()
	}
	return c.Close()
}

// QueryContext runs a prepared statement in the transaction.
func (t *wtx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(query); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.sqlExec.QueryContext(t.ctx, query, args...)
}

// QueryRowContext runs a prepared statement in the transaction.
func (t *wtx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.sqlExec.QueryRowContext(t.ctx, query, args...)
}

// ExecContext runs a prepared statement in the transaction.
func (t *wtx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(query); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.sqlExec.ExecContext(t.ctx, query, args...)
}
