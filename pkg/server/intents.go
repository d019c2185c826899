package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// handlers implements the generated strict server interface; operations it does not override
// answer 501 through the embedded Unimplemented.
type handlers struct {
	genserver.Unimplemented
	store    *store.Store
	log      *slog.Logger
	access   *accessControl
	webhooks *dispatcher
	sealer   *sealer
	tools    *http.Client
	triggers *triggerEngine
	fed      *federation // RFC-0022 federation (federation.go)
	tel      *telemetry  // metrics and traces (telemetry.go)
	// identity is the server's own key and DID (RFC-0018); requireProofs makes agents with a
	// registered key sign the events they log (Config.RequireEventProofs).
	identity      *Identity
	requireProofs bool
	// drain is set when the server shuts down (readiness, streams).
	drain *drainer
	// suspensions runs the timers of suspensions awaiting human input (suspension.go).
	suspensions *suspensionTimers
}

var _ genserver.StrictServerInterface = (*handlers)(nil)

// transitions is the RFC-0001 lifecycle: the statuses each status may move to.
var transitions = map[models.IntentStatus][]models.IntentStatus{
	models.IntentStatusDraft:                  {models.IntentStatusActive, models.IntentStatusAbandoned},
	models.IntentStatusActive:                 {models.IntentStatusBlocked, models.IntentStatusSuspendedAwaitingInput, models.IntentStatusCompleted, models.IntentStatusAbandoned},
	models.IntentStatusBlocked:                {models.IntentStatusActive, models.IntentStatusAbandoned},
	models.IntentStatusSuspendedAwaitingInput: {models.IntentStatusActive, models.IntentStatusAbandoned},
}

func (h *handlers) CreateIntent(ctx context.Context, req genserver.CreateIntentRequestObject) (genserver.CreateIntentResponseObject, error) {
	b := req.Body
	parent := b.ParentIntentID
	if parent == "" {
		parent = b.ParentID
	} else if b.ParentID != "" && b.ParentID != parent {
		return nil, validationFailed("parent_id", "differs from parent_intent_id")
	}
	if err := checkDependsOn(b.DependsOn); err != nil {
		return nil, err
	}
	creator, err := actorField(ctx, "created_by", b.CreatedBy)
	if err != nil {
		return nil, err
	}
	// Linking into another intent's graph writes into it.
	if err := h.authorizeLinks(ctx, parent, b.DependsOn); err != nil {
		return nil, err
	}
	in := models.Intent{
		Title: b.Title, Description: b.Description, CreatedBy: creator, DependsOn: b.DependsOn,
		Constraints: b.Constraints, State: b.State, Status: b.Status, GovernancePolicy: b.GovernancePolicy,
	}
	if in.Status == "" {
		in.Status = models.IntentStatusDraft
	}
	if parent != "" {
		in.ParentID = &parent
	}
	payload := map[string]any{"title": in.Title}
	if parent != "" {
		payload["parent_id"] = parent
	}
	if len(in.DependsOn) > 0 {
		payload["depends_on"] = in.DependsOn
	}
	if in.GovernancePolicy != nil {
		payload["governance_policy"] = in.GovernancePolicy
	}
	out, err := h.store.CreateIntent(ctx, in, in.CreatedBy, payload)
	if err != nil {
		return nil, err
	}
	return genserver.CreateIntent200JSONResponse(out), nil
}

// authorizeLinks checks that the caller may write the intents a new intent links to: its parent
// and its dependencies.
func (h *handlers) authorizeLinks(ctx context.Context, parent string, dependsOn []string) error {
	for _, id := range append([]string{parent}, dependsOn...) {
		if err := h.authorize(ctx, id, models.PermissionWrite); err != nil {
			return err
		}
	}
	return nil
}

func checkDependsOn(deps []string) error {
	for i, d := range deps {
		if slices.Contains(deps[:i], d) {
			return validationFailed(fmt.Sprintf("depends_on/%d", i), fmt.Sprintf("duplicate dependency %q", d))
		}
	}
	return nil
}

