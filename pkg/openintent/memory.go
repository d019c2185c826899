package openintent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Memory types.
const (
	MemoryWorking  = models.MemoryTypeWorking
	MemoryEpisodic = models.MemoryTypeEpisodic
	MemorySemantic = models.MemoryTypeSemantic
)

// ListMemoryParams filters ListMemory.
type ListMemoryParams struct {
	// Namespace and MemoryType keep entries with these values; empty keeps all.
	Namespace  string
	MemoryType MemoryType
	// Tags keeps entries having every one of these tags.
	Tags []string
	// Limit bounds the page (server default 100); Offset skips entries.
	Limit, Offset int
}

// CreateMemory stores a new entry (create_memory); m.AgentID defaults to the client's agent.
// An existing agent/namespace/key is a *ConflictError.
func (c *Client) CreateMemory(ctx context.Context, m MemoryEntryCreate, opts ...Option) (*MemoryEntry, error) {
	if err := requireIDs("CreateMemory", "m.Namespace", m.Namespace, "m.Key", m.Key); err != nil {
		return nil, err
	}
	if m.Value == nil {
		return nil, invalidArg("CreateMemory", "m.Value", "m.Value is nil")
	}
	if m.AgentID == "" {
		m.AgentID = c.settings.agentID
	}
	return call[MemoryEntry](ctx, c, op1(client.NewCreateMemoryEntryRequest, m), opts)
}

// GetMemory returns an entry (get_memory); an expired entry is a *NotFoundError.
func (c *Client) GetMemory(ctx context.Context, entryID string, opts ...Option) (*MemoryEntry, error) {
	if err := requireIDs("GetMemory", "entryID", entryID); err != nil {
		return nil, err
	}
	return call[MemoryEntry](ctx, c, op1(client.NewGetMemoryEntryRequest, entryID), opts)
}

// ListMemory returns one page of an agent's live entries (list_memory); agentID defaults to the
// client's agent.
func (c *Client) ListMemory(ctx context.Context, agentID string, p ListMemoryParams, opts ...Option) ([]MemoryEntry, error) {
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if err := requireIDs("ListMemory", "agentID", agentID); err != nil {
		return nil, err
	}
	if p.Limit < 0 || p.Offset < 0 {
		return nil, invalidArg("ListMemory", "limit", "limit and offset must not be negative")
	}
	q := &models.ListAgentMemoryParams{Namespace: p.Namespace, MemoryType: string(p.MemoryType),
		Tags: strings.Join(p.Tags, ","), Limit: models.Limit100(p.Limit), Offset: models.Offset(p.Offset)}
	out := []MemoryEntry{}
	if err := c.do(ctx, request{build: op2(client.NewListAgentMemoryRequest, agentID, nil), query: q, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// Memory iterates over every entry of an agent matching p, page by page.
func (c *Client) Memory(ctx context.Context, agentID string, p ListMemoryParams, opts ...Option) iter.Seq2[MemoryEntry, error] {
	return paginate(p.Offset, p.Limit, func(offset, limit int) ([]MemoryEntry, error) {
		p.Offset, p.Limit = offset, limit
		return c.ListMemory(ctx, agentID, p, opts...)
	})
}

// UpdateMemory changes an entry if it is at version (update_memory).
func (c *Client) UpdateMemory(ctx context.Context, entryID string, version int64, u MemoryEntryUpdate, opts ...Option) (*MemoryEntry, error) {
	if err := requireIDs("UpdateMemory", "entryID", entryID); err != nil {
		return nil, err
	}
	return call[MemoryEntry](ctx, c, op3(client.NewUpdateMemoryEntryRequest, entryID,
		&models.UpdateMemoryEntryParams{IfMatch: version}, u), opts)
}

// DeleteMemory forgets an entry (delete_memory).
func (c *Client) DeleteMemory(ctx context.Context, entryID string, opts ...Option) error {
	if err := requireIDs("DeleteMemory", "entryID", entryID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op1(client.NewDeleteMemoryEntryRequest, entryID)}, opts)
}

// FindMemory returns the client agent's entry under namespace and key.
func (c *Client) FindMemory(ctx context.Context, namespace, key string, opts ...Option) (*MemoryEntry, error) {
	for e, err := range c.Memory(ctx, "", ListMemoryParams{Namespace: namespace}, opts...) {
		if err != nil {
			return nil, err
		}
		if e.Key == key {
			return &e, nil
		}
	}
	method, path := c.routeOf(op2(client.NewListAgentMemoryRequest, c.settings.agentID, nil))
	return nil, &NotFoundError{&APIError{StatusCode: http.StatusNotFound, Code: "not_found", Op: sdkOp(),
		Method: method, Path: path,
		Detail: fmt.Sprintf("no memory entry %q in namespace %q", key, namespace)}}
}

// memoryValueKey holds a value that is not a JSON object inside an entry's value.
const memoryValueKey = "value"

// PutMemoryValue stores v as the client agent's entry under namespace and key, creating it or
// replacing its value (retrying when another writer gets there first). A v that encodes as a
// JSON object is the entry's value; anything else is stored as {"value": v}.
func PutMemoryValue[T any](ctx context.Context, c *Client, namespace, key string, v T, opts ...Option) (*MemoryEntry, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("openintent: PutMemoryValue: encode: %w", err)
	}
	value := Object{}
	if !isJSONObject[T]() || json.Unmarshal(raw, &value) != nil || value == nil {
		value = Object{memoryValueKey: json.RawMessage(raw)}
	}
	for attempt := 0; ; attempt++ {
		e, err := c.FindMemory(ctx, namespace, key, opts...)
		var nf *NotFoundError
		switch {
		case errors.As(err, &nf):
			e, err = c.CreateMemory(ctx, MemoryEntryCreate{Namespace: namespace, Key: key, Value: value}, opts...)
		case err == nil:
			e, err = c.UpdateMemory(ctx, e.ID, e.Version, MemoryEntryUpdate{Value: value}, opts...)
		}
		if err == nil || attempt >= 5 || !(errors.Is(err, ErrConflict) || errors.Is(err, ErrVersionConflict) || errors.As(err, &nf)) {
			return e, err
		}
	}
}

// GetMemoryValue decodes the client agent's entry under namespace and key into a T (see
// PutMemoryValue). A missing or expired entry is a *NotFoundError.
func GetMemoryValue[T any](ctx context.Context, c *Client, namespace, key string, opts ...Option) (T, error) {
	var v T
	e, err := c.FindMemory(ctx, namespace, key, opts...)
	if err != nil {
		return v, err
	}
	var raw []byte
	if inner, ok := e.Value[memoryValueKey]; ok && (len(e.Value) == 1 || !isJSONObject[T]()) {
		raw, err = json.Marshal(inner)
	} else {
		raw, err = json.Marshal(e.Value)
	}
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return v, fmt.Errorf("openintent: GetMemoryValue %s/%s: decode into %T: %w", namespace, key, v, err)
	}
	return v, nil
}

// isJSONObject reports whether T's zero value encodes as a JSON object (structs, maps).
func isJSONObject[T any]() bool {
	var zero T
	raw, err := json.Marshal(zero)
	if err != nil {
		return false
	}
	if bytes.Equal(raw, []byte("null")) { // nil map or pointer: look at what it points to
		var probe any = &zero
		if err := json.Unmarshal([]byte("{}"), probe); err == nil {
			return true
		}
		return false
	}
	return len(raw) > 0 && raw[0] == '{'
}
