package server_test

// Tests of issue #18 (the spec as a contract for every language): the spec lists every error
// code and event type the server sends, every event payload matches its type's schema, and the
// server serves the whole contract.

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/server"
)

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// literal returns the string a literal expression holds; for "prefix"+x it returns prefix and
// partial=true.
func literal(e ast.Expr) (s string, partial, ok bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, err := strconv.Unquote(x.Value)
			return s, false, err == nil
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			if s, _, ok := literal(x.X); ok {
				return s, true, true
			}
		}
	case *ast.ParenExpr:
		return literal(x.X)
	}
	return "", false, false
}

// localStrings maps each identifier of fn to the string literals assigned to it in fn.
func localStrings(fn *ast.FuncDecl) map[string][]string {
	out := map[string][]string{}
	if fn.Body == nil {
		return out
	}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
			for i, l := range as.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					if s, partial, ok := literal(as.Rhs[i]); ok && !partial {
						out[id.Name] = append(out[id.Name], s)
					}
				}
			}
		}
		return true
	})
	return out
}

// sentErrorCodes finds every error code pkg/server can send: the `code` of apiError literals,
// the code argument of the helpers that build one (badRequest, forbidden, conflict, ...), and
// string literals assigned to variables named code. A code built as "prefix"+x is returned as
// a prefix.
func sentErrorCodes(t *testing.T) (codes, prefixes map[string]bool) {
	files := parseDir(t, ".")
	codes, prefixes = map[string]bool{}, map[string]bool{}
	add := func(e ast.Expr) {
		if s, partial, ok := literal(e); ok {
			if partial {
				prefixes[s] = true
			} else {
				codes[s] = true
			}
		}
	}
	// Helpers with a `code string` parameter that return an *apiError.
	helpers := map[string]int{}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
				continue
			}
			if star, ok := fn.Type.Results.List[0].Type.(*ast.StarExpr); !ok || types(star.X) != "apiError" {
				continue
			}
			i := 0
			for _, p := range fn.Type.Params.List {
				for _, n := range p.Names {
					if n.Name == "code" {
						helpers[fn.Name.Name] = i
					}
					i++
				}
			}
		}
	}
	if len(helpers) < 3 {
		t.Fatalf("found only the error helpers %v", helpers)
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				if types(x.Type) == "apiError" {
					for _, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && types(kv.Key) == "code" {
							add(kv.Value)
						}
					}
				}
			case *ast.CallExpr:
				if id, ok := x.Fun.(*ast.Ident); ok {
					if i, ok := helpers[id.Name]; ok && i < len(x.Args) {
						add(x.Args[i])
					}
				}
			case *ast.AssignStmt:
				if len(x.Lhs) == len(x.Rhs) {
					for i, l := range x.Lhs {
						if types(l) == "code" {
							add(x.Rhs[i])
						}
					}
				}
			}
			return true
		})
	}
	return codes, prefixes
}

// types names an identifier or the selector's field (x.code -> code).
func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	}
	return ""
}

func specEnum(t *testing.T, schema string) map[string]bool {
	t.Helper()
	spec, err := server.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	s := spec.Components.Schemas[schema]
	if s == nil {
		t.Fatalf("the spec has no %s schema", schema)
	}
	out := map[string]bool{}
	for _, v := range s.Value.Enum {
		out[v.(string)] = true
	}
	return out
}

// Every error code the server sends is one of the spec's ErrorCode values, and every value is
// sent: clients in other languages switch on them.
func TestSpecListsEveryErrorCodeTheServerSends(t *testing.T) {
	codes, prefixes := sentErrorCodes(t)
	if len(codes) < 40 {
		t.Fatalf("found only %d codes in pkg/server: the scan is broken", len(codes))
	}
	enum := specEnum(t, "ErrorCode")
	for _, c := range sortedSet(codes) {
		if !enum[c] {
			t.Errorf("the server sends code %q, which the spec's ErrorCode does not list (api/openapi.yaml, with its x-enum-descriptions entry)", c)
		}
	}
	for _, p := range sortedSet(prefixes) {
		found := false
		for c := range enum {
			found = found || strings.HasPrefix(c, p)
		}
		if !found {
			t.Errorf("the server sends codes %q+..., none of which ErrorCode lists", p)
		}
	}
	for _, c := range sortedSet(enum) {
		sent := codes[c]
		for p := range prefixes {
			sent = sent || strings.HasPrefix(c, p)
		}
		if !sent {
			t.Errorf("ErrorCode lists %q, which the server never sends", c)
		}
	}
}

