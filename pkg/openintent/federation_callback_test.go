package openintent_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// TestSendFederationCallbackURLs: SendFederationCallback posts the generated callback request to
// the callback URL it is given, whatever its path (the spec's route, the route under a prefix,
// a receiver's own path) and query, without the client's API key or agent.
func TestSendFederationCallbackURLs(t *testing.T) {
	type seen struct {
		method, path, query, contentType, apiKey, agent string
		body                                            map[string]any
	}
	var mu sync.Mutex
	var got seen
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		s := seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery,
			contentType: r.Header.Get("Content-Type"), apiKey: r.Header.Get("X-API-Key"), agent: r.Header.Get("X-Agent-ID")}
		_ = json.Unmarshal(raw, &s.body)
		mu.Lock()
		got = s
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(peer.Close)
	c, err := openintent.NewClient("http://127.0.0.1:1", openintent.WithAPIKey("alice-key"), openintent.WithAgentID("alice"))
	if err != nil {
		t.Fatal(err)
	}
	cb := openintent.FederationCallback{DispatchID: "d-1", EventType: "completed", IdempotencyKey: "k1", Signature: "sig"}
	for _, tc := range []struct{ url, path, query string }{
		{"/api/v1/federation/callback", "/api/v1/federation/callback", ""},
		{"/peer/api/v1/federation/callback", "/peer/api/v1/federation/callback", ""},
		{"/hooks/a%2Fb/cb?x=1&a=2", "/hooks/a%2Fb/cb", "a=2&x=1"},
	} {
		out, err := c.SendFederationCallback(context.Background(), peer.URL+tc.url, cb)
		if err != nil || out["ok"] != true {
			t.Errorf("%s: %v %v", tc.url, out, err)
			continue
		}
		mu.Lock()
		s := got
		mu.Unlock()
		if s.method != http.MethodPost || s.path != tc.path || s.query != tc.query || s.contentType != "application/json" ||
			s.apiKey != "" || s.agent != "" || s.body["dispatch_id"] != "d-1" || s.body["signature"] != "sig" {
			t.Errorf("%s: the peer saw %+v", tc.url, s)
		}
	}
}
