package openintenttest

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/openintent-go/openintent/pkg/server"
)

// WithFederation turns federation ([RFC-0022]) on with f. An empty f.URL is the test server's own
// URL; AllowPrivateNetworks is always set, so that peers on loopback (other test servers) are
// reached. NewFederation starts servers that are each other's peers.
//
// [RFC-0022]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0022-federation-protocol.md
func WithFederation(f server.Federation) Option {
	return func(c *config) { c.federation = &f }
}

// NewFederation starts n servers (as NewServer does, each with opts) that are each other's
// federation peers, each reading the others' keys from their manifests. They are closed by
// tb.Cleanup.
func NewFederation(tb testing.TB, n int, opts ...Option) []*Server {
	tb.Helper()
	servers, err := startFederation(func(err error) { tb.Errorf("openintenttest: %v", err) }, n, opts)
	if err != nil {
		tb.Fatalf("openintenttest: %v", err)
	}
	for _, s := range servers {
		tb.Cleanup(s.Close)
	}
	return servers
}

// StartFederation is NewFederation outside a test (for examples and programs); the caller must
// Close every server.
func StartFederation(n int, opts ...Option) ([]*Server, error) {
	return startFederation(nil, n, opts)
}

func startFederation(report func(error), n int, opts []Option) ([]*Server, error) {
	if n < 1 {
		return nil, errors.New("StartFederation: at least one server")
	}
	// Every server's address is taken before any starts, so that each can name the others.
	listeners := make([]*httptest.Server, n)
	urls := make([]string, n)
	for i := range n {
		listeners[i] = httptest.NewUnstartedServer(nil)
		urls[i] = "http://" + listeners[i].Listener.Addr().String()
	}
	servers := make([]*Server, 0, n)
	fail := func(err error) ([]*Server, error) {
		for _, s := range servers {
			s.Close()
		}
		for _, l := range listeners[len(servers):] {
			l.Close()
		}
		return nil, err
	}
	for i := range n {
		f := server.Federation{URL: urls[i]}
		for j, u := range urls {
			if j != i {
				f.Peers = append(f.Peers, server.Peer{URL: u})
			}
		}
		all := append(append([]Option{}, opts...), WithFederation(f), func(c *config) { c.unstarted = listeners[i] })
		s, err := start(report, all)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// Identity is the server's own Ed25519 key and DID (the key that signs its federation requests).
func (s *Server) Identity() *server.Identity { return s.srv.Identity() }
