package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/server"
)

// newSuspensionEnv is a server with alice's and bob's bound keys whose suspension timers run
// every 5 ms, so tests that move the clock see them fire at once.
func newSuspensionEnv(t *testing.T, configure ...func(*server.Config)) *env {
	return newEnvConfig(t, testStorePath(t), func(c *server.Config) {
		c.APIKeys = append(c.APIKeys, aliceKey+"=alice", bobKey+"=bob")
		c.Suspensions.Interval = 5 * time.Millisecond
		for _, f := range configure {
			f(c)
		}
	})
}

// eventually polls cond until it holds; it fails the test after a generous deadline (the
// timers run every 5 ms; the deadline only guards against a hang on a loaded machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// eventTypes returns the types of an intent's events, newest first.
func eventTypes(e *env, intentID string) []string {
	e.t.Helper()
	var out []string
	for _, ev := range e.must(200, "GET", "/api/v1/intents/"+intentID+"/events", nil).list {
		out = append(out, ev.(map[string]any)["event_type"].(string))
	}
	return out
}

// eventOf returns the newest event of the type (lists are newest first), or nil.
func eventOf(e *env, intentID, typ string, headers ...string) map[string]any {
	e.t.Helper()
	for _, ev := range e.must(200, "GET", "/api/v1/intents/"+intentID+"/events", nil, headers...).list {
		if m := ev.(map[string]any); m["event_type"] == typ {
			return m
		}
	}
	return nil
}

func suspensionOf(in map[string]any) map[string]any {
	s, _ := in["state"].(map[string]any)["_suspension"].(map[string]any)
	return s
}

var refundChoices = []any{
	map[string]any{"value": "approve", "label": "Approve refund", "description": "Full refund", "style": "primary"},
	map[string]any{"value": "deny", "label": "Deny refund"},
}

