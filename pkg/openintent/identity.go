package openintent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/canonical"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Cryptographic agent identity (RFC-0018): an agent holds an Ed25519 key pair, registers its
// public key with the server by signing a challenge, signs the events it logs, and anyone can
// check those signatures offline with the key (or the did:key DID, which embeds it). The
// identity strengthens, never replaces, the API key: requests still need one.

// ProofType is the type of the proofs this SDK makes and checks.
const ProofType = agentkey.ProofType

// Errors of offline verification (VerifyEvent, VerifyPayload).
var (
	// ErrUnsigned: the event carries no proof.
	ErrUnsigned = errors.New("openintent: event is not signed")
	// ErrInvalidProof: the signature is malformed or not made by the key.
	ErrInvalidProof = errors.New("openintent: invalid signature or proof")
	// ErrWrongSigner: the proof is valid but made by a key that is not the agent's.
	ErrWrongSigner = errors.New("openintent: signed by another key")
	// ErrKeyExpired: the key had expired when it signed.
	ErrKeyExpired = errors.New("openintent: key expired")
)

// Ed25519Identity is an agent's Ed25519 key pair, held by the agent only: the private key never
// leaves it (the server stores the public key). Keep Seed somewhere safe to load the same
// identity again with Ed25519IdentityFromSeed. It is safe for concurrent use.
type Ed25519Identity struct {
	priv ed25519.PrivateKey
}

// NewEd25519Identity generates a new key pair from crypto/rand.
func NewEd25519Identity() (*Ed25519Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("openintent: NewEd25519Identity: %w", err)
	}
	return &Ed25519Identity{priv: priv}, nil
}

