package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/openintent-go/openintent/pkg/server"
)

// Wire fidelity with the reference implementation (issue #18): zone-less timestamps in
// requests, one JSON value per body, read-only fields refused, unknown fields reported.

// dateTimeFields appends the paths of s's date-time values: property names, "[]" for an array's
// items.
func dateTimeFields(s *openapi3.SchemaRef, prefix []string, depth int, out *[][]string) {
	if s == nil || s.Value == nil || depth > 6 {
		return
	}
	if isDateTime(s.Value) {
		*out = append(*out, slices.Clone(prefix))
		return
	}
	v := s.Value
	for _, sub := range slices.Concat(v.AllOf, v.OneOf, v.AnyOf) {
		dateTimeFields(sub, prefix, depth+1, out)
	}
	for name, p := range v.Properties {
		dateTimeFields(p, append(slices.Clone(prefix), name), depth+1, out)
	}
	if v.Items != nil {
		dateTimeFields(v.Items, append(slices.Clone(prefix), "[]"), depth+1, out)
	}
}

// isDateTime reports whether s is a timestamp: format date-time, itself or as one of its
// alternatives (the spec's Timestamp is RFC 3339 or the reference's zone-less form).
func isDateTime(s *openapi3.Schema) bool {
	if s.Format == "date-time" {
		return true
	}
	for _, alt := range slices.Concat(s.AnyOf, s.OneOf) {
		if alt.Value != nil && alt.Value.Format == "date-time" {
			return true
		}
	}
	return false
}

// propertySchema is the schema of s's property name (through allOf).
func propertySchema(s *openapi3.SchemaRef, name string) *openapi3.SchemaRef {
	if s == nil || s.Value == nil {
		return nil
	}
	if p := s.Value.Properties[name]; p != nil {
		return p
	}
	for _, sub := range slices.Concat(s.Value.AllOf, s.Value.OneOf, s.Value.AnyOf) {
		if p := propertySchema(sub, name); p != nil {
			return p
		}
	}
	return nil
}

// setAt sets the value at path in body (a sample of schema s), creating the objects and
// one-item arrays on the way from samples of their schemas.
func (w *world) setAt(body any, s *openapi3.SchemaRef, path []string, value any) any {
	if len(path) == 0 {
		return value
	}
	if path[0] == "[]" {
		items := s.Value.Items
		var first any
		if arr, ok := body.([]any); ok && len(arr) > 0 {
			first = arr[0]
		} else {
			first = w.sample(items, "", 0)
		}
		return []any{w.setAt(first, items, path[1:], value)}
	}
	obj, ok := body.(map[string]any)
	if !ok {
		obj = map[string]any{}
	}
	ps := propertySchema(s, path[0])
	child, ok := obj[path[0]]
	if !ok && len(path) > 1 {
		child = w.sample(ps, path[0], 0)
	}
	obj[path[0]] = w.setAt(child, ps, path[1:], value)
	return obj
}

// ownerOf is who may make the walk's request for o: the service key for the operator's
// operations, alice (who owns the world) for the others.
func ownerOf(o walkOp) []string {
	if strings.Contains(o.path, "/admin/") {
		return as(testKey, "")
	}
	return as(aliceKey, "")
}

// fieldErrors returns the fields a 4xx answer names.
func fieldErrors(r resp) []string {
	var out []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok {
			f, _ := m["field"].(string)
			out = append(out, f)
		}
	}
	return out
}

// names reports whether one of the answer's field errors names the field (the last element of
// path, or the parameter).
func names(r resp, field string) bool {
	for _, f := range fieldErrors(r) {
		if f == field || strings.HasSuffix(f, "/"+field) || strings.HasSuffix(f, "."+field) {
			return true
		}
	}
	return false
}

