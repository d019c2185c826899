package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/fedsig"
	"github.com/openintent-go/openintent/internal/outbound"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// RFC-0022 federation and RFC-0023 federation security.
//
// A server with a public URL (Federation.URL) dispatches intents to its peers and receives
// theirs. Every request between servers is a JSON body signed with the sender's Ed25519 identity
// (Identity; package fedsig says what is signed) and sent without an API key: the receiver
// checks that the sender is one of its peers, verifies the signature with the peer's key
// (configured, or read from the peer's manifest and cached), that the request is recent (its
// timestamp within the replay window) and that it was not seen before (a dispatch is applied
// once; a callback's nonce is remembered in the store, so a replay is refused across restarts).
//
// Records: a dispatch this server sent (kindFedDispatch, id: the dispatch id, parent: the
// intent, ref: the peer), an envelope it received (kindFedReceived, id and key derived from the
// peer and the dispatch id, parent: the peer, ref: the intent it created), a callback nonce it
// accepted (kindFedNonce, key: dispatch id and nonce, parent: the dispatch), and a callback it
// owes a peer (kindFedOutbox, parent: its intent), sent by the federation loop
// (federation_outbox.go) and kept as kindFedDead when it ran out of attempts.
const (
	kindFedDispatch = "federation_dispatch"
	kindFedReceived = "federation_received"
	kindFedNonce    = "federation_nonce"
	kindFedOutbox   = "federation_outbox"
	kindFedDead     = "federation_outbox_dead"
)

// Federation defaults.
const (
	// DefaultFederationReplayWindow is how far a signed request's timestamp may be from the
	// receiver's clock, either way, when Federation.ReplayWindow is zero.
	DefaultFederationReplayWindow = 5 * time.Minute
	// DefaultFederationKeyTTL is how long a key read from a peer's manifest is used before it is
	// read again, when Federation.KeyTTL is zero.
	DefaultFederationKeyTTL = time.Hour
	// federationKeyRetry is the least time between two reads of one peer's manifest: a signature
	// that does not verify with the cached key makes the server read the key again (it may have
	// changed), at most this often, so forged requests cannot make it hammer the peer.
	federationKeyRetry = 10 * time.Second
	// maxFederationBody bounds what the server reads of a peer's answer.
	maxFederationBody = 1 << 20
)

// Paths of the federation routes, relative to a server's URL.
const (
	federationManifestPath = "/.well-known/openintent-federation.json"
	federationReceivePath  = "/api/v1/federation/receive"
	federationCallbackPath = "/api/v1/federation/callback"
)

// Agent visibilities of RFC-0022.
const (
	visibilityPublic   = "public"
	visibilityUnlisted = "unlisted"
	visibilityPrivate  = "private"
)

// Federation configures RFC-0022 federation and its RFC-0023 security. Federation is on when URL
// is set; zero values take the defaults.
type Federation struct {
	// URL is this server's public base URL, as its peers reach it and list it (e.g.
	// https://a.example.com): the manifest's server_url, the source_server of the envelopes it
	// sends, the target_server of those it accepts, and the base of its callback URL. Empty:
	// federation is off (the manifest answers 404, dispatches and peers' requests 400).
	URL string
	// Peers is the allow-list: the servers this server dispatches to and accepts envelopes and
	// callbacks from. Nothing else is contacted or trusted.
	Peers []Peer
	// AllowPrivateNetworks lets federation requests reach peers on loopback, private and
	// link-local addresses (a federation inside one network, tests). Off, such a peer is
	// refused when the server connects to it, as webhooks are (internal/outbound).
	AllowPrivateNetworks bool
	// ReplayWindow is how far the timestamp of a signed envelope or callback may be from this
	// server's clock; zero means DefaultFederationReplayWindow.
	ReplayWindow time.Duration
	// Timeout bounds one request to a peer; zero means 10s.
	Timeout time.Duration
	// VisibilityDefault is the federation visibility of agents whose record sets none
	// (agent_metadata.federation_visibility): "public", "unlisted" or "private" (the default,
	// RFC-0022: agents are not available to peers unless they say so).
	VisibilityDefault string
	// KeyTTL is how long a peer's key read from its manifest is used before it is read again;
	// zero means DefaultFederationKeyTTL.
	KeyTTL time.Duration
	// MaxAttempts bounds the attempts to deliver one callback to a peer (default 8); the last
	// failed one is kept in the store as a dead callback.
	MaxAttempts int
	// BaseBackoff is the wait after a callback's first failed attempt (default 1s), doubled
	// after each further failure up to MaxBackoff (default 5m).
	BaseBackoff time.Duration
	// MaxBackoff bounds the wait between two attempts of a callback (default 5m).
	MaxBackoff time.Duration
	// Client sends the requests to peers (default: an outbound.NewClient with Timeout, which
	// follows no redirect and, unless AllowPrivateNetworks, connects to public addresses only).
	Client *http.Client
}

// Peer is a federation peer: a server this server trusts with its signature.
type Peer struct {
	// URL is the peer's base URL, as its manifest's server_url names it.
	URL string
	// PublicKey is the peer's Ed25519 public key in any form the server reads (`ed25519:...`,
	// a did:key, bare base64 or base64url). Empty: the key is read from the peer's manifest
	// (/.well-known/openintent-federation.json) when first needed, and again after KeyTTL.
	PublicKey string
}

