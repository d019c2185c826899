package server_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

func TestIntentStreamFramesReplayAndHeartbeat(t *testing.T) {
	st, err := store.Open(context.Background(), store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{testKey}, StreamHeartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); st.Close() })
	e := &env{t: t, url: hs.URL}
	in := e.createIntent("Streamed", nil)
	e.must(200, "POST", "/api/v1/intents/"+id(in)+"/events", map[string]any{"event_type": "note\nwith newline", "actor": "agent-a"})

	open := func(path string, headers ...string) *http.Response {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+path, nil)
		req.Header.Set("X-API-Key", testKey)
		req.Header.Set("Accept", "text/event-stream")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	if res := open("/api/v1/subscribe/intents/missing"); res.StatusCode != 404 {
		t.Fatalf("unknown intent: %d", res.StatusCode)
	}
	if res := open("/api/v1/subscribe/intents/"+id(in), "Last-Event-ID", "abc"); res.StatusCode != 400 {
		t.Fatalf("bad Last-Event-ID: %d", res.StatusCode)
	}
	res := open("/api/v1/intents/"+id(in)+"/subscribe", "Last-Event-ID", "0") // the client path
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == ": ping" {
			break
		}
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"id: 0", "id: 1\nevent: intent_created\ndata: {", "id: 2\nevent: note with newline\ndata: {", ": ping"} {
		if !strings.Contains(text, want) {
			t.Fatalf("stream lacks %q:\n%s", want, text)
		}
	}
}
