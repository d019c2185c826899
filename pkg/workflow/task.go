package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// The agent's side of RFC-0024: an agent handed a phase's intent reads its input with
// ClaimInputs and hands its result back with CompleteTask, or lets ServePhases do both around
// a handler.

// ClaimInputs is the claim-time check an agent makes before working on a phase's intent
// (RFC-0024 §3.1 and §3.2): it reads the contract the executor stored in the intent's state,
// the intents the phase depends on, and resolves the phase's inputs from their recorded
// outputs (`phase.key`) and the intent's own state (`$trigger.key` and `$initial_state.key`,
// projected there when the intent was created). The result is the agent's input (ctx.input);
// an intent without a contract gets an empty one. The error is an *UnresolvableInputError, or
// an *UpstreamIntentSuspendedError while an upstream intent is suspended awaiting input.
func ClaimInputs(ctx context.Context, c *openintent.Client, intent *openintent.Intent) (openintent.Object, error) {
	con, ok := ContractOf(intent)
	if !ok || len(con.Inputs) == 0 {
		return openintent.Object{}, nil
	}
	src := Sources{Upstream: map[string]openintent.Object{}, Trigger: intent.State, InitialState: intent.State,
		Statuses: map[string]UpstreamStatus{}}
	for _, depID := range intent.DependsOn {
		dep, err := c.GetIntent(ctx, depID)
		if err != nil {
			return nil, fmt.Errorf("workflow: read upstream intent %s: %w", depID, err)
		}
		name := con.DepTitleToName[dep.Title]
		if name == "" {
			if s, _ := dep.State[StatePhase].(string); s != "" {
				name = s
			} else {
				name = dep.Title
			}
		}
		src.Statuses[name] = UpstreamStatus{IntentID: dep.ID, Status: dep.Status}
		if dep.Status == openintent.StatusCompleted {
			src.Upstream[name] = Outputs(dep.State)
		}
	}
	return con.CheckClaim(intent.ID, src)
}

// CompleteTask is the completion-time check (RFC-0024 §3.3) and the completion: the output is
// checked against the declared outputs of the intent's phase (an *MissingOutputError or
// *OutputTypeMismatchError leaves the intent running, so that the agent may complete again
// with a corrected output), then written into the intent's state and the intent completed.
func CompleteTask(ctx context.Context, c *openintent.Client, intentID string, output openintent.Object) (*openintent.Intent, error) {
	intent, err := c.GetIntent(ctx, intentID)
	if err != nil {
		return nil, err
	}
	if con, ok := ContractOf(intent); ok {
		if err := con.CheckOutputs(intentID, output); err != nil {
			return nil, err
		}
	}
	var done *openintent.Intent
	err = openintent.RetryOnConflict(ctx, openintent.ConflictBackoff{}, func(ctx context.Context) error {
		cur, err := c.GetIntent(ctx, intentID)
		if err != nil {
			return err
		}
		if len(output) > 0 {
			if cur, err = c.UpdateState(ctx, intentID, cur.Version, output); err != nil {
				return err
			}
			output = nil // written: a conflict below only retries the status change
		}
		if cur.Status == openintent.StatusDraft {
			if cur, err = c.SetStatus(ctx, intentID, cur.Version, openintent.StatusActive); err != nil {
				return err
			}
		}
		done, err = c.SetStatus(ctx, intentID, cur.Version, openintent.StatusCompleted)
		return err
	})
	return done, err
}

// Task is a phase handed to an agent.
type Task struct {
	// Client is the agent's client.
	Client *openintent.Client
	// Intent is the phase's intent, as read when the task started.
	Intent *openintent.Intent
	// Phase is the phase's name.
	Phase string
	// Input is the phase's resolved input (ctx.input).
	Input openintent.Object
	// Attempt counts the attempts at this intent (1 for the first; failed attempts leave failure
	// records).
	Attempt int
}

// PhaseHandler does a phase's work and returns its output, which must satisfy the phase's
// declared outputs.
type PhaseHandler func(ctx context.Context, t *Task) (openintent.Object, error)

// ServePhases serves the phases assigned to the client's agent until ctx ends: for each
// assignment (read from the agent's event stream, replayed from the start so that none made
// before it started is missed) of an intent still to be done, it claims the inputs, runs the
// handler and completes the intent with the handler's output. A failed claim, a handler's
// error and an output that breaks the phase's contract are recorded as failures on the intent
// (RFC-0010; the named RFC-0024 errors with their payloads), which the executor answers by
// retrying or failing the phase. It returns ctx's error, or the stream's when the server
// refuses it.
func ServePhases(ctx context.Context, c *openintent.Client, handler PhaseHandler) error {
	if handler == nil {
		return errors.New("workflow: ServePhases: handler is nil")
	}
	agent := c.AgentID()
	if agent == "" {
		return errors.New("workflow: ServePhases: the client has no agent id (WithAgentID)")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	running := map[string]bool{} // intents being worked on
	again := map[string]bool{}   // intents assigned again while being worked on
	var work func(intentID string)
	work = func(intentID string) {
		defer wg.Done()
		for {
			serveOne(ctx, c, handler, intentID)
			mu.Lock()
			if !again[intentID] || ctx.Err() != nil {
				delete(running, intentID)
				mu.Unlock()
				return
			}
			delete(again, intentID)
			mu.Unlock()
		}
	}
	for ev, err := range c.StreamAgentEvents(ctx, agent, openintent.WithLastEventID("0")) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var apiErr *openintent.APIError
			if errors.As(err, &apiErr) {
				return err
			}
			continue
		}
		if ev.EventType != openintent.EventAgentAssigned {
			continue
		}
		if a, _ := ev.Payload["agent_id"].(string); a != "" && a != agent {
			continue
		}
		mu.Lock()
		if running[ev.IntentID] {
			again[ev.IntentID] = true
			mu.Unlock()
			continue
		}
		running[ev.IntentID] = true
		mu.Unlock()
		wg.Add(1)
		go work(ev.IntentID)
	}
	return ctx.Err()
}

