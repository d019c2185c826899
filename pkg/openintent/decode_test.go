package openintent

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// These bodies are what the reference server (openintent 0.17.0) puts on the wire, taken from
// the protocol notes; the client must read them as well as our own server's.

func TestDecodeReferenceIntentShapes(t *testing.T) {
	withParentID := `{"id":"c","title":"t","description":"","version":1,"status":"draft","state":{},
		"constraints":["no weekends"],"parent_id":"p","depends_on":[],"created_by":"k",
		"created_at":"2026-11-23T10:00:00.123456","updated_at":"2026-11-23T10:00:00","confidence":1}`
	var w intentWire
	if err := w.UnmarshalJSON([]byte(withParentID)); err != nil {
		t.Fatal(err)
	}
	in := Intent(w)
	if in.ParentID == nil || *in.ParentID != "p" || in.ParentIntentID == nil || *in.ParentIntentID != "p" {
		t.Fatalf("parent = %v %v", in.ParentID, in.ParentIntentID)
	}
	if items, _ := in.Constraints["items"].([]any); len(items) != 1 || items[0] != "no weekends" {
		t.Fatalf("legacy constraints = %v", in.Constraints)
	}
	if in.CreatedAt.UTC() != time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC) {
		t.Fatalf("naive UTC timestamp = %v", in.CreatedAt)
	}

	// Wrapped RFC-0002 lists carry parent_intent_id; the bare list form is accepted too.
	wrapped := `{"children":[{"id":"c","title":"t","status":"bogus_status","parent_intent_id":"p","version":1}]}`
	list, err := decodeIntents([]byte(wrapped), "children")
	if err != nil || len(list) != 1 || *list[0].ParentID != "p" || list[0].Status != "bogus_status" {
		t.Fatalf("wrapped list = %+v %v", list, err)
	}
	bare, err := decodeIntents([]byte(`[{"id":"a","title":"x","version":1}]`), "intents")
	if err != nil || len(bare) != 1 || bare[0].ID != "a" {
		t.Fatalf("bare list = %+v %v", bare, err)
	}
	if _, err := decodeIntents([]byte(`{"other":[]}`), "intents"); err == nil {
		t.Fatal("envelope without the list accepted")
	}
}

func TestDecodeLeaseWithoutStatus(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05")
	future := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05")
	body := `[{"id":"1","intent_id":"i","agent_id":"a","scope":"s","acquired_at":"` + past + `","expires_at":"` + future + `","released_at":null},
		{"id":"2","intent_id":"i","agent_id":"a","scope":"s","acquired_at":"` + past + `","expires_at":"` + past + `","released_at":null},
		{"id":"3","intent_id":"i","agent_id":"a","scope":"s","acquired_at":"` + past + `","expires_at":"` + future + `","released_at":"` + past + `"}]`
	leases, err := decodeLeases([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []LeaseStatus{LeaseActive, LeaseExpired, LeaseReleased}
	for i, l := range leases {
		if l.Status != want[i] {
			t.Errorf("lease %s status = %s, want %s", l.ID, l.Status, want[i])
		}
	}
	if env, err := decodeLeases([]byte(`{"leases":[]}`)); err != nil || len(env) != 0 {
		t.Fatalf("envelope = %v %v", env, err)
	}
}

func TestDecodeReferenceErrorBodies(t *testing.T) {
	resp := func(code int) *http.Response {
		return &http.Response{StatusCode: code, Header: http.Header{"X-Request-Id": {"req-1"}}}
	}
	cases := []struct {
		name   string
		status int
		body   string
		target error
		check  func(*APIError) bool
	}{
		{"version conflict as text", 409, `{"detail":"Version conflict"}`, ErrVersionConflict,
			func(e *APIError) bool { return e.Detail == "Version conflict" && e.CurrentVersion == 0 }},
		{"lease conflict as text", 409, `{"detail":"Lease already held for this scope"}`, ErrLeaseConflict, nil},
		{"our version conflict", 409, `{"detail":"Version conflict","code":"version_conflict","current_version":4}`, ErrVersionConflict,
			func(e *APIError) bool { return e.CurrentVersion == 4 }},
		{"our transition conflict", 409, `{"detail":"Cannot change status","code":"invalid_transition","current_version":4}`, ErrConflict,
			func(e *APIError) bool { return !errors.Is(e, ErrVersionConflict) }},
		{"governance object", 403, `{"detail":{"error":"governance_violation","rule":"write_scope","message":"scope not allowed"}}`, ErrPermissionDenied,
			func(e *APIError) bool { return e.Code == "governance_violation" && e.Detail == "scope not allowed" }},
		{"fastapi validation list", 422, `{"detail":[{"type":"missing","loc":["body","title"],"msg":"Field required","input":{}}]}`, ErrValidation,
			func(e *APIError) bool { return len(e.FieldErrors) == 1 && e.FieldErrors[0].Field == "title" }},
		{"plain text 500", 500, `Internal Server Error`, ErrServer,
			func(e *APIError) bool { return e.Detail == "Internal Server Error" }},
		{"empty 502", 502, ``, ErrServer, func(e *APIError) bool { return e.Detail == "Bad Gateway" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIError("POST", "/x", resp(tc.status), []byte(tc.body))
			err := e.typed()
			if !errors.Is(err, tc.target) || e.RequestID != "req-1" {
				t.Fatalf("%v does not match %v", err, tc.target)
			}
			if tc.check != nil && !tc.check(e) {
				t.Fatalf("decoded %+v", e)
			}
			var api *APIError
			if !errors.As(err, &api) || api != e {
				t.Fatal("errors.As *APIError failed")
			}
		})
	}
}
