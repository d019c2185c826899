package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
)

// newChannelEnv is a server with keys bound to alice and bob; the test key acts as any agent.
func newChannelEnv(t *testing.T) *env {
	return newEnvConfig(t, testStorePath(t), func(c *server.Config) {
		c.APIKeys = append(c.APIKeys, aliceKey+"=alice", bobKey+"=bob")
	})
}

// wantInvalid checks that r is a 422 (or the given status) naming field.
func wantInvalid(t *testing.T, r resp, status int, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d naming %s: %s", r.status, status, field, r.raw)
	}
	errs, _ := r.body["errors"].([]any)
	for _, f := range errs {
		if f.(map[string]any)["field"] == field {
			return
		}
	}
	t.Errorf("no error for field %q: %s", field, r.raw)
}

func TestChannelCreateListGetUpdateClose(t *testing.T) {
	e := newChannelEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "channels"}, alice...).body
	ip := "/api/v1/intents/" + id(in) + "/channels"

	ch := e.must(201, "POST", ip, map[string]any{"name": "research", "members": []string{"bob"}}, alice...).body
	if ch["created_by"] != "alice" || ch["intent_id"] != id(in) || ch["status"] != "open" || ch["member_policy"] != "intent" ||
		ch["message_count"] != 0.0 || ch["closed_at"] != nil || ch["last_message_at"] != nil || ch["task_id"] != nil {
		t.Fatalf("created channel: %v", ch)
	}
	if o := ch["options"].(map[string]any); o["audit"] != false || o["max_messages"] != 1000.0 || o["ttl_seconds"] != nil {
		t.Errorf("default options: %v", o)
	}
	wantCode(t, e.call("POST", ip, map[string]any{"name": "research"}, bob...), 409, "channel_exists")
	wantInvalid(t, e.call("POST", ip, map[string]any{"name": "  "}, alice...), 422, "name")
	wantInvalid(t, e.call("POST", ip, map[string]any{"name": "x", "member_policy": "secret"}, alice...), 422, "member_policy")
	wantInvalid(t, e.call("POST", ip, map[string]any{"name": "x", "members": []string{"bob", "bob"}}, alice...), 422, "members/1")
	wantInvalid(t, e.call("POST", ip, map[string]any{"name": "x", "options": map[string]any{"max_messages": 0}}, alice...), 422, "options/max_messages")
	wantInvalid(t, e.call("POST", ip, map[string]any{"name": "x", "task_id": "no-such-task"}, alice...), 422, "task_id")
	e.must(404, "POST", "/api/v1/intents/no-such-intent/channels", map[string]any{"name": "x"}, alice...)

	second := e.must(201, "POST", ip, map[string]any{"name": "second", "member_policy": "explicit",
		"options": map[string]any{"audit": true, "ttl_seconds": 3600, "max_messages": 10}}, bob...).body
	if second["created_by"] != "bob" || second["member_policy"] != "explicit" || second["options"].(map[string]any)["max_messages"] != 10.0 {
		t.Errorf("second channel: %v", second)
	}
	list := e.must(200, "GET", ip, nil, bob...).list
	if len(list) != 2 || id(list[0].(map[string]any)) != id(ch) || id(list[1].(map[string]any)) != id(second) {
		t.Fatalf("list in creation order: %v", list)
	}
	if got := e.must(200, "GET", "/api/v1/intents/no-such-intent/channels", nil, bob...).list; len(got) != 0 {
		t.Errorf("unknown intent has channels: %v", got)
	}

	cp := "/api/v1/channels/" + id(ch)
	if got := e.must(200, "GET", cp, nil, bob...).body; got["name"] != "research" {
		t.Errorf("get: %v", got)
	}
	e.must(404, "GET", "/api/v1/channels/no-such-channel", nil, bob...)

	// Only the creator (or an intent admin) changes a channel.
	wantCode(t, e.call("PATCH", cp, map[string]any{"members": []string{"bob", "carol"}}, bob...), 403, "forbidden")
	up := e.must(200, "PATCH", cp, map[string]any{"members": []string{"bob", "carol"}, "member_policy": "explicit",
		"options": map[string]any{"audit": true}}, alice...).body
	if fmt.Sprint(up["members"]) != "[bob carol]" || up["member_policy"] != "explicit" || up["options"].(map[string]any)["audit"] != true {
		t.Errorf("updated: %v", up)
	}
	if up = e.must(200, "PATCH", cp, map[string]any{}, alice...).body; fmt.Sprint(up["members"]) != "[bob carol]" {
		t.Errorf("an empty update changed the channel: %v", up)
	}
	wantInvalid(t, e.call("PATCH", cp, map[string]any{"status": "archived"}, alice...), 422, "status")

	// Closing with PATCH keeps the channel and its messages; it refuses new ones with 409.
	e.must(201, "POST", cp+"/messages", map[string]any{"payload": map[string]any{"n": 1}}, alice...)
	closed := e.must(200, "PATCH", cp, map[string]any{"status": "closed"}, alice...).body
	if closed["status"] != "closed" || closed["closed_at"] == nil {
		t.Fatalf("closed: %v", closed)
	}
	wantCode(t, e.call("PATCH", cp, map[string]any{"status": "open"}, alice...), 409, "invalid_transition")
	wantCode(t, e.call("POST", cp+"/messages", map[string]any{"payload": map[string]any{}}, bob...), 409, "channel_closed")
	if msgs := e.must(200, "GET", cp+"/messages", nil, bob...).list; len(msgs) != 1 {
		t.Errorf("a closed channel's messages: %v", msgs)
	}

	// DELETE removes the channel and its messages; its name is free again.
	sp := "/api/v1/channels/" + id(second)
	m := e.must(201, "POST", sp+"/messages", map[string]any{"payload": map[string]any{}}, bob...).body
	wantCode(t, e.call("DELETE", sp, nil, asAgent("carol")...), 403, "forbidden") // write on the intent, neither creator nor admin
	if got := e.must(200, "DELETE", sp, nil, alice...).body; got["status"] != "closed" || got["channel_id"] != id(second) {
		t.Errorf("delete answer: %v", got) // alice created the intent: she is its admin
	}
	e.must(404, "GET", sp, nil, bob...)
	e.must(404, "GET", sp+"/messages/"+id(m), nil, bob...)
	e.must(404, "POST", sp+"/messages", map[string]any{}, bob...)
	e.must(404, "DELETE", sp, nil, bob...)
	e.must(201, "POST", ip, map[string]any{"name": "second"}, bob...)
}

