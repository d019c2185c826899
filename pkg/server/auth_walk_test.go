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

// TestUnbuiltOperationsAnswer501 checks that operations of later issues answer 501 with a clear
// error after authentication and validation, rather than 404 or 500.
func TestUnbuiltOperationsAnswer501(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/portfolios", map[string]any{"name": "P"}},
		{"GET", "/api/v1/tasks/t1", nil},
		{"POST", "/api/v1/memory", map[string]any{"namespace": "n", "key": "k", "value": map[string]any{}}},
	} {
		r := e.must(http.StatusNotImplemented, c.method, c.path, c.body)
		if r.body["code"] != "not_implemented" || !strings.Contains(r.body["detail"].(string), "not implemented") {
			t.Errorf("%s %s: %v", c.method, c.path, r.body)
		}
	}
	// Validation still applies first: a bad body is 422 naming the field, not 501.
	r := e.must(http.StatusUnprocessableEntity, "POST", "/api/v1/portfolios", map[string]any{"description": "no name"})
	if !strings.Contains(r.raw, "name") {
		t.Errorf("422 does not name the field: %s", r.raw)
	}
}
