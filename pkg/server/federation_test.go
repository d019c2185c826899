package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/fedsig"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// fedNode is one server of a federation test: its env (for e.call), its URL as its peers list
// it, its secret key and identity.
type fedNode struct {
	*env
	url      string
	secret   []byte
	identity *server.Identity
}

// fedOptions shapes a federation test's servers.
type fedOptions struct {
	// peers[i] lists the nodes server i trusts; keyed[i][j] gives server i node j's key in its
	// configuration (otherwise read from j's manifest).
	peers map[int][]int
	keyed map[int]map[int]bool
	// guarded[i] keeps server i's outbound guard on: it may not reach loopback peers.
	guarded map[int]bool
	// extra[i] are more peers of server i (servers the test plays).
	extra map[int][]server.Peer
	// wrap wraps server i's handler (to watch what it receives).
	wrap func(i int, h http.Handler) http.Handler
	// path gives server i's store (default testStorePath).
	path func(i int) string
}

// newFederation starts n real servers on loopback, each with its own store and clock (all
// starting at the same instant), federated as opts says, with loopback peers allowed.
func newFedNodes(t *testing.T, n int, opts fedOptions) []*fedNode {
	t.Helper()
	nodes := make([]*fedNode, n)
	hss := make([]*httptest.Server, n)
	for i := range n {
		hss[i] = httptest.NewUnstartedServer(nil)
		secret := make([]byte, server.SecretKeySize)
		rand.Read(secret)
		id, err := server.NewIdentity(secret)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = &fedNode{url: "http://" + hss[i].Listener.Addr().String(), secret: secret, identity: id}
	}
	for i := range n {
		path := testStorePath(t)
		if opts.path != nil {
			path = opts.path(i)
		}
		nodes[i].env = startFedServer(t, hss[i], path, nodes, i, opts)
	}
	return nodes
}

// fedConfig is server i's federation configuration.
func fedConfig(nodes []*fedNode, i int, opts fedOptions) server.Federation {
	f := server.Federation{URL: nodes[i].url, AllowPrivateNetworks: !opts.guarded[i], BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	for _, j := range opts.peers[i] {
		p := server.Peer{URL: nodes[j].url}
		if opts.keyed[i][j] {
			p.PublicKey = nodes[j].identity.PublicKeyString()
		}
		f.Peers = append(f.Peers, p)
	}
	f.Peers = append(f.Peers, opts.extra[i]...)
	return f
}

func startFedServer(t *testing.T, hs *httptest.Server, path string, nodes []*fedNode, i int, opts fedOptions) *env {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	st, err := store.Open(context.Background(), path, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{testKey, "alice-key=alice", "bob-key=bob"}, Logger: newLogger(&fedLogWriter{w: &logs}),
		AuthFailureLimit: server.RateLimit{PerSecond: 1000, Burst: 1000}, SecretKey: nodes[i].secret, Federation: fedConfig(nodes, i, opts)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.ResponseValidator(srv, func(r *http.Request, err error) { t.Errorf("server %d: %v", i, err) })
	if err != nil {
		t.Fatal(err)
	}
	if opts.wrap != nil {
		h = opts.wrap(i, h)
	}
	hs.Config.Handler = h
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
	})
	return &env{t: t, url: hs.URL, clock: c, logs: &logs, store: st, srv: srv}
}

// fedLogWriter makes a buffer safe for the server's log, written by its background loops too.
type fedLogWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *fedLogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// registerFederatedAgent registers agent on e with a federation visibility ("" leaves it to the
// server's default).
func registerFedAgent(e *env, agent, visibility string) {
	meta := map[string]any{}
	if visibility != "" {
		meta["federation_visibility"] = visibility
	}
	e.must(200, "POST", "/api/v1/agents/register", map[string]any{"agent_id": agent, "capabilities": []string{"research"}, "metadata": meta},
		"X-Agent-ID", agent)
}

// fedCallbackRecorder keeps the bodies of the callbacks a server receives, as sent.
type fedCallbackRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *fedCallbackRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/federation/callback" {
			raw, _ := io.ReadAll(r.Body)
			c.mu.Lock()
			c.bodies = append(c.bodies, raw)
			c.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		h.ServeHTTP(w, r)
	})
}

