package openintent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestCoordinatorLeasesAndDecisions(t *testing.T) {
	e := newClockEnv(t)
	c := e.client(t, "coordinator-1")
	other := e.client(t, "intruder")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Launch"})

	l, err := c.CreateCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{IntentID: in.ID, HeartbeatIntervalSeconds: 30,
		Guardrails: map[string]any{"max_budget_usd": 50}})
	if err != nil || l.AgentID != "coordinator-1" || l.Status != "active" || l.Scope != "intent" || l.Role != "coordinator" ||
		l.ExpiresAt.Sub(l.GrantedAt.Time) != 90*time.Second {
		t.Fatalf("lease: %+v %v", l, err)
	}
	if _, err := c.CreateCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{IntentID: "missing"}); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("unknown intent: %v", err)
	}
	if _, err := c.CreateCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{IntentID: in.ID, PortfolioID: "p"}); !isValidation(err, "intent_id") {
		t.Fatalf("both scopes: %v", err)
	}
	// Heartbeats extend it; only its agent may send them.
	e.clock.Advance(60 * time.Second)
	hb, err := c.CoordinatorHeartbeat(ctx, l.ID)
	if err != nil || hb.Status != "ok" || hb.ExpiresAt.IsZero() || hb.ExpiresAt.Sub(e.clock.Now()) != 90*time.Second {
		t.Fatalf("heartbeat: %+v %v", hb, err)
	}
	var pe *openintent.PermissionError
	if _, err := other.CoordinatorHeartbeat(ctx, l.ID); !errors.As(err, &pe) {
		t.Fatalf("heartbeat by another agent: %v", err)
	}
	e.clock.Advance(80 * time.Second)
	if got, _ := c.GetCoordinatorLease(ctx, l.ID); got.Status != "active" || got.LastHeartbeat.IsZero() {
		t.Fatalf("within its life: %+v", got)
	}
	// Silence past expiry: unresponsive, until the next heartbeat.
	e.clock.Advance(20 * time.Second)
	if got, _ := c.GetCoordinatorLease(ctx, l.ID); got.Status != "unresponsive" {
		t.Fatalf("after expiry: %s", got.Status)
	}
	leases, err := c.ListCoordinatorLeases(ctx, openintent.ListCoordinatorLeasesParams{IntentID: in.ID})
	if err != nil || len(leases) != 1 || leases[0].Status != "unresponsive" {
		t.Fatalf("intent leases: %+v %v", leases, err)
	}
	if _, err := c.CoordinatorHeartbeat(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	if all, err := c.ListCoordinatorLeases(ctx, openintent.ListCoordinatorLeasesParams{}); err != nil || len(all) != 1 || all[0].Status != "active" {
		t.Fatalf("all leases: %+v %v", all, err)
	}

	// Decision records are immutable and listed newest first on both paths.
	for _, s := range []string{"Gave research to A", "Re-planned"} {
		if _, err := c.CreateDecisionRecord(ctx, openintent.DecisionRecordCreate{IntentID: in.ID, CoordinatorID: l.ID,
			DecisionType: "task_assigned", Summary: s, Rationale: "capacity", Confidence: 0.8}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateDecisionRecord(ctx, openintent.DecisionRecordCreate{IntentID: in.ID, CoordinatorID: l.ID,
		DecisionType: "x", Summary: "s", Rationale: "r", Confidence: 2}); !isValidation(err, "confidence") {
		t.Fatalf("confidence 2: %v", err)
	}
	recs, err := c.ListDecisionRecords(ctx, in.ID)
	if err != nil || len(recs) != 2 || recs[0].Summary != "Re-planned" || recs[0].Confidence == nil || *recs[0].Confidence != 0.8 {
		t.Fatalf("decision records: %+v %v", recs, err)
	}
	if same, err := c.GetDecisions(ctx, in.ID); err != nil || len(same) != 2 {
		t.Fatalf("get_decisions: %+v %v", same, err)
	}
}

func TestWithCoordinatorLease(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "lead")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Coordinate"})

	var leaseID string
	err := c.WithCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{IntentID: in.ID, HeartbeatIntervalSeconds: 1},
		func(ctx context.Context, l *openintent.CoordinatorLease) error {
			leaseID = l.ID
			time.Sleep(1200 * time.Millisecond) // longer than one interval: a heartbeat must happen
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetCoordinatorLease(ctx, leaseID)
	if err != nil || got.LastHeartbeat.IsZero() || got.Status != "active" {
		t.Fatalf("after the work: %+v %v", got, err)
	}
	// The work's error is returned as is.
	boom := errors.New("boom")
	if err := c.WithCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{IntentID: in.ID},
		func(context.Context, *openintent.CoordinatorLease) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("work error: %v", err)
	}
}
