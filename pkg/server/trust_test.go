package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/server"
)

// Regression tests of the trust issue's findings (#14), one per finding; the walks in
// access_walk_test.go cover every operation.

func TestBoundKeyCannotActAsAnotherAgent(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	C := w.ids["C"]
	// bob's key naming alice: refused, whatever the route.
	r := e.must(http.StatusForbidden, "GET", "/api/v1/intents/"+C, nil, as(bobKey, "alice")...)
	if r.body["code"] != "agent_not_allowed" || strings.Contains(r.raw, w.canary) {
		t.Errorf("bob's key as alice: %s", r.raw)
	}
	// Without X-Agent-ID a bound key acts as its first agent.
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "mine"}, as(bobKey, "")...).body
	if in["created_by"] != "bob" {
		t.Errorf("bob's key without X-Agent-ID created as %v", in["created_by"])
	}
	// A service key may act as any agent (the trusted case, as before).
	e.must(200, "GET", "/api/v1/intents/"+C, nil, "X-Agent-ID", "alice")
	// A key bound to two agents acts as either, and no other.
	e2 := newEnvConfig(t, testStorePath(t), func(c *server.Config) { c.APIKeys = []string{"team-key=ann|ben"} })
	for agent, want := range map[string]int{"ann": 200, "ben": 200, "cal": 403} {
		e2.must(want, "GET", "/api/v1/intents", nil, "X-API-Key", "team-key", "X-Agent-ID", agent)
	}
}

func TestBodyFieldsCannotNameAnotherActor(t *testing.T) {
	e := newWalkEnv(t)
	bob := as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "bob's"}, bob...).body
	for _, c := range []struct{ path, field string }{
		{"/api/v1/intents", "created_by"},
		{"/api/v1/portfolios", "created_by"},
		{"/api/v1/vaults", "owner_id"},
		{"/api/v1/subscriptions", "subscriber_id"},
		{"/api/v1/memory", "agent_id"},
		{"/api/v1/agents/register", "agent_id"},
		{"/api/v1/intents/" + id(in) + "/events", "actor"},
		{"/api/v1/intents/" + id(in) + "/escalations", "escalated_by"},
		{"/api/v1/intents/" + id(in) + "/approvals", "requested_by"},
		{"/api/v1/intents/" + id(in) + "/access-requests", "principal_id"},
	} {
		body := map[string]any{c.field: "alice", "title": "t", "name": "n", "event_type": "comment", "reason": "r",
			"action": "a", "namespace": "ns", "key": "k", "value": map[string]any{}}
		r := e.call("POST", c.path, body, bob...)
		if r.status != http.StatusForbidden || r.body["code"] != "agent_not_allowed" || !strings.Contains(r.raw, c.field) {
			t.Errorf("POST %s with %s=alice as bob: %d %s", c.path, c.field, r.status, r.raw)
		}
	}
}

