package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/workflow"
)

// runWorkflow runs a workflow with pkg/agent's Coordinator, as the CLI's agent: the coordinator
// creates the portfolio and the phases' intents, holds the portfolio's coordinator lease,
// activates and assigns each phase once its dependencies have completed and records each
// assignment as a decision (RFC-0013). A workflow.Tracker, fed every event of the portfolio
// through the coordinator's handlers, adds what the workflow format asks for: the I/O checks of
// RFC-0024, failures against each phase's retry policy, the phases' RFC-0010 retry policies
// and governance policies, the workflow's channels, and the live progress.
func runWorkflow(ctx context.Context, c *openintent.Client, w *workflow.Workflow, trigger openintent.Object, progress func(workflow.Progress)) (*workflow.Result, error) {
	if g := w.Governance; g != nil && g.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.Timeout)
		defer cancel()
	}
	plan := w.Plan(workflow.PlanOptions{Trigger: trigger, Coordinator: c.AgentID()})
	tracker := workflow.NewTracker(c, plan, progress)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var mu sync.Mutex
	var setupErr error
	fail := func(err error) {
		mu.Lock()
		if setupErr == nil {
			setupErr = err
		}
		mu.Unlock()
		cancel(err)
	}
	observe := func(ctx context.Context, wk *agent.Work) error {
		failed := wk.Event.EventType == openintent.EventFailureRecorded
		if err := tracker.Observe(ctx, wk.Intent, failed); err != nil {
			cancel(err)
		}
		return nil
	}
	var channels sync.Once
	created := func(ctx context.Context, wk *agent.Work) error {
		pi := plan.Intent(tracker.PhaseOf(wk.Intent))
		if pi == nil {
			return nil
		}
		if pi.RetryPolicy != nil {
			if _, err := c.SetRetryPolicy(ctx, wk.Intent.ID, *pi.RetryPolicy); err != nil {
				fail(fmt.Errorf("phase %q: set retry policy: %w", pi.Phase, err))
			}
		}
		channels.Do(func() {
			for _, ch := range plan.Channels {
				if _, err := c.CreateChannel(ctx, wk.Intent.ID, ch.Create()); err != nil {
					fail(fmt.Errorf("channel %q: %w", ch.Name, err))
				}
			}
		})
		return observe(ctx, wk)
	}
	var governed sync.Map
	assigned := func(ctx context.Context, wk *agent.Work) error {
		pi := plan.Intent(tracker.PhaseOf(wk.Intent))
		if pi != nil && pi.GovernancePolicy != nil {
			if _, done := governed.LoadOrStore(pi.Phase, true); !done {
				// Set once the coordinator has activated the intent: the policy may restrict who
				// writes to it.
				err := openintent.RetryOnConflict(ctx, openintent.ConflictBackoff{}, func(ctx context.Context) error {
					cur, err := c.GetIntent(ctx, wk.Intent.ID)
					if err != nil {
						return err
					}
					_, err = c.SetGovernancePolicy(ctx, cur.ID, cur.Version, *pi.GovernancePolicy)
					return err
				})
				if err != nil {
					fail(fmt.Errorf("phase %q: set governance policy: %w", pi.Phase, err))
				}
			}
		}
		return observe(ctx, wk)
	}
	opts := []agent.Option{agent.Logger(slog.New(slog.DiscardHandler)),
		agent.OnEvent(openintent.EventType("intent_created"), created),
		agent.OnEvent(openintent.EventAgentAssigned, assigned)}
	for _, et := range []openintent.EventType{openintent.EventStatusChanged, openintent.EventStatePatched, openintent.EventFailureRecorded,
		"intent.suspended", "intent.resumed"} {
		opts = append(opts, agent.OnEvent(et, observe))
	}
	spec := agent.PortfolioSpec{Name: plan.Name, Description: plan.Description, GovernancePolicy: plan.GovernancePolicy, Metadata: plan.Metadata}
	for _, pi := range plan.Intents {
		deps := make([]string, 0, len(pi.DependsOn))
		for _, d := range pi.DependsOn {
			deps = append(deps, plan.Intent(d).Title)
		}
		spec.Intents = append(spec.Intents, agent.IntentSpec{Title: pi.Title, Description: pi.Description, Assign: pi.Assign,
			DependsOn: deps, Constraints: pi.Constraints, State: pi.State})
	}
	coord := agent.NewCoordinator(c, c.AgentID(), opts...)
	res, err := coord.Execute(ctx, spec)
	if err == nil && res != nil {
		// Every phase has completed: make sure each passed its completion-time check.
		for _, in := range res.Intents {
			if oerr := tracker.Observe(ctx, in, false); oerr != nil {
				err = oerr
				break
			}
		}
	}
	if err != nil {
		switch {
		case tracker.Err() != nil:
			err = tracker.Err()
		case setupErr != nil:
			err = setupErr
		case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled):
			err = context.Cause(ctx)
		}
		tracker.Finish(err)
		return tracker.Result(), err
	}
	tracker.Finish(nil)
	r := tracker.Result()
	if res.Portfolio != nil {
		r.PortfolioID = res.Portfolio.ID
	}
	return r, nil
}