func TestSuspendAndRespond(t *testing.T) {
	e := newSuspensionEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "refund", "status": "active"}, alice...).body
	p := "/api/v1/intents/" + id(in)

	// Bad requests name their field.
	for body, field := range map[string]string{
		`{"question": "?", "response_type": "choice"}`:                                                                                   "choices",
		`{"question": "   ", "choices": [{"value": "a", "label": "A"}]}`:                                                                 "question",
		`{"question": "?", "choices": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]}`:                                     "choices/1/value",
		`{"question": "?", "response_type": "confirm", "choices": [{"value": "maybe", "label": "M"}]}`:                                   "choices/0/value",
		`{"question": "?", "response_type": "text", "timeout_seconds": 10, "retry_policy": {"max_attempts": 2, "interval_seconds": 60}}`: "retry_policy/interval_seconds",
		`{"question": "?", "response_type": "shout"}`:                                                                                    "response_type",
	} {
		r := e.call("POST", p+"/suspend", body, alice...)
		if r.status != 422 || !strings.Contains(r.raw, `"field":"`+field) {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
	// A draft intent cannot be suspended; a stale If-Match is refused.
	draft := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "draft"}, alice...).body
	if r := e.call("POST", "/api/v1/intents/"+id(draft)+"/suspend", map[string]any{"question": "?", "response_type": "text"}, alice...); r.status != 409 || r.body["code"] != "invalid_transition" {
		t.Errorf("suspend a draft: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", p+"/suspend", map[string]any{"question": "?", "response_type": "text"}, append(alice, ifMatch(7)...)...); r.status != 409 || r.body["code"] != "version_conflict" {
		t.Errorf("stale If-Match: %d %s", r.status, r.raw)
	}

	s := e.must(200, "POST", p+"/suspend", map[string]any{"question": "Refund order 12345?", "choices": refundChoices,
		"context": map[string]any{"order": "12345"}, "channel_hint": "slack", "timeout_seconds": 3600, "confidence": 0.55,
		"fallback_policy": "complete_with_fallback", "fallback_value": "deny"}, append(alice, ifMatch(in["version"])...)...).body
	rec := suspensionOf(s)
	if s["status"] != "suspended_awaiting_input" || s["version"].(float64) != 2 || rec["question"] != "Refund order 12345?" ||
		rec["response_type"] != "choice" || rec["suspended_by"] != "alice" || rec["attempt"].(float64) != 1 ||
		rec["expires_at"] != "2026-11-23T13:00:00Z" || rec["suspended_at"] != "2026-11-23T12:00:00Z" || rec["resolution"] != nil ||
		rec["confidence_at_suspension"].(float64) != 0.55 || rec["fallback_value"] != "deny" {
		t.Fatalf("suspended: %s", e.must(200, "GET", p, nil, alice...).raw)
	}
	sid := rec["id"].(string)
	ev := eventOf(e, id(in), "intent.suspended", alice...)
	if ev == nil || ev["actor"] != "alice" || ev["payload"].(map[string]any)["suspension_id"] != sid || ev["payload"].(map[string]any)["expires_at"] != "2026-11-23T13:00:00Z" {
		t.Fatalf("intent.suspended: %v", ev)
	}
	if r := e.call("POST", p+"/suspend", map[string]any{"question": "again?", "response_type": "text"}, alice...); r.status != 409 {
		t.Errorf("suspend twice: %d %s", r.status, r.raw)
	}

	// Close the intent to alice: bob is an outsider.
	e.must(200, "PUT", p+"/acl", map[string]any{"default_policy": "closed", "entries": []any{}}, alice...)
	answer := map[string]any{"suspension_id": sid, "value": "approve"}
	if r := e.call("POST", p+"/suspend/respond", answer, bob...); r.status != 403 {
		t.Errorf("outsider answers: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "approve", "responded_by": "bob"}, alice...); r.status != 403 || r.body["code"] != "agent_not_allowed" {
		t.Errorf("answer as someone else: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "maybe"}, alice...); r.status != 422 || r.body["code"] != "invalid_choice" ||
		!strings.Contains(r.raw, `"field":"value"`) || !strings.Contains(r.raw, "approve, deny") {
		t.Errorf("wrong choice: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": 1}, alice...); r.status != 422 {
		t.Errorf("a number for a choice: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": "other", "value": "approve"}, alice...); r.status != 409 || r.body["code"] != "suspension_mismatch" ||
		!strings.Contains(r.body["detail"].(string), "expected "+sid+", got other") {
		t.Errorf("wrong suspension: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": "", "value": "approve"}, alice...); r.status != 422 {
		t.Errorf("empty suspension_id: %d %s", r.status, r.raw)
	}
	// Refusals changed nothing (an ACL change does not move the intent's version).
	if got := e.must(200, "GET", p, nil, alice...).body; got["version"].(float64) != 2 || got["status"] != "suspended_awaiting_input" {
		t.Fatalf("after refusals: %v", got)
	}

	res := e.must(200, "POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "approve", "metadata": map[string]any{"via": "slack"}}, alice...).body
	if res["intent_id"] != id(in) || res["suspension_id"] != sid || res["resolution"] != "responded" || res["value"] != "approve" ||
		res["responded_by"] != "alice" || res["choice_label"] != "Approve refund" || res["choice_description"] != "Full refund" || res["responded_at"] != "2026-11-23T12:00:00Z" {
		t.Fatalf("resolution: %v", res)
	}
	got := e.must(200, "GET", p, nil, alice...).body
	rec = suspensionOf(got)
	if got["status"] != "active" || got["version"].(float64) != 3 || rec["resolution"] != "responded" || rec["response"] != "approve" ||
		rec["responded_by"] != "alice" || rec["metadata"].(map[string]any)["via"] != "slack" || rec["question"] != "Refund order 12345?" {
		t.Fatalf("resumed: %v", got)
	}
	resumed := eventOf(e, id(in), "intent.resumed", alice...)
	if resumed == nil || resumed["actor"] != "alice" || resumed["payload"].(map[string]any)["value"] != "approve" {
		t.Fatalf("intent.resumed: %v", resumed)
	}
	// A second answer is refused.
	if r := e.call("POST", p+"/suspend/respond", answer, alice...); r.status != 409 || r.body["code"] != "not_suspended" || r.body["detail"] != "Intent is not suspended (status=active)" {
		t.Errorf("second answer: %d %s", r.status, r.raw)
	}
	e.must(404, "POST", "/api/v1/intents/missing/suspend/respond", answer)
}

func TestSuspensionAnswerTypes(t *testing.T) {
	e := newSuspensionEnv(t)
	in := e.createIntent("types", map[string]any{"status": "active"})
	p := "/api/v1/intents/" + id(in)
	suspend := func(body map[string]any) string {
		t.Helper()
		return suspensionOf(e.must(200, "POST", p+"/suspend", body).body)["id"].(string)
	}
	// confirm offers yes/no by default.
	sid := suspend(map[string]any{"question": "Deploy?", "response_type": "confirm", "id": "deploy-1"})
	if sid != "deploy-1" {
		t.Fatalf("id: %s", sid)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "ok"}); r.status != 422 || !strings.Contains(r.raw, "yes, no") {
		t.Errorf("confirm ok: %d %s", r.status, r.raw)
	}
	if r := e.must(200, "POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "yes"}).body; r["choice_label"] != "Yes" {
		t.Errorf("confirm yes: %v", r)
	}
	// text needs a non-empty string; form takes anything.
	sid = suspend(map[string]any{"question": "Why?", "response_type": "text"})
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": ""}); r.status != 422 {
		t.Errorf("empty text: %d %s", r.status, r.raw)
	}
	e.must(200, "POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "because"})
	sid = suspend(map[string]any{"question": "Fill in", "response_type": "form"})
	r := e.must(200, "POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": map[string]any{"amount": 3}}).body
	if r["value"].(map[string]any)["amount"].(float64) != 3 {
		t.Errorf("form: %v", r)
	}
}

// TestReferenceStyleSuspension suspends as the Python SDK's agents do (status change, then a
// state patch with the record, timestamps without a zone): the answer route and the timers
// honour that record.
func TestReferenceStyleSuspension(t *testing.T) {
	e := newSuspensionEnv(t)
	in := e.createIntent("reference", map[string]any{"status": "active"})
	p := "/api/v1/intents/" + id(in)
	s := e.must(200, "POST", p+"/status", map[string]any{"status": "suspended_awaiting_input"}, ifMatch(1)...).body
	e.must(200, "POST", p+"/state", map[string]any{"patches": []any{map[string]any{"op": "set", "path": "/_suspension", "value": map[string]any{
		"id": "ref-1", "question": "Proceed?", "response_type": "choice", "choices": []any{map[string]any{"value": "go", "label": "Go"}},
		"context": map[string]any{}, "suspended_at": "2026-11-23T12:00:00", "timeout_seconds": 60, "expires_at": "2026-11-23T12:01:00",
		"fallback_policy": "fail", "retry_policy": nil, "extra": "kept"}}}}, ifMatch(s["version"])...)
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": "ref-1", "value": "stop"}); r.status != 422 {
		t.Errorf("wrong choice: %d %s", r.status, r.raw)
	}
	e.must(200, "POST", p+"/suspend/respond", map[string]any{"suspension_id": "ref-1", "value": "go"})
	got := e.must(200, "GET", p, nil).body
	if rec := suspensionOf(got); got["status"] != "active" || rec["resolution"] != "responded" || rec["extra"] != "kept" || rec["response"] != "go" {
		t.Fatalf("after the answer: %v", got)
	}

	// Its timeout fires too (fallback fail: abandoned).
	in2 := e.createIntent("reference 2", map[string]any{"status": "active"})
	p2 := "/api/v1/intents/" + id(in2)
	e.must(200, "POST", p2+"/status", map[string]any{"status": "suspended_awaiting_input"}, ifMatch(1)...)
	e.must(200, "POST", p2+"/state", map[string]any{"state": map[string]any{"_suspension": map[string]any{"id": "ref-2", "question": "Proceed?",
		"response_type": "text", "expires_at": "2026-11-23T12:01:00", "fallback_policy": "fail"}}}, ifMatch(2)...)
	e.clock.Advance(time.Minute)
	eventually(t, "the reference record's timeout", func() bool { return e.must(200, "GET", p2, nil).body["status"] == "abandoned" })

	// A status change of a suspended intent with no record (the agent has not patched it yet)
	// is answered like the reference server does: any suspension id and value.
	in4 := e.createIntent("reference 4", map[string]any{"status": "active"})
	p4 := "/api/v1/intents/" + id(in4)
	e.must(200, "POST", p4+"/status", map[string]any{"status": "suspended_awaiting_input"}, ifMatch(1)...)
	e.must(200, "POST", p4+"/suspend/respond", map[string]any{"suspension_id": "any", "value": 42})

	// A plain status change out of suspension cancels the open record.
	in3 := e.createIntent("reference 3", map[string]any{"status": "active"})
	p3 := "/api/v1/intents/" + id(in3)
	s3 := e.must(200, "POST", p3+"/suspend", map[string]any{"question": "?", "response_type": "text"}).body
	e.must(200, "POST", p3+"/status", map[string]any{"status": "active"}, ifMatch(s3["version"])...)
	if rec := suspensionOf(e.must(200, "GET", p3, nil).body); rec["resolution"] != "cancelled" || rec["cancelled_at"] == nil {
		t.Fatalf("cancelled: %v", rec)
	}
}

func TestSuspensionTimeoutRefusesLateAnswer(t *testing.T) {
	e := newSuspensionEnv(t, func(c *server.Config) { c.Suspensions.Interval = time.Hour }) // only the answer route applies the timer here
	in := e.createIntent("late", map[string]any{"status": "active"})
	p := "/api/v1/intents/" + id(in)
	sid := suspensionOf(e.must(200, "POST", p+"/suspend", map[string]any{"question": "Ship?", "response_type": "confirm",
		"timeout_seconds": 60, "fallback_policy": "fail"}).body)["id"].(string)
	e.clock.Advance(59 * time.Second)
	if got := e.must(200, "GET", p, nil).body; got["status"] != "suspended_awaiting_input" {
		t.Fatalf("before the timeout: %v", got["status"])
	}
	e.clock.Advance(time.Second)
	r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "yes"})
	if r.status != 409 || r.body["code"] != "suspension_expired" {
		t.Fatalf("late answer: %d %s", r.status, r.raw)
	}
	got := e.must(200, "GET", p, nil).body
	rec := suspensionOf(got)
	if got["status"] != "abandoned" || rec["resolution"] != "expired" || rec["expired_at"] != "2026-11-23T12:01:00Z" {
		t.Fatalf("after the timeout: %v", got)
	}
	ev := eventOf(e, id(in), "intent.suspension_expired")
	if ev == nil || ev["actor"] != "openintent-server" || ev["payload"].(map[string]any)["reason"] != "timeout" ||
		ev["payload"].(map[string]any)["abandonment_reason"] != "suspension_expired" || ev["payload"].(map[string]any)["fallback_policy"] != "fail" {
		t.Fatalf("expired event: %v", ev)
	}
	// Still refused afterwards, with the same code.
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "yes"}); r.status != 409 || r.body["code"] != "suspension_expired" {
		t.Fatalf("answer after expiry: %d %s", r.status, r.raw)
	}
}

