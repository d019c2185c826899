// Package server is the Go reference server of the OpenIntent Coordination Protocol, built from
// api/openapi.yaml: routing, parameter binding and the handler interface are generated into
// gen/server; this package adds authentication, request validation against the spec, error
// mapping and the protocol's semantics on top of the embedded store (package store).
//
// Operations that are not built yet answer 501 Not Implemented.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.opentelemetry.io/otel/trace"

	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Config configures a Server.
type Config struct {
	// Store holds the server's state. Required.
	Store *store.Store
	// APIKeys are the accepted values of X-API-Key, each `KEY` or `KEY=AGENT[|AGENT...]` (see
	// ParseAPIKey). A key bound to agents acts only as those agents (as the first without
	// X-Agent-ID; another X-Agent-ID is refused with 403 agent_not_allowed). A bare key is a
	// service key, trusted to act as any agent X-Agent-ID names. At least one is required.
	APIKeys []string
	// Logger receives one line per request and server errors; nil discards. API keys are never
	// logged.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (413 beyond); zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the time a client takes to send a request body, from the moment
	// the handler starts: a body still incomplete then is answered 408 request_timeout and its
	// connection closed. Requests without a body (event streams) are not affected. Zero means
	// DefaultBodyReadTimeout; negative turns it off.
	BodyReadTimeout time.Duration
	// RateLimit limits requests per API key (429 with Retry-After beyond); off when zero. It
	// counts this server's requests only: replicas sharing a store each count their own.
	RateLimit RateLimit
	// AuthFailureLimit limits failed authentications per client address: once a client has
	// used it up, its requests answer 429 without their key being checked, until it refills.
	// Zero means DefaultAuthFailureLimit; a negative PerSecond turns it off.
	AuthFailureLimit RateLimit
	// Now is the clock of the rate limiter; nil means time.Now.
	Now func() time.Time
	// StreamHeartbeat is how often idle event streams send a comment; zero means
	// DefaultStreamHeartbeat.
	StreamHeartbeat time.Duration
	// Webhooks configures the delivery of subscriptions' webhooks.
	Webhooks Webhooks
	// SecretKey (SecretKeySize bytes) encrypts credential secrets at rest; the server's
	// identity key (its DID, see Identity) is derived from it. Nil means a random key, so
	// secrets stored by an earlier process cannot be used and the DID changes: give a durable
	// store a key, and every replica sharing a store the same key.
	SecretKey []byte
	// RequireEventProofs makes agents that registered a key (RFC-0018) sign every event they
	// log: an unsigned event of theirs is refused with 403 proof_required. Events with a proof
	// are always checked; agents without a key are not affected.
	RequireEventProofs bool
	// ToolProxy configures the upstream calls of POST /tools/invoke.
	ToolProxy ToolProxy
	// Federation configures RFC-0022 federation with peer servers and its RFC-0023 security
	// (requests signed with the server's Identity, an allow-list of peers, replay protection);
	// off unless Federation.URL is set.
	Federation Federation
	// TriggerInterval is how often schedule triggers are evaluated; zero means
	// DefaultTriggerInterval.
	TriggerInterval time.Duration
	// Suspensions configures suspensions awaiting human input (RFC-0025, RFC-0026): the
	// platform's default human retry policy and how often their timers are checked.
	Suspensions Suspensions
	// TracerProvider receives the server's OpenTelemetry spans: one per request, named by its
	// operation id, with child spans for store transactions, webhook deliveries, tool-proxy
	// calls and trigger firings (see TracerProviderFromEnv). Nil means OpenTelemetry's global
	// provider (otel.SetTracerProvider), looked up on each request. While there is none, or
	// under a noop.TracerProvider, no span is started at all; an incoming traceparent still
	// gives the request's events their trace_id.
	TracerProvider trace.TracerProvider
}

