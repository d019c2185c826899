package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/openintent-go/openintent/pkg/server"
)

// accessRule is one row of README's access table: who may read (GET) and write the operations.
type accessRule struct{ group, read, write string }

// readAccessTable parses the "Access rules" table of README.md: operationId -> its row.
func readAccessTable(t *testing.T) map[string]accessRule {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "### Access rules")
	if start < 0 {
		t.Fatal("README.md has no '### Access rules' section")
	}
	opRE := regexp.MustCompile("`([A-Za-z]+)`")
	vocab := []string{"public", "any agent", "intent read", "intent write", "intent admin", "owner", "service key"}
	out := map[string]accessRule{}
	inTable := false
	for line := range strings.SplitSeq(text[start:], "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(line, "|")
		if len(cells) != 6 || strings.TrimSpace(cells[1]) == "Group" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		r := accessRule{group: strings.TrimSpace(cells[1]), read: strings.TrimSpace(cells[2]), write: strings.TrimSpace(cells[3])}
		for _, v := range []string{r.read, r.write} {
			if !slices.Contains(vocab, v) {
				t.Fatalf("README access table, row %q: %q is not one of %q", r.group, v, vocab)
			}
		}
		for _, m := range opRE.FindAllStringSubmatch(cells[4], -1) {
			if _, dup := out[strings.ToLower(m[1])]; dup {
				t.Fatalf("README access table lists %s twice", m[1])
			}
			out[strings.ToLower(m[1])] = r
		}
	}
	return out
}

// ruleFor is the README rule of an operation called with method.
func (r accessRule) ruleFor(method string) string {
	if method == http.MethodGet {
		return r.read
	}
	return r.write
}

// TestAccessTableCoversEverySpecOperation: README's access table names every operation of the
// spec exactly once, so a new operation cannot join without a written rule.
func TestAccessTableCoversEverySpecOperation(t *testing.T) {
	table := readAccessTable(t)
	spec, err := server.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			seen[opID(op)] = true
			r, ok := table[opID(op)]
			if !ok {
				t.Errorf("%s %s (%s) is missing from README's access table", method, path, op.OperationID)
				continue
			}
			public := op.Security != nil && len(*op.Security) == 0
			if public != (r.ruleFor(method) == "public") {
				t.Errorf("%s: README says %q, the spec says public=%v", op.OperationID, r.ruleFor(method), public)
			}
		}
	}
	for op := range table {
		if !seen[op] {
			t.Errorf("README's access table names %s, which the spec lacks", op)
		}
	}
}

// opID is an operation's id in lower case: the spec embedded in gen/server spells ids as Go
// names (getIntentAcl becomes GetIntentACL).
func opID(op *openapi3.Operation) string { return strings.ToLower(op.OperationID) }

// walkOp is one operation of the spec.
type walkOp struct {
	method, path string
	op           *openapi3.Operation
}

func specOps(t *testing.T) []walkOp {
	t.Helper()
	spec, err := server.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var ops []walkOp
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			ops = append(ops, walkOp{method, path, op})
		}
	}
	// A stable order, with the operations that change an ACL last (they would change what
	// later checks see).
	sort.Slice(ops, func(i, j int) bool {
		ai, aj := strings.Contains(ops[i].path, "/acl"), strings.Contains(ops[j].path, "/acl")
		if ai != aj {
			return aj
		}
		return ops[i].method+ops[i].path < ops[j].method+ops[j].path
	})
	return ops
}

// world is what alice owns: a closed intent C full of canaries and every kind of object tied to
// it or to her.
type world struct {
	e      *env
	canary string
	ids    map[string]string // object -> id: what bodies and queries name
	paths  map[string]string // object -> id: what paths name (ids unless set)
}

const (
	aliceKey = "alice-key"
	bobKey   = "bob-key"
)

func as(key, agent string) []string { return []string{"X-API-Key", key, "X-Agent-ID", agent} }

