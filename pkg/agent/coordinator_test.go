package agent_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// dependencyStates reads the state of each intent w's intent depends on, by title.
func dependencyStates(ctx context.Context, w *agent.Work) (map[string]openintent.Object, error) {
	out := map[string]openintent.Object{}
	for _, id := range w.Intent.DependsOn {
		dep, err := w.Client().GetIntent(ctx, id)
		if err != nil {
			return nil, err
		}
		if dep.Status != openintent.StatusCompleted {
			return nil, fmt.Errorf("dependency %q is %s", dep.Title, dep.Status)
		}
		out[dep.Title] = dep.State
	}
	return out, nil
}

// A coordinator runs a portfolio of four intents with dependencies over three agents: each
// intent starts only once its dependencies have completed, and the portfolio finishes with every
// intent's result in place and the coordinator's decisions recorded.
func TestCoordinatorRunsPortfolioWithDependencies(t *testing.T) {
	srv := newServer(t)
	var mu sync.Mutex
	var order []string
	work := func(result func(deps map[string]openintent.Object, w *agent.Work) openintent.Object) agent.WorkFunc {
		return func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			deps, err := dependencyStates(ctx, w)
			if err != nil {
				return nil, agent.Permanent(err)
			}
			mu.Lock()
			order = append(order, w.Intent.Title)
			mu.Unlock()
			return result(deps, w), nil
		}
	}
	researcher := agent.New(srv.Client(t, "researcher"), "researcher", agent.AutoComplete(), agent.Capabilities("research"),
		agent.OnAssignment(work(func(_ map[string]openintent.Object, w *agent.Work) openintent.Object {
			return openintent.Object{"findings": "findings on " + w.Intent.Description}
		})))
	writer := agent.New(srv.Client(t, "writer"), "writer", agent.AutoComplete(),
		agent.OnAssignment(work(func(deps map[string]openintent.Object, w *agent.Work) openintent.Object {
			if w.Intent.Title == "Outline" {
				return openintent.Object{"outline": fmt.Sprintf("outline of [%v] and [%v]", deps["Research"]["findings"], deps["Data"]["findings"])}
			}
			return openintent.Object{"draft": fmt.Sprintf("draft from %v", deps["Outline"]["outline"])}
		})))
	reviewer := agent.New(srv.Client(t, "reviewer"), "reviewer", agent.AutoComplete(),
		agent.OnAssignment(work(func(deps map[string]openintent.Object, w *agent.Work) openintent.Object {
			return openintent.Object{"approved": true, "reviewed": deps["Draft"]["draft"]}
		})))
	for _, a := range []*agent.Agent{researcher, writer, reviewer} {
		start(t, a)
	}
	var all *agent.PortfolioResult
	coord := agent.NewCoordinator(srv.Client(t, "lead"), "lead",
		agent.OnAllComplete(func(ctx context.Context, r *agent.PortfolioResult) error {
			all = r
			return nil
		}))
	res, err := coord.Execute(testContext(t), agent.PortfolioSpec{Name: "report", Intents: []agent.IntentSpec{
		{Title: "Review", Assign: "reviewer", DependsOn: []string{"Draft"}},
		{Title: "Draft", Assign: "writer", DependsOn: []string{"Outline"}},
		{Title: "Outline", Assign: "writer", DependsOn: []string{"Research", "Data"}},
		{Title: "Research", Assign: "researcher", Description: "the market"},
		{Title: "Data", Assign: "researcher", Description: "the numbers"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if all != res {
		t.Error("OnAllComplete was not called with the result")
	}
	want := "draft from outline of [findings on the market] and [findings on the numbers]"
	if got := res.Intents["Review"].State; got["reviewed"] != want || got["approved"] != true {
		t.Errorf("Review state: %v", got)
	}
	for title, in := range res.Intents {
		if in.Status != openintent.StatusCompleted {
			t.Errorf("%s is %s", title, in.Status)
		}
	}
	if res.Portfolio.Status != openintent.PortfolioCompleted {
		t.Errorf("portfolio status %s", res.Portfolio.Status)
	}
	mu.Lock()
	if len(order) != 5 || order[2] != "Outline" || order[3] != "Draft" || order[4] != "Review" {
		t.Errorf("work order %v", order)
	}
	mu.Unlock()
	boss := srv.Client(t, "auditor")
	for title, in := range res.Intents {
		ds, err := boss.ListDecisionRecords(testContext(t), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].DecisionType != "task_assigned" || ds[0].CoordinatorID != "lead" {
			t.Errorf("%s: decisions %+v", title, ds)
		}
	}
	leases, err := boss.ListCoordinatorLeases(testContext(t), openintent.ListCoordinatorLeasesParams{PortfolioID: res.Portfolio.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 1 || leases[0].AgentID != "lead" {
		t.Errorf("coordinator leases %+v", leases)
	}
}

// A vote among three agents completes at its quorum (two of three at 0.6): each voter's
// completion is refused by the intent's completion mode and becomes an approval request, the
// coordinator approves the votes and, at the threshold, calls OnQuorum and completes the intent.
func TestCoordinatorQuorum(t *testing.T) {
	srv := newServer(t)
	for _, id := range []string{"judge-a", "judge-b", "judge-c"} {
		start(t, agent.New(srv.Client(t, id), id, agent.AutoComplete(),
			agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
				return openintent.Object{"verdict_" + id: "ship"}, nil
			})))
	}
	var votes map[string]openintent.Object
	coord := agent.NewCoordinator(srv.Client(t, "chair"), "chair",
		agent.OnQuorum(func(ctx context.Context, w *agent.Work, v map[string]openintent.Object) (openintent.Object, error) {
			votes = v
			return openintent.Object{"decision": "ship", "votes": len(v)}, nil
		}))
	res, err := coord.Execute(testContext(t), agent.PortfolioSpec{Name: "release", Intents: []agent.IntentSpec{
		{Title: "Go/no-go", Quorum: &agent.Quorum{Agents: []string{"judge-a", "judge-b", "judge-c"}, Threshold: 0.6}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := res.Intents["Go/no-go"]
	if in.Status != openintent.StatusCompleted || in.State["decision"] != "ship" || in.State["votes"] != float64(2) {
		t.Fatalf("intent %s %v", in.Status, in.State)
	}
	if len(votes) != 2 {
		t.Fatalf("votes %v", votes)
	}
	for voter, v := range votes {
		if v["verdict_"+voter] != "ship" {
			t.Errorf("vote of %s: %v", voter, v)
		}
	}
	ds, err := srv.Client(t, "auditor").ListDecisionRecords(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{}
	for _, d := range ds {
		types = append(types, d.DecisionType)
	}
	slices.Sort(types)
	if fmt.Sprint(types) != "[quorum_reached task_assigned task_assigned task_assigned]" {
		t.Errorf("decisions %v", types)
	}
}

// A plan with a cycle, an unknown dependency or an unassigned intent is refused before anything
// is created.
func TestCoordinatorRefusesBadPlans(t *testing.T) {
	srv := newServer(t)
	coord := agent.NewCoordinator(srv.Client(t, "lead"), "lead")
	for name, spec := range map[string]agent.PortfolioSpec{
		"cycle":      {Name: "p", Intents: []agent.IntentSpec{{Title: "a", Assign: "x", DependsOn: []string{"b"}}, {Title: "b", Assign: "x", DependsOn: []string{"a"}}}},
		"unknown":    {Name: "p", Intents: []agent.IntentSpec{{Title: "a", Assign: "x", DependsOn: []string{"nope"}}}},
		"unassigned": {Name: "p", Intents: []agent.IntentSpec{{Title: "a"}}},
		"duplicate":  {Name: "p", Intents: []agent.IntentSpec{{Title: "a", Assign: "x"}, {Title: "a", Assign: "y"}}},
	} {
		if _, err := coord.Execute(testContext(t), spec); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	ps, err := srv.Client(t, "lead").ListPortfolios(testContext(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Errorf("bad plans created portfolios: %d", len(ps))
	}
}

// A coordinator that cannot heartbeat its lease (its host is gone) stops: Execute returns an
// error matching openintent.ErrLeaseLost, and no intent is released after that.
func TestCoordinatorStopsWhenItLosesItsLease(t *testing.T) {
	srv := newServer(t)
	host := newCutter()
	started := make(chan struct{})
	start(t, agent.New(srv.Client(t, "slow"), "slow",
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			close(started)
			host.kill()     // the coordinator's host dies while the first intent is worked on
			return nil, nil // never completes the intent
		})))
	coord := agent.NewCoordinator(srv.Client(t, "lead", openintent.WithHTTPClient(host.client()), openintent.WithMaxRetries(0)), "lead",
		agent.CoordinatorHeartbeat(time.Second))
	_, err := coord.Execute(testContext(t), agent.PortfolioSpec{Name: "doomed", Intents: []agent.IntentSpec{
		{Title: "first", Assign: "slow"},
		{Title: "second", Assign: "slow", DependsOn: []string{"first"}},
	}})
	<-started
	if !errors.Is(err, openintent.ErrLeaseLost) {
		t.Fatalf("Execute: %v, want the lease lost", err)
	}
}
