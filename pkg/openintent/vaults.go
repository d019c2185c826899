package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// CreateVault creates a vault owned by v.OwnerID, the client's agent by default (create_vault).
func (c *Client) CreateVault(ctx context.Context, v VaultCreate, opts ...Option) (*Vault, error) {
	if err := requireIDs("CreateVault", "v.Name", v.Name); err != nil {
		return nil, err
	}
	if v.OwnerID == "" {
		v.OwnerID = c.settings.agentID
	}
	return call[Vault](ctx, c, op1(client.NewCreateVaultRequest, v), opts)
}

// GetVault returns a vault of the client's agent (get_vault).
func (c *Client) GetVault(ctx context.Context, vaultID string, opts ...Option) (*Vault, error) {
	if err := requireIDs("GetVault", "vaultID", vaultID); err != nil {
		return nil, err
	}
	return call[Vault](ctx, c, op1(client.NewGetVaultRequest, vaultID), opts)
}

// CreateCredential stores a credential in a vault of the client's agent (create_credential).
// The answer has no secret, only HasSecret.
func (c *Client) CreateCredential(ctx context.Context, cr CredentialCreate, opts ...Option) (*Credential, error) {
	if err := requireIDs("CreateCredential", "cr.VaultID", cr.VaultID, "cr.Service", cr.Service, "cr.Label", cr.Label); err != nil {
		return nil, err
	}
	return call[Credential](ctx, c, op1(client.NewCreateCredentialRequest, cr), opts)
}

// GetCredential returns a credential's non-secret metadata (get_credential).
func (c *Client) GetCredential(ctx context.Context, credentialID string, opts ...Option) (*Credential, error) {
	if err := requireIDs("GetCredential", "credentialID", credentialID); err != nil {
		return nil, err
	}
	return call[Credential](ctx, c, op1(client.NewGetCredentialRequest, credentialID), opts)
}

// CreateToolGrant lets an agent use a credential's tools (create_tool_grant); g.GrantedBy
// defaults to the client's agent.
func (c *Client) CreateToolGrant(ctx context.Context, g ToolGrantCreate, opts ...Option) (*ToolGrant, error) {
	if err := requireIDs("CreateToolGrant", "g.CredentialID", g.CredentialID, "g.AgentID", g.AgentID); err != nil {
		return nil, err
	}
	if g.GrantedBy == "" {
		g.GrantedBy = c.settings.agentID // the reference server requires granted_by
	}
	return call[ToolGrant](ctx, c, op1(client.NewCreateToolGrantRequest, g), opts)
}

// GetToolGrant returns a grant; an expired one has status "expired" (get_tool_grant).
func (c *Client) GetToolGrant(ctx context.Context, grantID string, opts ...Option) (*ToolGrant, error) {
	if err := requireIDs("GetToolGrant", "grantID", grantID); err != nil {
		return nil, err
	}
	return call[ToolGrant](ctx, c, op1(client.NewGetToolGrantRequest, grantID), opts)
}

// ListAgentGrants returns every grant of an agent, whatever its status (list_agent_grants).
func (c *Client) ListAgentGrants(ctx context.Context, agentID string, opts ...Option) ([]ToolGrant, error) {
	if err := requireIDs("ListAgentGrants", "agentID", agentID); err != nil {
		return nil, err
	}
	return callList[ToolGrant](ctx, c, op1(client.NewListAgentToolGrantsRequest, agentID), opts)
}

// RevokeGrant revokes a grant; revoking twice is harmless (revoke_grant).
func (c *Client) RevokeGrant(ctx context.Context, grantID string, opts ...Option) (*GrantRevocation, error) {
	if err := requireIDs("RevokeGrant", "grantID", grantID); err != nil {
		return nil, err
	}
	return call[GrantRevocation](ctx, c, op1(client.NewRevokeToolGrantRequest, grantID), opts)
}

// RecordInvocation records a tool call made outside the proxy (record_invocation); it counts
// toward the grant's hourly limit. A repeated IdempotencyKey returns the first record.
func (c *Client) RecordInvocation(ctx context.Context, inv ToolInvocationCreate, opts ...Option) (*ToolInvocation, error) {
	if err := requireIDs("RecordInvocation", "inv.GrantID", inv.GrantID, "inv.Service", inv.Service, "inv.Tool", inv.Tool); err != nil {
		return nil, err
	}
	if inv.AgentID == "" {
		inv.AgentID = c.settings.agentID
	}
	return call[ToolInvocation](ctx, c, op1(client.NewCreateToolInvocationRequest, inv), opts)
}

// ListInvocations returns a grant's invocations, newest first, at most limit (server default
// 50 when zero) (list_invocations).
func (c *Client) ListInvocations(ctx context.Context, grantID string, limit int, opts ...Option) ([]ToolInvocation, error) {
	if err := requireIDs("ListInvocations", "grantID", grantID); err != nil {
		return nil, err
	}
	q := &models.ListGrantInvocationsParams{}
	if limit > 0 {
		q.Limit = int32(limit)
	}
	out := []ToolInvocation{}
	if err := c.do(ctx, request{build: op2(client.NewListGrantInvocationsRequest, grantID, nil), query: q, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}
