package openintent_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestLogAndGetEvents(t *testing.T) {
	e := newClockEnv(t)
	c := e.client(t, "logger")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Audited"})
	first, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"note": "one"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Actor != "logger" || first.EventType != "comment" || first.Payload["note"] != "one" || first.IntentID != in.ID {
		t.Fatalf("event = %+v", first)
	}
	e.clock.Advance(time.Minute)
	mid := e.clock.Now()
	second, err := c.LogEvent(ctx, in.ID, "custom_type", nil, openintent.WithTrace("trace-1", first.ID))
	if err != nil {
		t.Fatal(err)
	}
	if second.TraceID != "trace-1" || second.ParentEventID != first.ID || second.EventType != "custom_type" {
		t.Fatalf("traced event = %+v", second)
	}

	all, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != second.ID || all[2].EventType != openintent.EventIntentCreated {
		t.Fatalf("events newest first = %+v", all)
	}
	comments, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: "comment"})
	if err != nil || len(comments) != 1 || comments[0].ID != first.ID {
		t.Fatalf("event_type filter = %+v %v", comments, err)
	}
	since, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{Since: mid.Add(-time.Second)})
	if err != nil || len(since) != 1 || since[0].ID != second.ID {
		t.Fatalf("since filter = %+v %v", since, err)
	}
	page, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{Limit: 1, Offset: 1})
	if err != nil || len(page) != 1 || page[0].ID != first.ID {
		t.Fatalf("limit/offset = %+v %v", page, err)
	}

	var seen []string
	for ev, err := range c.Events(ctx, in.ID, openintent.GetEventsParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev.ID)
	}
	if len(seen) != 3 || seen[0] != second.ID || seen[1] != first.ID {
		t.Fatalf("iterated %v", seen)
	}
	if _, err := c.LogEvent(ctx, "missing", openintent.EventComment, nil); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("event on unknown intent: %v", err)
	}
	if _, err := c.LogEvent(ctx, in.ID, "", nil); err == nil || !strings.Contains(err.Error(), "eventType") {
		t.Fatalf("empty type: %v", err)
	}
}

func TestAssignAndUnassignAgents(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "lead")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Team work"})
	self, err := c.AssignAgent(ctx, in.ID, "")
	if err != nil || self.AgentID != "lead" || self.Role != "worker" {
		t.Fatalf("assign self = %+v %v", self, err)
	}
	if _, err := c.AssignAgent(ctx, in.ID, "helper"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssignAgent(ctx, in.ID, "helper"); err != nil {
		t.Fatalf("assigning twice: %v", err)
	}
	agents, err := c.ListIntentAgents(ctx, in.ID)
	if err != nil || len(agents) != 2 {
		t.Fatalf("agents = %+v %v", agents, err)
	}
	if err := c.UnassignAgent(ctx, in.ID, "helper"); err != nil {
		t.Fatal(err)
	}
	if err := c.UnassignAgent(ctx, in.ID, "helper"); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("unassign twice: %v", err)
	}
	if err := c.UnassignAgent(ctx, in.ID, ""); err != nil {
		t.Fatal(err)
	}
	agents, err = c.ListIntentAgents(ctx, in.ID)
	if err != nil || len(agents) != 0 {
		t.Fatalf("agents after unassign = %+v %v", agents, err)
	}
	types := map[string]int{}
	for ev, err := range c.Events(ctx, in.ID, openintent.GetEventsParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		types[string(ev.EventType)]++
	}
	if types["agent_assigned"] < 2 || types["agent_unassigned"] != 2 {
		t.Fatalf("event types = %v", types)
	}
}

