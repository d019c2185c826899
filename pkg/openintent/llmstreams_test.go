package openintent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestStreamCoordinationEvents(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "writer")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "streamed answer"})
	if _, err := c.StartStream(ctx, in.ID, "s-1", "openai", "gpt-4o"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogStreamChunk(ctx, in.ID, "s-1", 0, 12); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteStream(ctx, in.ID, "s-1", "openai", "gpt-4o", 1, 12); err != nil {
		t.Fatal(err)
	}
	ev, err := c.CancelStream(ctx, in.ID, "s-2", "anthropic", "claude", "user closed the tab", 3, 40)
	if err != nil || ev.EventType != openintent.EventStreamCancelled || ev.Actor != "writer" {
		t.Fatalf("cancel: %+v %v", ev, err)
	}
	evs, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]openintent.Object{}
	for _, ev := range evs {
		byType[string(ev.EventType)] = ev.Payload
	}
	if p := byType["stream_started"]; p["stream_id"] != "s-1" || p["status"] != "active" || p["agent_id"] != "writer" || p["intent_id"] != in.ID || p["started_at"] == nil {
		t.Errorf("stream_started: %v", p)
	}
	if p := byType["stream_chunk"]; p["chunk_index"] != float64(0) || p["token_count"] != float64(12) {
		t.Errorf("stream_chunk: %v", p)
	}
	if p := byType["stream_completed"]; p["status"] != "completed" || p["chunks_received"] != float64(1) || p["tokens_streamed"] != float64(12) || p["completed_at"] == nil {
		t.Errorf("stream_completed: %v", p)
	}
	if p := byType["stream_cancelled"]; p["status"] != "cancelled" || p["cancel_reason"] != "user closed the tab" || p["model"] != "claude" || p["tokens_streamed"] != float64(40) {
		t.Errorf("stream_cancelled: %v", p)
	}
	if _, err := c.StartStream(ctx, in.ID, "", "openai", "gpt-4o"); err == nil {
		t.Error("StartStream without a stream id")
	}
	if _, err := c.LogStreamChunk(ctx, in.ID, "s-1", -1, 0); err == nil {
		t.Error("a negative chunk index")
	}
}

func TestEventQueue(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "queue-reader")
	ctx := ctxT(t)
	if _, err := c.CreateEventQueue(ctx, openintent.EventSource{}); err == nil {
		t.Fatal("a queue of nothing")
	}
	if _, err := c.CreateEventQueue(ctx, openintent.EventSource{IntentID: "a", AgentID: "b"}); err == nil {
		t.Fatal("a queue of two sources")
	}
	in := mustCreate(t, c, openintent.IntentCreate{Title: "queued"})
	pf, err := c.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: "queued"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddIntentToPortfolio(ctx, pf.ID, in.ID, "", 0); err != nil {
		t.Fatal(err)
	}
	queues := map[string]*openintent.EventQueue{}
	for name, src := range map[string]openintent.EventSource{"intent": {IntentID: in.ID}, "portfolio": {PortfolioID: pf.ID}, "agent": {AgentID: "queue-reader"}} {
		q, err := c.CreateEventQueue(ctx, src, openintent.WithLastEventID("0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		queues[name] = q
	}
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for name, q := range queues {
		for {
			ev, err := q.Next(ctx)
			if err != nil {
				t.Fatalf("%s queue: %v", name, err)
			}
			if ev.EventType == openintent.EventComment {
				if ev.Payload["n"] != float64(1) || ev.IntentID != in.ID {
					t.Fatalf("%s queue: %+v", name, ev)
				}
				break
			}
		}
	}
	// Nothing more: a deadline ends Next, like the Python SDK's get(timeout) returning None.
	q := queues["intent"]
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := q.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an idle queue: %v", err)
	}
	// After Close, Next reports that the queue is closed.
	q.Close()
	if _, err := q.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after Close: %v", err)
	}
	// A refused stream ends the queue with the server's error.
	bad, err := c.CreateEventQueue(ctx, openintent.EventSource{IntentID: "missing"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Next(ctx); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("queue of a missing intent: %v", err)
	}
}
