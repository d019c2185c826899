package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

func TestIdempotencyKeyReplaysTheFirstResponse(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"title": "Made once"}
	first := e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "k-1")
	again := e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "k-1")
	if id(first.body) != id(again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay = %v (replayed %q), first %v", again.body, again.header.Get("Idempotent-Replayed"), first.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first response marked as replayed")
	}
	list := e.must(200, "GET", "/api/v1/intents", nil).body
	if list["total"] != 1.0 {
		t.Fatalf("intents after a replayed create: %v", list["total"])
	}

	// The same key with a different body is refused, naming the header.
	r := e.must(422, "POST", "/api/v1/intents", map[string]any{"title": "Other"}, "Idempotency-Key", "k-1")
	if r.body["code"] != "idempotency_key_reused" {
		t.Fatalf("reuse = %v", r.body)
	}
	// Keys are scoped per principal: another agent may use the same key.
	e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "k-1", "X-Agent-ID", "agent-b")
	// A 4xx is stored too: a retry gets the same refusal without running again.
	e.must(404, "POST", "/api/v1/intents/missing/events", map[string]any{"event_type": "x", "actor": "agent-a"}, "Idempotency-Key", "k-2")
	e.must(404, "POST", "/api/v1/intents/missing/events", map[string]any{"event_type": "x", "actor": "agent-a"}, "Idempotency-Key", "k-2")
	e.must(400, "POST", "/api/v1/intents", body, "Idempotency-Key", strings.Repeat("k", 256))
}

func TestConcurrentRetriesWithOneKeyCreateOneIntent(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.call("POST", "/api/v1/intents", map[string]any{"title": "Raced"}, "Idempotency-Key", "race")
			if r.status == 200 {
				ids[i] = id(r.body)
			}
		}()
	}
	wg.Wait()
	for _, got := range ids {
		if got == "" || got != ids[0] {
			t.Fatalf("ids = %v", ids)
		}
	}
	if total := e.must(200, "GET", "/api/v1/intents", nil).body["total"]; total != 1.0 {
		t.Fatalf("intents = %v, want 1", total)
	}
}

// A server that stopped after committing an operation but before recording its response
// refuses the retry instead of running the operation twice.
func TestRetryAfterALostResponseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oi.db")
	body := map[string]any{"title": "Created before the crash"}
	raw, _ := json.Marshal(body)
	bodyHash := sha256.Sum256(raw)
	keyHash := sha256.Sum256([]byte(testKey))

	// The first process commits the create with the claim of its key, then dies.
	crashed, err := store.Open(context.Background(), path, store.Options{
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crashed.Close() })
	claim := &store.IdempotencyClaim{Principal: hex.EncodeToString(keyHash[:8]) + "/agent-a", Key: "lost-1",
		Method: "POST", Path: "/api/v1/intents", BodyHash: hex.EncodeToString(bodyHash[:])}
	if _, err := crashed.CreateIntent(store.WithIdempotencyClaim(context.Background(), claim), models.Intent{Title: "Created before the crash", Status: models.IntentStatusDraft, CreatedBy: "agent-a"}, "agent-a", nil); err != nil {
		t.Fatal(err)
	}

	e := newEnvAt(t, path)
	r := e.must(409, "POST", "/api/v1/intents", body, "Idempotency-Key", "lost-1")
	if r.body["code"] != "idempotency_response_lost" {
		t.Fatalf("retry = %v", r.body)
	}
	if total := e.must(200, "GET", "/api/v1/intents", nil).body["total"]; total != 1.0 {
		t.Fatalf("intents = %v, want the one made before the crash", total)
	}
	// Another request with that key is still a reuse.
	e.must(422, "POST", "/api/v1/intents", map[string]any{"title": "Other"}, "Idempotency-Key", "lost-1")
}

// A response recorded just before a clean shutdown is replayed by the next process.
func TestReplayAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oi.db")
	body := map[string]any{"title": "Durable"}
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	first := (&env{t: t, url: hs.URL}).must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "restart-1")
	hs.Close()
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e := newEnvAt(t, path)
	again := e.must(200, "POST", "/api/v1/intents", body, "Idempotency-Key", "restart-1")
	if id(again.body) != id(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("after restart: %v, first %v", again.body, first.body)
	}
}