func TestRoutesOutsideIntentPathsCheckTheACL(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	bob := as(bobKey, "")
	C := w.ids["C"]
	for _, p := range []string{"/api/v1/tasks/" + w.ids["task"], "/api/v1/plans/" + w.ids["plan"], "/api/v1/coordinators/" + w.ids["coordinator"]} {
		e.must(http.StatusForbidden, "GET", p, nil, bob...)
	}
	for _, p := range []string{"/api/v1/escalations", "/api/v1/escalations?intent_id=" + C, "/api/v1/coordinators?intent_id=" + C, "/api/v1/coordinators"} {
		if r := e.must(200, "GET", p, nil, bob...); strings.Contains(r.raw, C) || strings.Contains(r.raw, w.canary) {
			t.Errorf("GET %s shows C's data to bob: %s", p, r.raw)
		}
	}
	// C cannot join bob's portfolio, and alice's portfolio's costs leave C out for bob.
	pb := e.must(200, "POST", "/api/v1/portfolios", map[string]any{"name": "bob's"}, bob...).body
	e.must(http.StatusForbidden, "POST", "/api/v1/portfolios/"+id(pb)+"/intents", map[string]any{"intent_id": C}, bob...)
	if r := e.must(200, "GET", "/api/v1/portfolios/"+w.ids["portfolio"]+"/costs", nil, bob...); strings.Contains(r.raw, C) || strings.Contains(r.raw, w.canary) {
		t.Errorf("portfolio costs show C's costs to bob: %s", r.raw)
	}
	// Writes naming C in their body are refused and leave C's log as it was.
	events := e.must(200, "GET", "/api/v1/intents/"+C+"/events", nil, as(aliceKey, "")...).raw
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/tasks", map[string]any{"intent_id": C, "name": "x"}},
		{"/api/v1/plans", map[string]any{"intent_id": C}},
		{"/api/v1/coordinators", map[string]any{"intent_id": C}},
		{"/api/v1/decisions", map[string]any{"intent_id": C, "coordinator_id": "x", "decision_type": "d", "summary": "s", "rationale": "r"}},
		{"/api/v1/intents", map[string]any{"title": "child", "parent_intent_id": C}},
		{"/api/v1/intents", map[string]any{"title": "dependent", "depends_on": []string{C}}},
		{"/api/v1/subscriptions", map[string]any{"intent_id": C}},
	} {
		e.must(http.StatusForbidden, "POST", c.path, c.body, bob...)
	}
	if after := e.must(200, "GET", "/api/v1/intents/"+C+"/events", nil, as(aliceKey, "")...).raw; after != events {
		t.Errorf("refused writes changed C's log")
	}
}

func TestOpenIntentACLNeedsAdmin(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	O := w.ids["open"]
	closed := map[string]any{"default_policy": "closed"}
	r := e.must(http.StatusForbidden, "PUT", "/api/v1/intents/"+O+"/acl", closed, as(bobKey, "")...)
	if !strings.Contains(r.raw, "admin") {
		t.Errorf("refusal does not say admin is needed: %s", r.raw)
	}
	e.must(http.StatusForbidden, "PUT", "/api/v1/intents/"+O+"/governance", map[string]any{"require_approval": true}, as(bobKey, "")...)
	// bob may still read and write the open intent; alice (its creator) may close it.
	e.must(200, "GET", "/api/v1/intents/"+O, nil, as(bobKey, "")...)
	e.must(200, "PUT", "/api/v1/intents/"+O+"/acl", closed, as(aliceKey, "")...)
	e.must(http.StatusForbidden, "GET", "/api/v1/intents/"+O, nil, as(bobKey, "")...)
}

func TestOwnedObjectsChangeOnlyByTheirOwner(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	bob := as(bobKey, "")
	// Subscriptions: other agents' are neither listed (their URLs carry tokens) nor deletable.
	e.must(200, "POST", "/api/v1/subscriptions", map[string]any{"intent_id": w.ids["open"]}, bob...)
	if r := e.must(200, "GET", "/api/v1/subscriptions", nil, bob...); strings.Contains(r.raw, w.canary) || len(r.list) != 1 {
		t.Errorf("bob's subscription list: %s", r.raw)
	}
	e.must(http.StatusForbidden, "DELETE", "/api/v1/subscriptions/"+w.ids["subscription"], nil, bob...)
	e.must(http.StatusForbidden, "DELETE", "/api/v1/grants/"+w.ids["grant"], nil, bob...)
	e.must(http.StatusForbidden, "PATCH", "/api/v1/portfolios/"+w.ids["portfolio"], map[string]any{"name": "bob's now"}, bob...)
	e.must(http.StatusForbidden, "DELETE", "/api/v1/memory/"+w.ids["memory"], nil, bob...)
	e.must(http.StatusForbidden, "POST", "/api/v1/triggers/"+w.ids["trigger"]+"/fire", nil, bob...)
	if r := e.must(200, "GET", "/api/v1/triggers", nil, bob...); len(r.list) != 0 {
		t.Errorf("bob lists alice's triggers: %s", r.raw)
	}
	// The owner still can.
	e.must(200, "PATCH", "/api/v1/portfolios/"+w.ids["portfolio"], map[string]any{"name": "renamed"}, as(aliceKey, "")...)
	e.must(204, "DELETE", "/api/v1/subscriptions/"+w.ids["subscription"], nil, as(aliceKey, "")...)
}

