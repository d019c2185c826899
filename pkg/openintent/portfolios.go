package openintent

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/openintent-go/openintent/gen/models"
)

type (
	// Portfolio groups intents for coordination ([RFC-0004]); GetPortfolio fills its Intents and
	// AggregateStatus.
	//
	// [RFC-0004]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0004-governance-arbitration.md
	Portfolio = models.Portfolio
	// PortfolioCreate is the body of CreatePortfolio.
	PortfolioCreate = models.PortfolioCreate
	// PortfolioUpdate is the body of UpdatePortfolio; empty fields are left unchanged.
	PortfolioUpdate = models.PortfolioUpdate
	// PortfolioStatus is a portfolio's status.
	PortfolioStatus = models.PortfolioStatus
	// PortfolioMembership is an intent's membership of a portfolio.
	PortfolioMembership = models.PortfolioMembership
	// MembershipRole is an intent's role in a portfolio.
	MembershipRole = models.MembershipRole
	// PortfolioCostSummary is every cost of a portfolio's intents with totals.
	PortfolioCostSummary = models.PortfolioCostSummary
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
	return call[Portfolio](ctx, c, http.MethodPost, "/api/v1/portfolios", p, opts)
}

// GetPortfolio returns a portfolio with its intents and aggregate status (get_portfolio).
func (c *Client) GetPortfolio(ctx context.Context, portfolioID string, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("GetPortfolio", "portfolioID", portfolioID); err != nil {
		return nil, err
	}
	return call[Portfolio](ctx, c, http.MethodGet, pathf("/api/v1/portfolios/%s", portfolioID), nil, opts)
}

// ListPortfolios lists portfolios, only those created by createdBy when it is not empty
// (list_portfolios).
func (c *Client) ListPortfolios(ctx context.Context, createdBy string, opts ...Option) ([]Portfolio, error) {
	out := []Portfolio{}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/portfolios", query: queryOf("created_by", createdBy), out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdatePortfolio changes a portfolio's name, description, policy or metadata.
func (c *Client) UpdatePortfolio(ctx context.Context, portfolioID string, u PortfolioUpdate, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("UpdatePortfolio", "portfolioID", portfolioID); err != nil {
		return nil, err
	}
	return call[Portfolio](ctx, c, http.MethodPatch, pathf("/api/v1/portfolios/%s", portfolioID), u, opts)
}

// UpdatePortfolioStatus sets a portfolio's status (update_portfolio_status).
func (c *Client) UpdatePortfolioStatus(ctx context.Context, portfolioID string, status PortfolioStatus, opts ...Option) (*Portfolio, error) {
	if err := requireIDs("UpdatePortfolioStatus", "portfolioID", portfolioID, "status", string(status)); err != nil {
		return nil, err
	}
	return call[Portfolio](ctx, c, http.MethodPatch, pathf("/api/v1/portfolios/%s/status", portfolioID),
		models.PortfolioStatusUpdate{Status: status}, opts)
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
	return call[PortfolioMembership](ctx, c, http.MethodPost, pathf("/api/v1/portfolios/%s/intents", portfolioID),
		models.PortfolioMembershipCreate{IntentID: intentID, Role: role, Priority: priority}, opts)
}

// RemoveIntentFromPortfolio removes an intent from a portfolio (remove_intent_from_portfolio).
func (c *Client) RemoveIntentFromPortfolio(ctx context.Context, portfolioID, intentID string, opts ...Option) error {
	if err := requireIDs("RemoveIntentFromPortfolio", "portfolioID", portfolioID, "intentID", intentID); err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: pathf("/api/v1/portfolios/%s/intents/%s", portfolioID, intentID)}, opts)
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
	if err := c.do(ctx, request{method: http.MethodGet, path: pathf("/api/v1/portfolios/%s/intents", portfolioID), out: &raw}, opts); err != nil {
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
	return callList[Portfolio](ctx, c, http.MethodGet, pathf("/api/v1/intents/%s/portfolios", intentID), nil, opts)
}

// GetPortfolioCosts returns every cost of a portfolio's intents with totals.
func (c *Client) GetPortfolioCosts(ctx context.Context, portfolioID string, opts ...Option) (*PortfolioCostSummary, error) {
	if err := requireIDs("GetPortfolioCosts", "portfolioID", portfolioID); err != nil {
		return nil, err
	}
	return call[PortfolioCostSummary](ctx, c, http.MethodGet, pathf("/api/v1/portfolios/%s/costs", portfolioID), nil, opts)
}

// queryOf builds query parameters from name/value pairs, skipping empty values.
func queryOf(pairs ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	return q
}