func TestSuspensionFallbackFiresInBackground(t *testing.T) {
	e := newSuspensionEnv(t)
	in := e.createIntent("fallback", map[string]any{"status": "active"})
	p := "/api/v1/intents/" + id(in)
	sid := suspensionOf(e.must(200, "POST", p+"/suspend", map[string]any{"question": "Refund?", "choices": refundChoices,
		"timeout_seconds": 600, "fallback_policy": "complete_with_fallback", "fallback_value": "deny"}).body)["id"].(string)
	e.clock.Advance(10 * time.Minute)
	eventually(t, "the fallback", func() bool { return e.must(200, "GET", p, nil).body["status"] == "active" })
	rec := suspensionOf(e.must(200, "GET", p, nil).body)
	if rec["resolution"] != "expired" || rec["fallback_value"] != "deny" || rec["response"] != nil {
		t.Fatalf("record: %v", rec)
	}
	ev := eventOf(e, id(in), "intent.suspension_expired")
	if pl := ev["payload"].(map[string]any); pl["to"] != "active" || pl["fallback_value"] != "deny" || pl["fallback_policy"] != "complete_with_fallback" {
		t.Fatalf("expired event: %v", ev)
	}
	if r := e.call("POST", p+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "approve"}); r.status != 409 || r.body["code"] != "suspension_expired" {
		t.Fatalf("answer after the fallback: %d %s", r.status, r.raw)
	}
}

