package store

import (
	"context"
	"database/sql"
)

// CheckpointEvery is how many commits a file store makes between background WAL checkpoints.
const CheckpointEvery = 256

// checkpointer copies a file store's WAL into the database file on a connection of its own,
// woken every CheckpointEvery commits, so that commits never wait for it. Its checkpoints are
// PASSIVE: they copy what no reader still needs and never block the writer or readers. The
// writer still checkpoints by itself past 10,000 WAL pages (about 40 MB) should this one fall
// behind.
type checkpointer struct {
	wake    chan struct{}
	done    chan struct{}
	commits int // guarded by Store.writeMu
}

func (s *Store) startCheckpointer(db *sql.DB) {
	db.SetMaxOpenConns(1)
	c := &s.checkpoints
	c.wake, c.done = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(c.done)
		defer db.Close()
		for range c.wake {
			db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)") // a failure waits for the next
		}
	}()
}

// committed counts a commit and wakes the checkpointer every CheckpointEvery of them.
func (s *Store) committed() {
	c := &s.checkpoints
	if c.wake == nil {
		return
	}
	if c.commits++; c.commits%CheckpointEvery == 0 {
		select {
		case c.wake <- struct{}{}:
		default: // one is running; it will take these pages too
		}
	}
}

// stop ends the checkpointer and waits for it.
func (c *checkpointer) stop() {
	if c.wake != nil {
		close(c.wake)
		<-c.done
		c.wake = nil
	}
}
