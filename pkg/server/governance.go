package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	genserver "github.com/openintent-go/openintent/gen/server"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0013 governance.
const (
	kindArbitration = "arbitration"
	kindDecision    = "decision_record"
	kindEscalation  = "escalation"
	kindApproval    = "approval"
)

// effectivePolicy reads an intent's governance_policy with every default filled in. Unknown keys
// are ignored; values of the wrong type count as unset.
func effectivePolicy(p models.Object) models.EffectivePolicy {
	e := models.EffectivePolicy{AllowedAgents: []string{}, CompletionMode: models.CompletionModeAuto,
		QuorumThreshold: 0.6, WriteScope: models.WriteScopeAny}
	if s, ok := p["write_scope"].(string); ok && s != "" {
		e.WriteScope = models.WriteScope(s)
	}
	if l, ok := p["allowed_agents"].([]any); ok {
		for _, a := range l {
			if s, ok := a.(string); ok {
				e.AllowedAgents = append(e.AllowedAgents, s)
			}
		}
	}
	if b, ok := p["require_status_reason"].(bool); ok {
		e.RequireStatusReason = b
	}
	if s, ok := p["completion_mode"].(string); ok && s != "" {
		e.CompletionMode = models.CompletionMode(s)
	}
	if f, ok := number(p["quorum_threshold"]); ok {
		e.QuorumThreshold = f
	}
	if f, ok := number(p["max_cost"]); ok {
		e.MaxCost = &f
	}
	return e
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}

// violation is a write refused by an intent's governance policy.
type violation struct {
	rule, detail string
	logged       bool // whether a governance.violation event records it
}

func (v *violation) Error() string { return v.detail }

// checkWriter enforces write_scope and allowed_agents on a write by agent.
func checkWriter(p models.EffectivePolicy, agent string, assigned []models.AgentAssignment) *violation {
	if len(p.AllowedAgents) > 0 && !slices.Contains(p.AllowedAgents, agent) {
		return &violation{rule: "allowed_agents", detail: fmt.Sprintf("Agent %s is not in the intent's allowed_agents", agent), logged: true}
	}
	if p.WriteScope == models.WriteScopeAssignedOnly && !slices.ContainsFunc(assigned, func(a models.AgentAssignment) bool { return a.AgentID == agent }) {
		return &violation{rule: "write_scope", detail: fmt.Sprintf("Agent %s is not assigned to this intent (write_scope is assigned_only)", agent), logged: true}
	}
	return nil
}

// checkCompletion enforces completion_mode when an intent is completed.
func checkCompletion(p models.EffectivePolicy, approvals []models.ApprovalRequest, assigned int) *violation {
	approved := 0
	for _, a := range approvals {
		if a.Status == "approved" && a.Action == "complete" {
			approved++
		}
	}
	switch p.CompletionMode {
	case models.CompletionModeRequireApproval:
		if approved == 0 {
			return &violation{rule: "completion_mode", detail: "Completing this intent requires an approved approval request with action \"complete\"", logged: true}
		}
	case models.CompletionModeQuorum:
		need := quorum(assigned, p.QuorumThreshold)
		if approved < need {
			return &violation{rule: "completion_mode", detail: fmt.Sprintf("Completing this intent requires a quorum of %d approvals with action \"complete\"; it has %d", need, approved), logged: assigned > 0}
		}
	}
	return nil
}

// quorum returns how many approvals complete an intent with assigned agents at threshold: the
// share rounded up (3 agents at 0.6 need 2), at least one. The product is rounded to 9 decimals
// first, so that 5 × 0.6 (3.0000000000000004 in floating point) needs 3, not 4.
func quorum(assigned int, threshold float64) int {
	share := math.Round(float64(assigned)*threshold*1e9) / 1e9
	return max(1, int(math.Ceil(share)))
}

// refuse answers a governance violation with 403, first recording it on the intent's log.
func (h *handlers) refuse(ctx context.Context, intentID string, err error) error {
	v, ok := err.(*violation)
	if !ok {
		return err
	}
	if v.logged {
		if _, lerr := h.store.AppendEvent(ctx, models.IntentEvent{IntentID: intentID, EventType: "governance.violation", Actor: agentFrom(ctx),
			Payload: models.Object{"rule": v.rule, "detail": v.detail}}); lerr != nil {
			h.log.ErrorContext(ctx, "record governance violation", "error", lerr, "request_id", requestIDFrom(ctx))
		}
	}
	e := forbidden("governance_violation", v.detail)
	e.fields = []models.FieldError{{Field: "governance_policy." + v.rule, Message: v.detail}}
	return e
}

