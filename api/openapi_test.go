// Package api_test validates api/openapi.yaml, the hand-written source of truth of the protocol.
package api_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// specPath may be overridden with OPENINTENT_SPEC to validate a draft.
func specPath() string {
	if p := os.Getenv("OPENINTENT_SPEC"); p != "" {
		return p
	}
	return "openapi.yaml"
}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath())
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("spec is not valid OpenAPI 3.0: %v", err)
	}
	return doc
}

func TestSpecIsValid(t *testing.T) {
	doc := loadSpec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi version = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Components.SecuritySchemes["ApiKeyAuth"] == nil {
		t.Error("missing ApiKeyAuth security scheme")
	}
	errSchema := doc.Components.Schemas["Error"]
	if errSchema == nil {
		t.Fatal("missing Error schema")
	}
	for _, f := range []string{"detail", "code", "current_version", "existing_lease", "errors"} {
		if errSchema.Value.Properties[f] == nil {
			t.Errorf("Error schema lacks %q", f)
		}
	}
}

// TestEveryProtocolRouteIsSpecified checks the spec against the route list of the reference
// implementation and the seeds (testdata/routes.tsv, taken from the protocol notes).
func TestEveryProtocolRouteIsSpecified(t *testing.T) {
	doc := loadSpec(t)
	f, err := os.Open("testdata/routes.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			t.Fatalf("bad line %q", sc.Text())
		}
		method, path, opID := parts[0], parts[1], parts[2]
		n++
		item := doc.Paths.Find(path)
		if item == nil {
			t.Errorf("%s %s (%s): path missing", method, path, opID)
			continue
		}
		op := item.GetOperation(method)
		if op == nil {
			t.Errorf("%s %s (%s): method missing", method, path, opID)
			continue
		}
		if op.OperationID != opID {
			t.Errorf("%s %s: operationId = %q, want %q", method, path, op.OperationID, opID)
		}
	}
	if n < 100 {
		t.Fatalf("only %d routes in testdata/routes.tsv", n)
	}
}

// TestOperationsAreDocumented enforces the rules of STYLE.md that a machine can check.
func TestOperationsAreDocumented(t *testing.T) {
	doc := loadSpec(t)
	tags := map[string]bool{}
	for _, tg := range doc.Tags {
		tags[tg.Name] = true
	}
	ids := map[string]string{}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, p := range paths {
		for method, op := range doc.Paths.Value(p).Operations() {
			where := method + " " + p
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q already used by %s", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			if len(op.Tags) != 1 || !tags[op.Tags[0]] {
				t.Errorf("%s: want exactly one declared tag, have %v", where, op.Tags)
			}
			if op.Summary == "" {
				t.Errorf("%s: no summary", where)
			}
			if op.Responses == nil || op.Responses.Len() == 0 {
				t.Errorf("%s: no responses", where)
			}
			public := op.Security != nil && len(*op.Security) == 0
			if !public && op.Responses.Value("401") == nil {
				t.Errorf("%s: authenticated operation does not document 401", where)
			}
		}
	}
}

// TestSchemasAreDocumented requires a description on every schema and property.
func TestSchemasAreDocumented(t *testing.T) {
	doc := loadSpec(t)
	for name, ref := range doc.Components.Schemas {
		s := ref.Value
		if s.Description == "" {
			t.Errorf("schema %s: no description", name)
		}
		for pname, p := range s.Properties {
			if p.Ref == "" && p.Value.Description == "" {
				t.Errorf("schema %s: property %s has no description", name, pname)
			}
		}
		if len(s.Properties) > 0 && s.AdditionalProperties.Has != nil && *s.AdditionalProperties.Has {
			t.Errorf("schema %s: has both properties and additionalProperties (strict server drops the latter)", name)
		}
	}
}

// TestSpecHasNoGoSettings keeps the spec language-neutral: the Go code generator's settings
// (`x-go-type`, `x-go-name`, `x-go-type-skip-optional-pointer`, `x-oapi-codegen-extra-tags`, ...)
// belong in api/codegen-overlay.yaml, which oapi-codegen applies before generating gen/.
func TestSpecHasNoGoSettings(t *testing.T) {
	b, err := os.ReadFile(specPath())
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if strings.HasPrefix(k, "x-go") || strings.HasPrefix(k, "x-oapi-codegen") {
					t.Errorf("line %d: %s/%s is a Go code generation setting: move it to api/codegen-overlay.yaml", n.Content[i].Line, path, k)
					continue
				}
				walk(n.Content[i+1], path+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	walk(&root, "#")
}
