package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
)

// CreateAttachment attaches a file (by reference) to an intent.
func (c *Client) CreateAttachment(ctx context.Context, intentID string, a AttachmentCreate, opts ...Option) (*Attachment, error) {
	if err := requireIDs("CreateAttachment", "intentID", intentID, "a.Filename", a.Filename, "a.MimeType", a.MimeType, "a.StorageURL", a.StorageURL); err != nil {
		return nil, err
	}
	return call[Attachment](ctx, c, op2(client.NewCreateIntentAttachmentRequest, intentID, a), opts)
}

// ListAttachments lists an intent's attachments, oldest first.
func (c *Client) ListAttachments(ctx context.Context, intentID string, opts ...Option) ([]Attachment, error) {
	if err := requireIDs("ListAttachments", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[Attachment](ctx, c, op1(client.NewListIntentAttachmentsRequest, intentID), opts)
}

// DeleteAttachment removes an attachment.
func (c *Client) DeleteAttachment(ctx context.Context, intentID, attachmentID string, opts ...Option) error {
	if err := requireIDs("DeleteAttachment", "intentID", intentID, "attachmentID", attachmentID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op2(client.NewDeleteIntentAttachmentRequest, intentID, attachmentID)}, opts)
}

// RecordCost records a cost; c.AgentID defaults to the client's agent. An intent's max_cost
// policy refuses costs beyond it with a *PermissionError.
func (c *Client) RecordCost(ctx context.Context, intentID string, cost CostCreate, opts ...Option) (*Cost, error) {
	if cost.AgentID == "" {
		cost.AgentID = c.settings.agentID
	}
	if err := requireIDs("RecordCost", "intentID", intentID, "cost.AgentID", cost.AgentID, "cost.CostType", string(cost.CostType), "cost.Unit", cost.Unit); err != nil {
		return nil, err
	}
	return call[Cost](ctx, c, op2(client.NewRecordIntentCostRequest, intentID, cost), opts)
}

// ListCosts lists an intent's costs, oldest first.
func (c *Client) ListCosts(ctx context.Context, intentID string, opts ...Option) ([]Cost, error) {
	if err := requireIDs("ListCosts", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[Cost](ctx, c, op1(client.NewListIntentCostsRequest, intentID), opts)
}

// GetCostSummary totals an intent's costs overall, per agent and per cost type.
func (c *Client) GetCostSummary(ctx context.Context, intentID string, opts ...Option) (CostSummary, error) {
	costs, err := c.ListCosts(ctx, intentID, opts...)
	if err != nil {
		return CostSummary{}, err
	}
	s := CostSummary{ByAgent: Object{}, ByType: Object{}, Count: int64(len(costs))}
	for _, k := range costs {
		s.Total += k.Amount
		s.ByAgent[k.AgentID] = number(s.ByAgent[k.AgentID]) + k.Amount
		s.ByType[string(k.CostType)] = number(s.ByType[string(k.CostType)]) + k.Amount
	}
	return s, nil
}

func number(v any) float64 {
	f, _ := v.(float64)
	return f
}

// GetRetryPolicy returns an intent's retry policy (*NotFoundError when it has none).
func (c *Client) GetRetryPolicy(ctx context.Context, intentID string, opts ...Option) (*RetryPolicy, error) {
	if err := requireIDs("GetRetryPolicy", "intentID", intentID); err != nil {
		return nil, err
	}
	return call[RetryPolicy](ctx, c, op1(client.NewGetIntentRetryPolicyRequest, intentID), opts)
}

// SetRetryPolicy creates or replaces an intent's retry policy.
func (c *Client) SetRetryPolicy(ctx context.Context, intentID string, p RetryPolicySet, opts ...Option) (*RetryPolicy, error) {
	if err := requireIDs("SetRetryPolicy", "intentID", intentID, "p.Strategy", string(p.Strategy)); err != nil {
		return nil, err
	}
	return call[RetryPolicy](ctx, c, op2(client.NewPutIntentRetryPolicyRequest, intentID, p), opts)
}

// RecordFailure records a failed attempt; f.AgentID defaults to the client's agent and
// f.ErrorType to f.ErrorCode, or "error" (the reference server requires error_type).
func (c *Client) RecordFailure(ctx context.Context, intentID string, f FailureCreate, opts ...Option) (*Failure, error) {
	if f.AgentID == "" {
		f.AgentID = c.settings.agentID
	}
	if f.ErrorType == "" {
		f.ErrorType = f.ErrorCode
	}
	if f.ErrorType == "" {
		f.ErrorType = "error"
	}
	if err := requireIDs("RecordFailure", "intentID", intentID, "f.ErrorMessage", f.ErrorMessage); err != nil {
		return nil, err
	}
	return call[Failure](ctx, c, op2(client.NewRecordIntentFailureRequest, intentID, f), opts)
}

// ListFailures lists an intent's failures, oldest first.
func (c *Client) ListFailures(ctx context.Context, intentID string, opts ...Option) ([]Failure, error) {
	if err := requireIDs("ListFailures", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[Failure](ctx, c, op1(client.NewListIntentFailuresRequest, intentID), opts)
}
