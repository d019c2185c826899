package openintent_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

func mustIdentity(t *testing.T) *openintent.Ed25519Identity {
	t.Helper()
	id, err := openintent.NewEd25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantAPICode(t *testing.T, err error, target any, code string) {
	t.Helper()
	var ae *openintent.APIError
	if !errors.As(err, target) || !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("got %v, want %T with code %s", err, target, code)
	}
}

func TestIdentityFromSeed(t *testing.T) {
	// RFC 8032, section 7.1, test 1.
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	id, err := openintent.Ed25519IdentityFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id.PublicKey()); got != "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" {
		t.Fatalf("public key %s", got)
	}
	if id.PublicKeyString() != "ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" || !bytes.Equal(id.Seed(), seed) {
		t.Fatalf("wire form %s", id.PublicKeyString())
	}
	if sig := id.Sign(nil); sig != "5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc-bRr0lv18FlbviRlUUFDjnoQCw" {
		t.Fatalf("signature of the empty message: %s", sig)
	}
	pub, err := openintent.PublicKeyFromDID(id.DID())
	if err != nil || !pub.Equal(id.PublicKey()) || openintent.DIDFromPublicKey(pub) != id.DID() {
		t.Fatalf("DID round trip: %v", err)
	}
	again, _ := openintent.Ed25519IdentityFromPrivateKey(ed25519.NewKeyFromSeed(seed))
	if again.DID() != id.DID() {
		t.Fatal("from the private key: another DID")
	}
	if _, err := openintent.Ed25519IdentityFromSeed(seed[:31]); err == nil {
		t.Error("short seed: want an error")
	}
}

