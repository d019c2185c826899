package agent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// An agent killed mid-handler (its host gone: it can neither renew nor release its lease, and its
// context is then cancelled) loses its lease; the other agent assigned to the intent waits for
// the lease to expire, takes over and does the work once. The dead agent's late result is never
// written.
func TestKilledAgentsWorkIsTakenOver(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	host := newCutter()
	started := make(chan struct{})
	firstCause := make(chan error, 1)
	first := agent.New(srv.Client(t, "first", openintent.WithHTTPClient(host.client()), openintent.WithMaxRetries(0)), "first",
		agent.AutoComplete(), agent.LeaseDuration(time.Second), agent.DrainTimeout(time.Second),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			close(started)
			<-ctx.Done()
			firstCause <- context.Cause(ctx)
			return openintent.Object{"done_by": "first"}, nil // too late: never written
		}))
	second := newCounter()
	start(t, agent.New(srv.Client(t, "second"), "second", agent.AutoComplete(), agent.LeaseDuration(time.Second),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			second.add(w.Intent.ID)
			return openintent.Object{"done_by": "second"}, nil
		})))
	r := start(t, first)

	in := newIntent(t, boss, "important work")
	assign(t, boss, in.ID, "first")
	<-started
	assign(t, boss, in.ID, "second") // finds the lease held and waits for it
	host.kill()
	if cause := <-firstCause; !errors.Is(cause, openintent.ErrLeaseLost) {
		t.Fatalf("the dead agent's handler ended with %v, want the lease lost", cause)
	}
	if err := r.stop(t); err != nil {
		t.Logf("the dead agent's Run: %v", err)
	}
	waitEvent(t, boss, in.ID, completed)

	got, err := boss.GetIntent(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["done_by"] != "second" {
		t.Fatalf("state %v", got.State)
	}
	if n := second.get(in.ID); n != 1 {
		t.Errorf("the second agent ran %d times", n)
	}
	evs, err := boss.GetEvents(testContext(t), in.ID, openintent.GetEventsParams{EventType: openintent.EventStatePatched})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Actor != "second" {
		t.Errorf("state patches: %d, first by %q", len(evs), evs[0].Actor)
	}
	leases, err := boss.GetLeases(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 2 || leases[0].AgentID != "first" || leases[0].Status != openintent.LeaseExpired || leases[1].AgentID != "second" {
		t.Errorf("leases %+v", leases)
	}
}

// Cutting the agent's streams again and again while intents are assigned loses no event and
// handles none twice: every assignment is handled once, every state change seen once.
func TestStreamCutLosesNoEvent(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	net := newCutter()
	calls, changes := newCounter(), newCounter()
	a := agent.New(srv.Client(t, "steady", openintent.WithHTTPClient(net.client())), "steady", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			calls.add(w.Intent.ID)
			return openintent.Object{"n": w.Intent.Title}, nil
		}),
		agent.OnStateChange([]string{"n"}, func(ctx context.Context, w *agent.Work) error {
			changes.add(w.Intent.ID)
			return nil
		}))
	start(t, a)
	const n = 30
	var ids []string
	for i := range n {
		in := newIntent(t, boss, fmt.Sprint(i))
		ids = append(ids, in.ID)
		assign(t, boss, in.ID, "steady")
		if i%4 == 1 {
			net.cut()
		}
	}
	calls.waitTotal(t, n)
	changes.waitTotal(t, n)
	for _, id := range ids {
		waitEvent(t, boss, id, completed)
	}
	// One more after a last cut: once it is through, anything handled twice would have been.
	net.cut()
	last := newIntent(t, boss, "last")
	assign(t, boss, last.ID, "steady")
	changes.waitTotal(t, n+1)
	for _, id := range append(ids, last.ID) {
		if c, s := calls.get(id), changes.get(id); c != 1 || s != 1 {
			t.Errorf("intent %s: handled %d times, state change seen %d times", id, c, s)
		}
	}
	if opened, cut := net.agents.Load(), net.agentsCut.Load(); cut == 0 || opened < cut+1 {
		t.Errorf("the agent's stream was opened %d times and cut %d times", opened, cut)
	}
	if got := a.LastEventID(); got == "" {
		t.Error("LastEventID is empty")
	}
}