func TestApprovalAndAccessDecisionsWithoutBody(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	C := w.ids["C"]
	alice := as(aliceKey, "")
	// Approvals are decided by someone other than their requester: erin holds admin.
	for _, action := range []string{"approve", "deny"} {
		ap := e.must(200, "POST", "/api/v1/intents/"+C+"/approvals", map[string]any{"action": "ship"}, alice...).body
		r := e.must(200, "POST", "/api/v1/intents/"+C+"/approvals/"+id(ap)+"/"+action, nil, "X-Agent-ID", "erin")
		if r.body["status"] == "pending" {
			t.Errorf("%s without a body left the approval pending: %s", action, r.raw)
		}
		ar := e.must(200, "POST", "/api/v1/intents/"+C+"/access-requests", map[string]any{}, "X-Agent-ID", "gil-"+action).body
		r = e.must(200, "POST", "/api/v1/intents/"+C+"/access-requests/"+id(ar)+"/"+action, nil, alice...)
		if r.body["status"] == "pending" || r.body["decided_by"] != "alice" {
			t.Errorf("%s of an access request without a body: %s", action, r.raw)
		}
	}
}

func TestFailedAuthenticationIsRateLimitedPerAddress(t *testing.T) {
	e := newEnvConfig(t, testStorePath(t), func(c *server.Config) {
		c.AuthFailureLimit = server.RateLimit{PerSecond: 0.001, Burst: 3}
	})
	for i := range 3 {
		e.must(http.StatusUnauthorized, "GET", "/api/v1/intents", nil, "X-API-Key", "guess-"+string(rune('a'+i)))
	}
	// Once the budget is spent even the right key is not checked (a guess cannot be confirmed).
	r := e.must(http.StatusTooManyRequests, "GET", "/api/v1/intents", nil)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

func TestKeyPrincipalRevealsNothingAboutTheKey(t *testing.T) {
	e := newEnv(t)
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "t"}, "X-Agent-ID", "").body
	principal := in["created_by"].(string)
	sum := sha256.Sum256([]byte(testKey))
	if !strings.HasPrefix(principal, "key-") || strings.Contains(principal, hex.EncodeToString(sum[:4])) || strings.Contains(principal, testKey) {
		t.Errorf("principal %q derives visibly from the key", principal)
	}
	again := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "t"}, "X-Agent-ID", "").body
	other := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "t"}, "X-Agent-ID", "", "X-API-Key", "second-key").body
	if again["created_by"] != principal || other["created_by"] == principal {
		t.Errorf("principals: %v %v %v", principal, again["created_by"], other["created_by"])
	}
}

func TestAgentIDMustBeValidUTF8(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []string{"\xff", "a\xfeb"} {
		r := e.call("GET", "/api/v1/intents", nil, "X-Agent-ID", bad)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.raw, "UTF-8") {
			t.Errorf("X-Agent-ID %q: %d %s", bad, r.status, r.raw)
		}
	}
}

func TestParseAPIKey(t *testing.T) {
	for _, c := range []struct {
		in, key, agents string
		bad             bool
	}{
		{in: "k", key: "k"},
		{in: "k=alice", key: "k", agents: "alice"},
		{in: "k=alice|bob", key: "k", agents: "alice|bob"},
		{in: "YWJj==", key: "YWJj=="},                        // base64 padding stays in the key
		{in: "YWJj===alice", key: "YWJj==", agents: "alice"}, // padding, then the binding
		{in: "=alice", bad: true},
		{in: "k=alice||bob", bad: true},
		{in: "k=\xff", bad: true},
	} {
		key, agents, err := server.ParseAPIKey(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: want an error", c.in)
			}
			continue
		}
		if err != nil || key != c.key || strings.Join(agents, "|") != c.agents {
			t.Errorf("%q: %q %q %v", c.in, key, agents, err)
		}
	}
}