// Server serves the protocol over HTTP.
type Server struct {
	handler  http.Handler
	identity *Identity
	log      *slog.Logger
	webhooks *dispatcher
	triggers *triggerEngine
	fed      *federation // RFC-0022 federation and its callback loop (federation.go)
	timers   *suspensionTimers
	tel      *telemetry // metrics and traces (telemetry.go)
	drain    *drainer
	discover loop // starts the background loops when another replica gives them work (background.go)
}

// Close stops the server's background work (webhook delivery, triggers). It does not close the store.
func (s *Server) Close() error {
	s.discover.close()
	s.webhooks.close()
	s.triggers.close()
	s.fed.close()
	s.timers.close()
	return nil
}

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SecretKey == nil { // one random key for every use of it (sealing, key principals, identity)
		cfg.SecretKey = make([]byte, SecretKeySize)
		rand.Read(cfg.SecretKey)
	}
	identity, err := NewIdentity(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(cfg.APIKeys, cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	for i, k := range keys.keys {
		if len(k.agents) == 0 {
			cfg.Logger.Warn(fmt.Sprintf("API key %d is a service key: it may act as any agent X-Agent-ID names (bind it with KEY=AGENT)", i+1))
		}
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	spec, err := sharedSpec()
	if err != nil {
		return nil, err
	}
	routes, err := newRouteTable(spec)
	if err != nil {
		return nil, err
	}
	if err := checkRules(routes); err != nil {
		return nil, err
	}
	access := newAccessControl(cfg.Store)
	tel := newTelemetry(cfg.TracerProvider, routes)
	webhooks := newDispatcher(cfg.Store, access, cfg.Logger, cfg.Webhooks)
	seal, err := newSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	drain := newDrainer()
	h := &handlers{store: cfg.Store, log: cfg.Logger, access: access, webhooks: webhooks, sealer: seal, tools: cfg.ToolProxy.client(), drain: drain,
		identity: identity, requireProofs: cfg.RequireEventProofs}
	webhooks.tel, h.tel = tel, tel
	h.triggers = newTriggerEngine(h, cfg.TriggerInterval)
	h.suspensions = newSuspensionTimers(h, cfg.Suspensions, cfg.TriggerInterval)
	if err := h.suspensions.startIfNeeded(context.Background()); err != nil {
		return nil, err
	}
	if err := h.triggers.startIfNeeded(context.Background()); err != nil {
		return nil, err
	}
	if h.fed, err = newFederation(cfg.Federation, identity, cfg.Store, cfg.Logger); err != nil {
		return nil, err
	}
	if err := h.fed.startIfNeeded(context.Background()); err != nil {
		return nil, err
	}
	if pending, err := cfg.Store.ListRecords(context.Background(), store.Query{Kind: kindSubscription, Limit: 1}); err != nil {
		return nil, err
	} else if len(pending) > 0 {
		if err := pinCursor(context.Background(), cfg.Store, "webhooks"); err != nil {
			return nil, err
		}
		webhooks.start() // resume deliveries after a restart
	}
	strict := genserver.NewStrictHandlerWithOptions(h, []genserver.StrictMiddlewareFunc{keepSignedBody}, genserver.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, cfg.Logger, badBody(err))
		},
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, cfg.Logger, err)
		},
	})
	mux := http.NewServeMux()
	genserver.HandlerWithOptions(strict, genserver.StdHTTPServerOptions{
		BaseRouter:  mux,
		Middlewares: []genserver.MiddlewareFunc{routes.validateRequest(cfg.Logger)},
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, cfg.Logger, paramError(err))
		},
	})
	mux.HandleFunc("GET /openapi.json", serveSpec) // api/openapi.yaml as written (openapidoc.go)
	routes.byPattern["GET /openapi.json"] = &route{public: true}
	a := &authenticator{keys: keys, routes: routes, mux: mux, log: cfg.Logger,
		idem: &idempotency{store: cfg.Store, log: cfg.Logger}, access: access}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a.limit = newLimiter[keyDigest](cfg.RateLimit, cfg.Now)
	if cfg.AuthFailureLimit == (RateLimit{}) {
		cfg.AuthFailureLimit = DefaultAuthFailureLimit
	}
	a.failures = newLimiter[string](cfg.AuthFailureLimit, cfg.Now)
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = DefaultStreamHeartbeat
	}
	a.streams = &streams{store: cfg.Store, log: cfg.Logger, heartbeat: cfg.StreamHeartbeat, access: access, drain: drain}
	a.tel, a.streams.tel = tel, tel
	var handler http.Handler = a
	handler = limitBody(cfg.MaxBodyBytes, handler)
	handler = limitBodyTime(cfg.BodyReadTimeout, handler)
	handler = logRequests(cfg.Logger, handler)
	handler = recoverPanics(cfg.Logger, handler)
	handler = tel.instrument(handler)
	handler = withRequestID(handler)
	srv := &Server{tel: tel, handler: handler, identity: identity, log: cfg.Logger, webhooks: webhooks, triggers: h.triggers, timers: h.suspensions, drain: drain}
	srv.fed = h.fed
	if cfg.Store.Shared() { // only a store other processes write to can get work from elsewhere
		srv.discover.start(func(ctx context.Context) { srv.watchForWork(ctx, cfg.Store, h.triggers.interval) })
	}
	return srv, nil
}

