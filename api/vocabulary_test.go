package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestGeneratedModelsSpeakOneVocabulary checks the Go types api/codegen-overlay.yaml gives the
// models (api/STYLE.md, "Go code"): free-form objects are Object, never a map or a pointer to
// one; times are never pointers; optional arrays are never pointers except the PATCH fields that
// tell an empty list from an absent one.
func TestGeneratedModelsSpeakOneVocabulary(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../gen/models/models.gen.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// PATCH fields where [] (clear) differs from absent (leave unchanged).
	pointerSlices := map[string]bool{"ChannelUpdate.Members": true}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			ts, ok := s.(*ast.TypeSpec)
			if !ok {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, fld := range st.Fields.List {
				typ := exprString(fld.Type)
				for _, n := range fld.Names {
					where := ts.Name.Name + "." + n.Name
					switch {
					case strings.Contains(typ, "map[string]interface{}"):
						t.Errorf("%s is %s: a free-form object is Object", where, typ)
					case typ == "*Object":
						t.Errorf("%s is *Object: a nil Object encodes as null, no pointer needed", where)
					case typ == "*Timestamp" || typ == "*NullableTimestamp":
						t.Errorf("%s is %s: a zero Timestamp encodes as null and omitzero omits it, no pointer needed", where, typ)
					case strings.HasPrefix(typ, "*[]") && !pointerSlices[where]:
						t.Errorf("%s is %s: an optional array is a slice (nil is omitted)", where, typ)
					}
				}
			}
		}
	}
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	case *ast.ArrayType:
		return "[]" + exprString(x.Elt)
	case *ast.MapType:
		return "map[" + exprString(x.Key) + "]" + exprString(x.Value)
	case *ast.InterfaceType:
		return "interface{}"
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return "?"
}
