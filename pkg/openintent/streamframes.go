package openintent

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/openintent-go/openintent/pkg/timestamp"
)

// streamKind is what a stream follows: an intent, an agent or a portfolio.
type streamKind int

const (
	intentStreamKind streamKind = iota + 1
	agentStreamKind
	portfolioStreamKind
)

// decodeFrame turns one server-sent event into an IntentEvent. This project's server sends
// whole events (id, intent_id, event_type, ...) as data. The reference server sends, under
// `event: <type>`, other shapes (compatibility policy item 4), decoded here into events that
// name their type and intent:
//   - state_patched, status_changed: the whole intent (its id is the intent's, not an event's):
//     the payload holds "intent" (the object), "version", "status" and, for state_patched,
//     "state"; CreatedAt is the intent's updated_at;
//   - agent_assigned (agent streams): the assignment: the payload holds agent_id, role and
//     assignment_id; CreatedAt is assigned_at;
//   - intent_added, intent_removed (portfolio streams, with data {}): the events
//     added_to_portfolio and removed_from_portfolio, with the payload's portfolio_id (the
//     reference does not say which intent);
//   - any other type (access_*, governance.*, intent.resumed, ...): the data is the payload,
//     intent_id its own or the stream's intent.
//
// The reference's frames carry no event id: such events have an empty ID and no Sequence. A
// frame that fits none of these (data that is not a JSON object, no event type) is an error,
// never an empty event.
func decodeFrame(name string, data []byte, kind streamKind, streamID string) (IntentEvent, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return IntentEvent{}, fmt.Errorf("openintent: stream frame %q: data is not a JSON object: %.80q", name, data)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return IntentEvent{}, fmt.Errorf("openintent: stream frame %q: %w", name, err)
	}
	if t := rawString(fields["event_type"]); t != "" {
		var ev IntentEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return IntentEvent{}, fmt.Errorf("openintent: stream frame %q: %w", name, err)
		}
		if ev.IntentID == "" && kind == intentStreamKind {
			ev.IntentID = streamID
		}
		return ev, nil
	}
	if name == "" || name == "message" {
		return IntentEvent{}, fmt.Errorf("openintent: stream frame without an event type or event_type: %.80q", data)
	}
	var obj Object
	if err := json.Unmarshal(data, &obj); err != nil {
		return IntentEvent{}, fmt.Errorf("openintent: stream frame %q: %w", name, err)
	}
	ev := IntentEvent{EventType: EventType(name), Payload: Object{}}
	switch {
	case isIntentShaped(fields):
		ev.IntentID = rawString(fields["id"])
		ev.Payload["intent"] = obj
		for _, k := range []string{"version", "status"} {
			if v, ok := obj[k]; ok {
				ev.Payload[k] = v
			}
		}
		if name == string(EventStatePatched) {
			ev.Payload["state"] = obj["state"]
		}
		ev.CreatedAt = rawTime(fields["updated_at"])
	case name == string(EventAgentAssigned) && fields["assigned_at"] != nil:
		ev.IntentID = rawString(fields["intent_id"])
		ev.Payload = Object{"agent_id": obj["agent_id"], "role": obj["role"], "assignment_id": obj["id"]}
		ev.CreatedAt = rawTime(fields["assigned_at"])
	default:
		ev.Payload = obj
		ev.IntentID = rawString(fields["intent_id"])
		for _, k := range []string{"created_at", "responded_at", "timestamp"} {
			if t := rawTime(fields[k]); !t.IsZero() {
				ev.CreatedAt = t
				break
			}
		}
	}
	switch kind {
	case intentStreamKind:
		if ev.IntentID == "" {
			ev.IntentID = streamID
		}
	case portfolioStreamKind:
		switch name {
		case "intent_added":
			ev.EventType = EventAddedToPortfolio
		case "intent_removed":
			ev.EventType = EventRemovedFromPortfolio
		}
		if _, ok := ev.Payload["portfolio_id"]; !ok {
			ev.Payload["portfolio_id"] = streamID
		}
	}
	return ev, nil
}

// isIntentShaped reports whether a frame's data is an intent (the reference's state_patched and
// status_changed frames).
func isIntentShaped(f map[string]json.RawMessage) bool {
	return f["id"] != nil && f["title"] != nil && f["version"] != nil && f["state"] != nil
}

// rawString is a JSON string's value, or "" for anything else.
func rawString(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return ""
	}
	return s
}

// rawTime is a JSON timestamp's value (any form pkg/timestamp reads), or the zero Timestamp.
func rawTime(b json.RawMessage) Timestamp {
	var t timestamp.Time
	if len(b) == 0 || t.UnmarshalJSON(b) != nil {
		return Timestamp{}
	}
	return t
}
