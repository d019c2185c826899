package server

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/canonical"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// RFC-0018 cryptographic agent identity.
//
// An agent's identity is a record of kind kindIdentity (id: the agent, ref: the DID of its
// current key, which makes discovery by key or DID one indexed lookup). A registration in
// progress is a record of kind kindChallenge (id: the SHA-256 of the challenge, parent: the
// agent) that expires with the challenge and remembers the key it was issued for; completing
// it deletes it, whatever the outcome, so a challenge is used at most once. An agent has at
// most MaxPendingChallenges of them: each holds one of the agent's slots as its unique key,
// and a new challenge in a slot whose challenge expired replaces that row, so abandoned
// challenges take no more room than that.
const (
	kindIdentity  = "agent_identity"
	kindChallenge = "identity_challenge"
)

const (
	// ChallengeTTL is how long a registration challenge may be answered (RFC-0018: 5 minutes).
	ChallengeTTL = 5 * time.Minute
	// ProofMaxSkew is how far an event proof's `created` may be from the server's clock.
	ProofMaxSkew = 5 * time.Minute
	// MaxPendingChallenges is how many unanswered, unexpired challenges an agent may hold.
	MaxPendingChallenges = 5
)

// pendingKey is what a challenge remembers: the key it was issued for.
type pendingKey struct {
	AgentID      string                   `json:"agent_id"`
	PublicKey    string                   `json:"public_key"`
	KeyExpiresAt models.NullableTimestamp `json:"key_expires_at"`
}

// challengeID is a challenge's record id: its hash, so the store never holds a live challenge.
func challengeID(challenge string) string {
	sum := sha256.Sum256([]byte(challenge))
	return hex.EncodeToString(sum[:])
}

// expired reports whether an identity's key has expired at now.
func expired(id models.AgentIdentity, now time.Time) bool {
	return !id.KeyExpiresAt.IsZero() && !now.Before(id.KeyExpiresAt.Time)
}

// checkSelf refuses a caller other than the agent (the access rule already does; this keeps
// the handler safe on its own).
func checkSelf(ctx context.Context, agentID string) error {
	if caller := agentFrom(ctx); caller != agentID {
		return forbidden("forbidden", fmt.Sprintf("Only agent %s may manage its keys (caller is %s)", agentID, caller))
	}
	return nil
}

// parseKeyField reads a public key a body field names (422 naming the field when malformed).
func parseKeyField(field, s string) (ed25519.PublicKey, error) {
	pub, err := agentkey.Parse(s)
	if err != nil {
		return nil, validationFailed(field, err.Error())
	}
	return pub, nil
}

// keyHolder returns the agent whose current key has did, if any, in a write transaction.
func keyHolder(w *store.Writer, did string) (string, error) {
	rs, err := w.List(store.Query{Kind: kindIdentity, Ref: did, Limit: 1})
	if err != nil || len(rs) == 0 {
		return "", err
	}
	return rs[0].ID, nil
}

// checkKeyFree refuses (409 key_in_use) a key that is another agent's current key.
func checkKeyFree(w *store.Writer, agentID, did string) error {
	holder, err := keyHolder(w, did)
	if err != nil {
		return err
	}
	if holder != "" && holder != agentID {
		return conflict("key_in_use", "This key is registered to another agent")
	}
	return nil
}

func (h *handlers) GetAgentIdentity(ctx context.Context, req genserver.GetAgentIdentityRequestObject) (genserver.GetAgentIdentityResponseObject, error) {
	id, err := store.Get[models.AgentIdentity](ctx, h.store, kindIdentity, req.AgentID)
	if err != nil {
		return nil, err
	}
	return genserver.GetAgentIdentity200JSONResponse(id), nil
}

