package server_test

// Tests of the server's outbound requests (webhook deliveries, the tool proxy): the address
// policy of internal/outbound, concurrent delivery per subscription, and redaction of secrets
// an upstream echoes.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// lockedBuffer is a log destination the test may read while the server writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// obServer is a server on a real HTTP listener, with its store and log, for these tests.
type obServer struct {
	t    *testing.T
	url  string
	st   *store.Store
	srv  *server.Server
	logs *lockedBuffer
}

// startObServer starts a server on an in-memory store; before is run on the store first (to
// plant records the server finds when it starts), configure on the configuration.
func startObServer(t *testing.T, before func(*store.Store), configure func(*server.Config)) *obServer {
	t.Helper()
	st, err := store.Open(context.Background(), store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(st)
	}
	logs := &lockedBuffer{}
	cfg := server.Config{Store: st, APIKeys: []string{testKey}, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
	})
	return &obServer{t: t, url: hs.URL, st: st, srv: srv, logs: logs}
}

// call sends a JSON request as agent-a and returns the status and the decoded answer (nil when
// it is not a JSON object).
func (s *obServer) call(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("X-Agent-ID", "agent-a")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// raw sends a GET as agent-a and returns the body of its 200 answer.
func (s *obServer) raw(method, path string) string {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("X-Agent-ID", "agent-a")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return string(b)
}

// mustCall is call failing the test unless the answer is 200.
func (s *obServer) mustCall(method, path string, body any) map[string]any {
	s.t.Helper()
	status, out := s.call(method, path, body)
	if status != http.StatusOK {
		s.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

// comment logs a comment event on intent and returns its sequence number.
func (s *obServer) comment(intent string, n int) float64 {
	s.t.Helper()
	ev := s.mustCall("POST", "/api/v1/intents/"+intent+"/events", map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{"n": n}})
	seq, _ := ev["sequence"].(float64)
	return seq
}

// waitFor waits for ch to deliver, failing the test after a generous bound (a guard against a
// hang, not a timing expectation).
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// hookBody is what a webhook receiver decodes.
type hookBody struct {
	SubscriptionID string `json:"subscription_id"`
	Event          struct {
		Sequence float64        `json:"sequence"`
		Payload  map[string]any `json:"payload"`
	} `json:"event"`
}

func decodeHook(t *testing.T, r *http.Request) hookBody {
	var b hookBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		t.Errorf("webhook body: %v", err)
	}
	return b
}

// fastWebhooks reaches loopback receivers and retries quickly; an attempt never times out
// during a test (a slow receiver stays slow until the test releases it).
func fastWebhooks(c *server.Config) {
	c.Webhooks = server.Webhooks{AllowPrivateNetworks: true, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Timeout: time.Hour}
}

// Finding: one slow webhook receiver held up every other subscription's deliveries (they were
// sent one after another by one goroutine). A receiver that does not answer now delays only its
// own subscription.
func TestWebhookSlowReceiverDelaysOnlyItsOwnSubscription(t *testing.T) {
	blocked := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case blocked <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	got := make(chan float64, 10)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- decodeHook(t, r).Event.Sequence
	}))
	t.Cleanup(fast.Close)

	s := startObServer(t, nil, fastWebhooks)
	in := s.mustCall("POST", "/api/v1/intents", map[string]any{"title": "watched"})["id"].(string)
	for _, hook := range []string{slow.URL, fast.URL} {
		s.mustCall("POST", "/api/v1/subscriptions", map[string]any{"intent_id": in, "webhook_url": hook, "event_types": []string{"comment"}})
	}
	s.comment(in, 1)
	waitFor(t, blocked, "the slow receiver to get the first event")
	// The slow receiver holds its delivery; the other subscription still gets the next event.
	second := s.comment(in, 2)
	for seq := 0.0; seq != second; {
		seq = waitFor(t, got, "the fast receiver's delivery while the slow one is blocked")
	}
}

