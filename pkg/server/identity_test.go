package server_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/canonical"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// RFC-0018 through HTTP, on the store OPENINTENT_TEST_STORE names.

type testKeyPair struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newKeyPair(t *testing.T) testKeyPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeyPair{priv, pub}
}

func (k testKeyPair) wire() string { return agentkey.Format(k.pub) }
func (k testKeyPair) did() string  { return agentkey.DID(k.pub) }
func (k testKeyPair) sign(msg []byte) string {
	return agentkey.EncodeSignature(ed25519.Sign(k.priv, msg))
}

// signChallenge signs a challenge's 32 decoded bytes.
func (k testKeyPair) signChallenge(t *testing.T, challenge string) string {
	t.Helper()
	raw, err := agentkey.ChallengeBytes(challenge)
	if err != nil || len(raw) != 32 {
		t.Fatalf("challenge %q: %d bytes, %v", challenge, len(raw), err)
	}
	return k.sign(raw)
}

func asAgent(agent string) []string { return []string{"X-Agent-ID", agent} }

func identityPath(agent string) string { return "/api/v1/agents/" + agent + "/identity" }

// startRegistration asks for a challenge for k and returns it.
func (e *env) startRegistration(agent string, k testKeyPair, extra map[string]any) string {
	e.t.Helper()
	body := map[string]any{"public_key": k.wire(), "key_algorithm": "Ed25519"}
	for n, v := range extra {
		body[n] = v
	}
	r := e.must(200, "POST", identityPath(agent), body, asAgent(agent)...)
	c, _ := r.body["challenge"].(string)
	if c == "" || r.body["challenge_expires_at"] == nil {
		e.t.Fatalf("no challenge: %s", r.raw)
	}
	return c
}

// registerKey runs the whole flow, completing without public_key as the reference client does.
func (e *env) registerKey(agent string, k testKeyPair) map[string]any {
	e.t.Helper()
	c := e.startRegistration(agent, k, nil)
	return e.must(201, "POST", identityPath(agent)+"/challenge",
		map[string]any{"challenge": c, "signature": k.signChallenge(e.t, c)}, asAgent(agent)...).body
}

func wantCode(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.body["code"] != code {
		t.Fatalf("got %d %v, want %d %s: %s", r.status, r.body["code"], status, code, r.raw)
	}
}

func TestIdentityRegistration(t *testing.T) {
	e := newEnv(t)
	e.must(404, "GET", identityPath("alice"), nil)
	e.must(200, "POST", "/api/v1/agents/register", map[string]any{"agent_id": "alice", "capabilities": []string{"billing"}}, asAgent("alice")...)
	k := newKeyPair(t)

	id := e.registerKey("alice", k)
	if id["public_key"] != k.wire() || id["did"] != k.did() || id["key_algorithm"] != "Ed25519" ||
		id["registered_at"] == nil || id["key_expires_at"] != nil || len(id["previous_keys"].([]any)) != 0 {
		t.Fatalf("identity: %v", id)
	}
	if !strings.HasPrefix(k.did(), "did:key:z6Mk") {
		t.Fatalf("did %s", k.did())
	}
	// Anyone reads it; the agent record carries it; discovery finds it by key (any form) or DID.
	got := e.must(200, "GET", identityPath("alice"), nil, asAgent("bob")...).body
	if got["did"] != k.did() {
		t.Fatalf("GET identity: %v", got)
	}
	if rec := e.must(200, "GET", "/api/v1/agents/alice/record", nil).body; rec["public_key"] != k.wire() || rec["did"] != k.did() {
		t.Fatalf("agent record: %v", rec)
	}
	for _, q := range []string{"public_key=" + url.QueryEscape(k.wire()), "did=" + url.QueryEscape(k.did()),
		"did=" + url.QueryEscape(k.did()+"#"+strings.TrimPrefix(k.did(), "did:key:")),
		"public_key=" + url.QueryEscape(strings.TrimPrefix(k.wire(), "ed25519:"))} {
		l := e.must(200, "GET", "/api/v1/agents?"+q, nil).list
		if len(l) != 1 || l[0].(map[string]any)["agent_id"] != "alice" {
			t.Errorf("discovery by %s: %v", q, l)
		}
	}
	if l := e.must(200, "GET", "/api/v1/agents?did="+url.QueryEscape(newKeyPair(t).did()), nil).list; len(l) != 0 {
		t.Errorf("discovery by an unknown DID: %v", l)
	}
	if l := e.must(200, "GET", "/api/v1/agents?public_key=walk", nil).list; len(l) != 0 {
		t.Errorf("discovery by a malformed key: %v", l)
	}

	// A second registration is refused; so is a registration by another agent, or of alice's key.
	wantCode(t, e.call("POST", identityPath("alice"), map[string]any{"public_key": newKeyPair(t).wire()}, asAgent("alice")...), 409, "already_registered")
	e.must(403, "POST", identityPath("alice"), map[string]any{"public_key": newKeyPair(t).wire()}, asAgent("bob")...)
	wantCode(t, e.call("POST", identityPath("bob"), map[string]any{"public_key": k.wire()}, asAgent("bob")...), 409, "key_in_use")
	for _, bad := range []map[string]any{{"public_key": "walk"}, {"public_key": k.wire()[:20]},
		{"public_key": newKeyPair(t).wire(), "key_algorithm": "RSA"},
		{"public_key": newKeyPair(t).wire(), "key_expires_at": "2020-01-01T00:00:00Z"}} {
		e.must(422, "POST", identityPath("carol"), bad, asAgent("carol")...)
	}
}

