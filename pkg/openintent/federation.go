package openintent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/fedsig"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Federation (RFC-0022) and its security (RFC-0023): a server dispatches an intent to a peer
// server, which creates an intent of its own from it and reports back with signed callbacks.
// Requests between servers carry no API key: each is signed with the sending server's Ed25519
// key over the canonical JSON of its body without `signature` (see SignFederationEnvelope).

// Federation event types, logged on the intents involved.
const (
	// EventFederationDispatched: the intent was sent to a peer (payload: dispatch_id,
	// target_server, ...).
	EventFederationDispatched = models.EventTypeFederationDispatched
	// EventFederationReceived: the intent was created from a peer's envelope (payload:
	// dispatch_id, source_server, source_did, origin_intent_id, ...).
	EventFederationReceived = models.EventTypeFederationReceived
	// EventFederationCallback: the peer reported on the dispatched intent (payload: the
	// callback's dispatch_id, event_type, state_delta, attestation, intent_id).
	EventFederationCallback = models.EventTypeFederationCallback
	// EventFederationBudgetWarning: the peer warned about the budget.
	EventFederationBudgetWarning = models.EventTypeFederationBudgetWarning
	// EventFederationCompleted: the peer completed its intent (payload as for a callback; its
	// state_delta holds the peer intent's final state).
	EventFederationCompleted = models.EventTypeFederationCompleted
	// EventFederationFailed: the dispatch was refused or failed, or the peer abandoned its intent.
	EventFederationFailed = models.EventTypeFederationFailed
)

// FederationStatus returns whether the server federates, its DID, trust policy and counters
// (the Python SDK's federation_status).
func (c *Client) FederationStatus(ctx context.Context, opts ...Option) (*FederationStatus, error) {
	return call[FederationStatus](ctx, c, op0(client.NewGetFederationStatusRequest), opts)
}

// federatedAgents decodes {"agents": [...]}, or a bare list.
type federatedAgents []FederatedAgent

func (a *federatedAgents) decodeBody(b []byte) error {
	var list []FederatedAgent
	if err := json.Unmarshal(b, &list); err == nil {
		*a = list
		return nil
	}
	var wrapped struct {
		Agents []FederatedAgent `json:"agents"`
	}
	if err := json.Unmarshal(b, &wrapped); err != nil {
		return err
	}
	*a = wrapped.Agents
	return nil
}

// ListFederatedAgents returns the agents the server offers to federated peers (its public
// ones; the Python SDK's list_federated_agents). sourceServer, when not empty, is sent as
// X-Source-Server, as the Python SDK does; servers may not trust it.
func (c *Client) ListFederatedAgents(ctx context.Context, sourceServer string, opts ...Option) ([]FederatedAgent, error) {
	var params *models.ListFederatedAgentsParams // nil: no X-Source-Server
	if sourceServer != "" {
		params = &models.ListFederatedAgentsParams{XSourceServer: sourceServer}
	}
	out := federatedAgents{}
	if err := c.do(ctx, request{build: op1(client.NewListFederatedAgentsRequest, params), out: &out}, opts); err != nil {
		return nil, err
	}
	if out == nil {
		out = federatedAgents{}
	}
	return out, nil
}

// FederationDispatch asks the server to delegate one of its intents to a peer server (the
// Python SDK's federation_dispatch). The caller needs write permission on the intent; the
// server signs the envelope, delivers it and reports the peer's answer: Status "accepted" with
// the peer's RemoteIntentID, "rejected" or "failed". The peer's later reports arrive as events
// on the intent (EventFederationCompleted, ...).
func (c *Client) FederationDispatch(ctx context.Context, req FederationDispatchRequest, opts ...Option) (*FederationDispatchResult, error) {
	if err := requireIDs("FederationDispatch", "intent_id", req.IntentID, "target_server", req.TargetServer); err != nil {
		return nil, err
	}
	return call[FederationDispatchResult](ctx, c, op1(client.NewDispatchFederatedIntentRequest, req), opts)
}

// FederationReceive posts an envelope to the server's receive route, as a peer server does (the
// Python SDK's federation_receive). The envelope must be signed by a key the server trusts for
// its source_server (SignFederationEnvelope); the route needs no API key.
func (c *Client) FederationReceive(ctx context.Context, env FederationEnvelope, opts ...Option) (*FederationReceiveResult, error) {
	if err := requireIDs("FederationReceive", "dispatch_id", env.DispatchID, "source_server", env.SourceServer, "signature", env.Signature); err != nil {
		return nil, err
	}
	return call[FederationReceiveResult](ctx, c, op1(client.NewReceiveFederatedIntentRequest, env), opts)
}

