package openintent

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Heartbeat keeps an agent record or a coordinator lease alive in the background (see
// KeepAgentAlive, KeepCoordinatorAlive). It ends when its context ends, when Stop is called, or
// when heartbeats fail for good: refused by the server, or failing until what the last one
// bought has run out.
type Heartbeat struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	err   error
	beats int
}

// Done is closed when the heartbeat has ended.
func (h *Heartbeat) Done() <-chan struct{} { return h.done }

// Err is the failure that ended the heartbeat, or nil (still running, or stopped).
func (h *Heartbeat) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Beats is how many heartbeats the server has accepted.
func (h *Heartbeat) Beats() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.beats
}

// Stop ends the heartbeat, waits for it and returns Err.
func (h *Heartbeat) Stop() error {
	h.cancel()
	<-h.done
	return h.Err()
}

// beatFunc sends one heartbeat and says when the next is due and until when this one keeps the
// subject alive.
type beatFunc func(ctx context.Context) (next, aliveUntil time.Time, err error)

// keepAlive beats at once and then whenever the last answer says, retrying transient failures
// until the subject's life runs out.
func keepAlive(ctx context.Context, what string, beat beatFunc) *Heartbeat {
	ctx, cancel := context.WithCancel(ctx)
	h := &Heartbeat{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		defer cancel()
		var aliveUntil time.Time // zero: unknown before the first beat
		wait := time.Duration(0)
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			next, until, err := beat(ctx)
			switch {
			case err == nil:
				h.mu.Lock()
				h.beats++
				h.mu.Unlock()
				aliveUntil = until
				wait = max(time.Until(next), 10*time.Millisecond)
				continue
			case ctx.Err() != nil:
				return
			case isPermanent(err), !aliveUntil.IsZero() && !time.Now().Before(aliveUntil):
				h.mu.Lock()
				h.err = fmt.Errorf("openintent: heartbeat of %s: %w", what, err)
				h.mu.Unlock()
				return
			}
			wait = 250 * time.Millisecond
			if !aliveUntil.IsZero() {
				wait = min(wait, max(time.Until(aliveUntil), time.Millisecond))
			}
		}
	}()
	return h
}

// KeepAgentAlive heartbeats agentID (the client's agent when empty) until ctx ends or Stop, at
// the interval the server asks for, or every interval when it is positive. load, when not nil,
// reports the agent's load with each beat.
func (c *Client) KeepAgentAlive(ctx context.Context, agentID string, interval time.Duration, load func() AgentHeartbeatCreate, opts ...Option) *Heartbeat {
	if agentID == "" {
		agentID = c.settings.agentID
	}
	return keepAlive(ctx, "agent "+agentID, func(ctx context.Context) (time.Time, time.Time, error) {
		var body AgentHeartbeatCreate
		if load != nil {
			body = load()
		}
		sent := time.Now()
		hb, err := c.AgentHeartbeat(ctx, agentID, body, opts...)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		next := hb.NextHeartbeatAt.Time
		if interval > 0 {
			next = sent.Add(interval)
		}
		// The server calls an agent unhealthy after three missed intervals by default.
		return next, sent.Add(3 * next.Sub(sent)), nil
	})
}

// KeepCoordinatorAlive heartbeats a coordinator lease held by the client's agent until ctx ends
// or Stop, every interval (the lease's heartbeat interval when zero), well before the lease
// would expire.
func (c *Client) KeepCoordinatorAlive(ctx context.Context, leaseID string, interval time.Duration, opts ...Option) *Heartbeat {
	return keepAlive(ctx, "coordinator lease "+leaseID, func(ctx context.Context) (time.Time, time.Time, error) {
		sent := time.Now()
		hb, err := c.CoordinatorHeartbeat(ctx, leaseID, opts...)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		next := hb.NextHeartbeatAt.Time
		if interval > 0 {
			next = sent.Add(interval)
		}
		until := next
		if !hb.ExpiresAt.IsZero() {
			until = hb.ExpiresAt.Time
		}
		return next, until, nil
	})
}

// WithCoordinatorLease runs fn as coordinator: it takes the lease, heartbeats it in the
// background, and cancels fn's context with a cause matching ErrLeaseLost if the lease cannot
// be kept (WithCoordinatorLease then returns that error). The heartbeat stops when fn returns.
func (c *Client) WithCoordinatorLease(ctx context.Context, l CoordinatorLeaseCreate, fn func(ctx context.Context, lease *CoordinatorLease) error, opts ...Option) error {
	lease, err := c.CreateCoordinatorLease(ctx, l, opts...)
	if err != nil {
		return err
	}
	workCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hb := c.KeepCoordinatorAlive(workCtx, lease.ID, 0, opts...)
	go func() {
		<-hb.Done()
		if err := hb.Err(); err != nil {
			cancel(fmt.Errorf("%w: coordinator lease %s: %w", ErrLeaseLost, lease.ID, err))
		}
	}()
	ferr := fn(workCtx, lease)
	hb.Stop()
	if cause := context.Cause(workCtx); cause != nil && cause != context.Canceled && ctx.Err() == nil {
		return cause
	}
	return ferr
}