// Ed25519IdentityFromSeed loads the identity of a 32-byte seed (RFC 8032's private key, as
// Seed returns it).
func Ed25519IdentityFromSeed(seed []byte) (*Ed25519Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, invalidArg("Ed25519IdentityFromSeed", "seed", "seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &Ed25519Identity{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Ed25519IdentityFromPrivateKey wraps an existing private key.
func Ed25519IdentityFromPrivateKey(priv ed25519.PrivateKey) (*Ed25519Identity, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, invalidArg("Ed25519IdentityFromPrivateKey", "priv", "key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	return &Ed25519Identity{priv: slices.Clone(priv)}, nil
}

// Seed returns the 32-byte seed the key pair is derived from: the secret to store.
func (id *Ed25519Identity) Seed() []byte { return id.priv.Seed() }

// PublicKey returns the raw public key.
func (id *Ed25519Identity) PublicKey() ed25519.PublicKey {
	return id.priv.Public().(ed25519.PublicKey)
}

// PublicKeyString returns the public key in the protocol's form, `ed25519:<base64url>`.
func (id *Ed25519Identity) PublicKeyString() string { return agentkey.Format(id.PublicKey()) }

// DID returns the key's did:key DID (`did:key:z6Mk...`).
func (id *Ed25519Identity) DID() string { return agentkey.DID(id.PublicKey()) }

// Sign signs msg and returns the signature in the protocol's form (base64url, no padding).
func (id *Ed25519Identity) Sign(msg []byte) string {
	return agentkey.EncodeSignature(ed25519.Sign(id.priv, msg))
}

// SignPayload signs the canonical JSON (RFC 8785) of payload: what VerifySignature and
// VerifyPayload check.
func (id *Ed25519Identity) SignPayload(payload any) (string, error) {
	msg, err := canonical.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("openintent: SignPayload: %w", err)
	}
	return id.Sign(msg), nil
}

// SignChallenge signs a registration challenge (its 32 decoded bytes).
func (id *Ed25519Identity) SignChallenge(challenge string) (string, error) {
	msg, err := agentkey.ChallengeBytes(challenge)
	if err != nil {
		return "", fmt.Errorf("openintent: SignChallenge: %w", err)
	}
	return id.Sign(msg), nil
}

// SignRotation signs, with this (the current) key, the rotation to newPublicKey: the canonical
// JSON of {"action":"rotate","new_public_key":...,"old_public_key":...}.
func (id *Ed25519Identity) SignRotation(newPublicKey string) (string, error) {
	msg, err := agentkey.RotationInput(newPublicKey, id.PublicKeyString())
	if err != nil {
		return "", fmt.Errorf("openintent: SignRotation: %w", err)
	}
	return id.Sign(msg), nil
}

// SignEvent returns the proof of an event that actor logs on intentID, created now: the
// signature of the canonical JSON of its intent_id, event_type, actor, payload, created_at
// (the proof's created) and, when set, trace_id and parent_event_id. The client's
// WithEventSigner calls it for every event it logs.
func (id *Ed25519Identity) SignEvent(intentID string, ev EventCreate) (EventProof, error) {
	return id.signEventAt(intentID, ev, time.Now())
}

func (id *Ed25519Identity) signEventAt(intentID string, ev EventCreate, now time.Time) (EventProof, error) {
	created := now.UTC().Format(time.RFC3339Nano)
	msg, err := agentkey.EventInput(agentkey.Event{IntentID: intentID, EventType: string(ev.EventType), Actor: ev.Actor,
		Payload: ev.Payload, Created: created, TraceID: ev.TraceID, ParentEventID: ev.ParentEventID})
	if err != nil {
		return EventProof{}, fmt.Errorf("openintent: SignEvent: %w", err)
	}
	return EventProof{Type: ProofType, Created: created, VerificationMethod: id.DID(), Signature: id.Sign(msg)}, nil
}

// WithEventSigner makes the client sign every event it logs (LogEvent and the LLM and tool-call
// logging methods) with id: each event carries a proof the server checks (403 when invalid)
// and anyone can verify offline (VerifyEvent). Register id first (RegisterIdentity). Pass it
// to NewClient for every call, or to one call; nil stops signing.
func WithEventSigner(id *Ed25519Identity) Option {
	return func(s *settings) error {
		s.signer = id
		return nil
	}
}

// RegisterIdentity registers id's public key for the client's agent (WithAgentID) and runs the
// whole [RFC-0018] challenge flow: it asks for a challenge, signs it with the private key (which
// never leaves the process) and completes the registration. An agent that already has an
// unexpired key gets a *ConflictError: rotate it with RotateIdentity.
//
// [RFC-0018]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0018-cryptographic-agent-identity.md
func (c *Client) RegisterIdentity(ctx context.Context, id *Ed25519Identity, opts ...Option) (*AgentIdentity, error) {
	return c.registerIdentity(ctx, id, time.Time{}, opts)
}

// RegisterIdentityUntil is RegisterIdentity for a key that expires at expiresAt: after it, the
// server refuses the key's signatures, and the agent registers a new key.
func (c *Client) RegisterIdentityUntil(ctx context.Context, id *Ed25519Identity, expiresAt time.Time, opts ...Option) (*AgentIdentity, error) {
	if expiresAt.IsZero() {
		return nil, invalidArg("RegisterIdentityUntil", "expiresAt", "expiresAt is zero")
	}
	return c.registerIdentity(ctx, id, expiresAt, opts)
}

func (c *Client) registerIdentity(ctx context.Context, id *Ed25519Identity, expiresAt time.Time, opts []Option) (*AgentIdentity, error) {
	if id == nil {
		return nil, invalidArg("RegisterIdentity", "id", "identity is nil")
	}
	s, err := c.resolve(opts)
	if err != nil {
		return nil, err
	}
	if err := requireIDs("RegisterIdentity", "the client's agent (WithAgentID)", s.agentID); err != nil {
		return nil, err
	}
	reg := IdentityRegistration{PublicKey: id.PublicKeyString(), KeyAlgorithm: agentkey.Algorithm}
	if !expiresAt.IsZero() {
		reg.KeyExpiresAt = timestamp.New(expiresAt)
	}
	ch, err := c.BeginIdentityRegistration(ctx, s.agentID, reg, opts...)
	if err != nil {
		return nil, err
	}
	sig, err := id.SignChallenge(ch.Challenge)
	if err != nil {
		return nil, err
	}
	return c.CompleteIdentityChallenge(ctx, s.agentID, ch.Challenge, sig, opts...)
}

// BeginIdentityRegistration asks for a challenge to register r.PublicKey (in any form
// ParsePublicKey reads) for agentID, the client's agent when empty (the Python SDK's
// register_identity). Sign the challenge (Ed25519Identity.SignChallenge) and send it with
// CompleteIdentityChallenge before it expires; RegisterIdentity does all three.
func (c *Client) BeginIdentityRegistration(ctx context.Context, agentID string, r IdentityRegistration, opts ...Option) (*IdentityChallenge, error) {
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if err := requireIDs("BeginIdentityRegistration", "agentID", agentID, "r.PublicKey", r.PublicKey); err != nil {
		return nil, err
	}
	if r.KeyAlgorithm == "" {
		r.KeyAlgorithm = agentkey.Algorithm
	}
	return call[IdentityChallenge](ctx, c, op2(client.NewRegisterAgentIdentityRequest, agentID, r), opts)
}

// CompleteIdentityChallenge sends the signed challenge and returns the registered identity
// (complete_identity_challenge). Like the Python SDK it sends only the challenge and the
// signature: the server remembers the key. A signature that does not verify, or a challenge
// that is unknown, expired or already used, is a *PermissionError (codes invalid_signature,
// challenge_invalid); a challenge is used once either way.
func (c *Client) CompleteIdentityChallenge(ctx context.Context, agentID, challenge, signature string, opts ...Option) (*AgentIdentity, error) {
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if err := requireIDs("CompleteIdentityChallenge", "agentID", agentID, "challenge", challenge, "signature", signature); err != nil {
		return nil, err
	}
	return call[AgentIdentity](ctx, c, op2(client.NewCompleteIdentityChallengeRequest, agentID,
		models.IdentityChallengeResponse{Challenge: challenge, Signature: signature}), opts)
}

// GetIdentity returns an agent's registered identity (get_identity); *NotFoundError when it
// has none.
func (c *Client) GetIdentity(ctx context.Context, agentID string, opts ...Option) (*AgentIdentity, error) {
	if err := requireIDs("GetIdentity", "agentID", agentID); err != nil {
		return nil, err
	}
	return call[AgentIdentity](ctx, c, op1(client.NewGetAgentIdentityRequest, agentID), opts)
}

// VerifySignature asks the server whether signature is agentID's signature of the canonical
// JSON of payload (verify_signature). The verdict is in Valid (with a Reason when false); the
// same check runs offline with VerifyPayload.
func (c *Client) VerifySignature(ctx context.Context, agentID string, payload Object, signature string, opts ...Option) (*IdentityVerification, error) {
	if err := requireIDs("VerifySignature", "agentID", agentID, "signature", signature); err != nil {
		return nil, err
	}
	if payload == nil {
		payload = Object{}
	}
	return call[IdentityVerification](ctx, c, op2(client.NewVerifyAgentSignatureRequest, agentID,
		models.SignatureVerification{Payload: payload, Signature: signature}), opts)
}

// RotateKey replaces agentID's key oldPublicKey with newPublicKey, authorized by signature, the
// old key's signature of the rotation (rotate_key; see Ed25519Identity.SignRotation, or use
// RotateIdentity). The old key moves to PreviousKeys.
func (c *Client) RotateKey(ctx context.Context, agentID, newPublicKey, oldPublicKey, signature string, opts ...Option) (*AgentIdentity, error) {
	if agentID == "" {
		agentID = c.settings.agentID
	}
	if err := requireIDs("RotateKey", "agentID", agentID, "newPublicKey", newPublicKey, "oldPublicKey", oldPublicKey, "signature", signature); err != nil {
		return nil, err
	}
	return call[AgentIdentity](ctx, c, op2(client.NewRotateAgentKeyRequest, agentID,
		models.KeyRotation{Action: "rotate", NewPublicKey: newPublicKey, OldPublicKey: oldPublicKey, Signature: signature}), opts)
}

// RotateIdentity rotates the client's agent from the registered key current to next, signing
// the rotation with current.
func (c *Client) RotateIdentity(ctx context.Context, current, next *Ed25519Identity, opts ...Option) (*AgentIdentity, error) {
	if current == nil || next == nil {
		return nil, invalidArg("RotateIdentity", "current", "identity is nil")
	}
	s, err := c.resolve(opts)
	if err != nil {
		return nil, err
	}
	if err := requireIDs("RotateIdentity", "the client's agent (WithAgentID)", s.agentID); err != nil {
		return nil, err
	}
	sig, err := current.SignRotation(next.PublicKeyString())
	if err != nil {
		return nil, err
	}
	return c.RotateKey(ctx, s.agentID, next.PublicKeyString(), current.PublicKeyString(), sig, opts...)
}

// FindAgentByPublicKey returns the registered agent whose current key is publicKey (any form
// ParsePublicKey reads); *NotFoundError when none ([RFC-0018] discovery).
//
// [RFC-0018]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0018-cryptographic-agent-identity.md
func (c *Client) FindAgentByPublicKey(ctx context.Context, publicKey string, opts ...Option) (*AgentRecord, error) {
	return c.findAgent(ctx, ListAgentsParams{PublicKey: publicKey}, opts)
}

// FindAgentByDID returns the registered agent whose current key has the did:key DID did;
// *NotFoundError when none.
func (c *Client) FindAgentByDID(ctx context.Context, did string, opts ...Option) (*AgentRecord, error) {
	return c.findAgent(ctx, ListAgentsParams{DID: did}, opts)
}

func (c *Client) findAgent(ctx context.Context, p ListAgentsParams, opts []Option) (*AgentRecord, error) {
	if p.PublicKey == "" && p.DID == "" {
		return nil, invalidArg(sdkOp(), "publicKey", "the key is empty")
	}
	as, err := c.ListAgents(ctx, p, opts...)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		method, path := c.routeOf(op1(client.NewListAgentsRequest, nil))
		return nil, &NotFoundError{APIError: &APIError{StatusCode: http.StatusNotFound, Op: sdkOp(), Method: method,
			Path: path, Detail: "No registered agent has this key", Code: "not_found"}}
	}
	return &as[0], nil
}

// GetServerDIDDocument returns the server's DID document: its own Ed25519 key and DID.
func (c *Client) GetServerDIDDocument(ctx context.Context, opts ...Option) (*DIDDocument, error) {
	return call[DIDDocument](ctx, c, op0(client.NewGetServerDidDocumentRequest), opts)
}

// ParsePublicKey reads an Ed25519 public key in any form the protocol meets:
// `ed25519:<base64url>`, the bare 32 bytes in base64 or base64url, a base64 DER
// SubjectPublicKeyInfo, or a did:key DID.
func ParsePublicKey(s string) (ed25519.PublicKey, error) { return agentkey.Parse(s) }

// FormatPublicKey returns a public key's protocol form, `ed25519:<base64url>`.
func FormatPublicKey(pub ed25519.PublicKey) string { return agentkey.Format(pub) }

// DIDFromPublicKey returns the did:key DID of an Ed25519 public key.
func DIDFromPublicKey(pub ed25519.PublicKey) string { return agentkey.DID(pub) }

// PublicKeyFromDID returns the Ed25519 key a did:key DID (or DID URL) embeds.
func PublicKeyFromDID(did string) (ed25519.PublicKey, error) { return agentkey.ParseDID(did) }

// CanonicalJSON returns the canonical JSON (RFC 8785) of v: the bytes [RFC-0018] signatures
// cover.
//
// [RFC-0018]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0018-cryptographic-agent-identity.md
func CanonicalJSON(v any) ([]byte, error) { return canonical.Marshal(v) }

// VerifyPayload checks offline that signature is publicKey's (any form ParsePublicKey reads)
// signature of the canonical JSON of payload; ErrInvalidProof when not.
func VerifyPayload(publicKey string, payload any, signature string) error {
	pub, err := agentkey.Parse(publicKey)
	if err != nil {
		return fmt.Errorf("openintent: VerifyPayload: %w", err)
	}
	msg, err := canonical.Marshal(payload)
	if err != nil {
		return fmt.Errorf("openintent: VerifyPayload: %w", err)
	}
	if !agentkey.Verify(pub, msg, signature) {
		return ErrInvalidProof
	}
	return nil
}

// VerifyEvent checks an event's proof offline, as any third party can: the signature must
// verify with the key its verification_method names. With signer (the actor's identity, from
// GetIdentity), the event's actor must be signer's agent and the key its current key, unexpired
// when the proof was made, or one of its PreviousKeys (signatures of rotated-out keys stay
// verifiable). It returns the DID that signed. Errors: ErrUnsigned, ErrInvalidProof,
// ErrWrongSigner, ErrKeyExpired.
func VerifyEvent(ev IntentEvent, signer *AgentIdentity) (string, error) {
	p := ev.Proof
	if p == (EventProof{}) {
		return "", ErrUnsigned
	}
	if p.Type != ProofType {
		return "", fmt.Errorf("%w: proof type %q", ErrInvalidProof, p.Type)
	}
	pub, err := agentkey.ParseDID(p.VerificationMethod)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	msg, err := agentkey.EventInput(agentkey.Event{IntentID: ev.IntentID, EventType: string(ev.EventType), Actor: ev.Actor,
		Payload: ev.Payload, Created: p.Created, TraceID: ev.TraceID, ParentEventID: ev.ParentEventID})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	if !agentkey.Verify(pub, msg, p.Signature) {
		return "", ErrInvalidProof
	}
	did := agentkey.DID(pub)
	if signer == nil {
		return did, nil
	}
	if ev.Actor != signer.AgentID {
		return did, fmt.Errorf("%w: the event's actor is %s, the identity is %s's", ErrWrongSigner, ev.Actor, signer.AgentID)
	}
	key := agentkey.Format(pub)
	switch {
	case key == normalKey(signer.PublicKey):
		if !signer.KeyExpiresAt.IsZero() {
			created, err := time.Parse(time.RFC3339Nano, p.Created)
			if err != nil || !created.Before(signer.KeyExpiresAt.Time) {
				return did, ErrKeyExpired
			}
		}
	case slices.ContainsFunc(signer.PreviousKeys, func(k string) bool { return normalKey(k) == key }):
	default:
		return did, fmt.Errorf("%w: %s is not a key of %s", ErrWrongSigner, did, signer.AgentID)
	}
	return did, nil
}

// normalKey is a key's protocol form, or the string itself when it is not a key.
func normalKey(k string) string {
	if n, err := agentkey.Normalize(k); err == nil {
		return n
	}
	return k
}
