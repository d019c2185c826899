package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Tracker follows a plan whose portfolio another executor drives (pkg/agent's Coordinator,
// which creates the intents and assigns each to its agent once its dependencies have
// completed): fed the plan's intents as they change, it makes the checks Run makes (RFC-0024's
// completion-time check on each completed phase and claim-time check on each phase that may
// start, failures against the phase's retry policy, abandoned phases) and reports progress.
// Observe's error says the run must fail. Its methods are safe for concurrent use.
type Tracker struct {
	mu       sync.Mutex
	c        *openintent.Client
	plan     *Plan
	progress func(Progress)
	phases   map[string]*phaseRun
	byID     map[string]string
	pid      string
	last     string
	failed   error
}

// NewTracker returns a tracker of plan that reads through c and reports to progress (which may
// be nil).
func NewTracker(c *openintent.Client, plan *Plan, progress func(Progress)) *Tracker {
	t := &Tracker{c: c, plan: plan, progress: progress, phases: map[string]*phaseRun{}, byID: map[string]string{}}
	for _, pi := range plan.Intents {
		t.phases[pi.Phase] = &phaseRun{pi: pi, agent: pi.Assign, stage: StagePending}
	}
	return t
}

// PhaseOf returns the plan's phase an intent belongs to (its state's StatePhase, else its
// title), or "".
func (t *Tracker) PhaseOf(in *openintent.Intent) string {
	if s, _ := in.State[StatePhase].(string); s != "" && t.phases[s] != nil {
		return s
	}
	for _, pi := range t.plan.Intents {
		if pi.Title == in.Title {
			return pi.Phase
		}
	}
	return ""
}

// Observe takes an intent of the plan as it is now; failed says a failure was just recorded on
// it. It returns the error that fails the run: a named RFC-0024 error, a phase abandoned, or a
// phase whose attempts are used up. Intents of no phase of the plan are ignored.
func (t *Tracker) Observe(ctx context.Context, in *openintent.Intent, failed bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil {
		return t.failed
	}
	name := t.PhaseOf(in)
	if name == "" {
		return nil
	}
	ph := t.phases[name]
	ph.id = in.ID
	t.byID[in.ID] = name
	if t.pid == "" {
		if pfs, err := t.c.ListIntentPortfolios(ctx, in.ID); err == nil && len(pfs) > 0 {
			t.pid = pfs[0].ID
		}
	}
	err := t.observe(ctx, ph, in, failed)
	if err != nil {
		t.failed = err
	}
	t.report(false, err)
	return err
}

func (t *Tracker) observe(ctx context.Context, ph *phaseRun, in *openintent.Intent, failed bool) error {
	pi := ph.pi
	switch in.Status {
	case openintent.StatusCompleted:
		if ph.checked {
			return nil
		}
		out := Outputs(in.State)
		if err := pi.Contract.CheckOutputs(in.ID, out); err != nil {
			ph.stage, ph.err = StageFailed, err
			recordIOError(context.WithoutCancel(ctx), t.c, in.ID, 0, err)
			return err
		}
		ph.checked, ph.output, ph.stage, ph.err = true, out, StageCompleted, nil
		return t.claimDownstream(ctx, pi.Phase)
	case openintent.StatusAbandoned:
		ph.stage, ph.err = StageFailed, fmt.Errorf("phase %q was abandoned", pi.Phase)
		return fmt.Errorf("workflow: %w", ph.err)
	case openintent.StatusSuspendedAwaitingInput:
		ph.stage = StageSuspended
	case openintent.StatusBlocked:
		ph.stage = StageBlocked
	case openintent.StatusActive:
		if !ph.started {
			ph.started, ph.attempts, ph.stage = true, 1, StageRunning
		}
		if failed {
			return checkFailures(ctx, t.c, pi, ph)
		}
		if ph.stage != StageRetrying {
			ph.stage = StageRunning
		}
	}
	return nil
}

// claimDownstream makes the claim-time check of every phase that may start now that phase has
// completed.
func (t *Tracker) claimDownstream(ctx context.Context, phase string) error {
	for _, pi := range t.plan.Intents {
		ph := t.phases[pi.Phase]
		if ph.started || ph.id == "" || !containsString(pi.DependsOn, phase) {
			continue
		}
		src := Sources{Upstream: map[string]openintent.Object{}}
		ready := true
		for _, d := range pi.DependsOn {
			up := t.phases[d]
			if up.stage != StageCompleted {
				ready = false
				break
			}
			src.Upstream[d] = up.output
		}
		if !ready {
			continue
		}
		in, err := t.c.GetIntent(ctx, ph.id)
		if err != nil {
			return nil // the next observation tries again
		}
		src.Trigger, src.InitialState = in.State, in.State
		if _, err := pi.Contract.CheckClaim(ph.id, src); err != nil {
			var susp *UpstreamIntentSuspendedError
			if errors.As(err, &susp) {
				ph.stage, ph.err = StageWaiting, err
				continue
			}
			ph.stage, ph.err = StageFailed, err
			recordIOError(context.WithoutCancel(ctx), t.c, ph.id, 0, err)
			return err
		}
	}
	return nil
}

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// Finish reports the last progress: the run ended, with err (nil: completed).
func (t *Tracker) Finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && t.failed != nil {
		err = t.failed
	}
	t.report(true, err)
}

// Err returns the error an observation failed the run with, or nil.
func (t *Tracker) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// Result returns what the run produced so far.
func (t *Tracker) Result() *Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &Result{PortfolioID: t.pid, Name: t.plan.Name, IntentIDs: map[string]string{}, Outputs: map[string]openintent.Object{}}
	for name, ph := range t.phases {
		if ph.id != "" {
			r.IntentIDs[name] = ph.id
		}
		if ph.output != nil {
			r.Outputs[name] = ph.output
		}
	}
	return r
}

func (t *Tracker) report(done bool, err error) {
	if t.progress == nil {
		return
	}
	p := Progress{PortfolioID: t.pid, Done: done, Err: err}
	for _, pi := range t.plan.Intents {
		ph := t.phases[pi.Phase]
		p.Phases = append(p.Phases, PhaseStatus{Phase: pi.Phase, Title: pi.Title, IntentID: ph.id, Agent: ph.agent,
			Stage: ph.stage, Attempt: ph.attempts, Err: ph.err, Output: ph.output})
	}
	if key := fmt.Sprint(p); key != t.last || done {
		t.last = key
		t.progress(p)
	}
}
