package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Stage is where a phase is in a run.
type Stage string

// Stages of a phase.
const (
	// StagePending: phases it depends on have not completed.
	StagePending Stage = "pending"
	// StageWaiting: its claim is deferred (an upstream phase it reads from is suspended).
	StageWaiting Stage = "waiting"
	// StageRunning: assigned to its agent, which is working on it.
	StageRunning Stage = "running"
	// StageRetrying: an attempt failed and the next starts after the retry delay.
	StageRetrying Stage = "retrying"
	// StageSuspended: the agent suspended it awaiting human input (RFC-0025).
	StageSuspended Stage = "suspended"
	// StageBlocked: the intent is blocked.
	StageBlocked Stage = "blocked"
	// StageCompleted: completed, with outputs that satisfy its contract.
	StageCompleted Stage = "completed"
	// StageFailed: failed for good (attempts used up, abandoned, or its I/O contract broken).
	StageFailed Stage = "failed"
)

// PhaseStatus is the state of one phase during a run.
type PhaseStatus struct {
	// Phase is the phase's name; Title its intent's title.
	Phase, Title string
	// IntentID is the phase's intent.
	IntentID string
	// Agent is the agent currently assigned (the phase's, or its fallback).
	Agent string
	// Stage is where the phase is.
	Stage Stage
	// Attempt counts the phase's attempts (1 once started).
	Attempt int
	// Err is why the phase failed or waits, or nil.
	Err error
	// Output is the phase's recorded output once completed.
	Output openintent.Object
}

// Progress is the state of a run, reported after every change.
type Progress struct {
	// PortfolioID is the workflow's portfolio.
	PortfolioID string
	// Phases are the phases, dependencies first.
	Phases []PhaseStatus
	// Done is true on the last report; Err is then why the run failed, or nil.
	Done bool
	// Err is why the run failed.
	Err error
}

// Result is the outcome of a run.
type Result struct {
	// PortfolioID is the workflow's portfolio.
	PortfolioID string
	// Name is the workflow's name.
	Name string
	// IntentIDs maps phase names to their intents.
	IntentIDs map[string]string
	// Outputs maps phase names to their recorded outputs.
	Outputs map[string]openintent.Object
}

// RunOptions configure Run and Execute.
type RunOptions struct {
	// Trigger is the run's trigger payload, read by `$trigger.key` inputs.
	Trigger openintent.Object
	// Progress, when set, is called after every change of a phase (from one goroutine).
	Progress func(Progress)
	// Refresh is how often the run re-reads the portfolio besides reacting to its event stream
	// (default 2s).
	Refresh time.Duration
}

// Run executes the workflow through the client: it creates the portfolio and its intents (see
// Plan), then drives them until every phase completes, as the coordinator of the Python SDK
// does: a phase is handed to its agent (its intent activated and the agent assigned) once the
// phases it depends on have completed and its inputs can be resolved (RFC-0024's claim-time
// check); a completed phase's state is checked against its declared outputs (the
// completion-time check); a failed attempt (a failure recorded on the intent, RFC-0010) is
// retried as the phase's retry policy says, then handed to its fallback agent. Run returns
// when every phase has completed, when one fails for good (the error is then the named
// RFC-0024 error, or says which phase failed and why), or when ctx ends. The workflow's
// governance timeout, if any, bounds the run.
func (w *Workflow) Run(ctx context.Context, c *openintent.Client, opts RunOptions) (*Result, error) {
	if w.Governance != nil && w.Governance.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Governance.Timeout)
		defer cancel()
	}
	plan := w.Plan(PlanOptions{Trigger: opts.Trigger, Coordinator: c.AgentID()})
	ex, err := Create(ctx, c, plan)
	if err != nil {
		return nil, err
	}
	return ex.Follow(ctx, opts)
}

