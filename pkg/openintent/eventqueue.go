package openintent

import (
	"context"
	"errors"
	"iter"
	"sync"
)

// EventSource names what an EventQueue follows: exactly one of an intent, a portfolio (its
// member intents) or an agent.
type EventSource struct {
	IntentID    string
	PortfolioID string
	AgentID     string
}

// EventQueue is a pull-based event subscription (the Python SDK's create_event_queue): a
// background reader follows the stream and Next hands out its events in order. Close it when
// done.
type EventQueue struct {
	items  chan queued
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error // the reason the reader stopped, once items is closed
}

type queued struct {
	ev  IntentEvent
	err error
}

// eventQueueBuffer is how many events the reader reads ahead of Next.
const eventQueueBuffer = 256

// CreateEventQueue starts following src's event stream (StreamIntentEvents,
// StreamPortfolioEvents or StreamAgentEvents, with opts such as WithLastEventID) and returns a
// queue to pull its events from. The reader stops when ctx ends, when the queue is closed, or
// when the server refuses the stream (Next then returns that error).
func (c *Client) CreateEventQueue(ctx context.Context, src EventSource, opts ...Option) (*EventQueue, error) {
	var seq iter.Seq2[IntentEvent, error]
	ctx, cancel := context.WithCancel(ctx)
	n := 0
	for _, id := range []string{src.IntentID, src.PortfolioID, src.AgentID} {
		if id != "" {
			n++
		}
	}
	switch {
	case n != 1:
		cancel()
		return nil, invalidArg("CreateEventQueue", "src", "set exactly one of IntentID, PortfolioID and AgentID")
	case src.IntentID != "":
		seq = c.StreamIntentEvents(ctx, src.IntentID, opts...)
	case src.PortfolioID != "":
		seq = c.StreamPortfolioEvents(ctx, src.PortfolioID, opts...)
	default:
		seq = c.StreamAgentEvents(ctx, src.AgentID, opts...)
	}
	q := &EventQueue{items: make(chan queued, eventQueueBuffer), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(q.done)
		defer close(q.items)
		for ev, err := range seq {
			if err != nil {
				var apiErr *APIError
				if ctx.Err() != nil || errors.As(err, &apiErr) {
					q.err = err // the stream is over
					return
				}
			}
			select {
			case q.items <- queued{ev, err}:
			case <-ctx.Done():
				q.err = ctx.Err()
				return
			}
		}
	}()
	return q, nil
}

// Next returns the next event, waiting until one arrives or ctx ends (ctx's error: use a
// deadline for Python's get(timeout)). A frame of the stream that is no event is returned as
// an error and the queue goes on; once the reader has stopped, Next returns why (the server's
// refusal, or context.Canceled after Close).
func (q *EventQueue) Next(ctx context.Context) (IntentEvent, error) {
	select {
	case it, ok := <-q.items:
		if !ok {
			if q.err == nil {
				return IntentEvent{}, context.Canceled
			}
			return IntentEvent{}, q.err
		}
		return it.ev, it.err
	case <-ctx.Done():
		return IntentEvent{}, ctx.Err()
	}
}

// Close stops the reader and waits for it; events not yet taken are dropped.
func (q *EventQueue) Close() error {
	q.once.Do(func() {
		q.cancel()
		<-q.done
	})
	return nil
}
