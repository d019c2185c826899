package openintent_test

import (
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// WithStreamOpened says when a stream without Last-Event-ID is open: an event appended after the
// call is delivered, although the stream starts with the events appended after it opened.
func TestWithStreamOpened(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "opener")
	ctx := ctxT(t)
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "opened"})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	events, errs := collect(ctx, c.StreamIntentEvents(ctx, in.ID, openintent.WithStreamOpened(func() { close(opened) })))
	select {
	case <-opened:
	case err := <-errs:
		t.Fatal(err)
	}
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.EventType != openintent.EventComment {
			t.Fatalf("first event %s", ev.EventType)
		}
	case err := <-errs:
		t.Fatal(err)
	}
	if _, err := openintent.NewClient(e.url, openintent.WithStreamOpened(nil)); err == nil {
		t.Error("WithStreamOpened(nil) accepted")
	}
}