func (c *fedCallbackRecorder) first(t *testing.T) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bodies) == 0 {
		t.Fatal("no callback was received")
	}
	return c.bodies[0]
}

// waitForEvent follows an intent's event stream on e until an event of type eventType arrives
// (failing after a generous deadline) and returns the stream's frames.
func waitForFedEvent(t *testing.T, e *env, intentID, eventType string) string {
	t.Helper()
	s := e.openStream(t, "/api/v1/subscribe/intents/"+intentID, "X-API-Key", aliceKey, "X-Agent-ID", "alice", "Last-Event-ID", "0")
	return s.waitFor(t, `"event_type":"`+eventType+`"`)
}

// eventOf returns the first event of type eventType in an intent's log on e.
func fedEvent(t *testing.T, e *env, intentID, eventType string) map[string]any {
	t.Helper()
	for _, ev := range e.must(200, "GET", "/api/v1/intents/"+intentID+"/events?limit=1000", nil, as(aliceKey, "")...).list {
		m := ev.(map[string]any)
		if m["event_type"] == eventType {
			return m
		}
	}
	t.Fatalf("intent %s has no %s event", intentID, eventType)
	return nil
}

// postSigned posts a body to a federation route with no API key, signed by id (when set).
func postFedSigned(t *testing.T, e *env, path string, body map[string]any, id *server.Identity) resp {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if id != nil {
		if raw, err = fedsig.Sign(raw, id.Sign); err != nil {
			t.Fatal(err)
		}
	}
	return e.call("POST", path, string(raw), "X-API-Key", "", "X-Agent-ID", "")
}

// roundTrip dispatches a new intent of alice from a to b's agent "worker", which completes it,
// and waits for a's log to record the callback. It returns the intent on a and the one on b.
func fedRoundTrip(t *testing.T, a, b *fedNode) (origin, remote string) {
	t.Helper()
	in := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "Summarise the Q3 report", "description": "two pages",
		"state": map[string]any{"pages": 2}, "constraints": map[string]any{"deadline": "friday"}}, as(aliceKey, "")...).body
	res := a.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": b.url, "agent_id": "worker",
		"trace_context": map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}}, as(aliceKey, "")...).body
	if res["status"] != "accepted" || res["target_server"] != b.url {
		t.Fatalf("dispatch: %v", res)
	}
	remote, _ = res["remote_intent_id"].(string)
	got := b.must(200, "GET", "/api/v1/intents/"+remote, nil, "X-Agent-ID", "worker").body
	b.must(200, "POST", "/api/v1/intents/"+remote+"/status", map[string]any{"status": "completed"}, append(ifMatch(got["version"]), "X-Agent-ID", "worker")...)
	waitForFedEvent(t, a.env, id(in), "federation.completed")
	return id(in), remote
}