// serveOne works on one assignment of an intent: attempts as the phase's retry policy allows,
// then hands it to the policy's fallback agent.
func serveOne(ctx context.Context, c *openintent.Client, handler PhaseHandler, intentID string) {
	for {
		intent, err := c.GetIntent(ctx, intentID)
		if err != nil || intent.Status == openintent.StatusCompleted || intent.Status == openintent.StatusAbandoned {
			return
		}
		// Only the current assignee works on it (a replayed assignment may be an old one).
		agents, err := c.ListIntentAgents(ctx, intentID)
		if err != nil || !slices.ContainsFunc(agents, func(a openintent.AgentAssignment) bool { return a.AgentID == c.AgentID() }) {
			return
		}
		// Every failed attempt (of any agent) left a failure record.
		attempt := 1
		if fs, err := c.ListFailures(ctx, intentID); err == nil {
			attempt = len(fs) + 1
		}
		err = attemptOnce(ctx, c, handler, intent, attempt)
		if err == nil || ctx.Err() != nil {
			return
		}
		var susp *UpstreamIntentSuspendedError
		if errors.As(err, &susp) {
			return // deferred, not failed: the executor hands it over again later
		}
		r := retryOf(ctx, c, intent)
		retryable := len(r.RetryableErrors) == 0 || slices.Contains(r.RetryableErrors, errorType(err))
		if attempt < r.MaxAttempts && retryable {
			t := time.NewTimer(r.delay(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if r.FallbackAgent != "" && r.FallbackAgent != c.AgentID() {
			_, _ = c.AssignAgent(ctx, intentID, r.FallbackAgent)
		}
		return
	}
}

// attemptOnce claims the inputs, runs the handler and completes the intent; a failure is
// recorded on the intent and returned.
func attemptOnce(ctx context.Context, c *openintent.Client, handler PhaseHandler, intent *openintent.Intent, attempt int) error {
	input, err := ClaimInputs(ctx, c, intent)
	if err != nil {
		var susp *UpstreamIntentSuspendedError
		if !errors.As(err, &susp) {
			recordFailure(ctx, c, intent.ID, attempt, err)
		}
		return err
	}
	phase := intent.Title
	if s, _ := intent.State[StatePhase].(string); s != "" {
		phase = s
	}
	out, err := handler(ctx, &Task{Client: c, Intent: intent, Phase: phase, Input: input, Attempt: attempt})
	if err == nil {
		_, err = CompleteTask(ctx, c, intent.ID, out)
	}
	if err != nil && ctx.Err() == nil {
		recordFailure(ctx, c, intent.ID, attempt, err)
	}
	return err
}

// retryOf reads a phase's retry policy: the workflow's retry section kept in the intent's
// state, else the intent's RFC-0010 policy, else one attempt.
func retryOf(ctx context.Context, c *openintent.Client, intent *openintent.Intent) *Retry {
	r := &Retry{MaxAttempts: 1}
	if m, ok := intent.State["retry_policy"].(map[string]any); ok {
		if n, ok := asFloat(m["max_attempts"]); ok && n >= 1 {
			r.MaxAttempts = int(n)
		}
		r.Backoff, _ = m["backoff"].(string)
		if n, ok := asFloat(m["initial_delay_ms"]); ok {
			r.InitialDelay = time.Duration(n * float64(time.Millisecond))
		}
		if n, ok := asFloat(m["max_delay_ms"]); ok {
			r.MaxDelay = time.Duration(n * float64(time.Millisecond))
		}
		if l, ok := m["retryable_errors"].([]any); ok {
			for _, e := range l {
				if s, ok := e.(string); ok {
					r.RetryableErrors = append(r.RetryableErrors, s)
				}
			}
		}
		r.FallbackAgent, _ = m["fallback_agent"].(string)
		return r
	}
	if p, err := c.GetRetryPolicy(ctx, intent.ID); err == nil && p != nil {
		r.MaxAttempts = int(p.MaxRetries) + 1
		r.Backoff = string(p.Strategy)
		r.InitialDelay, r.MaxDelay = time.Duration(p.BaseDelayMs)*time.Millisecond, time.Duration(p.MaxDelayMs)*time.Millisecond
		r.FallbackAgent = p.FallbackAgentID
	}
	return r
}

// errorType names an error as its failure record does.
func errorType(err error) string {
	var p payloader
	if errors.As(err, &p) {
		name, _ := p.Payload()["error"].(string)
		return name
	}
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		return typed.ErrorType()
	}
	return "handler_error"
}

// recordFailure records a failed attempt: a named RFC-0024 error with its payload, any other
// error with its text.
func recordFailure(ctx context.Context, c *openintent.Client, intentID string, attempt int, err error) {
	var p payloader
	if errors.As(err, &p) {
		recordIOError(ctx, c, intentID, attempt, err)
		return
	}
	_, _ = c.RecordFailure(ctx, intentID, openintent.FailureCreate{ErrorType: errorType(err), ErrorMessage: err.Error(), AttemptNumber: int32(attempt)})
}
