package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

const testKey = "server-test-key"

// clock is a controllable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	url   string
	clock *clock
	logs  *bytes.Buffer
	store *store.Store
	srv   *server.Server
}

// newEnv starts a server whose every response is checked against the spec, on an in-memory
// store, with OPENINTENT_TEST_STORE=file on a file store in a temporary directory, or with
// OPENINTENT_TEST_STORE=postgres on a PostgreSQL database of its own (internal/pgtest; `make
// test` runs this package the three ways).
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAt(t, testStorePath(t))
}

func newEnvAt(t *testing.T, path string) *env {
	t.Helper()
	return newEnvConfig(t, path, nil)
}

// testStorePath is the store newEnv uses: memory, a file with OPENINTENT_TEST_STORE=file, a
// fresh PostgreSQL database with OPENINTENT_TEST_STORE=postgres.
func testStorePath(t *testing.T) string {
	t.Helper()
	switch kind := os.Getenv("OPENINTENT_TEST_STORE"); kind {
	case "", "memory":
		return store.Memory
	case "file":
		return filepath.Join(t.TempDir(), "test.db")
	case "postgres":
		return pgtest.URL(t)
	default:
		t.Fatalf("OPENINTENT_TEST_STORE=%q: want memory, file or postgres", kind)
		return ""
	}
}

// newEnvConfig is newEnvAt with a change to the server's configuration (keys bound to agents,
// webhook settings).
func newEnvConfig(t *testing.T, path string, configure func(*server.Config)) *env {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	st, err := store.Open(context.Background(), path, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := server.Config{Store: st, APIKeys: []string{testKey, "second-key"}, Logger: newLogger(&logs),
		AuthFailureLimit: server.RateLimit{PerSecond: 1000, Burst: 1000}}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.ResponseValidator(srv, func(r *http.Request, err error) { t.Errorf("%v", err) })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
		// Every test's server log is searched for the keys: they must never be logged.
		for _, k := range []string{testKey, "second-key", "alice-key", "bob-key"} {
			if strings.Contains(logs.String(), k) {
				t.Errorf("server log contains an API key:\n%s", logs.String())
			}
		}
	})
	return &env{t: t, url: hs.URL, clock: c, logs: &logs, store: st, srv: srv}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	list   []any
	raw    string
}

// call sends a request as agent (with the test key) and decodes the JSON answer.
func (e *env) call(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("X-Agent-ID", "agent-a")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if raw[0] == '[' {
			if err := json.Unmarshal(raw, &r.list); err != nil {
				e.t.Fatalf("%s %s: bad JSON: %v", method, path, err)
			}
		} else if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON: %v", method, path, err)
		}
	}
	return r
}

// must asserts the status and returns the response.
func (e *env) must(status int, method, path string, body any, headers ...string) resp {
	e.t.Helper()
	r := e.call(method, path, body, headers...)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.raw)
	}
	return r
}

func (e *env) createIntent(title string, extra map[string]any) map[string]any {
	e.t.Helper()
	b := map[string]any{"title": title}
	for k, v := range extra {
		b[k] = v
	}
	return e.must(200, "POST", "/api/v1/intents", b).body
}

func ifMatch(v any) []string { return []string{"If-Match", fmt.Sprint(v)} }

func id(m map[string]any) string { return m["id"].(string) }

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	for _, key := range []string{"", "wrong", strings.ToUpper(testKey)} {
		r := e.call("GET", "/api/v1/intents", nil, "X-API-Key", key)
		if r.status != 401 || r.body["code"] != "unauthorized" {
			t.Errorf("key %q: got %d %s", key, r.status, r.raw)
		}
	}
	// Public routes need no key.
	for _, p := range []string{"/.well-known/openintent.json", "/.well-known/openintent-compat.json", "/api/v1/server/config", "/openapi.json"} {
		e.must(200, "GET", p, nil, "X-API-Key", "")
	}
	// Without X-Agent-ID the agent is derived from the key, never the key itself.
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "x"}, "X-Agent-ID", "").body
	if cb := in["created_by"].(string); cb == testKey || !strings.HasPrefix(cb, "key-") {
		t.Errorf("created_by = %q", cb)
	}
	// A second key is a different principal.
	in2 := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "x"}, "X-Agent-ID", "", "X-API-Key", "second-key").body
	if in2["created_by"] == in["created_by"] {
		t.Error("two keys map to one principal")
	}
	r := e.call("GET", "/api/v1/intents", nil, "X-Agent-ID", strings.Repeat("a", 201))
	if r.status != 401 || !strings.Contains(r.body["detail"].(string), "X-Agent-ID") {
		t.Errorf("overlong X-Agent-ID: %d %s", r.status, r.raw)
	}
	if strings.Contains(e.logs.String(), testKey) || strings.Contains(e.logs.String(), "second-key") {
		t.Error("an API key appears in the server log")
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	e := newEnv(t)
	if r := e.call("GET", "/api/v1/nothing-here", nil); r.status != 404 || r.body["detail"] != "Not Found" {
		t.Errorf("unknown path: %d %s", r.status, r.raw)
	}
	if r := e.call("PUT", "/api/v1/intents", nil); r.status != 405 || r.body["code"] != "method_not_allowed" {
		t.Errorf("unknown method: %d %s", r.status, r.raw)
	}
}