func TestRegisterIdentityAndSignedLogging(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	agent := "signer-" + strings.ReplaceAll(t.Name(), "/", "-")
	id := mustIdentity(t)
	c := e.client(t, agent, openintent.WithEventSigner(id))

	if _, err := c.GetIdentity(ctx, agent); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("before registration: %v", err)
	}
	reg, err := c.RegisterIdentity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if reg.AgentID != agent || reg.PublicKey != id.PublicKeyString() || reg.Did != id.DID() || len(reg.PreviousKeys) != 0 {
		t.Fatalf("registered %+v", reg)
	}
	var ce *openintent.ConflictError
	if _, err := c.RegisterIdentity(ctx, mustIdentity(t)); !errors.As(err, &ce) {
		t.Fatalf("second registration: %v", err)
	}
	got, err := e.client(t, "someone-else").GetIdentity(ctx, agent)
	if err != nil || got.Did != id.DID() {
		t.Fatalf("GetIdentity: %+v %v", got, err)
	}

	// Every event the client logs is signed; the server keeps the proof; it verifies offline.
	in := mustCreate(t, c, openintent.IntentCreate{Title: "signed log"})
	ev, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"note": "signed", "n": 2})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Proof.VerificationMethod != id.DID() || ev.Proof.Type != openintent.ProofType {
		t.Fatalf("logged %+v", ev.Proof)
	}
	ctxTr := openintent.ContextWithTrace(ctx, openintent.Trace{TraceID: "0af7651916cd43dd8448eb211c80319c", ParentEventID: ev.ID})
	if _, err := c.LogToolCallStarted(ctxTr, in.ID, openintent.ToolCallPayload{ToolName: "search", ToolID: "call-1", Arguments: openintent.Object{"q": "x"}}); err != nil {
		t.Fatalf("a signed tool call with a trace: %v", err)
	}
	evs, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	signed := 0
	for _, ev := range evs {
		if ev.Proof == (openintent.EventProof{}) {
			if _, err := openintent.VerifyEvent(ev, got); !errors.Is(err, openintent.ErrUnsigned) {
				t.Errorf("unsigned %s: %v", ev.EventType, err)
			}
			continue
		}
		signed++
		if did, err := openintent.VerifyEvent(ev, got); err != nil || did != id.DID() {
			t.Errorf("%s does not verify: %v", ev.EventType, err)
		}
		forged := ev
		forged.Payload = openintent.Object{"note": "forged"}
		if _, err := openintent.VerifyEvent(forged, got); !errors.Is(err, openintent.ErrInvalidProof) {
			t.Errorf("forged payload: %v", err)
		}
		forged = ev
		forged.Actor = "someone-else"
		if _, err := openintent.VerifyEvent(forged, got); !errors.Is(err, openintent.ErrInvalidProof) {
			t.Errorf("forged actor: %v", err)
		}
	}
	if signed != 2 {
		t.Fatalf("%d signed events, want 2", signed)
	}
	// A proof the server cannot verify is refused with 403.
	var pe *openintent.PermissionError
	_, err = c.LogEvent(ctx, in.ID, openintent.EventComment, nil, openintent.WithEventSigner(mustIdentity(t)))
	wantAPICode(t, err, &pe, "invalid_proof")

	// The server verifies signatures too; so does VerifyPayload offline.
	payload := openintent.Object{"action": "transfer", "amount": 10}
	sig, err := id.SignPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.VerifySignature(ctx, agent, payload, sig)
	if err != nil || !v.Valid || v.Did != id.DID() {
		t.Fatalf("VerifySignature: %+v %v", v, err)
	}
	if err := openintent.VerifyPayload(reg.PublicKey, payload, sig); err != nil {
		t.Fatal(err)
	}
	payload["amount"] = 1000
	if v, err := c.VerifySignature(ctx, agent, payload, sig); err != nil || v.Valid || v.Reason != "invalid_signature" {
		t.Fatalf("tampered: %+v %v", v, err)
	}
	if err := openintent.VerifyPayload(reg.Did, payload, sig); !errors.Is(err, openintent.ErrInvalidProof) {
		t.Fatalf("tampered offline: %v", err)
	}

	// Discovery by key and DID.
	if _, err := c.RegisterAgent(ctx, openintent.AgentRegistration{}); err != nil {
		t.Fatal(err)
	}
	for _, find := range []func() (*openintent.AgentRecord, error){
		func() (*openintent.AgentRecord, error) { return c.FindAgentByPublicKey(ctx, id.PublicKeyString()) },
		func() (*openintent.AgentRecord, error) { return c.FindAgentByDID(ctx, id.DID()) },
	} {
		rec, err := find()
		if err != nil || rec.AgentID != agent || rec.Did != id.DID() {
			t.Fatalf("discovery: %+v %v", rec, err)
		}
	}
	if _, err := c.FindAgentByDID(ctx, mustIdentity(t).DID()); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("unknown DID: %v", err)
	}

	// Rotation: signed by the old key; the old key's events still verify as the agent's.
	next := mustIdentity(t)
	if _, err := c.RotateKey(ctx, agent, next.PublicKeyString(), id.PublicKeyString(), next.Sign([]byte("wrong"))); !errors.As(err, &pe) {
		t.Fatalf("rotation signed by the wrong key: %v", err)
	}
	rot, err := c.RotateIdentity(ctx, id, next)
	if err != nil || rot.Did != next.DID() || len(rot.PreviousKeys) != 1 || rot.PreviousKeys[0] != id.PublicKeyString() {
		t.Fatalf("rotated: %+v %v", rot, err)
	}
	for _, ev := range evs {
		if ev.Proof != (openintent.EventProof{}) {
			if _, err := openintent.VerifyEvent(ev, rot); err != nil {
				t.Errorf("an event signed by the previous key: %v", err)
			}
		}
	}
	// The old key no longer signs for the agent; the new one does.
	_, err = c.LogEvent(ctx, in.ID, openintent.EventComment, nil)
	wantAPICode(t, err, &pe, "invalid_proof")
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil, openintent.WithEventSigner(next)); err != nil {
		t.Fatal(err)
	}
	stranger := mustIdentity(t)
	if _, err := openintent.VerifyEvent(evs[0], &openintent.AgentIdentity{AgentID: agent, PublicKey: stranger.PublicKeyString()}); evs[0].Proof != (openintent.EventProof{}) && !errors.Is(err, openintent.ErrWrongSigner) {
		t.Fatalf("another agent's identity: %v", err)
	}

	doc, err := c.GetServerDIDDocument(ctx)
	if err != nil || !strings.HasPrefix(doc.ID, "did:key:z6Mk") || len(doc.VerificationMethod) != 1 {
		t.Fatalf("server DID document: %+v %v", doc, err)
	}
}