// SendFederationCallback posts a callback to callbackURL, an absolute URL (the Python SDK's
// send_federation_callback). It is sent without the client's API key or agent, which must not
// reach another server: the callback is authenticated by its signature (SignFederationCallback).
// The answer is the receiver's JSON object.
func (c *Client) SendFederationCallback(ctx context.Context, callbackURL string, cb FederationCallback, opts ...Option) (Object, error) {
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, invalidArg("SendFederationCallback", "callbackURL", "%q is not an absolute http(s) URL without credentials", callbackURL)
	}
	if cb.Signature == "" {
		return nil, invalidArg("SendFederationCallback", "cb.Signature", "the callback is not signed (SignFederationCallback)")
	}
	peer := clientAt(&url.URL{Scheme: u.Scheme, Host: u.Host}, c.settings)
	peer.settings.apiKey, peer.settings.agentID, peer.settings.signer = "", "", nil
	// The request is the generated one of the callback route (method, body, Content-Type), sent to
	// callbackURL: the spec's path (/api/v1/federation/callback on the peer's root) as built, any
	// other path (a peer mounted under a prefix, or a receiver's own route) in its place.
	build := func(server string) (*http.Request, error) {
		r, err := client.NewReceiveFederationCallbackRequest(server, cb)
		if err != nil {
			return nil, err
		}
		if r.URL.EscapedPath() != u.EscapedPath() {
			r.URL.Path, r.URL.RawPath = u.Path, u.RawPath
		}
		if q := u.Query(); len(q) > 0 {
			r.URL.RawQuery = q.Encode()
		}
		return r, nil
	}
	out := Object{}
	if err := peer.do(ctx, request{build: build, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// FederationDiscover returns the server's federation manifest (the Python SDK's
// federation_discover). It needs no API key; a server without federation answers 404
// (*NotFoundError).
func (c *Client) FederationDiscover(ctx context.Context, opts ...Option) (*FederationManifest, error) {
	return call[FederationManifest](ctx, c, op0(client.NewGetFederationManifestRequest), opts)
}

// signFederation sets *sig to id's signature of v without its signature member.
func signFederation(v any, sig *string, id *Ed25519Identity) error {
	if id == nil {
		return errors.New("no identity")
	}
	*sig = ""
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg, err := fedsig.Input(raw)
	if err != nil {
		return err
	}
	*sig = agentkey.EncodeSignature(ed25519.Sign(id.priv, msg))
	return nil
}

// SignFederationEnvelope signs env with a server's key ([RFC-0023]): Signature becomes the Ed25519
// signature, base64url, of the canonical JSON (RFC 8785) of the envelope without its signature.
// A zero CreatedAt is set to now (receivers refuse an envelope dated more than a few minutes
// from their clock). Change nothing in env after signing.
//
// [RFC-0023]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0023-federation-security.md
func SignFederationEnvelope(env *FederationEnvelope, id *Ed25519Identity) error {
	if env.CreatedAt.IsZero() {
		env.CreatedAt = timestamp.Now()
	}
	if err := signFederation(env, &env.Signature, id); err != nil {
		return fmt.Errorf("openintent: SignFederationEnvelope: %w", err)
	}
	return nil
}

// SignFederationCallback signs cb as SignFederationEnvelope signs an envelope; a zero Timestamp
// is set to now. Receivers also want an IdempotencyKey, unique per dispatch.
func SignFederationCallback(cb *FederationCallback, id *Ed25519Identity) error {
	if cb.Timestamp.IsZero() {
		cb.Timestamp = timestamp.Now()
	}
	if err := signFederation(cb, &cb.Signature, id); err != nil {
		return fmt.Errorf("openintent: SignFederationCallback: %w", err)
	}
	return nil
}

// VerifyFederationSignature checks a federation request body as it was received (an envelope or
// a callback, the raw JSON) against the sending server's public key (any form ParsePublicKey
// reads, or its did:key; a manifest's public_key or server_did): nil when its signature member
// is that key's signature of the rest.
func VerifyFederationSignature(body []byte, publicKey string) error {
	pub, err := agentkey.Parse(publicKey)
	if err != nil {
		return fmt.Errorf("openintent: VerifyFederationSignature: %w", err)
	}
	if err := fedsig.Verify(pub, body); err != nil {
		return fmt.Errorf("openintent: VerifyFederationSignature: %w", err)
	}
	return nil
}