// TestZonelessTimestampsInEveryRequestField sends, in every request field and query parameter
// of format date-time the spec declares, the zone-less form the Python SDK sends
// (datetime.now().isoformat()): it must be read as UTC, never refused, and a top-level field the
// answer echoes comes back in RFC 3339 with a zone. Garbage in the same field is refused naming
// it, which proves the walk reaches the field.
func TestZonelessTimestampsInEveryRequestField(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	const zoneless, utc = "2030-01-02T03:04:05.123456", "2030-01-02T03:04:05.123456Z"
	checked := 0
	for _, o := range allOps(t) {
		if isStream(o.path) {
			continue
		}
		path, body, headers := w.request(o)
		// Query parameters.
		for _, p := range o.op.Parameters {
			if p.Value.In != "query" || p.Value.Schema == nil || !isDateTime(p.Value.Schema.Value) {
				continue
			}
			name := p.Value.Name
			with := func(v string) string {
				u, _ := url.Parse(path)
				q := u.Query()
				q.Set(name, v)
				u.RawQuery = q.Encode()
				return u.String()
			}
			if r := e.call(o.method, with("yesterday"), body, append(ownerOf(o), headers...)...); r.status < 400 || r.status >= 500 || !names(r, name) {
				t.Errorf("%s %s: query %s=garbage: %d %s (want a 4xx naming it)", o.method, o.path, name, r.status, r.raw)
			}
			for _, v := range []string{zoneless, "2030-01-02T03:04:05", "2030-01-02 03:04:05"} {
				r := e.call(o.method, with(v), body, append(ownerOf(o), headers...)...)
				if r.status >= 400 {
					t.Errorf("%s %s: query %s=%s: %d %s", o.method, o.path, name, v, r.status, r.raw)
				}
			}
			checked++
		}
		// Body fields.
		rb := o.op.RequestBody
		if rb == nil || rb.Value == nil || rb.Value.Content.Get("application/json") == nil {
			continue
		}
		schema := rb.Value.Content.Get("application/json").Schema
		var fields [][]string
		dateTimeFields(schema, nil, 0, &fields)
		for _, f := range fields {
			field := f[len(f)-1]
			label := o.method + " " + o.path + " body " + strings.Join(f, ".")
			bad := w.setAt(w.sample(schema, "", 0), schema, f, "yesterday")
			if r := e.call(o.method, path, bad, append(ownerOf(o), headers...)...); r.status < 400 || r.status >= 500 || !names(r, field) {
				t.Errorf("%s = garbage: %d %s (want a 4xx naming it)", label, r.status, r.raw)
			}
			good := w.setAt(w.freshBody(o), schema, f, zoneless)
			r := e.call(o.method, path, good, append(ownerOf(o), headers...)...)
			// Refused naming the field, or the whole body (the handler could not decode it).
			if (r.status >= 400 && (names(r, field) || names(r, "body"))) || r.status >= 500 {
				t.Errorf("%s = %s (zone-less) refused: %d %s", label, zoneless, r.status, r.raw)
			}
			if len(f) == 1 && r.status < 300 {
				if got, ok := r.body[field].(string); ok && got != utc {
					t.Errorf("%s = %s: the answer has %s = %q, want %q (RFC 3339 in UTC)", label, zoneless, field, got, utc)
				}
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d date-time request fields found in the spec", checked)
	}
	t.Logf("%d date-time request fields and parameters checked", checked)
}

// allOps are the spec's operations, public ones (discovery, the federation routes peers call)
// included.
func allOps(t *testing.T) []walkOp {
	spec, err := server.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var ops []walkOp
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, walkOp{method, path, op})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].method+ops[i].path < ops[j].method+ops[j].path })
	return ops
}

// freshBody is a new copy of the walk's body for o (the tests change the maps they send).
func (w *world) freshBody(o walkOp) any {
	_, body, _ := w.request(o)
	return body
}

// TestZonelessSubscriptionExpiry is the Python SDK's async subscribe: expires_at is
// datetime.now() + 24 h, without a zone.
func TestZonelessSubscriptionExpiry(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("watched", nil)
	local := time.Now().Add(24 * time.Hour).Format("2006-01-02T15:04:05.999999")
	r := e.must(200, "POST", "/api/v1/subscriptions", map[string]any{"intent_id": id(in), "subscriber_id": "agent-a",
		"event_types": []string{}, "webhook_url": "https://example.com/hook", "expires_at": local})
	want, _ := time.Parse("2006-01-02T15:04:05.999999", local)
	got, err := time.Parse(time.RFC3339Nano, r.body["expires_at"].(string))
	if err != nil || !got.Equal(want) || !strings.HasSuffix(r.body["expires_at"].(string), "Z") {
		t.Fatalf("expires_at = %v (%v), want %s as UTC in RFC 3339", r.body["expires_at"], err, local)
	}
}

// bodyOps are the operations that take a JSON body.
func bodyOps(t *testing.T) []walkOp {
	var out []walkOp
	for _, o := range specOps(t) {
		if rb := o.op.RequestBody; rb != nil && rb.Value != nil && rb.Value.Content.Get("application/json") != nil {
			out = append(out, o)
		}
	}
	return out
}