func newWalkEnv(t *testing.T) *env {
	return newEnvConfig(t, testStorePath(t), func(c *server.Config) {
		c.APIKeys = append(c.APIKeys, aliceKey+"=alice", bobKey+"=bob")
		c.Webhooks = server.Webhooks{AllowPrivateNetworks: true, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	})
}

// buildWorld creates alice's objects. The canary is in every title, state, payload and record
// of the closed intent that may carry free text.
func buildWorld(t *testing.T, e *env) *world {
	var b [8]byte
	rand.Read(b[:])
	w := &world{e: e, canary: "CANARY" + hex.EncodeToString(b[:]), ids: map[string]string{}}
	c := w.canary
	alice := as(aliceKey, "")
	post := func(path string, body any, headers ...string) map[string]any {
		return e.must(200, "POST", path, body, append(alice, headers...)...).body
	}
	open := post("/api/v1/intents", map[string]any{"title": "open intent of alice"})
	w.ids["open"] = id(open)
	dep := post("/api/v1/intents", map[string]any{"title": "an open dependency"})
	in := post("/api/v1/intents", map[string]any{"title": "closed " + c, "description": c,
		"state": map[string]any{"secret": c}, "depends_on": []string{id(dep)}, "parent_intent_id": id(open)})
	C := id(in)
	w.ids["C"], w.ids["dep"] = C, id(dep)
	ip := "/api/v1/intents/" + C
	post(ip+"/events", map[string]any{"event_type": "comment", "actor": "alice", "payload": map[string]any{"note": c}})
	w.ids["task"] = id(post("/api/v1/tasks", map[string]any{"intent_id": C, "name": "task " + c, "input": map[string]any{"x": c}}))
	w.ids["plan"] = id(post("/api/v1/plans", map[string]any{"intent_id": C, "tasks": []string{w.ids["task"]}, "metadata": map[string]any{"x": c}}))
	w.ids["coordinator"] = id(post("/api/v1/coordinators", map[string]any{"intent_id": C, "metadata": map[string]any{"x": c}}))
	post("/api/v1/decisions", map[string]any{"intent_id": C, "coordinator_id": w.ids["coordinator"], "decision_type": "pick", "summary": c, "rationale": c})
	w.ids["escalation"] = id(post(ip+"/escalations", map[string]any{"reason": c}))
	w.ids["approval"] = id(post(ip+"/approvals", map[string]any{"action": c, "reason": c}))
	w.ids["attachment"] = id(post(ip+"/attachments", map[string]any{"filename": c + ".txt", "mime_type": "text/plain", "size": 1, "storage_url": "https://example.com/" + c}))
	post(ip+"/costs", map[string]any{"agent_id": "alice", "cost_type": "tokens", "amount": 1, "unit": "tokens", "metadata": map[string]any{"x": c}})
	post(ip+"/failures", map[string]any{"error_type": c, "error_message": c, "attempt_number": 1})
	w.ids["channel"] = id(e.must(201, "POST", ip+"/channels", map[string]any{"name": "channel " + c, "options": map[string]any{"audit": true}}, alice...).body)
	w.ids["message"] = id(e.must(201, "POST", "/api/v1/channels/"+w.ids["channel"]+"/messages",
		map[string]any{"to": "carol", "message_type": "request", "payload": map[string]any{"x": c}}, alice...).body)
	w.ids["lease"] = id(post(ip+"/leases", map[string]any{"scope": "scope-" + c, "duration_seconds": 3600}))
	post(ip+"/arbitrate", map[string]any{"reason": c})
	w.ids["aclEntry"] = id(post(ip+"/acl/entries", map[string]any{"principal_id": "carol", "permission": "read", "reason": c}))
	post(ip+"/acl/entries", map[string]any{"principal_id": "dave", "permission": "write"})
	post(ip+"/acl/entries", map[string]any{"principal_id": "erin", "permission": "admin"})
	w.ids["accessRequest"] = id(e.must(200, "POST", ip+"/access-requests", map[string]any{"reason": c}, "X-Agent-ID", "frank").body)
	e.must(200, "PUT", ip+"/acl", map[string]any{"default_policy": "closed", "entries": []any{
		map[string]any{"principal_id": "carol", "permission": "read", "reason": c},
		map[string]any{"principal_id": "dave", "permission": "write"},
		map[string]any{"principal_id": "erin", "permission": "admin"},
	}}, alice...)
	acl := e.must(200, "GET", ip+"/acl", nil, alice...).body
	w.ids["aclEntry"] = acl["entries"].([]any)[0].(map[string]any)["id"].(string)
	p := post("/api/v1/portfolios", map[string]any{"name": "portfolio of alice"})
	w.ids["portfolio"] = id(p)
	post("/api/v1/portfolios/"+id(p)+"/intents", map[string]any{"intent_id": C})
	post("/api/v1/portfolios/"+id(p)+"/intents", map[string]any{"intent_id": w.ids["open"]})
	w.ids["subscription"] = id(post("/api/v1/subscriptions", map[string]any{"intent_id": C, "webhook_url": "https://example.com/hook?token=" + c}))
	v := post("/api/v1/vaults", map[string]any{"name": "vault " + c})
	w.ids["vault"] = id(v)
	w.ids["credential"] = id(post("/api/v1/credentials", map[string]any{"vault_id": id(v), "service": "svc", "label": c, "secret": map[string]any{"api_key": c}}))
	w.ids["grant"] = id(post("/api/v1/grants", map[string]any{"credential_id": w.ids["credential"], "agent_id": "alice", "context": map[string]any{"x": c}}))
	post("/api/v1/invocations", map[string]any{"grant_id": w.ids["grant"], "service": "svc", "tool": "t", "parameters": map[string]any{"x": c}})
	w.ids["memory"] = id(post("/api/v1/memory", map[string]any{"namespace": "ns", "key": "k", "value": map[string]any{"x": c}}))
	w.ids["trigger"] = e.must(200, "POST", "/api/v1/triggers", map[string]any{"name": "trigger " + c, "type": "webhook",
		"intent_template": map[string]any{"title": c}}, alice...).body["trigger_id"].(string)
	post("/api/v1/agents/register", map[string]any{"agent_id": "alice", "capabilities": []string{"x"}})
	e.registerKey("alice", newKeyPair(t)) // RFC-0018: her identity is read, never changed, by the walk
	w.ids["agent"] = "alice"
	return w
}

// bobsPaths returns a world whose paths name bob's own objects while bodies still name
// alice's: the walk through it reaches the checks handlers make on what a body names.
func (w *world) bobsPaths(t *testing.T) *world {
	e := w.e
	bob := as(bobKey, "")
	post := func(path string, body any) map[string]any { return e.must(200, "POST", path, body, bob...).body }
	b := map[string]string{"agent": "bob"}
	b["C"] = id(post("/api/v1/intents", map[string]any{"title": "bob's"}))
	b["dep"] = id(post("/api/v1/intents", map[string]any{"title": "bob's dependency"}))
	b["portfolio"] = id(post("/api/v1/portfolios", map[string]any{"name": "bob's"}))
	b["vault"] = id(post("/api/v1/vaults", map[string]any{"name": "bob's"}))
	b["credential"] = id(post("/api/v1/credentials", map[string]any{"vault_id": b["vault"], "service": "svc", "label": "bob's"}))
	b["grant"] = id(post("/api/v1/grants", map[string]any{"credential_id": b["credential"], "agent_id": "bob"}))
	b["task"] = id(post("/api/v1/tasks", map[string]any{"intent_id": b["C"], "name": "bob's"}))
	b["coordinator"] = id(post("/api/v1/coordinators", map[string]any{"intent_id": b["C"]}))
	return &world{e: e, canary: w.canary, ids: w.ids, paths: b}
}

// pathFor fills an operation's path with alice's objects.
func (w *world) pathFor(path string) string {
	ids := w.ids
	if w.paths != nil {
		ids = w.paths
	}
	value := func(param string) string {
		switch param {
		case "intent_id":
			return ids["C"]
		case "lease_id":
			if strings.HasPrefix(path, "/api/v1/coordinators") {
				return ids["coordinator"]
			}
			return ids["lease"]
		case "entry_id":
			if strings.HasPrefix(path, "/api/v1/memory") {
				return ids["memory"]
			}
			return ids["aclEntry"]
		case "agent_id":
			return ids["agent"]
		case "dependency_id":
			return ids["dep"]
		case "request_id":
			return ids["accessRequest"]
		}
		name := strings.TrimSuffix(param, "_id")
		if v, ok := ids[name]; ok {
			return v
		}
		return "x"
	}
	return regexp.MustCompile(`\{([^}]+)\}`).ReplaceAllStringFunc(path, func(m string) string {
		return url.PathEscape(value(m[1 : len(m)-1]))
	})
}

// refs are body and query fields that name an object: the walk points them at alice's.
func (w *world) ref(name string) (any, bool) {
	switch name {
	case "intent_id", "parent_intent_id", "parent_id":
		return w.ids["C"], true
	case "depends_on":
		return []string{w.ids["C"]}, true
	case "portfolio_id", "credential_id", "vault_id", "grant_id":
		return w.ids[strings.TrimSuffix(name, "_id")], true
	case "dependency_id":
		return w.ids["C"], true
	}
	return nil, false
}

// sample makes a value of schema s: required properties, and every property that names an
// object (pointed at alice's).
func (w *world) sample(s *openapi3.SchemaRef, name string, depth int) any {
	if s == nil || s.Value == nil || depth > 6 {
		return map[string]any{}
	}
	v := s.Value
	if len(v.AllOf) > 0 {
		return w.sample(v.AllOf[0], name, depth+1)
	}
	if len(v.OneOf) > 0 {
		return w.sample(v.OneOf[0], name, depth+1)
	}
	if len(v.AnyOf) > 0 {
		return w.sample(v.AnyOf[0], name, depth+1)
	}
	if len(v.Enum) > 0 {
		return v.Enum[0]
	}
	switch {
	case v.Type.Is("string"):
		switch {
		case v.Format == "date-time":
			return "2030-01-01T00:00:00Z"
		case strings.Contains(name, "url") || v.Format == "uri":
			return "https://example.com/walk"
		}
		return "walk"
	case v.Type.Is("integer"):
		return max(1, int(minOf(v)))
	case v.Type.Is("number"):
		return 0.5
	case v.Type.Is("boolean"):
		return true
	case v.Type.Is("array"):
		if v.MinItems > 0 {
			return []any{w.sample(v.Items, name, depth+1)}
		}
		return []any{}
	}
	out := map[string]any{}
	hasIntent := false
	for prop, ps := range v.Properties {
		if r, ok := w.ref(prop); ok {
			if prop == "intent_id" {
				hasIntent = true
			}
			out[prop] = r
		} else if slices.Contains(v.Required, prop) {
			out[prop] = w.sample(ps, prop, depth+1)
		}
	}
	if hasIntent {
		delete(out, "portfolio_id") // "intent_id or portfolio_id": name the intent
	}
	return out
}

// Min is the schema's minimum, or 0.
func minOf(v *openapi3.Schema) float64 {
	if v.Min != nil {
		return *v.Min
	}
	return 0
}

// request builds the walk's request for op: path, query and header parameters, and a body.
func (w *world) request(o walkOp) (string, any, []string) {
	path := w.pathFor(o.path)
	q := url.Values{}
	var headers []string
	for _, p := range o.op.Parameters {
		switch p.Value.In {
		case "query":
			if r, ok := w.ref(p.Value.Name); ok {
				if s, ok := r.(string); ok {
					q.Set(p.Value.Name, s)
				}
			}
			if p.Value.Name == "agent_id" || p.Value.Name == "created_by" {
				q.Set(p.Value.Name, "alice")
			}
		case "header":
			if p.Value.Required {
				headers = append(headers, p.Value.Name, "1")
			}
		}
	}
	if q.Has("intent_id") {
		q.Del("portfolio_id") // "intent_id or portfolio_id": name the intent
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var body any
	if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get("application/json"); mt != nil {
			body = w.sample(mt.Schema, "", 0)
		}
	}
	return path, body, headers
}

func isStream(path string) bool { return strings.Contains(path, "subscribe") }

// snapshot is what alice sees through every GET that names one of her objects.
func (w *world) snapshot(t *testing.T, ops []walkOp) map[string]string {
	out := map[string]string{}
	for _, o := range ops {
		if o.method != http.MethodGet || isStream(o.path) {
			continue
		}
		path, _, headers := w.request(o)
		if !strings.Contains(o.path, "{") && !strings.Contains(path, "?") {
			continue // global lists: bob's own objects legitimately appear there
		}
		r := w.e.call("GET", path, nil, append(as(aliceKey, ""), headers...)...)
		out[o.op.OperationID] = fmt.Sprintf("%d %s", r.status, r.raw)
	}
	return out
}

// TestOutsiderWalkLeaksNothingAndChangesNothing walks every operation of the spec as bob, an
// agent with his own key who may not read alice's closed intent C. No response, stream frame or
// webhook delivery bob sees may contain C's canary; no write of his may change what alice sees
// of C and her objects; every operation README's table reserves (intent read/write/admin,
// owner) answers 403 (or 501 where not built). Callers the table allows (an ACL entry's read,
// write, admin) pass. New operations join the walk by being in the spec.
func TestOutsiderWalkLeaksNothingAndChangesNothing(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	table := readAccessTable(t)
	ops := specOps(t)
	before := w.snapshot(t, ops)
	bob := as(bobKey, "")
	for _, o := range ops {
		if opID(o.op) == "createaccessrequest" {
			continue // the one write an outsider may make (README); checked after the snapshot
		}
		path, body, headers := w.request(o)
		name := fmt.Sprintf("%s %s (%s)", o.method, o.path, o.op.OperationID)
		var status int
		var raw string
		if isStream(o.path) {
			status, raw = e.peekStream(path, append(bob, headers...)...)
		} else {
			r := e.call(o.method, path, body, append(bob, headers...)...)
			status, raw = r.status, r.raw
		}
		if strings.Contains(raw, w.canary) {
			t.Errorf("%s as bob leaks the canary: %d %s", name, status, raw)
		}
		if status >= 500 && status != http.StatusNotImplemented {
			t.Errorf("%s as bob: %d %s", name, status, raw)
		}
		switch rule := table[opID(o.op)].ruleFor(o.method); rule {
		case "intent read", "intent write", "intent admin", "owner", "service key":
			if status != http.StatusForbidden && status != http.StatusNotImplemented {
				t.Errorf("%s is %q but bob got %d: %s", name, rule, status, raw)
			}
		}
	}
	// Reads of the open intents C hangs from (its parent, its dependency) leave C out.
	for _, o := range ops {
		if o.method != http.MethodGet || isStream(o.path) || !strings.Contains(o.path, "{intent_id}") {
			continue
		}
		for _, open := range []string{w.ids["open"], w.ids["dep"]} {
			path, _, headers := w.request(o)
			path = strings.Replace(path, w.ids["C"], open, 1)
			if r := e.call("GET", path, nil, append(bob, headers...)...); strings.Contains(r.raw, w.canary) || (r.status >= 500 && r.status != http.StatusNotImplemented) {
				t.Errorf("GET %s as bob: %d %s", path, r.status, r.raw)
			}
		}
	}
	// Again with bob's own objects in the paths and alice's in the bodies.
	bw := w.bobsPaths(t)
	for _, o := range ops {
		if isStream(o.path) || opID(o.op) == "createaccessrequest" {
			continue
		}
		path, body, headers := bw.request(o)
		if slices.Contains(headers, "If-Match") && strings.HasPrefix(o.path, "/api/v1/intents/{intent_id}") {
			// Bob's own intent: name its current version, so the handler gets past it.
			cur := e.must(200, "GET", "/api/v1/intents/"+bw.paths["C"], nil, bob...).body
			headers = append(headers, ifMatch(cur["version"])...)
		}
		r := e.call(o.method, path, body, append(bob, headers...)...)
		if strings.Contains(r.raw, w.canary) {
			t.Errorf("%s %s as bob on his own objects leaks the canary: %d %s", o.method, path, r.status, r.raw)
		}
		if r.status >= 500 && r.status != http.StatusNotImplemented {
			t.Errorf("%s %s as bob on his own objects: %d %s", o.method, path, r.status, r.raw)
		}
	}
	after := w.snapshot(t, ops)
	for op, b := range before {
		if after[op] != b {
			t.Errorf("bob's walk changed what alice sees through %s:\nbefore %s\nafter  %s", op, b, after[op])
		}
	}
	// Asking for access is open to anyone, and answers with nothing of the intent.
	if r := e.must(200, "POST", "/api/v1/intents/"+w.ids["C"]+"/access-requests", map[string]any{"reason": "please"}, bob...); strings.Contains(r.raw, w.canary) {
		t.Errorf("an access request's answer leaks the canary: %s", r.raw)
	}

	// The ACL's entries pass where the table says they should, and no further.
	for _, o := range ops {
		if isStream(o.path) {
			continue
		}
		rule := table[opID(o.op)].ruleFor(o.method)
		path, body, headers := w.request(o)
		try := func(agent string) resp {
			return e.call(o.method, path, body, append([]string{"X-Agent-ID", agent}, headers...)...)
		}
		switch {
		case rule == "intent read" && o.method == http.MethodGet:
			if r := try("carol"); r.status == http.StatusForbidden {
				t.Errorf("%s %s: carol holds read but got 403: %s", o.method, o.path, r.raw)
			}
		case rule == "intent write" && o.method != http.MethodGet:
			if r := try("carol"); r.status != http.StatusForbidden && r.status != http.StatusNotImplemented {
				t.Errorf("%s %s: carol holds only read but got %d: %s", o.method, o.path, r.status, r.raw)
			}
		case rule == "intent admin":
			if r := try("dave"); r.status != http.StatusForbidden {
				t.Errorf("%s %s: dave holds only write but got %d: %s", o.method, o.path, r.status, r.raw)
			}
		case rule == "owner" && o.method == http.MethodGet:
			if r := e.call(o.method, path, body, append(as(aliceKey, ""), headers...)...); r.status == http.StatusForbidden {
				t.Errorf("%s %s: alice owns it but got 403: %s", o.method, o.path, r.raw)
			}
		}
	}
}

// peekStream opens a stream and returns its status and what arrives within a moment (an
// allowed stream stays open; its first bytes are enough here).
func (e *env) peekStream(path string, headers ...string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	return res.StatusCode, ""
}

// sseReader collects the data of a stream's frames.
type sseReader struct {
	mu     sync.Mutex
	frames []string
	got    chan struct{} // signalled on every frame
}

func (e *env) openStream(t *testing.T, path string, headers ...string) *sseReader {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream %s: %d", path, res.StatusCode)
	}
	s := &sseReader{got: make(chan struct{}, 1)}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data:") {
				s.mu.Lock()
				s.frames = append(s.frames, line)
				s.mu.Unlock()
				select {
				case s.got <- struct{}{}:
				default:
				}
			}
		}
	}()
	return s
}

