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

// wtx is a write transaction using its database's cached statements.
type wtx struct {
	*sql.Tx
	db  *db
	s   *Store
	ctx context.Context // the transaction's uncancellable context, used for every statement
	// written holds the intent rows the transaction wrote, published to the cache on commit.
	written map[string]*intentRow
}

func (t *wtx) wrote(row *intentRow) {
	if t.written == nil {
		t.written = map[string]*intentRow{}
	}
	t.written[row.id] = row
}

// txStmt returns the transaction's handle on the cached statement for query, or nil (and
// remembers the query) when it is not prepared yet.
func (t *wtx) txStmt(_ context.Context, query string) *sql.Stmt {
	st := t.db.cached(query)
	if st == nil {
		t.db.pending.Store(query, struct{}{})
		return nil
	}
	return t.Tx.StmtContext(t.ctx, st)
}

// QueryContext runs a cached statement in the transaction.
func (t *wtx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.txStmt(t.ctx, query); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.Tx.QueryContext(t.ctx, query, args...)
}

// QueryRowContext runs a cached statement in the transaction.
func (t *wtx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	if st := t.txStmt(t.ctx, query); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.Tx.QueryRowContext(t.ctx, query, args...)
}

// ExecContext runs a cached statement in the transaction.
func (t *wtx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.txStmt(t.ctx, query); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.Tx.ExecContext(t.ctx, query, args...)
}
