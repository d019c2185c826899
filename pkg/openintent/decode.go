package openintent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Liberal decoding (compatibility policy item 4): the client accepts what this project's server
// sends and what the reference server sends, which differ in places:
//   - an intent's parent comes as parent_id, parent_intent_id or parentIntentId;
//   - constraints may be a legacy JSON list (kept as Object{"items": [...]});
//   - lists come bare or wrapped in an envelope ({"intents": [...]}, {"leases": [...]}, ...);
//   - a lease may lack status (derived from released_at and expires_at).

// intentAlias has Intent's fields and no methods.
type intentAlias Intent

// bodyDecoder is a response type that decodes a whole body itself. Client.do hands the body to
// it directly: through json.Unmarshal, encoding/json would first scan the body to validate it
// and then hand it to UnmarshalJSON, which scans it again.
type bodyDecoder interface{ decodeBody(b []byte) error }

// intentWire decodes one intent liberally.
type intentWire Intent

// UnmarshalJSON implements json.Unmarshaler.
func (w *intentWire) UnmarshalJSON(b []byte) error { return w.decodeBody(b) }

func (w *intentWire) decodeBody(b []byte) error {
	var aux struct {
		intentAlias
		Constraints         json.RawMessage `json:"constraints"`
		ParentIntentIDCamel *string         `json:"parentIntentId"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	in := Intent(aux.intentAlias)
	switch c := bytes.TrimSpace(aux.Constraints); {
	case len(c) == 0 || bytes.Equal(c, []byte("null")):
	case c[0] == '[':
		var items []any
		if err := json.Unmarshal(c, &items); err != nil {
			return fmt.Errorf("constraints: %w", err)
		}
		in.Constraints = Object{"items": items}
	default:
		if err := json.Unmarshal(c, &in.Constraints); err != nil {
			return fmt.Errorf("constraints: %w", err)
		}
	}
	if in.ParentIntentID == nil {
		in.ParentIntentID = aux.ParentIntentIDCamel
	}
	if in.ParentIntentID == nil {
		in.ParentIntentID = in.ParentID
	}
	if in.ParentID == nil {
		in.ParentID = in.ParentIntentID
	}
	*w = intentWire(in)
	return nil
}

// leaseAlias has Lease's fields and no methods.
type leaseAlias Lease

// leaseWire decodes one lease, deriving status when the server did not send it.
type leaseWire Lease

// UnmarshalJSON implements json.Unmarshaler.
func (w *leaseWire) UnmarshalJSON(b []byte) error { return w.decodeBody(b) }

func (w *leaseWire) decodeBody(b []byte) error {
	var l leaseAlias
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	if l.Status == "" {
		switch {
		case !l.ReleasedAt.IsZero():
			l.Status = LeaseReleased
		case !l.ExpiresAt.IsZero() && !l.ExpiresAt.After(time.Now()):
			l.Status = LeaseExpired
		default:
			l.Status = LeaseActive
		}
	}
	*w = leaseWire(l)
	return nil
}

// decodeList decodes a bare JSON array or an object holding the array under key.
func decodeList[W any](raw json.RawMessage, key string) ([]W, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '{' {
		var env map[string]json.RawMessage
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, err
		}
		inner, ok := env[key]
		if !ok {
			return nil, fmt.Errorf("response has no %q list", key)
		}
		raw = inner
	}
	var out []W
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeIntents decodes a list of intents, bare or under key.
func decodeIntents(raw json.RawMessage, key string) ([]Intent, error) {
	ws, err := decodeList[intentWire](raw, key)
	if err != nil {
		return nil, fmt.Errorf("openintent: decode %s: %w", key, err)
	}
	out := make([]Intent, len(ws))
	for i, w := range ws {
		out[i] = Intent(w)
	}
	return out, nil
}

// decodeLeases decodes a list of leases, bare or under "leases".
func decodeLeases(raw json.RawMessage) ([]Lease, error) {
	ws, err := decodeList[leaseWire](raw, "leases")
	if err != nil {
		return nil, fmt.Errorf("openintent: decode leases: %w", err)
	}
	out := make([]Lease, len(ws))
	for i, w := range ws {
		out[i] = Lease(w)
	}
	return out, nil
}
