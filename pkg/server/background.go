package server

import (
	"context"
	"errors"
	"sync"

	"github.com/openintent-go/openintent/pkg/store"
)

// loop is a background goroutine started at most once and stopped by close (the webhook
// dispatcher and the trigger engine).
type loop struct {
	startOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// start runs run in its own goroutine, the first time only.
func (l *loop) start(run func(ctx context.Context)) {
	l.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		l.stop, l.done = cancel, make(chan struct{})
		go func() {
			defer close(l.done)
			run(ctx)
		}()
	})
}

// close stops the goroutine and waits for it; a loop never started will not start later.
func (l *loop) close() {
	l.startOnce.Do(func() {})
	if l.stop != nil {
		l.stop()
		<-l.done
	}
}

// kindCursor records how far a reader of the event log got (id = the reader's name; body = the
// last sequence number it handled).
const kindCursor = "cursor"

// loadCursor returns the reader's position; on its first start, the log's end, so it handles
// what happens from now on.
func loadCursor(ctx context.Context, st *store.Store, name string) (int64, error) {
	var cursor int64
	r, err := st.GetRecord(ctx, kindCursor, name)
	if errors.Is(err, store.ErrNotFound) {
		return st.LastSeq(ctx)
	}
	if err != nil {
		return 0, err
	}
	return cursor, r.Decode(&cursor)
}

// ensureCursor stores the reader's position as seq unless it has one: called in the transaction
// that gives a reader its first work (a first subscription, a first event trigger), with the
// log's end read before it, so that the reader, starting later in its own goroutine, still
// handles every event committed after that work.
func ensureCursor(w *store.Writer, name string, seq int64) error {
	if _, err := w.Get(kindCursor, name); !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err := w.Insert(store.Record{Kind: kindCursor, ID: name}, seq)
	return err
}

// saveCursor stores the reader's position in the write transaction.
func saveCursor(w *store.Writer, name string, seq int64) error {
	if err := w.Delete(kindCursor, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err := w.Insert(store.Record{Kind: kindCursor, ID: name}, seq)
	return err
}
