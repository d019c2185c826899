package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// ListCoordinatorLeasesParams filters ListCoordinatorLeases; set at most one field.
type ListCoordinatorLeasesParams struct {
	IntentID, PortfolioID string
}

// CreateCoordinatorLease takes the coordinator role of an intent or a portfolio
// (create_coordinator_lease); l.AgentID defaults to the client's agent.
func (c *Client) CreateCoordinatorLease(ctx context.Context, l CoordinatorLeaseCreate, opts ...Option) (*CoordinatorLease, error) {
	if l.IntentID == "" && l.PortfolioID == "" {
		return nil, requireIDs("CreateCoordinatorLease", "l.IntentID or l.PortfolioID", "")
	}
	if l.AgentID == "" {
		l.AgentID = c.settings.agentID
	}
	return call[CoordinatorLease](ctx, c, op1(client.NewCreateCoordinatorLeaseRequest, l), opts)
}

// GetCoordinatorLease returns a coordinator lease with its current status
// (get_coordinator_lease).
func (c *Client) GetCoordinatorLease(ctx context.Context, leaseID string, opts ...Option) (*CoordinatorLease, error) {
	if err := requireIDs("GetCoordinatorLease", "leaseID", leaseID); err != nil {
		return nil, err
	}
	return call[CoordinatorLease](ctx, c, op1(client.NewGetCoordinatorLeaseRequest, leaseID), opts)
}

// ListCoordinatorLeases lists coordinator leases, of one intent or portfolio when p says so
// (list_coordinator_leases; unlike the Python client, it asks the server even without an
// intent).
func (c *Client) ListCoordinatorLeases(ctx context.Context, p ListCoordinatorLeasesParams, opts ...Option) ([]CoordinatorLease, error) {
	if p.IntentID != "" && p.PortfolioID == "" {
		return callList[CoordinatorLease](ctx, c, op1(client.NewListIntentCoordinatorLeasesRequest, p.IntentID), opts)
	}
	out := []CoordinatorLease{}
	err := c.do(ctx, request{build: op1(client.NewListCoordinatorLeasesRequest, nil),
		query: models.ListCoordinatorLeasesParams(p), out: &out}, opts)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CoordinatorHeartbeat extends a coordinator lease held by the client's agent
// (coordinator_heartbeat).
func (c *Client) CoordinatorHeartbeat(ctx context.Context, leaseID string, opts ...Option) (*CoordinatorHeartbeat, error) {
	if err := requireIDs("CoordinatorHeartbeat", "leaseID", leaseID); err != nil {
		return nil, err
	}
	return call[CoordinatorHeartbeat](ctx, c, op1(client.NewCoordinatorHeartbeatRequest, leaseID), opts)
}

// CreateDecisionRecord records an immutable coordinator decision on an intent
// (create_decision_record).
func (c *Client) CreateDecisionRecord(ctx context.Context, d DecisionRecordCreate, opts ...Option) (*DecisionRecord, error) {
	if err := requireIDs("CreateDecisionRecord", "d.IntentID", d.IntentID, "d.CoordinatorID", d.CoordinatorID,
		"d.DecisionType", d.DecisionType); err != nil {
		return nil, err
	}
	return call[DecisionRecord](ctx, c, op1(client.NewCreateDecisionRecordRequest, d), opts)
}

// ListDecisionRecords returns an intent's decision records, newest first
// (list_decision_records). It reads GET /intents/{id}/decisions, which every server serves (the
// Python SDK's /coordinator-decisions path is missing from the reference server).
func (c *Client) ListDecisionRecords(ctx context.Context, intentID string, opts ...Option) ([]DecisionRecord, error) {
	if err := requireIDs("ListDecisionRecords", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[DecisionRecord](ctx, c, op2(client.NewListIntentDecisionsRequest, intentID, nil), opts)
}
