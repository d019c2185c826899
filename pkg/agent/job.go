package agent

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// job is a work handler running on an intent under a lease: an assignment (fn nil: the
// OnAssignment or OnTrigger handlers), a lease that became available, or a Worker's task.
type job struct {
	key, intentID, scope string
	event                openintent.IntentEvent
	fn                   WorkFunc
	ctx                  context.Context
	cancel               context.CancelCauseFunc
	finishing            atomic.Bool // the handler completed the intent itself
}

// handlerError is an error returned by a work handler (as opposed to one of the runtime's calls).
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// startJob runs fn (nil: the assignment handlers) on an intent under a lease on scope, unless a
// job already does.
func (a *Agent) startJob(intentID, scope string, ev openintent.IntentEvent, fn WorkFunc) {
	key := intentID + "\x00" + scope
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.draining.Load() || a.workCtx == nil {
		return
	}
	if _, busy := a.jobs[key]; busy {
		return
	}
	ctx, cancel := context.WithCancelCause(a.workCtx)
	j := &job{key: key, intentID: intentID, scope: scope, event: ev, fn: fn, ctx: ctx, cancel: cancel}
	a.jobs[key] = j
	a.jobsWG.Add(1)
	go a.runJob(j)
}

func (a *Agent) endJob(j *job) {
	a.mu.Lock()
	if a.jobs[j.key] == j {
		delete(a.jobs, j.key)
	}
	a.mu.Unlock()
	j.cancel(nil)
}

// cancelJobs ends the jobs on an intent with cause; ErrIntentEnded spares a job whose handler
// completed the intent itself.
func (a *Agent) cancelJobs(intentID string, cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, j := range a.jobs {
		if j.intentID == intentID && !(cause == ErrIntentEnded && j.finishing.Load()) {
			j.cancel(cause)
		}
	}
}

// runJob runs a job's attempts: waiting for the lease when another agent holds it, recording
// each failure, retrying as the intent's retry policy says and handing the intent to the
// policy's fallback agent when the retries run out.
func (a *Agent) runJob(j *job) {
	defer a.jobsWG.Done()
	defer a.endJob(j)
	ctx := j.ctx
	after := j.event.Sequence
	var lastErr error
	var policy *openintent.RetryPolicy
	policyRead := false
	for attempt := 1; ; {
		if ctx.Err() != nil || a.draining.Load() {
			return
		}
		err := a.attempt(ctx, j, attempt, lastErr)
		if err == nil {
			return
		}
		var conflict *openintent.LeaseConflictError
		switch {
		case errors.As(err, &conflict):
			var expires time.Time
			if conflict.ExistingLease != nil {
				expires = conflict.ExistingLease.ExpiresAt.Time
			}
			a.log.Debug("agent: lease held by another; waiting", "intent_id", j.intentID, "scope", j.scope)
			if !a.waitLease(ctx, j.intentID, j.scope, &after, expires) {
				return
			}
			continue // the same attempt, once the lease is free
		case ctx.Err() != nil:
			// Unassigned, the intent ended, or the drain deadline passed: the lease is released,
			// the work handed back.
			a.log.Info("agent: work handed back", "intent_id", j.intentID, "cause", context.Cause(ctx))
			return
		case errors.Is(err, openintent.ErrLeaseLost):
			a.log.Warn("agent: lease lost; result discarded", "intent_id", j.intentID, "error", err)
			a.recordFailure(ctx, j.intentID, attempt, "lease_lost", err, time.Time{})
			return
		}
		cause := err
		var he *handlerError
		if errors.As(err, &he) {
			cause = he.err
		}
		var nf *openintent.NotFoundError
		if errors.As(cause, &nf) && !errors.As(err, &he) {
			a.log.Warn("agent: intent gone", "intent_id", j.intentID, "error", err)
			return
		}
		var perm *permanentError
		if errors.As(cause, &perm) {
			if !perm.recorded {
				a.recordFailure(ctx, j.intentID, attempt, "handler_error", perm.err, time.Time{})
			}
			return
		}
		if !policyRead {
			policy, policyRead = a.retryPolicy(ctx, j.intentID), true
		}
		delay, retry := nextDelay(policy, attempt)
		var at time.Time
		if retry {
			at = time.Now().Add(delay)
		}
		a.log.Warn("agent: attempt failed", "intent_id", j.intentID, "attempt", attempt, "retry", retry, "error", cause)
		a.recordFailure(ctx, j.intentID, attempt, "handler_error", cause, at)
		if !retry {
			a.fallback(ctx, j.intentID, policy, attempt, cause)
			return
		}
		if !sleep(ctx, delay) {
			return
		}
		lastErr, attempt = cause, attempt+1
	}
}