// waitFor waits until a frame contains want; it fails the test after a generous deadline.
func (s *sseReader) waitFor(t *testing.T, want string) string {
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		all := strings.Join(s.frames, "\n")
		s.mu.Unlock()
		if strings.Contains(all, want) {
			return all
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("no frame with %q after 30s; got:\n%s", want, all)
		}
	}
}

// TestOutsiderStreamsAndWebhooksLeakNothing: bob follows alice's agent stream and alice's
// portfolio (which holds C) live, and subscribes webhooks to everything, to the portfolio and to
// alice's agent. Alice then writes canaries into C and a sentinel into an open intent: bob
// receives the sentinel everywhere and never the canary (events arrive in order, so what came
// before the sentinel has been seen).
func TestOutsiderStreamsAndWebhooksLeakNothing(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	bob := as(bobKey, "")
	var mu sync.Mutex
	var deliveries []string
	got := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		deliveries = append(deliveries, r.URL.Path+" "+string(raw))
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(hook.Close)
	for _, sub := range []map[string]any{
		{"webhook_url": hook.URL + "/all"},
		{"webhook_url": hook.URL + "/portfolio", "portfolio_id": w.ids["portfolio"]},
		{"webhook_url": hook.URL + "/agent", "agent_id": "alice"},
	} {
		e.must(200, "POST", "/api/v1/subscriptions", sub, bob...)
	}
	streams := map[string]*sseReader{}
	for _, p := range []string{"/api/v1/subscribe/agents/alice", "/api/v1/agents/alice/subscribe",
		"/api/v1/subscribe/portfolios/" + w.ids["portfolio"], "/api/v1/portfolios/" + w.ids["portfolio"] + "/subscribe"} {
		streams[p] = e.openStream(t, p, bob...)
	}
	alice := as(aliceKey, "")
	C := w.ids["C"]
	e.must(200, "POST", "/api/v1/intents/"+C+"/events", map[string]any{"event_type": "comment", "actor": "alice", "payload": map[string]any{"note": w.canary}}, alice...)
	in := e.must(200, "GET", "/api/v1/intents/"+C, nil, alice...).body
	e.must(200, "POST", "/api/v1/intents/"+C+"/state", map[string]any{"state": map[string]any{"more": w.canary}}, append(alice, ifMatch(in["version"])...)...)
	sentinel := "SENTINEL" + w.canary[6:]
	e.must(200, "POST", "/api/v1/intents/"+w.ids["open"]+"/events", map[string]any{"event_type": "comment", "actor": "alice", "payload": map[string]any{"note": sentinel}}, alice...)
	for p, s := range streams {
		if all := s.waitFor(t, sentinel); strings.Contains(all, w.canary) {
			t.Errorf("stream %s as bob carried the canary:\n%s", p, all)
		}
	}
	deadline := time.After(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, d := range deliveries {
			if strings.Contains(d, sentinel) {
				n++
			}
		}
		all := strings.Join(deliveries, "\n")
		mu.Unlock()
		if n == 3 {
			if strings.Contains(all, w.canary) {
				t.Errorf("bob's webhooks received the canary:\n%s", all)
			}
			break
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("bob's three webhooks did not all receive the sentinel; got:\n%s", all)
		}
	}
}

// TestEveryOperationSurvivesEmptyBodies sends every POST, PUT and PATCH of the spec, as the
// owner of every object it names, with no body, an empty body, null and []: each answers a
// 4xx or succeeds, never a 5xx.
func TestEveryOperationSurvivesEmptyBodies(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	for _, o := range specOps(t) {
		if o.method == http.MethodGet || o.method == http.MethodDelete {
			continue
		}
		path, _, headers := w.request(o)
		for _, body := range []any{nil, "", "null", "[]"} {
			r := e.call(o.method, path, body, append(as(aliceKey, ""), headers...)...)
			if r.status >= 500 && r.status != http.StatusNotImplemented {
				t.Errorf("%s %s (%s) with body %#v: %d %s", o.method, o.path, o.op.OperationID, body, r.status, r.raw)
			}
		}
	}
}