// appendedEventTypes finds the event types pkg/server and pkg/store append as literals: the
// type argument of AppendEvent (or a local variable holding literals) and `EventType:` in
// IntentEvent and Change literals. Types named by models.EventType constants come from the
// spec's enum already.
func appendedEventTypes(t *testing.T) map[string]bool {
	out := map[string]bool{}
	for _, dir := range []string{".", "../store"} {
		for _, f := range parseDir(t, dir) {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok {
					continue
				}
				locals := localStrings(fn)
				ast.Inspect(fn, func(n ast.Node) bool {
					switch x := n.(type) {
					case *ast.CallExpr:
						if types(x.Fun) == "AppendEvent" && len(x.Args) >= 3 {
							switch a := x.Args[1].(type) {
							case *ast.BasicLit:
								s, _, _ := literal(a)
								out[s] = true
							case *ast.Ident:
								for _, s := range locals[a.Name] {
									out[s] = true
								}
							}
						}
					case *ast.KeyValueExpr:
						if types(x.Key) == "EventType" {
							if s, partial, ok := literal(x.Value); ok && !partial {
								out[s] = true
							}
						}
					}
					return true
				})
			}
		}
	}
	return out
}

// Every event type the server appends is in the spec's EventType enum (and so has a payload
// schema: the spec test checks that x-payload-schemas maps the whole enum).
func TestSpecListsEveryEventTypeTheServerAppends(t *testing.T) {
	types := appendedEventTypes(t)
	if len(types) < 20 {
		t.Fatalf("found only %d event types: the scan is broken", len(types))
	}
	enum := specEnum(t, "EventType")
	for _, typ := range sortedSet(types) {
		if !enum[typ] {
			t.Errorf("the server appends %q events, which the spec's EventType does not list (add it with its x-payload-schemas entry)", typ)
		}
	}
}