func (h *handlers) ListIntents(ctx context.Context, req genserver.ListIntentsRequestObject) (genserver.ListIntentsResponseObject, error) {
	limit := int(req.Params.Limit)
	if limit == 0 {
		limit = 50
	}
	offset := int(req.Params.Offset)
	hidden, err := h.access.hidden(ctx, agentFrom(ctx))
	if err != nil {
		return nil, err
	}
	page, total, err := h.store.ListIntents(ctx, store.IntentQuery{Status: string(req.Params.Status), Exclude: hidden, Limit: limit, Offset: offset})
	if err != nil {
		return nil, err
	}
	return genserver.ListIntents200JSONResponse{Intents: page, Total: total, Limit: int32(limit), Offset: int32(offset)}, nil
}

func (h *handlers) GetIntent(ctx context.Context, req genserver.GetIntentRequestObject) (genserver.GetIntentResponseObject, error) {
	in, err := h.store.GetIntent(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.GetIntent200JSONResponse(in), nil
}

func (h *handlers) PatchIntentState(ctx context.Context, req genserver.PatchIntentStateRequestObject) (genserver.PatchIntentStateResponseObject, error) {
	patches := req.Body.Patches
	if len(patches) == 0 {
		keys := make([]string, 0, len(req.Body.State))
		for k := range req.Body.State {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			patches = append(patches, models.StatePatch{Op: models.PatchOpSet, Path: escapeKey(k), Value: req.Body.State[k]})
		}
	}
	out, err := h.store.UpdateIntent(ctx, req.IntentID, req.Params.IfMatch, agentFrom(ctx), func(t *store.Tx, in *models.Intent) (store.Change, error) {
		if err := checkIntentWriter(ctx, t, in); err != nil {
			return store.Change{}, err
		}
		for i, p := range patches {
			if err := applyPatch(in.State, p); err != nil {
				return store.Change{}, validationFailed(fmt.Sprintf("patches/%d/path", i), err.Error())
			}
		}
		logged := make([]map[string]any, len(patches))
		for i, p := range patches {
			logged[i] = map[string]any{"op": string(p.Op), "path": p.Path, "value": p.Value}
		}
		return store.Change{EventType: "state_patched", Payload: map[string]any{"patches": logged}}, nil
	})
	if err != nil {
		return nil, h.refuse(ctx, req.IntentID, err)
	}
	return genserver.PatchIntentState200JSONResponse(out), nil
}

// escapeKey turns a top-level state key into a one-segment path.
func escapeKey(k string) string {
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		switch k[i] {
		case '~':
			out = append(out, "~0"...)
		case '/':
			out = append(out, "~1"...)
		default:
			out = append(out, k[i])
		}
	}
	return string(out)
}

func (h *handlers) SetIntentStatus(ctx context.Context, req genserver.SetIntentStatusRequestObject) (genserver.SetIntentStatusResponseObject, error) {
	to := req.Body.Status
	var from models.IntentStatus
	out, err := h.store.UpdateIntent(ctx, req.IntentID, req.Params.IfMatch, agentFrom(ctx), func(t *store.Tx, in *models.Intent) (store.Change, error) {
		if err := checkIntentWriter(ctx, t, in); err != nil {
			return store.Change{}, err
		}
		pol := effectivePolicy(in.GovernancePolicy)
		if pol.RequireStatusReason && strings.TrimSpace(req.Body.Reason) == "" {
			return store.Change{}, &violation{rule: "require_status_reason", detail: "This intent's governance policy requires a reason for status changes"}
		}
		if to == models.IntentStatusCompleted && in.Status != to && pol.CompletionMode != models.CompletionModeAuto {
			rs, err := t.List(store.Query{Kind: kindApproval, Parent: in.ID})
			if err != nil {
				return store.Change{}, err
			}
			approvals, err := store.DecodeAll[models.ApprovalRequest](rs)
			if err != nil {
				return store.Change{}, err
			}
			assigned, err := t.Assignments(in.ID)
			if err != nil {
				return store.Change{}, err
			}
			if v := checkCompletion(pol, approvals, len(assigned)); v != nil {
				return store.Change{}, v
			}
		}
		from = in.Status
		if from != to && !slices.Contains(transitions[from], to) {
			return store.Change{}, &apiError{status: http.StatusConflict, code: "invalid_transition",
				detail: fmt.Sprintf("Cannot change status from %s to %s", from, to), currentVersion: in.Version}
		}
		if from == models.IntentStatusSuspendedAwaitingInput && to != from {
			if err := cancelOpenSuspension(in, h.store.Now()); err != nil { // RFC-0025: left without an answer
				return store.Change{}, err
			}
		}
		in.Status = to
		payload := map[string]any{"status": string(to), "from": string(from), "to": string(to)}
		if req.Body.Reason != "" {
			payload["reason"] = req.Body.Reason
		}
		return store.Change{EventType: "status_changed", Payload: payload}, nil
	})
	if err != nil {
		return nil, h.refuse(ctx, req.IntentID, err)
	}
	if err := h.afterStatusChange(ctx, out, from); err != nil { // RFC-0026 (suspension.go)
		return nil, err
	}
	return genserver.SetIntentStatus200JSONResponse(out), nil
}

