package openintent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// waitReady waits for a stream's WithStreamReady call, failing the test if the stream ends first.
func waitReady(t *testing.T, ready <-chan struct{}, errs <-chan error) {
	t.Helper()
	select {
	case <-ready:
	case err := <-errs:
		t.Fatalf("stream ended before it was ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("stream never ready")
	}
}

// TestWithStreamReady: every stream calls WithStreamReady's fn once it is live, and the event
// (or message) produced right after that call, without any sleep, is delivered.
func TestWithStreamReady(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "watcher")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Ready"})
	pf, err := c.CreatePortfolio(ctxT(t), openintent.PortfolioCreate{Name: "Ready portfolio"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddIntentToPortfolio(ctxT(t), pf.ID, in.ID, openintent.RoleMember, 0); err != nil {
		t.Fatal(err)
	}
	comment := func(t *testing.T) {
		if _, err := c.LogEvent(ctxT(t), in.ID, openintent.EventComment, openintent.Object{"note": "after ready"}); err != nil {
			t.Fatal(err)
		}
	}
	streams := map[string]func(ctx context.Context, opt openintent.Option) func(func(openintent.IntentEvent, error) bool){
		"intent": func(ctx context.Context, opt openintent.Option) func(func(openintent.IntentEvent, error) bool) {
			return c.StreamIntentEvents(ctx, in.ID, opt)
		},
		"agent": func(ctx context.Context, opt openintent.Option) func(func(openintent.IntentEvent, error) bool) {
			return c.StreamAgentEvents(ctx, "watcher", opt)
		},
		"portfolio": func(ctx context.Context, opt openintent.Option) func(func(openintent.IntentEvent, error) bool) {
			return c.StreamPortfolioEvents(ctx, pf.ID, opt)
		},
	}
	for name, open := range streams {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			ready, calls := make(chan struct{}), atomic.Int32{}
			events, errs := collect(ctx, open(ctx, openintent.WithStreamReady(func() {
				if calls.Add(1) == 1 {
					close(ready)
				}
			})))
			waitReady(t, ready, errs)
			comment(t)
			for _, ev := range receive(t, events, errs, 1) {
				if ev.EventType != openintent.EventComment || ev.IntentID != in.ID {
					t.Errorf("first event %s on %s", ev.EventType, ev.IntentID)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("fn called %d times", n)
			}
		})
	}
	t.Run("channel", func(t *testing.T) {
		ch, err := c.CreateChannel(ctxT(t), in.ID, openintent.ChannelCreate{Name: "ready"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		ready := make(chan struct{})
		msgs, errs := make(chan openintent.ChannelMessage, 10), make(chan error, 1)
		go func() {
			for m, err := range c.StreamChannelMessages(ctx, ch.ID, openintent.StreamChannelParams{}, openintent.WithStreamReady(func() { close(ready) })) {
				if err != nil {
					errs <- err
					return
				}
				msgs <- m
			}
		}()
		waitReady(t, ready, errs)
		if _, err := c.Broadcast(ctxT(t), ch.ID, openintent.Object{"hello": true}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			if m.Payload["hello"] != true {
				t.Errorf("message %+v", m)
			}
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(15 * time.Second):
			t.Fatal("no message")
		}
	})
	t.Run("queue", func(t *testing.T) {
		ready := make(chan struct{})
		q, err := c.CreateEventQueue(ctxT(t), openintent.EventSource{IntentID: in.ID}, openintent.WithStreamReady(func() { close(ready) }))
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		waitReady(t, ready, nil)
		comment(t)
		ev, err := q.Next(ctxT(t))
		if err != nil || ev.EventType != openintent.EventComment {
			t.Fatalf("Next: %v, %v", ev.EventType, err)
		}
	})
}

// brokenBody is a stream's body lost right after the server's opening frame (its id).
type brokenBody struct {
	io.ReadCloser
	seen []byte
}

func (b *brokenBody) Read(p []byte) (int, error) {
	if i := bytes.Index(b.seen, []byte("id: ")); i >= 0 && bytes.Contains(b.seen[i:], []byte("\n\n")) {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.ReadCloser.Read(p)
	b.seen = append(b.seen, p[:n]...)
	return n, err
}

// TestWithStreamReadyOnceAcrossReconnections: a stream whose first connection is lost right
// after the server's opening frame reconnects from there; WithStreamOpened hears of both connections,
// WithStreamReady's fn runs once, and the event appended after it is delivered.
func TestWithStreamReadyOnceAcrossReconnections(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "watcher", openintent.WithRetryBackoff(10*time.Millisecond, 20*time.Millisecond))
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Reconnecting"})
	var conns atomic.Int32
	breakFirst := func(req *http.Request, next openintent.MiddlewareNext) (*http.Response, error) {
		resp, err := next(req)
		if err == nil && req.Header.Get("Accept") == "text/event-stream" && conns.Add(1) == 1 {
			resp.Body = &brokenBody{ReadCloser: resp.Body}
		}
		return resp, err
	}
	var ready, opened atomic.Int32
	readyCh := make(chan struct{})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	events, errs := collect(ctx, c.StreamIntentEvents(ctx, in.ID,
		openintent.WithMiddleware(breakFirst),
		openintent.WithStreamOpened(func() { opened.Add(1) }),
		openintent.WithStreamReady(func() {
			ready.Add(1)
			close(readyCh)
		})))
	waitReady(t, readyCh, errs)
	if _, err := c.LogEvent(ctxT(t), in.ID, openintent.EventComment, nil); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, events, errs, 1); got[0].EventType != openintent.EventComment {
		t.Fatalf("got %s", got[0].EventType)
	}
	if r, o, n := ready.Load(), opened.Load(), conns.Load(); r != 1 || o != 2 || n != 2 {
		t.Errorf("ready %d times, opened %d times, %d connections; want 1, 2, 2", r, o, n)
	}
}

// TestWithStreamReadyNotCalledWhenRefused: a stream the server refuses ends with its error and
// never calls fn; a nil fn is refused.
func TestWithStreamReadyNotCalledWhenRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "watcher")
	called := false
	for _, err := range c.StreamIntentEvents(ctxT(t), "no-such-intent", openintent.WithStreamReady(func() { called = true })) {
		if !errors.Is(err, openintent.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
		break
	}
	if called {
		t.Error("fn called for a refused stream")
	}
	for _, err := range c.StreamIntentEvents(ctxT(t), "x", openintent.WithStreamReady(nil)) {
		if !errors.Is(err, openintent.ErrValidation) {
			t.Errorf("nil fn: %v", err)
		}
		break
	}
}
