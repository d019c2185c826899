package openintent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
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
	var names []string
	for _, dir := range []string{".", "openintenttest"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if n := e.Name(); !e.IsDir() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
				names = append(names, filepath.Join(dir, n))
			}
		}
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range names {
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
