package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// A channel's stream shows the status changes of the messages it sent (channel_message_status
// frames: a request replied to, a reply marked read); the SDK's stream yields each message once
// and passes over those frames.
func TestChannelStreamShowsStatusChanges(t *testing.T) {
	e := newChannelEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "statuses"}, alice...).body
	ch := e.must(201, "POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "live"}, alice...).body
	cp := "/api/v1/channels/" + id(ch)
	live := e.openStream(t, "/api/v1/subscribe/channels/"+id(ch), bob...)

	sdk, err := openintent.NewClient(e.url, openintent.WithAPIKey(bobKey), openintent.WithAgentID("bob"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	yielded := make(chan []string, 1)
	go func() {
		var ids []string
		for m, err := range sdk.StreamChannelMessages(ctx, id(ch), openintent.StreamChannelParams{After: "0"}) {
			if err != nil {
				if !errors.Is(err, openintent.ErrChannelClosed) {
					ids = append(ids, "error: "+err.Error())
				}
				break
			}
			ids = append(ids, m.ID)
		}
		yielded <- ids
	}()

	req := e.must(201, "POST", cp+"/messages", map[string]any{"to": "bob", "message_type": "request", "payload": map[string]any{"tag": "question"}}, alice...).body
	reply := e.must(201, "POST", cp+"/messages/"+id(req)+"/reply", map[string]any{"payload": map[string]any{"tag": "answer"}}, bob...).body
	got := live.waitFor(t, `"status":"replied"`)
	if i := strings.Index(got, `"status":"replied"`); !strings.Contains(got[strings.LastIndex(got[:i], "data:"):], id(req)) {
		t.Errorf("the replied status names another message:\n%s", got)
	}
	// Marking a message read twice changes it once.
	e.must(200, "PATCH", cp+"/messages/"+id(reply), map[string]any{"status": "read"}, alice...)
	e.must(200, "PATCH", cp+"/messages/"+id(reply), map[string]any{"status": "read"}, alice...)
	got = live.waitFor(t, `"status":"read"`)
	if i := strings.Index(got, `"status":"read"`); !strings.Contains(got[strings.LastIndex(got[:i], "data:"):], id(reply)) {
		t.Errorf("the read status names another message:\n%s", got)
	}
	e.must(200, "PATCH", cp, map[string]any{"status": "closed"}, alice...)
	got = live.waitFor(t, "The channel is closed")
	if n := strings.Count(got, `"status":"read"`); n != 1 {
		t.Errorf("%d read frames, want 1:\n%s", n, got)
	}
	select {
	case ids := <-yielded:
		if len(ids) != 2 || ids[0] != id(req) || ids[1] != id(reply) {
			t.Errorf("the SDK's stream yielded %v, want the request %s and the reply %s once each", ids, id(req), id(reply))
		}
	case <-ctx.Done():
		t.Fatal("the SDK's stream did not end when the channel closed")
	}
}

// A reply that pushes the request it answers out of the channel (beyond max_messages) is taken,
// and a stream shows the reply.
func TestChannelReplyEvictingItsRequest(t *testing.T) {
	e := newChannelEnv(t)
	alice, bob := as(aliceKey, ""), as(bobKey, "")
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "short memory"}, alice...).body
	ch := e.must(201, "POST", "/api/v1/intents/"+id(in)+"/channels", map[string]any{"name": "one", "options": map[string]any{"max_messages": 1}}, alice...).body
	cp := "/api/v1/channels/" + id(ch)
	live := e.openStream(t, "/api/v1/subscribe/channels/"+id(ch), bob...)
	req := e.must(201, "POST", cp+"/messages", map[string]any{"to": "bob", "message_type": "request", "payload": map[string]any{}}, alice...).body
	reply := e.must(201, "POST", cp+"/messages/"+id(req)+"/reply", map[string]any{"payload": map[string]any{"tag": "answer"}}, bob...).body
	live.waitFor(t, id(reply))
	if r := e.call("GET", cp+"/messages/"+id(req), nil, alice...); r.status != 404 {
		t.Fatalf("the request after the reply pushed it out: %d %s", r.status, r.raw)
	}
}
