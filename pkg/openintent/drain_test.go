package openintent_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// TestStreamResumesOnAnotherServerWhenOneDrains: two servers share a store behind one address;
// the first drains (graceful shutdown), its streams end with a reconnect frame, and the SDK's
// stream resumes on the second from where it stopped: every event arrives once, in order.
func TestStreamResumesOnAnotherServerWhenOneDrains(t *testing.T) {
	st, err := store.Open(context.Background(), store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	newServer := func() *server.Server {
		s, err := server.New(server.Config{Store: st, APIKeys: []string{"k"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newServer(), newServer()
	var target atomic.Pointer[server.Server]
	target.Store(a)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { target.Load().ServeHTTP(w, r) }))
	t.Cleanup(front.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := openintent.NewClient(front.URL, openintent.WithAPIKey("k"), openintent.WithAgentID("watcher"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "drained"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 64)
	go func() {
		defer close(got)
		for ev, err := range c.StreamIntentEvents(ctx, in.ID, openintent.WithLastEventID("0")) {
			if err != nil {
				return
			}
			if n, ok := ev.Payload["n"]; ok {
				got <- fmt.Sprint(n)
			}
		}
	}()
	log := func(n int) {
		if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": n}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(n int) {
		select {
		case v := <-got:
			if v != fmt.Sprint(n) {
				t.Fatalf("event %s, want %d", v, n)
			}
		case <-ctx.Done():
			t.Fatalf("event %d never arrived", n)
		}
	}
	for n := 1; n <= 3; n++ {
		log(n)
		expect(n)
	}
	target.Store(b) // the balancer sends new connections to b
	a.Drain()       // a shuts down: its stream ends with a reconnect frame
	for n := 4; n <= 6; n++ {
		log(n)
		expect(n)
	}
	cancel()
	for v := range got {
		t.Errorf("unexpected extra event %s", v)
	}
}
