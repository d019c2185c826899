package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// payloadSchemas maps each event type of the spec's EventType enum to the schema of its payload,
// from the enum's machine-readable `x-payload-schemas` extension (the spec's typed event model).
var payloadSchemas = sync.OnceValues(func() (map[string]*openapi3.Schema, error) {
	spec, err := sharedSpec()
	if err != nil {
		return nil, err
	}
	return eventPayloadSchemas(spec)
})

// eventPayloadSchemas reads EventType's x-payload-schemas: every type of the enum must map to a
// component schema, and every mapped type must be in the enum.
func eventPayloadSchemas(spec *openapi3.T) (map[string]*openapi3.Schema, error) {
	et := spec.Components.Schemas["EventType"]
	if et == nil || et.Value == nil {
		return nil, fmt.Errorf("spec: no EventType schema")
	}
	raw, ok := et.Value.Extensions["x-payload-schemas"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("spec: EventType has no x-payload-schemas map")
	}
	out := make(map[string]*openapi3.Schema, len(raw))
	for typ, v := range raw {
		ref, _ := v.(map[string]any)["$ref"].(string)
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		s := spec.Components.Schemas[name]
		if !found || s == nil || s.Value == nil {
			return nil, fmt.Errorf("spec: x-payload-schemas[%s] = %v is not a component schema", typ, v)
		}
		out[typ] = s.Value
	}
	var missing []string
	for _, e := range et.Value.Enum {
		s, _ := e.(string)
		if out[s] == nil {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 || len(out) != len(et.Value.Enum) {
		sort.Strings(missing)
		return nil, fmt.Errorf("spec: EventType's enum and x-payload-schemas differ (unmapped: %v; %d mapped, %d in the enum)", missing, len(out), len(et.Value.Enum))
	}
	return out, nil
}

// checkEventPayloads finds every intent event in a JSON response body (an object with `id`,
// `intent_id`, `event_type`, `actor` and an object `payload`) and checks its payload against
// its type's schema. ResponseValidator reports what it returns, so every server test that reads
// events checks the payloads it sees.
func checkEventPayloads(body []byte) error {
	if !bytes.Contains(body, []byte(`"event_type"`)) {
		return nil
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	schemas, err := payloadSchemas()
	if err != nil {
		return err
	}
	var problems []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			typ, isType := x["event_type"].(string)
			payload, isObject := x["payload"].(map[string]any)
			_, hasActor := x["actor"]
			_, hasIntent := x["intent_id"]
			if isType && isObject && hasActor && hasIntent {
				if s := schemas[typ]; s != nil {
					if err := s.VisitJSON(payload, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
						problems = append(problems, fmt.Sprintf("event %v (%s): payload does not match its schema: %v", x["id"], typ, err))
					}
				}
				return
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}