func TestSuspensionRetryPolicy(t *testing.T) {
	platform := &models.HumanRetryPolicy{MaxAttempts: 5, IntervalSeconds: 300, FinalFallbackPolicy: models.FallbackPolicyUseDefaultAndContinue}
	e := newSuspensionEnv(t, func(c *server.Config) { c.Suspensions.DefaultRetryPolicy = platform })
	cfg := e.must(200, "GET", "/api/v1/server/config", nil).body
	if dp := cfg["suspension"].(map[string]any)["default_retry_policy"].(map[string]any); dp["max_attempts"].(float64) != 5 || dp["interval_seconds"].(float64) != 300 {
		t.Fatalf("server config: %v", cfg)
	}
	in := e.createIntent("retry", map[string]any{"status": "active"})
	p := "/api/v1/intents/" + id(in)
	// The request's policy overrides the platform's field by field: 3 attempts an hour apart,
	// the platform's final fallback.
	rec := suspensionOf(e.must(200, "POST", p+"/suspend", map[string]any{"question": "Proceed?", "response_type": "confirm",
		"timeout_seconds": 3600, "fallback_policy": "fail", "fallback_value": "no", "retry_policy": map[string]any{"max_attempts": 3, "interval_seconds": 3600,
			"escalation_ladder": []any{map[string]any{"attempt": 2, "channel_hint": "email"},
				map[string]any{"attempt": 3, "channel_hint": "pagerduty", "notify_to": "supervisor@example.com"}}}}).body)
	pol := rec["retry_policy"].(map[string]any)
	if rec["expires_at"] != "2026-11-23T15:00:00Z" || rec["next_attempt_at"] != "2026-11-23T13:00:00Z" || pol["max_attempts"].(float64) != 3 ||
		pol["final_fallback_policy"] != "use_default_and_continue" || pol["strategy"] != "fixed" {
		t.Fatalf("record: %v", rec)
	}
	count := func(typ string) int {
		n := 0
		for _, ty := range eventTypes(e, id(in)) {
			if ty == typ {
				n++
			}
		}
		return n
	}
	e.clock.Advance(time.Hour)
	eventually(t, "the second notification", func() bool { return count("intent.suspension_renotified") == 1 })
	rn := eventOf(e, id(in), "intent.suspension_renotified")["payload"].(map[string]any)
	es := eventOf(e, id(in), "intent.suspension_escalated")["payload"].(map[string]any)
	if rn["attempt"].(float64) != 2 || rn["max_attempts"].(float64) != 3 || rn["channel_hint"] != "email" || rn["next_attempt_at"] != "2026-11-23T14:00:00Z" ||
		es["attempt"].(float64) != 2 || es["channel_hint"] != "email" || es["escalated_to"] != nil {
		t.Fatalf("attempt 2: %v %v", rn, es)
	}
	if got := e.must(200, "GET", p, nil).body; got["status"] != "suspended_awaiting_input" || suspensionOf(got)["attempt"].(float64) != 2 {
		t.Fatalf("after attempt 2: %v", got)
	}
	e.clock.Advance(time.Hour)
	eventually(t, "the third notification", func() bool { return count("intent.suspension_renotified") == 2 })
	es = eventOf(e, id(in), "intent.suspension_escalated")["payload"].(map[string]any)
	if es["attempt"].(float64) != 3 || es["escalated_to"] != "supervisor@example.com" || es["channel_hint"] != "pagerduty" {
		t.Fatalf("attempt 3: %v %v", es, eventTypes(e, id(in)))
	}
	// The operator may still answer the same suspension; here nobody does: the final fallback.
	e.clock.Advance(time.Hour)
	eventually(t, "the final fallback", func() bool { return e.must(200, "GET", p, nil).body["status"] == "active" })
	if n := count("intent.suspension_renotified"); n != 2 {
		t.Fatalf("renotified %d times", n)
	}
	if pl := eventOf(e, id(in), "intent.suspension_expired")["payload"].(map[string]any); pl["attempts"].(float64) != 3 || pl["fallback_policy"] != "use_default_and_continue" {
		t.Fatalf("expired: %v", pl)
	}
}