// toObject converts a wire struct to a JSON object.
func toObject(v any) (models.Object, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var o models.Object
	return o, json.Unmarshal(b, &o)
}

func (h *handlers) GetGovernancePolicy(ctx context.Context, req genserver.GetGovernancePolicyRequestObject) (genserver.GetGovernancePolicyResponseObject, error) {
	in, err := h.store.GetIntent(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	pol := orEmpty(in.GovernancePolicy)
	return genserver.GetGovernancePolicy200JSONResponse{IntentID: in.ID, GovernancePolicy: pol, EffectivePolicy: effectivePolicy(pol)}, nil
}

func (h *handlers) SetGovernancePolicy(ctx context.Context, req genserver.SetGovernancePolicyRequestObject) (genserver.SetGovernancePolicyResponseObject, error) {
	b := req.Body
	if b.QuorumThreshold < 0 || b.QuorumThreshold > 1 {
		return nil, validationFailed("quorum_threshold", "must be between 0 and 1")
	}
	if b.MaxCost < 0 {
		return nil, validationFailed("max_cost", "must not be negative")
	}
	pol, err := toObject(b)
	if err != nil {
		return nil, err
	}
	var out models.Intent
	err = h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		if out, err = w.SetGovernancePolicy(req.IntentID, req.Params.IfMatch, pol); err != nil {
			return err
		}
		_, err = w.AppendEvent(out.ID, "governance.policy_set", agentFrom(ctx), models.Object{"governance_policy": pol, "version": out.Version})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.SetGovernancePolicy200JSONResponse(out), nil
}

func (h *handlers) DeleteGovernancePolicy(ctx context.Context, req genserver.DeleteGovernancePolicyRequestObject) (genserver.DeleteGovernancePolicyResponseObject, error) {
	var out models.Intent
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		if out, err = w.SetGovernancePolicy(req.IntentID, req.Params.IfMatch, nil); err != nil {
			return err
		}
		_, err = w.AppendEvent(out.ID, "governance.policy_removed", agentFrom(ctx), models.Object{"version": out.Version})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.DeleteGovernancePolicy200JSONResponse(out), nil
}

func (h *handlers) RequestArbitration(ctx context.Context, req genserver.RequestArbitrationRequestObject) (genserver.RequestArbitrationResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Reason) == "" {
		return nil, validationFailed("reason", "must not be empty")
	}
	requester, err := actorField(ctx, "requested_by", b.RequestedBy)
	if err != nil {
		return nil, err
	}
	a := models.ArbitrationRequest{IntentID: req.IntentID, Reason: b.Reason, Context: b.Context, RequesterID: requester,
		Status: "pending", Message: "Arbitration requested"}
	a.Context = orEmpty(a.Context)
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		a.ID = store.NewID()
		now := w.Timestamp()
		a.CreatedAt = now
		if _, err := w.Insert(store.Record{Kind: kindArbitration, ID: a.ID, Parent: a.IntentID}, a); err != nil {
			return err
		}
		_, err := w.AppendEvent(a.IntentID, string(models.EventTypeArbitrationRequested), a.RequesterID,
			models.Object{"arbitration_id": a.ID, "reason": a.Reason, "context": a.Context})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RequestArbitration200JSONResponse(a), nil
}

func (h *handlers) RecordDecision(ctx context.Context, req genserver.RecordDecisionRequestObject) (genserver.RecordDecisionResponseObject, error) {
	b := req.Body
	if b.DecisionType == "" {
		return nil, validationFailed("decision_type", "must not be empty")
	}
	if b.Outcome == "" {
		return nil, validationFailed("outcome", "must not be empty")
	}
	reasoning := b.Reasoning
	if reasoning == "" {
		reasoning = b.Rationale
	}
	maker, err := actorField(ctx, "decided_by", b.DecidedBy)
	if err != nil {
		return nil, err
	}
	d := models.GovernanceDecision{IntentID: req.IntentID, DecisionType: b.DecisionType, Outcome: b.Outcome, Reasoning: reasoning,
		DecisionMakerID: maker, Message: "Decision recorded"}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		d.ID = store.NewID()
		d.DecisionID = d.ID
		now := w.Timestamp()
		d.CreatedAt = now
		// Recorded decisions are listed with the intent's decision records.
		rec := models.DecisionRecord{ID: d.ID, IntentID: d.IntentID, CoordinatorID: d.DecisionMakerID, DecisionType: d.DecisionType,
			Summary: d.Outcome, Rationale: reasoning, AlternativesConsidered: []models.Object{}, Timestamp: now}
		if _, err := w.Insert(store.Record{Kind: kindDecision, ID: d.ID, Parent: d.IntentID}, rec); err != nil {
			return err
		}
		_, err := w.AppendEvent(d.IntentID, string(models.EventTypeDecisionRecorded), d.DecisionMakerID,
			models.Object{"decision_id": d.ID, "decision_type": d.DecisionType, "outcome": d.Outcome, "rationale": reasoning})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RecordDecision200JSONResponse(d), nil
}