// Execution is a plan whose portfolio and intents exist.
type Execution struct {
	// PortfolioID is the portfolio.
	PortfolioID string
	// IntentIDs maps phase names to intents.
	IntentIDs map[string]string

	c      *openintent.Client
	plan   *Plan
	phases map[string]*phaseRun
}

type phaseRun struct {
	pi       *PlannedIntent
	id       string
	started  bool
	agent    string
	attempts int
	failures int
	checked  bool
	output   openintent.Object
	err      error
	stage    Stage
}

// Create creates the plan's portfolio and intents: the portfolio with the workflow's
// governance policy, then one intent per phase, dependencies first (each naming the intents
// it depends on), each added to the portfolio. Agents are assigned later, by Follow, when each
// phase may start. Channels are created on the first intent.
func Create(ctx context.Context, c *openintent.Client, plan *Plan) (*Execution, error) {
	pf, err := c.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: plan.Name, Description: plan.Description,
		GovernancePolicy: plan.GovernancePolicy, Metadata: plan.Metadata})
	if err != nil {
		return nil, fmt.Errorf("workflow: create portfolio: %w", err)
	}
	ex := &Execution{PortfolioID: pf.ID, IntentIDs: map[string]string{}, c: c, plan: plan, phases: map[string]*phaseRun{}}
	for i, pi := range plan.Intents {
		deps := make([]string, 0, len(pi.DependsOn))
		for _, d := range pi.DependsOn {
			deps = append(deps, ex.IntentIDs[d])
		}
		in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: pi.Title, Description: pi.Description,
			Constraints: pi.Constraints, State: pi.State, DependsOn: deps})
		if err != nil {
			return ex, fmt.Errorf("workflow: phase %q: create intent: %w", pi.Phase, err)
		}
		ex.IntentIDs[pi.Phase] = in.ID
		ex.phases[pi.Phase] = &phaseRun{pi: pi, id: in.ID, agent: pi.Assign, stage: StagePending}
		role := openintent.MembershipRole("member")
		if len(pi.DependsOn) == 0 && i == 0 {
			role = "primary"
		}
		if _, err := c.AddIntentToPortfolio(ctx, pf.ID, in.ID, role, int32(len(plan.Intents)-i)); err != nil {
			return ex, fmt.Errorf("workflow: phase %q: add to portfolio: %w", pi.Phase, err)
		}
		if pi.RetryPolicy != nil {
			if _, err := c.SetRetryPolicy(ctx, in.ID, *pi.RetryPolicy); err != nil {
				return ex, fmt.Errorf("workflow: phase %q: set retry policy: %w", pi.Phase, err)
			}
		}
	}
	if len(plan.Channels) > 0 && len(plan.Intents) > 0 {
		first := ex.IntentIDs[plan.Intents[0].Phase]
		for _, ch := range plan.Channels {
			if _, err := c.CreateChannel(ctx, first, ch.Create()); err != nil {
				return ex, fmt.Errorf("workflow: channel %q: %w", ch.Name, err)
			}
		}
	}
	return ex, nil
}