func (h *handlers) ListIntentEvents(ctx context.Context, req genserver.ListIntentEventsRequestObject) (genserver.ListIntentEventsResponseObject, error) {
	limit := int(req.Params.Limit)
	if limit == 0 {
		limit = 100
	}
	evs, err := h.store.ListEvents(ctx, req.IntentID, store.EventFilter{Type: string(req.Params.EventType), Since: req.Params.Since, Limit: limit, Offset: int(req.Params.Offset)})
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentEvents200JSONResponse(evs), nil
}

func (h *handlers) CreateIntentEvent(ctx context.Context, req genserver.CreateIntentEventRequestObject) (genserver.CreateIntentEventResponseObject, error) {
	b := req.Body
	actor, err := actorField(ctx, "actor", b.Actor) // the log says who acted: the caller
	if err != nil {
		return nil, err
	}
	if err := h.checkEventProof(ctx, req.IntentID, actor, b); err != nil { // RFC-0018 (identity.go)
		return nil, err
	}
	ev, err := h.store.AppendEvent(ctx, models.IntentEvent{IntentID: req.IntentID, EventType: b.EventType, Actor: actor,
		Payload: b.Payload, TraceID: b.TraceID, ParentEventID: b.ParentEventID, Proof: b.Proof})
	if err != nil {
		return nil, err
	}
	return genserver.CreateIntentEvent200JSONResponse(ev), nil
}

func (h *handlers) ListIntentAgents(ctx context.Context, req genserver.ListIntentAgentsRequestObject) (genserver.ListIntentAgentsResponseObject, error) {
	as, err := h.store.ListAssignments(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentAgents200JSONResponse(as), nil
}

func (h *handlers) AssignIntentAgent(ctx context.Context, req genserver.AssignIntentAgentRequestObject) (genserver.AssignIntentAgentResponseObject, error) {
	role := req.Body.Role
	if role == "" {
		role = "worker"
	}
	a, err := h.store.AssignAgent(ctx, req.IntentID, req.Body.AgentID, role, agentFrom(ctx))
	if err != nil {
		return nil, err
	}
	return genserver.AssignIntentAgent200JSONResponse(a), nil
}

func (h *handlers) UnassignIntentAgent(ctx context.Context, req genserver.UnassignIntentAgentRequestObject) (genserver.UnassignIntentAgentResponseObject, error) {
	if err := h.store.UnassignAgent(ctx, req.IntentID, req.AgentID, agentFrom(ctx)); err != nil {
		return nil, err
	}
	return genserver.UnassignIntentAgent204Response{}, nil
}

// checkIntentWriter enforces the intent's write_scope and allowed_agents on the calling agent;
// t reads the intent's assignments in the write transaction (a *store.Tx or *store.Writer).
func checkIntentWriter(ctx context.Context, t interface {
	Assignments(intentID string) ([]models.AgentAssignment, error)
}, in *models.Intent) error {
	pol := effectivePolicy(in.GovernancePolicy)
	if len(pol.AllowedAgents) == 0 && pol.WriteScope != models.WriteScopeAssignedOnly {
		return nil
	}
	assigned, err := t.Assignments(in.ID)
	if err != nil {
		return err
	}
	if v := checkWriter(pol, agentFrom(ctx), assigned); v != nil {
		return v
	}
	return nil
}