// Deliveries of one subscription go one at a time, in the order of their events, even when they
// queue up behind a receiver that is slow to answer.
func TestWebhookDeliveriesOfOneSubscriptionGoOneAtATimeInEventOrder(t *testing.T) {
	var inFlight, maxInFlight atomic.Int64
	first := make(chan struct{})
	release := make(chan struct{})
	got := make(chan float64, 20)
	var once sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		seq := decodeHook(t, r).Event.Sequence
		once.Do(func() {
			close(first)
			<-release // the first delivery waits while the later events queue up
		})
		got <- seq
	}))
	t.Cleanup(hook.Close)

	s := startObServer(t, nil, fastWebhooks)
	in := s.mustCall("POST", "/api/v1/intents", map[string]any{"title": "ordered"})["id"].(string)
	s.mustCall("POST", "/api/v1/subscriptions", map[string]any{"intent_id": in, "webhook_url": hook.URL, "event_types": []string{"comment"}})
	want := []float64{s.comment(in, 0)}
	waitFor(t, first, "the first delivery")
	for i := 1; i < 6; i++ {
		want = append(want, s.comment(in, i))
	}
	close(release)
	for i, w := range want {
		if seq := waitFor(t, got, "the deliveries"); seq != w {
			t.Fatalf("delivery %d carries event %v, want %v (events in order: %v)", i, seq, w, want)
		}
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("%d deliveries of one subscription were in flight at once, want 1", m)
	}
}

// Finding: webhook_url could name the server's own network (loopback, private, link-local,
// cloud metadata). Such a URL is refused with 422 on webhook_url unless AllowPrivateNetworks.
func TestCreateSubscriptionRefusesWebhookURLOnPrivateAddress(t *testing.T) {
	refused := []string{"http://127.0.0.1:9/hook", "http://[::1]/hook", "http://localhost:8080/hook", "http://169.254.169.254/latest/meta-data",
		"http://10.0.0.8/hook", "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/hook", "http://100.64.0.1/hook"}
	s := startObServer(t, nil, nil)
	in := s.mustCall("POST", "/api/v1/intents", map[string]any{"title": "guarded"})["id"].(string)
	for _, u := range refused {
		status, out := s.call("POST", "/api/v1/subscriptions", map[string]any{"intent_id": in, "webhook_url": u})
		errs, _ := out["errors"].([]any)
		field := ""
		if len(errs) == 1 {
			field, _ = errs[0].(map[string]any)["field"].(string)
		}
		if status != http.StatusUnprocessableEntity || field != "webhook_url" || !strings.Contains(out["detail"].(string), "not public") {
			t.Errorf("%s: %d %v, want 422 on webhook_url saying the address is not public", u, status, out)
		}
	}
	s.mustCall("POST", "/api/v1/subscriptions", map[string]any{"intent_id": in, "webhook_url": "https://hooks.example.com/openintent"})

	open := startObServer(t, nil, func(c *server.Config) { c.Webhooks.AllowPrivateNetworks = true })
	in = open.mustCall("POST", "/api/v1/intents", map[string]any{"title": "local development"})["id"].(string)
	for _, u := range refused {
		open.mustCall("POST", "/api/v1/subscriptions", map[string]any{"intent_id": in, "webhook_url": u})
	}
}

