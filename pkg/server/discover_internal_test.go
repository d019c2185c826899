package server

import (
	"context"
	"testing"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
)

// A server looks for work another replica created only on a store other processes write to
// (PostgreSQL); on memory or a file its own requests are the only source of work.
func TestDiscoveryOnlyOnSharedStores(t *testing.T) {
	ctx := context.Background()
	open := func(url string) *store.Store {
		st, err := store.Open(ctx, url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	check := func(st *store.Store, want bool) {
		t.Helper()
		srv, err := New(Config{Store: st, SecretKey: make([]byte, 32), APIKeys: []string{"k=a"}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if got := srv.discover.started.Load(); got != want {
			t.Errorf("shared=%v: discovery loop started = %v, want %v", st.Shared(), got, want)
		}
	}
	check(open(store.Memory), false)
	check(open(t.TempDir()+"/o.db"), false)
	if url, ok := pgtest.Maybe(t); ok {
		check(open(url), true)
	}
}