func TestChannelSendListGetMarkReply(t *testing.T) {
	e := newChannelEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "messages"}, alice...).body
	ch := e.must(201, "POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "talk"}, alice...).body
	cp := "/api/v1/channels/" + id(ch)

	// The sender is the caller, by default and when named.
	n1 := e.must(201, "POST", cp+"/messages", map[string]any{"payload": map[string]any{"n": 1}}, alice...).body
	if n1["sender"] != "alice" || n1["message_type"] != "notify" || n1["status"] != "delivered" || n1["to"] != nil ||
		n1["correlation_id"] != nil || n1["read_at"] != nil || n1["channel_id"] != id(ch) {
		t.Fatalf("notify: %v", n1)
	}
	wantCode(t, e.call("POST", cp+"/messages", map[string]any{"sender": "bob"}, alice...), 403, "agent_not_allowed")
	ask := e.must(201, "POST", cp+"/messages", map[string]any{"sender": "alice", "to": "bob", "message_type": "request",
		"payload": map[string]any{"question": "schema?"}, "metadata": map[string]any{"priority": "high"},
		"expires_at": "2030-01-01T00:00:00Z"}, alice...).body
	if ask["to"] != "bob" || ask["message_type"] != "request" || ask["metadata"].(map[string]any)["priority"] != "high" || ask["expires_at"] == nil {
		t.Fatalf("request: %v", ask)
	}
	bc := e.must(201, "POST", cp+"/messages", map[string]any{"message_type": "broadcast", "payload": map[string]any{"all": true}}, bob...).body
	if bc["to"] != "*" || bc["sender"] != "bob" {
		t.Errorf("broadcast: %v", bc)
	}
	notifyBob := e.must(201, "POST", cp+"/messages", map[string]any{"to": "bob", "payload": map[string]any{"fyi": 1}}, alice...).body

	// Bad input names the field.
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"message_type": "request"}, alice...), 422, "to")
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"message_type": "broadcast", "to": "bob"}, alice...), 422, "to")
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"message_type": "response", "to": "bob"}, alice...), 422, "message_type")
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"message_type": "gossip"}, alice...), 422, "message_type")
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"to": "role:"}, alice...), 422, "to")
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"expires_at": "2020-01-01T00:00:00Z"}, alice...), 422, "expires_at")
	wantInvalid(t, e.call("POST", cp+"/messages", map[string]any{"payload": []int{1}}, alice...), 422, "payload")

	// Lists: oldest first, after a cursor, to an addressee, at most limit.
	ids := func(list []any) string {
		var out []string
		for _, m := range list {
			out = append(out, id(m.(map[string]any)))
		}
		return strings.Join(out, ",")
	}
	all := e.must(200, "GET", cp+"/messages", nil, bob...).list
	if got, want := ids(all), strings.Join([]string{id(n1), id(ask), id(bc), id(notifyBob)}, ","); got != want {
		t.Fatalf("all messages:\n got %s\nwant %s", got, want)
	}
	if got := ids(e.must(200, "GET", cp+"/messages?since="+id(ask), nil, bob...).list); got != id(bc)+","+id(notifyBob) {
		t.Errorf("since: %s", got)
	}
	if got := ids(e.must(200, "GET", cp+"/messages?to=bob", nil, bob...).list); got != id(ask)+","+id(notifyBob) {
		t.Errorf("to=bob: %s", got)
	}
	if got := ids(e.must(200, "GET", cp+"/messages?limit=2&since="+id(n1), nil, bob...).list); got != id(ask)+","+id(bc) {
		t.Errorf("limit: %s", got)
	}
	if got := e.must(200, "GET", cp+"/messages?since=2000-01-01T00:00:00Z", nil, bob...).list; len(got) != 4 {
		t.Errorf("since a timestamp: %v", got)
	}
	wantInvalid(t, e.call("GET", cp+"/messages?since=no-such-message", nil, bob...), 422, "since")
	wantInvalid(t, e.call("GET", cp+"/messages?limit=0", nil, bob...), 422, "limit")

	mp := cp + "/messages/" + id(ask)
	if got := e.must(200, "GET", mp, nil, bob...).body; got["payload"].(map[string]any)["question"] != "schema?" {
		t.Errorf("get message: %v", got)
	}
	e.must(404, "GET", cp+"/messages/no-such-message", nil, bob...)

	// A message addressed to bob is marked read by bob only; only `read` may be set.
	wantCode(t, e.call("PATCH", mp, map[string]any{"status": "read"}, asAgent("carol")...), 403, "not_addressee")
	wantInvalid(t, e.call("PATCH", mp, map[string]any{"status": "replied"}, bob...), 422, "status")
	wantInvalid(t, e.call("PATCH", mp, map[string]any{}, bob...), 422, "status")
	read := e.must(200, "PATCH", mp, map[string]any{"status": "read"}, bob...).body
	if read["status"] != "read" || read["read_at"] == nil {
		t.Fatalf("marked read: %v", read)
	}
	if again := e.must(200, "PATCH", mp, map[string]any{"status": "read"}, bob...).body; again["read_at"] != read["read_at"] {
		t.Errorf("marking read again moved read_at: %v then %v", read["read_at"], again["read_at"])
	}
	// A broadcast may be marked by anyone taking part.
	e.must(200, "PATCH", cp+"/messages/"+id(bc), map[string]any{"status": "read"}, asAgent("carol")...)

	// A reply is a response to the sender, correlated with the request, which is marked replied.
	wantCode(t, e.call("POST", mp+"/reply", map[string]any{"sender": "alice"}, bob...), 403, "agent_not_allowed")
	reply := e.must(201, "POST", mp+"/reply", map[string]any{"payload": map[string]any{"answer": "v2.3"}}, bob...).body
	if reply["message_type"] != "response" || reply["correlation_id"] != id(ask) || reply["to"] != "alice" ||
		reply["sender"] != "bob" || reply["payload"].(map[string]any)["answer"] != "v2.3" {
		t.Fatalf("reply: %v", reply)
	}
	if got := e.must(200, "GET", mp, nil, alice...).body; got["status"] != "replied" || got["read_at"] != read["read_at"] {
		t.Errorf("the request after its reply: %v", got)
	}
	if got := e.must(200, "PATCH", mp, map[string]any{"status": "read"}, bob...).body; got["status"] != "replied" {
		t.Errorf("marking a replied message read: %v", got)
	}
	e.must(404, "POST", cp+"/messages/no-such-message/reply", map[string]any{}, bob...)
	if got := e.must(200, "GET", cp, nil, alice...).body; got["message_count"] != 5.0 || got["last_message_at"] != reply["created_at"] {
		t.Errorf("channel counters: %v", got)
	}
	// A message of another channel is not found through this one.
	other := e.must(201, "POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "other"}, alice...).body
	e.must(404, "GET", "/api/v1/channels/"+id(other)+"/messages/"+id(ask), nil, alice...)
	e.must(404, "POST", "/api/v1/channels/"+id(other)+"/messages/"+id(ask)+"/reply", map[string]any{}, alice...)
	e.must(404, "PATCH", "/api/v1/channels/"+id(other)+"/messages/"+id(ask), map[string]any{"status": "read"}, bob...)
}

