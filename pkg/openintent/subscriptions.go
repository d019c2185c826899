package openintent

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/webhooksig"
)

// Subscribe creates a subscription (the Python SDK's subscribe): events of s.IntentID or
// s.PortfolioID (or, with neither, every event), only s.EventTypes when set, posted to
// s.WebhookURL until s.ExpiresAt. Set s.Secret to have deliveries signed; check them with
// VerifyWebhook. The secret is never returned.
func (c *Client) Subscribe(ctx context.Context, s SubscriptionCreate, opts ...Option) (*Subscription, error) {
	if s.SubscriberID == "" {
		s.SubscriberID = c.settings.agentID
	}
	return call[Subscription](ctx, c, op1(client.NewCreateSubscriptionRequest, s), opts)
}

// ListSubscriptions lists subscriptions, of one intent or portfolio when set.
func (c *Client) ListSubscriptions(ctx context.Context, intentID, portfolioID string, opts ...Option) ([]Subscription, error) {
	out := []Subscription{}
	if err := c.do(ctx, request{build: op1(client.NewListSubscriptionsRequest, nil),
		query: &models.ListSubscriptionsParams{IntentID: intentID, PortfolioID: portfolioID}, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// Unsubscribe deletes a subscription; its pending deliveries are dropped.
func (c *Client) Unsubscribe(ctx context.Context, subscriptionID string, opts ...Option) error {
	if err := requireIDs("Unsubscribe", "subscriptionID", subscriptionID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op1(client.NewDeleteSubscriptionRequest, subscriptionID)}, opts)
}

// Webhook is a verified webhook delivery.
type Webhook struct {
	// SubscriptionID is the subscription that matched.
	SubscriptionID string `json:"subscription_id"`
	// Event is the event delivered.
	Event IntentEvent `json:"event"`
	// DeliveryID identifies the delivery; a retried delivery keeps it, so receivers can drop
	// duplicates (delivery is at least once).
	DeliveryID string `json:"-"`
}

// ErrInvalidSignature reports a webhook whose signature or timestamp does not verify.
var ErrInvalidSignature = errors.New("openintent: invalid webhook signature")

// DefaultWebhookTolerance is how far a webhook's timestamp may be from now.
const DefaultWebhookTolerance = 5 * time.Minute

// VerifyWebhook checks a webhook request signed with secret (header X-OpenIntent-Signature:
// "sha256=" + hex HMAC-SHA256 of "<X-OpenIntent-Timestamp>.<body>") and returns its content. It
// refuses, with ErrInvalidSignature, a bad or missing signature and a timestamp more than
// tolerance (DefaultWebhookTolerance when zero) from now, which defeats replays. It reads and
// closes r.Body.
func VerifyWebhook(r *http.Request, secret string, tolerance time.Duration) (*Webhook, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openintent: read webhook: %w", err)
	}
	if err := VerifySignature(secret, r.Header.Get("X-OpenIntent-Timestamp"), r.Header.Get("X-OpenIntent-Signature"), body, tolerance, time.Now()); err != nil {
		return nil, err
	}
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("openintent: decode webhook: %w", err)
	}
	w.DeliveryID = r.Header.Get("X-OpenIntent-Delivery")
	return &w, nil
}

// VerifySignature checks a webhook's signature header against its timestamp header and body, as
// VerifyWebhook does, at the instant now.
func VerifySignature(secret, timestamp, signature string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad X-OpenIntent-Timestamp", ErrInvalidSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrInvalidSignature)
	}
	hexSum, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return fmt.Errorf("%w: missing sha256= signature", ErrInvalidSignature)
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return fmt.Errorf("%w: signature is not hex", ErrInvalidSignature)
	}
	if !hmac.Equal(got, webhooksig.Sum(secret, ts, body)) {
		return ErrInvalidSignature
	}
	return nil
}

// InvokeTool invokes a tool through the server's tool proxy under the calling agent's grant
// (invoke_tool). agentID must be empty or the client's agent: the server resolves the grant of
// the authenticated caller. Without a grant the answer is a *PermissionError.
func (c *Client) InvokeTool(ctx context.Context, toolName, agentID string, parameters Object, opts ...Option) (*ToolInvokeResult, error) {
	if err := requireIDs("InvokeTool", "toolName", toolName); err != nil {
		return nil, err
	}
	if agentID == "" {
		agentID = c.settings.agentID
	}
	return call[ToolInvokeResult](ctx, c, op1(client.NewInvokeToolRequest,
		models.ToolInvoke{ToolName: toolName, AgentID: agentID, Parameters: parameters}), opts)
}