// attempt runs a job's handler once: it takes a handler slot and the lease, reads the intent
// (another agent may have done the work before the lease was free), applies the input
// guardrails, runs the handler and writes its result.
func (a *Agent) attempt(ctx context.Context, j *job, attempt int, lastErr error) error {
	if !a.acquire(ctx) {
		return context.Cause(ctx)
	}
	w := a.newWork(nil, j.event, j)
	w.holding = true
	a.active.Add(1)
	defer func() {
		a.active.Add(-1)
		w.releaseSlot()
	}()
	return a.client.WithLease(w.traced(ctx), j.intentID, j.scope, a.cfg.leaseDuration, func(lctx context.Context, lease *openintent.Lease) error {
		in, err := a.client.GetIntent(lctx, j.intentID)
		if err != nil {
			return err
		}
		if terminal(in.Status) {
			return nil // done, by whoever held the lease before
		}
		fn := j.fn
		if fn == nil {
			if fn = a.assignmentHandler(lctx, in); fn == nil {
				return nil
			}
		}
		w.Intent, w.Lease, w.Attempt, w.LastError = in, lease, attempt, lastErr
		w.setLatest(in)
		hctx := w.traced(lctx)
		if attempt == 1 {
			for _, g := range a.cfg.inputGuardrails {
				if gerr := callSafely(func() error { return g(hctx, w) }); gerr != nil {
					a.refuse(hctx, w, "input", gerr)
					return nil
				}
			}
		}
		var out openintent.Object
		herr := callSafely(func() error {
			var err error
			out, err = fn(hctx, w)
			return err
		})
		if herr != nil {
			return &handlerError{herr}
		}
		if cause := context.Cause(lctx); cause != nil {
			return cause // lease lost, unassigned or drained: the result is not written
		}
		if out != nil {
			for _, g := range a.cfg.outputGuardrails {
				if gerr := callSafely(func() error { return g(hctx, w, out) }); gerr != nil {
					a.refuse(hctx, w, "output", gerr)
					return nil
				}
			}
		}
		if a.cfg.autoComplete && !w.isCompleted() && !w.isDelegated() {
			return w.Complete(hctx, out) // writes out, and makes it the vote when completion needs approval
		}
		if out != nil {
			if _, err := w.PatchState(hctx, out); err != nil {
				return err
			}
		}
		return nil
	})
}

// assignmentHandler picks the handler of an assignment: the OnTrigger handlers for an intent a
// trigger created, else the OnAssignment handlers, run one after the other (their results
// merged, later keys winning).
func (a *Agent) assignmentHandler(ctx context.Context, in *openintent.Intent) WorkFunc {
	if trig, ok := strings.CutPrefix(in.CreatedBy, "trigger:"); ok && len(a.cfg.trigger) > 0 {
		name := ""
		if t, err := a.client.GetTrigger(ctx, trig); err == nil {
			name = t.Name
		} else {
			a.log.Debug("agent: read trigger (it may belong to another agent)", "trigger_id", trig, "error", err)
		}
		for _, h := range a.cfg.trigger {
			if h.name == "" || h.name == name || h.name == trig {
				return h.fn
			}
		}
	}
	switch len(a.cfg.assignment) {
	case 0:
		return nil
	case 1:
		return a.cfg.assignment[0]
	}
	return func(ctx context.Context, w *Work) (openintent.Object, error) {
		var merged openintent.Object
		for _, fn := range a.cfg.assignment {
			out, err := fn(ctx, w)
			if err != nil {
				return nil, err
			}
			for k, v := range out {
				if merged == nil {
					merged = openintent.Object{}
				}
				merged[k] = v
			}
		}
		return merged, nil
	}
}

// refuse records a guardrail's refusal on the intent.
func (a *Agent) refuse(ctx context.Context, w *Work, guardrail string, reason error) {
	a.log.Warn("agent: guardrail refused", "intent_id", w.Intent.ID, "guardrail", guardrail, "reason", reason)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := a.client.RecordFailure(rctx, w.Intent.ID, openintent.FailureCreate{AttemptNumber: int32(max(w.Attempt, 1)),
		ErrorType: "guardrail_refused", ErrorMessage: reason.Error(), Metadata: openintent.Object{"guardrail": guardrail}})
	if err != nil {
		a.log.Error("agent: record guardrail refusal", "intent_id", w.Intent.ID, "error", err)
	}
}

// recordFailure records a failed attempt (RFC-0010), even when ctx has ended.
func (a *Agent) recordFailure(ctx context.Context, intentID string, attempt int, kind string, cause error, retryAt time.Time) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	f := openintent.FailureCreate{AttemptNumber: int32(attempt), ErrorType: kind, ErrorMessage: cause.Error()}
	if !retryAt.IsZero() {
		f.RetryScheduledAt = openintent.Timestamp{Time: retryAt}
	}
	if _, err := a.client.RecordFailure(rctx, intentID, f); err != nil {
		a.log.Error("agent: record failure", "intent_id", intentID, "error", err)
	}
}