// Finding: a webhook on a DNS name resolving to a private address slipped past any check of the
// URL. The delivery is refused when it connects, its last_error and the log line saying the
// address is not public; neither carries the URL (it may hold a token).
func TestWebhookToNameResolvingToLoopbackFailsAsNotPublic(t *testing.T) {
	var hits atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(receiver.Close)
	u, _ := url.Parse(receiver.URL)
	hook := "http://localhost:" + u.Port() + "/hook?token=hook-token-0451"
	// The subscription is planted in the store, as an older server (or one allowing private
	// networks) would have stored it: this server refuses to create it.
	plant := func(st *store.Store) {
		err := st.Write(context.Background(), func(w *store.Writer) error {
			id := store.NewID()
			_, err := w.Insert(store.Record{Kind: "subscription", ID: id}, map[string]any{"id": id, "subscriber_id": "agent-a",
				"webhook_url": hook, "event_types": []string{"comment"}, "active": true, "created_at": w.Timestamp(), "expires_at": nil})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := startObServer(t, plant, func(c *server.Config) {
		c.Webhooks = server.Webhooks{BaseBackoff: time.Hour, MaxAttempts: 3} // one attempt in this test
	})
	// The planted subscription has no stored position in the log (an older server's store): the
	// server stores one as it starts, so the comment below is delivered however late the
	// dispatcher's goroutine first runs.
	if _, err := s.st.GetRecord(context.Background(), "cursor", "webhooks"); err != nil {
		t.Fatalf("the webhook dispatcher's position was not stored at start: %v", err)
	}
	in := s.mustCall("POST", "/api/v1/intents", map[string]any{"title": "watched"})["id"].(string)
	s.comment(in, 1)
	guard := time.After(30 * time.Second)
	for !strings.Contains(s.logs.String(), "webhooks: delivery failed") { // logged after the attempt is recorded
		select {
		case <-time.After(10 * time.Millisecond):
		case <-guard:
			t.Fatal("no failed delivery logged")
		}
	}
	rs, err := s.st.ListRecords(context.Background(), store.Query{Kind: "delivery"})
	if err != nil || len(rs) != 1 {
		t.Fatalf("deliveries %v, %v", rs, err)
	}
	var dl struct {
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	}
	if err := rs[0].Decode(&dl); err != nil {
		t.Fatal(err)
	}
	if dl.Attempts != 1 || !strings.Contains(dl.LastError, "is not public (loopback)") {
		t.Fatalf("delivery after one attempt: %+v, want last_error saying the address is not public", dl)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "is not public") {
		t.Fatalf("the log does not say why the delivery failed:\n%s", logs)
	}
	for _, leak := range []string{"hook-token-0451", "localhost:" + u.Port()} {
		if strings.Contains(logs, leak) || strings.Contains(dl.LastError, leak) {
			t.Fatalf("the webhook URL (%s) appears in the log or last_error:\n%s\n%s", leak, logs, dl.LastError)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the receiver on loopback got %d requests", n)
	}
}

// signalingTransport reports when a request starts and, after it returns, that it has ended.
type signalingTransport struct {
	started chan struct{}
	ended   atomic.Bool
}

func (s *signalingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case s.started <- struct{}{}:
	default:
	}
	defer s.ended.Store(true)
	return http.DefaultTransport.RoundTrip(r)
}

// Server.Close waits for the deliveries in flight to stop (they are canceled); a delivery cut
// short by the shutdown is not counted as a failed attempt, and is sent again after a restart.
func TestCloseWaitsForInFlightWebhookDeliveries(t *testing.T) {
	release := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client going away
		select {
		case <-r.Context().Done(): // answers only when the dispatcher gives up
		case <-release:
		}
	}))
	t.Cleanup(receiver.Close)
	t.Cleanup(func() { close(release) })
	tr := &signalingTransport{started: make(chan struct{}, 1)}
	s := startObServer(t, nil, func(c *server.Config) {
		c.Webhooks = server.Webhooks{AllowPrivateNetworks: true, Client: &http.Client{Transport: tr}, Timeout: time.Hour}
	})
	in := s.mustCall("POST", "/api/v1/intents", map[string]any{"title": "shutdown"})["id"].(string)
	s.mustCall("POST", "/api/v1/subscriptions", map[string]any{"intent_id": in, "webhook_url": receiver.URL, "event_types": []string{"comment"}})
	s.comment(in, 1)
	waitFor(t, tr.started, "the delivery to start")
	closed := make(chan struct{})
	go func() {
		s.srv.Close()
		close(closed)
	}()
	waitFor(t, closed, "Server.Close")
	if !tr.ended.Load() {
		t.Fatal("Server.Close returned while a delivery was in flight")
	}
	rs, err := s.st.ListRecords(context.Background(), store.Query{Kind: "delivery"})
	if err != nil || len(rs) != 1 {
		t.Fatalf("deliveries after Close: %v, %v", rs, err)
	}
	var dl struct {
		Attempts int `json:"attempts"`
	}
	if rs[0].Decode(&dl); dl.Attempts != 0 {
		t.Fatalf("the canceled delivery counts %d attempts, want 0", dl.Attempts)
	}
}