// TestFederationDispatchRoundTrip: server A dispatches alice's intent to server B (whose key A
// reads from B's manifest; B has A's key in its configuration); B creates a real intent assigned
// to its agent, who completes it; B posts a signed callback, which A records on alice's intent.
func TestFederationDispatchRoundTrip(t *testing.T) {
	nodes := newFedNodes(t, 2, fedOptions{peers: map[int][]int{0: {1}, 1: {0}}, keyed: map[int]map[int]bool{1: {0: true}}})
	a, b := nodes[0], nodes[1]
	registerFedAgent(b.env, "worker", "public")
	origin, remote := fedRoundTrip(t, a, b)

	// B's intent is a copy of A's, created by A's DID, assigned to the worker, linked to A's.
	got := b.must(200, "GET", "/api/v1/intents/"+remote, nil, "X-Agent-ID", "worker").body
	if got["title"] != "Summarise the Q3 report" || got["description"] != "two pages" || got["created_by"] != a.identity.DID() ||
		got["state"].(map[string]any)["pages"] != 2.0 || got["constraints"].(map[string]any)["deadline"] != "friday" || got["status"] != "completed" {
		t.Errorf("B's intent: %v", got)
	}
	received := fedEvent(t, b.env, remote, "federation.received")
	p := received["payload"].(map[string]any)
	if p["origin_intent_id"] != origin || p["source_server"] != a.url || p["source_did"] != a.identity.DID() || received["actor"] != a.identity.DID() ||
		received["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("federation.received on B: %v", received)
	}
	agents := b.must(200, "GET", "/api/v1/intents/"+remote+"/agents", nil).list
	if len(agents) != 1 || agents[0].(map[string]any)["agent_id"] != "worker" {
		t.Errorf("B's intent's agents: %v", agents)
	}

	// A's log: dispatched by alice, completed by B's DID with B's result and attestation.
	dispatched := fedEvent(t, a.env, origin, "federation.dispatched")
	if dispatched["actor"] != "alice" || dispatched["payload"].(map[string]any)["target_server"] != b.url {
		t.Errorf("federation.dispatched on A: %v", dispatched)
	}
	done := fedEvent(t, a.env, origin, "federation.completed")
	dp := done["payload"].(map[string]any)
	delta := dp["state_delta"].(map[string]any)
	att, _ := dp["attestation"].(map[string]any)
	if done["actor"] != b.identity.DID() || dp["event_type"] != "completed" || delta["status"] != "completed" ||
		delta["state"].(map[string]any)["pages"] != 2.0 || dp["intent_id"] != remote || att == nil ||
		!strings.HasPrefix(att["event_hash"].(string), "sha256:") || done["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("federation.completed on A: %v", done)
	}
	// The attested event is B's status change.
	changed := fedEvent(t, b.env, remote, "status_changed")
	if att["event_id"] != changed["id"] || att["event_hash"] != changed["event_hash"] {
		t.Errorf("attestation %v does not name B's status change %v", att, changed)
	}

	st := a.must(200, "GET", "/api/v1/federation/status", nil).body
	if st["enabled"] != true || st["server_did"] != a.identity.DID() || st["peer_count"] != 1.0 || st["total_dispatches"] != 1.0 ||
		st["active_dispatches"] != 0.0 || st["total_received"] != 0.0 || st["trust_policy"] != "allowlist" {
		t.Errorf("A's status: %v", st)
	}
	if st := b.must(200, "GET", "/api/v1/federation/status", nil).body; st["total_received"] != 1.0 || st["total_dispatches"] != 0.0 {
		t.Errorf("B's status: %v", st)
	}
}