func TestIdentityChallengeFailures(t *testing.T) {
	e := newEnv(t)
	k, other := newKeyPair(t), newKeyPair(t)
	complete := func(agent, challenge, sig string, extra ...string) resp {
		body := map[string]any{"challenge": challenge, "signature": sig}
		if len(extra) == 2 {
			body[extra[0]] = extra[1]
		}
		return e.call("POST", identityPath(agent)+"/challenge", body, asAgent(agent)...)
	}

	// Bad signatures: garbage, the wrong key's, a signature of something else. Each uses the
	// challenge up.
	for name, sign := range map[string]func(c string) string{
		"malformed": func(string) string { return "not-a-signature" },
		"wrong key": func(c string) string { return other.signChallenge(t, c) },
		"other msg": func(string) string { return k.sign([]byte("something else")) },
	} {
		c := e.startRegistration("bob", k, nil)
		wantCode(t, complete("bob", c, sign(c)), 403, "invalid_signature")
		wantCode(t, complete("bob", c, k.signChallenge(t, c)), 403, "challenge_invalid") // used up
		_ = name
	}
	e.must(404, "GET", identityPath("bob"), nil)

	// public_key, when sent, must be the challenged key.
	c := e.startRegistration("bob", k, nil)
	wantCode(t, complete("bob", c, k.signChallenge(t, c), "public_key", other.wire()), 403, "key_mismatch")
	// Another agent's challenge, an unknown one.
	c = e.startRegistration("bob", k, nil)
	wantCode(t, complete("carol", c, k.signChallenge(t, c)), 403, "challenge_invalid")
	wantCode(t, complete("bob", "AAAA", k.sign([]byte("AAAA"))), 403, "challenge_invalid")
	// An expired challenge.
	e.clock.Advance(server.ChallengeTTL + time.Second)
	wantCode(t, complete("bob", c, k.signChallenge(t, c)), 403, "challenge_invalid")

	// Success, with public_key in another accepted form, and a signature of the challenge's
	// text (also accepted); then the replayed challenge is refused.
	c = e.startRegistration("bob", k, nil)
	r := complete("bob", c, k.sign([]byte(c)), "public_key", strings.TrimPrefix(k.wire(), "ed25519:"))
	if r.status != 201 || r.body["public_key"] != k.wire() {
		t.Fatalf("complete: %d %s", r.status, r.raw)
	}
	wantCode(t, complete("bob", c, k.signChallenge(t, c)), 403, "challenge_invalid")

	// At most MaxPendingChallenges unanswered challenges; expired ones free their places.
	fk := newKeyPair(t)
	for range server.MaxPendingChallenges {
		e.startRegistration("flo", fk, nil)
	}
	wantCode(t, e.call("POST", identityPath("flo"), map[string]any{"public_key": fk.wire()}, asAgent("flo")...), 409, "too_many_challenges")
	e.clock.Advance(server.ChallengeTTL + time.Second)
	for range server.MaxPendingChallenges {
		e.startRegistration("flo", fk, nil)
	}

	// Two challenges for two keys: once one completes, the other's completion is a conflict.
	e2k := newKeyPair(t)
	c1, c2 := e.startRegistration("dave", e2k, nil), e.startRegistration("dave", other, nil)
	e.must(201, "POST", identityPath("dave")+"/challenge", map[string]any{"challenge": c1, "signature": e2k.signChallenge(t, c1)}, asAgent("dave")...)
	wantCode(t, complete("dave", c2, other.signChallenge(t, c2)), 409, "already_registered")
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	k1, k2, k3 := newKeyPair(t), newKeyPair(t), newKeyPair(t)
	rotate := func(agent string, oldK, newK, signer testKeyPair) resp {
		msg, _ := agentkey.RotationInput(newK.wire(), oldK.wire())
		return e.call("POST", identityPath(agent)+"/rotate", map[string]any{"action": "rotate",
			"new_public_key": newK.wire(), "old_public_key": oldK.wire(), "signature": signer.sign(msg)}, asAgent(agent)...)
	}
	e.must(404, "POST", identityPath("erin")+"/rotate", map[string]any{"new_public_key": k2.wire(), "old_public_key": k1.wire(), "signature": "x"}, asAgent("erin")...)
	e.registerKey("erin", k1)
	registered := e.must(200, "GET", identityPath("erin"), nil).body["registered_at"]

	wantCode(t, rotate("erin", k1, k2, k2), 403, "invalid_signature") // signed by the wrong (new) key
	wantCode(t, rotate("erin", k1, k2, k3), 403, "invalid_signature") // by an unrelated key
	wantCode(t, rotate("erin", k3, k2, k3), 403, "key_mismatch")      // "old" key is not erin's
	e.must(403, "POST", identityPath("erin")+"/rotate", map[string]any{"new_public_key": k2.wire(), "old_public_key": k1.wire(), "signature": "x"}, asAgent("frank")...)
	// The signature covers the keys: one made for another new key does not carry over.
	msg, _ := agentkey.RotationInput(k3.wire(), k1.wire())
	wantCode(t, e.call("POST", identityPath("erin")+"/rotate", map[string]any{"new_public_key": k2.wire(), "old_public_key": k1.wire(), "signature": k1.sign(msg)}, asAgent("erin")...), 403, "invalid_signature")
	e.must(422, "POST", identityPath("erin")+"/rotate", map[string]any{"action": "revoke", "new_public_key": k2.wire(), "old_public_key": k1.wire(), "signature": "x"}, asAgent("erin")...)

	e.clock.Advance(time.Minute)
	r := rotate("erin", k1, k2, k1)
	if r.status != 200 || r.body["public_key"] != k2.wire() || r.body["did"] != k2.did() ||
		r.body["registered_at"] == registered || len(r.body["previous_keys"].([]any)) != 1 || r.body["previous_keys"].([]any)[0] != k1.wire() {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	r = rotate("erin", k2, k3, k2)
	if prev := r.body["previous_keys"].([]any); len(prev) != 2 || prev[0] != k2.wire() || prev[1] != k1.wire() {
		t.Fatalf("previous keys, most recent first: %v", prev)
	}
	wantCode(t, rotate("erin", k3, k1, k3), 409, "key_reused")
	// Discovery follows the current key only; the old key is free for nobody else either way.
	if l := e.must(200, "GET", "/api/v1/agents?public_key="+url.QueryEscape(k1.wire()), nil).list; len(l) != 0 {
		t.Errorf("discovery by a rotated-out key: %v", l)
	}
	e.registerKey("gina", k2) // a key erin rotated out may be registered by another agent
	wantCode(t, rotate("gina", k2, k3, k2), 409, "key_in_use")
}

func TestKeyExpiry(t *testing.T) {
	e := newEnv(t)
	k := newKeyPair(t)
	in := e.createIntent("signed", nil)
	expires := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	c := e.startRegistration("hank", k, map[string]any{"key_expires_at": expires})
	id := e.must(201, "POST", identityPath("hank")+"/challenge", map[string]any{"challenge": c, "signature": k.signChallenge(t, c)}, asAgent("hank")...).body
	if id["key_expires_at"] == nil {
		t.Fatalf("no expiry: %v", id)
	}
	payload := map[string]any{"amount": 12.5}
	msg, _ := canonical.Marshal(payload)
	verify := func() resp {
		return e.must(200, "POST", identityPath("hank")+"/verify", map[string]any{"payload": payload, "signature": k.sign(msg)})
	}
	if v := verify().body; v["valid"] != true {
		t.Fatalf("before expiry: %v", v)
	}
	e.must(200, "POST", "/api/v1/intents/"+id_(in)+"/events", signedEvent(t, e, k, id_(in), "hank", "comment", map[string]any{"n": 1}), asAgent("hank")...)

	e.clock.Advance(2 * time.Hour)
	if v := verify().body; v["valid"] != false || v["reason"] != "key_expired" {
		t.Fatalf("after expiry: %v", v)
	}
	wantCode(t, e.call("POST", "/api/v1/intents/"+id_(in)+"/events", signedEvent(t, e, k, id_(in), "hank", "comment", nil), asAgent("hank")...), 403, "key_expired")
	k2 := newKeyPair(t)
	msg, _ = agentkey.RotationInput(k2.wire(), k.wire())
	wantCode(t, e.call("POST", identityPath("hank")+"/rotate", map[string]any{"new_public_key": k2.wire(), "old_public_key": k.wire(), "signature": k.sign(msg)}, asAgent("hank")...), 403, "key_expired")
	// An expired key may be replaced by registering anew; it is kept among previous keys.
	id = e.registerKey("hank", k2)
	if prev := id["previous_keys"].([]any); len(prev) != 1 || prev[0] != k.wire() || id["key_expires_at"] != nil {
		t.Fatalf("re-registered: %v", id)
	}
	// A challenged key whose expiry passes before the challenge is answered is refused.
	k3 := newKeyPair(t)
	c = e.startRegistration("ivy", k3, map[string]any{"key_expires_at": e.clock.Now().Add(time.Minute).Format(time.RFC3339)})
	e.clock.Advance(2 * time.Minute)
	wantCode(t, e.call("POST", identityPath("ivy")+"/challenge", map[string]any{"challenge": c, "signature": k3.signChallenge(t, c)}, asAgent("ivy")...), 403, "key_expired")
}

func id_(m map[string]any) string { return id(m) }

func TestVerifySignature(t *testing.T) {
	e := newEnv(t)
	k := newKeyPair(t)
	e.must(404, "POST", identityPath("jack")+"/verify", map[string]any{"payload": map[string]any{}, "signature": "x"})
	e.registerKey("jack", k)
	payload := map[string]any{"b": []any{1, "two", nil}, "a": map[string]any{"é": true}}
	msg, _ := canonical.Marshal(payload)
	if !bytes.Equal(msg, []byte(`{"a":{"é":true},"b":[1,"two",null]}`)) {
		t.Fatalf("canonical: %s", msg)
	}
	v := e.must(200, "POST", identityPath("jack")+"/verify", map[string]any{"payload": payload, "signature": k.sign(msg)}, asAgent("someone-else")...).body
	if v["valid"] != true || v["did"] != k.did() || v["agent_id"] != "jack" || v["reason"] != nil {
		t.Fatalf("valid: %v", v)
	}
	payload["b"] = []any{2, "two", nil}
	v = e.must(200, "POST", identityPath("jack")+"/verify", map[string]any{"payload": payload, "signature": k.sign(msg)}).body
	if v["valid"] != false || v["reason"] != "invalid_signature" {
		t.Fatalf("tampered payload: %v", v)
	}
	v = e.must(200, "POST", identityPath("jack")+"/verify", map[string]any{"payload": payload, "signature": "@@"}).body
	if v["valid"] != false {
		t.Fatalf("malformed signature: %v", v)
	}
}

// signedEvent builds an event body signed by k as agent, created now by the server's clock.
func signedEvent(t *testing.T, e *env, k testKeyPair, intentID, agent, eventType string, payload map[string]any) map[string]any {
	t.Helper()
	created := e.clock.Now().Format(time.RFC3339Nano)
	msg, err := agentkey.EventInput(agentkey.Event{IntentID: intentID, EventType: eventType, Actor: agent, Payload: payload, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"event_type": eventType, "actor": agent, "proof": map[string]any{
		"type": "Ed25519Signature2026", "created": created, "verification_method": k.did(), "signature": k.sign(msg)}}
	if payload != nil {
		body["payload"] = payload
	}
	return body
}

func TestSignedEvents(t *testing.T) {
	e := newEnv(t)
	k := newKeyPair(t)
	in := id(e.createIntent("signed events", nil))
	path := "/api/v1/intents/" + in + "/events"
	// A proof from an agent without a key is refused; its unsigned events are fine.
	wantCode(t, e.call("POST", path, signedEvent(t, e, k, in, "kim", "comment", nil), asAgent("kim")...), 403, "identity_not_registered")
	e.must(200, "POST", path, map[string]any{"event_type": "comment", "actor": "kim"}, asAgent("kim")...)
	e.registerKey("kim", k)

	body := signedEvent(t, e, k, in, "kim", "state_change", map[string]any{"op": "set", "path": "/status", "value": "completed", "n": 3})
	ev := e.must(200, "POST", path, body, asAgent("kim")...).body
	proof, _ := ev["proof"].(map[string]any)
	if proof["signature"] != body["proof"].(map[string]any)["signature"] || proof["verification_method"] != k.did() {
		t.Fatalf("stored event: %v", ev)
	}
	// Reads carry the proof, and it verifies offline from what they return.
	l := e.must(200, "GET", path+"?limit=1", nil).list
	got := l[0].(map[string]any)
	gp := got["proof"].(map[string]any)
	msg, _ := agentkey.EventInput(agentkey.Event{IntentID: got["intent_id"].(string), EventType: got["event_type"].(string),
		Actor: got["actor"].(string), Payload: got["payload"], Created: gp["created"].(string)})
	if !agentkey.Verify(k.pub, msg, gp["signature"].(string)) {
		t.Fatalf("listed event does not verify: %v", got)
	}

	// Tampering with anything signed, or the proof itself, is refused with 403.
	tamper := func(change func(b map[string]any)) map[string]any {
		b := signedEvent(t, e, k, in, "kim", "comment", map[string]any{"note": "original"})
		change(b)
		return b
	}
	for name, c := range map[string]struct {
		body map[string]any
		code string
	}{
		"payload":        {tamper(func(b map[string]any) { b["payload"] = map[string]any{"note": "forged"} }), "invalid_signature"},
		"event type":     {tamper(func(b map[string]any) { b["event_type"] = "state_change" }), "invalid_signature"},
		"trace id added": {tamper(func(b map[string]any) { b["trace_id"] = "t-1" }), "invalid_signature"},
		"created": {tamper(func(b map[string]any) {
			b["proof"].(map[string]any)["created"] = e.clock.Now().Add(time.Second).Format(time.RFC3339)
		}), "invalid_signature"},
		"signature":     {tamper(func(b map[string]any) { b["proof"].(map[string]any)["signature"] = k.sign([]byte("x")) }), "invalid_signature"},
		"garbage sig":   {tamper(func(b map[string]any) { b["proof"].(map[string]any)["signature"] = "!!" }), "invalid_signature"},
		"another key":   {tamper(func(b map[string]any) { b["proof"].(map[string]any)["verification_method"] = newKeyPair(t).did() }), "invalid_proof"},
		"not a did:key": {tamper(func(b map[string]any) { b["proof"].(map[string]any)["verification_method"] = "did:web:example.com" }), "invalid_proof"},
		"type":          {tamper(func(b map[string]any) { b["proof"].(map[string]any)["type"] = "RsaSignature2018" }), "invalid_proof"},
		"bad created":   {tamper(func(b map[string]any) { b["proof"].(map[string]any)["created"] = "yesterday" }), "invalid_proof"},
	} {
		r := e.call("POST", path, c.body, asAgent("kim")...)
		if r.status != 403 || r.body["code"] != c.code {
			t.Errorf("%s: %d %s, want 403 %s", name, r.status, r.raw, c.code)
		}
	}
	// Another intent: the signature names the intent.
	other := id(e.createIntent("other", nil))
	wantCode(t, e.call("POST", "/api/v1/intents/"+other+"/events", signedEvent(t, e, k, in, "kim", "comment", nil), asAgent("kim")...), 403, "invalid_signature")
	// Someone else logging kim's signed event acts as itself (the actor is always the caller):
	// the proof is not lou's.
	b := signedEvent(t, e, k, in, "kim", "comment", nil)
	wantCode(t, e.call("POST", path, b, asAgent("lou")...), 403, "agent_not_allowed")
	b["actor"] = "lou"
	wantCode(t, e.call("POST", path, b, asAgent("lou")...), 403, "identity_not_registered")
	e.registerKey("lou", newKeyPair(t))
	wantCode(t, e.call("POST", path, b, asAgent("lou")...), 403, "invalid_proof")
	// A stale proof (replayed later) is refused.
	b = signedEvent(t, e, k, in, "kim", "comment", nil)
	e.clock.Advance(server.ProofMaxSkew + time.Second)
	wantCode(t, e.call("POST", path, b, asAgent("kim")...), 403, "proof_stale")
	// With trace fields, signed: accepted.
	b = signedEvent(t, e, k, in, "kim", "comment", nil)
	b["trace_id"], b["parent_event_id"] = "trace-1", id(ev)
	created := b["proof"].(map[string]any)["created"].(string)
	msg, _ = agentkey.EventInput(agentkey.Event{IntentID: in, EventType: "comment", Actor: "kim", Created: created, TraceID: "trace-1", ParentEventID: id(ev)})
	b["proof"].(map[string]any)["signature"] = k.sign(msg)
	e.must(200, "POST", path, b, asAgent("kim")...)
}

func TestRequireEventProofs(t *testing.T) {
	e := newEnvConfig(t, testStorePath(t), func(c *server.Config) { c.RequireEventProofs = true })
	k := newKeyPair(t)
	in := id(e.createIntent("policy", nil))
	path := "/api/v1/intents/" + in + "/events"
	e.must(200, "POST", path, map[string]any{"event_type": "comment", "actor": "mo"}, asAgent("mo")...) // no key: unaffected
	e.registerKey("mo", k)
	wantCode(t, e.call("POST", path, map[string]any{"event_type": "comment", "actor": "mo"}, asAgent("mo")...), 403, "proof_required")
	e.must(200, "POST", path, signedEvent(t, e, k, in, "mo", "comment", map[string]any{"x": 1}), asAgent("mo")...)
	// Server-side events (a state patch) are the server's, not the agent's: unaffected.
	intent := e.must(200, "GET", "/api/v1/intents/"+in, nil, asAgent("mo")...).body
	e.must(200, "POST", "/api/v1/intents/"+in+"/state", map[string]any{"state": map[string]any{"k": 1}}, append(asAgent("mo"), ifMatch(intent["version"])...)...)
}

func TestServerDIDDocument(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, server.SecretKeySize)
	e := newEnvConfig(t, testStorePath(t), func(c *server.Config) { c.SecretKey = secret })
	doc := e.must(200, "GET", "/.well-known/did.json", nil, "X-API-Key", "").body // public
	want, err := server.NewIdentity(secret)
	if err != nil {
		t.Fatal(err)
	}
	if doc["id"] != want.DID() || !strings.HasPrefix(want.DID(), "did:key:z6Mk") {
		t.Fatalf("document %v, want DID %s", doc, want.DID())
	}
	vm := doc["verificationMethod"].([]any)[0].(map[string]any)
	pub, err := agentkey.ParseDID(doc["id"].(string))
	if err != nil || vm["publicKeyMultibase"] != agentkey.Multibase(pub) || vm["controller"] != doc["id"] ||
		vm["id"] != want.KeyID() || doc["authentication"].([]any)[0] != want.KeyID() {
		t.Fatalf("verification method %v (%v)", vm, err)
	}
	// The same secret gives the same DID (a restart keeps it), another secret another DID; the
	// key signs, and what it signs verifies with the published key.
	again, _ := server.NewIdentity(secret)
	other, _ := server.NewIdentity(bytes.Repeat([]byte{8}, server.SecretKeySize))
	if again.DID() != want.DID() || other.DID() == want.DID() {
		t.Fatal("the DID is not derived from the secret alone")
	}
	sig, err := want.SignJSON(map[string]any{"b": 1, "a": "x"})
	if err != nil || !agentkey.Verify(pub, []byte(`{"a":"x","b":1}`), sig) || other.Verify([]byte(`{"a":"x","b":1}`), sig) {
		t.Fatalf("signature %s: %v", sig, err)
	}
	if _, err := server.NewIdentity([]byte("short")); err == nil {
		t.Error("a short secret: want an error")
	}
	// A server built with no secret has a working identity too.
	st, _ := store.Open(t.Context(), store.Memory, store.Options{})
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{"k"}})
	if err != nil || !strings.HasPrefix(srv.Identity().DID(), "did:key:z6Mk") {
		t.Fatalf("no secret: %v", err)
	}
	srv.Close()
}
