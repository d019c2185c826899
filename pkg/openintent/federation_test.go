package openintent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/server"
)

// TestFederationClientRoundTrip: the SDK's federation methods against two real servers that are
// each other's peers.
func TestFederationClientRoundTrip(t *testing.T) {
	servers := openintenttest.NewFederation(t, 2)
	a, b := servers[0], servers[1]
	ctx := context.Background()
	alice := a.Client(t, "alice")
	worker := b.Client(t, "worker")
	if _, err := worker.RegisterAgent(ctx, openintent.AgentRegistration{Capabilities: []string{"x"},
		Metadata: openintent.Object{"federation_visibility": "public"}}); err != nil {
		t.Fatal(err)
	}
	m, err := alice.FederationDiscover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.ServerURL != a.URL || m.ServerDid != a.Identity().DID() || len(m.Peers) != 1 || m.Peers[0] != b.URL {
		t.Errorf("manifest: %+v", m)
	}
	agents, err := alice.ListFederatedAgents(ctx, "")
	if err != nil || len(agents) != 0 {
		t.Errorf("A's federated agents: %v %v", agents, err)
	}
	agents, err = worker.ListFederatedAgents(ctx, a.URL)
	if err != nil || len(agents) != 1 || agents[0].AgentID != "worker" || agents[0].ServerURL != b.URL {
		t.Errorf("B's federated agents: %v %v", agents, err)
	}
	in, err := alice.CreateIntent(ctx, openintent.IntentCreate{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := alice.FederationDispatch(ctx, openintent.FederationDispatchRequest{IntentID: in.ID, TargetServer: b.URL, AgentID: "worker"})
	if err != nil || res.Status != "accepted" || res.RemoteIntentID == "" {
		t.Fatalf("dispatch: %+v %v", res, err)
	}
	remote, err := worker.GetIntent(ctx, res.RemoteIntentID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.SetStatus(ctx, remote.ID, remote.Version, openintent.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	for ev, err := range alice.StreamIntentEvents(ctx, in.ID, openintent.WithLastEventID("0")) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventType == openintent.EventFederationCompleted {
			break
		}
	}
	st, err := alice.FederationStatus(ctx)
	if err != nil || !st.Enabled || st.TotalDispatches != 1 || st.PeerCount != 1 {
		t.Errorf("A's status: %+v %v", st, err)
	}
	// A target that is not a peer is a validation error naming the field.
	_, err = alice.FederationDispatch(ctx, openintent.FederationDispatchRequest{IntentID: in.ID, TargetServer: "https://elsewhere.example"})
	var ve *openintent.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "target_server") {
		t.Errorf("dispatch to a stranger: %v", err)
	}
}

// TestFederationClientSigning: a program holding a peer's key speaks for that peer with
// FederationReceive and SendFederationCallback, and checks the server's envelopes with
// VerifyFederationSignature.
func TestFederationClientSigning(t *testing.T) {
	peerKey, err := openintent.NewEd25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	// The peer: a loopback server that accepts every envelope and keeps it.
	var mu sync.Mutex
	var got []byte
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = raw
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var env openintent.FederationEnvelope
		json.Unmarshal(raw, &env)
		json.NewEncoder(w).Encode(map[string]any{"dispatch_id": env.DispatchID, "accepted": true, "local_intent_id": "p-1", "message": "ok"})
	}))
	t.Cleanup(peer.Close)
	srv := openintenttest.NewServer(t, openintenttest.WithFederation(server.Federation{Peers: []server.Peer{{URL: peer.URL, PublicKey: peerKey.DID()}}}))
	ctx := context.Background()
	c := srv.Client(t, "alice")
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.FederationDispatch(ctx, openintent.FederationDispatchRequest{IntentID: in.ID, TargetServer: peer.URL})
	if err != nil || res.Status != "accepted" || res.RemoteIntentID != "p-1" {
		t.Fatalf("dispatch: %+v %v", res, err)
	}
	m, err := c.FederationDiscover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	envelope := got
	mu.Unlock()
	if err := openintent.VerifyFederationSignature(envelope, m.PublicKey); err != nil {
		t.Errorf("the server's envelope does not verify with its manifest's key: %v", err)
	}
	if err := openintent.VerifyFederationSignature(envelope, peerKey.PublicKeyString()); err == nil {
		t.Error("the envelope verified with another key")
	}

	// The peer reports back, signed.
	cb := openintent.FederationCallback{DispatchID: res.DispatchID, EventType: "completed", IdempotencyKey: "k1",
		StateDelta: openintent.Object{"status": "completed"}}
	if _, err := c.SendFederationCallback(ctx, srv.URL+"/api/v1/federation/callback", cb); err == nil {
		t.Error("an unsigned callback was sent")
	}
	if err := openintent.SignFederationCallback(&cb, peerKey); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendFederationCallback(ctx, srv.URL+"/api/v1/federation/callback", cb); err != nil {
		t.Fatalf("signed callback: %v", err)
	}
	_, err = c.SendFederationCallback(ctx, srv.URL+"/api/v1/federation/callback", cb)
	var ce *openintent.ConflictError
	if !errors.As(err, &ce) {
		t.Errorf("the same callback again: %v", err)
	}
	evs, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventFederationCompleted})
	if err != nil || len(evs) != 1 || evs[0].Actor != peerKey.DID() {
		t.Errorf("callback events: %+v %v", evs, err)
	}

	// The peer delegates an intent here.
	env := openintent.FederationEnvelope{DispatchID: "d-1", SourceServer: peer.URL, TargetServer: srv.URL, IntentID: "origin",
		IntentTitle: "from the peer", IntentState: openintent.Object{"n": 1}}
	if _, err := c.FederationReceive(ctx, env); err == nil {
		t.Error("an unsigned envelope was sent")
	}
	if err := openintent.SignFederationEnvelope(&env, peerKey); err != nil {
		t.Fatal(err)
	}
	rr, err := c.FederationReceive(ctx, env)
	if err != nil || !rr.Accepted || rr.LocalIntentID == nil {
		t.Fatalf("receive: %+v %v", rr, err)
	}
	local, err := c.GetIntent(ctx, *rr.LocalIntentID)
	if err != nil || local.Title != "from the peer" || local.CreatedBy != peerKey.DID() {
		t.Errorf("the received intent: %+v %v", local, err)
	}
	env.IntentTitle = "changed after signing"
	if _, err := c.FederationReceive(ctx, env); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("a changed envelope: %v", err)
	}
}