// Finding: the tool proxy redacted a secret only as it is, so an upstream echoing it encoded
// (the Basic Authorization header, base64, URL escaping) leaked it in the result. Every standard
// encoding of every secret, and of the Basic user:password pair, is redacted.
func TestToolProxyRedactsEncodedSecrets(t *testing.T) {
	const user, pass = "svc-user", "s3cr&t w0rd/+?>>>???"
	pair := user + ":" + pass
	b64 := func(e *base64.Encoding) func(string) string {
		return func(s string) string { return e.EncodeToString([]byte(s)) }
	}
	encodings := map[string]func(string) string{
		"plain":   func(s string) string { return s },
		"std":     b64(base64.StdEncoding),
		"raw_std": b64(base64.RawStdEncoding),
		"url":     b64(base64.URLEncoding),
		"raw_url": b64(base64.RawURLEncoding),
		"query":   url.QueryEscape,
		"path":    url.PathEscape,
	}
	echo := map[string]any{}
	var forms []string
	seen := map[string]string{}
	for name, enc := range encodings {
		for what, secret := range map[string]string{"password": pass, "pair": pair} {
			f := enc(secret)
			if other, dup := seen[f]; dup {
				t.Fatalf("%s of the %s equals %s: pick a secret whose forms differ", name, what, other)
			}
			seen[f] = name + " " + what
			forms = append(forms, f)
			echo[what+"_"+name] = f
			echo[what+"_"+name+"_in_text"] = "before " + f + " after"
		}
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{"authorization": r.Header.Get("Authorization")}
		for k, v := range echo {
			out[k] = v
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(upstream.Close)

	s := startObServer(t, nil, func(c *server.Config) { c.ToolProxy.AllowPrivateNetworks = true })
	vault := s.mustCall("POST", "/api/v1/vaults", map[string]any{"name": "tools"})["id"].(string)
	cred := s.mustCall("POST", "/api/v1/credentials", map[string]any{"vault_id": vault, "service": "echo", "label": "Echo", "auth_type": "basic",
		"metadata": map[string]any{"base_url": upstream.URL}, "secret": map[string]any{"username": user, "password": pass}})["id"].(string)
	grant := s.mustCall("POST", "/api/v1/grants", map[string]any{"credential_id": cred, "agent_id": "agent-a", "scopes": []string{"echo"}})["id"].(string)
	res := s.mustCall("POST", "/api/v1/tools/invoke", map[string]any{"tool_name": "echo", "parameters": map[string]any{}})
	result, _ := res["result"].(map[string]any)
	if res["status"] != "success" || result["authorization"] != "Basic [REDACTED]" {
		t.Fatalf("invoke: %v", res)
	}
	for k, v := range result {
		if k == "authorization" {
			continue
		}
		if s, _ := v.(string); !strings.Contains(s, "[REDACTED]") {
			t.Errorf("result %s = %q, want it redacted", k, s)
		}
	}
	stored := s.raw("GET", "/api/v1/grants/"+grant+"/invocations")
	if !strings.Contains(stored, "[REDACTED]") {
		t.Fatalf("the stored invocation: %s", stored)
	}
	for _, text := range []string{mustJSON(t, res), stored} {
		var decoded any
		json.Unmarshal([]byte(text), &decoded)
		for _, str := range allStrings(decoded) {
			for _, f := range forms {
				if strings.Contains(str, f) {
					t.Errorf("a secret form (%s) survives redaction in %q", seen[f], str)
				}
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allStrings returns every string in a decoded JSON value.
func allStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(append(out, k), allStrings(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, allStrings(e)...)
		}
		return out
	}
	return nil
}
