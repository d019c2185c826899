package openintent

import (
	"context"
	"encoding/json"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// AssignAgent assigns agentID (the client's own agent when empty) to the intent with the role
// "worker" (the Python SDK's assign_agent). Assigning an agent twice keeps one assignment.
func (c *Client) AssignAgent(ctx context.Context, intentID, agentID string, opts ...Option) (*AgentAssignment, error) {
	if err := requireID("AssignAgent", "intentID", intentID); err != nil {
		return nil, err
	}
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if agentID == "" {
		return nil, invalidArg("AssignAgent", "agentID", "agentID is empty and the client has no agent (WithAgentID)")
	}
	var out AgentAssignment
	if err := c.do(ctx, request{build: op2(client.NewAssignIntentAgentRequest, intentID, models.AgentAssign{AgentID: agentID}),
		out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// UnassignAgent removes agentID (the client's own agent when empty) from the intent (the Python SDK's
// unassign_agent).
func (c *Client) UnassignAgent(ctx context.Context, intentID, agentID string, opts ...Option) error {
	if err := requireID("UnassignAgent", "intentID", intentID); err != nil {
		return err
	}
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if agentID == "" {
		return invalidArg("UnassignAgent", "agentID", "agentID is empty and the client has no agent (WithAgentID)")
	}
	return c.do(ctx, request{build: op2(client.NewUnassignIntentAgentRequest, intentID, agentID)}, opts)
}

// ListIntentAgents lists the agents assigned to the intent.
func (c *Client) ListIntentAgents(ctx context.Context, intentID string, opts ...Option) ([]AgentAssignment, error) {
	if err := requireID("ListIntentAgents", "intentID", intentID); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{build: op1(client.NewListIntentAgentsRequest, intentID), out: &raw}, opts); err != nil {
		return nil, err
	}
	return decodeList[AgentAssignment](raw, "agents")
}
