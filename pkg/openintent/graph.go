package openintent

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// listRelated fetches one of the [RFC-0002] intent lists of an intent, with list, the generated
// builder of its route; key names the list in a wrapped answer.
//
// [RFC-0002]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0002-intent-graphs.md
func (c *Client) listRelated(ctx context.Context, method, intentID string, list func(server, intentID string) (*http.Request, error), key string, opts []Option) ([]Intent, error) {
	if err := requireID(method, "intentID", intentID); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{build: op1(list, intentID), out: &raw}, opts); err != nil {
		return nil, err
	}
	return decodeIntents(raw, key)
}

// GetChildren lists the intent's direct children.
func (c *Client) GetChildren(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetChildren", intentID, client.NewListChildIntentsRequest, "children", opts)
}

// GetDescendants lists every intent below the intent in the hierarchy.
func (c *Client) GetDescendants(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetDescendants", intentID, client.NewListDescendantIntentsRequest, "descendants", opts)
}

// GetAncestors lists the intent's parent, its parent's parent, and so on up to the root.
func (c *Client) GetAncestors(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetAncestors", intentID, client.NewListAncestorIntentsRequest, "ancestors", opts)
}

// GetDependencies lists the intents the intent depends on.
func (c *Client) GetDependencies(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetDependencies", intentID, client.NewListIntentDependenciesRequest, "dependencies", opts)
}

// GetDependents lists the intents that depend on the intent.
func (c *Client) GetDependents(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetDependents", intentID, client.NewListIntentDependentsRequest, "dependents", opts)
}

// GetReadyIntents lists the intent's children whose dependencies are all completed.
func (c *Client) GetReadyIntents(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetReadyIntents", intentID, client.NewListReadyChildIntentsRequest, "ready", opts)
}

// GetBlockedIntents lists the intent's children still waiting on a dependency.
func (c *Client) GetBlockedIntents(ctx context.Context, intentID string, opts ...Option) ([]Intent, error) {
	return c.listRelated(ctx, "GetBlockedIntents", intentID, client.NewListBlockedChildIntentsRequest, "blocked", opts)
}

// GetIntentGraph returns the hierarchy and dependency graph rooted at the intent's root, with
// an aggregate status.
func (c *Client) GetIntentGraph(ctx context.Context, intentID string, opts ...Option) (*IntentGraph, error) {
	if err := requireID("GetIntentGraph", "intentID", intentID); err != nil {
		return nil, err
	}
	var out IntentGraph
	if err := c.do(ctx, request{build: op1(client.NewGetIntentGraphRequest, intentID), out: &out}, opts); err != nil {
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
	err := c.do(ctx, request{build: op3(client.NewAddIntentDependencyRequest, intentID,
		&models.AddIntentDependencyParams{IfMatch: version}, models.DependencyAdd{DependencyID: dependencyID}), out: &out}, opts)
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
	err := c.do(ctx, request{build: op3(client.NewRemoveIntentDependencyRequest, intentID, dependencyID,
		&models.RemoveIntentDependencyParams{IfMatch: version}), out: &out}, opts)
	return intentResult(out, err)
}