// TestFederationRefusesForgedAndReplayedCallbacks: a callback is accepted once, from the key of
// the peer the intent went to, signed over what it says, recent.
func TestFederationRefusesForgedAndReplayedCallbacks(t *testing.T) {
	var rec fedCallbackRecorder
	nodes := newFedNodes(t, 3, fedOptions{peers: map[int][]int{0: {1, 2}, 1: {0}, 2: {0}},
		wrap: func(i int, h http.Handler) http.Handler {
			if i == 0 {
				return rec.wrap(h)
			}
			return h
		}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	registerFedAgent(b.env, "worker", "public")
	origin, remote := fedRoundTrip(t, a, b)
	genuine := rec.first(t)
	var cb map[string]any
	if err := json.Unmarshal(genuine, &cb); err != nil {
		t.Fatal(err)
	}
	dispatchID := cb["dispatch_id"].(string)

	// The very callback B sent, again: refused.
	r := a.call("POST", "/api/v1/federation/callback", string(genuine), "X-API-Key", "", "X-Agent-ID", "")
	if r.status != http.StatusConflict || r.body["code"] != "replayed" {
		t.Errorf("replayed callback: %d %s", r.status, r.raw)
	}
	fresh := func(key string) map[string]any {
		return map[string]any{"dispatch_id": dispatchID, "event_type": "failed", "state_delta": map[string]any{"status": "abandoned"},
			"intent_id": remote, "idempotency_key": key, "timestamp": a.clock.Now().Format(time.RFC3339)}
	}
	stranger, err := server.NewIdentity(bytes.Repeat([]byte{7}, server.SecretKeySize))
	if err != nil {
		t.Fatal(err)
	}
	garbage := fresh("n0")
	garbage["signature"] = base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	for _, tc := range []struct {
		name   string
		body   map[string]any
		id     *server.Identity
		status int
		code   string
	}{
		{"unsigned", fresh("n1"), nil, 422, "validation_error"},
		{"with a signature of zeros", garbage, nil, 401, "invalid_signature"},
		{"signed by a stranger", fresh("n2"), stranger, 401, "invalid_signature"},
		{"signed by another peer (C)", fresh("n3"), c.identity, 401, "invalid_signature"},
		{"signed by A itself", fresh("n4"), a.identity, 401, "invalid_signature"},
	} {
		if r := postFedSigned(t, a.env, "/api/v1/federation/callback", tc.body, tc.id); r.status != tc.status || r.body["code"] != tc.code {
			t.Errorf("%s: %d %s", tc.name, r.status, r.raw)
		}
	}
	// B's genuine callback with one word changed: the signature no longer covers it.
	tampered := bytes.Replace(genuine, []byte(`"completed"`), []byte(`"abandoned"`), 1)
	if r := a.call("POST", "/api/v1/federation/callback", string(tampered), "X-API-Key", "", "X-Agent-ID", ""); r.status != http.StatusUnauthorized {
		t.Errorf("tampered callback: %d %s", r.status, r.raw)
	}
	// Signed by B but outside the replay window.
	old := fresh("n5")
	old["timestamp"] = a.clock.Now().Add(-6 * time.Minute).Format(time.RFC3339)
	if r := postFedSigned(t, a.env, "/api/v1/federation/callback", old, b.identity); r.status != http.StatusUnauthorized || r.body["code"] != "stale_request" {
		t.Errorf("stale callback: %d %s", r.status, r.raw)
	}
	// An unknown dispatch.
	other := fresh("n6")
	other["dispatch_id"] = "no-such-dispatch"
	if r := postFedSigned(t, a.env, "/api/v1/federation/callback", other, b.identity); r.status != http.StatusNotFound {
		t.Errorf("unknown dispatch: %d %s", r.status, r.raw)
	}
	// Nothing of that reached alice's log; a new callback signed by B does, once.
	evs := a.must(200, "GET", "/api/v1/intents/"+origin+"/events?limit=1000", nil, as(aliceKey, "")...).list
	if n := fedCountEvents(evs, "federation.failed"); n != 0 {
		t.Errorf("%d federation.failed events after refused callbacks", n)
	}
	ok := fresh("n7")
	if r := postFedSigned(t, a.env, "/api/v1/federation/callback", ok, b.identity); r.status != http.StatusOK {
		t.Fatalf("a fresh callback signed by B: %d %s", r.status, r.raw)
	}
	if r := postFedSigned(t, a.env, "/api/v1/federation/callback", ok, b.identity); r.status != http.StatusConflict || r.body["code"] != "replayed" {
		t.Errorf("the same nonce again: %d %s", r.status, r.raw)
	}
	evs = a.must(200, "GET", "/api/v1/intents/"+origin+"/events?limit=1000", nil, as(aliceKey, "")...).list
	if n := fedCountEvents(evs, "federation.failed"); n != 1 {
		t.Errorf("%d federation.failed events, want 1", n)
	}
}

func fedCountEvents(evs []any, eventType string) int {
	n := 0
	for _, ev := range evs {
		if ev.(map[string]any)["event_type"] == eventType {
			n++
		}
	}
	return n
}

// TestFederationReplayRefusedAfterRestart: the nonces of callbacks are kept in the store, so a
// callback replayed to a restarted server is still refused (on a file store, whatever
// OPENINTENT_TEST_STORE says).
func TestFederationReplayRefusedAfterRestart(t *testing.T) {
	var rec fedCallbackRecorder
	dir := t.TempDir()
	opts := fedOptions{peers: map[int][]int{0: {1}, 1: {0}},
		path: func(i int) string { return filepath.Join(dir, []string{"a.db", "b.db"}[i]) },
		wrap: func(i int, h http.Handler) http.Handler {
			if i == 0 {
				return rec.wrap(h)
			}
			return h
		}}
	nodes := newFedNodes(t, 2, opts)
	a, b := nodes[0], nodes[1]
	registerFedAgent(b.env, "worker", "public")
	fedRoundTrip(t, a, b)
	genuine := rec.first(t)
	// A stops; a new process opens its store with the same secret key.
	a.srv.Close()
	a.store.Close()
	restarted := startFedServer(t, httptest.NewUnstartedServer(nil), filepath.Join(dir, "a.db"), nodes, 0, fedOptions{peers: opts.peers})
	r := restarted.call("POST", "/api/v1/federation/callback", string(genuine), "X-API-Key", "", "X-Agent-ID", "")
	if r.status != http.StatusConflict || r.body["code"] != "replayed" {
		t.Errorf("callback replayed after a restart: %d %s", r.status, r.raw)
	}
}

// TestFederationRefusesUnknownPeers: only the servers on the allow-list are dispatched to and
// accepted from, each with its own key, for this server only, recently, once.
func TestFederationRefusesUnknownPeers(t *testing.T) {
	// A and B trust each other; C trusts A, but A and B do not trust C.
	nodes := newFedNodes(t, 3, fedOptions{peers: map[int][]int{0: {1}, 1: {0}, 2: {0}}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	registerFedAgent(b.env, "worker", "public")
	in := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "t"}, as(aliceKey, "")...).body

	// A does not dispatch to C.
	r := a.call("POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": c.url}, as(aliceKey, "")...)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.raw, `"field":"target_server"`) {
		t.Errorf("dispatch to a server that is not a peer: %d %s", r.status, r.raw)
	}
	// C dispatches to A: A refuses it (C is not its peer), and C reports the refusal.
	cin := c.must(200, "POST", "/api/v1/intents", map[string]any{"title": "from C"}).body
	res := c.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(cin), "target_server": a.url}).body
	if res["status"] != "rejected" || !strings.Contains(res["message"].(string), "not trusted") {
		t.Errorf("C's dispatch to A: %v", res)
	}
	fedEvent(t, c.env, id(cin), "federation.failed")

	envelope := func(source, target, dispatchID string, created time.Time) map[string]any {
		return map[string]any{"dispatch_id": dispatchID, "source_server": source, "target_server": target, "intent_id": "origin-1",
			"intent_title": "direct", "intent_state": map[string]any{}, "callback_url": source + "/api/v1/federation/callback",
			"idempotency_key": dispatchID, "created_at": created.Format(time.RFC3339Nano)}
	}
	now := b.clock.Now()
	for _, tc := range []struct {
		name   string
		body   map[string]any
		id     *server.Identity
		status int
		code   string
	}{
		{"from C, signed by C", envelope(c.url, b.url, "d1", now), c.identity, 403, "peer_not_allowed"},
		{"claiming to be A, signed by C", envelope(a.url, b.url, "d2", now), c.identity, 401, "invalid_signature"},
		{"from A, unsigned", envelope(a.url, b.url, "d3", now), nil, 422, "validation_error"},
		{"from A, addressed to C", envelope(a.url, c.url, "d4", now), a.identity, 403, "wrong_target"},
		{"from A, ten minutes old", envelope(a.url, b.url, "d5", now.Add(-10*time.Minute)), a.identity, 401, "stale_request"},
		{"from A, ten minutes ahead", envelope(a.url, b.url, "d6", now.Add(10*time.Minute)), a.identity, 401, "stale_request"},
	} {
		if r := postFedSigned(t, b.env, "/api/v1/federation/receive", tc.body, tc.id); r.status != tc.status || r.body["code"] != tc.code {
			t.Errorf("%s: %d %s", tc.name, r.status, r.raw)
		}
	}
	// A callback URL elsewhere than the source's origin is refused.
	elsewhere := envelope(a.url, b.url, "d7", now)
	elsewhere["callback_url"] = c.url + "/api/v1/federation/callback"
	if r := postFedSigned(t, b.env, "/api/v1/federation/receive", elsewhere, a.identity); r.status != 422 || !strings.Contains(r.raw, "callback_url") {
		t.Errorf("callback URL on another origin: %d %s", r.status, r.raw)
	}
	// A genuine envelope from A is applied once: the same envelope again changes nothing.
	genuine := envelope(a.url, b.url, "d8", now)
	first := postFedSigned(t, b.env, "/api/v1/federation/receive", genuine, a.identity)
	second := postFedSigned(t, b.env, "/api/v1/federation/receive", genuine, a.identity)
	if first.status != 200 || first.body["accepted"] != true || second.status != 200 || second.body["local_intent_id"] != first.body["local_intent_id"] ||
		second.body["message"] != "Already processed (idempotent)" {
		t.Errorf("an envelope received twice: %s then %s", first.raw, second.raw)
	}
	if st := b.must(200, "GET", "/api/v1/federation/status", nil).body; st["total_received"] != 1.0 {
		t.Errorf("B received %v intents, want 1", st["total_received"])
	}
	// Private agents are not available to peers.
	registerFedAgent(b.env, "secretive", "")
	priv := envelope(a.url, b.url, "d9", now)
	priv["agent_id"] = "secretive"
	if r := postFedSigned(t, b.env, "/api/v1/federation/receive", priv, a.identity); r.status != 200 || r.body["accepted"] != false || r.body["local_intent_id"] != nil {
		t.Errorf("envelope for a private agent: %d %s", r.status, r.raw)
	}
}

