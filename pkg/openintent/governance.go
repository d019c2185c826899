package openintent

import (
	"context"
	"net/http"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Completion modes and write scopes of governance policies.
const (
	CompletionAuto            = models.CompletionModeAuto
	CompletionRequireApproval = models.CompletionModeRequireApproval
	CompletionQuorum          = models.CompletionModeQuorum

	WriteScopeAny          = models.WriteScopeAny
	WriteScopeAssignedOnly = models.WriteScopeAssignedOnly
)

// RequestArbitration asks for human arbitration on an intent (request_arbitration); context may
// be nil.
func (c *Client) RequestArbitration(ctx context.Context, intentID, reason string, context Object, opts ...Option) (*ArbitrationRequest, error) {
	if err := requireIDs("RequestArbitration", "intentID", intentID, "reason", reason); err != nil {
		return nil, err
	}
	return call[ArbitrationRequest](ctx, c, op2(client.NewRequestArbitrationRequest, intentID,
		models.ArbitrationRequestCreate{Reason: reason, Context: context, RequestedBy: c.settings.agentID}), opts)
}

// RecordDecision records a governance decision on an intent (record_decision); it is then listed
// by GetDecisions.
func (c *Client) RecordDecision(ctx context.Context, intentID, decisionType, outcome, reasoning string, opts ...Option) (*Decision, error) {
	if err := requireIDs("RecordDecision", "intentID", intentID, "decisionType", decisionType, "outcome", outcome); err != nil {
		return nil, err
	}
	return call[Decision](ctx, c, op2(client.NewRecordDecisionRequest, intentID,
		models.GovernanceDecisionCreate{DecisionType: decisionType, Outcome: outcome, Reasoning: reasoning, Rationale: reasoning,
			DecidedBy: c.settings.agentID}), opts)
}

// GetDecisions returns an intent's decision records, newest first (get_decisions).
func (c *Client) GetDecisions(ctx context.Context, intentID string, opts ...Option) ([]DecisionRecord, error) {
	if err := requireIDs("GetDecisions", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[DecisionRecord](ctx, c, op2(client.NewListIntentDecisionsRequest, intentID, nil), opts)
}

// CreateEscalation escalates an intent.
func (c *Client) CreateEscalation(ctx context.Context, intentID string, e EscalationCreate, opts ...Option) (*Escalation, error) {
	if err := requireIDs("CreateEscalation", "intentID", intentID, "e.Reason", e.Reason); err != nil {
		return nil, err
	}
	return call[Escalation](ctx, c, op2(client.NewCreateEscalationRequest, intentID, e), opts)
}

// ListEscalations lists escalations, filtered by intent and status when set.
func (c *Client) ListEscalations(ctx context.Context, params ListEscalationsParams, opts ...Option) ([]Escalation, error) {
	var out models.EscalationList
	if err := c.do(ctx, request{build: op1(client.NewListEscalationsRequest, nil),
		query: params, out: &out}, opts); err != nil {
		return nil, err
	}
	if out.Escalations == nil {
		out.Escalations = []Escalation{}
	}
	return out.Escalations, nil
}

// ResolveEscalation resolves a pending escalation; a resolved one answers a *ConflictError.
func (c *Client) ResolveEscalation(ctx context.Context, escalationID string, r EscalationResolve, opts ...Option) (*Escalation, error) {
	if err := requireIDs("ResolveEscalation", "escalationID", escalationID, "r.Resolution", r.Resolution); err != nil {
		return nil, err
	}
	return call[Escalation](ctx, c, op2(client.NewResolveEscalationRequest, escalationID, r), opts)
}

// CreateApprovalRequest asks for approval of an action on an intent. Approved requests with
// action "complete" satisfy the require_approval and quorum completion modes.
func (c *Client) CreateApprovalRequest(ctx context.Context, intentID string, a ApprovalRequestCreate, opts ...Option) (*ApprovalRequest, error) {
	if err := requireIDs("CreateApprovalRequest", "intentID", intentID, "a.Action", a.Action); err != nil {
		return nil, err
	}
	return call[ApprovalRequest](ctx, c, op2(client.NewCreateApprovalRequestRequest, intentID, a), opts)
}

// GetApprovalRequest returns an approval request.
func (c *Client) GetApprovalRequest(ctx context.Context, intentID, approvalID string, opts ...Option) (*ApprovalRequest, error) {
	if err := requireIDs("GetApprovalRequest", "intentID", intentID, "approvalID", approvalID); err != nil {
		return nil, err
	}
	return call[ApprovalRequest](ctx, c, op2(client.NewGetApprovalRequestRequest, intentID, approvalID), opts)
}

// ApproveApprovalRequest approves a pending request as the client's agent, who must not be its
// requester (*PermissionError otherwise; a decided request is a *ConflictError).
func (c *Client) ApproveApprovalRequest(ctx context.Context, intentID, approvalID, notes string, opts ...Option) (*ApprovalRequest, error) {
	return c.decideApproval(ctx, "ApproveApprovalRequest", client.NewApproveApprovalRequestRequest, intentID, approvalID, notes, opts)
}

// DenyApprovalRequest denies a pending request as the client's agent.
func (c *Client) DenyApprovalRequest(ctx context.Context, intentID, approvalID, notes string, opts ...Option) (*ApprovalRequest, error) {
	return c.decideApproval(ctx, "DenyApprovalRequest", client.NewDenyApprovalRequestRequest, intentID, approvalID, notes, opts)
}

// decideApproval sends a decision on an approval request with decide, the generated builder of
// the approve or deny route.
func (c *Client) decideApproval(ctx context.Context, method string,
	decide func(server, intentID, approvalID string, body models.ApprovalDecision) (*http.Request, error),
	intentID, approvalID, notes string, opts []Option) (*ApprovalRequest, error) {
	if err := requireIDs(method, "intentID", intentID, "approvalID", approvalID); err != nil {
		return nil, err
	}
	return call[ApprovalRequest](ctx, c, op3(decide, intentID, approvalID, models.ApprovalDecision{Notes: notes}), opts)
}

// GetGovernancePolicy returns an intent's governance policy, as stored and with defaults.
func (c *Client) GetGovernancePolicy(ctx context.Context, intentID string, opts ...Option) (*GovernancePolicyDocument, error) {
	if err := requireIDs("GetGovernancePolicy", "intentID", intentID); err != nil {
		return nil, err
	}
	return call[GovernancePolicyDocument](ctx, c, op1(client.NewGetGovernancePolicyRequest, intentID), opts)
}

// SetGovernancePolicy replaces an intent's governance policy if its version is still version
// (*VersionConflictError otherwise) and returns the intent.
func (c *Client) SetGovernancePolicy(ctx context.Context, intentID string, version int64, p GovernancePolicy, opts ...Option) (*Intent, error) {
	if err := requireIDs("SetGovernancePolicy", "intentID", intentID); err != nil {
		return nil, err
	}
	var out intentWire
	err := c.do(ctx, request{build: op3(client.NewSetGovernancePolicyRequest, intentID,
		&models.SetGovernancePolicyParams{IfMatch: version}, p), out: &out}, opts)
	return intentResult(out, err)
}

// DeleteGovernancePolicy removes an intent's governance policy if its version is still version.
func (c *Client) DeleteGovernancePolicy(ctx context.Context, intentID string, version int64, opts ...Option) (*Intent, error) {
	if err := requireIDs("DeleteGovernancePolicy", "intentID", intentID); err != nil {
		return nil, err
	}
	var out intentWire
	err := c.do(ctx, request{build: op2(client.NewDeleteGovernancePolicyRequest, intentID,
		&models.DeleteGovernancePolicyParams{IfMatch: version}), out: &out}, opts)
	return intentResult(out, err)
}