// TestEveryBodyIsExactlyOneJSONValue: trailing data after the body's value is refused on every
// operation with a body, before anything happens.
func TestEveryBodyIsExactlyOneJSONValue(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	for _, o := range bodyOps(t) {
		path, body, headers := w.request(o)
		for _, tail := range []string{" xyz", " {}", "\n[]", " 1"} {
			raw := mustJSON(t, body) + tail
			r := e.call(o.method, path, raw, append(ownerOf(o), headers...)...)
			if r.status != http.StatusUnprocessableEntity || !names(r, "body") {
				t.Errorf("%s %s with body %q: %d %s (want 422 naming body)", o.method, o.path, raw, r.status, r.raw)
			}
		}
	}
	e2 := newEnv(t)
	r := e2.call("POST", "/api/v1/intents", `{"title":"a"} xyz`)
	if r.status != 422 || !strings.Contains(r.body["detail"].(string), "one JSON value") {
		t.Fatalf(`{"title":"a"} xyz: %d %s`, r.status, r.raw)
	}
	if r := e2.call("POST", "/api/v1/intents", "{\"title\":\"a\"}\n \t"); r.status != 200 {
		t.Fatalf("trailing white space: %d %s", r.status, r.raw)
	}
}

// successProperties are the top-level properties of an operation's 200/201 object answer.
func successProperties(op *openapi3.Operation) map[string]*openapi3.SchemaRef {
	out := map[string]*openapi3.SchemaRef{}
	for _, code := range []int{200, 201} {
		r := op.Responses.Status(code)
		if r == nil || r.Value == nil || r.Value.Content.Get("application/json") == nil {
			continue
		}
		s := r.Value.Content.Get("application/json").Schema
		if s.Value.Type.Is("array") {
			return nil
		}
		collectProperties(s, out)
		return out
	}
	return nil
}

func collectProperties(s *openapi3.SchemaRef, out map[string]*openapi3.SchemaRef) {
	if s == nil || s.Value == nil {
		return
	}
	for k, v := range s.Value.Properties {
		out[k] = v
	}
	for _, sub := range s.Value.AllOf {
		collectProperties(sub, out)
	}
}

// TestReadOnlyFieldsAreRefused: on every operation with a body, a top-level field of the
// operation's resource (its answer) that the request does not define is refused with 422
// naming it, never dropped; a field of the request with a value of the wrong type is refused
// naming it; a field neither has is ignored and named in the OpenIntent-Ignored-Fields header.
func TestReadOnlyFieldsAreRefused(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	refused := 0
	for _, o := range bodyOps(t) {
		path, _, headers := w.request(o)
		schema := o.op.RequestBody.Value.Content.Get("application/json").Schema
		req := map[string]*openapi3.SchemaRef{}
		collectProperties(schema, req)
		resource := successProperties(o.op)
		open := schema.Value.AdditionalProperties.Has != nil && *schema.Value.AdditionalProperties.Has ||
			schema.Value.AdditionalProperties.Schema != nil
		shared := false
		for k := range resource {
			if req[k] != nil {
				shared = true
			}
		}
		label := o.method + " " + o.path
		for k, ps := range resource {
			if req[k] != nil || !shared || open {
				continue
			}
			body := w.freshBody(o)
			m, ok := body.(map[string]any)
			if !ok {
				continue
			}
			m[k] = w.sample(ps, k, 0)
			r := e.call(o.method, path, m, append(ownerOf(o), headers...)...)
			if r.status != http.StatusUnprocessableEntity || !names(r, k) || !strings.Contains(r.raw, "read-only") {
				t.Errorf("%s: read-only %s: %d %s (want 422 naming it)", label, k, r.status, r.raw)
			}
			refused++
		}
		// Wrong types.
		for k, ps := range req {
			wrong := wrongValue(ps)
			if wrong == nil {
				continue
			}
			m, ok := w.freshBody(o).(map[string]any)
			if !ok {
				continue
			}
			m[k] = wrong
			r := e.call(o.method, path, m, append(ownerOf(o), headers...)...)
			if r.status != http.StatusUnprocessableEntity || !names(r, k) {
				t.Errorf("%s: %s = %#v (wrong type): %d %s (want 422 naming it)", label, k, wrong, r.status, r.raw)
			}
		}
	}
	if refused < 50 {
		t.Fatalf("only %d read-only fields found: the walk is broken", refused)
	}

	// The example, and the unknown-field rule.
	e2 := newEnv(t)
	r := e2.call("POST", "/api/v1/intents", map[string]any{"title": "a", "confidence": "high"})
	if r.status != 422 || !names(r, "confidence") {
		t.Fatalf(`{"title":"a","confidence":"high"}: %d %s`, r.status, r.raw)
	}
	r = e2.must(200, "POST", "/api/v1/intents", map[string]any{"title": "a", "initial_state": map[string]any{}, "zeta": 1})
	if got := r.header.Get(server.IgnoredFieldsHeader); got != "initial_state, zeta" {
		t.Fatalf("%s = %q, want the unknown fields", server.IgnoredFieldsHeader, got)
	}
	r = e2.must(200, "POST", "/api/v1/intents", map[string]any{"title": "a"})
	if got := r.header.Get(server.IgnoredFieldsHeader); got != "" {
		t.Fatalf("%s = %q on a body without unknown fields", server.IgnoredFieldsHeader, got)
	}
}