// TestFederationManifestAgentsAndAccess: the manifest names the server's DID, URL, key,
// endpoints and peers; agents are listed by visibility; dispatching needs write on the intent;
// a server without a URL has federation off.
func TestFederationManifestAgentsAndAccess(t *testing.T) {
	nodes := newFedNodes(t, 2, fedOptions{peers: map[int][]int{0: {1}, 1: {0}}})
	a, b := nodes[0], nodes[1]
	m := a.call("GET", "/.well-known/openintent-federation.json", nil, "X-API-Key", "", "X-Agent-ID", "")
	did := a.must(200, "GET", "/.well-known/did.json", nil, "X-API-Key", "").body
	ep, _ := m.body["endpoints"].(map[string]any)
	if m.status != 200 || m.body["server_did"] != a.identity.DID() || m.body["server_did"] != did["id"] || m.body["server_url"] != a.url ||
		m.body["public_key"] != base64.StdEncoding.EncodeToString(a.identity.PublicKey()) || m.body["trust_policy"] != "allowlist" ||
		m.body["visibility_default"] != "private" || m.body["protocol_version"] != "0.1" || ep["receive"] != "/api/v1/federation/receive" ||
		ep["callback"] != "/api/v1/federation/callback" || len(m.body["peers"].([]any)) != 1 || m.body["peers"].([]any)[0] != b.url ||
		!strings.Contains(m.raw, `"supported_rfcs":["RFC-0022","RFC-0023"]`) {
		t.Errorf("manifest: %d %s", m.status, m.raw)
	}

	registerFedAgent(b.env, "listed", "public")
	registerFedAgent(b.env, "hidden", "unlisted")
	registerFedAgent(b.env, "quiet", "")
	agents := b.must(200, "GET", "/api/v1/federation/agents", nil, "X-Source-Server", a.url).body["agents"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["agent_id"] != "listed" || agents[0].(map[string]any)["server_url"] != b.url ||
		agents[0].(map[string]any)["server_did"] != b.identity.DID() || agents[0].(map[string]any)["visibility"] != "public" {
		t.Errorf("federated agents: %v", agents)
	}
	// An unlisted agent may be named; a private one may not.
	in := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "for hidden"}, as(aliceKey, "")...).body
	if res := a.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": b.url, "agent_id": "hidden"}, as(aliceKey, "")...).body; res["status"] != "accepted" {
		t.Errorf("dispatch to an unlisted agent: %v", res)
	}
	if res := a.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": b.url, "agent_id": "quiet"}, as(aliceKey, "")...).body; res["status"] != "rejected" ||
		!strings.Contains(res["message"].(string), "not available") {
		t.Errorf("dispatch to a private agent: %v", res)
	}

	// Dispatching needs write on the intent: bob has none on alice's closed intent.
	closed := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "closed"}, as(aliceKey, "")...).body
	a.must(200, "PUT", "/api/v1/intents/"+id(closed)+"/acl", map[string]any{"default_policy": "closed", "entries": []any{}}, as(aliceKey, "")...)
	if r := a.call("POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(closed), "target_server": b.url}, as(bobKey, "")...); r.status != 403 {
		t.Errorf("bob dispatching alice's closed intent: %d %s", r.status, r.raw)
	}
	if r := a.call("POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": b.url, "callback_url": "https://example.com/cb"}, as(aliceKey, "")...); r.status != 422 ||
		!strings.Contains(r.raw, `"field":"callback_url"`) {
		t.Errorf("dispatch with a foreign callback URL: %d %s", r.status, r.raw)
	}
	if r := a.call("POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": "no-such-intent", "target_server": b.url}, as(aliceKey, "")...); r.status != 404 {
		t.Errorf("dispatch of a missing intent: %d %s", r.status, r.raw)
	}

	// A server with no federation URL.
	off := newEnv(t)
	if r := off.call("GET", "/.well-known/openintent-federation.json", nil, "X-API-Key", ""); r.status != 404 {
		t.Errorf("manifest with federation off: %d %s", r.status, r.raw)
	}
	if st := off.must(200, "GET", "/api/v1/federation/status", nil).body; st["enabled"] != false || st["server_did"] != nil || st["peer_count"] != 0.0 {
		t.Errorf("status with federation off: %v", st)
	}
	if ag := off.must(200, "GET", "/api/v1/federation/agents", nil).body; len(ag["agents"].([]any)) != 0 {
		t.Errorf("agents with federation off: %v", ag)
	}
	oin := off.createIntent("x", nil)
	if r := off.call("POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(oin), "target_server": b.url}); r.status != 400 || r.body["code"] != "federation_disabled" {
		t.Errorf("dispatch with federation off: %d %s", r.status, r.raw)
	}
	env := map[string]any{"dispatch_id": "d", "source_server": a.url, "target_server": off.url, "intent_id": "i", "intent_title": "t",
		"created_at": off.clock.Now().Format(time.RFC3339), "signature": "x"}
	if r := off.call("POST", "/api/v1/federation/receive", env, "X-API-Key", ""); r.status != 400 || r.body["code"] != "federation_disabled" {
		t.Errorf("receive with federation off: %d %s", r.status, r.raw)
	}
}

