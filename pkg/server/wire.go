package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Wire fidelity of request bodies and parameters (issue #18; the spec's "Request bodies"
// section):
//   - a timestamp (format date-time) may come without a zone, as the Python SDK sends
//     datetime.now().isoformat(): it is read as UTC, like every form pkg/timestamp accepts;
//     responses keep writing RFC 3339 with a zone;
//   - a body is exactly one JSON value (trailing data is refused);
//   - a top-level field of the operation's resource (its success response) that the request
//     does not define is read-only there: 422 naming it, never silently dropped;
//   - any other unknown top-level field is ignored, as the reference server does (the Python SDK
//     sends some), and named in the IgnoredFieldsHeader of the answer.

// IgnoredFieldsHeader names, comma-separated, the top-level request body fields that the
// operation does not know and that the server therefore ignored.
const IgnoredFieldsHeader = "OpenIntent-Ignored-Fields"

// requestFormats make request validation read date-time values as pkg/timestamp does, so that
// what the validator accepts is exactly what the handlers decode. Responses are still checked
// against RFC 3339 (ResponseValidator uses its own options).
var requestFormats = []openapi3.SchemaValidationOption{
	openapi3.WithStringFormatValidator("date-time", openapi3.NewCallbackValidator(func(s string) error {
		_, err := timestamp.Parse(s)
		return err
	})),
}

// bodyRules is what an operation's request body may hold at its top level.
type bodyRules struct {
	known    map[string]bool // the request schema's properties
	open     bool            // the request schema takes any other property too
	readOnly map[string]bool // properties of the resource the request may not set
}

// newBodyRules derives an operation's body rules from the spec; nil when it takes no JSON
// object body.
func newBodyRules(op *openapi3.Operation) *bodyRules {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	req := mt.Schema.Value
	known := map[string]bool{}
	objectProperties(req, known)
	if len(known) == 0 && !req.Type.Is("object") {
		return nil
	}
	b := &bodyRules{known: known, readOnly: map[string]bool{}}
	ap := req.AdditionalProperties
	b.open = (ap.Has != nil && *ap.Has) || ap.Schema != nil
	resource := map[string]bool{}
	if s := successSchema(op); s != nil && !s.Type.Is("array") {
		objectProperties(s, resource)
	}
	// The response describes the resource the body writes when they share a property (a state
	// patch returns the intent, a policy PUT returns the intent that holds it: only the first
	// writes the intent's own fields).
	shared := false
	for k := range resource {
		if known[k] {
			shared = true
			break
		}
	}
	if shared && !b.open {
		for k := range resource {
			if !known[k] {
				b.readOnly[k] = true
			}
		}
	}
	return b
}

// objectProperties adds the names of s's properties (through allOf) to out.
func objectProperties(s *openapi3.Schema, out map[string]bool) {
	for name := range s.Properties {
		out[name] = true
	}
	for _, sub := range s.AllOf {
		if sub.Value != nil {
			objectProperties(sub.Value, out)
		}
	}
}

// successSchema is the JSON schema of an operation's 200 or 201 answer.
func successSchema(op *openapi3.Operation) *openapi3.Schema {
	for _, code := range []int{http.StatusOK, http.StatusCreated} {
		r := op.Responses.Status(code)
		if r == nil || r.Value == nil {
			continue
		}
		if mt := r.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			return mt.Schema.Value
		}
	}
	return nil
}

// checkBody enforces the body rules on a non-empty body: one JSON value, no read-only field.
// It returns the unknown top-level fields it lets through. A body that is not JSON at all is
// left to the validator, which names the problem.
func (b *bodyRules) checkBody(body []byte) (ignored []string, _ *apiError) {
	keys, end, ok := scanTop(body)
	if !ok {
		return nil, nil
	}
	if end < len(body) {
		return nil, validationFailed("body", "must be exactly one JSON value: found more data after it")
	}
	if b == nil || keys == nil || (b.open && len(b.readOnly) == 0) {
		return nil, nil
	}
	seen := make(map[string]bool, len(keys))
	fields := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			fields = append(fields, k)
		}
	}
	var ro []string
	for _, k := range fields {
		switch {
		case b.known[k]:
		case b.readOnly[k]:
			ro = append(ro, k)
		case !b.open:
			ignored = append(ignored, k)
		}
	}
	if len(ro) > 0 {
		sort.Strings(ro)
		e := &apiError{status: http.StatusUnprocessableEntity, code: "validation_error"}
		parts := make([]string, len(ro))
		for i, k := range ro {
			msg := "read-only: this operation does not set it"
			e.fields = append(e.fields, models.FieldError{Field: k, Message: msg})
			parts[i] = k + ": " + msg
		}
		e.detail = strings.Join(parts, "; ")
		return nil, e
	}
	sort.Strings(ignored)
	return ignored, nil
}