// ParsePeer reads a peer as the server's -federation-peers takes it: `URL` (its key read from
// its manifest) or `URL=KEY`.
func ParsePeer(s string) (Peer, error) {
	s = strings.TrimSpace(s)
	p := Peer{URL: s}
	if i := strings.IndexByte(s, '='); i >= 0 {
		p = Peer{URL: strings.TrimSpace(s[:i]), PublicKey: strings.TrimSpace(s[i+1:])}
	}
	if _, err := fedsig.NormalizeURL(p.URL); err != nil {
		return Peer{}, fmt.Errorf("federation peer %q: its URL %w", p.URL, err)
	}
	if p.PublicKey != "" {
		if _, err := agentkey.Parse(p.PublicKey); err != nil {
			return Peer{}, fmt.Errorf("federation peer %s: %w", p.URL, err)
		}
	}
	return p, nil
}

// peerState is a peer and what the server knows of its key.
type peerState struct {
	url        string            // normalized
	configured ed25519.PublicKey // from the configuration; nil: read from the manifest

	mu        sync.Mutex // serializes reads of the manifest
	key       ed25519.PublicKey
	fetchedAt time.Time // when key was read
	triedAt   time.Time // the last read, successful or not
	fetchErr  error     // the last read's error, while it is recent
}

// federation is the server's federation: its configuration, its peers' keys and the loop that
// sends the callbacks it owes (federation_outbox.go).
type federation struct {
	cfg      Federation
	url      string // this server's normalized URL; "" when federation is off
	peers    map[string]*peerState
	order    []string // peers' URLs in configuration order
	identity *Identity
	store    *store.Store
	log      *slog.Logger
	client   *http.Client

	loop                    // the callback loop (federation_outbox.go)
	keyNow func() time.Time // the clock of key caching: the store's
}

func newFederation(cfg Federation, identity *Identity, st *store.Store, log *slog.Logger) (*federation, error) {
	f := &federation{cfg: cfg, identity: identity, store: st, log: log, peers: map[string]*peerState{},
		keyNow: st.Now}
	if cfg.URL == "" {
		if len(cfg.Peers) > 0 {
			return nil, errors.New("server: Federation.Peers needs Federation.URL (this server's public URL)")
		}
		return f, nil
	}
	u, err := fedsig.NormalizeURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("server: Federation.URL %w", err)
	}
	f.url = u
	for _, p := range cfg.Peers {
		pu, err := fedsig.NormalizeURL(p.URL)
		if err != nil {
			return nil, fmt.Errorf("server: federation peer %q: its URL %w", p.URL, err)
		}
		if pu == f.url {
			return nil, fmt.Errorf("server: federation peer %s is this server", p.URL)
		}
		ps := &peerState{url: pu}
		if p.PublicKey != "" {
			if ps.configured, err = agentkey.Parse(p.PublicKey); err != nil {
				return nil, fmt.Errorf("server: federation peer %s: %w", p.URL, err)
			}
		}
		if _, dup := f.peers[pu]; dup {
			return nil, fmt.Errorf("server: federation peer %s is listed twice", p.URL)
		}
		f.peers[pu] = ps
		f.order = append(f.order, pu)
	}
	switch f.cfg.VisibilityDefault {
	case "":
		f.cfg.VisibilityDefault = visibilityPrivate
	case visibilityPublic, visibilityUnlisted, visibilityPrivate:
	default:
		return nil, fmt.Errorf("server: Federation.VisibilityDefault %q: want public, unlisted or private", cfg.VisibilityDefault)
	}
	if f.cfg.ReplayWindow <= 0 {
		f.cfg.ReplayWindow = DefaultFederationReplayWindow
	}
	if f.cfg.Timeout <= 0 {
		f.cfg.Timeout = 10 * time.Second
	}
	if f.cfg.KeyTTL <= 0 {
		f.cfg.KeyTTL = DefaultFederationKeyTTL
	}
	if f.cfg.MaxAttempts <= 0 {
		f.cfg.MaxAttempts = 8
	}
	if f.cfg.BaseBackoff <= 0 {
		f.cfg.BaseBackoff = time.Second
	}
	if f.cfg.MaxBackoff <= 0 {
		f.cfg.MaxBackoff = 5 * time.Minute
	}
	f.client = f.cfg.Client
	if f.client == nil {
		f.client = outbound.NewClient(outbound.Options{AllowPrivate: f.cfg.AllowPrivateNetworks, Timeout: f.cfg.Timeout})
	}
	return f, nil
}

// enabled reports whether federation is on.
func (f *federation) enabled() bool { return f.url != "" }

// errFederationOff answers requests that need federation when it is off.
func errFederationOff() *apiError {
	return badRequest("federation_disabled", "Federation not enabled: the server has no public URL (-federation-url)")
}

// peer returns the configured peer whose URL is raw, or nil.
func (f *federation) peer(raw string) *peerState {
	u, err := fedsig.NormalizeURL(raw)
	if err != nil {
		return nil
	}
	return f.peers[u]
}

// callbackURL is where this server's peers report on its dispatches.
func (f *federation) callbackURL() string { return f.url + federationCallbackPath }

// unauthenticated is the 401 of a peer's request that is not authenticated.
func unauthenticated(code, detail string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: code, detail: detail}
}

