package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// kindAgent is the record kind of RFC-0016 agent records (id = the agent id).
const kindAgent = "agent_record"

// Heartbeat defaults of RFC-0016, used when an agent's heartbeat_config leaves them out.
const (
	defaultHeartbeatInterval = 30 * time.Second
	defaultUnhealthyAfter    = 90 * time.Second
	defaultDeadAfter         = 300 * time.Second
)

// heartbeatSetting reads a duration in seconds from an agent's heartbeat_config.
func heartbeatSetting(a models.AgentRecord, name string, def time.Duration) time.Duration {
	if a.HeartbeatConfig != nil {
		if s, ok := a.HeartbeatConfig[name].(float64); ok && s > 0 {
			return time.Duration(s * float64(time.Second))
		}
	}
	return def
}

// agentView derives an agent's status at now: an active agent whose last heartbeat (or
// registration) is older than unhealthy_after_seconds is unhealthy, older than
// dead_after_seconds dead. Statuses set on purpose (draining, deregistered, ...) stand.
func agentView(a models.AgentRecord, now time.Time) models.AgentRecord {
	if a.Status != models.AgentStatusActive {
		return a
	}
	last := a.RegisteredAt.Time
	if !a.LastHeartbeatAt.IsZero() {
		last = a.LastHeartbeatAt.Time
	}
	switch silent := now.Sub(last); {
	case silent >= heartbeatSetting(a, "dead_after_seconds", defaultDeadAfter):
		a.Status = models.AgentStatusDead
	case silent >= heartbeatSetting(a, "unhealthy_after_seconds", defaultUnhealthyAfter):
		a.Status = models.AgentStatusUnhealthy
	}
	return a
}

func (h *handlers) RegisterAgent(ctx context.Context, req genserver.RegisterAgentRequestObject) (genserver.RegisterAgentResponseObject, error) {
	b := req.Body
	id, err := actorField(ctx, "agent_id", b.AgentID)
	if err != nil {
		return nil, err
	}
	a := models.AgentRecord{AgentID: id, Status: models.AgentStatusActive, Capabilities: nonNil(b.Capabilities),
		AgentMetadata: orEmpty(b.Metadata), DrainTimeoutSeconds: orNull(b.DrainTimeoutSeconds), Version: 1}
	for p, v := range map[**string]string{&a.Name: b.Name, &a.RoleID: b.RoleID, &a.Endpoint: b.Endpoint} {
		if v != "" {
			*p = &v
		}
	}
	if b.Capacity != nil {
		a.Capacity = b.Capacity
	}
	if b.HeartbeatConfig != nil {
		a.HeartbeatConfig = b.HeartbeatConfig
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		a.RegisteredAt = w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindAgent, ID: a.AgentID, Key: a.AgentID}, a)
		if errors.Is(err, store.ErrDuplicate) {
			return conflict("already_registered", fmt.Sprintf("Agent %s is already registered", a.AgentID))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RegisterAgent200JSONResponse(a), nil
}

func (h *handlers) GetAgentRecord(ctx context.Context, req genserver.GetAgentRecordRequestObject) (genserver.GetAgentRecordResponseObject, error) {
	a, err := store.Get[models.AgentRecord](ctx, h.store, kindAgent, req.AgentID)
	if err != nil {
		return nil, err
	}
	withID, err := h.withIdentities(ctx, []models.AgentRecord{a}) // RFC-0018 fields (identity.go)
	if err != nil {
		return nil, err
	}
	return genserver.GetAgentRecord200JSONResponse(agentView(withID[0], h.store.Now())), nil
}

func (h *handlers) ListAgents(ctx context.Context, req genserver.ListAgentsRequestObject) (genserver.ListAgentsResponseObject, error) {
	p := req.Params
	// Discovery by cryptographic identity (RFC-0018, identity.go): only the key's holder.
	holder, byKey, err := h.identityHolder(ctx, p.PublicKey, p.Did)
	if err != nil {
		return nil, err
	}
	as, err := store.List[models.AgentRecord](ctx, h.store, store.Query{Kind: kindAgent})
	if err != nil {
		return nil, err
	}
	if byKey {
		as = slices.DeleteFunc(as, func(a models.AgentRecord) bool { return a.AgentID != holder })
	}
	if as, err = h.withIdentities(ctx, as); err != nil {
		return nil, err
	}
	now := h.store.Now()
	out := make([]models.AgentRecord, 0, len(as))
	for _, a := range as {
		a = agentView(a, now)
		if (p.Status == "" || string(a.Status) == p.Status) &&
			(p.RoleID == "" || (a.RoleID != nil && *a.RoleID == p.RoleID)) &&
			(p.Capability == "" || slices.Contains(a.Capabilities, p.Capability)) {
			out = append(out, a)
		}
	}
	return genserver.ListAgents200JSONResponse(out), nil
}

// AgentHeartbeat records a heartbeat of the calling agent with its load.
func (h *handlers) AgentHeartbeat(ctx context.Context, req genserver.AgentHeartbeatRequestObject) (genserver.AgentHeartbeatResponseObject, error) {
	if caller := agentFrom(ctx); caller != req.AgentID {
		return nil, forbidden("forbidden", fmt.Sprintf("Only agent %s may heartbeat for itself (caller is %s)", req.AgentID, caller))
	}
	var b models.AgentHeartbeatCreate
	if req.Body != nil {
		b = *req.Body
	}
	var out models.AgentHeartbeat
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var a models.AgentRecord
		r, err := w.Get(kindAgent, req.AgentID)
		if err == nil {
			err = r.Decode(&a)
		}
		if err != nil {
			return err
		}
		a.LastHeartbeatAt = w.Timestamp()
		capacity := map[string]any{}
		if a.Capacity != nil {
			capacity = a.Capacity
		}
		capacity["current_load"] = b.CurrentLoad
		capacity["tasks_in_progress"] = nonNil(b.TasksInProgress)
		a.Capacity = capacity
		out = models.AgentHeartbeat{Status: "ok", ServerTimestamp: w.Timestamp(),
			NextHeartbeatAt: timestamp.New(w.Now().Add(heartbeatSetting(a, "interval_seconds", defaultHeartbeatInterval)))}
		_, err = w.Rewrite(r, a) // a heartbeat is not a change of the record's version
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.AgentHeartbeat200JSONResponse(out), nil
}

func (h *handlers) UpdateAgentStatus(ctx context.Context, req genserver.UpdateAgentStatusRequestObject) (genserver.UpdateAgentStatusResponseObject, error) {
	var a models.AgentRecord
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		a, err = store.Modify(w, kindAgent, req.AgentID, 0, func(a *models.AgentRecord, r *store.Record) error {
			a.Status, a.Version = req.Body.Status, r.Version+1
			if a.Status == models.AgentStatusActive {
				a.LastHeartbeatAt = w.Timestamp() // reactivating counts as a sign of life
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdateAgentStatus200JSONResponse(agentView(a, h.store.Now())), nil
}