// wrongValue is a JSON value that schema s refuses by type, or nil when s has no single type.
func wrongValue(s *openapi3.SchemaRef) any {
	if s == nil || s.Value == nil || len(s.Value.AllOf)+len(s.Value.OneOf)+len(s.Value.AnyOf) > 0 {
		return nil
	}
	v := s.Value
	switch {
	case v.Type.Is("string"), v.Type.Is("array"), v.Type.Is("boolean"):
		return map[string]any{"wrong": true}
	case v.Type.Is("integer"), v.Type.Is("number"), v.Type.Is("object"):
		return "wrong"
	}
	return nil
}

// TestPythonSDKBodiesAreAccepted sends the bodies the Python SDK builds, as it builds them
// (fields our spec does not take, nulls for unset options, zone-less times): the read-only rule
// must not refuse them.
func TestPythonSDKBodiesAreAccepted(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("python", nil)
	ip := "/api/v1/intents/" + id(in)
	naive := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04:05.999999")
	cases := []struct {
		method, path string
		body         map[string]any
		headers      []string
	}{
		{"POST", "/api/v1/intents", map[string]any{"title": "t", "description": "", "constraints": map[string]any{}, "state": map[string]any{},
			"created_by": "agent-a", "parent_intent_id": id(in), "depends_on": []string{}}, nil},
		{"POST", ip + "/children", map[string]any{"title": "c", "description": "", "constraints": map[string]any{}, "state": map[string]any{},
			"parent_intent_id": id(in), "depends_on": []string{}}, nil},
		{"POST", ip + "/events", map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{},
			"trace_id": "0123456789abcdef0123456789abcdef", "parent_event_id": nil}, nil},
		{"POST", ip + "/leases", map[string]any{"scope": "s", "duration_seconds": 300}, nil},
		{"POST", "/api/v1/portfolios", map[string]any{"name": "p", "description": nil, "created_by": "agent-a", "governance_policy": map[string]any{},
			"metadata": map[string]any{}}, nil},
		{"POST", ip + "/costs", map[string]any{"agent_id": "agent-a", "cost_type": "tokens", "amount": 10, "unit": "tokens", "provider": nil,
			"metadata": map[string]any{}}, nil},
		{"PUT", ip + "/retry-policy", map[string]any{"strategy": "exponential", "max_retries": 3, "base_delay_ms": 1000, "max_delay_ms": 60000,
			"fallback_agent_id": nil, "failure_threshold": 3}, nil},
		{"POST", ip + "/failures", map[string]any{"agent_id": "agent-a", "attempt_number": 1, "error_code": "timeout", "error_message": "slow",
			"retry_scheduled_at": naive, "metadata": map[string]any{}}, nil},
		{"POST", "/api/v1/subscriptions", map[string]any{"intent_id": id(in), "portfolio_id": nil, "subscriber_id": "agent-a", "event_types": []string{},
			"webhook_url": "https://example.com/hook", "expires_at": naive}, nil},
		{"POST", ip + "/arbitrate", map[string]any{"reason": "r", "context": map[string]any{}}, nil},
		{"POST", ip + "/decisions", map[string]any{"decision_type": "d", "outcome": "o", "reasoning": "because"}, nil},
		{"POST", "/api/v1/agents/register", map[string]any{"agent_id": "agent-a", "capabilities": []string{}}, nil},
		{"POST", "/api/v1/agents/agent-a/heartbeat", map[string]any{"status": "active", "current_load": 0, "tasks_in_progress": []string{}}, nil},
	}
	for _, c := range cases {
		r := e.call(c.method, c.path, c.body, c.headers...)
		if r.status >= 300 {
			t.Errorf("%s %s %v: %d %s", c.method, c.path, c.body, r.status, r.raw)
		}
	}
	// The child's parent_intent_id is the path's, as the Python SDK sends it; another is refused.
	r := e.call("POST", ip+"/children", map[string]any{"title": "c", "parent_intent_id": "someone-else"})
	if r.status != 422 || !names(r, "parent_intent_id") {
		t.Fatalf("child with another parent_intent_id: %d %s", r.status, r.raw)
	}
}
