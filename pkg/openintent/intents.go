package openintent

import (
	"github.com/openintent-go/openintent/gen/client"

	"context"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/openintent-go/openintent/gen/models"
)

// Default page sizes of the list methods (the Python SDK's defaults).
const (
	DefaultIntentsLimit = 50
	DefaultEventsLimit  = 100
)

// CreateIntent creates an intent (the Python SDK's create_intent). Title is required; State is the
// initial state; ParentIntentID and DependsOn place it in the graph ([RFC-0002]). CreatedBy
// defaults to the client's agent.
//
// [RFC-0002]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0002-intent-graphs.md
func (c *Client) CreateIntent(ctx context.Context, params IntentCreate, opts ...Option) (*Intent, error) {
	if params.Title == "" {
		return nil, invalidArg("CreateIntent", "title", "title is required")
	}
	if params.CreatedBy == "" {
		params.CreatedBy = c.settings.agentID
	}
	var out intentWire
	err := c.do(ctx, request{build: op1(client.NewCreateIntentRequest, params), out: &out}, opts)
	return intentResult(out, err)
}

// GetIntent returns an intent by ID (the Python SDK's get_intent).
func (c *Client) GetIntent(ctx context.Context, intentID string, opts ...Option) (*Intent, error) {
	if err := requireID("GetIntent", "intentID", intentID); err != nil {
		return nil, err
	}
	var out intentWire
	err := c.do(ctx, request{build: op1(client.NewGetIntentRequest, intentID), out: &out}, opts)
	return intentResult(out, err)
}

// ListIntents returns one page of intents, newest first (the Python SDK's list_intents): filtered by
// params.Status, params.Limit defaulting to 50, params.Offset to 0. Intents iterates over all
// pages.
func (c *Client) ListIntents(ctx context.Context, params ListIntentsParams, opts ...Option) ([]Intent, error) {
	page, _, err := c.listIntentsPage(ctx, params, opts)
	return page, err
}

func (c *Client) listIntentsPage(ctx context.Context, params ListIntentsParams, opts []Option) ([]Intent, int64, error) {
	if params.Limit < 0 || params.Offset < 0 {
		return nil, 0, invalidArg("ListIntents", "limit", "limit and offset must not be negative")
	}
	if params.Limit == 0 {
		params.Limit = DefaultIntentsLimit
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{build: op1(client.NewListIntentsRequest, nil), query: params, out: &raw}, opts); err != nil {
		return nil, 0, err
	}
	intents, err := decodeIntents(raw, "intents")
	if err != nil {
		return nil, 0, err
	}
	var env struct {
		Total *int64 `json:"total"`
	}
	total := int64(-1)
	if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &env) == nil && env.Total != nil {
		total = *env.Total
	}
	return intents, total, nil
}

// Intents iterates over every intent matching params, fetching pages of params.Limit (default
// 50) from params.Offset on. It stops at the first error, which it yields.
func (c *Client) Intents(ctx context.Context, params ListIntentsParams, opts ...Option) iter.Seq2[Intent, error] {
	return func(yield func(Intent, error) bool) {
		if params.Limit == 0 {
			params.Limit = DefaultIntentsLimit
		}
		for {
			page, total, err := c.listIntentsPage(ctx, params, opts)
			if err != nil {
				yield(Intent{}, err)
				return
			}
			for _, in := range page {
				if !yield(in, nil) {
					return
				}
			}
			params.Offset += int32(len(page))
			if len(page) < int(params.Limit) || (total >= 0 && int64(params.Offset) >= total) {
				return
			}
		}
	}
}

// CreateChildIntent creates an intent under parentID (the Python SDK's create_child_intent).
func (c *Client) CreateChildIntent(ctx context.Context, parentID string, params ChildIntentCreate, opts ...Option) (*Intent, error) {
	if err := requireID("CreateChildIntent", "parentID", parentID); err != nil {
		return nil, err
	}
	if params.Title == "" {
		return nil, invalidArg("CreateChildIntent", "title", "title is required")
	}
	var out intentWire
	err := c.do(ctx, request{build: op2(client.NewCreateChildIntentRequest, parentID, params), out: &out}, opts)
	return intentResult(out, err)
}

// UpdateState merges statePatch into the intent's state, each top-level key replacing the
// current value, if the intent is still at version (the Python SDK's update_state). A stale version
// fails with *VersionConflictError; see ModifyState for a helper that retries.
func (c *Client) UpdateState(ctx context.Context, intentID string, version int64, statePatch Object, opts ...Option) (*Intent, error) {
	if err := requireID("UpdateState", "intentID", intentID); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, invalidArg("UpdateState", "version", "version must be at least 1, got %d", version)
	}
	if statePatch == nil {
		statePatch = Object{}
	}
	var out intentWire
	err := c.do(ctx, request{build: op3(client.NewPatchIntentStateRequest, intentID,
		&models.PatchIntentStateParams{IfMatch: version}, models.StatePatchRequest{State: statePatch}), out: &out}, opts)
	return intentResult(out, err)
}

// PatchState applies JSON-pointer patches (set, append, remove; nested paths included) to the
// intent's state if it is still at version.
func (c *Client) PatchState(ctx context.Context, intentID string, version int64, patches []StatePatch, opts ...Option) (*Intent, error) {
	if err := requireID("PatchState", "intentID", intentID); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, invalidArg("PatchState", "version", "version must be at least 1, got %d", version)
	}
	if len(patches) == 0 {
		return nil, invalidArg("PatchState", "patches", "patches is empty")
	}
	for i, p := range patches {
		if p.Op != PatchSet && p.Op != PatchAppend && p.Op != PatchRemove {
			return nil, invalidArg("PatchState", fmt.Sprintf("patches[%d].op", i), "patches[%d].op %q is not set, append or remove", i, p.Op)
		}
	}
	var out intentWire
	err := c.do(ctx, request{build: op3(client.NewPatchIntentStateRequest, intentID,
		&models.PatchIntentStateParams{IfMatch: version}, models.StatePatchRequest{Patches: patches}), out: &out}, opts)
	return intentResult(out, err)
}

// SetStatus moves the intent to status if it is still at version (the Python SDK's set_status). The
// server enforces the [RFC-0001] lifecycle: an illegal transition fails with *ConflictError.
//
// [RFC-0001]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0001-intent-objects.md
func (c *Client) SetStatus(ctx context.Context, intentID string, version int64, status IntentStatus, opts ...Option) (*Intent, error) {
	return c.SetStatusWithReason(ctx, intentID, version, status, "", opts...)
}

// SetStatusWithReason is SetStatus recording why (governance policies may require a reason).
func (c *Client) SetStatusWithReason(ctx context.Context, intentID string, version int64, status IntentStatus, reason string, opts ...Option) (*Intent, error) {
	if err := requireID("SetStatus", "intentID", intentID); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, invalidArg("SetStatus", "version", "version must be at least 1, got %d", version)
	}
	if status == "" {
		return nil, invalidArg("SetStatus", "status", "status is required")
	}
	var out intentWire
	err := c.do(ctx, request{build: op3(client.NewSetIntentStatusRequest, intentID,
		&models.SetIntentStatusParams{IfMatch: version}, models.StatusUpdate{Status: status, Reason: reason}), out: &out}, opts)
	return intentResult(out, err)
}

func intentResult(w intentWire, err error) (*Intent, error) {
	if err != nil {
		return nil, err
	}
	in := Intent(w)
	return &in, nil
}

func requireID(method, name, value string) error {
	if value == "" {
		return invalidArg(method, name, "%s is empty", name)
	}
	return nil
}