// retryPolicy reads an intent's retry policy; without one, DefaultRetryPolicy (or nil).
func (a *Agent) retryPolicy(ctx context.Context, intentID string) *openintent.RetryPolicy {
	p, err := a.client.GetRetryPolicy(ctx, intentID)
	if err == nil {
		return p
	}
	var nf *openintent.NotFoundError
	if !errors.As(err, &nf) {
		a.log.Warn("agent: read retry policy", "intent_id", intentID, "error", err)
	}
	return a.cfg.retryPolicy
}

// nextDelay says whether attempt (from 1) is retried under p, and after how long (RFC-0010
// strategies: none, fixed, linear, exponential, capped by max_delay_ms, randomised with jitter).
func nextDelay(p *openintent.RetryPolicy, attempt int) (time.Duration, bool) {
	if p == nil || p.Strategy == "none" || attempt > int(p.MaxRetries) || (p.FailureThreshold > 0 && attempt >= int(p.FailureThreshold)) {
		return 0, false
	}
	base := time.Duration(p.BaseDelayMs) * time.Millisecond
	d := base
	switch p.Strategy {
	case "linear":
		d = base * time.Duration(attempt)
	case "exponential", "":
		d = base << min(attempt-1, 30)
	}
	if p.MaxDelayMs > 0 {
		d = min(d, time.Duration(p.MaxDelayMs)*time.Millisecond)
	}
	if p.Jitter && d > 1 {
		d = d/2 + rand.N(d/2)
	}
	return d, true
}

// fallback hands the intent to the retry policy's fallback agent once retries have run out.
func (a *Agent) fallback(ctx context.Context, intentID string, p *openintent.RetryPolicy, attempts int, cause error) {
	if p == nil || p.FallbackAgentID == "" || p.FallbackAgentID == a.id {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.client.LogEvent(fctx, intentID, "fallback_triggered", openintent.Object{"from_agent_id": a.id,
		"fallback_agent_id": p.FallbackAgentID, "attempts": attempts, "error": cause.Error()}); err != nil {
		a.log.Error("agent: record fallback", "intent_id", intentID, "error", err)
	}
	if _, err := a.client.AssignAgent(fctx, intentID, p.FallbackAgentID); err != nil {
		a.log.Error("agent: assign fallback agent", "intent_id", intentID, "fallback_agent_id", p.FallbackAgentID, "error", err)
	}
}

// waitLease waits until a lease on scope of the intent may be free: it was released, the intent
// ended, or the holder's lease expires. after is the last event of the intent seen, updated.
// It reports false when ctx ended or the agent is draining.
func (a *Agent) waitLease(ctx context.Context, intentID, scope string, after *int64, expires time.Time) bool {
	wctx, cancel := context.WithCancel(ctx)
	free := make(chan struct{}, 1)
	done := make(chan struct{})
	var last atomic.Int64
	last.Store(*after)
	go func() {
		defer close(done)
		a.follow(wctx, "lease "+intentID, func(ctx context.Context, opts ...openintent.Option) iter.Seq2[openintent.IntentEvent, error] {
			return a.client.StreamIntentEvents(ctx, intentID, opts...)
		}, *after, nil, func(ev openintent.IntentEvent) bool {
			last.Store(ev.Sequence)
			released := openintent.EventType(ev.EventType) == openintent.EventLeaseReleased && str(ev.Payload["scope"]) == scope
			if released || terminalEvent(ev) {
				free <- struct{}{}
				return true
			}
			return false
		})
	}()
	wait := a.cfg.leaseDuration
	if !expires.IsZero() {
		wait = min(max(time.Until(expires)+50*time.Millisecond, 10*time.Millisecond), wait)
	}
	t := time.NewTimer(wait)
	ok := true
	select {
	case <-free:
	case <-t.C:
	case <-ctx.Done():
		ok = false
	case <-a.drainStarted():
		ok = false
	}
	t.Stop()
	cancel()
	<-done
	*after = last.Load()
	return ok
}

// terminalEvent reports whether ev moved its intent to a final status.
func terminalEvent(ev openintent.IntentEvent) bool {
	return openintent.EventType(ev.EventType) == openintent.EventStatusChanged && terminal(eventStatus(ev))
}

// eventStatus is the status a status_changed event moved to.
func eventStatus(ev openintent.IntentEvent) openintent.IntentStatus {
	if s := str(ev.Payload["status"]); s != "" {
		return openintent.IntentStatus(s)
	}
	return openintent.IntentStatus(str(ev.Payload["to"]))
}

// drainSignal is a channel closed when the agent starts draining.
type drainSignal struct {
	once sync.Once
	ch   chan struct{}
}

func (d *drainSignal) get() chan struct{} {
	d.once.Do(func() { d.ch = make(chan struct{}) })
	return d.ch
}

func (a *Agent) drainStarted() <-chan struct{} { return a.drainSig.get() }

func (a *Agent) signalDrain() {
	ch := a.drainSig.get()
	a.drainClose.Do(func() { close(ch) })
}
