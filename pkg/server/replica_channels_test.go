package server_test

// Channels (RFC-0021) and Idempotency-Keys across replicas on one PostgreSQL database: see
// replica_test.go for how the replicas are started (OPENINTENT_TEST_STORE=postgres).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// replicaResponse is the answer to a request sent to one replica.
type replicaResponse struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a request to replica i as agent (with the service key) and reads the answer.
func (r *replicaSet) call(i int, method, path, agent string, body any, headers ...string) replicaResponse {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.urls[i%len(r.urls)]+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("X-Agent-ID", agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k := 0; k+1 < len(headers); k += 2 {
		req.Header.Set(headers[k], headers[k+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Error(err)
		return replicaResponse{}
	}
	defer res.Body.Close()
	out := replicaResponse{status: res.StatusCode, header: res.Header}
	out.raw, _ = io.ReadAll(res.Body)
	_ = json.Unmarshal(out.raw, &out.body)
	return out
}

// must is call that fails the test unless the answer has status want.
func (r *replicaSet) must(want, i int, method, path, agent string, body any, headers ...string) map[string]any {
	r.t.Helper()
	res := r.call(i, method, path, agent, body, headers...)
	if res.status != want {
		r.t.Fatalf("%s %s on replica %d: %d %s, want %d", method, path, i, res.status, res.raw, want)
	}
	return res.body
}

// sseFrame is one frame of a server-sent event stream.
type sseFrame struct {
	id, event string
	data      map[string]any
	at        time.Time
}

// frameStream is a stream read frame by frame.
type frameStream struct {
	frames chan sseFrame
	ended  chan struct{}
}

// openFrames opens the stream at path on replica i as agent and returns it once the server has
// sent its opening frame (the stream is live).
func (r *replicaSet) openFrames(i int, path, agent string) *frameStream {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", r.urls[i]+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("X-Agent-ID", agent)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("stream %s on replica %d: %d", path, i, res.StatusCode)
	}
	s := &frameStream{frames: make(chan sseFrame, 100), ended: make(chan struct{})}
	opened := make(chan struct{})
	go func() {
		defer close(s.ended)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		var f sseFrame
		var data string
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if first {
					first = false
					close(opened)
				}
				if f.event != "" {
					f.at = time.Now()
					_ = json.Unmarshal([]byte(data), &f.data)
					s.frames <- f
				}
				f, data = sseFrame{}, ""
			case strings.HasPrefix(line, "id: "):
				f.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				f.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		r.t.Fatalf("stream %s on replica %d sent no opening frame", path, i)
	}
	return s
}

// next returns the stream's next frame, failing the test when none comes within wait.
func (s *frameStream) next(t *testing.T, wait time.Duration, what string) sseFrame {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-time.After(wait):
		t.Fatalf("%s: no frame within %v", what, wait)
		return sseFrame{}
	}
}

// A channel's stream on one replica follows what is done to the channel through another: a
// message sent, a reply (and the request's new status), a message marked read, the channel
// closed, another channel deleted. Each frame comes at once: the stream is woken by NOTIFY, or,
// with notifications off, by polling (not by its heartbeat, set to a minute here). The
// deadlines leave room for a loaded machine; the latencies are logged.
func TestReplicasStreamChannelChangesMadeElsewhere(t *testing.T) {
	t.Run("notify", func(t *testing.T) {
		r := startReplicas(t, replicaOptions{n: 2, configure: slowHeartbeat, storeOptions: func(i int) store.Options {
			if i == 0 {
				return store.Options{PollInterval: -1} // no polling: the notification must do it
			}
			return store.Options{}
		}})
		followChannelAcross(t, r, 5*time.Second)
	})
	t.Run("polling", func(t *testing.T) {
		const poll = 300 * time.Millisecond
		r := startReplicas(t, replicaOptions{n: 2, configure: slowHeartbeat, storeOptions: func(i int) store.Options {
			if i == 0 {
				return store.Options{DisableNotify: true, PollInterval: poll}
			}
			return store.Options{}
		}})
		followChannelAcross(t, r, poll+5*time.Second)
	})
}

// slowHeartbeat sets a heartbeat that cannot be what wakes a stream during a test.
func slowHeartbeat(_ int, c *server.Config) { c.StreamHeartbeat = time.Minute }

// followChannelAcross streams channels on replica 0 while alice and bob work on them through
// replica 1; every change must reach the stream within wait.
func followChannelAcross(t *testing.T, r *replicaSet, wait time.Duration) {
	in := r.must(200, 1, "POST", "/api/v1/intents", "alice", map[string]any{"title": "talk"})
	ip := "/api/v1/intents/" + id(in)
	ch := r.must(201, 1, "POST", ip+"/channels", "alice", map[string]any{"name": "main"})
	doomed := r.must(201, 1, "POST", ip+"/channels", "alice", map[string]any{"name": "doomed"})
	cp := "/api/v1/channels/" + id(ch)
	live := r.openFrames(0, "/api/v1/subscribe/channels/"+id(ch), "bob")
	other := r.openFrames(0, "/api/v1/subscribe/channels/"+id(doomed), "bob")
	var latencies []string
	took := func(step string, start time.Time, f sseFrame) {
		latencies = append(latencies, fmt.Sprintf("%s %v", step, f.at.Sub(start).Round(time.Millisecond)))
	}

	start := time.Now()
	req := r.must(201, 1, "POST", cp+"/messages", "alice", map[string]any{"sender": "alice", "to": "bob", "message_type": "request",
		"payload": map[string]any{"q": "ready?"}})
	f := live.next(t, wait, "the request")
	if f.event != "channel_message" || f.id != id(req) || f.data["status"] != "delivered" {
		t.Fatalf("the request's frame: %+v", f)
	}
	took("message", start, f)

	start = time.Now()
	reply := r.must(201, 1, "POST", cp+"/messages/"+id(req)+"/reply", "bob", map[string]any{"sender": "bob", "payload": map[string]any{"a": "yes"}})
	f = live.next(t, wait, "the reply")
	if f.event != "channel_message" || f.id != id(reply) || f.data["correlation_id"] != id(req) || f.data["to"] != "alice" {
		t.Fatalf("the reply's frame: %+v", f)
	}
	took("reply", start, f)
	f = live.next(t, wait, "the request's new status")
	if f.event != "channel_message_status" || f.id != "" || f.data["id"] != id(req) || f.data["status"] != "replied" {
		t.Fatalf("the request's status frame: %+v", f)
	}

	start = time.Now()
	r.must(200, 1, "PATCH", cp+"/messages/"+id(reply), "alice", map[string]any{"status": "read"})
	f = live.next(t, wait, "the reply marked read")
	if f.event != "channel_message_status" || f.data["id"] != id(reply) || f.data["status"] != "read" || f.data["read_at"] == nil {
		t.Fatalf("the reply's status frame: %+v", f)
	}
	took("read", start, f)

	start = time.Now()
	r.must(200, 1, "PATCH", cp, "alice", map[string]any{"status": "closed"})
	f = live.next(t, wait, "the channel closed")
	if f.event != "channel_closed" {
		t.Fatalf("after the channel closed: %+v", f)
	}
	took("close", start, f)

	start = time.Now()
	r.must(200, 1, "DELETE", "/api/v1/channels/"+id(doomed), "alice", nil)
	f = other.next(t, wait, "the channel deleted")
	if f.event != "channel_closed" {
		t.Fatalf("after the channel was deleted: %+v", f)
	}
	took("delete", start, f)

	for _, s := range []*frameStream{live, other} {
		select {
		case <-s.ended:
		case <-time.After(wait):
			t.Fatal("a stream did not end after channel_closed")
		}
		if len(s.frames) > 0 {
			t.Fatalf("a frame after channel_closed: %+v", <-s.frames)
		}
	}
	t.Logf("latencies: %s", strings.Join(latencies, ", "))
}

// The same POST or PATCH with the same Idempotency-Key, sent to every replica at once: none
// answers with a server error, every one answers what the one that carried it out answered, and
// it is carried out once. The PATCH with If-Match is the hard case: a replica that runs it after
// another carried it out finds the version moved (409) before it could claim the key, and must
// answer the other's 200 instead.
func TestReplicasAnswerOneIdempotencyKeyAlike(t *testing.T) {
	r := startReplicas(t, replicaOptions{})
	in := r.must(200, 0, "POST", "/api/v1/intents", "retrier", map[string]any{"title": "keyed"})
	ip := "/api/v1/intents/" + id(in)
	ch := r.must(201, 1, "POST", ip+"/channels", "retrier", map[string]any{"name": "keyed"})
	tr := r.must(200, 2, "POST", "/api/v1/triggers", "retrier", map[string]any{"name": "keyed", "type": "webhook", "condition": map[string]any{}})
	tp := "/api/v1/triggers/" + tr["trigger_id"].(string)
	const rounds = 8
	type request struct {
		name, method, path string
		body               any
		headers            []string
	}
	for round := range rounds {
		version := int64(r.must(200, round, "GET", tp, "retrier", nil)["version"].(float64))
		for _, q := range []request{
			{"log an event", "POST", ip + "/events", map[string]any{"event_type": "comment", "actor": "retrier", "payload": map[string]any{"round": round}}, nil},
			{"create an intent", "POST", "/api/v1/intents", map[string]any{"title": fmt.Sprintf("keyed %d", round)}, nil},
			{"change a trigger (If-Match)", "PATCH", tp, map[string]any{"condition": map[string]any{"round": round}}, []string{"If-Match", fmt.Sprint(version)}},
			{"change a channel", "PATCH", "/api/v1/channels/" + id(ch), map[string]any{"members": []string{fmt.Sprintf("m%d", round)}}, nil},
		} {
			key := fmt.Sprintf("alike-%d-%s-%d", round, strings.ReplaceAll(q.name, " ", "-"), time.Now().UnixNano())
			got := make([]replicaResponse, len(r.urls))
			var wg sync.WaitGroup
			for i := range r.urls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = r.call(i, q.method, q.path, "retrier", q.body, append([]string{"Idempotency-Key", key}, q.headers...)...)
				}()
			}
			wg.Wait()
			replayed := 0
			for i, res := range got {
				if res.status >= 500 || res.status != got[0].status || !bytes.Equal(res.raw, got[0].raw) {
					t.Fatalf("round %d, %s: replica %d answered %d %s; replica 0 %d %s", round, q.name, i, res.status, res.raw, got[0].status, got[0].raw)
				}
				if res.header.Get("Idempotent-Replayed") == "true" {
					replayed++
				}
			}
			if got[0].status/100 != 2 || replayed != len(r.urls)-1 {
				t.Fatalf("round %d, %s: %d %s, %d of %d answers replayed", round, q.name, got[0].status, got[0].raw, replayed, len(r.urls))
			}
		}
	}
	// Each was carried out once.
	evs := r.call(1, "GET", ip+"/events", "retrier", nil)
	var events []map[string]any
	if err := json.Unmarshal(evs.raw, &events); err != nil {
		t.Fatalf("events: %d %s", evs.status, evs.raw)
	}
	comments := 0
	for _, ev := range events {
		if ev["event_type"] == "comment" {
			comments++
		}
	}
	if comments != rounds {
		t.Errorf("%d comments logged, want %d", comments, rounds)
	}
	if v := r.must(200, 0, "GET", tp, "retrier", nil)["version"].(float64); int(v) != 1+rounds {
		t.Errorf("trigger version %v, want %d", v, 1+rounds)
	}
}