// Follow drives the execution until every phase completes or one fails for good (see Run).
func (ex *Execution) Follow(ctx context.Context, opts RunOptions) (*Result, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 2 * time.Second
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	failed := map[string]bool{} // intents with new failure records, guarded by the loop
	events := make(chan openintent.IntentEvent, 64)
	go func() {
		defer close(events)
		for ev, err := range ex.c.StreamPortfolioEvents(sctx, ex.PortfolioID, openintent.WithLastEventID("0")) {
			if err != nil {
				if sctx.Err() != nil {
					return
				}
				continue
			}
			select {
			case events <- ev:
			case <-sctx.Done():
				return
			}
		}
	}()
	ticker := time.NewTicker(opts.Refresh)
	defer ticker.Stop()
	var last string
	for {
		done, err := ex.step(ctx, failed)
		clear(failed)
		if opts.Progress != nil {
			p := ex.progress(done, err)
			if key := fmt.Sprint(p); key != last || done {
				last = key
				opts.Progress(p)
			}
		}
		if done {
			status := openintent.PortfolioStatus("completed")
			if err != nil {
				status = "abandoned"
			}
			// The portfolio's status records the outcome; a refusal does not change it.
			_, _ = ex.c.UpdatePortfolioStatus(context.WithoutCancel(ctx), ex.PortfolioID, status)
			if err != nil {
				return ex.result(), err
			}
			return ex.result(), nil
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("workflow: %w", context.Cause(ctx))
			if opts.Progress != nil {
				opts.Progress(ex.progress(true, err))
			}
			return ex.result(), err
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.EventType == openintent.EventFailureRecorded {
				failed[ev.IntentID] = true
			}
			// Drain what else arrived, so a burst of events costs one step.
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if !ok {
						events, more = nil, false
					} else if ev.EventType == openintent.EventFailureRecorded {
						failed[ev.IntentID] = true
					}
				default:
					more = false
				}
			}
		case <-ticker.C:
			for _, ph := range ex.phases {
				if ph.started && ph.stage != StageCompleted {
					failed[ph.id] = true // re-count failures in case an event was missed
				}
			}
		}
	}
}

func (ex *Execution) result() *Result {
	r := &Result{PortfolioID: ex.PortfolioID, Name: ex.plan.Name, IntentIDs: ex.IntentIDs, Outputs: map[string]openintent.Object{}}
	for name, ph := range ex.phases {
		if ph.output != nil {
			r.Outputs[name] = ph.output
		}
	}
	return r
}

func (ex *Execution) progress(done bool, err error) Progress {
	p := Progress{PortfolioID: ex.PortfolioID, Done: done, Err: err}
	for _, pi := range ex.plan.Intents {
		ph := ex.phases[pi.Phase]
		p.Phases = append(p.Phases, PhaseStatus{Phase: pi.Phase, Title: pi.Title, IntentID: ph.id, Agent: ph.agent,
			Stage: ph.stage, Attempt: ph.attempts, Err: ph.err, Output: ph.output})
	}
	return p
}

// step reads the portfolio's intents and moves every phase that can move. done reports the
// end of the run; err why it failed.
func (ex *Execution) step(ctx context.Context, failed map[string]bool) (done bool, err error) {
	intents, _, err := ex.c.GetPortfolioIntents(ctx, ex.PortfolioID)
	if err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("workflow: %w", context.Cause(ctx))
		}
		return false, nil // transient: the next event or refresh tries again
	}
	byID := map[string]*openintent.Intent{}
	for i := range intents {
		byID[intents[i].ID] = &intents[i]
	}
	for _, pi := range ex.plan.Intents {
		ph := ex.phases[pi.Phase]
		in := byID[ph.id]
		if in == nil {
			return true, fmt.Errorf("workflow: phase %q: intent %s left the portfolio", pi.Phase, ph.id)
		}
		switch in.Status {
		case openintent.StatusCompleted:
			if ph.checked {
				continue
			}
			out := Outputs(in.State)
			if err := pi.Contract.CheckOutputs(ph.id, out); err != nil {
				ph.stage, ph.err = StageFailed, err
				ex.recordIOError(ctx, ph.id, err)
				return true, err
			}
			ph.checked, ph.output, ph.stage, ph.err = true, out, StageCompleted, nil
		case openintent.StatusAbandoned:
			ph.stage = StageFailed
			ph.err = fmt.Errorf("phase %q was abandoned", pi.Phase)
			return true, fmt.Errorf("workflow: %w", ph.err)
		case openintent.StatusSuspendedAwaitingInput:
			ph.stage = StageSuspended
		case openintent.StatusBlocked:
			ph.stage = StageBlocked
		default:
			if !ph.started {
				if err := ex.tryStart(ctx, pi, ph, in, byID); err != nil {
					return true, err
				}
				continue
			}
			if failed[ph.id] {
				if err := checkFailures(ctx, ex.c, pi, ph); err != nil {
					return true, err
				}
			}
		}
	}
	// Every phase completed once none is left behind (a phase checked in this step counts).
	for _, ph := range ex.phases {
		if ph.stage != StageCompleted {
			return false, nil
		}
	}
	return true, nil
}

