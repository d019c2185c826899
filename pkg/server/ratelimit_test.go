package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

func TestRateLimitPerKey(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	st, err := store.Open(context.Background(), store.Memory, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{"k1", "k2"}, Now: c.Now,
		RateLimit: server.RateLimit{PerSecond: 0.5, Burst: 2}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); st.Close() })
	get := func(key string) *http.Response {
		req, _ := http.NewRequest("GET", hs.URL+"/api/v1/intents", nil)
		req.Header.Set("X-API-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range 2 {
		if res := get("k1"); res.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, res.StatusCode)
		}
	}
	res := get("k1")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := get("k2"); res.StatusCode != 200 {
		t.Fatalf("another key is limited too: %d", res.StatusCode)
	}
	// Unauthenticated requests are refused before they count against anyone.
	if res := get("wrong"); res.StatusCode != 401 {
		t.Fatalf("wrong key: %d", res.StatusCode)
	}
	c.Advance(2 * time.Second)
	if res := get("k1"); res.StatusCode != 200 {
		t.Fatalf("after refill: %d", res.StatusCode)
	}
	// Discovery stays public and unlimited.
	for range 5 {
		r, err := http.Get(hs.URL + "/.well-known/openintent.json")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("discovery: %d", r.StatusCode)
		}
	}
}
