package server

import (
	"context"
	"fmt"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// kindCoordinator is the record kind of RFC-0013 coordinator leases (parent = intent or
// portfolio, ref = the agent).
const kindCoordinator = "coordinator_lease"

// missedBeats is how many heartbeat intervals a coordinator lease outlives its last heartbeat.
const missedBeats = 3

// coordinatorView derives a lease's status at now: an active lease past expires_at is
// unresponsive.
func coordinatorView(l models.CoordinatorLease, now time.Time) models.CoordinatorLease {
	if l.Status == "active" && !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt.Time) {
		l.Status = "unresponsive"
	}
	return l
}

func (h *handlers) CreateCoordinatorLease(ctx context.Context, req genserver.CreateCoordinatorLeaseRequestObject) (genserver.CreateCoordinatorLeaseResponseObject, error) {
	b := req.Body
	if (b.IntentID == "") == (b.PortfolioID == "") {
		return nil, validationFailed("intent_id", "give exactly one of intent_id and portfolio_id")
	}
	if err := h.authorize(ctx, b.IntentID, models.PermissionWrite); err != nil {
		return nil, err
	}
	if b.PortfolioID != "" {
		if err := h.access.authorizeObject(ctx, objPortfolio, b.PortfolioID, agentFrom(ctx), owner); err != nil {
			return nil, err
		}
	}
	l := models.CoordinatorLease{AgentID: b.AgentID, Role: b.Role, SupervisorID: orNull(b.SupervisorID), CoordinatorType: b.CoordinatorType,
		Scope: b.Scope, Status: "active", Guardrails: b.Guardrails, HeartbeatIntervalSeconds: b.HeartbeatIntervalSeconds,
		Version: 1, LeaseMetadata: orEmpty(b.Metadata), SuspensionPolicy: b.SuspensionPolicy}
	if l.SuspensionPolicy == "" {
		l.SuspensionPolicy = models.CoordinatorSuspensionPolicyIsolate // RFC-0026 §3
	}
	if l.AgentID == "" {
		l.AgentID = agentFrom(ctx)
	}
	if l.Role == "" {
		l.Role = "coordinator"
	}
	if l.CoordinatorType == "" {
		l.CoordinatorType = "llm"
	}
	if l.HeartbeatIntervalSeconds <= 0 {
		l.HeartbeatIntervalSeconds = 60
	}
	parent := b.IntentID
	if b.IntentID != "" {
		l.IntentID = &b.IntentID
		if l.Scope == "" {
			l.Scope = "intent"
		}
	} else {
		parent = b.PortfolioID
		l.PortfolioID = &b.PortfolioID
		if l.Scope == "" {
			l.Scope = "portfolio"
		}
	}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if l.IntentID != nil {
			if _, err := w.Intent(*l.IntentID); err != nil {
				return err
			}
		} else if _, err := w.Get(kindPortfolio, *l.PortfolioID); err != nil {
			return err
		}
		l.ID, l.GrantedAt = store.NewID(), w.Timestamp()
		l.ExpiresAt = b.ExpiresAt
		if l.ExpiresAt.IsZero() {
			l.ExpiresAt = timestamp.New(w.Now().Add(missedBeats * time.Duration(l.HeartbeatIntervalSeconds) * time.Second))
		} else if !l.ExpiresAt.After(w.Now()) {
			return validationFailed("expires_at", "must be in the future")
		}
		_, err := w.Insert(store.Record{Kind: kindCoordinator, ID: l.ID, Parent: parent, Ref: l.AgentID}, l)
		if err != nil || l.IntentID == nil {
			return err
		}
		_, err = w.AppendEvent(*l.IntentID, "coordinator.granted", agentFrom(ctx), models.Object{"lease_id": l.ID, "agent_id": l.AgentID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateCoordinatorLease200JSONResponse(l), nil
}

func (h *handlers) GetCoordinatorLease(ctx context.Context, req genserver.GetCoordinatorLeaseRequestObject) (genserver.GetCoordinatorLeaseResponseObject, error) {
	l, err := store.Get[models.CoordinatorLease](ctx, h.store, kindCoordinator, req.LeaseID)
	if err != nil {
		return nil, err
	}
	return genserver.GetCoordinatorLease200JSONResponse(coordinatorView(l, h.store.Now())), nil
}

// coordinatorLeases lists the leases on parent (every lease when empty) with derived statuses.
func (h *handlers) coordinatorLeases(ctx context.Context, parent string) ([]models.CoordinatorLease, error) {
	ls, err := store.List[models.CoordinatorLease](ctx, h.store, store.Query{Kind: kindCoordinator, Parent: parent})
	now := h.store.Now()
	for i := range ls {
		ls[i] = coordinatorView(ls[i], now)
	}
	return ls, err
}

func (h *handlers) ListCoordinatorLeases(ctx context.Context, req genserver.ListCoordinatorLeasesRequestObject) (genserver.ListCoordinatorLeasesResponseObject, error) {
	p := req.Params
	if p.IntentID != "" && p.PortfolioID != "" {
		return nil, validationFailed("portfolio_id", "give at most one of intent_id and portfolio_id")
	}
	ls, err := h.coordinatorLeases(ctx, p.IntentID+p.PortfolioID)
	if err != nil {
		return nil, err
	}
	out := ls[:0]
	for _, l := range ls {
		if l.IntentID != nil {
			if ok, err := h.mayRead(ctx, *l.IntentID); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
		}
		out = append(out, l)
	}
	return genserver.ListCoordinatorLeases200JSONResponse(out), nil
}

func (h *handlers) ListIntentCoordinatorLeases(ctx context.Context, req genserver.ListIntentCoordinatorLeasesRequestObject) (genserver.ListIntentCoordinatorLeasesResponseObject, error) {
	ls, err := h.coordinatorLeases(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentCoordinatorLeases200JSONResponse(ls), nil
}

// CoordinatorHeartbeat extends the lease by missedBeats intervals from now; an unresponsive
// lease becomes active again. Only the lease's agent may heartbeat it.
func (h *handlers) CoordinatorHeartbeat(ctx context.Context, req genserver.CoordinatorHeartbeatRequestObject) (genserver.CoordinatorHeartbeatResponseObject, error) {
	var out models.CoordinatorHeartbeat
	err := h.store.Write(ctx, func(w *store.Writer) error {
		_, err := store.Modify(w, kindCoordinator, req.LeaseID, 0, func(l *models.CoordinatorLease, _ *store.Record) error {
			if caller := agentFrom(ctx); caller != l.AgentID {
				return forbidden("forbidden", fmt.Sprintf("Coordinator lease %s belongs to %s; %s may not heartbeat it", l.ID, l.AgentID, caller))
			}
			interval := time.Duration(l.HeartbeatIntervalSeconds) * time.Second
			l.LastHeartbeat = w.Timestamp()
			l.ExpiresAt = timestamp.New(w.Now().Add(missedBeats * interval))
			expires := l.ExpiresAt
			out = models.CoordinatorHeartbeat{Status: "ok", NextHeartbeatAt: timestamp.New(w.Now().Add(interval)), ExpiresAt: expires}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CoordinatorHeartbeat200JSONResponse(out), nil
}

func (h *handlers) CreateDecisionRecord(ctx context.Context, req genserver.CreateDecisionRecordRequestObject) (genserver.CreateDecisionRecordResponseObject, error) {
	b := req.Body
	if b.Confidence < 0 || b.Confidence > 1 {
		return nil, validationFailed("confidence", "must be between 0 and 1")
	}
	if err := h.authorize(ctx, b.IntentID, models.PermissionWrite); err != nil {
		return nil, err
	}
	confidence := b.Confidence
	d := models.DecisionRecord{CoordinatorID: b.CoordinatorID, IntentID: b.IntentID, DecisionType: b.DecisionType, Summary: b.Summary,
		Rationale: b.Rationale, AlternativesConsidered: nonNil(b.AlternativesConsidered), Confidence: &confidence}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(d.IntentID); err != nil {
			return err
		}
		d.ID, d.Timestamp = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindDecision, ID: d.ID, Parent: d.IntentID}, d); err != nil {
			return err
		}
		_, err := w.AppendEvent(d.IntentID, string(models.EventTypeDecisionRecorded), agentFrom(ctx),
			models.Object{"decision_id": d.ID, "decision_type": d.DecisionType, "coordinator_id": d.CoordinatorID, "summary": d.Summary})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateDecisionRecord200JSONResponse(d), nil
}
