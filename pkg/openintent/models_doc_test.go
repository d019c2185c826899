package openintent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestEveryModelTheClientUsesIsDocumented checks that every generated model a method of *Client
// takes or returns (and every model their fields use) has its SDK name in models.gen.go, whose
// doc comment lists the model's fields (internal/gensdktypes): `go doc openintent.X` shows them.
func TestEveryModelTheClientUsesIsDocumented(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "models.gen.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	aliased := map[string]bool{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			ts := s.(*ast.TypeSpec)
			if sel, ok := ts.Type.(*ast.SelectorExpr); ok {
				aliased[sel.Sel.Name] = true
				if ts.Doc != nil && strings.Contains(ts.Doc.Text(), "Fields (") && !strings.Contains(ts.Doc.Text(), "  - ") {
					t.Errorf("%s: the field list is empty", ts.Name.Name)
				}
			}
		}
	}
	const modelsPkg = "github.com/openintent-go/openintent/gen/models"
	used := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
			walk(t.Elem())
			return
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
			return
		case reflect.Func:
			for i := range t.NumIn() {
				walk(t.In(i))
			}
			for i := range t.NumOut() {
				walk(t.Out(i))
			}
			return
		}
		if t.PkgPath() != modelsPkg || t.Name() == "" || used[t.Name()] {
			return
		}
		used[t.Name()] = true
		if t.Kind() == reflect.Struct {
			for i := range t.NumField() {
				if t.Field(i).IsExported() {
					walk(t.Field(i).Type)
				}
			}
		}
	}
	ct := reflect.TypeOf(&Client{})
	for i := range ct.NumMethod() {
		walk(ct.Method(i).Type)
	}
	var missing []string
	for name := range used {
		if !aliased[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("models used by *Client without an SDK name in models_src.go (add them, then make generate): %s", strings.Join(missing, ", "))
	}
	if len(used) < 50 {
		t.Errorf("found only %d models used by *Client", len(used))
	}
}
