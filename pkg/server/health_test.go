package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
)

// TestProbesAndDrain: /healthz and /readyz are public; Drain turns readiness to 503 and ends
// open streams at once with a reconnect frame.
func TestProbesAndDrain(t *testing.T) {
	e := newEnv(t)
	raw := httptest.NewServer(e.srv) // the response validator does not read event streams
	t.Cleanup(raw.Close)
	srv := e.srv
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if r := e.must(200, "GET", path, nil, "X-API-Key", ""); r.body["status"] != want {
			t.Errorf("GET %s: %s", path, r.raw)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", raw.URL+"/api/v1/subscribe/agents/x", nil)
	req.Header.Set("X-API-Key", testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Scan() // the stream is open
	srv.Drain()
	reconnect := false
	for sc.Scan() {
		if sc.Text() == "event: reconnect" {
			reconnect = true
		}
	}
	if !reconnect || ctx.Err() != nil {
		t.Errorf("after Drain the stream ended without a reconnect frame (reconnect %v, %v)", reconnect, ctx.Err())
	}
	if r := e.must(http.StatusServiceUnavailable, "GET", "/readyz", nil, "X-API-Key", ""); r.body["status"] != "shutting_down" {
		t.Errorf("/readyz while draining: %s", r.raw)
	}
	e.must(200, "GET", "/healthz", nil, "X-API-Key", "")
}

// TestRequestLogLineNamesOperationAgentAndClient: a request's log line carries its operation
// id, acting agent, client address, status and request id, and never the key.
func TestRequestLogLineNamesOperationAgentAndClient(t *testing.T) {
	e := newEnv(t)
	e.must(200, "GET", "/api/v1/intents", nil, "X-Agent-ID", "logged-agent", "X-Request-ID", "req-123")
	line := ""
	for l := range strings.SplitSeq(e.logs.String(), "\n") {
		if strings.Contains(l, "req-123") && strings.Contains(l, "msg=request") {
			line = l
		}
	}
	for _, want := range []string{"operation=", "istIntents", "agent_id=logged-agent", "client=127.0.0.1", "status=200", "request_id=req-123"} {
		if !strings.Contains(line, want) {
			t.Errorf("request log line lacks %q: %s", want, line)
		}
	}
}

// TestHalfClosedClientIsAnswered: clients that half-close their sockets after sending a request
// (shutdown(SHUT_WR); net/http then cancels the request's context) still get their answers, on
// both stores, with many at once so that writes queue behind each other.
func TestHalfClosedClientIsAnswered(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("read while half-closed", nil)
	addr := strings.TrimPrefix(e.url, "http://")
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			body := fmt.Sprintf(`{"title":"half-closed %d"}`, i)
			if i%2 == 1 { // a read: net/http cancels a bodiless request at once on EOF
				body = ""
				fmt.Fprintf(conn, "GET /api/v1/intents/%s/events HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nConnection: close\r\n\r\n", id(in), testKey)
			} else {
				fmt.Fprintf(conn, "POST /api/v1/intents HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", testKey, len(body), body)
			}
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Error(err)
				return
			}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Error(err)
				return
			}
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || (body != "" && !strings.Contains(string(raw), body[10:len(body)-2])) {
				t.Errorf("half-closed client got %d %s", res.StatusCode, raw)
			}
		}()
	}
	wg.Wait()
}

// TestFirstSubscriptionAndTriggerSeeTheVeryNextEvent: the webhook dispatcher and the trigger
// engine start in their own goroutines on first use; an event committed right after the first
// subscription or event trigger still reaches them (their cursor is set in the transaction that
// creates it, not when the goroutine gets round to reading the log's end).
func TestFirstSubscriptionAndTriggerSeeTheVeryNextEvent(t *testing.T) {
	e := newEnvConfig(t, testStorePath(t), func(c *server.Config) {
		c.Webhooks = server.Webhooks{AllowPrivateNetworks: true}
	})
	got := make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		got <- string(raw)
	}))
	t.Cleanup(hook.Close)
	in := e.createIntent("watched", nil)
	e.must(200, "POST", "/api/v1/subscriptions", map[string]any{"intent_id": id(in), "webhook_url": hook.URL})
	e.must(200, "POST", "/api/v1/triggers", map[string]any{"name": "on-ping", "type": "event",
		"condition": map[string]any{"event": "ping"}, "intent_template": map[string]any{"title": "pinged"}})
	e.must(200, "POST", "/api/v1/intents/"+id(in)+"/events", map[string]any{"event_type": "ping", "actor": "agent-a"})
	deadline := time.After(30 * time.Second)
	for delivered := false; !delivered; {
		select {
		case body := <-got:
			delivered = strings.Contains(body, `"ping"`)
		case <-deadline:
			t.Fatal("the event right after the first subscription was never delivered")
		}
	}
	for {
		r := e.must(200, "GET", "/api/v1/intents?limit=100", nil)
		if strings.Contains(r.raw, "pinged") {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the event right after the first event trigger never fired it")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