// tryStart hands a phase to its agent once it may start: its dependencies have completed
// (and passed their checks) and its inputs resolve.
func (ex *Execution) tryStart(ctx context.Context, pi *PlannedIntent, ph *phaseRun, in *openintent.Intent, byID map[string]*openintent.Intent) error {
	src := Sources{Upstream: map[string]openintent.Object{}, Trigger: in.State, InitialState: in.State, Statuses: map[string]UpstreamStatus{}}
	ready := true
	for _, d := range pi.DependsOn {
		up := ex.phases[d]
		upIn := byID[up.id]
		src.Statuses[d] = UpstreamStatus{IntentID: up.id, Status: upIn.Status}
		if up.stage != StageCompleted {
			ready = false
			continue
		}
		src.Upstream[d] = up.output
	}
	if !ready {
		// RFC-0026: a phase reading from a suspended upstream phase says so while it waits.
		if _, err := pi.Contract.CheckClaim(ph.id, src); err != nil {
			var susp *UpstreamIntentSuspendedError
			if errors.As(err, &susp) {
				ph.stage, ph.err = StageWaiting, err
				return nil
			}
		}
		ph.stage, ph.err = StagePending, nil
		return nil
	}
	if _, err := pi.Contract.CheckClaim(ph.id, src); err != nil {
		var susp *UpstreamIntentSuspendedError
		if errors.As(err, &susp) {
			ph.stage, ph.err = StageWaiting, err
			return nil
		}
		ph.stage, ph.err = StageFailed, err
		ex.recordIOError(ctx, ph.id, err)
		return err
	}
	// Activate before the governance policy restricts who may write, then hand over.
	if in.Status == openintent.StatusDraft {
		if _, err := ex.c.SetStatus(ctx, ph.id, in.Version, openintent.StatusActive); err != nil && !errors.Is(err, openintent.ErrVersionConflict) {
			return fmt.Errorf("workflow: phase %q: activate: %w", pi.Phase, err)
		}
	}
	if pi.GovernancePolicy != nil {
		err := openintent.RetryOnConflict(ctx, openintent.ConflictBackoff{}, func(ctx context.Context) error {
			cur, err := ex.c.GetIntent(ctx, ph.id)
			if err != nil {
				return err
			}
			_, err = ex.c.SetGovernancePolicy(ctx, ph.id, cur.Version, *pi.GovernancePolicy)
			return err
		})
		if err != nil {
			return fmt.Errorf("workflow: phase %q: set governance policy: %w", pi.Phase, err)
		}
	}
	if _, err := ex.c.AssignAgent(ctx, ph.id, ph.agent); err != nil {
		return fmt.Errorf("workflow: phase %q: assign %s: %w", pi.Phase, ph.agent, err)
	}
	ph.started, ph.attempts, ph.stage, ph.err = true, 1, StageRunning, nil
	return nil
}

