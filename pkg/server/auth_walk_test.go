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