// timeQueryParams lists an operation's query parameters of format date-time.
func timeQueryParams(op *openapi3.Operation, item *openapi3.PathItem) []string {
	var out []string
	for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range params {
			if p.Value == nil || p.Value.In != openapi3.ParameterInQuery || p.Value.Schema == nil || p.Value.Schema.Value == nil {
				continue
			}
			if isDateTimeSchema(p.Value.Schema.Value) && !slices.Contains(out, p.Value.Name) {
				out = append(out, p.Value.Name)
			}
		}
	}
	return out
}

// normalizeTimeQuery rewrites the route's date-time query parameters that pkg/timestamp reads
// but RFC 3339 does not (a zone-less time, taken as UTC) into RFC 3339, before the generated
// router binds them. Values it cannot read are left for the router to refuse.
func normalizeTimeQuery(r *http.Request, rt *route) {
	if rt == nil || len(rt.timeParams) == 0 || r.URL.RawQuery == "" {
		return
	}
	q := r.URL.Query()
	changed := false
	for _, name := range rt.timeParams {
		vals := q[name]
		for i, v := range vals {
			if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
				continue
			}
			if t, err := timestamp.Parse(v); err == nil {
				vals[i], changed = t.String(), true
			}
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
}

// orNull is a pointer to v, or nil (JSON null) when v is its type's zero value: the reference's
// null for a field never set.
func orNull[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// valueOf is *p, or the zero value when p is nil.
func valueOf[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// isDateTimeSchema reports whether s is a timestamp: format date-time, itself or as one of its
// alternatives (the spec's Timestamp is RFC 3339 or the reference's zone-less form).
func isDateTimeSchema(s *openapi3.Schema) bool {
	if s.Format == "date-time" {
		return true
	}
	for _, alt := range slices.Concat(s.AnyOf, s.OneOf) {
		if alt.Value != nil && alt.Value.Format == "date-time" {
			return true
		}
	}
	return false
}

// scanTop reads the top level of a JSON text in one pass without decoding it: the keys of its
// object (nil when it is no object) and where its value ends, white space after it included.
// It is not a validator (kin-openapi decodes the body next): ok is false when the top level is
// malformed, and the caller then leaves the body to the validator.
func scanTop(b []byte) (keys []string, end int, ok bool) {
	i := skipSpace(b, 0)
	if i == len(b) {
		return nil, 0, false
	}
	if b[i] != '{' {
		if i = skipValue(b, i); i < 0 {
			return nil, 0, false
		}
		return nil, skipSpace(b, i), true
	}
	keys = []string{}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return keys, skipSpace(b, i+1), true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, 0, false
		}
		e := skipString(b, i)
		if e < 0 {
			return nil, 0, false
		}
		key := string(b[i+1 : e-1])
		if bytes.IndexByte(b[i:e], '\\') >= 0 {
			if json.Unmarshal(b[i:e], &key) != nil {
				return nil, 0, false
			}
		}
		keys = append(keys, key)
		if i = skipSpace(b, e); i >= len(b) || b[i] != ':' {
			return nil, 0, false
		}
		if i = skipValue(b, skipSpace(b, i+1)); i < 0 {
			return nil, 0, false
		}
		switch i = skipSpace(b, i); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return keys, skipSpace(b, i+1), true
		default:
			return nil, 0, false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i] (a quote), or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1. Objects and arrays
// are skipped by their brackets, outside strings.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = skipString(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
