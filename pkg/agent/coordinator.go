package agent

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// IntentSpec is one intent of a PortfolioSpec (the Python SDK's IntentSpec).
type IntentSpec struct {
	// Title names the intent; titles are unique within a portfolio and DependsOn refers to them.
	Title       string
	Description string
	// Assign is the agent that does the intent's work, assigned once its dependencies have
	// completed.
	Assign string
	// DependsOn lists the titles of the intents that must complete before this one starts.
	DependsOn []string
	// Constraints and State are the intent's constraints and initial state.
	Constraints openintent.Object
	State       openintent.Object
	// Quorum, when set, makes the intent a vote: its agents are all assigned, each agent's
	// completion is a vote, and the intent completes once the threshold is reached (see
	// OnQuorum). Assign is then not needed.
	Quorum *Quorum
}

// Quorum is a vote among agents (RFC-0013 completion_mode quorum).
type Quorum struct {
	// Agents vote.
	Agents []string
	// Threshold is the share of Agents whose votes complete the intent, rounded up (3 agents at
	// 0.6 need 2), at least one vote; 0 means all of them.
	Threshold float64
}

// PortfolioSpec is a plan of intents with dependencies (the Python SDK's PortfolioSpec), run by
// Coordinator.Execute.
type PortfolioSpec struct {
	Name             string
	Description      string
	Intents          []IntentSpec
	GovernancePolicy openintent.Object
	Metadata         openintent.Object
}

// PortfolioResult is a finished portfolio: its intents by title, in their final state.
type PortfolioResult struct {
	Portfolio *openintent.Portfolio
	Intents   map[string]*openintent.Intent
}

// AllCompleteFunc is called when every intent of a portfolio has completed (OnAllComplete).
type AllCompleteFunc func(ctx context.Context, r *PortfolioResult) error

// QuorumFunc is called when a vote reaches its quorum (OnQuorum), with each voter's result (the
// object its handler returned); the object it returns is merged into the intent's state before
// the coordinator completes it.
type QuorumFunc func(ctx context.Context, w *Work, votes map[string]openintent.Object) (openintent.Object, error)

// OnAllComplete calls fn when every intent of a portfolio a Coordinator executes has completed,
// before Execute returns.
func OnAllComplete(fn AllCompleteFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnAllComplete: fn is nil")
			return
		}
		c.allComplete = append(c.allComplete, fn)
	}
}

// OnQuorum calls fn when a vote (IntentSpec.Quorum) reaches its threshold.
func OnQuorum(fn QuorumFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnQuorum: fn is nil")
			return
		}
		c.quorum = append(c.quorum, fn)
	}
}

// CoordinatorHeartbeat sets how often a Coordinator heartbeats its coordinator lease (whole
// seconds, at least one; the server's default, 60 seconds, without it). The lease expires after a
// few missed heartbeats: a shorter interval lets another coordinator take over sooner.
func CoordinatorHeartbeat(d time.Duration) Option {
	return func(c *config) {
		if d < time.Second {
			c.fail("CoordinatorHeartbeat: must be at least 1s, got %v", d)
			return
		}
		c.coordinatorHeartbeat = d
	}
}

// Coordinator is an agent that runs portfolios (the Python SDK's @Coordinator): Execute creates
// a plan's intents, assigns each to its agent once its dependencies have completed, records each
// decision (RFC-0013), applies quorum rules, and holds the portfolio's coordinator lease while it
// works. Its handlers (OnEscalation, OnStateChange, ...) see the events of the portfolios it
// executes. It may also Run as an agent, e.g. with an OnAssignment handler that calls Execute.
type Coordinator struct {
	*Agent
}

// NewCoordinator returns a coordinator acting as id through client.
func NewCoordinator(client *openintent.Client, id string, opts ...Option) *Coordinator {
	return &Coordinator{Agent: New(client, id, opts...)}
}