func TestChannelExplicitMembersAndOutsiders(t *testing.T) {
	e := newChannelEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	carol := asAgent("carol")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "open intent"}, alice...).body
	ch := e.must(201, "POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "pair", "member_policy": "explicit",
		"members": []string{"bob"}}, alice...).body
	cp := "/api/v1/channels/" + id(ch)

	m := e.must(201, "POST", cp+"/messages", map[string]any{"to": "bob", "message_type": "request", "payload": map[string]any{"q": 1}}, alice...).body
	e.must(201, "POST", cp+"/messages", map[string]any{"to": "alice"}, bob...)
	// carol may write the (open) intent but is no member: she neither posts, reads nor replies.
	wantCode(t, e.call("POST", cp+"/messages", map[string]any{"payload": map[string]any{}}, carol...), 403, "not_a_member")
	wantCode(t, e.call("GET", cp+"/messages", nil, carol...), 403, "not_a_member")
	wantCode(t, e.call("GET", cp+"/messages/"+id(m), nil, carol...), 403, "not_a_member")
	wantCode(t, e.call("POST", cp+"/messages/"+id(m)+"/reply", map[string]any{}, carol...), 403, "not_a_member")
	wantCode(t, e.call("PATCH", cp+"/messages/"+id(m), map[string]any{"status": "read"}, carol...), 403, "not_a_member")
	if r := e.call("GET", "/api/v1/subscribe/channels/"+id(ch), nil, carol...); r.status != 403 {
		t.Errorf("carol's stream: %d %s", r.status, r.raw)
	}
	// ... nor is she addressed on it.
	wantCode(t, e.call("POST", cp+"/messages", map[string]any{"to": "carol"}, alice...), 403, "not_a_member")
	// The channel itself is the intent's: she sees it.
	e.must(200, "GET", cp, nil, carol...)
	// Once a member, she takes part.
	e.must(200, "PATCH", cp, map[string]any{"members": []string{"bob", "carol"}}, alice...)
	e.must(201, "POST", cp+"/messages", map[string]any{"to": "alice"}, carol...)

	// An outsider of a closed intent learns nothing of its channels and writes nothing.
	e.must(200, "PUT", "/api/v1/intents/"+id(in)+"/acl", map[string]any{"default_policy": "closed", "entries": []any{
		map[string]any{"principal_id": "carol", "permission": "read"}}}, alice...)
	for _, r := range []resp{
		e.call("GET", cp, nil, bob...),
		e.call("GET", "/api/v1/intents/"+id(in)+"/channels", nil, bob...),
		e.call("POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "mine"}, bob...),
		e.call("PATCH", cp, map[string]any{"members": []string{"bob"}}, bob...),
		e.call("DELETE", cp, nil, bob...),
		e.call("GET", cp+"/messages", nil, bob...),
		e.call("POST", cp+"/messages", map[string]any{"to": "alice"}, bob...),
		e.call("GET", cp+"/messages/"+id(m), nil, bob...),
		e.call("PATCH", cp+"/messages/"+id(m), map[string]any{"status": "read"}, bob...),
		e.call("POST", cp+"/messages/"+id(m)+"/reply", map[string]any{}, bob...),
		e.call("GET", "/api/v1/subscribe/channels/"+id(ch), nil, bob...),
	} {
		if r.status != 403 || strings.Contains(r.raw, `"q"`) {
			t.Errorf("bob outside the closed intent: %d %s", r.status, r.raw)
		}
	}
	// carol reads (as a member) but may no longer write.
	e.must(200, "GET", cp+"/messages", nil, carol...)
	e.must(403, "POST", cp+"/messages", map[string]any{"to": "alice"}, carol...)
	// Unknown channels answer 404 to anyone.
	e.must(404, "GET", "/api/v1/channels/no-such-channel/messages", nil, bob...)
	if r := e.call("GET", "/api/v1/subscribe/channels/no-such-channel", nil, bob...); r.status != 404 {
		t.Errorf("stream of an unknown channel: %d %s", r.status, r.raw)
	}
}

