package server

import (
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	genserver "github.com/openintent-go/openintent/gen/server"
)

// TestNoOperationAnswers501 fails while an operation of the spec has no handler of its own: the
// handlers type must declare the operation's method itself (in a non-test file of this package),
// rather than inherit the generated stub of genserver.Unimplemented that answers 501
// not_implemented, unless the operation is an event stream served by the stream handlers
// (streamRoutes). The stubs (internal/genstubs) stay: an operation added to the spec compiles
// and answers 501 until it is built, and this test says which ones are not built yet.
func TestNoOperationAnswers501(t *testing.T) {
	declared := handlerMethods(t)
	spec, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	iface := reflect.TypeOf((*genserver.StrictServerInterface)(nil)).Elem()
	var missing []string
	n := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			name := strings.ToUpper(op.OperationID[:1]) + op.OperationID[1:]
			if _, ok := iface.MethodByName(name); !ok {
				t.Errorf("operation %s: the strict server interface has no method %s", op.OperationID, name)
				continue
			}
			if _, stream := streamRoutes[method+" "+path]; stream {
				continue
			}
			if !declared[name] {
				missing = append(missing, op.OperationID)
			}
		}
	}
	if n < 100 {
		t.Fatalf("read only %d operations from the spec", n)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d operations of the spec answer 501 (no handler method of their own): %s", len(missing), strings.Join(missing, ", "))
	}
}

// TestStreamOperationsAreServed checks the other half: every stream route the stream handlers
// serve is an operation of the spec (so the exemption above covers no stale pattern).
func TestStreamOperationsAreServed(t *testing.T) {
	spec, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for pattern := range streamRoutes {
		method, path, _ := strings.Cut(pattern, " ")
		item := spec.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("stream route %s is not an operation of the spec", pattern)
		}
	}
}

// handlerMethods returns the names of the methods declared with a *handlers receiver in the
// package's non-test files.
func handlerMethods(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
				if id, ok := star.X.(*ast.Ident); ok && id.Name == "handlers" {
					out[fn.Name.Name] = true
				}
			}
		}
	}
	if len(out) < 50 {
		t.Fatalf("found only %d handler methods", len(out))
	}
	return out
}

// TestNotImplementedAnswer checks the answer of an operation added to the spec before it is
// built: the generated stub's error becomes 501 with code not_implemented.
func TestNotImplementedAnswer(t *testing.T) {
	_, err := genserver.Unimplemented{}.GetHealth(context.Background(), genserver.GetHealthRequestObject{})
	if !errors.Is(err, genserver.ErrNotImplemented) {
		t.Fatalf("stub: %v", err)
	}
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/healthz", nil), nil, err)
	var body struct{ Detail, Code string }
	if rec.Code != http.StatusNotImplemented || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Code != "not_implemented" ||
		!strings.Contains(body.Detail, "not implemented") {
		t.Fatalf("answer: %d %s", rec.Code, rec.Body)
	}
}