func TestIdentityChallengeReplayAndBadSignature(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	agent := "replay-" + strings.ReplaceAll(t.Name(), "/", "-")
	c := e.client(t, agent)
	id := mustIdentity(t)
	ch, err := c.BeginIdentityRegistration(ctx, "", openintent.IdentityRegistration{PublicKey: id.PublicKeyString()})
	if err != nil {
		t.Fatal(err)
	}
	var pe *openintent.PermissionError
	_, err = c.CompleteIdentityChallenge(ctx, "", ch.Challenge, mustIdentity(t).Sign([]byte(ch.Challenge)))
	wantAPICode(t, err, &pe, "invalid_signature")
	sig, _ := id.SignChallenge(ch.Challenge)
	_, err = c.CompleteIdentityChallenge(ctx, "", ch.Challenge, sig) // used up by the failure
	wantAPICode(t, err, &pe, "challenge_invalid")

	ch, _ = c.BeginIdentityRegistration(ctx, "", openintent.IdentityRegistration{PublicKey: id.PublicKeyString()})
	sig, _ = id.SignChallenge(ch.Challenge)
	if _, err := c.CompleteIdentityChallenge(ctx, "", ch.Challenge, sig); err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteIdentityChallenge(ctx, "", ch.Challenge, sig)
	wantAPICode(t, err, &pe, "challenge_invalid")
}

func TestKeyExpiryThroughTheSDK(t *testing.T) {
	e := newClockEnv(t)
	ctx := ctxT(t)
	c := e.client(t, "expiring")
	id := mustIdentity(t)
	reg, err := c.RegisterIdentityUntil(ctx, id, e.clock.Now().Add(time.Hour))
	if err != nil || reg.KeyExpiresAt.IsZero() {
		t.Fatalf("register: %+v %v", reg, err)
	}
	payload := openintent.Object{"x": 1}
	sig, _ := id.SignPayload(payload)
	e.clock.Advance(2 * time.Hour)
	v, err := c.VerifySignature(ctx, "expiring", payload, sig)
	if err != nil || v.Valid || v.Reason != "key_expired" {
		t.Fatalf("expired key: %+v %v", v, err)
	}
	var pe *openintent.PermissionError
	_, err = c.RotateIdentity(ctx, id, mustIdentity(t))
	wantAPICode(t, err, &pe, "key_expired")
	// Offline, a proof made after the key's expiry is refused as well.
	ev := openintent.IntentEvent{IntentID: "i", EventType: "comment", Actor: "expiring", Payload: openintent.Object{}}
	proof, err := id.SignEvent("i", openintent.EventCreate{EventType: "comment", Actor: "expiring", Payload: openintent.Object{}})
	if err != nil {
		t.Fatal(err)
	}
	ev.Proof = proof
	reg.KeyExpiresAt.Time = time.Now().Add(-time.Minute)
	if _, err := openintent.VerifyEvent(ev, reg); !errors.Is(err, openintent.ErrKeyExpired) {
		t.Fatalf("offline, expired: %v", err)
	}
	// A new key replaces the expired one.
	next := mustIdentity(t)
	reg, err = c.RegisterIdentity(ctx, next)
	if err != nil || len(reg.PreviousKeys) != 1 || reg.PreviousKeys[0] != id.PublicKeyString() {
		t.Fatalf("re-register: %+v %v", reg, err)
	}
}

func TestRequiredEventProofs(t *testing.T) {
	e := newEnv(t, openintenttest.WithRequireEventProofs())
	if e.srv == nil {
		t.Skip("needs an in-process server configured to require proofs")
	}
	ctx := ctxT(t)
	id := mustIdentity(t)
	c := e.client(t, "strict")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "proofs required"})
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil); err != nil {
		t.Fatalf("no key yet: %v", err)
	}
	if _, err := c.RegisterIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	var pe *openintent.PermissionError
	_, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil)
	wantAPICode(t, err, &pe, "proof_required")
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil, openintent.WithEventSigner(id)); err != nil {
		t.Fatal(err)
	}
}
