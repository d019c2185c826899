package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/server"
)

// TestEveryOperationRequiresAKey walks every operation of the spec without X-API-Key: each
// answers 401, except the ones the spec marks public (security: []).
func TestEveryOperationRequiresAKey(t *testing.T) {
	e := newEnv(t)
	spec, err := server.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	n := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			url := param.ReplaceAllString(path, "x")
			var body any
			if op.RequestBody != nil {
				body = "{}"
			}
			r := e.call(method, url, body, "X-API-Key", "", "X-Agent-ID", "")
			n++
			switch {
			case public && r.status == http.StatusUnauthorized:
				t.Errorf("%s %s (%s) is public but answered 401", method, path, op.OperationID)
			case !public && r.status != http.StatusUnauthorized:
				t.Errorf("%s %s (%s) without a key answered %d, want 401", method, path, op.OperationID, r.status)
			case !public && !strings.Contains(r.raw, "API key"):
				t.Errorf("%s %s: 401 body %s", method, path, r.raw)
			}
		}
	}
	if n < 28 {
		t.Fatalf("walked only %d operations", n)
	}
}

// TestValidationComesBeforeHandlers checks that a request is validated before its handler runs
// (an operation still unbuilt would answer 501 only to a valid request: see
// TestNotImplementedAnswer and TestNoOperationAnswers501).
func TestValidationComesBeforeHandlers(t *testing.T) {
	e := newEnv(t)
	// A bad body is 422 naming the field.
	r := e.must(http.StatusUnprocessableEntity, "POST", "/api/v1/memory", map[string]any{"namespace": "n", "value": map[string]any{}})
	if !strings.Contains(r.raw, `"field":"key"`) {
		t.Errorf("422 does not name the field: %s", r.raw)
	}
}

// TestMalformedInputGets4xx: overflowing numbers, bad JSON pointers and malformed ids are
// refused with a 4xx that names the problem, never a 500.
func TestMalformedInputGets4xx(t *testing.T) {
	e := newEnv(t)
	in := e.createIntent("Target", map[string]any{"state": map[string]any{"a": map[string]any{"b": 1}}})
	ver := ifMatch(in["version"])
	cases := []struct {
		name, method, path string
		body               any
		headers            []string
		want               string
	}{
		{"huge limit", "GET", "/api/v1/intents?limit=99999999999999999999", nil, nil, "limit"},
		{"huge offset", "GET", "/api/v1/intents/" + id(in) + "/events?offset=1e99", nil, nil, "offset"},
		{"bad pointer escape", "POST", "/api/v1/intents/" + id(in) + "/state",
			map[string]any{"patches": []any{map[string]any{"op": "set", "path": "/a/~2", "value": 1}}}, ver, "patches/0/path"},
		{"pointer through a scalar", "POST", "/api/v1/intents/" + id(in) + "/state",
			map[string]any{"patches": []any{map[string]any{"op": "set", "path": "/a/b/c", "value": 1}}}, ver, "patches/0/path"},
		{"huge If-Match", "POST", "/api/v1/intents/" + id(in) + "/state",
			map[string]any{"state": map[string]any{}}, []string{"If-Match", "99999999999999999999"}, "If-Match"},
		{"id with NUL", "GET", "/api/v1/intents/a%00b", nil, nil, "ntent"},
		{"very long id", "GET", "/api/v1/intents/" + strings.Repeat("x", 5000), nil, nil, "ntent"},
	}
	for _, c := range cases {
		r := e.call(c.method, c.path, c.body, c.headers...)
		if r.status < 400 || r.status >= 500 || !strings.Contains(r.raw, c.want) {
			t.Errorf("%s: %d %s (want a 4xx naming %q)", c.name, r.status, r.raw, c.want)
		}
	}
}