func TestChannelAuditRetentionAndLifetime(t *testing.T) {
	e := newChannelEnv(t)
	alice := as(aliceKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "lifetimes"}, alice...).body
	ip := "/api/v1/intents/" + id(in)

	// An audited channel copies its messages to the intent's log, with the trace its metadata names.
	au := e.must(201, "POST", ip+"/channels", map[string]any{"name": "audited", "options": map[string]any{"audit": true, "max_messages": 2}}, alice...).body
	ap := "/api/v1/channels/" + id(au)
	trace := "0123456789abcdef0123456789abcdef"
	first := e.must(201, "POST", ap+"/messages", map[string]any{"to": "bob", "message_type": "request", "payload": map[string]any{"q": "audit me"},
		"metadata": map[string]any{"trace_id": trace}}, alice...).body
	evs := e.must(200, "GET", ip+"/events?event_type=channel_message", nil, alice...).list
	if len(evs) != 1 {
		t.Fatalf("audit events: %v", evs)
	}
	ev := evs[0].(map[string]any)
	p := ev["payload"].(map[string]any)
	if ev["actor"] != "alice" || ev["trace_id"] != trace || p["message_id"] != id(first) || p["channel_name"] != "audited" ||
		p["to"] != "bob" || p["message_type"] != "request" || p["payload"].(map[string]any)["q"] != "audit me" {
		t.Errorf("audit event: %v", ev)
	}
	// Beyond max_messages the oldest messages go; the count goes on.
	second := e.must(201, "POST", ap+"/messages", map[string]any{}, alice...).body
	third := e.must(201, "POST", ap+"/messages", map[string]any{}, alice...).body
	list := e.must(200, "GET", ap+"/messages", nil, alice...).list
	if len(list) != 2 || id(list[0].(map[string]any)) != id(second) || id(list[1].(map[string]any)) != id(third) {
		t.Fatalf("retained: %v", list)
	}
	e.must(404, "GET", ap+"/messages/"+id(first), nil, alice...)
	wantInvalid(t, e.call("GET", ap+"/messages?since="+id(first), nil, alice...), 422, "since")
	if got := e.must(200, "GET", ap, nil, alice...).body; got["message_count"] != 3.0 {
		t.Errorf("message_count: %v", got["message_count"])
	}
	// A non-audited channel writes no event.
	plain := e.must(201, "POST", ip+"/channels", map[string]any{"name": "plain"}, alice...).body
	e.must(201, "POST", "/api/v1/channels/"+id(plain)+"/messages", map[string]any{}, alice...)
	if evs := e.must(200, "GET", ip+"/events?event_type=channel_message", nil, alice...).list; len(evs) != 3 {
		t.Errorf("audit events after a plain channel's message: %d", len(evs))
	}

	// A message past its expires_at reads expired and takes no reply.
	exp := e.must(201, "POST", ap+"/messages", map[string]any{"to": "bob", "message_type": "request",
		"expires_at": e.clock.Now().Add(30 * time.Second).Format(time.RFC3339)}, alice...).body
	// The time to live runs from the last message.
	ttl := e.must(201, "POST", ip+"/channels", map[string]any{"name": "short", "options": map[string]any{"ttl_seconds": 60}}, alice...).body
	tp := "/api/v1/channels/" + id(ttl)
	e.clock.Advance(45 * time.Second)
	if got := e.must(200, "GET", ap+"/messages/"+id(exp), nil, alice...).body; got["status"] != "expired" {
		t.Errorf("a message past expires_at: %v", got)
	}
	wantCode(t, e.call("POST", ap+"/messages/"+id(exp)+"/reply", map[string]any{}, asAgent("bob")...), 409, "message_expired")
	e.must(201, "POST", tp+"/messages", map[string]any{}, alice...)
	e.clock.Advance(45 * time.Second)
	if got := e.must(200, "GET", tp, nil, alice...).body; got["status"] != "open" {
		t.Errorf("ttl counted from creation, not the last message: %v", got)
	}
	e.clock.Advance(20 * time.Second)
	got := e.must(200, "GET", tp, nil, alice...).body
	if got["status"] != "closed" || got["closed_at"] == nil {
		t.Fatalf("after its ttl: %v", got)
	}
	wantCode(t, e.call("POST", tp+"/messages", map[string]any{}, alice...), 409, "channel_closed")
	// A longer ttl does not reopen it: the closing is recorded by the next change.
	after := e.must(200, "PATCH", tp, map[string]any{"options": map[string]any{"ttl_seconds": 100000}}, alice...).body
	if after["status"] != "closed" || after["closed_at"] != got["closed_at"] {
		t.Errorf("a longer ttl reopened the channel: %v", after)
	}

	// A resolved intent closes its channels and takes no new ones.
	e.must(200, "POST", ip+"/status", map[string]any{"status": "active"}, append(alice, ifMatch(in["version"])...)...)
	cur := e.must(200, "GET", ip, nil, alice...).body
	e.must(200, "POST", ip+"/status", map[string]any{"status": "completed"}, append(alice, ifMatch(cur["version"])...)...)
	for _, c := range e.must(200, "GET", ip+"/channels", nil, alice...).list {
		if c.(map[string]any)["status"] != "closed" {
			t.Errorf("a channel of a completed intent: %v", c)
		}
	}
	wantCode(t, e.call("POST", "/api/v1/channels/"+id(plain)+"/messages", map[string]any{}, alice...), 409, "channel_closed")
	wantCode(t, e.call("POST", ip+"/channels", map[string]any{"name": "late"}, alice...), 409, "intent_resolved")
}