func TestCreateGetListIntents(t *testing.T) {
	e := newEnv(t)
	a := e.createIntent("first", map[string]any{"description": "d", "state": map[string]any{"n": 1}, "constraints": map[string]any{"budget": 10}})
	if a["version"].(float64) != 1 || a["status"] != "draft" || a["created_by"] != "agent-a" || a["parent_id"] != nil {
		t.Fatalf("created: %v", a)
	}
	got := e.must(200, "GET", "/api/v1/intents/"+id(a), nil).body
	if got["title"] != "first" || got["description"] != "d" || got["state"].(map[string]any)["n"].(float64) != 1 {
		t.Errorf("get: %v", got)
	}
	b := e.createIntent("second", map[string]any{"status": "active", "parent_intent_id": id(a), "depends_on": []string{id(a)}})
	if b["parent_id"] != id(a) || b["parent_intent_id"] != id(a) || len(b["depends_on"].([]any)) != 1 {
		t.Errorf("child via create: %v", b)
	}
	e.must(404, "GET", "/api/v1/intents/nope", nil)
	if r := e.call("POST", "/api/v1/intents", map[string]any{"title": "x", "parent_id": "missing"}); r.status != 404 || r.body["detail"] != "Parent intent not found" {
		t.Errorf("missing parent: %d %s", r.status, r.raw)
	}
	if r := e.call("POST", "/api/v1/intents", map[string]any{"title": "x", "depends_on": []string{id(a), id(a)}}); r.status != 422 || !strings.Contains(r.raw, "depends_on/1") {
		t.Errorf("duplicate dependency: %d %s", r.status, r.raw)
	}

	list := e.must(200, "GET", "/api/v1/intents", nil).body
	if list["total"].(float64) != 2 || len(list["intents"].([]any)) != 2 || list["limit"].(float64) != 50 {
		t.Fatalf("list: %v", list)
	}
	if first := list["intents"].([]any)[0].(map[string]any); first["title"] != "second" {
		t.Errorf("not newest first: %v", first["title"])
	}
	active := e.must(200, "GET", "/api/v1/intents?status=active", nil).body
	if active["total"].(float64) != 1 || active["intents"].([]any)[0].(map[string]any)["title"] != "second" {
		t.Errorf("status filter: %v", active)
	}
	page := e.must(200, "GET", "/api/v1/intents?limit=1&offset=1", nil).body
	if ins := page["intents"].([]any); len(ins) != 1 || ins[0].(map[string]any)["title"] != "first" {
		t.Errorf("paging: %v", page)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"missing title", "POST", "/api/v1/intents", map[string]any{"description": "x"}, 422, "title"},
		{"state not an object", "POST", "/api/v1/intents", map[string]any{"title": "x", "state": []int{1}}, 422, "state"},
		{"bad status", "POST", "/api/v1/intents", map[string]any{"title": "x", "status": "bogus"}, 422, "status"},
		{"malformed JSON", "POST", "/api/v1/intents", `{"title":`, 422, "body"},
		{"limit too large", "GET", "/api/v1/intents?limit=5000", nil, 422, "limit"},
		{"limit not a number", "GET", "/api/v1/intents?limit=abc", nil, 422, "limit"},
		{"negative offset", "GET", "/api/v1/intents?offset=-1", nil, 422, "offset"},
		{"bad since", "GET", "/api/v1/intents/x/events?since=yesterday", nil, 422, "since"},
		{"lease without scope", "POST", "/api/v1/intents/x/leases", map[string]any{}, 422, "scope"},
		{"lease duration zero", "POST", "/api/v1/intents/x/leases", map[string]any{"scope": "s", "duration_seconds": 0}, 422, "duration_seconds"},
		{"patch op unknown", "POST", "/api/v1/intents/x/state", map[string]any{"patches": []any{map[string]any{"op": "replace", "path": "a"}}}, 422, "patches/0/op"},
	}
	for _, c := range cases {
		r := e.call(c.method, c.path, c.body, ifMatch(1)...)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.raw)
			continue
		}
		found := false
		for _, f := range r.body["errors"].([]any) {
			if f.(map[string]any)["field"] == c.field {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error for field %q: %s", c.name, c.field, r.raw)
		}
	}
	r := e.call("POST", "/api/v1/intents", map[string]any{"title": "x"}, "Content-Type", "text/plain")
	if r.status != 415 {
		t.Errorf("text/plain body: %d", r.status)
	}
	big := `{"title":"` + strings.Repeat("x", server.DefaultMaxBodyBytes) + `"}`
	if r := e.call("POST", "/api/v1/intents", big); r.status != 413 {
		t.Errorf("oversized body: %d", r.status)
	}
}