// RegisterAgentIdentity issues a challenge for the key the agent wants to register.
func (h *handlers) RegisterAgentIdentity(ctx context.Context, req genserver.RegisterAgentIdentityRequestObject) (genserver.RegisterAgentIdentityResponseObject, error) {
	if err := checkSelf(ctx, req.AgentID); err != nil {
		return nil, err
	}
	b := req.Body
	if b.KeyAlgorithm != "" && !strings.EqualFold(b.KeyAlgorithm, agentkey.Algorithm) {
		return nil, validationFailed("key_algorithm", "must be Ed25519")
	}
	pub, err := parseKeyField("public_key", b.PublicKey)
	if err != nil {
		return nil, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	challenge := base64.RawURLEncoding.EncodeToString(raw[:])
	var out models.IdentityChallenge
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if !b.KeyExpiresAt.IsZero() && !b.KeyExpiresAt.After(w.Now()) {
			return validationFailed("key_expires_at", "must be in the future")
		}
		var cur models.AgentIdentity
		if _, err := w.GetInto(kindIdentity, req.AgentID, &cur); err == nil && !expired(cur, w.Now()) {
			return conflict("already_registered", fmt.Sprintf("Agent %s already has a registered key: rotate it instead", req.AgentID))
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := checkKeyFree(w, req.AgentID, agentkey.DID(pub)); err != nil {
			return err
		}
		slot, err := freeChallengeSlot(w, req.AgentID)
		if err != nil {
			return err
		}
		until := w.Now().Add(ChallengeTTL)
		_, err = w.Insert(store.Record{Kind: kindChallenge, ID: challengeID(challenge), Parent: req.AgentID, Key: slot, ExpiresAt: &until},
			pendingKey{AgentID: req.AgentID, PublicKey: agentkey.Format(pub), KeyExpiresAt: b.KeyExpiresAt})
		out = models.IdentityChallenge{Challenge: challenge, ChallengeExpiresAt: timestamp.New(until)}
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RegisterAgentIdentity200JSONResponse(out), nil
}

// freeChallengeSlot returns a slot key of the agent that no live challenge holds (409
// too_many_challenges when all are held).
func freeChallengeSlot(w *store.Writer, agentID string) (string, error) {
	live, err := w.List(store.Query{Kind: kindChallenge, Parent: agentID})
	if err != nil {
		return "", err
	}
	for i := range MaxPendingChallenges {
		slot := fmt.Sprintf("%s#%d", agentID, i) // the digit ends it: unique across agents
		if !slices.ContainsFunc(live, func(r store.Record) bool { return r.Key == slot }) {
			return slot, nil
		}
	}
	return "", conflict("too_many_challenges", fmt.Sprintf("Agent %s has %d unanswered challenges: answer one or wait %s for them to expire",
		agentID, MaxPendingChallenges, ChallengeTTL))
}

// CompleteIdentityChallenge registers the challenged key once its signature of the challenge
// verifies. The challenge is consumed whatever the outcome: the deletion commits and the refusal
// is returned after it.
func (h *handlers) CompleteIdentityChallenge(ctx context.Context, req genserver.CompleteIdentityChallengeRequestObject) (genserver.CompleteIdentityChallengeResponseObject, error) {
	if err := checkSelf(ctx, req.AgentID); err != nil {
		return nil, err
	}
	b := req.Body
	var out models.AgentIdentity
	var refusal *apiError
	err := h.store.Write(ctx, func(w *store.Writer) error {
		refusal = nil
		r, err := w.Get(kindChallenge, challengeID(b.Challenge))
		if errors.Is(err, store.ErrNotFound) || (err == nil && r.Parent != req.AgentID) {
			refusal = forbidden("challenge_invalid", "Unknown, expired or already used challenge: register the key again")
			return nil
		}
		if err != nil {
			return err
		}
		var p pendingKey
		if err := r.Decode(&p); err != nil {
			return err
		}
		if err := w.Delete(kindChallenge, r.ID); err != nil {
			return err
		}
		out, refusal, err = completeRegistration(w, req.AgentID, p, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, refusal
	}
	return genserver.CompleteIdentityChallenge201JSONResponse(out), nil
}

// completeRegistration checks a challenge's answer and stores the key. A refusal (the
// client's answer is wrong) is returned apart from errors, so that the caller still commits the
// challenge's deletion.
func completeRegistration(w *store.Writer, agentID string, p pendingKey, b *models.IdentityChallengeResponse) (id models.AgentIdentity, refusal *apiError, err error) {
	if b.PublicKey != "" {
		if k, err := agentkey.Normalize(b.PublicKey); err != nil || k != p.PublicKey {
			return id, forbidden("key_mismatch", "public_key is not the key this challenge was issued for"), nil
		}
	}
	pub, err := agentkey.Parse(p.PublicKey)
	if err != nil {
		return id, nil, err
	}
	if !p.KeyExpiresAt.IsZero() && !p.KeyExpiresAt.After(w.Now()) {
		return id, forbidden("key_expired", "The key's key_expires_at has passed: register it again with a later expiry"), nil
	}
	signed := agentkey.Verify(pub, []byte(b.Challenge), b.Signature) // the challenge's text
	if raw, err := agentkey.ChallengeBytes(b.Challenge); err == nil && !signed {
		signed = agentkey.Verify(pub, raw, b.Signature) // its 32 bytes, as the SDK signs
	}
	if !signed {
		return id, forbidden("invalid_signature", "The signature of the challenge does not verify with the key"), nil
	}
	var prev []string
	r, err := w.Get(kindIdentity, agentID)
	switch {
	case err == nil:
		var cur models.AgentIdentity
		if err := r.Decode(&cur); err != nil {
			return id, nil, err
		}
		if !expired(cur, w.Now()) {
			return id, conflict("already_registered", fmt.Sprintf("Agent %s already has a registered key: rotate it instead", agentID)), nil
		}
		prev = append([]string{cur.PublicKey}, cur.PreviousKeys...) // replacing an expired key
	case !errors.Is(err, store.ErrNotFound):
		return id, nil, err
	}
	did := agentkey.DID(pub)
	if err := checkKeyFree(w, agentID, did); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return id, ae, nil
		}
		return id, nil, err
	}
	id = models.AgentIdentity{AgentID: agentID, PublicKey: p.PublicKey, Did: did, KeyAlgorithm: agentkey.Algorithm,
		RegisteredAt: w.Timestamp(), KeyExpiresAt: p.KeyExpiresAt, PreviousKeys: nonNil(prev), Metadata: models.Object{}}
	if r.ID != "" {
		r.Ref = did
		_, err = w.Update(r, id)
	} else {
		_, err = w.Insert(store.Record{Kind: kindIdentity, ID: agentID, Parent: agentID, Ref: did}, id)
	}
	return id, nil, err
}

// RotateAgentKey replaces the agent's key, authorized by the old key's signature.
func (h *handlers) RotateAgentKey(ctx context.Context, req genserver.RotateAgentKeyRequestObject) (genserver.RotateAgentKeyResponseObject, error) {
	if err := checkSelf(ctx, req.AgentID); err != nil {
		return nil, err
	}
	b := req.Body
	if b.Action != "" && b.Action != "rotate" {
		return nil, validationFailed("action", "must be rotate")
	}
	oldPub, err := parseKeyField("old_public_key", b.OldPublicKey)
	if err != nil {
		return nil, err
	}
	newPub, err := parseKeyField("new_public_key", b.NewPublicKey)
	if err != nil {
		return nil, err
	}
	if newPub.Equal(oldPub) {
		return nil, validationFailed("new_public_key", "must differ from old_public_key")
	}
	msg, err := agentkey.RotationInput(b.NewPublicKey, b.OldPublicKey)
	if err != nil {
		return nil, validationFailed("new_public_key", err.Error())
	}
	oldKey, newKey, newDID := agentkey.Format(oldPub), agentkey.Format(newPub), agentkey.DID(newPub)
	var id models.AgentIdentity
	err = h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindIdentity, req.AgentID)
		if err != nil {
			return err
		}
		if err := r.Decode(&id); err != nil {
			return err
		}
		switch {
		case id.PublicKey != oldKey:
			return forbidden("key_mismatch", "old_public_key is not the agent's current key")
		case expired(id, w.Now()):
			return forbidden("key_expired", "The current key has expired and can no longer sign a rotation: register a new key")
		case !agentkey.Verify(oldPub, msg, b.Signature):
			return forbidden("invalid_signature", "The rotation's signature does not verify with the current key")
		case slices.Contains(id.PreviousKeys, newKey):
			return conflict("key_reused", "new_public_key is one of the agent's previous keys")
		}
		if err := checkKeyFree(w, req.AgentID, newDID); err != nil {
			return err
		}
		id.PreviousKeys = append([]string{id.PublicKey}, id.PreviousKeys...)
		id.PublicKey, id.Did, id.RegisteredAt, id.KeyExpiresAt = newKey, newDID, w.Timestamp(), models.NullableTimestamp{}
		r.Ref = newDID
		_, err = w.Update(r, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RotateAgentKey200JSONResponse(id), nil
}

// VerifyAgentSignature checks a signature of a payload's canonical JSON with the agent's key.
func (h *handlers) VerifyAgentSignature(ctx context.Context, req genserver.VerifyAgentSignatureRequestObject) (genserver.VerifyAgentSignatureResponseObject, error) {
	id, err := store.Get[models.AgentIdentity](ctx, h.store, kindIdentity, req.AgentID)
	if err != nil {
		return nil, err
	}
	payload := any(req.Body.Payload)
	if req.Body.Payload == nil {
		payload = map[string]any{}
	}
	msg, err := canonical.Marshal(payload)
	if err != nil {
		return nil, validationFailed("payload", err.Error())
	}
	now := h.store.Now()
	out := models.SignatureVerificationResult{AgentID: id.AgentID, Did: id.Did, PublicKey: id.PublicKey, VerifiedAt: timestamp.New(now)}
	pub, err := agentkey.Parse(id.PublicKey)
	switch {
	case err != nil || !agentkey.Verify(pub, msg, req.Body.Signature):
		out.Reason = "invalid_signature"
	case expired(id, now):
		out.Reason = "key_expired"
	default:
		out.Valid = true
	}
	return genserver.VerifyAgentSignature200JSONResponse(out), nil
}

// checkEventProof applies RFC-0018 to an event the caller (actor) logs: a proof must be the
// actor's valid signature, and with RequireEventProofs an agent that registered a key must
// sign. Agents without a key log unsigned events as before.
func (h *handlers) checkEventProof(ctx context.Context, intentID, actor string, b *models.EventCreate) error {
	signed := b.Proof != (models.EventProof{})
	if !signed && !h.requireProofs {
		return nil
	}
	id, err := store.Get[models.AgentIdentity](ctx, h.store, kindIdentity, actor)
	if errors.Is(err, store.ErrNotFound) {
		if signed {
			return forbidden("identity_not_registered", fmt.Sprintf("The event carries a proof, but agent %s has no registered key", actor))
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !signed {
		return forbidden("proof_required", fmt.Sprintf("This server requires agents with a registered key to sign their events; agent %s's event has no proof", actor))
	}
	p := b.Proof
	if p.Type != agentkey.ProofType {
		return forbidden("invalid_proof", fmt.Sprintf("proof.type must be %s", agentkey.ProofType))
	}
	pub, err := agentkey.ParseDID(p.VerificationMethod)
	if err != nil || agentkey.DID(pub) != id.Did {
		return forbidden("invalid_proof", fmt.Sprintf("proof.verification_method is not the current key of agent %s", actor))
	}
	created, err := timestamp.Parse(p.Created) // a zone-less time is UTC, as in every request field
	if err != nil {
		return forbidden("invalid_proof", "proof.created is not an RFC 3339 time")
	}
	now := h.store.Now()
	if d := now.Sub(created.Time); d > ProofMaxSkew || d < -ProofMaxSkew {
		return forbidden("proof_stale", fmt.Sprintf("proof.created is more than %s away from the server's clock", ProofMaxSkew))
	}
	if expired(id, now) {
		return forbidden("key_expired", fmt.Sprintf("The key of agent %s has expired", actor))
	}
	msg, err := agentkey.EventInput(agentkey.Event{IntentID: intentID, EventType: string(b.EventType), Actor: actor,
		Payload: b.Payload, Created: p.Created, TraceID: b.TraceID, ParentEventID: b.ParentEventID})
	if err != nil {
		return validationFailed("payload", err.Error())
	}
	if !agentkey.Verify(pub, msg, p.Signature) {
		return forbidden("invalid_signature", "The event's proof does not verify")
	}
	return nil
}

// withIdentities adds their agents' identity fields to agent records.
func (h *handlers) withIdentities(ctx context.Context, as []models.AgentRecord) ([]models.AgentRecord, error) {
	var ids []models.AgentIdentity
	var err error
	if len(as) == 1 {
		var id models.AgentIdentity
		id, err = store.Get[models.AgentIdentity](ctx, h.store, kindIdentity, as[0].AgentID)
		if errors.Is(err, store.ErrNotFound) {
			return as, nil
		}
		ids = []models.AgentIdentity{id}
	} else if len(as) > 1 {
		ids, err = store.List[models.AgentIdentity](ctx, h.store, store.Query{Kind: kindIdentity})
	}
	if err != nil {
		return nil, err
	}
	byAgent := make(map[string]models.AgentIdentity, len(ids))
	for _, id := range ids {
		byAgent[id.AgentID] = id
	}
	for i, a := range as {
		if id, ok := byAgent[a.AgentID]; ok {
			a.PublicKey, a.Did, a.KeyAlgorithm = id.PublicKey, id.Did, id.KeyAlgorithm
			a.KeyRegisteredAt, a.KeyExpiresAt, a.PreviousKeys = id.RegisteredAt, id.KeyExpiresAt, nonNil(id.PreviousKeys)
			as[i] = a
		}
	}
	return as, nil
}

// identityHolder returns, for discovery by public_key or did (GET /agents), the agent whose
// current key they name ("" when none), and whether a filter was given at all.
func (h *handlers) identityHolder(ctx context.Context, publicKey, did string) (string, bool, error) {
	if publicKey == "" && did == "" {
		return "", false, nil
	}
	var want string
	if publicKey != "" {
		pub, err := agentkey.Parse(publicKey)
		if err != nil {
			return "", true, nil // not a key: nobody's
		}
		want = agentkey.DID(pub)
	}
	if did != "" {
		d := agentkey.BaseDID(did)
		if pub, err := agentkey.ParseDID(d); err == nil {
			d = agentkey.DID(pub)
		}
		if want != "" && want != d {
			return "", true, nil // two different keys: nobody
		}
		want = d
	}
	rs, err := h.store.ListRecords(ctx, store.Query{Kind: kindIdentity, Ref: want, Limit: 1})
	if err != nil || len(rs) == 0 {
		return "", true, err
	}
	return rs[0].ID, true, nil
}

// Identity is the server's own Ed25519 key and its DID (RFC-0018 keys, RFC-0023 server
// identity), derived from the server's secret key so that it survives restarts: the key of the
// DID document at /.well-known/did.json, and the key the server signs with when it speaks for
// itself (federation requests). It is safe for concurrent use.
type Identity struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	did  string
}

// identityInfo labels the derivation of the server's identity key from its secret key, so the
// key is independent of every other use of the secret.
const identityInfo = "openintent server identity: ed25519 seed v1"

// NewIdentity derives the server's identity from its secret key (SecretKeySize bytes): HKDF-
// SHA256 of the secret, labelled, gives the Ed25519 seed. The same secret always gives the same
// key and DID.
func NewIdentity(secretKey []byte) (*Identity, error) {
	if len(secretKey) != SecretKeySize {
		return nil, fmt.Errorf("server: secret key is %d bytes, want %d", len(secretKey), SecretKeySize)
	}
	seed, err := hkdf.Key(sha256.New, secretKey, nil, identityInfo, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{priv: priv, pub: pub, did: agentkey.DID(pub)}, nil
}

// DID is the server's did:key DID.
func (id *Identity) DID() string { return id.did }

// KeyID is the DID URL of the server's key, as signatures name it (`<did>#<multibase>`).
func (id *Identity) KeyID() string { return id.did + "#" + agentkey.Multibase(id.pub) }

// PublicKey is the server's Ed25519 public key.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.pub }

// PublicKeyString is the public key in the protocol's wire form, `ed25519:<base64url>`.
func (id *Identity) PublicKeyString() string { return agentkey.Format(id.pub) }

// Sign returns the server's Ed25519 signature of msg.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.priv, msg) }

// SignJSON signs the canonical JSON (RFC 8785) of v and returns the signature in base64url
// without padding, the protocol's form.
func (id *Identity) SignJSON(v any) (string, error) {
	msg, err := canonical.Marshal(v)
	if err != nil {
		return "", err
	}
	return agentkey.EncodeSignature(id.Sign(msg)), nil
}

// Verify reports whether sig (base64url or base64) is the server's signature of msg.
func (id *Identity) Verify(msg []byte, sig string) bool { return agentkey.Verify(id.pub, msg, sig) }

// DIDDocument is the server's DID document.
func (id *Identity) DIDDocument() models.DidDocument {
	kid := id.KeyID()
	return models.DidDocument{
		Context: []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/ed25519-2020/v1"},
		ID:      id.did,
		VerificationMethod: []models.VerificationMethod{{ID: kid, Type: agentkey.VerificationKeyType, Controller: id.did,
			PublicKeyMultibase: agentkey.Multibase(id.pub), PublicKeyBase64: base64.StdEncoding.EncodeToString(id.pub)}},
		Authentication:  []string{kid},
		AssertionMethod: []string{kid},
	}
}

func (h *handlers) GetServerDidDocument(context.Context, genserver.GetServerDidDocumentRequestObject) (genserver.GetServerDidDocumentResponseObject, error) {
	return genserver.GetServerDidDocument200JSONResponse(h.identity.DIDDocument()), nil
}
