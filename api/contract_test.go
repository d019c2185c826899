package api_test

// Tests of issue #18, points 8-11: the spec declares what servers really do, in a form code
// generators for strict languages can use.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// parsedSpec is the spec, loaded and validated once for the tests of this file (loading it
// takes a second under the race detector). They only read it.
var parsedSpec = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(specPath())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("spec is not valid OpenAPI 3.0: %w", err)
	}
	return doc, nil
})

func contractSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := parsedSpec()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

type operation struct {
	method, path string
	op           *openapi3.Operation
}

func (o operation) String() string { return o.method + " " + o.path + " (" + o.op.OperationID + ")" }

// operations lists the spec's operations in a stable order.
func operations(doc *openapi3.T) []operation {
	var out []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out = append(out, operation{method, path, op})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func isPublic(op *openapi3.Operation) bool { return op.Security != nil && len(*op.Security) == 0 }

// isStream reports whether the operation answers a text/event-stream.
func isStream(op *openapi3.Operation) bool {
	for _, r := range op.Responses.Map() {
		if r.Value != nil && r.Value.Content.Get("text/event-stream") != nil {
			return true
		}
	}
	return false
}

// The server applies its Idempotency-Key protocol (pkg/server/idempotency.go) to every
// authenticated POST and PATCH; each of them must say so: the header, the replay marker on its
// success answers and the 400 (malformed key) and 422 (key reused) it can answer.
func TestIdempotencyIsDeclared(t *testing.T) {
	doc := contractSpec(t)
	n := 0
	for _, o := range operations(doc) {
		if (o.method != "POST" && o.method != "PATCH") || isPublic(o.op) || isStream(o.op) {
			continue
		}
		n++
		found := false
		for _, p := range o.op.Parameters {
			if p.Ref == "#/components/parameters/IdempotencyKey" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no Idempotency-Key parameter ($ref #/components/parameters/IdempotencyKey)", o)
		}
		for code, r := range o.op.Responses.Map() {
			if strings.HasPrefix(code, "2") && (r.Value == nil || r.Value.Headers["Idempotent-Replayed"] == nil) {
				t.Errorf("%s: response %s does not declare the Idempotent-Replayed header", o, code)
			}
		}
		for _, code := range []string{"400", "422", "409"} {
			if o.op.Responses.Value(code) == nil {
				t.Errorf("%s: does not document %s (Idempotency-Key: invalid key 400, reused key 422, lost response 409)", o, code)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d idempotent operations found", n)
	}
	p := doc.Components.Parameters["IdempotencyKey"]
	if p == nil || p.Value.In != "header" || p.Value.Name != "Idempotency-Key" {
		t.Fatalf("components/parameters/IdempotencyKey is not the Idempotency-Key header: %+v", p)
	}
}

// Every authenticated operation can be refused by the rate limiter (per key, and per client
// address after failed authentications) and by the authenticator.
func TestAuthenticatedOperationsDocumentRateLimitingAndAuthentication(t *testing.T) {
	doc := contractSpec(t)
	for _, o := range operations(doc) {
		if isPublic(o.op) {
			continue
		}
		if r := o.op.Responses.Value("429"); r == nil || r.Ref != "#/components/responses/TooManyRequests" {
			t.Errorf("%s: does not answer 429 with #/components/responses/TooManyRequests", o)
		}
		if o.op.Responses.Value("401") == nil {
			t.Errorf("%s: does not document 401", o)
		}
		if o.op.RequestBody != nil {
			for _, code := range []string{"408", "413", "415", "422"} {
				if o.op.Responses.Value(code) == nil {
					t.Errorf("%s: takes a body but does not document %s", o, code)
				}
			}
		}
	}
	tmr := doc.Components.Responses["TooManyRequests"]
	if tmr == nil || tmr.Value.Headers["Retry-After"] == nil {
		t.Error("TooManyRequests does not declare Retry-After")
	}
}

// Error.detail is typed as what servers send: a string (this server), or the reference
// server's object or list of validation issues; Error.code names a known code or any string.
func TestErrorBodiesAreTyped(t *testing.T) {
	doc := contractSpec(t)
	errSchema := doc.Components.Schemas["Error"].Value
	good := []string{
		`{"detail":"Version conflict","code":"version_conflict","current_version":4}`,
		`{"detail":"Intent not found"}`,
		`{"detail":{"error":"governance_violation","rule":"write_scope","message":"nope"}}`,
		`{"detail":[{"type":"missing","loc":["body","patches",0,"path"],"msg":"Field required","input":null}]}`,
		`{"detail":"x","code":"a_code_from_a_newer_server"}`,
	}
	for _, b := range good {
		if err := errSchema.VisitJSON(decode(t, b), openapi3.VisitAsResponse()); err != nil {
			t.Errorf("Error refuses %s: %v", b, err)
		}
	}
	for _, b := range []string{`{"detail":42}`, `{"detail":[1]}`, `{"code":"internal"}`} {
		if err := errSchema.VisitJSON(decode(t, b), openapi3.VisitAsResponse()); err == nil {
			t.Errorf("Error accepts %s", b)
		}
	}
	codes := doc.Components.Schemas["ErrorCode"]
	if codes == nil || len(codes.Value.Enum) < 40 {
		t.Fatal("ErrorCode lists too few codes")
	}
	descs, _ := codes.Value.Extensions["x-enum-descriptions"].([]any)
	if len(descs) != len(codes.Value.Enum) {
		t.Errorf("ErrorCode has %d values and %d x-enum-descriptions", len(codes.Value.Enum), len(descs))
	}
}

// walkResponses calls visit on every schema a response body can hold (operations' responses,
// through components; not requests, not callbacks), with the chain of names leading to it.
func walkResponses(doc *openapi3.T, visit func(s *openapi3.SchemaRef, where string, parent *openapi3.Schema)) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(s *openapi3.SchemaRef, where string, parent *openapi3.Schema)
	walk = func(s *openapi3.SchemaRef, where string, parent *openapi3.Schema) {
		if s == nil || s.Value == nil {
			return
		}
		if s.Ref != "" {
			where = strings.TrimPrefix(s.Ref, "#/components/schemas/")
		}
		visit(s, where, parent)
		v := s.Value
		if seen[v] {
			return
		}
		seen[v] = true
		for name, p := range v.Properties {
			walk(p, where+"."+name, v)
		}
		walk(v.Items, where+"[]", v)
		walk(v.AdditionalProperties.Schema, where+"{}", v)
		for _, xs := range []openapi3.SchemaRefs{v.AllOf, v.AnyOf, v.OneOf} {
			for _, x := range xs {
				walk(x, where, v)
			}
		}
	}
	for _, o := range operations(doc) {
		for code, r := range o.op.Responses.Map() {
			if r.Value == nil {
				continue
			}
			for mt, m := range r.Value.Content {
				walk(m.Schema, fmt.Sprintf("%s %s %s", o, code, mt), nil)
			}
		}
	}
}

// plainStringBranch reports whether one of the anyOf branches of parent is a string without an
// enum (so that any value is accepted).
func plainStringBranch(parent *openapi3.Schema) bool {
	if parent == nil {
		return false
	}
	for _, b := range parent.AnyOf {
		if b.Value != nil && b.Value.Type.Is("string") && len(b.Value.Enum) == 0 && b.Value.Pattern == "" && b.Value.Format == "" {
			return true
		}
	}
	return false
}

func isBranchOf(s *openapi3.SchemaRef, parent *openapi3.Schema) bool {
	if parent == nil {
		return false
	}
	for _, b := range parent.AnyOf {
		if b == s || b.Value == s.Value {
			return true
		}
	}
	return false
}

// Response enums are open: other servers (the reference server stores free text in several of
// them) and later versions send values a client does not know, so every enum a response can hold
// is a branch of an anyOf with a plain string, which generators for strict languages turn into
// "known value or any string".
func TestResponseEnumsAcceptUnknownValues(t *testing.T) {
	doc := contractSpec(t)
	bad := map[string]bool{}
	walkResponses(doc, func(s *openapi3.SchemaRef, where string, parent *openapi3.Schema) {
		if len(s.Value.Enum) == 0 {
			return
		}
		if !(isBranchOf(s, parent) && plainStringBranch(parent)) {
			bad[where] = true
		}
	})
	for _, w := range sortedKeys(bad) {
		t.Errorf("%s: a closed enum in a response; use anyOf: [{$ref: <the enum>}, {type: string}] (and an x-go-type overlay action in api/codegen-overlay.yaml to keep the Go type)", w)
	}
}

// Response timestamps accept the reference server's zone-less form (naive UTC) besides RFC 3339:
// a `date-time` in a response is a branch of an anyOf whose other branch takes the zone-less form.
func TestResponseTimestampsAcceptTheZonelessForm(t *testing.T) {
	doc := contractSpec(t)
	for _, name := range []string{"Timestamp", "NullableTimestamp"} {
		s := doc.Components.Schemas[name].Value
		for _, v := range []string{"2026-11-23T00:16:43.218731Z", "2026-11-23T00:16:43+01:00", "2026-11-23T00:16:43.218731", "2026-11-23T00:16:43"} {
			if err := s.VisitJSON(v); err != nil {
				t.Errorf("%s refuses %q: %v", name, v, err)
			}
		}
		for _, v := range []string{"yesterday", "2026-11-23", "23/11/2026 00:16"} {
			if err := s.VisitJSON(v); err == nil {
				t.Errorf("%s accepts %q", name, v)
			}
		}
	}
	if err := doc.Components.Schemas["NullableTimestamp"].Value.VisitJSON(nil); err != nil {
		t.Errorf("NullableTimestamp refuses null: %v", err)
	}
	bad := map[string]bool{}
	walkResponses(doc, func(s *openapi3.SchemaRef, where string, parent *openapi3.Schema) {
		if s.Value.Format != "date-time" {
			return
		}
		zoneless := false
		if isBranchOf(s, parent) {
			for _, b := range parent.AnyOf {
				if b.Value != nil && b.Value.VisitJSON("2026-11-23T00:16:43.218731") == nil {
					zoneless = true
				}
			}
		}
		if !zoneless {
			bad[where] = true
		}
	})
	for _, w := range sortedKeys(bad) {
		t.Errorf("%s: a date-time in a response that refuses the zone-less form; use $ref Timestamp or NullableTimestamp", w)
	}
}

// The typed event model: event_type fields refer to EventType, whose x-payload-schemas ties each
// type to its payload's schema; every stream answers frames described once (SseFrame); webhook
// deliveries are a callback of createSubscription with their signature headers.
func TestEventModelIsTyped(t *testing.T) {
	doc := contractSpec(t)
	et := doc.Components.Schemas["EventType"]
	if et == nil {
		t.Fatal("no EventType schema")
	}
	payloads, ok := et.Value.Extensions["x-payload-schemas"].(map[string]any)
	if !ok {
		t.Fatal("EventType has no x-payload-schemas map")
	}
	inEnum := map[string]bool{}
	for _, e := range et.Value.Enum {
		s := e.(string)
		inEnum[s] = true
		ref, _ := payloads[s].(map[string]any)["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		if !ok || doc.Components.Schemas[name] == nil {
			t.Errorf("event type %s: x-payload-schemas gives %v, not a component schema", s, payloads[s])
		}
	}
	for s := range payloads {
		if !inEnum[s] {
			t.Errorf("x-payload-schemas maps %s, which is not in EventType's enum", s)
		}
	}
	refersToEventType := func(where string, s *openapi3.SchemaRef) {
		t.Helper()
		if s == nil || s.Value == nil {
			t.Errorf("%s: missing", where)
			return
		}
		for _, b := range s.Value.AnyOf {
			if b.Ref == "#/components/schemas/EventType" {
				return
			}
		}
		t.Errorf("%s does not refer to EventType (anyOf: [{$ref: EventType}, {type: string}])", where)
	}
	refersToEventType("IntentEvent.event_type", doc.Components.Schemas["IntentEvent"].Value.Properties["event_type"])
	refersToEventType("EventCreate.event_type", doc.Components.Schemas["EventCreate"].Value.Properties["event_type"])
	refersToEventType("Subscription.event_types[]", doc.Components.Schemas["Subscription"].Value.Properties["event_types"].Value.Items)
	refersToEventType("SubscriptionCreate.event_types[]", doc.Components.Schemas["SubscriptionCreate"].Value.Properties["event_types"].Value.Items)

	streams := 0
	for _, o := range operations(doc) {
		if !isStream(o.op) {
			continue
		}
		streams++
		r := o.op.Responses.Value("200")
		if r == nil || !strings.HasPrefix(r.Ref, "#/components/responses/") {
			t.Errorf("%s: its 200 is not a $ref to a shared stream response", o)
			continue
		}
		s := r.Value.Content.Get("text/event-stream").Schema
		frame := false
		if s != nil && s.Value != nil {
			for _, b := range s.Value.AllOf {
				frame = frame || b.Ref == "#/components/schemas/SseFrame"
			}
		}
		if !frame {
			t.Errorf("%s: its text/event-stream schema is not an allOf of SseFrame", o)
		}
	}
	if streams < 6 {
		t.Errorf("only %d stream operations", streams)
	}
	sf := doc.Components.Schemas["SseFrame"]
	for _, f := range []string{"id", "event", "data", "retry"} {
		if sf == nil || sf.Value.Properties[f] == nil {
			t.Errorf("SseFrame does not describe %q", f)
		}
	}

	create := doc.Paths.Find("/api/v1/subscriptions").Post
	cb := create.Callbacks["eventDelivery"]
	if cb == nil || cb.Value == nil || cb.Value.Len() != 1 {
		t.Fatal("createSubscription has no eventDelivery callback")
	}
	for expr, item := range cb.Value.Map() {
		if expr != "{$request.body#/webhook_url}" || item.Post == nil {
			t.Fatalf("the callback is %s, want POST {$request.body#/webhook_url}", expr)
		}
		headers := map[string]bool{}
		for _, p := range item.Post.Parameters {
			if p.Value.In == "header" {
				headers[p.Value.Name] = true
			}
		}
		for _, h := range []string{"X-OpenIntent-Delivery", "X-OpenIntent-Event", "X-OpenIntent-Timestamp", "X-OpenIntent-Signature"} {
			if !headers[h] {
				t.Errorf("the webhook callback does not declare %s", h)
			}
		}
		body := item.Post.RequestBody.Value.Content.Get("application/json").Schema
		if body.Ref != "#/components/schemas/WebhookDelivery" {
			t.Errorf("the webhook body is %q, want WebhookDelivery", body.Ref)
		}
	}
}

// example is one example of the spec and the schema it must match.
type example struct {
	where    string
	value    any
	schema   *openapi3.SchemaRef
	response bool
}

// examples collects every example of the spec: media types of requests, responses (components'
// too) and callbacks, parameters and component schemas.
func examples(doc *openapi3.T) []example {
	var out []example
	media := func(where string, m *openapi3.MediaType, response bool) {
		if m == nil {
			return
		}
		if m.Example != nil {
			out = append(out, example{where, m.Example, m.Schema, response})
		}
		for name, ex := range m.Examples {
			if ex.Value != nil && ex.Value.Value != nil {
				out = append(out, example{where + " example " + name, ex.Value.Value, m.Schema, response})
			}
		}
	}
	var ops func(prefix string, paths map[string]*openapi3.PathItem)
	ops = func(prefix string, paths map[string]*openapi3.PathItem) {
		for path, item := range paths {
			for method, op := range item.Operations() {
				where := prefix + method + " " + path
				if op.RequestBody != nil && op.RequestBody.Value != nil {
					for mt, m := range op.RequestBody.Value.Content {
						media(where+" request "+mt, m, false)
					}
				}
				for code, r := range op.Responses.Map() {
					if r.Value != nil && r.Ref == "" {
						for mt, m := range r.Value.Content {
							media(where+" "+code+" "+mt, m, true)
						}
					}
				}
				for _, p := range op.Parameters {
					if p.Value != nil && p.Ref == "" && p.Value.Example != nil {
						out = append(out, example{where + " parameter " + p.Value.Name, p.Value.Example, p.Value.Schema, false})
					}
				}
				for name, cb := range op.Callbacks {
					if cb.Value != nil {
						ops(where+" callback "+name+": ", cb.Value.Map())
					}
				}
			}
		}
	}
	ops("", doc.Paths.Map())
	for name, r := range doc.Components.Responses {
		for mt, m := range r.Value.Content {
			media("responses/"+name+" "+mt, m, true)
		}
	}
	for name, p := range doc.Components.Parameters {
		if p.Value.Example != nil {
			out = append(out, example{"parameters/" + name, p.Value.Example, p.Value.Schema, false})
		}
	}
	for name, s := range doc.Components.Schemas {
		if s.Value.Example != nil {
			out = append(out, example{"schemas/" + name, s.Value.Example, s, true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

// Every example of the spec matches its schema (kin-openapi's validation, as the server's), so
// that documentation, mock servers and tests generated from the spec are right.
func TestExamplesMatchTheirSchemas(t *testing.T) {
	doc := contractSpec(t)
	all := examples(doc)
	if len(all) < 100 {
		t.Fatalf("only %d examples", len(all))
	}
	for _, ex := range all {
		if ex.schema == nil || ex.schema.Value == nil {
			t.Errorf("%s: an example without a schema", ex.where)
			continue
		}
		// Through JSON, as a client would see it (YAML gives ints where JSON gives float64).
		b, err := json.Marshal(ex.value)
		if err != nil {
			t.Errorf("%s: %v", ex.where, err)
			continue
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", ex.where, err)
			continue
		}
		opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors()}
		if ex.response {
			opts = append(opts, openapi3.VisitAsResponse())
		} else {
			opts = append(opts, openapi3.VisitAsRequest())
		}
		if err := ex.schema.Value.VisitJSON(v, opts...); err != nil {
			t.Errorf("%s: the example does not match its schema: %v", ex.where, err)
		}
	}
}

// mainTags are the areas whose operations must show an example of every success answer.
var mainTags = map[string]bool{
	"Intents": true, "Intent graphs": true, "Leases": true, "Portfolios": true, "Subscriptions": true,
	"Tasks and plans": true, "Memory": true, "Agents": true, "Triggers": true, "Discovery": true, "Operations": true,
}

func TestMainOperationsShowExamples(t *testing.T) {
	doc := contractSpec(t)
	for _, o := range operations(doc) {
		if !mainTags[o.op.Tags[0]] {
			continue
		}
		for code, r := range o.op.Responses.Map() {
			if !strings.HasPrefix(code, "2") || r.Value == nil {
				continue
			}
			for mt, m := range r.Value.Content {
				if m.Example == nil && len(m.Examples) == 0 {
					t.Errorf("%s: response %s %s has no example", o, code, mt)
				}
			}
		}
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