// peerKey returns the peer's key: the configured one, or the one its manifest publishes, read
// when first needed, after KeyTTL, and, when refresh is set (a signature did not verify with the
// cached key), again unless it was read less than federationKeyRetry ago. A manifest that
// cannot be read leaves the key read before in use.
func (f *federation) peerKey(ctx context.Context, p *peerState, refresh bool) (ed25519.PublicKey, error) {
	if p.configured != nil {
		return p.configured, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := f.keyNow()
	fresh := p.key != nil && now.Sub(p.fetchedAt) < f.cfg.KeyTTL
	recent := !p.triedAt.IsZero() && now.Sub(p.triedAt) < federationKeyRetry
	switch {
	case fresh && !refresh, recent && p.key != nil:
		return p.key, nil
	case recent:
		return nil, p.fetchErr
	}
	p.triedAt = now
	key, err := f.fetchKey(ctx, p.url)
	if err != nil {
		// A key read before stays in use while the manifest cannot be read: it was the peer's.
		p.fetchErr = err
		if p.key != nil {
			return p.key, nil
		}
		return nil, err
	}
	p.key, p.fetchedAt, p.fetchErr = key, now, nil
	return key, nil
}

// fetchKey reads a peer's key from its manifest, checking that the manifest is the peer's (its
// server_url) and that its public_key and server_did (when a did:key) name the same key.
func (f *federation) fetchKey(ctx context.Context, peerURL string) (ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL+federationManifestPath, nil)
	if err != nil {
		return nil, errors.New("the peer's URL is not valid")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "openintent-go-server/federation")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the peer's manifest: %w", outboundError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxFederationBody))
	if err != nil {
		return nil, fmt.Errorf("read the peer's manifest: %w", outboundError(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the peer's manifest answered %d", resp.StatusCode)
	}
	var m models.FederationManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("the peer's manifest is not valid JSON")
	}
	if u, err := fedsig.NormalizeURL(m.ServerURL); err != nil || u != peerURL {
		return nil, fmt.Errorf("the peer's manifest names another server_url (%q)", m.ServerURL)
	}
	var key ed25519.PublicKey
	if m.PublicKey != "" {
		if key, err = agentkey.Parse(m.PublicKey); err != nil {
			return nil, fmt.Errorf("the peer's manifest public_key: %w", err)
		}
	}
	if strings.HasPrefix(m.ServerDid, agentkey.DIDPrefix) {
		dk, err := agentkey.ParseDID(m.ServerDid)
		if err != nil {
			return nil, fmt.Errorf("the peer's manifest server_did: %w", err)
		}
		if key != nil && !key.Equal(dk) {
			return nil, errors.New("the peer's manifest public_key is not the key of its server_did")
		}
		key = dk
	}
	if key == nil {
		return nil, errors.New("the peer's manifest publishes no Ed25519 key")
	}
	return key, nil
}

// outboundError is err without the URL a *url.Error quotes.
func outboundError(err error) error {
	var fe *outbound.ForbiddenAddressError
	if errors.As(err, &fe) {
		return fe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// verify authenticates a peer's signed body: its signature must verify with the peer's key
// (read again once when it does not verify with a cached key that may be stale), and its
// timestamp at must be within the replay window of the server's clock.
func (f *federation) verify(ctx context.Context, p *peerState, body []byte, at time.Time, field string) (ed25519.PublicKey, error) {
	key, err := f.peerKey(ctx, p, false)
	if err != nil {
		return nil, unauthenticated("invalid_signature", fmt.Sprintf("Cannot check the signature: the key of peer %s is unavailable (%v)", p.url, err))
	}
	err = fedsig.Verify(key, body)
	if errors.Is(err, fedsig.ErrBadSignature) && p.configured == nil {
		if fresh, ferr := f.peerKey(ctx, p, true); ferr == nil && !fresh.Equal(key) {
			key, err = fresh, fedsig.Verify(fresh, body)
		}
	}
	switch {
	case errors.Is(err, fedsig.ErrNoSignature):
		return nil, unauthenticated("invalid_signature", "The request carries no signature: peers sign their requests (RFC-0023)")
	case err != nil:
		return nil, unauthenticated("invalid_signature", fmt.Sprintf("The signature does not verify with the key of peer %s", p.url))
	}
	if skew := f.store.Now().Sub(at); skew > f.cfg.ReplayWindow || skew < -f.cfg.ReplayWindow {
		return nil, unauthenticated("stale_request", fmt.Sprintf("%s %s is more than %s from this server's clock: the request is refused as a possible replay",
			field, at.UTC().Format(time.RFC3339), f.cfg.ReplayWindow))
	}
	return key, nil
}

// send posts a signed body to a peer's route without an API key and returns the status and body
// of the answer.
func (f *federation) send(ctx context.Context, endpoint string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, errors.New("the URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "openintent-go-server/federation")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, nil, outboundError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxFederationBody))
	if err != nil {
		return 0, nil, outboundError(err)
	}
	return resp.StatusCode, raw, nil
}

// sign returns the canonical JSON of v signed with the server's key.
func (f *federation) sign(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return fedsig.Sign(raw, f.identity.Sign)
}

// errorDetail is the detail of an Error body, or the status.
func errorDetail(status int, body []byte) string {
	var e struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil {
		if s, ok := e.Detail.(string); ok && s != "" {
			return fmt.Sprintf("%d: %s", status, truncate(s, 300))
		}
	}
	return fmt.Sprint(status)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// signedBodyKey carries the raw body of a signed federation request to its handler.
type signedBodyKey struct{}

// keepSignedBody is a strict-handler middleware: for the routes peers call with a signed body,
// it hands the handler the body as it was sent (validateRequest buffered it and left it in
// GetBody), since a signature covers the bytes sent, not what the handler decoded from them.
func keepSignedBody(next genserver.StrictHandlerFunc, operationID string) genserver.StrictHandlerFunc {
	if operationID != "ReceiveFederatedIntent" && operationID != "ReceiveFederationCallback" {
		return next
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if r.GetBody != nil {
			if rc, err := r.GetBody(); err == nil {
				raw, err := io.ReadAll(rc)
				rc.Close()
				if err == nil {
					ctx = context.WithValue(ctx, signedBodyKey{}, raw)
				}
			}
		}
		return next(ctx, w, r, request)
	}
}

// signedBody returns the raw body keepSignedBody kept.
func signedBody(ctx context.Context) ([]byte, error) {
	raw, ok := ctx.Value(signedBodyKey{}).([]byte)
	if !ok {
		return nil, errors.New("server: the signed body of a federation request was not kept")
	}
	return raw, nil
}

// storedDispatch is a dispatch this server sent.
type storedDispatch struct {
	DispatchID     string    `json:"dispatch_id"`
	IntentID       string    `json:"intent_id"`
	TargetServer   string    `json:"target_server"`
	AgentID        string    `json:"agent_id,omitempty"`
	DispatchedBy   string    `json:"dispatched_by"`
	Status         string    `json:"status"` // pending, accepted, rejected, failed, completed
	RemoteIntentID string    `json:"remote_intent_id,omitempty"`
	Message        string    `json:"message,omitempty"`
	Callbacks      int       `json:"callbacks"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Dispatch statuses.
const (
	dispatchPending   = "pending"
	dispatchAccepted  = "accepted"
	dispatchRejected  = "rejected"
	dispatchFailed    = "failed"
	dispatchCompleted = "completed"
)

// receipt is an envelope this server received, and its answer.
type receipt struct {
	DispatchID      string         `json:"dispatch_id"`
	SourceServer    string         `json:"source_server"`
	SourceDID       string         `json:"source_did"`
	OriginIntentID  string         `json:"origin_intent_id"`
	Accepted        bool           `json:"accepted"`
	LocalIntentID   string         `json:"local_intent_id,omitempty"`
	Message         string         `json:"message"`
	AgentID         string         `json:"agent_id,omitempty"`
	CallbackURL     string         `json:"callback_url,omitempty"`
	DelegationScope map[string]any `json:"delegation_scope,omitempty"`
	TraceID         string         `json:"trace_id,omitempty"`
	ReceivedAt      time.Time      `json:"received_at"`
}

// receiptID is the record id (and unique key) of a peer's dispatch: one per peer and dispatch id.
func receiptID(peer, dispatchID string) string {
	sum := sha256.Sum256([]byte(peer + "\x00" + dispatchID))
	return hex.EncodeToString(sum[:16])
}

func (r receipt) result() models.FederationReceiveResult {
	out := models.FederationReceiveResult{DispatchID: r.DispatchID, Accepted: r.Accepted, Message: r.Message}
	if r.LocalIntentID != "" {
		id := r.LocalIntentID
		out.LocalIntentID = &id
	}
	return out
}

// GetFederationManifest serves the manifest (404 when federation is off).
func (h *handlers) GetFederationManifest(ctx context.Context, _ genserver.GetFederationManifestRequestObject) (genserver.GetFederationManifestResponseObject, error) {
	f := h.fed
	if !f.enabled() {
		return nil, &store.NotFoundError{Detail: "Federation not enabled"}
	}
	return genserver.GetFederationManifest200JSONResponse(models.FederationManifest{
		ServerDid:         f.identity.DID(),
		ServerURL:         f.url,
		ProtocolVersion:   ProtocolVersion,
		TrustPolicy:       "allowlist",
		VisibilityDefault: f.cfg.VisibilityDefault,
		SupportedRfcs:     []string{"RFC-0022", "RFC-0023"},
		Peers:             slices.Clone(f.order),
		Endpoints: models.Object{
			"status":       "/api/v1/federation/status",
			"agents":       "/api/v1/federation/agents",
			"dispatch":     "/api/v1/federation/dispatch",
			"receive":      federationReceivePath,
			"callback":     federationCallbackPath,
			"did_document": "/.well-known/did.json",
		},
		PublicKey: base64.StdEncoding.EncodeToString(f.identity.PublicKey()),
	}), nil
}

// GetFederationStatus counts the server's dispatches and receipts.
func (h *handlers) GetFederationStatus(ctx context.Context, _ genserver.GetFederationStatusRequestObject) (genserver.GetFederationStatusResponseObject, error) {
	f := h.fed
	out := models.FederationStatus{TrustPolicy: "allowlist"}
	if !f.enabled() {
		return genserver.GetFederationStatus200JSONResponse(out), nil
	}
	did := f.identity.DID()
	out.Enabled, out.ServerDid, out.PeerCount = true, &did, int32(len(f.peers))
	dispatches, err := store.List[storedDispatch](ctx, h.store, store.Query{Kind: kindFedDispatch})
	if err != nil {
		return nil, err
	}
	out.TotalDispatches = int64(len(dispatches))
	for _, d := range dispatches {
		if d.Status == dispatchAccepted {
			out.ActiveDispatches++
		}
	}
	receipts, err := store.List[receipt](ctx, h.store, store.Query{Kind: kindFedReceived})
	if err != nil {
		return nil, err
	}
	for _, r := range receipts {
		if r.Accepted {
			out.TotalReceived++
		}
	}
	return genserver.GetFederationStatus200JSONResponse(out), nil
}

// visibility is an agent's federation visibility (its record's, else the default).
func (f *federation) visibility(a *models.AgentRecord) string {
	if a != nil {
		if v, ok := a.AgentMetadata["federation_visibility"].(string); ok {
			switch v {
			case visibilityPublic, visibilityUnlisted, visibilityPrivate:
				return v
			}
		}
	}
	return f.cfg.VisibilityDefault
}

// ListFederatedAgents lists the registered agents whose federation visibility is public.
func (h *handlers) ListFederatedAgents(ctx context.Context, _ genserver.ListFederatedAgentsRequestObject) (genserver.ListFederatedAgentsResponseObject, error) {
	f := h.fed
	out := models.FederatedAgentList{Agents: []models.FederatedAgent{}}
	if !f.enabled() {
		return genserver.ListFederatedAgents200JSONResponse(out), nil
	}
	agents, err := store.List[models.AgentRecord](ctx, h.store, store.Query{Kind: kindAgent})
	if err != nil {
		return nil, err
	}
	did := f.identity.DID()
	now := h.store.Now()
	for _, a := range agents {
		if f.visibility(&a) != visibilityPublic {
			continue
		}
		a = agentView(a, now)
		out.Agents = append(out.Agents, models.FederatedAgent{AgentID: a.AgentID, ServerURL: f.url, Capabilities: nonNil(a.Capabilities),
			Visibility: visibilityPublic, ServerDid: &did, Status: string(a.Status)})
	}
	return genserver.ListFederatedAgents200JSONResponse(out), nil
}

// delegationDepth reads a scope's max_delegation_depth (RFC-0022; 1 when absent).
func delegationDepth(scope map[string]any) (int, bool) {
	switch v := scope["max_delegation_depth"].(type) {
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	case int:
		return v, true
	}
	return 1, false
}

// stringList reads a list of strings from a scope.
func stringList(v any) ([]string, bool) {
	xs, ok := v.([]any)
	if !ok {
		ss, ok := v.([]string)
		return ss, ok
	}
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// attenuate narrows the scope an intent was received with for the next hop (RFC-0022): depth
// one less, permissions the intersection, denied operations the union, the earlier expiry.
// requested is what the caller asks for (may be nil).
func attenuate(received, requested map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range requested {
		out[k] = v
	}
	depth, _ := delegationDepth(received)
	next := depth - 1
	if d, ok := delegationDepth(requested); ok && d < next {
		next = d
	}
	if next < 1 {
		return nil, forbidden("delegation_exhausted", fmt.Sprintf("This intent was delegated to this server with max_delegation_depth %d: it may not be delegated further", depth))
	}
	out["max_delegation_depth"] = next
	if parent, ok := stringList(received["permissions"]); ok {
		perms := parent
		if asked, ok := stringList(requested["permissions"]); ok {
			perms = nil
			for _, p := range asked {
				if slices.Contains(parent, p) {
					perms = append(perms, p)
				}
			}
		}
		out["permissions"] = nonNil(perms)
	}
	denied, _ := stringList(received["denied_operations"])
	more, _ := stringList(requested["denied_operations"])
	for _, d := range more {
		if !slices.Contains(denied, d) {
			denied = append(denied, d)
		}
	}
	if len(denied) > 0 || received["denied_operations"] != nil || requested["denied_operations"] != nil {
		out["denied_operations"] = nonNil(denied)
	}
	if e, ok := received["expires_at"].(string); ok {
		if r, ok := requested["expires_at"].(string); !ok || expiresBefore(e, r) {
			out["expires_at"] = e
		}
	}
	return out, nil
}

// expiresBefore reports whether instant a is before b (both RFC 3339; unparsable counts as
// later).
func expiresBefore(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err != nil || ta.Before(tb)
}

// DispatchFederatedIntent sends an intent to a peer, signed, and records what became of it.
func (h *handlers) DispatchFederatedIntent(ctx context.Context, req genserver.DispatchFederatedIntentRequestObject) (genserver.DispatchFederatedIntentResponseObject, error) {
	b := req.Body
	f := h.fed
	if err := h.authorize(ctx, b.IntentID, models.PermissionWrite); err != nil {
		return nil, err
	}
	if !f.enabled() {
		return nil, errFederationOff()
	}
	in, err := h.store.GetIntent(ctx, b.IntentID)
	if err != nil {
		return nil, err
	}
	p := f.peer(b.TargetServer)
	if p == nil {
		return nil, validationFailed("target_server", fmt.Sprintf("%s is not one of this server's federation peers (%s)", truncate(b.TargetServer, 200), strings.Join(f.order, ", ")))
	}
	if b.CallbackURL != "" {
		if u, err := fedsig.NormalizeURL(b.CallbackURL); err != nil || u != f.callbackURL() {
			return nil, validationFailed("callback_url", "must be this server's callback endpoint "+f.callbackURL()+" (or left out)")
		}
	}
	if b.AgentID != "" {
		if msg := checkAgentID(b.AgentID); msg != "" {
			return nil, validationFailed("agent_id", msg)
		}
	}
	scope := b.DelegationScope
	if rs, err := store.List[receipt](ctx, h.store, store.Query{Kind: kindFedReceived, Ref: b.IntentID, Limit: 1}); err != nil {
		return nil, err
	} else if len(rs) > 0 {
		// An intent received from a peer passes on a narrower scope (none given: RFC-0022's
		// default, one hop, which it has used).
		if scope, err = attenuate(rs[0].DelegationScope, b.DelegationScope); err != nil {
			return nil, err
		}
	}
	caller := agentFrom(ctx)
	d := storedDispatch{DispatchID: store.NewID(), IntentID: in.ID, TargetServer: p.url, AgentID: b.AgentID, DispatchedBy: caller,
		Status: dispatchPending}
	env := models.FederationEnvelope{DispatchID: d.DispatchID, SourceServer: f.url, TargetServer: p.url, IntentID: in.ID,
		IntentTitle: in.Title, IntentDescription: in.Description, IntentState: in.State, IntentConstraints: in.Constraints,
		AgentID: b.AgentID, DelegationScope: scope, FederationPolicy: b.FederationPolicy, TraceContext: b.TraceContext,
		CallbackURL: f.callbackURL(), IdempotencyKey: d.DispatchID, CreatedAt: timestamp.New(h.store.Now())}
	body, err := f.sign(env)
	if err != nil {
		return nil, validationFailed("intent_id", "the intent cannot be put in an envelope: "+err.Error())
	}
	// The dispatch is stored before it is sent: the peer's first callback may arrive before its
	// answer does.
	err = h.store.Write(ctx, func(w *store.Writer) error {
		d.CreatedAt, d.UpdatedAt = w.Now(), w.Now()
		if _, err := w.Insert(store.Record{Kind: kindFedDispatch, ID: d.DispatchID, Parent: in.ID, Ref: p.url}, d); err != nil {
			return err
		}
		payload := models.Object{"dispatch_id": d.DispatchID, "target_server": p.url, "callback_url": f.callbackURL()}
		if b.AgentID != "" {
			payload["agent_id"] = b.AgentID
		}
		if scope != nil {
			payload["delegation_scope"] = scope
		}
		_, err := w.AppendEvent(in.ID, string(models.EventTypeFederationDispatched), caller, payload)
		return err
	})
	if err != nil {
		return nil, err
	}
	status, message, remote := f.deliver(ctx, p, body)
	err = h.store.Write(context.WithoutCancel(ctx), func(w *store.Writer) error {
		_, err := store.Modify(w, kindFedDispatch, d.DispatchID, 0, func(v *storedDispatch, _ *store.Record) error {
			if v.Status == dispatchPending { // a callback may have come first
				v.Status = status
			}
			v.Message, v.RemoteIntentID, v.UpdatedAt = message, remote, w.Now()
			return nil
		})
		if err != nil || status == dispatchAccepted {
			return err
		}
		_, err = w.AppendEvent(in.ID, string(models.EventTypeFederationFailed), caller,
			models.Object{"dispatch_id": d.DispatchID, "target_server": p.url, "status": status, "message": message})
		return err
	})
	if err != nil {
		return nil, err
	}
	if status != dispatchAccepted {
		h.log.Warn("federation: dispatch not accepted", "dispatch_id", d.DispatchID, "peer", p.url, "status", status, "message", message)
	}
	return genserver.DispatchFederatedIntent200JSONResponse(models.FederationDispatchResult{DispatchID: d.DispatchID, Status: status,
		TargetServer: p.url, Message: message, RemoteIntentID: remote}), nil
}

// deliver posts a signed envelope to a peer and reads its answer: accepted (with the peer's
// intent), rejected (the peer refused it) or failed (unreachable, or an error on its side).
func (f *federation) deliver(ctx context.Context, p *peerState, body []byte) (status, message, remote string) {
	code, raw, err := f.send(ctx, p.url+federationReceivePath, body)
	switch {
	case err != nil:
		return dispatchFailed, "The peer could not be reached: " + err.Error(), ""
	case code >= 500:
		return dispatchFailed, "The peer answered " + errorDetail(code, raw), ""
	case code != http.StatusOK:
		return dispatchRejected, "The peer refused the envelope: " + errorDetail(code, raw), ""
	}
	var res models.FederationReceiveResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return dispatchFailed, "The peer's answer is not a receive result", ""
	}
	msg := truncate(res.Message, 300)
	if !res.Accepted {
		return dispatchRejected, "The peer did not accept the intent: " + msg, ""
	}
	if res.LocalIntentID != nil {
		remote = truncate(*res.LocalIntentID, 200)
	}
	return dispatchAccepted, msg, remote
}

// traceOf returns a trace id carried by a peer, if it is one the log can record.
func traceOf(tc map[string]any) string {
	s, _ := tc["trace_id"].(string)
	if s == "" || checkAgentID(s) != "" {
		return ""
	}
	return s
}

// ReceiveFederatedIntent accepts an intent delegated by a peer, authenticated by its signature,
// creating a local intent from it (once per dispatch).
func (h *handlers) ReceiveFederatedIntent(ctx context.Context, req genserver.ReceiveFederatedIntentRequestObject) (genserver.ReceiveFederatedIntentResponseObject, error) {
	f := h.fed
	b := req.Body
	if !f.enabled() {
		return nil, errFederationOff()
	}
	p := f.peer(b.SourceServer)
	if p == nil {
		return nil, forbidden("peer_not_allowed", fmt.Sprintf("Source server %s not trusted: it is not one of this server's federation peers", truncate(b.SourceServer, 200)))
	}
	if u, err := fedsig.NormalizeURL(b.TargetServer); err != nil || u != f.url {
		return nil, forbidden("wrong_target", fmt.Sprintf("The envelope is addressed to %s, not to this server (%s)", truncate(b.TargetServer, 200), f.url))
	}
	raw, err := signedBody(ctx)
	if err != nil {
		return nil, err
	}
	key, err := f.verify(ctx, p, raw, b.CreatedAt.Time, "created_at")
	if err != nil {
		return nil, err
	}
	peerDID := agentkey.DID(key)
	if b.CallbackURL != "" {
		u, err := fedsig.NormalizeURL(b.CallbackURL)
		if err != nil {
			return nil, validationFailed("callback_url", err.Error())
		}
		if fedsig.Origin(u) != fedsig.Origin(p.url) {
			return nil, validationFailed("callback_url", "must be on the source server's origin "+fedsig.Origin(p.url))
		}
	}
	rid := receiptID(p.url, b.DispatchID)
	if prior, err := store.Get[receipt](ctx, h.store, kindFedReceived, rid); err == nil {
		return idempotentReceipt(prior), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	rc := receipt{DispatchID: b.DispatchID, SourceServer: p.url, SourceDID: peerDID, OriginIntentID: b.IntentID, AgentID: b.AgentID,
		CallbackURL: b.CallbackURL, DelegationScope: b.DelegationScope, TraceID: traceOf(b.TraceContext)}
	if b.AgentID != "" {
		if msg := checkAgentID(b.AgentID); msg != "" {
			return nil, validationFailed("agent_id", msg)
		}
	}
	rc.Message = h.refusal(ctx, b)
	rc.Accepted = rc.Message == ""
	end, err := h.store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	wctx := store.WithTrace(ctx, rc.TraceID, "")
	var prior *receipt
	err = h.store.Write(wctx, func(w *store.Writer) error {
		prior = nil
		var seen receipt
		if _, err := w.GetInto(kindFedReceived, rid, &seen); err == nil {
			prior = &seen
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rc.ReceivedAt = w.Now()
		if rc.Accepted {
			title := b.IntentTitle
			if strings.TrimSpace(title) == "" {
				title = "Federated intent " + b.IntentID + " from " + p.url
			}
			in, err := w.CreateIntent(models.Intent{Title: title, Description: b.IntentDescription, CreatedBy: peerDID,
				State: b.IntentState, Constraints: b.IntentConstraints, Status: models.IntentStatusActive},
				peerDID, map[string]any{"title": title})
			if err != nil {
				return err
			}
			rc.LocalIntentID = in.ID
			rc.Message = "Intent received and accepted for processing"
			payload := models.Object{"dispatch_id": b.DispatchID, "source_server": p.url, "source_did": peerDID, "origin_intent_id": b.IntentID}
			for k, v := range map[string]any{"agent_id": b.AgentID, "callback_url": b.CallbackURL} {
				if v != "" {
					payload[k] = v
				}
			}
			if b.DelegationScope != nil {
				payload["delegation_scope"] = b.DelegationScope
			}
			if b.FederationPolicy != nil {
				payload["federation_policy"] = b.FederationPolicy
			}
			if _, err := w.AppendEvent(in.ID, string(models.EventTypeFederationReceived), peerDID, payload); err != nil {
				return err
			}
			if b.CallbackURL != "" {
				// The callback loop may start after this commits: it reads the log from here.
				if err := ensureCursor(w, federationCursor, end); err != nil {
					return err
				}
			}
		}
		_, err := w.Insert(store.Record{Kind: kindFedReceived, ID: rid, Key: rid, Parent: p.url, Ref: rc.LocalIntentID}, rc)
		return err
	})
	if errors.Is(err, store.ErrDuplicate) { // another replica took it first
		if prev, gerr := store.Get[receipt](ctx, h.store, kindFedReceived, rid); gerr == nil {
			return idempotentReceipt(prev), nil
		}
	}
	if err != nil {
		return nil, err
	}
	if prior != nil {
		return idempotentReceipt(*prior), nil
	}
	if rc.Accepted && b.AgentID != "" {
		if _, err := h.store.AssignAgent(wctx, rc.LocalIntentID, b.AgentID, "worker", peerDID); err != nil {
			h.log.Error("federation: assign the received intent's agent", "intent_id", rc.LocalIntentID, "agent_id", b.AgentID, "error", err)
		}
	}
	if rc.Accepted && b.CallbackURL != "" {
		f.start()
	}
	return genserver.ReceiveFederatedIntent200JSONResponse(rc.result()), nil
}

// idempotentReceipt is the answer to an envelope seen before: the first answer, said so.
func idempotentReceipt(r receipt) genserver.ReceiveFederatedIntent200JSONResponse {
	out := r.result()
	out.Message = "Already processed (idempotent)"
	return genserver.ReceiveFederatedIntent200JSONResponse(out)
}

// refusal says why an authenticated envelope is not accepted, or "".
func (h *handlers) refusal(ctx context.Context, b *models.FederationEnvelope) string {
	if b.AgentID != "" {
		var rec *models.AgentRecord
		if a, err := store.Get[models.AgentRecord](ctx, h.store, kindAgent, b.AgentID); err == nil {
			rec = &a
		}
		if h.fed.visibility(rec) == visibilityPrivate {
			return fmt.Sprintf("Rejected: agent %s is not available to federated requests", b.AgentID)
		}
	}
	if b.DelegationScope != nil {
		if depth, ok := delegationDepth(b.DelegationScope); ok && depth < 1 {
			return "Rejected: the delegation scope allows no further delegation (max_delegation_depth below 1)"
		}
		if e, ok := b.DelegationScope["expires_at"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, e); err == nil && !t.After(h.store.Now()) {
				return "Rejected: the delegation scope has expired"
			}
		}
	}
	if budget, ok := b.FederationPolicy["budget"].(map[string]any); ok {
		for _, k := range []string{"max_llm_tokens", "cost_ceiling_usd"} {
			if n, ok := budget[k].(float64); ok && n == 0 {
				return "Rejected: budget constraints too restrictive"
			}
		}
	}
	return ""
}

// callbackEvent is the event type a callback is recorded as on the dispatched intent.
func callbackEvent(eventType string) models.EventType {
	switch eventType {
	case "completed":
		return models.EventTypeFederationCompleted
	case "failed":
		return models.EventTypeFederationFailed
	case "budget_warning":
		return models.EventTypeFederationBudgetWarning
	}
	return models.EventTypeFederationCallback
}

// ReceiveFederationCallback records a peer's signed report on a dispatch of this server.
func (h *handlers) ReceiveFederationCallback(ctx context.Context, req genserver.ReceiveFederationCallbackRequestObject) (genserver.ReceiveFederationCallbackResponseObject, error) {
	f := h.fed
	b := req.Body
	if !f.enabled() {
		return nil, errFederationOff()
	}
	d, err := store.Get[storedDispatch](ctx, h.store, kindFedDispatch, b.DispatchID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &store.NotFoundError{Detail: "Federation dispatch not found"}
	}
	if err != nil {
		return nil, err
	}
	p := f.peer(d.TargetServer)
	if p == nil {
		return nil, forbidden("peer_not_allowed", fmt.Sprintf("Dispatch %s went to %s, which is no longer one of this server's federation peers", d.DispatchID, d.TargetServer))
	}
	raw, err := signedBody(ctx)
	if err != nil {
		return nil, err
	}
	key, err := f.verify(ctx, p, raw, b.Timestamp.Time, "timestamp")
	if err != nil {
		return nil, err
	}
	peerDID := agentkey.DID(key)
	evType := callbackEvent(b.EventType)
	err = h.store.Write(store.WithTrace(ctx, traceOf(map[string]any{"trace_id": b.TraceID}), ""), func(w *store.Writer) error {
		nonce := d.DispatchID + "\x00" + b.IdempotencyKey
		if _, err := w.Insert(store.Record{Kind: kindFedNonce, ID: store.NewID(), Parent: d.DispatchID, Key: nonce},
			map[string]any{"idempotency_key": b.IdempotencyKey, "received_at": w.Now()}); errors.Is(err, store.ErrDuplicate) {
			return conflict("replayed", fmt.Sprintf("Callback %s of dispatch %s was received before: a replay is refused", truncate(b.IdempotencyKey, 100), d.DispatchID))
		} else if err != nil {
			return err
		}
		payload := models.Object{"dispatch_id": d.DispatchID, "event_type": b.EventType, "state_delta": nonNilObject(b.StateDelta),
			"source_server": p.url, "idempotency_key": b.IdempotencyKey}
		if b.IntentID != "" {
			payload["intent_id"] = b.IntentID
		}
		if b.Attestation != nil {
			payload["attestation"] = b.Attestation
		}
		if _, err := w.AppendEvent(d.IntentID, string(evType), peerDID, payload); err != nil {
			return err
		}
		_, err := store.Modify(w, kindFedDispatch, d.DispatchID, 0, func(v *storedDispatch, _ *store.Record) error {
			v.Callbacks++
			v.UpdatedAt = w.Now()
			switch evType {
			case models.EventTypeFederationCompleted:
				v.Status = dispatchCompleted
			case models.EventTypeFederationFailed:
				v.Status = dispatchFailed
			default:
				// The peer reports on it: it took the envelope, whatever its answer looked like.
				if v.Status == dispatchPending || v.Status == dispatchFailed {
					v.Status = dispatchAccepted
				}
			}
			if b.IntentID != "" && v.RemoteIntentID == "" {
				v.RemoteIntentID = truncate(b.IntentID, 200)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.ReceiveFederationCallback200JSONResponse(models.Message{
		Message: fmt.Sprintf("Callback recorded as %s on intent %s", evType, d.IntentID)}), nil
}

// nonNilObject is o, or an empty object.
func nonNilObject(o models.Object) models.Object {
	if o == nil {
		return models.Object{}
	}
	return o
}