func TestSuspensionPropagation(t *testing.T) {
	e := newSuspensionEnv(t)
	a := e.createIntent("compliance review", map[string]any{"status": "active"})
	pa := "/api/v1/intents/" + id(a)
	b := e.createIntent("generate report", map[string]any{"status": "active", "depends_on": []string{id(a)}})
	draft := e.createIntent("later", map[string]any{"depends_on": []string{id(a)}})
	task := e.must(200, "POST", "/api/v1/tasks", map[string]any{"intent_id": id(a), "name": "review"}).body
	e.must(200, "PATCH", "/api/v1/tasks/"+id(task), map[string]any{"status": "running"}, ifMatch(1)...)
	plan := e.must(200, "POST", "/api/v1/plans", map[string]any{"intent_id": id(a), "tasks": []string{id(task)}}).body
	pf := e.must(200, "POST", "/api/v1/portfolios", map[string]any{"name": "compliance"}).body
	e.must(200, "POST", "/api/v1/portfolios/"+id(pf)+"/intents", map[string]any{"intent_id": id(a)})
	coord := e.must(200, "POST", "/api/v1/coordinators", map[string]any{"intent_id": id(a), "suspension_policy": "escalate"}).body
	if coord["suspension_policy"] != "escalate" {
		t.Fatalf("coordinator lease: %v", coord)
	}
	if l := e.must(200, "POST", "/api/v1/coordinators", map[string]any{"portfolio_id": id(pf)}).body; l["suspension_policy"] != "isolate" {
		t.Fatalf("default policy: %v", l)
	}

	lease := e.must(200, "POST", pa+"/leases", map[string]any{"scope": "review", "duration_seconds": 60}).body
	sid := suspensionOf(e.must(200, "POST", pa+"/suspend", map[string]any{"question": "Sign off?", "response_type": "confirm", "timeout_seconds": 3600}).body)["id"].(string)
	// RFC-0025 §2: the holder keeps its lease across the suspension.
	e.must(200, "PATCH", pa+"/leases/"+id(lease), map[string]any{"duration_seconds": 60})
	// Rule 2: the active dependent is blocked, the draft one untouched.
	gb := e.must(200, "GET", "/api/v1/intents/"+id(b), nil).body
	if gb["status"] != "blocked" || e.must(200, "GET", "/api/v1/intents/"+id(draft), nil).body["status"] != "draft" {
		t.Fatalf("dependents: %v", gb["status"])
	}
	if ev := eventOf(e, id(b), "status_changed"); ev["payload"].(map[string]any)["reason"] != "upstream_suspended" {
		t.Fatalf("dependent's event: %v", ev)
	}
	// Rule 3: its running task is blocked.
	gt := e.must(200, "GET", "/api/v1/tasks/"+id(task), nil).body
	if gt["status"] != "blocked" || gt["blocked_reason"] != "intent_suspended" || gt["suspended_intent_id"] != id(a) {
		t.Fatalf("task: %v", gt)
	}
	// Rule 4: aggregates.
	gp := e.must(200, "GET", "/api/v1/portfolios/"+id(pf), nil).body
	if gp["has_suspended_members"] != true || gp["suspended_member_count"].(float64) != 1 ||
		gp["aggregate_status"].(map[string]any)["by_status"].(map[string]any)["suspended_awaiting_input"].(float64) != 1 {
		t.Fatalf("portfolio: %v", gp)
	}
	st := e.must(200, "GET", "/api/v1/plans/"+id(plan), nil).body["suspended_tasks"].([]any)
	if len(st) != 1 || st[0].(map[string]any)["task_id"] != id(task) || st[0].(map[string]any)["expires_at"] != "2026-11-23T13:00:00Z" {
		t.Fatalf("plan: %v", st)
	}
	types := strings.Join(eventTypes(e, id(a)), " ")
	for _, want := range []string{"intent.suspended", "task.status_changed", "portfolio.member_suspended", "coordinator.escalation_required"} {
		if !strings.Contains(types, want) {
			t.Errorf("events of the suspended intent lack %s: %s", want, types)
		}
	}
	if ev := eventOf(e, id(a), "coordinator.escalation_required"); ev["payload"].(map[string]any)["coordinator_lease_id"] != id(coord) {
		t.Errorf("escalation: %v", ev)
	}

	e.must(200, "POST", pa+"/suspend/respond", map[string]any{"suspension_id": sid, "value": "yes"})
	if gt := e.must(200, "GET", "/api/v1/tasks/"+id(task), nil).body; gt["status"] != "running" || gt["blocked_reason"] != nil || gt["suspended_intent_id"] != nil {
		t.Fatalf("task after the answer: %v", gt)
	}
	if eventOf(e, id(a), "portfolio.member_resumed") == nil {
		t.Error("no portfolio.member_resumed")
	}
	// Rule 2: resuming is not enough; completing unblocks.
	if s := e.must(200, "GET", "/api/v1/intents/"+id(b), nil).body["status"]; s != "blocked" {
		t.Fatalf("dependent after the answer: %v", s)
	}
	ga := e.must(200, "GET", pa, nil).body
	e.must(200, "POST", pa+"/status", map[string]any{"status": "completed"}, ifMatch(ga["version"])...)
	gb = e.must(200, "GET", "/api/v1/intents/"+id(b), nil).body
	if gb["status"] != "active" || eventOf(e, id(b), "status_changed")["payload"].(map[string]any)["reason"] != "upstream_completed" {
		t.Fatalf("dependent after completion: %v", gb)
	}
	if gp := e.must(200, "GET", "/api/v1/portfolios/"+id(pf), nil).body; gp["has_suspended_members"] != false || gp["suspended_member_count"].(float64) != 0 {
		t.Fatalf("portfolio after: %v", gp)
	}
}

