package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Trigger types and deduplication modes.
const (
	TriggerSchedule = models.TriggerTypeSchedule
	TriggerEvent    = models.TriggerTypeEvent
	TriggerWebhook  = models.TriggerTypeWebhook

	DedupAllow = models.DeduplicationModeAllow
	DedupSkip  = models.DeduplicationModeSkip
	DedupQueue = models.DeduplicationModeQueue
)

// ListTriggersParams filters ListTriggers; empty fields keep all.
type ListTriggersParams struct {
	Namespace string
	Type      TriggerType
}

// CreateTrigger creates a trigger (create_trigger). A schedule trigger needs
// Condition["cron"] (or "at"); an event trigger Condition["event"].
func (c *Client) CreateTrigger(ctx context.Context, t TriggerCreate, opts ...Option) (*Trigger, error) {
	if err := requireIDs("CreateTrigger", "t.Name", t.Name, "t.Type", string(t.Type)); err != nil {
		return nil, err
	}
	return call[Trigger](ctx, c, op1(client.NewCreateTriggerRequest, t), opts)
}

// GetTrigger returns a trigger (get_trigger).
func (c *Client) GetTrigger(ctx context.Context, triggerID string, opts ...Option) (*Trigger, error) {
	if err := requireIDs("GetTrigger", "triggerID", triggerID); err != nil {
		return nil, err
	}
	return call[Trigger](ctx, c, op1(client.NewGetTriggerRequest, triggerID), opts)
}

// ListTriggers lists triggers matching p (list_triggers).
func (c *Client) ListTriggers(ctx context.Context, p ListTriggersParams, opts ...Option) ([]Trigger, error) {
	out := []Trigger{}
	err := c.do(ctx, request{build: op1(client.NewListTriggersRequest, nil),
		query: &models.ListTriggersParams{Namespace: p.Namespace, Type: string(p.Type)}, out: &out}, opts)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateTrigger changes a trigger if it is at version (update_trigger).
func (c *Client) UpdateTrigger(ctx context.Context, triggerID string, version int64, u TriggerUpdate, opts ...Option) (*Trigger, error) {
	if err := requireIDs("UpdateTrigger", "triggerID", triggerID); err != nil {
		return nil, err
	}
	return call[Trigger](ctx, c, op3(client.NewUpdateTriggerRequest, triggerID,
		&models.UpdateTriggerParams{IfMatch: version}, u), opts)
}

// FireTrigger fires a trigger now, creating an intent from its template (fire_trigger). A
// disabled trigger is a *ConflictError; deduplication may answer status "skipped" or "queued".
func (c *Client) FireTrigger(ctx context.Context, triggerID string, opts ...Option) (*TriggerFiring, error) {
	if err := requireIDs("FireTrigger", "triggerID", triggerID); err != nil {
		return nil, err
	}
	return call[TriggerFiring](ctx, c, op1(client.NewFireTriggerRequest, triggerID), opts)
}

// DeleteTrigger deletes a trigger; it never fires again (delete_trigger).
func (c *Client) DeleteTrigger(ctx context.Context, triggerID string, opts ...Option) error {
	if err := requireIDs("DeleteTrigger", "triggerID", triggerID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op1(client.NewDeleteTriggerRequest, triggerID)}, opts)
}