func TestStatePatchesArePersisted(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("s", map[string]any{"state": map[string]any{"a": map[string]any{"b": 1, "gone": true}, "list": []any{1}}})
	path := "/api/v1/intents/" + id(in)
	e.must(200, "POST", path+"/state", map[string]any{"patches": []any{
		map[string]any{"op": "set", "path": "/a/c", "value": 2},
		map[string]any{"op": "append", "path": "/list", "value": 2},
		map[string]any{"op": "remove", "path": "/a/gone"},
		map[string]any{"op": "append", "path": "/new/deep/items", "value": "x"},
		map[string]any{"op": "set", "path": "slash~1key", "value": "s"},
		map[string]any{"op": "remove", "path": "/missing/key"},
	}}, ifMatch(1)...)
	got := e.must(200, "GET", path, nil).body
	want := `{"a":{"b":1,"c":2},"list":[1,2],"new":{"deep":{"items":["x"]}},"slash/key":"s"}`
	if b, _ := json.Marshal(got["state"]); string(b) != want {
		t.Errorf("state = %s, want %s", b, want)
	}
	if got["version"].(float64) != 2 {
		t.Errorf("version = %v", got["version"])
	}
	// The merge form sets top-level keys.
	e.must(200, "POST", path+"/state", map[string]any{"state": map[string]any{"a": 5}}, ifMatch(2)...)
	if st := e.must(200, "GET", path, nil).body["state"].(map[string]any); st["a"].(float64) != 5 {
		t.Errorf("merge: %v", st)
	}
	// Bad paths are refused and change nothing.
	for _, p := range []map[string]any{
		{"op": "set", "path": "/a/x", "value": 1},           // a is now a number
		{"op": "append", "path": "/slash~1key", "value": 1}, // a string, not a list
		{"op": "set", "path": "/", "value": 1},
	} {
		r := e.call("POST", path+"/state", map[string]any{"patches": []any{map[string]any{"op": "set", "path": "ok", "value": 1}, p}}, ifMatch(3)...)
		if r.status != 422 || !strings.Contains(r.raw, "patches/1/") {
			t.Errorf("patch %v: %d %s", p, r.status, r.raw)
		}
	}
	if got := e.must(200, "GET", path, nil).body; got["version"].(float64) != 3 || got["state"].(map[string]any)["ok"] != nil {
		t.Errorf("a refused patch changed the intent: %v", got)
	}
	evs := e.must(200, "GET", path+"/events?event_type=state_patched", nil).list
	if len(evs) != 2 {
		t.Fatalf("state_patched events: %d", len(evs))
	}
}

func TestOptimisticConcurrency(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("v", nil)
	path := "/api/v1/intents/" + id(in) + "/state"
	body := map[string]any{"state": map[string]any{"k": 1}}
	e.must(200, "POST", path, body, ifMatch(1)...)
	r := e.must(409, "POST", path, body, ifMatch(1)...)
	if r.body["code"] != "version_conflict" || r.body["current_version"].(float64) != 2 || r.body["detail"] != "Version conflict" {
		t.Errorf("conflict body: %s", r.raw)
	}
	for _, h := range [][]string{{"If-Match", ""}, {"If-Match", `"2"`}, {"If-Match", "W/2"}} {
		r := e.must(400, "POST", path, body, h...)
		if r.body["detail"] != "If-Match header required" {
			t.Errorf("If-Match %q: %s", h[1], r.raw)
		}
	}
	e.must(404, "POST", "/api/v1/intents/missing/state", body, ifMatch(1)...)
}