func TestGraphReadsAndDependencies(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "planner")
	ctx := ctxT(t)
	root := mustCreate(t, c, openintent.IntentCreate{Title: "Root"})
	a, err := c.CreateChildIntent(ctx, root.ID, openintent.ChildIntentCreate{Title: "A"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateChildIntent(ctx, root.ID, openintent.ChildIntentCreate{Title: "B", DependsOn: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := c.CreateChildIntent(ctx, a.ID, openintent.ChildIntentCreate{Title: "Leaf"})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(list []openintent.Intent, err error) map[string]bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, in := range list {
			m[in.ID] = true
		}
		return m
	}
	if got := ids(c.GetChildren(ctx, root.ID)); len(got) != 2 || !got[a.ID] || !got[b.ID] {
		t.Fatalf("children = %v", got)
	}
	if got := ids(c.GetDescendants(ctx, root.ID)); len(got) != 3 || !got[leaf.ID] {
		t.Fatalf("descendants = %v", got)
	}
	if got := ids(c.GetAncestors(ctx, leaf.ID)); len(got) != 2 || !got[a.ID] || !got[root.ID] {
		t.Fatalf("ancestors = %v", got)
	}
	if got := ids(c.GetDependencies(ctx, b.ID)); len(got) != 1 || !got[a.ID] {
		t.Fatalf("dependencies = %v", got)
	}
	if got := ids(c.GetDependents(ctx, a.ID)); len(got) != 1 || !got[b.ID] {
		t.Fatalf("dependents = %v", got)
	}
	if got := ids(c.GetReadyIntents(ctx, root.ID)); len(got) != 1 || !got[a.ID] {
		t.Fatalf("ready = %v", got)
	}
	if got := ids(c.GetBlockedIntents(ctx, root.ID)); len(got) != 1 || !got[b.ID] {
		t.Fatalf("blocked = %v", got)
	}
	g, err := c.GetIntentGraph(ctx, root.ID) // walks children and dependencies from the node
	if err != nil {
		t.Fatal(err)
	}
	if g.RootID != root.ID || len(g.Nodes) != 4 || g.AggregateStatus.Total != 4 || len(g.Edges) != 4 {
		t.Fatalf("graph = %+v", g)
	}

	// Dependencies: add, refuse a cycle, remove.
	cur, err := c.GetIntent(ctx, leaf.ID)
	if err != nil {
		t.Fatal(err)
	}
	withDep, err := c.AddDependency(ctx, leaf.ID, cur.Version, b.ID)
	if err != nil || len(withDep.DependsOn) != 1 || withDep.DependsOn[0] != b.ID {
		t.Fatalf("AddDependency = %+v %v", withDep, err)
	}
	bCur, err := c.GetIntent(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddDependency(ctx, b.ID, bCur.Version, leaf.ID); err == nil {
		t.Fatal("cycle b -> leaf -> b accepted")
	}
	if _, err := c.AddDependency(ctx, leaf.ID, cur.Version, a.ID); !errors.Is(err, openintent.ErrVersionConflict) {
		t.Fatalf("stale AddDependency: %v", err)
	}
	without, err := c.RemoveDependency(ctx, leaf.ID, withDep.Version, b.ID)
	if err != nil || len(without.DependsOn) != 0 {
		t.Fatalf("RemoveDependency = %+v %v", without, err)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	// Discovery is public: a client without a key works.
	anon, err := openintent.NewClient(e.url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	doc, err := anon.Discover(ctx)
	if err != nil || doc.Protocol == "" || doc.Version == "" || len(doc.Capabilities) == 0 {
		t.Fatalf("Discover = %+v %v", doc, err)
	}
	compat, err := anon.GetCompatibility(ctx)
	if err != nil || compat.Implementation == "" {
		t.Fatalf("GetCompatibility = %+v %v", compat, err)
	}
	cfg, err := anon.GetServerConfig(ctx)
	if err != nil || cfg.ProtocolVersion == "" {
		t.Fatalf("GetServerConfig = %+v %v", cfg, err)
	}
	_, err = anon.ListIntents(ctx, openintent.ListIntentsParams{})
	var ae *openintent.AuthenticationError
	if !errors.As(err, &ae) || !errors.Is(err, openintent.ErrUnauthenticated) {
		t.Fatalf("ListIntents without key = %v", err)
	}
}

func TestErrorsNeverContainTheAPIKey(t *testing.T) {
	e := newEnv(t)
	const wrong = "sk-wrong-secret-key-123"
	c, err := openintent.NewClient(e.url, openintent.WithAPIKey(wrong), openintent.WithAgentID("a"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetIntent(ctxT(t), "x")
	var ae *openintent.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(string(ae.Body), wrong) {
		t.Fatalf("error leaks the key: %v / %s", err, ae.Body)
	}
	good := e.client(t, "a")
	if _, err := good.GetIntent(ctxT(t), "x"); strings.Contains(err.Error(), e.apiKey) {
		t.Fatalf("error leaks the key: %v", err)
	}
}

func TestLogsNeverContainTheAPIKey(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := e.client(t, "logged", openintent.WithLogger(logger), openintent.WithRetryBackoff(time.Millisecond, time.Millisecond))
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Logged"})
	if _, err := c.UpdateState(ctx, in.ID, 99, openintent.Object{"a": 1}); err == nil {
		t.Fatal("stale update accepted")
	}
	if _, err := c.GetIntent(ctx, "missing"); err == nil {
		t.Fatal("missing intent found")
	}
	if !strings.Contains(buf.String(), "/api/v1/intents") {
		t.Fatalf("nothing logged: %q", buf.String())
	}
	if strings.Contains(buf.String(), e.apiKey) {
		t.Fatalf("the API key appears in the SDK's log:\n%s", buf.String())
	}
}
