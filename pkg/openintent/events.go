package openintent

import (
	"github.com/openintent-go/openintent/gen/client"

	"context"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/openintent-go/openintent/gen/models"
)

// LogEvent appends an event to the intent's log (the Python SDK's log_event). The actor is the
// client's agent; WithTrace (or a trace in ctx, see ContextWithTrace) sets the [RFC-0020] trace_id
// and parent_event_id.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
func (c *Client) LogEvent(ctx context.Context, intentID string, eventType EventType, payload Object, opts ...Option) (*IntentEvent, error) {
	if err := requireID("LogEvent", "intentID", intentID); err != nil {
		return nil, err
	}
	if eventType == "" {
		return nil, invalidArg("LogEvent", "eventType", "eventType is empty")
	}
	s, err := c.resolve(opts)
	if err != nil {
		return nil, err
	}
	actor := s.agentID
	if actor == "" {
		actor = "sdk"
	}
	if payload == nil {
		payload = Object{}
	}
	traceID, parentID := s.traceID, s.parentEventID
	if tr, ok := TraceFromContext(ctx); ok && traceID == "" && parentID == "" {
		traceID, parentID = tr.TraceID, tr.ParentEventID
	}
	body := models.EventCreate{EventType: eventType, Actor: actor, Payload: payload,
		TraceID: traceID, ParentEventID: parentID}
	if s.signer != nil { // WithEventSigner: an RFC-0018 proof (identity.go)
		if body.Proof, err = s.signer.SignEvent(intentID, body); err != nil {
			return nil, err
		}
	}
	var out IntentEvent
	if err := c.do(ctx, request{build: op2(client.NewCreateIntentEventRequest, intentID, body), out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetEvents returns one page of the intent's events, newest first (the Python SDK's get_events):
// params.EventType and params.Since filter, params.Limit defaults to 100. Events iterates over
// all pages.
func (c *Client) GetEvents(ctx context.Context, intentID string, params GetEventsParams, opts ...Option) ([]IntentEvent, error) {
	if err := requireID("GetEvents", "intentID", intentID); err != nil {
		return nil, err
	}
	if params.Limit < 0 || params.Offset < 0 {
		return nil, invalidArg("GetEvents", "limit", "limit and offset must not be negative")
	}
	if params.Limit == 0 {
		params.Limit = DefaultEventsLimit
	}
	var raw json.RawMessage
	if err := c.do(ctx, request{build: op2(client.NewListIntentEventsRequest, intentID, nil), query: params, out: &raw}, opts); err != nil {
		return nil, err
	}
	events, err := decodeList[IntentEvent](raw, "events")
	if err != nil {
		return nil, fmt.Errorf("openintent: GetEvents: decode: %w", err)
	}
	return events, nil
}

// Events iterates over the intent's events matching params, newest first, fetching pages of
// params.Limit (default 100). Events appended while iterating may shift pages; pass
// params.Since, or use a stream, for a consistent view. It stops at the first error, which it
// yields.
func (c *Client) Events(ctx context.Context, intentID string, params GetEventsParams, opts ...Option) iter.Seq2[IntentEvent, error] {
	return func(yield func(IntentEvent, error) bool) {
		if params.Limit == 0 {
			params.Limit = DefaultEventsLimit
		}
		for {
			page, err := c.GetEvents(ctx, intentID, params, opts...)
			if err != nil {
				yield(IntentEvent{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < int(params.Limit) {
				return
			}
			params.Offset += int32(len(page))
		}
	}
}

// toObject turns a payload struct into free-form JSON.
func toObject(v any) (Object, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var o Object
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	return o, nil
}