func TestStatusLifecycle(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("l", nil)
	path := "/api/v1/intents/" + id(in) + "/status"
	r := e.must(409, "POST", path, map[string]any{"status": "completed"}, ifMatch(1)...)
	if r.body["code"] != "invalid_transition" || !strings.Contains(r.body["detail"].(string), "draft") || !strings.Contains(r.body["detail"].(string), "completed") {
		t.Errorf("illegal transition: %s", r.raw)
	}
	v := 1
	for _, s := range []string{"active", "blocked", "active", "suspended_awaiting_input", "active", "completed"} {
		got := e.must(200, "POST", path, map[string]any{"status": s, "reason": "because"}, ifMatch(v)...).body
		v++
		if got["status"] != s || int(got["version"].(float64)) != v {
			t.Fatalf("to %s: %v", s, got)
		}
	}
	e.must(409, "POST", path, map[string]any{"status": "active"}, ifMatch(v)...)
	evs := e.must(200, "GET", "/api/v1/intents/"+id(in)+"/events?event_type=status_changed&limit=1", nil).list
	p := evs[0].(map[string]any)["payload"].(map[string]any)
	if p["from"] != "active" || p["to"] != "completed" || p["reason"] != "because" {
		t.Errorf("status event payload: %v", p)
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("e", nil)
	path := "/api/v1/intents/" + id(in) + "/events"
	first := e.must(200, "POST", path, map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{"n": 1}, "trace_id": "t-1"}).body
	if first["trace_id"] != "t-1" || first["actor"] != "agent-a" {
		t.Errorf("event: %v", first)
	}
	e.clock.Advance(time.Second)
	mid := e.clock.Now()
	e.clock.Advance(time.Second)
	e.must(200, "POST", path, map[string]any{"event_type": "custom.thing", "actor": "b", "parent_event_id": id(first)}, "X-Agent-ID", "b")
	e.must(200, "POST", path, map[string]any{"event_type": "comment", "actor": "c"}, "X-Agent-ID", "c")

	all := e.must(200, "GET", path, nil).list
	if len(all) != 4 || all[0].(map[string]any)["actor"] != "c" || all[3].(map[string]any)["event_type"] != "intent_created" {
		t.Fatalf("all events newest first: %v", all)
	}
	if got := e.must(200, "GET", path+"?event_type=comment", nil).list; len(got) != 2 {
		t.Errorf("event_type filter: %d", len(got))
	}
	since := e.must(200, "GET", path+"?since="+mid.Format(time.RFC3339Nano), nil).list
	if len(since) != 2 || since[1].(map[string]any)["parent_event_id"] != id(first) {
		t.Errorf("since filter: %v", since)
	}
	if got := e.must(200, "GET", path+"?limit=1&offset=1", nil).list; len(got) != 1 || got[0].(map[string]any)["event_type"] != "custom.thing" {
		t.Errorf("paging: %v", got)
	}
	if got := e.must(200, "GET", "/api/v1/intents/unknown/events", nil).list; len(got) != 0 {
		t.Errorf("unknown intent has events")
	}
	e.must(404, "POST", "/api/v1/intents/unknown/events", map[string]any{"event_type": "x", "actor": "agent-a"})
}

func TestAgentAssignment(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("a", nil)
	path := "/api/v1/intents/" + id(in) + "/agents"
	a := e.must(200, "POST", path, map[string]any{"agent_id": "worker-1"}).body
	if a["role"] != "worker" || a["agent_id"] != "worker-1" {
		t.Errorf("assign: %v", a)
	}
	e.must(200, "POST", path, map[string]any{"agent_id": "worker-1", "role": "lead"})
	list := e.must(200, "GET", path, nil).list
	if len(list) != 1 || list[0].(map[string]any)["role"] != "lead" {
		t.Errorf("reassign: %v", list)
	}
	e.must(204, "DELETE", path+"/worker-1", nil)
	e.must(404, "DELETE", path+"/worker-1", nil)
	if list := e.must(200, "GET", path, nil).list; len(list) != 0 {
		t.Errorf("after unassign: %v", list)
	}
}

