package openintent

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Portfolio statuses and membership roles.
const (
	PortfolioActive    = models.PortfolioStatusActive
	PortfolioCompleted = models.PortfolioStatusCompleted
	PortfolioAbandoned = models.PortfolioStatusAbandoned

	RoleMember     = models.MembershipRoleMember
	RolePrimary    = models.MembershipRolePrimary
	RoleDependency = models.MembershipRoleDependency
)

// CreatePortfolio creates a portfolio (the Python SDK's create_portfolio). p.Name is required;
// p.CreatedBy defaults to the client's agent.
func (c *Client) CreatePortfolio(ctx context.Context, p PortfolioCreate, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("CreatePortfolio", "p.Name", p.Name); err != nil {
		return nil, err
	}
	if p.CreatedBy == "" {
		p.CreatedBy = c.settings.agentID
	}
	return call[Portfolio](ctx, c, op1(client.NewCreatePortfolioRequest, p), opts)
}

// GetPortfolio returns a portfolio with its intents and aggregate status (get_portfolio).
func (c *Client) GetPortfolio(ctx context.Context, portfolioID string, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("GetPortfolio", "portfolioID", portfolioID); err != nil {
		return nil, err
	}
	return call[Portfolio](ctx, c, op1(client.NewGetPortfolioRequest, portfolioID), opts)
}

// ListPortfolios lists portfolios, only those created by createdBy when it is not empty
// (list_portfolios).
func (c *Client) ListPortfolios(ctx context.Context, createdBy string, opts ...Option) ([]Portfolio, error) {
	out := []Portfolio{}
	if err := c.do(ctx, request{build: op1(client.NewListPortfoliosRequest, nil),
		query: &models.ListPortfoliosParams{CreatedBy: createdBy}, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdatePortfolio changes a portfolio's name, description, policy or metadata.
func (c *Client) UpdatePortfolio(ctx context.Context, portfolioID string, u PortfolioUpdate, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("UpdatePortfolio", "portfolioID", portfolioID); err != nil {
		return nil, err
	}
	return call[Portfolio](ctx, c, op2(client.NewUpdatePortfolioRequest, portfolioID, u), opts)
}

// UpdatePortfolioStatus sets a portfolio's status (update_portfolio_status).
func (c *Client) UpdatePortfolioStatus(ctx context.Context, portfolioID string, status PortfolioStatus, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("UpdatePortfolioStatus", "portfolioID", portfolioID, "status", string(status)); err != nil {
		return nil, err
	}
	return call[Portfolio](ctx, c, op2(client.NewUpdatePortfolioStatusRequest, portfolioID,
		models.PortfolioStatusUpdate{Status: status}), opts)
}

// AddIntentToPortfolio adds an intent with a role (RoleMember when empty) and a priority, higher
// first (add_intent_to_portfolio).
func (c *Client) AddIntentToPortfolio(ctx context.Context, portfolioID, intentID string, role MembershipRole, priority int32, opts ...Option) (*PortfolioMembership, error) {
	if err := requireIDs("AddIntentToPortfolio", "portfolioID", portfolioID, "intentID", intentID); err != nil {
		return nil, err
	}
	if role == "" {
		role = RoleMember
	}
	return call[PortfolioMembership](ctx, c, op2(client.NewAddPortfolioIntentRequest, portfolioID,
		models.PortfolioMembershipCreate{IntentID: intentID, Role: role, Priority: priority}), opts)
}

// RemoveIntentFromPortfolio removes an intent from a portfolio (remove_intent_from_portfolio).
func (c *Client) RemoveIntentFromPortfolio(ctx context.Context, portfolioID, intentID string, opts ...Option) error {
	if err := requireIDs("RemoveIntentFromPortfolio", "portfolioID", portfolioID, "intentID", intentID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op2(client.NewRemovePortfolioIntentRequest, portfolioID, intentID)}, opts)
}

// GetPortfolioIntents returns a portfolio's intents and their aggregate status
// (get_portfolio_intents), from GET /portfolios/{id}/intents: a bare list (both servers send
// one) or an {intents, aggregate_status} envelope. Without the envelope's aggregate, the SDK
// counts it from the intents, as the server does.
func (c *Client) GetPortfolioIntents(ctx context.Context, portfolioID string, opts ...Option) ([]Intent, AggregateStatus, error) {
	if err := requireIDs("GetPortfolioIntents", "portfolioID", portfolioID); err != nil {
		return nil, AggregateStatus{}, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{build: op1(client.NewListPortfolioIntentsRequest, portfolioID), out: &raw}, opts); err != nil {
		return nil, AggregateStatus{}, err
	}
	intents, err := decodeIntents(raw, "intents")
	if err != nil {
		return nil, AggregateStatus{}, err
	}
	if intents == nil {
		intents = []Intent{}
	}
	var env struct {
		Aggregate *AggregateStatus `json:"aggregate_status"`
	}
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &env) == nil && env.Aggregate != nil {
		return intents, *env.Aggregate, nil
	}
	agg := AggregateStatus{ByStatus: map[string]int64{}, Total: int64(len(intents))}
	for _, in := range intents {
		agg.ByStatus[string(in.Status)]++
	}
	if agg.Total > 0 {
		agg.CompletionPercentage = int32(agg.ByStatus[string(StatusCompleted)] * 100 / agg.Total)
	}
	return intents, agg, nil
}

// ListIntentPortfolios returns the portfolios an intent belongs to.
func (c *Client) ListIntentPortfolios(ctx context.Context, intentID string, opts ...Option) ([]Portfolio, error) {
	if err := requireIDs("ListIntentPortfolios", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[Portfolio](ctx, c, op1(client.NewListIntentPortfoliosRequest, intentID), opts)
}

// GetPortfolioCosts returns every cost of a portfolio's intents with totals.
func (c *Client) GetPortfolioCosts(ctx context.Context, portfolioID string, opts ...Option) (*PortfolioCostSummary, error) {
	if err := requireIDs("GetPortfolioCosts", "portfolioID", portfolioID); err != nil {
		return nil, err
	}
	return call[PortfolioCostSummary](ctx, c, op1(client.NewGetPortfolioCostsRequest, portfolioID), opts)
}