// Identity is the server's own Ed25519 key and DID, derived from Config.SecretKey.
func (s *Server) Identity() *Identity { return s.identity }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// sharedSpec is the embedded spec, parsed once per process and shared, read-only, by every
// Server and ResponseValidator (parsing it takes a second under the race detector, which every
// test's server paid twice).
var sharedSpec = sync.OnceValues(LoadSpec)

// LoadSpec returns the OpenAPI document compiled into the server, freshly parsed (the caller may
// change it).
func LoadSpec() (*openapi3.T, error) {
	spec, err := genserver.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	return spec, nil
}

type ctxKey int

const (
	agentKey ctxKey = iota
	requestIDKey
)

// agentFrom returns the acting agent of an authenticated request.
func agentFrom(ctx context.Context) string {
	a, _ := ctx.Value(agentKey).(string)
	return a
}

// requestIDFrom returns the request's id.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// authenticator checks X-API-Key (in constant time, against every key) on every route the spec
// does not mark public, puts the acting agent in the request context, and applies the
// operation's access rule (authz.go).
type authenticator struct {
	keys     *keyring
	routes   *routeTable
	mux      *http.ServeMux
	log      *slog.Logger
	idem     *idempotency
	limit    *limiter[keyDigest] // per API key; nil when off
	failures *limiter[string]    // failed authentications per client address; nil when off
	streams  *streams
	access   *accessControl
	tel      *telemetry
}