// checkFailures reacts to failed attempts (failure records on the intent, RFC-0010). Agents
// retry a phase themselves, as its retry policy says, and hand it to the policy's fallback
// agent when their attempts run out (pkg/agent and ServePhases both do); the run fails once
// the attempts are used up: max_attempts failures (one without a retry policy), and with a
// fallback agent, a failure of the fallback agent too.
func checkFailures(ctx context.Context, c *openintent.Client, pi *PlannedIntent, ph *phaseRun) error {
	fs, err := c.ListFailures(ctx, ph.id)
	if err != nil || len(fs) <= ph.failures {
		return nil
	}
	ph.failures = len(fs)
	last := fs[len(fs)-1]
	byFallback := false
	maxAttempts, fallback := 1, ""
	var retryable []string
	if pi.Retry != nil {
		maxAttempts, fallback, retryable = pi.Retry.MaxAttempts, pi.Retry.FallbackAgent, pi.Retry.RetryableErrors
	}
	for _, f := range fs {
		if f.OccurredAt.After(last.OccurredAt.Time) {
			last = f
		}
		byFallback = byFallback || (fallback != "" && f.AgentID != nil && *f.AgentID == fallback)
	}
	if byFallback {
		ph.agent = fallback
	}
	ph.attempts = len(fs) + 1
	cause := failureError(pi.Phase, last)
	ph.err = cause
	retryable = append(retryable, "") // an error without a type counts as retryable
	exhausted := len(fs) >= maxAttempts || len(retryable) > 1 && !slices.Contains(retryable, last.ErrorType) && !slices.Contains(retryable, last.ErrorCode)
	if !exhausted || fallback != "" && !byFallback {
		ph.stage = StageRetrying
		return nil
	}
	ph.stage = StageFailed
	return fmt.Errorf("workflow: %w (after %d failed attempt(s))", cause, len(fs))
}

// delay is the wait before the attempt after attempt (1-based).
func (r *Retry) delay(attempt int) time.Duration {
	if r == nil || r.InitialDelay <= 0 {
		return 0
	}
	d := r.InitialDelay
	switch r.Backoff {
	case "linear":
		d *= time.Duration(attempt)
	case "exponential":
		for i := 1; i < attempt && d < time.Hour; i++ {
			d *= 2
		}
	}
	if r.MaxDelay > 0 {
		d = min(d, r.MaxDelay)
	}
	return d
}

// recordIOError records a named RFC-0024 error on the intent's log as a failure (RFC-0010),
// its payload in the failure's metadata.
func (ex *Execution) recordIOError(ctx context.Context, intentID string, err error) {
	recordIOError(context.WithoutCancel(ctx), ex.c, intentID, 0, err)
}

type payloader interface {
	Payload() openintent.Object
}

func recordIOError(ctx context.Context, c *openintent.Client, intentID string, attempt int, err error) {
	var p payloader
	if !errors.As(err, &p) {
		return
	}
	payload := p.Payload()
	name, _ := payload["error"].(string)
	_, _ = c.RecordFailure(ctx, intentID, openintent.FailureCreate{ErrorType: name, ErrorCode: name,
		ErrorMessage: err.Error(), AttemptNumber: int32(attempt), Metadata: payload})
}

// failureError turns a failure record into the run's error: the named RFC-0024 error it
// records (rebuilt from its payload), or the failure's type and message.
func failureError(phase string, f openintent.Failure) error {
	m := f.Metadata
	str := func(k string) string { s, _ := m[k].(string); return s }
	list := func(k string) []string {
		var out []string
		l, _ := m[k].([]any)
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	var named error
	switch f.ErrorType {
	case "MissingOutputError":
		named = &MissingOutputError{TaskID: str("task_id"), PhaseName: str("phase_name"), MissingKeys: list("missing_keys")}
	case "OutputTypeMismatchError":
		named = &OutputTypeMismatchError{TaskID: str("task_id"), PhaseName: str("phase_name"), Key: str("key"),
			ExpectedType: str("expected_type"), ActualType: str("actual_type")}
	case "UnresolvableInputError":
		named = &UnresolvableInputError{TaskID: str("task_id"), PhaseName: str("phase_name"), UnresolvableRefs: list("unresolvable_refs")}
	}
	if named != nil && str("phase_name") != "" {
		return fmt.Errorf("phase %q failed: %w", phase, named)
	}
	msg := f.ErrorMessage
	if f.ErrorType != "" && !strings.HasPrefix(msg, f.ErrorType) {
		msg = f.ErrorType + ": " + msg
	}
	return fmt.Errorf("phase %q failed: %s", phase, msg)
}
