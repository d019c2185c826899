package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Access policies and permissions.
const (
	AccessOpen   = models.AccessPolicyOpen
	AccessClosed = models.AccessPolicyClosed

	PermissionRead  = models.PermissionRead
	PermissionWrite = models.PermissionWrite
	PermissionAdmin = models.PermissionAdmin
)

// GetACL returns an intent's access control list.
func (c *Client) GetACL(ctx context.Context, intentID string, opts ...Option) (*ACL, error) {
	if err := requireIDs("GetACL", "intentID", intentID); err != nil {
		return nil, err
	}
	return call[ACL](ctx, c, op1(client.NewGetIntentACLRequest, intentID), opts)
}

// SetACL replaces an intent's access control list. With AccessClosed, only the intent's creator
// and listed principals may act on it; others get a *PermissionError.
func (c *Client) SetACL(ctx context.Context, intentID string, acl ACLSet, opts ...Option) (*ACL, error) {
	if err := requireIDs("SetACL", "intentID", intentID); err != nil {
		return nil, err
	}
	return call[ACL](ctx, c, op2(client.NewPutIntentACLRequest, intentID, acl), opts)
}

// GrantAccess adds an entry to an intent's access control list.
func (c *Client) GrantAccess(ctx context.Context, intentID string, e ACLEntryCreate, opts ...Option) (*ACLEntry, error) {
	if err := requireIDs("GrantAccess", "intentID", intentID, "e.PrincipalID", e.PrincipalID); err != nil {
		return nil, err
	}
	return call[ACLEntry](ctx, c, op2(client.NewCreateIntentACLEntryRequest, intentID, e), opts)
}

// RevokeAccess removes an entry from an intent's access control list.
func (c *Client) RevokeAccess(ctx context.Context, intentID, entryID string, opts ...Option) error {
	if err := requireIDs("RevokeAccess", "intentID", intentID, "entryID", entryID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op2(client.NewDeleteIntentACLEntryRequest, intentID, entryID)}, opts)
}

// RequestAccess asks for access to an intent; r.PrincipalID defaults to the client's agent.
func (c *Client) RequestAccess(ctx context.Context, intentID string, r AccessRequestCreate, opts ...Option) (*AccessRequest, error) {
	if err := requireIDs("RequestAccess", "intentID", intentID); err != nil {
		return nil, err
	}
	if r.PrincipalID == "" {
		r.PrincipalID = c.settings.agentID // the reference server requires principal_id
	}
	return call[AccessRequest](ctx, c, op2(client.NewCreateAccessRequestRequest, intentID, r), opts)
}

// ListAccessRequests lists an intent's access requests (needs admin permission on closed intents).
func (c *Client) ListAccessRequests(ctx context.Context, intentID string, opts ...Option) ([]AccessRequest, error) {
	if err := requireIDs("ListAccessRequests", "intentID", intentID); err != nil {
		return nil, err
	}
	var out models.AccessRequestList
	if err := c.do(ctx, request{build: op1(client.NewListAccessRequestsRequest, intentID), out: &out}, opts); err != nil {
		return nil, err
	}
	if out.AccessRequests == nil {
		out.AccessRequests = []AccessRequest{}
	}
	return out.AccessRequests, nil
}

// ApproveAccessRequest approves a pending request, granting the requested (or d.Permission)
// permission; d.DecidedBy defaults to the client's agent.
func (c *Client) ApproveAccessRequest(ctx context.Context, intentID, requestID string, d AccessRequestDecision, opts ...Option) (*AccessRequest, error) {
	if err := requireIDs("ApproveAccessRequest", "intentID", intentID, "requestID", requestID); err != nil {
		return nil, err
	}
	if d.DecidedBy == "" {
		d.DecidedBy = c.settings.agentID // the reference server requires decided_by
	}
	return call[AccessRequest](ctx, c, op3(client.NewApproveAccessRequestRequest, intentID, requestID, d), opts)
}

// DenyAccessRequest denies a pending request; d.DecidedBy defaults to the client's agent.
func (c *Client) DenyAccessRequest(ctx context.Context, intentID, requestID string, d AccessRequestDecision, opts ...Option) (*AccessRequest, error) {
	if err := requireIDs("DenyAccessRequest", "intentID", intentID, "requestID", requestID); err != nil {
		return nil, err
	}
	if d.DecidedBy == "" {
		d.DecidedBy = c.settings.agentID // the reference server requires decided_by
	}
	return call[AccessRequest](ctx, c, op3(client.NewDenyAccessRequestRequest, intentID, requestID, d), opts)
}