func (a *authenticator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := a.mux.Handler(r)
	a.tel.noteRoute(r.Context(), pattern)
	if pattern == "" {
		// No route: let the mux answer 404 or 405, as JSON.
		a.mux.ServeHTTP(&jsonStatusWriter{ResponseWriter: w, r: r}, r)
		return
	}
	if _, stream := streamRoutes[pattern]; !stream {
		// A request is answered even when its client half-closes its socket after sending it
		// (net/http then cancels the request's context): requests are short, and one that wrote
		// must not fail after the write. Streams keep the cancellation: it ends them.
		r = r.WithContext(context.WithoutCancel(r.Context()))
	}
	rt := a.routes.byPattern[pattern]
	normalizeTimeQuery(r, rt) // zone-less date-time query values, before the router binds them (wire.go)
	if rt == nil || !rt.public {
		addr := clientAddress(r)
		if ok, wait := a.failures.check(addr); !ok {
			a.tel.rateLimited(false)
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			writeError(w, r, a.log, &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
				detail: "Too many failed authentications from this address; retry after " + retryAfterSeconds(wait) + "s"})
			return
		}
		key, ok := a.keys.match(r.Header.Get("X-API-Key"))
		if !ok {
			a.failures.allow(addr)
			writeError(w, r, a.log, &apiError{status: http.StatusUnauthorized, code: "unauthorized", detail: "Invalid or missing API key"})
			return
		}
		if ok, wait := a.limit.allow(key.digest); !ok {
			a.tel.rateLimited(true)
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			writeError(w, r, a.log, &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
				detail: "Too many requests for this API key; retry after " + retryAfterSeconds(wait) + "s"})
			return
		}
		agent, aerr := key.actingAgent(r.Header.Get("X-Agent-ID"))
		if aerr != nil {
			writeError(w, r, a.log, aerr)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), agentKey, agent))
		if r, aerr = withKeyAndTrace(r, key); aerr != nil {
			writeError(w, r, a.log, aerr)
			return
		}
		noteAgent(r.Context(), agent)
		if pattern == "GET /api/v1/intents/{intent_id}" && a.access.store.Shared() {
			// The access decision reads the intent's ACL, the handler the intent: one round trip.
			r = r.WithContext(a.access.store.WithIntentReadAhead(r.Context(), pathValue(pattern, r.URL.Path, "intent_id")))
		}
		c := authorized{rt: rt, pattern: pattern, agent: agent, principal: hex.EncodeToString(key.digest[:8]) + "/" + agent}
		if rt != nil && rt.claimedFirst && a.access.store.Shared() {
			a.speculating(w, r, c)
			return
		}
		a.serveAuthorized(w, r, c)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized is an authenticated request on its way: its route (nil for a pattern the spec
// does not have), acting agent and idempotency principal.
type authorized struct {
	rt                        *route
	pattern, agent, principal string
}

// serveAuthorized applies the operation's access rule to r and serves it.
func (a *authenticator) serveAuthorized(w http.ResponseWriter, r *http.Request, c authorized) {
	if c.rt != nil && c.rt.Operation != nil {
		if err := a.access.authorizeRoute(r.Context(), c.rt, c.pattern, r.URL.Path, c.agent); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	if kind, ok := streamRoutes[c.pattern]; ok {
		a.streams.serve(w, r, kind, c.pattern)
		return
	}
	a.idem.serve(w, r, c.principal, c.rt != nil && c.rt.claimedFirst, a.mux)
}

// clientAddress is the request's peer address without its port (no proxy header is trusted).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// jsonStatusWriter turns the mux's plain-text 404 and 405 into JSON error bodies.
type jsonStatusWriter struct {
	http.ResponseWriter
	r       *http.Request
	written bool
}

func (j *jsonStatusWriter) WriteHeader(status int) {
	if j.written {
		return
	}
	j.written = true
	detail, code := "Not Found", "not_found"
	if status == http.StatusMethodNotAllowed {
		detail, code = "Method Not Allowed", "method_not_allowed"
	}
	j.Header().Del("X-Content-Type-Options")
	writeError(j.ResponseWriter, j.r, nil, &apiError{status: status, code: code, detail: detail})
}

func (j *jsonStatusWriter) Write(b []byte) (int, error) {
	if !j.written {
		j.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 100 || checkAgentID(id) != "" {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one line per request: method, path, operation id, agent, client address,
// status, duration and request id (never a key). Probes log at debug level.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		info := requestInfoFrom(r.Context())
		if info == nil {
			info = &requestInfo{}
		}
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			level = slog.LevelDebug
		}
		log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("operation", info.operation),
			slog.String("agent_id", info.agent), slog.String("client", clientAddress(r)), slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)), slog.String("request_id", requestIDFrom(r.Context())))
	})
}

func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, r, nil, &apiError{status: http.StatusInternalServerError, code: "internal", detail: "Internal server error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			writeError(w, r, nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", detail: fmt.Sprintf("Request body is larger than %d bytes", n)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}
