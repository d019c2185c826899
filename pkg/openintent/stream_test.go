package openintent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// collect runs a stream in the background and delivers its events and errors.
func collect(ctx context.Context, seq func(func(openintent.IntentEvent, error) bool)) (<-chan openintent.IntentEvent, <-chan error) {
	events, errs := make(chan openintent.IntentEvent, 1000), make(chan error, 1)
	go func() {
		for ev, err := range seq {
			if err != nil {
				errs <- err
				return
			}
			events <- ev
		}
	}()
	return events, errs
}

func receive(t *testing.T, events <-chan openintent.IntentEvent, errs <-chan error, n int) []openintent.IntentEvent {
	t.Helper()
	var got []openintent.IntentEvent
	timeout := time.After(15 * time.Second)
	for len(got) < n {
		select {
		case ev := <-events:
			got = append(got, ev)
		case err := <-errs:
			t.Fatalf("stream ended after %d events: %v", len(got), err)
		case <-timeout:
			t.Fatalf("received %d events, want %d", len(got), n)
		}
	}
	return got
}

func TestStreamIntentEvents(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "watcher")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Watched"})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()

	// Replay from the start of the log, then live events.
	events, errs := collect(ctx, c.StreamIntentEvents(ctx, in.ID, openintent.WithLastEventID("0")))
	first := receive(t, events, errs, 1)
	if first[0].EventType != "intent_created" {
		t.Fatalf("first replayed event = %s", first[0].EventType)
	}
	up, err := c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": 1}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, events, errs, 2)
	if got[0].EventType != "state_patched" || got[1].EventType != "comment" || got[1].Sequence <= got[0].Sequence {
		t.Fatalf("live events = %s, %s", got[0].EventType, got[1].EventType)
	}
	_ = up
	cancel()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stream ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not end with its context")
	}

	// An unknown intent is refused before streaming.
	for _, err := range c.StreamIntentEvents(ctxT(t), "no-such-intent") {
		if !errors.Is(err, openintent.ErrNotFound) {
			t.Fatalf("unknown intent: %v", err)
		}
	}
}

// cuttingProxy forwards streams but ends the first connection after a few events.
func cuttingProxy(t *testing.T, target string, cutAfter int) (string, *atomic.Int32) {
	var conns atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := conns.Add(1)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		sc := bufio.NewScanner(resp.Body)
		frames := 0
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(w, "%s\n", line)
			if strings.HasPrefix(line, "data:") {
				frames++
			}
			if line == "" {
				w.(http.Flusher).Flush()
				if n == 1 && frames >= cutAfter {
					return // drop the connection mid-stream
				}
			}
		}
	}))
	t.Cleanup(hs.Close)
	return hs.URL, &conns
}

func TestStreamResumesWithoutLossOrRepeat(t *testing.T) {
	e := newEnv(t)
	writer := e.client(t, "writer")
	in := mustCreate(t, writer, openintent.IntentCreate{Title: "Resumed"})
	proxyURL, conns := cuttingProxy(t, e.url, 3)
	reader, err := openintent.NewClient(proxyURL, openintent.WithAPIKey(e.apiKey), openintent.WithAgentID("reader"),
		openintent.WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	events, errs := collect(ctx, reader.StreamIntentEvents(ctx, in.ID))
	for conns.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the stream is open
	var logged []string
	for i := range 10 {
		ev, err := writer.LogEvent(ctx, in.ID, "tick", openintent.Object{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, ev.ID)
	}
	got := receive(t, events, errs, 10)
	for i, ev := range got {
		if ev.ID != logged[i] {
			t.Fatalf("event %d = %s (%v), want %s", i, ev.ID, ev.Payload, logged[i])
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("extra event %s %v", ev.EventType, ev.Payload)
	case <-time.After(200 * time.Millisecond):
	}
	if conns.Load() < 2 {
		t.Fatalf("the stream was not cut and resumed (%d connections)", conns.Load())
	}
}

func TestStreamAgentEvents(t *testing.T) {
	e := newEnv(t)
	lead, helper := e.client(t, "lead"), e.client(t, "helper")
	in := mustCreate(t, lead, openintent.IntentCreate{Title: "Team"})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	events, errs := collect(ctx, helper.StreamAgentEvents(ctx, "helper", openintent.WithLastEventID("0")))
	if _, err := lead.AssignAgent(ctx, in.ID, "helper"); err != nil {
		t.Fatal(err)
	}
	if _, err := helper.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"hi": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := lead.LogEvent(ctx, in.ID, openintent.EventComment, nil); err != nil { // not about helper
		t.Fatal(err)
	}
	got := receive(t, events, errs, 2)
	if got[0].EventType != "agent_assigned" || got[1].EventType != "comment" || got[1].Actor != "helper" {
		t.Fatalf("agent events = %+v", got)
	}
	select {
	case ev := <-events:
		t.Fatalf("unrelated event %s by %s", ev.EventType, ev.Actor)
	case <-time.After(200 * time.Millisecond):
	}
}