func TestGraph(t *testing.T) {
	e := newEnv(t)
	root := e.createIntent("root", nil)
	rid := id(root)
	a := e.must(200, "POST", "/api/v1/intents/"+rid+"/children", map[string]any{"title": "a"}).body
	b := e.must(200, "POST", "/api/v1/intents/"+rid+"/children", map[string]any{"title": "b", "depends_on": []string{id(a)}}).body
	c := e.must(200, "POST", "/api/v1/intents/"+id(a)+"/children", map[string]any{"title": "c"}).body
	if b["parent_id"] != rid || b["created_by"] != "agent-a" {
		t.Errorf("child: %v", b)
	}
	e.must(404, "POST", "/api/v1/intents/missing/children", map[string]any{"title": "x"})

	titles := func(r resp, key string) string {
		var out []string
		for _, x := range r.body[key].([]any) {
			out = append(out, x.(map[string]any)["title"].(string))
		}
		return strings.Join(out, ",")
	}
	check := func(path, key, want string) {
		t.Helper()
		if got := titles(e.must(200, "GET", path, nil), key); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	check("/api/v1/intents/"+rid+"/children", "children", "a,b")
	check("/api/v1/intents/"+rid+"/descendants", "descendants", "a,c,b")
	check("/api/v1/intents/"+id(c)+"/ancestors", "ancestors", "a,root")
	check("/api/v1/intents/"+id(b)+"/dependencies", "dependencies", "a")
	check("/api/v1/intents/"+id(a)+"/dependents", "dependents", "b")
	check("/api/v1/intents/"+rid+"/ready", "ready", "a")
	check("/api/v1/intents/"+rid+"/blocked", "blocked", "b")

	// a depends on b would close the cycle b -> a.
	r := e.must(400, "POST", "/api/v1/intents/"+id(a)+"/dependencies", map[string]any{"dependency_id": id(b)}, ifMatch(1)...)
	if r.body["code"] != "dependency_cycle" {
		t.Errorf("cycle: %s", r.raw)
	}
	e.must(400, "POST", "/api/v1/intents/"+id(a)+"/dependencies", map[string]any{"dependency_id": id(a)}, ifMatch(1)...)
	e.must(400, "POST", "/api/v1/intents/"+id(b)+"/dependencies", map[string]any{"dependency_id": id(a)}, ifMatch(1)...)
	e.must(404, "POST", "/api/v1/intents/"+id(b)+"/dependencies", map[string]any{"dependency_id": "missing"}, ifMatch(1)...)
	got := e.must(200, "POST", "/api/v1/intents/"+id(b)+"/dependencies", map[string]any{"dependency_id": id(c)}, ifMatch(1)...).body
	if len(got["depends_on"].([]any)) != 2 || got["version"].(float64) != 2 {
		t.Errorf("add dependency: %v", got)
	}
	check("/api/v1/intents/"+id(c)+"/dependents", "dependents", "b")

	g := e.must(200, "GET", "/api/v1/intents/"+rid+"/graph", nil).body
	if len(g["nodes"].([]any)) != 4 || g["aggregate_status"].(map[string]any)["total"].(float64) != 4 {
		t.Errorf("graph: %v", g)
	}
	edges := map[string]int{}
	for _, x := range g["edges"].([]any) {
		edges[x.(map[string]any)["type"].(string)]++
	}
	if edges["parent"] != 3 || edges["dependency"] != 2 {
		t.Errorf("edges: %v", edges)
	}
	// Completing a and c unblocks b.
	for _, x := range []map[string]any{a, c} {
		p := "/api/v1/intents/" + id(x) + "/status"
		v := int(e.must(200, "GET", "/api/v1/intents/"+id(x), nil).body["version"].(float64))
		e.must(200, "POST", p, map[string]any{"status": "active"}, ifMatch(v)...)
		e.must(200, "POST", p, map[string]any{"status": "completed"}, ifMatch(v+1)...)
	}
	check("/api/v1/intents/"+rid+"/ready", "ready", "b")
	check("/api/v1/intents/"+rid+"/blocked", "blocked", "")
	got = e.must(200, "DELETE", "/api/v1/intents/"+id(b)+"/dependencies/"+id(c), nil, ifMatch(2)...).body
	if len(got["depends_on"].([]any)) != 1 {
		t.Errorf("remove dependency: %v", got)
	}
	g = e.must(200, "GET", "/api/v1/intents/"+rid+"/graph", nil).body
	if pct := g["aggregate_status"].(map[string]any)["completion_percentage"].(float64); pct != 50 {
		t.Errorf("completion = %v", pct)
	}
}

func TestLeases(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("l", nil)
	path := "/api/v1/intents/" + id(in) + "/leases"
	l := e.must(200, "POST", path, map[string]any{"scope": "analysis", "duration_seconds": 60}).body
	if l["status"] != "active" || l["agent_id"] != "agent-a" || l["released_at"] != nil {
		t.Fatalf("lease: %v", l)
	}
	// Another agent, and the holder itself, are refused while it is active.
	for _, agent := range []string{"agent-b", "agent-a"} {
		r := e.must(409, "POST", path, map[string]any{"scope": "analysis"}, "X-Agent-ID", agent)
		if r.body["code"] != "lease_conflict" || r.body["existing_lease"].(map[string]any)["id"] != id(l) {
			t.Errorf("%s: %s", agent, r.raw)
		}
	}
	e.must(200, "POST", path, map[string]any{"scope": "other"}, "X-Agent-ID", "agent-b")
	// Only the holder renews or releases.
	e.must(404, "PATCH", path+"/"+id(l), map[string]any{"duration_seconds": 60}, "X-Agent-ID", "agent-b")
	e.must(404, "DELETE", path+"/"+id(l), nil, "X-Agent-ID", "agent-b")
	e.clock.Advance(50 * time.Second)
	renewed := e.must(200, "PATCH", path+"/"+id(l), map[string]any{"duration_seconds": 60}).body
	if exp, _ := time.Parse(time.RFC3339Nano, renewed["expires_at"].(string)); !exp.Equal(e.clock.Now().Add(60 * time.Second)) {
		t.Errorf("renewed expiry %v", exp)
	}
	// Expiry frees the scope; the expired lease cannot be renewed.
	e.clock.Advance(61 * time.Second)
	r := e.must(409, "PATCH", path+"/"+id(l), map[string]any{}, "X-Agent-ID", "agent-a")
	if r.body["code"] != "lease_expired" {
		t.Errorf("renew expired: %s", r.raw)
	}
	l2 := e.must(200, "POST", path, map[string]any{"scope": "analysis"}, "X-Agent-ID", "agent-b").body
	e.must(200, "DELETE", path+"/"+id(l2), nil, "X-Agent-ID", "agent-b")
	e.must(200, "DELETE", path+"/"+id(l2), nil, "X-Agent-ID", "agent-b") // idempotent
	e.must(404, "PATCH", path+"/"+id(l2), map[string]any{}, "X-Agent-ID", "agent-b")
	statuses := map[string]int{}
	for _, x := range e.must(200, "GET", path, nil).list {
		statuses[x.(map[string]any)["status"].(string)]++
	}
	if statuses["expired"] != 1 || statuses["released"] != 1 || statuses["active"] != 1 {
		t.Errorf("lease statuses: %v", statuses)
	}
	e.must(404, "POST", "/api/v1/intents/missing/leases", map[string]any{"scope": "s"})
	if evs := e.must(200, "GET", "/api/v1/intents/"+id(in)+"/events?event_type=lease_released", nil).list; len(evs) != 1 {
		t.Errorf("lease_released events: %d", len(evs))
	}
}

// TestLeaseExclusivityUnderContention races agents for one scope: exactly one wins.
func TestLeaseExclusivityUnderContention(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("race", nil)
	path := "/api/v1/intents/" + id(in) + "/leases"
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.call("POST", path, map[string]any{"scope": "s"}, "X-Agent-ID", fmt.Sprintf("agent-%d", i))
			if r.status == 200 {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if r.status != 409 {
				t.Errorf("status %d", r.status)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d agents hold the lease", wins)
	}
}

func TestFileStoreSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oi.db")
	e := newEnvAt(t, path)
	in := e.createIntent("durable", nil)
	e.must(200, "POST", "/api/v1/intents/"+id(in)+"/state", map[string]any{"patches": []any{map[string]any{"op": "append", "path": "/l", "value": 1}}}, ifMatch(1)...)
	e2 := newEnvAt(t, path)
	got := e2.must(200, "GET", "/api/v1/intents/"+id(in), nil).body
	if got["version"].(float64) != 2 || len(got["state"].(map[string]any)["l"].([]any)) != 1 {
		t.Errorf("after reopen: %v", got)
	}
}

func TestHostileBodies(t *testing.T) {
	e := newEnv(t)
	cases := map[string]string{
		"invalid UTF-8": "{\"title\":\"\xff\"}",
		"deep nesting":  `{"title":"x","state":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`,
	}
	for name, body := range cases {
		r := e.call("POST", "/api/v1/intents", body)
		if r.status != 422 || r.body["errors"] == nil {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	// Nesting inside strings does not count.
	e.must(200, "POST", "/api/v1/intents", `{"title":"`+strings.Repeat("[", 100)+`"}`)
}
