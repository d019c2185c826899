package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Agent statuses.
const (
	AgentRegistering  = models.AgentStatusRegistering
	AgentActive       = models.AgentStatusActive
	AgentDraining     = models.AgentStatusDraining
	AgentUnhealthy    = models.AgentStatusUnhealthy
	AgentDead         = models.AgentStatusDead
	AgentDeregistered = models.AgentStatusDeregistered
)

// ListAgentsParams filters ListAgents; empty fields keep all. PublicKey and DID discover the
// agent holding a key ([RFC-0018]; see FindAgentByPublicKey).
//
// [RFC-0018]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0018-cryptographic-agent-identity.md
type ListAgentsParams struct {
	Status     AgentStatus
	RoleID     string
	Capability string
	PublicKey  string
	DID        string
}

// RegisterAgent registers an agent, the client's own by default (register_agent). An id already
// registered is a *ConflictError.
func (c *Client) RegisterAgent(ctx context.Context, r AgentRegistration, opts ...Option) (*AgentRecord, error) {
	if r.AgentID == "" {
		r.AgentID = c.settings.agentID
	}
	if err := requireIDs("RegisterAgent", "r.AgentID", r.AgentID); err != nil {
		return nil, err
	}
	return call[AgentRecord](ctx, c, op1(client.NewRegisterAgentRequest, r), opts)
}

// GetAgentRecord returns an agent's record with its derived status (get_agent_record).
func (c *Client) GetAgentRecord(ctx context.Context, agentID string, opts ...Option) (*AgentRecord, error) {
	if err := requireIDs("GetAgentRecord", "agentID", agentID); err != nil {
		return nil, err
	}
	return call[AgentRecord](ctx, c, op1(client.NewGetAgentRecordRequest, agentID), opts)
}

// ListAgents lists registered agents matching p (list_agents).
func (c *Client) ListAgents(ctx context.Context, p ListAgentsParams, opts ...Option) ([]AgentRecord, error) {
	out := []AgentRecord{}
	err := c.do(ctx, request{build: op1(client.NewListAgentsRequest, nil),
		query: models.ListAgentsParams{Status: string(p.Status), RoleID: p.RoleID, Capability: p.Capability,
			PublicKey: p.PublicKey, Did: p.DID}, out: &out}, opts)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AgentHeartbeat reports that the agent (the client's own; the server refuses others) is alive,
// with its load (agent_heartbeat).
func (c *Client) AgentHeartbeat(ctx context.Context, agentID string, load AgentHeartbeatCreate, opts ...Option) (*AgentHeartbeat, error) {
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if err := requireIDs("AgentHeartbeat", "agentID", agentID); err != nil {
		return nil, err
	}
	return call[AgentHeartbeat](ctx, c, op2(client.NewAgentHeartbeatRequest, agentID, load), opts)
}

// UpdateAgentStatus sets an agent's status, e.g. AgentDraining (update_agent_status).
func (c *Client) UpdateAgentStatus(ctx context.Context, agentID string, status AgentStatus, opts ...Option) (*AgentRecord, error) {
	if err := requireIDs("UpdateAgentStatus", "agentID", agentID, "status", string(status)); err != nil {
		return nil, err
	}
	return call[AgentRecord](ctx, c, op2(client.NewUpdateAgentStatusRequest, agentID, models.AgentStatusUpdate{Status: status}), opts)
}
