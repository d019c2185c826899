package store

import (
	"context"
	"time"
)

// TxObserver is told about every write transaction run under a context that carries it (see
// ContextWithTxObserver): the server uses it for its metrics and trace spans. ObserveTx runs
// after the transaction has ended and the write lock is released, on the goroutine that ran it.
type TxObserver interface {
	ObserveTx(ctx context.Context, tx TxTiming)
}

// TxTiming describes one write transaction.
type TxTiming struct {
	// Start is when the transaction was asked for, Locked when it got the store's write lock
	// (transactions run one at a time), End when it had committed or rolled back.
	Start, Locked, End time.Time
	// Committed tells whether it committed; a transaction whose function refused (a conflict,
	// a missing row) rolls back.
	Committed bool
	// File tells a persistent store (a SQLite file, or PostgreSQL) from the in-memory store.
	File bool
	// Postgres tells a PostgreSQL store (File is set too) from a SQLite file.
	Postgres bool
}

type txObserverKey struct{}

// ContextWithTxObserver returns a copy of ctx under which write transactions are reported to o.
func ContextWithTxObserver(ctx context.Context, o TxObserver) context.Context {
	return context.WithValue(ctx, txObserverKey{}, o)
}

func txObserverFrom(ctx context.Context) TxObserver {
	o, _ := ctx.Value(txObserverKey{}).(TxObserver)
	return o
}