// TestFederationDelegationDepth: an intent received from a peer is passed on with one hop less;
// with none left it is not passed on.
func TestFederationDelegationDepth(t *testing.T) {
	nodes := newFedNodes(t, 3, fedOptions{peers: map[int][]int{0: {1}, 1: {0, 2}, 2: {1}}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	registerFedAgent(b.env, "worker", "public")
	registerFedAgent(c.env, "worker", "public")
	in := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "deep"}, as(aliceKey, "")...).body
	res := a.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": b.url, "agent_id": "worker",
		"delegation_scope": map[string]any{"permissions": []string{"state.patch", "events.log"}, "max_delegation_depth": 2}}, as(aliceKey, "")...).body
	onB := res["remote_intent_id"].(string)
	res = b.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": onB, "target_server": c.url, "agent_id": "worker",
		"delegation_scope": map[string]any{"permissions": []string{"events.log", "admin"}}}, "X-Agent-ID", "worker").body
	if res["status"] != "accepted" {
		t.Fatalf("B passing the intent on: %v", res)
	}
	onC := res["remote_intent_id"].(string)
	scope := fedEvent(t, c.env, onC, "federation.received")["payload"].(map[string]any)["delegation_scope"].(map[string]any)
	if scope["max_delegation_depth"] != 1.0 || len(scope["permissions"].([]any)) != 1 || scope["permissions"].([]any)[0] != "events.log" {
		t.Errorf("scope on C: %v", scope)
	}
	r := c.call("POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": onC, "target_server": b.url}, "X-Agent-ID", "worker")
	if r.status != 403 || r.body["code"] != "delegation_exhausted" {
		t.Errorf("C passing it on again: %d %s", r.status, r.raw)
	}
}

