package openintent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Frames as the reference server (openintent 0.17.0, sse-starlette) writes them on its live
// streams: CRLF line ends, Python's JSON separators, no id: lines, `: ping` comments.
const (
	refIntent = `{"id": "i-1", "title": "Research", "description": "", "created_by": "dev-user-key", "parent_intent_id": null, "depends_on": [], "constraints": {}, "state": {"progress": 0.5}, "status": "active", "confidence": 0.0, "version": 4, "governance_policy": null, "created_at": "2026-11-23T00:16:43.218731", "updated_at": "2026-11-23T00:21:43"}`
	refEvent  = `{"id": "e-9", "intent_id": "i-1", "event_type": "comment", "actor": "research-agent", "payload": {"note": "hi"}, "created_at": "2026-11-23T00:16:43.218731"}`
)

func frame(event, data string) string { return "event: " + event + "\r\ndata: " + data + "\r\n\r\n" }

// serveFrames answers every stream request with the frames, then holds the connection open.
func serveFrames(t *testing.T, frames ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		for _, f := range frames {
			w.Write([]byte(f))
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type streamItem struct {
	ev  openintent.IntentEvent
	err error
}

// readStream collects n items (events or errors) of a stream, then stops it.
func readStream(t *testing.T, seq func(func(openintent.IntentEvent, error) bool), n int) []streamItem {
	t.Helper()
	var out []streamItem
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range seq {
			out = append(out, streamItem{ev, err})
			if len(out) == n {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("stream gave %d items, want %d", len(out), n)
	}
	return out
}

func refClient(t *testing.T, url string) *openintent.Client {
	c, err := openintent.NewClient(url, openintent.WithAPIKey("dev-user-key"), openintent.WithAgentID("research-agent"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStreamDecodesEveryReferenceFrame: every frame shape the reference server emits on its
// intent, agent and portfolio streams becomes an event that names its type and intent (never
// a zero-valued event with the intent's id as its own); frames that are no event are errors,
// after which the stream goes on.
func TestStreamDecodesEveryReferenceFrame(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	when := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02T15:04:05.999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}

	url := serveFrames(t,
		": ping\r\n\r\n",
		frame("state_patched", refIntent),
		frame("status_changed", strings.Replace(refIntent, `"status": "active"`, `"status": "completed"`, 1)),
		frame("comment", refEvent),
		frame("access_granted", `{"principal_id": "synth-agent", "permission": "write"}`),
		frame("access_requested", `{"request_id": "r-1", "principal_id": "synth-agent", "requested_permission": "write"}`),
		frame("governance.policy_set", `{"governance_policy": {"write_scope": "assigned_only"}, "version": 5}`),
		frame("intent.resumed", `{"intent_id": "i-1", "suspension_id": "s-1", "value": "yes", "responded_by": "human", "responded_at": "2026-11-23T00:30:00"}`),
		frame("bogus", `[1, 2]`),
		"data: {\"a\": 1}\r\n\r\n",
		frame("access_revoked", `{"entry_id": "a-1", "principal_id": "synth-agent"}`),
	)
	items := readStream(t, refClient(t, url).StreamIntentEvents(ctx, "i-1"), 10)
	type want struct {
		typ, intent string
		check       func(openintent.IntentEvent) string
	}
	wants := []want{
		{"state_patched", "i-1", func(ev openintent.IntentEvent) string {
			st, _ := ev.Payload["state"].(map[string]any)
			in, _ := ev.Payload["intent"].(openintent.Object)
			switch {
			case ev.ID != "":
				return "the intent's id became the event's id " + ev.ID
			case st["progress"] != 0.5 || ev.Payload["version"] != 4.0 || in["title"] != "Research":
				return "payload lacks the intent's state, version or the intent"
			case !ev.CreatedAt.Equal(when("2026-11-23T00:21:43")):
				return "created_at is not the intent's updated_at: " + ev.CreatedAt.String()
			}
			return ""
		}},
		{"status_changed", "i-1", func(ev openintent.IntentEvent) string {
			if ev.Payload["status"] != "completed" {
				return "payload status " + ev.Payload["status"].(string)
			}
			return ""
		}},
		{"comment", "i-1", func(ev openintent.IntentEvent) string {
			if ev.ID != "e-9" || ev.Actor != "research-agent" || ev.Payload["note"] != "hi" || !ev.CreatedAt.Equal(when("2026-11-23T00:16:43.218731")) {
				return "the event was not decoded whole"
			}
			return ""
		}},
		{"access_granted", "i-1", func(ev openintent.IntentEvent) string {
			if ev.Payload["principal_id"] != "synth-agent" || ev.Payload["permission"] != "write" {
				return "payload lost"
			}
			return ""
		}},
		{"access_requested", "i-1", func(ev openintent.IntentEvent) string {
			if ev.Payload["request_id"] != "r-1" {
				return "payload lost"
			}
			return ""
		}},
		{"governance.policy_set", "i-1", func(ev openintent.IntentEvent) string {
			if ev.Payload["version"] != 5.0 {
				return "payload lost"
			}
			return ""
		}},
		{"intent.resumed", "i-1", func(ev openintent.IntentEvent) string {
			if ev.Payload["suspension_id"] != "s-1" || !ev.CreatedAt.Equal(when("2026-11-23T00:30:00")) {
				return "payload or time lost"
			}
			return ""
		}},
		{"", "", nil}, // [1, 2]: an error
		{"", "", nil}, // no event type: an error
		{"access_revoked", "i-1", nil},
	}
	for i, w := range wants {
		it := items[i]
		if w.typ == "" {
			if it.err == nil {
				t.Errorf("item %d: got event %+v, want an error", i, it.ev)
			}
			continue
		}
		if it.err != nil {
			t.Errorf("item %d (%s): %v", i, w.typ, it.err)
			continue
		}
		if string(it.ev.EventType) != w.typ || it.ev.IntentID != w.intent {
			t.Errorf("item %d: event_type %q intent_id %q, want %q %q", i, it.ev.EventType, it.ev.IntentID, w.typ, w.intent)
		}
		if w.check != nil {
			if msg := w.check(it.ev); msg != "" {
				t.Errorf("item %d (%s): %s: %+v", i, w.typ, msg, it.ev)
			}
		}
	}
}

func TestStreamDecodesReferenceAgentAndPortfolioFrames(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents := serveFrames(t, frame("agent_assigned",
		`{"id": "as-1", "intent_id": "i-1", "agent_id": "synth-agent", "role": "worker", "assigned_at": "2026-11-23T00:16:43"}`))
	got := readStream(t, refClient(t, agents).StreamAgentEvents(ctx, "synth-agent"), 1)[0]
	if got.err != nil || got.ev.EventType != "agent_assigned" || got.ev.IntentID != "i-1" || got.ev.ID != "" ||
		got.ev.Payload["agent_id"] != "synth-agent" || got.ev.Payload["role"] != "worker" || got.ev.Payload["assignment_id"] != "as-1" ||
		got.ev.CreatedAt.IsZero() {
		t.Errorf("agent_assigned: %+v %v", got.ev, got.err)
	}

	portfolios := serveFrames(t, frame("intent_added", "{}"), frame("intent_removed", "{}"))
	items := readStream(t, refClient(t, portfolios).StreamPortfolioEvents(ctx, "p-1"), 2)
	for i, typ := range []openintent.EventType{openintent.EventAddedToPortfolio, openintent.EventRemovedFromPortfolio} {
		it := items[i]
		if it.err != nil || it.ev.EventType != typ || it.ev.Payload["portfolio_id"] != "p-1" {
			t.Errorf("portfolio frame %d: %+v %v, want %s naming the portfolio", i, it.ev, it.err, typ)
		}
	}
}