// specOrder checks a plan and orders its intents so that each comes after its dependencies.
func specOrder(spec PortfolioSpec) ([]IntentSpec, error) {
	if spec.Name == "" {
		return nil, errors.New("agent: PortfolioSpec: Name is empty")
	}
	if len(spec.Intents) == 0 {
		return nil, errors.New("agent: PortfolioSpec: no intents")
	}
	byTitle := map[string]IntentSpec{}
	for i, s := range spec.Intents {
		switch {
		case s.Title == "":
			return nil, fmt.Errorf("agent: PortfolioSpec: intent %d has no title", i)
		case byTitle[s.Title].Title != "":
			return nil, fmt.Errorf("agent: PortfolioSpec: two intents are titled %q", s.Title)
		case s.Quorum == nil && s.Assign == "":
			return nil, fmt.Errorf("agent: PortfolioSpec: intent %q is assigned to no agent", s.Title)
		case s.Quorum != nil && (len(s.Quorum.Agents) == 0 || s.Quorum.Threshold < 0 || s.Quorum.Threshold > 1):
			return nil, fmt.Errorf("agent: PortfolioSpec: intent %q: a quorum needs agents and a threshold within 0..1", s.Title)
		}
		byTitle[s.Title] = s
	}
	var out []IntentSpec
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(s IntentSpec, path []string) error
	visit = func(s IntentSpec, path []string) error {
		switch state[s.Title] {
		case 1:
			return fmt.Errorf("agent: PortfolioSpec: dependency cycle: %s", strings.Join(append(path, s.Title), " -> "))
		case 2:
			return nil
		}
		state[s.Title] = 1
		for _, d := range s.DependsOn {
			dep, ok := byTitle[d]
			if !ok {
				return fmt.Errorf("agent: PortfolioSpec: intent %q depends on %q, which is not in the plan", s.Title, d)
			}
			if err := visit(dep, append(path, s.Title)); err != nil {
				return err
			}
		}
		state[s.Title] = 2
		out = append(out, s)
		return nil
	}
	for _, s := range spec.Intents {
		if err := visit(s, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quorumNeed is how many votes complete a vote among n agents at threshold: the share rounded
// up, at least one (the server's rule).
func quorumNeed(n int, threshold float64) int {
	if threshold == 0 {
		return n
	}
	share := math.Round(float64(n)*threshold*1e9) / 1e9
	return max(1, int(math.Ceil(share)))
}

// plan is the state of a portfolio being executed.
type plan struct {
	specs    []IntentSpec
	ids      map[string]string // title -> intent id
	titles   map[string]string // intent id -> title
	status   map[string]openintent.IntentStatus
	released map[string]bool
	votes    map[string]map[string]openintent.Object // intent id -> voter -> result
	decided  map[string]bool                         // quorum intents whose completion was decided
}

// Execute runs a portfolio from spec and returns it once every intent has completed: it creates
// the portfolio and its intents (as drafts, with their dependencies), takes the portfolio's
// coordinator lease (heartbeated; if it is lost, Execute stops with an error matching
// openintent.ErrLeaseLost), activates and assigns each intent once its dependencies have
// completed (recording each assignment as a decision), approves the votes of quorum intents and
// completes them at their threshold (OnQuorum), and calls the OnAllComplete handlers. An intent
// that is abandoned fails the portfolio. Execute works whether or not the coordinator Runs.
func (c *Coordinator) Execute(ctx context.Context, spec PortfolioSpec) (*PortfolioResult, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	order, err := specOrder(spec)
	if err != nil {
		return nil, err
	}
	ctx = openintent.NewTrace(ctx)
	p, err := c.client.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: spec.Name, Description: spec.Description,
		GovernancePolicy: spec.GovernancePolicy, Metadata: spec.Metadata})
	if err != nil {
		return nil, err
	}
	var result *PortfolioResult
	err = c.client.WithCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{PortfolioID: p.ID, CoordinatorType: "system",
		HeartbeatIntervalSeconds: int32(c.cfg.coordinatorHeartbeat / time.Second)},
		func(ctx context.Context, lease *openintent.CoordinatorLease) error {
			var err error
			result, err = c.drive(ctx, p, order)
			return err
		})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// drive creates the plan's intents and follows the portfolio until they have all completed.
func (c *Coordinator) drive(ctx context.Context, p *openintent.Portfolio, order []IntentSpec) (*PortfolioResult, error) {
	pl := &plan{specs: order, ids: map[string]string{}, titles: map[string]string{}, status: map[string]openintent.IntentStatus{},
		released: map[string]bool{}, votes: map[string]map[string]openintent.Object{}, decided: map[string]bool{}}
	cursor := int64(-1)
	for _, s := range order {
		deps := make([]string, len(s.DependsOn))
		for i, d := range s.DependsOn {
			deps[i] = pl.ids[d]
		}
		create := openintent.IntentCreate{Title: s.Title, Description: s.Description, Constraints: s.Constraints, State: s.State,
			DependsOn: deps, Status: openintent.StatusDraft}
		if q := s.Quorum; q != nil {
			create.GovernancePolicy = map[string]any{"completion_mode": string(openintent.CompletionQuorum), "quorum_threshold": q.Threshold}
			if q.Threshold == 0 {
				create.GovernancePolicy["quorum_threshold"] = 1.0
			}
		}
		in, err := c.client.CreateIntent(ctx, create)
		if err != nil {
			return nil, err
		}
		if cursor < 0 {
			// The portfolio's stream starts before the first intent's first event.
			evs, err := c.client.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
			if err != nil {
				return nil, err
			}
			cursor = 0
			for _, ev := range evs {
				if cursor == 0 || ev.Sequence-1 < cursor {
					cursor = ev.Sequence - 1
				}
			}
		}
		pl.ids[s.Title], pl.titles[in.ID], pl.status[in.ID] = in.ID, s.Title, in.Status
		if _, err := c.client.AddIntentToPortfolio(ctx, p.ID, in.ID, openintent.RoleMember, 0); err != nil {
			return nil, err
		}
	}
	defer func() {
		c.mu.Lock()
		for id := range pl.titles {
			delete(c.seen, id)
		}
		c.mu.Unlock()
	}()
	events := make(chan openintent.IntentEvent)
	sctx, stop := context.WithCancel(ctx)
	following := make(chan struct{})
	defer func() {
		stop()
		<-following
	}()
	go func() {
		defer close(following)
		c.follow(sctx, "portfolio "+p.ID, func(ctx context.Context, opts ...openintent.Option) iter.Seq2[openintent.IntentEvent, error] {
			return c.client.StreamPortfolioEvents(ctx, p.ID, opts...)
		}, cursor, nil, func(ev openintent.IntentEvent) bool {
			select {
			case events <- ev:
				return false
			case <-sctx.Done():
				return true
			}
		})
	}()
	if err := c.release(ctx, pl); err != nil {
		return nil, err
	}
	for !pl.allCompleted() {
		var ev openintent.IntentEvent
		select {
		case ev = <-events:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		if _, ours := pl.titles[ev.IntentID]; !ours {
			continue
		}
		c.onIntentEvent(ctx, ev) // the coordinator's own handlers
		switch ev.EventType {
		case openintent.EventStatusChanged:
			st := eventStatus(ev)
			pl.status[ev.IntentID] = st
			switch st {
			case openintent.StatusCompleted:
				if err := c.release(ctx, pl); err != nil {
					return nil, err
				}
			case openintent.StatusAbandoned:
				return nil, fmt.Errorf("agent: portfolio %s: intent %q was abandoned", p.ID, pl.titles[ev.IntentID])
			}
		case eventApprovalRequest:
			if err := c.vote(ctx, pl, ev); err != nil {
				return nil, err
			}
		}
	}
	return c.finish(ctx, p, pl)
}

func (pl *plan) allCompleted() bool {
	for _, st := range pl.status {
		if st != openintent.StatusCompleted {
			return false
		}
	}
	return true
}

// release activates and assigns every intent not yet released whose dependencies have all
// completed, recording each assignment as a decision.
func (c *Coordinator) release(ctx context.Context, pl *plan) error {
	for _, s := range pl.specs {
		id := pl.ids[s.Title]
		ready := true
		for _, d := range s.DependsOn {
			ready = ready && pl.status[pl.ids[d]] == openintent.StatusCompleted
		}
		if !ready || pl.released[id] {
			continue
		}
		pl.released[id] = true
		in, err := c.client.GetIntent(ctx, id)
		if err != nil {
			return err
		}
		if in.Status == openintent.StatusDraft {
			if in, err = c.client.SetStatus(ctx, id, in.Version, openintent.StatusActive); err != nil {
				return fmt.Errorf("agent: activate %q: %w", s.Title, err)
			}
		}
		pl.status[id] = in.Status
		agents := []string{s.Assign}
		rationale := "it has no dependencies"
		if len(s.DependsOn) > 0 {
			rationale = "its dependencies have completed: " + strings.Join(s.DependsOn, ", ")
		}
		if s.Quorum != nil {
			agents = s.Quorum.Agents
			rationale += fmt.Sprintf("; %d of %d votes complete it", quorumNeed(len(agents), s.Quorum.Threshold), len(agents))
		}
		for _, agentID := range agents {
			if _, err := c.client.CreateDecisionRecord(ctx, openintent.DecisionRecordCreate{IntentID: id, CoordinatorID: c.id,
				DecisionType: "task_assigned", Summary: fmt.Sprintf("Assigned %q to %s", s.Title, agentID), Rationale: rationale}); err != nil {
				return err
			}
			if _, err := c.client.AssignAgent(ctx, id, agentID); err != nil {
				return fmt.Errorf("agent: assign %q to %s: %w", s.Title, agentID, err)
			}
		}
	}
	return nil
}

// vote handles an approval request on a quorum intent: a voter's completion. The coordinator
// approves it, and once the threshold is reached calls the OnQuorum handlers and completes the
// intent.
func (c *Coordinator) vote(ctx context.Context, pl *plan, ev openintent.IntentEvent) error {
	var s IntentSpec
	for _, spec := range pl.specs {
		if pl.ids[spec.Title] == ev.IntentID {
			s = spec
		}
	}
	if s.Quorum == nil || pl.decided[ev.IntentID] || str(ev.Payload["action"]) != "complete" || !slices.Contains(s.Quorum.Agents, ev.Actor) {
		return nil
	}
	ap, err := c.client.GetApprovalRequest(ctx, ev.IntentID, str(ev.Payload["approval_id"]))
	if err != nil {
		return err
	}
	if _, err := c.client.ApproveApprovalRequest(ctx, ev.IntentID, ap.ID, "vote counted by "+c.id); err != nil {
		return err
	}
	if pl.votes[ev.IntentID] == nil {
		pl.votes[ev.IntentID] = map[string]openintent.Object{}
	}
	vote := ap.Context
	if vote == nil {
		vote = openintent.Object{}
	}
	pl.votes[ev.IntentID][ev.Actor] = vote
	votes := pl.votes[ev.IntentID]
	need := quorumNeed(len(s.Quorum.Agents), s.Quorum.Threshold)
	if len(votes) < need {
		return nil
	}
	pl.decided[ev.IntentID] = true
	in, err := c.client.GetIntent(ctx, ev.IntentID)
	if err != nil {
		return err
	}
	w := c.newWork(in, ev, nil)
	wctx := w.traced(ctx)
	merged := openintent.Object{}
	for _, fn := range c.cfg.quorum {
		out, err := fn(wctx, w, votes)
		if err != nil {
			return fmt.Errorf("agent: OnQuorum for %q: %w", s.Title, err)
		}
		for k, v := range out {
			merged[k] = v
		}
	}
	voters := make([]string, 0, len(votes))
	for v := range votes {
		voters = append(voters, v)
	}
	slices.Sort(voters)
	if _, err := c.client.CreateDecisionRecord(wctx, openintent.DecisionRecordCreate{IntentID: ev.IntentID, CoordinatorID: c.id,
		DecisionType: "quorum_reached", Summary: fmt.Sprintf("%d of %d votes for %q", len(votes), len(s.Quorum.Agents), s.Title),
		Rationale: fmt.Sprintf("votes of %s reach the threshold of %d", strings.Join(voters, ", "), need)}); err != nil {
		return err
	}
	return w.Complete(wctx, merged)
}

// finish reads the completed portfolio, calls the OnAllComplete handlers and marks the portfolio
// completed.
func (c *Coordinator) finish(ctx context.Context, p *openintent.Portfolio, pl *plan) (*PortfolioResult, error) {
	r := &PortfolioResult{Intents: map[string]*openintent.Intent{}}
	for title, id := range pl.ids {
		in, err := c.client.GetIntent(ctx, id)
		if err != nil {
			return nil, err
		}
		r.Intents[title] = in
	}
	for _, fn := range c.cfg.allComplete {
		if err := callSafely(func() error { return fn(ctx, r) }); err != nil {
			return nil, fmt.Errorf("agent: OnAllComplete: %w", err)
		}
	}
	done, err := c.client.UpdatePortfolioStatus(ctx, p.ID, openintent.PortfolioCompleted)
	if err != nil {
		return nil, err
	}
	r.Portfolio = done
	return r, nil
}
