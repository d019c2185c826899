package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openintent-go/openintent/pkg/store"
)

// loop is a background goroutine started at most once and stopped by close (the webhook
// dispatcher and the trigger engine).
type loop struct {
	startOnce sync.Once
	started   atomic.Bool
	stop      context.CancelFunc
	done      chan struct{}
}

// start runs run in its own goroutine, the first time only.
func (l *loop) start(run func(ctx context.Context)) {
	l.startOnce.Do(func() {
		l.started.Store(true)
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

// followLog runs pass (a reader's turn: handle the events after its cursor and the work due,
// returning how long until more work is due) again whenever the log grows, kick fires (nil:
// never) or that wait ends, until ctx ends.
func followLog(ctx context.Context, st *store.Store, kick <-chan struct{}, pass func() time.Duration) {
	for {
		woken := st.Watch(store.AnyIntent) // before the pass, so that no append goes unseen
		t := time.NewTimer(pass())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-woken:
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

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

// pinCursor stores the reader's position as the log's end unless it has one, before its loop
// starts: a reader resumed at start without a stored position (a store an older server wrote)
// then handles every event committed after the server started, not only those after its
// goroutine first read the log's end.
func pinCursor(ctx context.Context, st *store.Store, name string) error {
	end, err := st.LastSeq(ctx)
	if err != nil {
		return err
	}
	return st.Write(ctx, func(w *store.Writer) error { return ensureCursor(w, name, end) })
}

// storedCursor returns the reader's stored position, if it has one. Replicas of the server
// sharing a store share their readers' positions: a reader whose position another replica moved
// on starts from there.
func storedCursor(ctx context.Context, st *store.Store, name string) (int64, bool, error) {
	var cursor int64
	r, err := st.GetRecord(ctx, kindCursor, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err == nil {
		err = r.Decode(&cursor)
	}
	return cursor, err == nil, err
}

// errCursorMoved reports that another replica moved a reader's position first (advanceCursor).
var errCursorMoved = errors.New("server: the reader's position was moved by another replica")

// advanceCursor moves the reader's stored position from `from` to `to` in the write transaction,
// as a compare-and-set: errCursorMoved when the stored position is not from (another replica
// handled the events first, and this transaction must not commit). A reader without a stored
// position gets one.
func advanceCursor(w *store.Writer, name string, from, to int64) error {
	r, err := w.Get(kindCursor, name)
	if errors.Is(err, store.ErrNotFound) {
		_, err = w.Insert(store.Record{Kind: kindCursor, ID: name}, to)
		return err
	}
	var cur int64
	if err == nil {
		err = r.Decode(&cur)
	}
	if err != nil {
		return err
	}
	if cur != from {
		return errCursorMoved
	}
	_, err = w.Update(r, to)
	return err
}

// raiseCursor stores seq as the reader's position unless the stored one is already further on
// (positions only move forward, whichever replica writes them).
func raiseCursor(w *store.Writer, name string, seq int64) error {
	r, err := w.Get(kindCursor, name)
	if errors.Is(err, store.ErrNotFound) {
		_, err = w.Insert(store.Record{Kind: kindCursor, ID: name}, seq)
		return err
	}
	var cur int64
	if err == nil {
		err = r.Decode(&cur)
	}
	if err != nil || cur >= seq {
		return err
	}
	_, err = w.Update(r, seq)
	return err
}

// errHandledElsewhere reports background work found done when its transaction checked again:
// another replica sharing the store did it first (a schedule trigger's tick, an event trigger's
// event).
var errHandledElsewhere = errors.New("server: already handled by another replica")

// watchForWork starts the background loops (webhook delivery, triggers, suspension timers,
// federation callbacks) once the store holds work for them that another replica sharing the
// store created (a server starts them itself when its own requests create some, or at start
// when there is some): it looks every interval until all run, so that every replica takes its
// share, and any replica carries on when others stop.
func (s *Server) watchForWork(ctx context.Context, st *store.Store, interval time.Duration) {
	type work struct {
		l             *loop
		startIfNeeded func(context.Context) error
	}
	works := []work{
		{&s.webhooks.loop, func(ctx context.Context) error {
			rs, err := st.ListRecords(ctx, store.Query{Kind: kindSubscription, Limit: 1})
			if err == nil && len(rs) > 0 {
				s.webhooks.start()
			}
			return err
		}},
		{&s.triggers.loop, s.triggers.startIfNeeded},
		{&s.timers.loop, s.timers.startIfNeeded},
	}
	if s.fed.enabled() {
		works = append(works, work{&s.fed.loop, s.fed.startIfNeeded})
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		waiting := 0
		for _, w := range works {
			if !w.l.started.Load() {
				waiting++
			}
		}
		if waiting == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, w := range works {
			if !w.l.started.Load() {
				w.startIfNeeded(ctx) // an error: looked at again at the next tick
			}
		}
	}
}
