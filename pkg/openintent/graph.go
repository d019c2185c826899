package openintent

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/openintent-go/openintent/gen/models"
)

// listRelated fetches one of the [RFC-0002] intent lists of an intent.
//
// [RFC-0002]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0002-intent-graphs.md
func (c *Client) listRelated(ctx context.Context, method, intentID, segment, key string, opts []Option) ([]Intent, error) {
	if err := requireID(method, "intentID", intentID); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{method: http.MethodGet, path: pathf("/api/v1/intents/%s/", intentID) + segment, out: &raw}, opts); err != nil {
		return nil, err
	}
	return decodeIntents(raw, key)
}

// GetChildren lists the intent's direct children.
func (c *Client) GetChildren(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetChildren", intentID, "children", "children", opts)
}

// GetDescendants lists every intent below the intent in the hierarchy.
func (c *Client) GetDescendants(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetDescendants", intentID, "descendants", "descendants", opts)
}

// GetAncestors lists the intent's parent, its parent's parent, and so on up to the root.
func (c *Client) GetAncestors(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetAncestors", intentID, "ancestors", "ancestors", opts)
}

// GetDependencies lists the intents the intent depends on.
func (c *Client) GetDependencies(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetDependencies", intentID, "dependencies", "dependencies", opts)
}

// GetDependents lists the intents that depend on the intent.
func (c *Client) GetDependents(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetDependents", intentID, "dependents", "dependents", opts)
}

// GetReadyIntents lists the intent's children whose dependencies are all completed.
func (c *Client) GetReadyIntents(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetReadyIntents", intentID, "ready", "ready", opts)
}

// GetBlockedIntents lists the intent's children still waiting on a dependency.
func (c *Client) GetBlockedIntents(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetBlockedIntents", intentID, "blocked", "blocked", opts)
}

// GetIntentGraph returns the hierarchy and dependency graph rooted at the intent's root, with
// an aggregate status.
func (c *Client) GetIntentGraph(ctx context.Context, intentID string, opts ...Option) (*IntentGraph, error) {
	if err := requireID("GetIntentGraph", "intentID", intentID); err != nil {
		return nil, err
	}
	var out IntentGraph
	if err := c.do(ctx, request{method: http.MethodGet, path: pathf("/api/v1/intents/%s/graph", intentID), out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddDependency makes the intent depend on dependencyID if the intent is still at version. A
// dependency that would form a cycle is refused.
func (c *Client) AddDependency(ctx context.Context, intentID string, version int64, dependencyID string, opts ...Option) (*Intent, error) {
	if err := requireID("AddDependency", "intentID", intentID); err != nil {
		return nil, err
	}
	if err := requireID("AddDependency", "dependencyID", dependencyID); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, invalidArg("AddDependency", "version", "version must be at least 1, got %d", version)
	}
	var out intentWire
	err := c.do(ctx, request{method: http.MethodPost, path: pathf("/api/v1/intents/%s/dependencies", intentID),
		body: models.DependencyAdd{DependencyID: dependencyID}, ifMatch: &version, out: &out}, opts)
	return intentResult(out, err)
}

// RemoveDependency removes the intent's dependency on dependencyID if the intent is still at
// version.
func (c *Client) RemoveDependency(ctx context.Context, intentID string, version int64, dependencyID string, opts ...Option) (*Intent, error) {
	if err := requireID("RemoveDependency", "intentID", intentID); err != nil {
		return nil, err
	}
	if err := requireID("RemoveDependency", "dependencyID", dependencyID); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, invalidArg("RemoveDependency", "version", "version must be at least 1, got %d", version)
	}
	var out intentWire
	err := c.do(ctx, request{method: http.MethodDelete, path: pathf("/api/v1/intents/%s/dependencies/%s", intentID, dependencyID),
		ifMatch: &version, out: &out}, opts)
	return intentResult(out, err)
}