func TestPortfolioDeadlineAbandonsSuspendedMembers(t *testing.T) {
	e := newSuspensionEnv(t)
	pf := e.must(200, "POST", "/api/v1/portfolios", map[string]any{"name": "q4", "governance_policy": map[string]any{"deadline": "2026-11-23T12:30:00Z"}}).body
	in := e.createIntent("member", map[string]any{"status": "active"})
	p := "/api/v1/intents/" + id(in)
	e.must(200, "POST", "/api/v1/portfolios/"+id(pf)+"/intents", map[string]any{"intent_id": id(in)})
	e.must(200, "POST", p+"/suspend", map[string]any{"question": "?", "response_type": "text", "timeout_seconds": 7200,
		"fallback_policy": "complete_with_fallback", "fallback_value": "x"})
	e.clock.Advance(30 * time.Minute)
	eventually(t, "the portfolio deadline", func() bool { return e.must(200, "GET", p, nil).body["status"] == "abandoned" })
	pl := eventOf(e, id(in), "intent.suspension_expired")["payload"].(map[string]any)
	if pl["reason"] != "portfolio_deadline" || pl["abandonment_reason"] != "portfolio_deadline_exceeded" || pl["portfolio_id"] != id(pf) {
		t.Fatalf("expired: %v", pl)
	}
}