func (h *handlers) ListIntentDecisions(ctx context.Context, req genserver.ListIntentDecisionsRequestObject) (genserver.ListIntentDecisionsResponseObject, error) {
	ds, err := h.decisions(ctx, req.IntentID, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentDecisions200JSONResponse(ds), nil
}

// ListIntentCoordinatorDecisions serves the path the reference client's list_decision_records
// calls; it lists the same records as ListIntentDecisions.
func (h *handlers) ListIntentCoordinatorDecisions(ctx context.Context, req genserver.ListIntentCoordinatorDecisionsRequestObject) (genserver.ListIntentCoordinatorDecisionsResponseObject, error) {
	ds, err := h.decisions(ctx, req.IntentID, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentCoordinatorDecisions200JSONResponse(ds), nil
}

// decisions lists an intent's decision records, newest first (limit 0: 50).
func (h *handlers) decisions(ctx context.Context, intentID string, limit int32) ([]models.DecisionRecord, error) {
	if limit == 0 {
		limit = 50
	}
	return store.List[models.DecisionRecord](ctx, h.store, store.Query{Kind: kindDecision, Parent: intentID, Newest: true, Limit: int(limit)})
}

func (h *handlers) CreateEscalation(ctx context.Context, req genserver.CreateEscalationRequestObject) (genserver.CreateEscalationResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Reason) == "" {
		return nil, validationFailed("reason", "must not be empty")
	}
	by, err := actorField(ctx, "escalated_by", b.EscalatedBy)
	if err != nil {
		return nil, err
	}
	e := models.Escalation{IntentID: req.IntentID, Reason: b.Reason, Context: b.Context, EscalatedBy: by,
		Priority: b.Priority, Urgency: b.Urgency, Status: "pending"}
	if e.Priority == "" {
		e.Priority = models.EscalationPriorityMedium
	}
	if e.Urgency == "" {
		e.Urgency = e.Priority
	}
	e.Context = orEmpty(e.Context)
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		e.ID, e.CreatedAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindEscalation, ID: e.ID, Parent: e.IntentID, Ref: string(e.Status)}, e); err != nil {
			return err
		}
		_, err := w.AppendEvent(e.IntentID, "escalation_initiated", e.EscalatedBy,
			models.Object{"escalation_id": e.ID, "reason": e.Reason, "priority": string(e.Priority)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateEscalation200JSONResponse(e), nil
}

func (h *handlers) ListEscalations(ctx context.Context, req genserver.ListEscalationsRequestObject) (genserver.ListEscalationsResponseObject, error) {
	es, err := store.List[models.Escalation](ctx, h.store, store.Query{Kind: kindEscalation, Parent: req.Params.IntentID, Ref: req.Params.Status})
	if err != nil {
		return nil, err
	}
	out := es[:0]
	for _, e := range es {
		if ok, err := h.mayRead(ctx, e.IntentID); err != nil {
			return nil, err
		} else if ok {
			out = append(out, e)
		}
	}
	return genserver.ListEscalations200JSONResponse{Escalations: out}, nil
}

func (h *handlers) ResolveEscalation(ctx context.Context, req genserver.ResolveEscalationRequestObject) (genserver.ResolveEscalationResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Resolution) == "" {
		return nil, validationFailed("resolution", "must not be empty")
	}
	resolver, err := actorField(ctx, "resolved_by", b.ResolvedBy)
	if err != nil {
		return nil, err
	}
	var e models.Escalation
	err = h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindEscalation, req.EscalationID)
		if err != nil {
			return err
		}
		if err := r.Decode(&e); err != nil {
			return err
		}
		if e.Status == "resolved" {
			return conflict("already_resolved", "Escalation is already resolved")
		}
		e.Status, e.Resolution, e.ResolutionNotes, e.ResolvedBy = "resolved", b.Resolution, b.Notes, resolver
		e.ResolvedAt = w.Timestamp()
		r.Ref = string(e.Status)
		if _, err := w.Update(r, e); err != nil {
			return err
		}
		_, err = w.AppendEvent(e.IntentID, "escalation_resolved", e.ResolvedBy,
			models.Object{"escalation_id": e.ID, "resolution": e.Resolution})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.ResolveEscalation200JSONResponse(e), nil
}