// TestFederationPeerKeyRotation: a peer's key read from its manifest is cached; a signature that
// does not verify with it makes the server read the manifest again, at most every 10 seconds,
// and the new key replaces the old.
func TestFederationPeerKeyRotation(t *testing.T) {
	var mu sync.Mutex
	var key *server.Identity
	fetches := 0
	rotate := func(seed byte) *server.Identity {
		id, err := server.NewIdentity(bytes.Repeat([]byte{seed}, server.SecretKeySize))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		key = id
		mu.Unlock()
		return id
	}
	key1 := rotate(1)
	// The peer, played by the test: it publishes its current key and accepts every envelope.
	var peerURL string
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			mu.Lock()
			fetches++
			id := key
			mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"server_did": id.DID(), "server_url": peerURL, "protocol_version": "0.1",
				"trust_policy": "allowlist", "visibility_default": "private", "supported_rfcs": []string{}, "peers": []string{}, "endpoints": map[string]any{},
				"public_key": base64.StdEncoding.EncodeToString(id.PublicKey())})
			return
		}
		var env map[string]any
		json.NewDecoder(r.Body).Decode(&env)
		json.NewEncoder(w).Encode(map[string]any{"dispatch_id": env["dispatch_id"], "accepted": true, "local_intent_id": "p1", "message": "ok"})
	}))
	t.Cleanup(peer.Close)
	peerURL = peer.URL
	nodes := newFedNodes(t, 1, fedOptions{extra: map[int][]server.Peer{0: {{URL: peer.URL}}}})
	a := nodes[0]
	in := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "t"}, as(aliceKey, "")...).body
	res := a.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": peer.URL}, as(aliceKey, "")...).body
	callback := func(nonce string, by *server.Identity) resp {
		return postFedSigned(t, a.env, "/api/v1/federation/callback", map[string]any{"dispatch_id": res["dispatch_id"], "event_type": "status_changed",
			"state_delta": map[string]any{"status": "active"}, "idempotency_key": nonce, "timestamp": a.clock.Now().Format(time.RFC3339)}, by)
	}
	if r := callback("k1", key1); r.status != 200 {
		t.Fatalf("signed by the published key: %d %s", r.status, r.raw)
	}
	if r := callback("k2", key1); r.status != 200 {
		t.Fatalf("again: %d %s", r.status, r.raw)
	}
	key2 := rotate(2)
	// Within 10 s of the last read, the manifest is not read again: the new key is not known yet.
	if r := callback("k3", key2); r.status != 401 {
		t.Errorf("a new key right after a read: %d %s", r.status, r.raw)
	}
	a.clock.Advance(11 * time.Second)
	if r := callback("k4", key2); r.status != 200 {
		t.Errorf("the new key once the manifest may be read again: %d %s", r.status, r.raw)
	}
	if r := callback("k5", key1); r.status != 401 {
		t.Errorf("the old key after the rotation: %d %s", r.status, r.raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if fetches != 2 {
		t.Errorf("the manifest was read %d times, want 2", fetches)
	}
}

// TestFederationOutboundGuard: peers are reached through the guarded outbound client, so a peer
// on loopback is refused unless the configuration allows private networks.
func TestFederationOutboundGuard(t *testing.T) {
	nodes := newFedNodes(t, 2, fedOptions{peers: map[int][]int{0: {1}, 1: {0}}, guarded: map[int]bool{0: true}})
	a, b := nodes[0], nodes[1]
	registerFedAgent(b.env, "worker", "public")
	in := a.must(200, "POST", "/api/v1/intents", map[string]any{"title": "t"}, as(aliceKey, "")...).body
	res := a.must(200, "POST", "/api/v1/federation/dispatch", map[string]any{"intent_id": id(in), "target_server": b.url, "agent_id": "worker"}, as(aliceKey, "")...).body
	if res["status"] != "failed" || !strings.Contains(res["message"].(string), "is not public (loopback)") {
		t.Errorf("dispatch to a loopback peer with the guard on: %v", res)
	}
	if st := b.must(200, "GET", "/api/v1/federation/status", nil).body; st["total_received"] != 0.0 {
		t.Errorf("B received %v intents", st["total_received"])
	}
}
