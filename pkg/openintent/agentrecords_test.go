package openintent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestAgentLifecycle(t *testing.T) {
	e := newClockEnv(t)
	a := e.client(t, "research-agent")
	b := e.client(t, "writer-agent")
	ctx := ctxT(t)

	rec, err := a.RegisterAgent(ctx, openintent.AgentRegistration{Name: "Research", RoleID: "researcher", Capabilities: []string{"search"},
		HeartbeatConfig: map[string]any{"interval_seconds": 10, "unhealthy_after_seconds": 30, "dead_after_seconds": 120}})
	if err != nil || rec.AgentID != "research-agent" || rec.Status != openintent.AgentActive || rec.Name == nil || *rec.Name != "Research" {
		t.Fatalf("register: %+v %v", rec, err)
	}
	var ce *openintent.ConflictError
	if _, err := a.RegisterAgent(ctx, openintent.AgentRegistration{}); !errors.As(err, &ce) {
		t.Fatalf("duplicate registration: %v", err)
	}
	if _, err := b.RegisterAgent(ctx, openintent.AgentRegistration{Capabilities: []string{"write"}}); err != nil {
		t.Fatal(err)
	}
	hb, err := a.AgentHeartbeat(ctx, "", openintent.AgentHeartbeatCreate{CurrentLoad: 2, TasksInProgress: []string{"t1", "t2"}})
	if err != nil || hb.Status != "ok" || hb.NextHeartbeatAt.Sub(hb.ServerTimestamp.Time) != 10*time.Second {
		t.Fatalf("heartbeat: %+v %v", hb, err)
	}
	var pe *openintent.PermissionError
	if _, err := b.AgentHeartbeat(ctx, "research-agent", openintent.AgentHeartbeatCreate{}); !errors.As(err, &pe) {
		t.Fatalf("heartbeat for another agent: %v", err)
	}
	got, _ := a.GetAgentRecord(ctx, "research-agent")
	if got.LastHeartbeatAt.IsZero() || got.Capacity == nil || got.Capacity["current_load"] != 2.0 {
		t.Fatalf("after heartbeat: %+v", got)
	}

	// Silence: unhealthy after 30 s, dead after 120 s (writer-agent uses the defaults: 90/300 s).
	e.clock.Advance(31 * time.Second)
	if got, _ := a.GetAgentRecord(ctx, "research-agent"); got.Status != openintent.AgentUnhealthy {
		t.Fatalf("after 31 s of silence: %s", got.Status)
	}
	if got, _ := a.GetAgentRecord(ctx, "writer-agent"); got.Status != openintent.AgentActive {
		t.Fatalf("writer after 31 s: %s", got.Status)
	}
	unhealthy, err := a.ListAgents(ctx, openintent.ListAgentsParams{Status: openintent.AgentUnhealthy})
	if err != nil || len(unhealthy) != 1 || unhealthy[0].AgentID != "research-agent" {
		t.Fatalf("unhealthy list: %+v %v", unhealthy, err)
	}
	e.clock.Advance(2 * time.Minute)
	if got, _ := a.GetAgentRecord(ctx, "research-agent"); got.Status != openintent.AgentDead {
		t.Fatalf("after 151 s of silence: %s", got.Status)
	}
	// A heartbeat brings it back.
	if _, err := a.AgentHeartbeat(ctx, "", openintent.AgentHeartbeatCreate{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetAgentRecord(ctx, "research-agent"); got.Status != openintent.AgentActive {
		t.Fatalf("after a heartbeat: %s", got.Status)
	}
	// Explicit statuses stand, and bump the version.
	d, err := b.UpdateAgentStatus(ctx, "writer-agent", openintent.AgentDraining)
	if err != nil || d.Status != openintent.AgentDraining || d.Version != 2 {
		t.Fatalf("drain: %+v %v", d, err)
	}
	for _, tc := range []struct {
		p    openintent.ListAgentsParams
		want int
	}{
		{openintent.ListAgentsParams{}, 2},
		{openintent.ListAgentsParams{Capability: "search"}, 1},
		{openintent.ListAgentsParams{RoleID: "researcher"}, 1},
		{openintent.ListAgentsParams{Status: openintent.AgentDraining}, 1},
	} {
		if got, err := a.ListAgents(ctx, tc.p); err != nil || len(got) != tc.want {
			t.Errorf("ListAgents(%+v) = %d, %v; want %d", tc.p, len(got), err, tc.want)
		}
	}
	if _, err := a.GetAgentRecord(ctx, "nobody"); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
}

func TestKeepAgentAlive(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "busy-agent")
	ctx := ctxT(t)
	if _, err := c.RegisterAgent(ctx, openintent.AgentRegistration{}); err != nil {
		t.Fatal(err)
	}
	load := 0
	hb := c.KeepAgentAlive(ctx, "", 20*time.Millisecond, func() openintent.AgentHeartbeatCreate {
		load++
		return openintent.AgentHeartbeatCreate{CurrentLoad: int32(load)}
	})
	deadline := time.Now().Add(5 * time.Second)
	for hb.Beats() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := hb.Stop(); err != nil || hb.Beats() < 3 {
		t.Fatalf("stop: %v after %d beats", err, hb.Beats())
	}
	beats := hb.Beats()
	rec, _ := c.GetAgentRecord(ctx, "busy-agent")
	if rec.LastHeartbeatAt.IsZero() || rec.Capacity["current_load"].(float64) < 3 {
		t.Fatalf("record after heartbeats: %+v", rec)
	}
	time.Sleep(60 * time.Millisecond)
	if hb.Beats() != beats {
		t.Fatal("heartbeats continued after Stop")
	}
	// Heartbeating an agent that is not registered fails for good and ends the helper.
	ghost := e.client(t, "ghost").KeepAgentAlive(context.Background(), "", time.Millisecond, nil)
	select {
	case <-ghost.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("heartbeat of an unregistered agent kept going")
	}
	if !errors.Is(ghost.Err(), openintent.ErrNotFound) {
		t.Fatalf("ghost: %v", ghost.Err())
	}
}