func (h *handlers) CreateApprovalRequest(ctx context.Context, req genserver.CreateApprovalRequestRequestObject) (genserver.CreateApprovalRequestResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Action) == "" {
		return nil, validationFailed("action", "must not be empty")
	}
	requester, err := actorField(ctx, "requested_by", b.RequestedBy)
	if err != nil {
		return nil, err
	}
	a := models.ApprovalRequest{IntentID: req.IntentID, Action: b.Action, Context: b.Context, Reason: b.Reason,
		RequestedBy: requester, Status: "pending"}
	a.Context = orEmpty(a.Context)
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		a.ID, a.CreatedAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindApproval, ID: a.ID, Parent: a.IntentID}, a); err != nil {
			return err
		}
		_, err := w.AppendEvent(a.IntentID, "governance.approval_requested", a.RequestedBy,
			models.Object{"approval_id": a.ID, "action": a.Action, "reason": a.Reason})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateApprovalRequest200JSONResponse(a), nil
}

func (h *handlers) GetApprovalRequest(ctx context.Context, req genserver.GetApprovalRequestRequestObject) (genserver.GetApprovalRequestResponseObject, error) {
	a, err := store.Get[models.ApprovalRequest](ctx, h.store, kindApproval, req.ApprovalID)
	if err != nil {
		return nil, err
	}
	if a.IntentID != req.IntentID {
		return nil, &store.NotFoundError{Detail: "Approval not found"}
	}
	return genserver.GetApprovalRequest200JSONResponse(a), nil
}

func (h *handlers) ApproveApprovalRequest(ctx context.Context, req genserver.ApproveApprovalRequestRequestObject) (genserver.ApproveApprovalRequestResponseObject, error) {
	a, err := h.decideApproval(ctx, req.IntentID, req.ApprovalID, "approved", approvalNotes(req.Body))
	if err != nil {
		return nil, err
	}
	return genserver.ApproveApprovalRequest200JSONResponse(a), nil
}

func (h *handlers) DenyApprovalRequest(ctx context.Context, req genserver.DenyApprovalRequestRequestObject) (genserver.DenyApprovalRequestResponseObject, error) {
	a, err := h.decideApproval(ctx, req.IntentID, req.ApprovalID, "denied", approvalNotes(req.Body))
	if err != nil {
		return nil, err
	}
	return genserver.DenyApprovalRequest200JSONResponse(a), nil
}

// approvalNotes reads the notes of an approve or deny request, whose body is optional.
func approvalNotes(b *models.ApprovalDecision) string {
	if b == nil {
		return ""
	}
	return b.Notes
}

// decideApproval approves or denies a pending approval request. The requester cannot decide
// their own request, and a decided request cannot be decided again.
func (h *handlers) decideApproval(ctx context.Context, intentID, id, status, notes string) (models.ApprovalRequest, error) {
	var a models.ApprovalRequest
	agent := agentFrom(ctx)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindApproval, id)
		if err != nil {
			return err
		}
		if err := r.Decode(&a); err != nil {
			return err
		}
		if a.IntentID != intentID {
			return &store.NotFoundError{Detail: "Approval not found"}
		}
		if a.Status != "pending" {
			return conflict("already_decided", "Approval request is already "+string(a.Status))
		}
		if a.RequestedBy == agent {
			return forbidden("forbidden", "The requester of an approval cannot decide it")
		}
		a.Status, a.DecidedBy, a.DecisionNotes, a.DecidedAt = models.ApprovalStatus(status), agent, notes, w.Timestamp()
		if _, err := w.Update(r, a); err != nil {
			return err
		}
		ev := "governance.approval_granted"
		if status == "denied" {
			ev = "governance.approval_denied"
		}
		_, err = w.AppendEvent(a.IntentID, ev, agent, models.Object{"approval_id": a.ID, "action": a.Action, "notes": notes})
		return err
	})
	return a, err
}
