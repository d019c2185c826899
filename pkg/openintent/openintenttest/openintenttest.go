// Package openintenttest runs an in-process OpenIntent server for tests, like net/http/httptest:
// a real reference server on a loopback port with an in-memory store, closed when the test ends.
//
//	srv := openintenttest.NewServer(t)
//	client := srv.Client(t, "my-agent")
//
// Every response the server sends is checked against the protocol's OpenAPI spec; a mismatch
// fails the test. Unlike a production server, it delivers webhooks to loopback and private
// addresses (server.Webhooks.AllowPrivateNetworks is always set), so receivers can be httptest
// servers; tools on such addresses still need WithToolProxy(server.ToolProxy{AllowPrivateNetworks: true}).
package openintenttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// DefaultAPIKey is the API key the test server accepts unless WithAPIKeys says otherwise.
const DefaultAPIKey = "openintenttest-key"

// Server is a running in-process server.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string
	// APIKey is an API key the server accepts.
	APIKey string
	// Store is the server's store, for inspecting state directly.
	Store *store.Store

	http *httptest.Server
	srv  *server.Server
}

// Option configures NewServer.
type Option func(*config)

type config struct {
	keys     []string
	now      func() time.Time
	path     string
	log      *slog.Logger
	webhooks server.Webhooks
	tools    server.ToolProxy
	triggers time.Duration
	proofs   bool
	suspend  server.Suspensions
	// federation configures federation (WithFederation); unstarted is the test server to serve
	// on, when its address was needed first (federation.go).
	federation *server.Federation
	unstarted  *httptest.Server
}

// WithAPIKeys sets the accepted API keys; the first becomes Server.APIKey. Each is `KEY`, a
// service key that may act as any agent, or `KEY=AGENT[|AGENT...]`, a key bound to those agents
// (as the server's -api-keys takes them), so tests can check that agents cannot act as each
// other.
func WithAPIKeys(keys ...string) Option { return func(c *config) { c.keys = keys } }

// WithClock makes the server read time from now, so tests can control lease expiry.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sends the server's log (one line per request, errors) to l; it is discarded
// otherwise.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithWebhooks configures webhook delivery, e.g. short backoffs so tests of failing receivers
// run fast. The test server always sets AllowPrivateNetworks, whatever w says, so that webhooks
// reach receivers served by httptest on loopback.
func WithWebhooks(w server.Webhooks) Option { return func(c *config) { c.webhooks = w } }

// WithToolProxy configures the tool proxy, e.g. AllowPrivateNetworks to reach a tool served by
// httptest on loopback.
func WithToolProxy(p server.ToolProxy) Option { return func(c *config) { c.tools = p } }

// WithTriggerInterval sets how often schedule triggers are evaluated (default 20ms, so tests
// that move the clock see firings quickly).
func WithTriggerInterval(d time.Duration) Option { return func(c *config) { c.triggers = d } }

// WithRequireEventProofs makes the server refuse unsigned events from agents that registered
// a key ([RFC-0018]), as the binary's -require-event-proofs does.
//
// [RFC-0018]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0018-cryptographic-agent-identity.md
func WithRequireEventProofs() Option { return func(c *config) { c.proofs = true } }

// WithSuspensions configures suspensions awaiting human input ([RFC-0025], [RFC-0026]): the
// platform's default human retry policy, and how often their timers run (by default as often
// as schedule triggers are evaluated, see WithTriggerInterval).
//
// [RFC-0025]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0025-human-in-the-loop.md
// [RFC-0026]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0026-suspension-container-interaction.md
func WithSuspensions(s server.Suspensions) Option { return func(c *config) { c.suspend = s } }

// WithStoreFile keeps the server's state in a SQLite file at path (the durable store the binary
// uses) instead of in memory.
func WithStoreFile(path string) Option { return func(c *config) { c.path = path } }

// NewServer starts a server with an in-memory store (see WithStoreFile). It is closed by tb.Cleanup, and every
// response that does not match the spec fails the test.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := start(func(err error) { tb.Errorf("openintenttest: %v", err) }, opts)
	if err != nil {
		tb.Fatalf("openintenttest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a server outside a test (for examples and programs); the caller must Close it.
// Responses that do not match the spec are logged through the server's logger.
func Start(opts ...Option) (*Server, error) {
	return start(nil, opts)
}

func start(report func(error), opts []Option) (*Server, error) {
	c := config{keys: []string{DefaultAPIKey}, triggers: 20 * time.Millisecond}
	for _, o := range opts {
		o(&c)
	}
	if len(c.keys) == 0 {
		return nil, errors.New("WithAPIKeys: at least one key is required")
	}
	path := store.Memory
	if c.path != "" {
		path = c.path
	}
	st, err := store.Open(context.Background(), path, store.Options{Now: c.now})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.webhooks.AllowPrivateNetworks = true // receivers in tests are httptest servers on loopback
	hs := c.unstarted
	if hs == nil {
		hs = httptest.NewUnstartedServer(nil)
	}
	var fed server.Federation
	if c.federation != nil {
		fed = *c.federation
		if fed.URL == "" {
			fed.URL = "http://" + hs.Listener.Addr().String()
		}
		fed.AllowPrivateNetworks = true // peers in tests are servers on loopback
	}
	srv, err := server.New(server.Config{Store: st, APIKeys: c.keys, Logger: c.log, Webhooks: c.webhooks,
		ToolProxy: c.tools, TriggerInterval: c.triggers, RequireEventProofs: c.proofs, Federation: fed, Suspensions: c.suspend})
	if err != nil {
		hs.Close()
		st.Close()
		return nil, err
	}
	var h http.Handler = srv
	if report != nil {
		if h, err = server.ResponseValidator(srv, func(r *http.Request, err error) { report(err) }); err != nil {
			hs.Close()
			srv.Close()
			st.Close()
			return nil, err
		}
	}
	hs.Config.Handler = h
	hs.Start()
	key, _, _ := server.ParseAPIKey(c.keys[0]) // server.New has checked it
	return &Server{URL: hs.URL, APIKey: key, Store: st, http: hs, srv: srv}, nil
}

// Close shuts the server down and closes its store.
func (s *Server) Close() {
	s.http.Close()
	s.srv.Close()
	s.Store.Close()
}

// NewClient returns a client of the server acting as agentID; opts apply after the server's URL
// and API key.
func (s *Server) NewClient(agentID string, opts ...openintent.Option) (*openintent.Client, error) {
	all := append([]openintent.Option{openintent.WithAPIKey(s.APIKey), openintent.WithAgentID(agentID)}, opts...)
	return openintent.NewClient(s.URL, all...)
}

// Client is NewClient failing the test on error.
func (s *Server) Client(tb testing.TB, agentID string, opts ...openintent.Option) *openintent.Client {
	tb.Helper()
	c, err := s.NewClient(agentID, opts...)
	if err != nil {
		tb.Fatalf("openintenttest: new client: %v", err)
	}
	return c
}
