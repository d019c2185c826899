package server

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/openintent-go/openintent/gen/models"
)

// splitPath splits a state path into segments: '/'-separated, leading slash optional, empty
// segments dropped, "~1" and "~0" unescaped to "/" and "~" inside a segment (RFC 6901); any other
// use of "~" is an error.
func splitPath(p string) ([]string, error) {
	raw := strings.Split(p, "/")
	out := raw[:0]
	for _, s := range raw {
		if s == "" {
			continue
		}
		for i := strings.IndexByte(s, '~'); i >= 0; {
			if i+1 >= len(s) || (s[i+1] != '0' && s[i+1] != '1') {
				return nil, fmt.Errorf("path %q has %q: in a JSON pointer \"~\" must be followed by 0 or 1", p, s)
			}
			next := strings.IndexByte(s[i+2:], '~')
			if next < 0 {
				break
			}
			i += 2 + next
		}
		out = append(out, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
	}
	return out, nil
}

// applyPatch applies one patch to state in place. The error says what is wrong with the path.
func applyPatch(state map[string]any, p models.StatePatch) error {
	segs, err := splitPath(p.Path)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("path %q names no key", p.Path)
	}
	parent := state
	for i, seg := range segs[:len(segs)-1] {
		next, ok := parent[seg]
		if !ok || next == nil {
			if p.Op == models.PatchOpRemove {
				return nil // nothing to remove
			}
			m := map[string]any{}
			parent[seg] = m
			parent = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("path %q crosses /%s, which holds a %s, not an object", p.Path, strings.Join(segs[:i+1], "/"), jsonType(next))
		}
		parent = m
	}
	key := segs[len(segs)-1]
	switch p.Op {
	case models.PatchOpSet:
		parent[key] = copyJSON(p.Value)
	case models.PatchOpAppend:
		cur, exists := parent[key]
		list, isList := cur.([]any)
		if exists && cur != nil && !isList {
			return fmt.Errorf("cannot append to %q, which holds a %s, not a list", p.Path, jsonType(cur))
		}
		parent[key] = append(list, copyJSON(p.Value))
	case models.PatchOpRemove:
		delete(parent, key)
	default:
		return fmt.Errorf("unknown op %q (want set, append or remove)", p.Op)
	}
	return nil
}

// copyJSON returns a deep copy of a decoded JSON value, so state never aliases request data.
func copyJSON(v any) any { return mapJSON(v, func(leaf any) any { return leaf }) }

// mapJSON returns a deep copy of a decoded JSON value with each value that is neither an object
// nor an array replaced by leaf(value).
func mapJSON(v any, leaf func(any) any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = mapJSON(e, leaf)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = mapJSON(e, leaf)
		}
		return l
	default:
		return leaf(v)
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "string"
	case float64, json.Number, int, int64:
		return "number"
	case bool:
		return "boolean"
	default:
		return "value"
	}
}
