package openintent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// routeLike matches a string that names a route of the API: every request is built by the
// generated client (builders.go), so no such string may appear in the SDK's code.
var routeLike = regexp.MustCompile(`(^|[^A-Za-z0-9])/(api/v1|\.well-known|rfc)(/|$)|^/(intents|agents|portfolios|channels|subscribe|federation|identity|vaults|tools|memory|plans|tasks|triggers)(/|$)`)

// notRoutes are strings that look like routes but are not requests.
var notRoutes = map[string]string{
	"client.go /api/v1": "NewClient drops a trailing /api/v1 from the base URL it is given",
}

// TestNoHandWrittenRoutePaths fails when a non-test file of the SDK holds a route path: the
// paths come from the spec through gen/client, so a change in the spec reaches the SDK through
// the compiler.
func TestNoHandWrittenRoutePaths(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && routeLike.MatchString(s) && notRoutes[name+" "+s] == "" {
				t.Errorf("%s: hand-written route path %q: build the request with gen/client (builders.go)", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
	if checked < 20 {
		t.Fatalf("checked only %d files", checked)
	}
}
