package openintent_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/internal/rfcs"
)

// TestDocCommentsLinkTheRFCs reads the doc comments of the SDK's packages: every RFC they name
// is a doc link ([RFC-0019]) defined in the same comment as the address of that RFC's text in the
// reference implementation's repository (checked against the list of its docs/rfcs/ files;
// nothing is fetched), and none speaks of "the seed" (the Python SDK is called so).
func TestDocCommentsLinkTheRFCs(t *testing.T) {
	var (
		bare  = regexp.MustCompile(`(^|[^\[])RFC-[0-9]{4}`)
		used  = regexp.MustCompile(`\[RFC-([0-9]{4})\]`)
		def   = regexp.MustCompile(`^\[RFC-([0-9]{4})\]: (\S+)$`)
		seeds = regexp.MustCompile(`(?i)\bthe seed('s)?\b|\bseed (method|client)s?\b`)
	)
	checked := 0
	for _, dir := range []string{".", "openintenttest"} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range docComments(f) {
				checked++
				where := fset.Position(g.Pos())
				text := g.Text()
				defined := map[string]bool{}
				for _, line := range strings.Split(text, "\n") {
					m := def.FindStringSubmatch(strings.TrimSpace(line))
					if m == nil {
						continue
					}
					defined[m[1]] = true
					if want, ok := rfcs.URL(m[1]); !ok || m[2] != want || !rfcs.IsURL(m[2]) {
						t.Errorf("%s: [RFC-%s] links to %s, not the RFC's text (%s)", where, m[1], m[2], want)
					}
				}
				if bare.MatchString(text) {
					t.Errorf("%s: names an RFC without linking it ([RFC-NNNN] and its definition):\n%s", where, text)
				}
				for _, m := range used.FindAllStringSubmatch(text, -1) {
					if !defined[m[1]] {
						t.Errorf("%s: [RFC-%s] has no link definition in its comment", where, m[1])
					}
				}
				if seeds.MatchString(text) {
					t.Errorf("%s: speaks of the seed; say \"the Python SDK\":\n%s", where, text)
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d doc comments read", checked)
	}
}

// docComments returns the doc comments go doc shows: the package's, and those of declarations,
// grouped specs and struct fields.
func docComments(f *ast.File) []*ast.CommentGroup {
	var out []*ast.CommentGroup
	add := func(g *ast.CommentGroup) {
		if g != nil {
			out = append(out, g)
		}
	}
	add(f.Doc)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			add(n.Doc)
		case *ast.GenDecl:
			add(n.Doc)
		case *ast.TypeSpec:
			add(n.Doc)
		case *ast.ValueSpec:
			add(n.Doc)
		case *ast.Field:
			add(n.Doc)
		}
		return true
	})
	return out
}