func TestChannelStream(t *testing.T) {
	e := newChannelEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "streams"}, alice...).body
	ch := e.must(201, "POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "live"}, alice...).body
	cp := "/api/v1/channels/" + id(ch)
	sp := "/api/v1/subscribe/channels/" + id(ch)
	before := e.must(201, "POST", cp+"/messages", map[string]any{"payload": map[string]any{"tag": "before-stream"}}, alice...).body

	live := e.openStream(t, sp, bob...)
	replay := e.openStream(t, sp, append(bob, "Last-Event-ID", "0")...)
	req := e.must(201, "POST", cp+"/messages", map[string]any{"to": "bob", "message_type": "request", "payload": map[string]any{"tag": "question"}}, alice...).body
	e.must(201, "POST", cp+"/messages/"+id(req)+"/reply", map[string]any{"payload": map[string]any{"tag": "answer"}}, bob...)
	got := live.waitFor(t, `"answer"`)
	if strings.Contains(got, "before-stream") || !strings.Contains(got, id(req)) || strings.Index(got, "question") > strings.Index(got, "answer") {
		t.Errorf("live stream:\n%s", got)
	}
	if all := replay.waitFor(t, `"answer"`); !strings.Contains(all, id(before)) || strings.Index(all, "before-stream") > strings.Index(all, "question") {
		t.Errorf("replay from 0:\n%s", all)
	}
	// Resuming after a message replays what followed it.
	resumed := e.openStream(t, sp, append(bob, "Last-Event-ID", id(req))...)
	if got := resumed.waitFor(t, `"answer"`); strings.Contains(got, "question") {
		t.Errorf("resumed after the request:\n%s", got)
	}
	if r := e.call("GET", sp, nil, append(bob, "Last-Event-ID", "no-such-message")...); r.status != 400 {
		t.Errorf("unknown Last-Event-ID: %d %s", r.status, r.raw)
	}
	// Closing the channel ends its streams.
	e.must(200, "PATCH", cp, map[string]any{"status": "closed"}, alice...)
	live.waitFor(t, "The channel is closed")
	resumed.waitFor(t, "The channel is closed")
}