// A walk through most of the protocol appends events of many types; reading them back through
// the ResponseValidator checks each payload against its type's schema (eventcheck.go).
func TestEventPayloadsMatchTheirSchemas(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	alice := as(aliceKey, "")
	C := w.ids["C"]
	ip := "/api/v1/intents/" + C
	in := e.must(200, "GET", ip, nil, alice...).body
	in = e.must(200, "POST", ip+"/state", map[string]any{"patches": []any{map[string]any{"op": "set", "path": "/progress", "value": 0.5}}}, append(alice, ifMatch(in["version"])...)...).body
	in = e.must(200, "POST", ip+"/status", map[string]any{"status": "active", "reason": "started"}, append(alice, ifMatch(in["version"])...)...).body
	e.must(200, "POST", ip+"/agents", map[string]any{"agent_id": "helper", "role": "worker"}, alice...)
	e.must(204, "DELETE", ip+"/agents/helper", nil, alice...)
	in = e.must(200, "POST", ip+"/dependencies", map[string]any{"dependency_id": w.ids["open"]}, append(alice, ifMatch(in["version"])...)...).body
	e.must(200, "DELETE", ip+"/dependencies/"+w.ids["open"], nil, append(alice, ifMatch(in["version"])...)...)
	e.must(200, "PATCH", ip+"/leases/"+w.ids["lease"], map[string]any{"duration_seconds": 60}, alice...)
	e.must(200, "DELETE", ip+"/leases/"+w.ids["lease"], nil, alice...)
	e.must(200, "POST", "/api/v1/escalations/"+w.ids["escalation"]+"/resolve", map[string]any{"resolution": "handled"}, alice...)
	e.must(200, "POST", ip+"/approvals/"+w.ids["approval"]+"/approve", map[string]any{"notes": "fine"}, as(testKey, "dave")...)
	e.must(200, "POST", ip+"/access-requests/"+w.ids["accessRequest"]+"/deny", map[string]any{"reason": "no"}, alice...)
	task := e.must(200, "GET", "/api/v1/tasks/"+w.ids["task"], nil, alice...).body
	e.must(200, "PATCH", "/api/v1/tasks/"+w.ids["task"], map[string]any{"status": "running"}, append(alice, ifMatch(task["version"])...)...)
	plan := e.must(200, "GET", "/api/v1/plans/"+w.ids["plan"], nil, alice...).body
	e.must(200, "PATCH", "/api/v1/plans/"+w.ids["plan"], map[string]any{"state": "active"}, append(alice, ifMatch(plan["version"])...)...)
	e.must(200, "DELETE", "/api/v1/portfolios/"+w.ids["portfolio"]+"/intents/"+w.ids["open"], nil, alice...)
	fired := e.must(200, "POST", "/api/v1/triggers/"+w.ids["trigger"]+"/fire", nil, alice...).body

	enum := specEnum(t, "EventType")
	seen := map[string]bool{}
	for _, id := range []string{C, w.ids["open"], w.ids["dep"], fired["intent_id"].(string)} {
		// The ResponseValidator checks the payloads; this test checks the types are known.
		r := e.must(200, "GET", "/api/v1/intents/"+id+"/events?limit=1000", nil, alice...)
		for _, ev := range eventsOf(t, r) {
			typ := ev["event_type"].(string)
			seen[typ] = true
			if !enum[typ] && typ != "comment" {
				t.Errorf("event %v has type %q, which the spec's EventType does not list", ev["id"], typ)
			}
		}
	}
	for _, want := range []string{"intent_created", "state_patched", "status_changed", "agent_assigned", "agent_unassigned",
		"dependency_added", "dependency_removed", "lease_acquired", "lease_renewed", "lease_released", "arbitration_requested",
		"decision_recorded", "attachment_added", "cost_recorded", "failure_recorded", "added_to_portfolio", "removed_from_portfolio",
		"access_granted", "access_requested", "access_request_denied", "escalation_initiated", "escalation_resolved",
		"governance.approval_requested", "governance.approval_granted", "task.created", "task.status_changed", "plan.created",
		"plan.updated", "coordinator.granted", "trigger.fired", "channel_message", "comment"} {
		if !seen[want] {
			t.Errorf("the walk appended no %s event (seen: %v)", want, sortedSet(seen))
		}
	}
}

// eventsOf returns the events of a listIntentEvents answer (a bare list, or an envelope).
func eventsOf(t *testing.T, r resp) []map[string]any {
	t.Helper()
	list := r.list
	if list == nil {
		list, _ = r.body["events"].([]any)
	}
	var out []map[string]any
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

// GET /openapi.json serves api/openapi.yaml as written: the whole contract, the declarations the
// Go code generation leaves out (api/codegen-overlay.yaml) included.
func TestServedSpecIsTheWholeContract(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]any `json:"parameters"`
			Headers    map[string]any `json:"headers"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); res.StatusCode != 200 || err != nil {
		t.Fatalf("GET /openapi.json: %d %v %.200s", res.StatusCode, err, b)
	}
	var create struct {
		OperationID string           `json:"operationId"`
		Parameters  []map[string]any `json:"parameters"`
	}
	json.Unmarshal(doc.Paths["/api/v1/intents"]["post"], &create)
	found := false
	for _, p := range create.Parameters {
		found = found || p["$ref"] == "#/components/parameters/IdempotencyKey"
	}
	if create.OperationID != "createIntent" || !found || doc.Components.Parameters["IdempotencyKey"] == nil || doc.Components.Headers["IdempotentReplayed"] == nil {
		t.Errorf("/openapi.json lacks the Idempotency-Key declarations of api/openapi.yaml")
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
