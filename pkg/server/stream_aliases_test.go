package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStreamAliasesServeTheirTwins: the agent and portfolio streams at the Python SDK's paths
// (streamAgentEventsClientPath, streamPortfolioEventsClientPath) are the streams of the server
// paths: the same frames for the same Last-Event-ID, the same refusals.
func TestStreamAliasesServeTheirTwins(t *testing.T) {
	e := newSuspensionEnv(t)
	alice := as(aliceKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "streamed", "status": "active"}, alice...).body
	e.must(200, "POST", "/api/v1/intents/"+id(in)+"/agents", map[string]any{"agent_id": "alice"}, alice...)
	pf := e.must(200, "POST", "/api/v1/portfolios", map[string]any{"name": "streams"}, alice...).body
	e.must(200, "POST", "/api/v1/portfolios/"+id(pf)+"/intents", map[string]any{"intent_id": id(in)}, alice...)
	e.must(200, "POST", "/api/v1/intents/"+id(in)+"/events", map[string]any{"event_type": "comment", "actor": "alice", "payload": map[string]any{"note": "last"}}, alice...)

	// replay reads a stream from the start of the log until the comment's frame.
	replay := func(path string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
		for i := 0; i+1 < len(alice); i += 2 {
			req.Header.Set(alice[i], alice[i+1])
		}
		req.Header.Set("Last-Event-ID", "0")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			return res.StatusCode, ""
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("%s: Content-Type %s", path, ct)
		}
		var frames []string
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "id:") || strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
				frames = append(frames, line)
				if strings.Contains(line, `"note":"last"`) {
					return res.StatusCode, strings.Join(frames, "\n")
				}
			}
		}
		t.Fatalf("%s ended before the last event: %v\n%s", path, sc.Err(), strings.Join(frames, "\n"))
		return 0, ""
	}
	for _, twins := range [][2]string{
		{"/api/v1/subscribe/agents/alice", "/api/v1/agents/alice/subscribe"},
		{"/api/v1/subscribe/portfolios/" + id(pf), "/api/v1/portfolios/" + id(pf) + "/subscribe"},
	} {
		s1, server := replay(twins[0])
		s2, client := replay(twins[1])
		if s1 != 200 || s2 != 200 || server != client || !strings.Contains(server, "event: comment") {
			t.Errorf("%s and %s differ:\n%s\n---\n%s", twins[0], twins[1], server, client)
		}
	}
	// The same refusals: an unknown portfolio, no key.
	for _, p := range []string{"/api/v1/subscribe/portfolios/missing", "/api/v1/portfolios/missing/subscribe"} {
		if st, body := e.peekStream(p, alice...); st != 404 || !strings.Contains(body, "not_found") {
			t.Errorf("%s: %d %s", p, st, body)
		}
	}
	for _, p := range []string{"/api/v1/agents/alice/subscribe", "/api/v1/portfolios/" + id(pf) + "/subscribe"} {
		if st, _ := e.peekStream(p); st != 401 {
			t.Errorf("%s without a key: %d", p, st)
		}
	}
}
