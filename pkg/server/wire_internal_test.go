package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzScanTop: on every valid JSON text, the one-pass scanner finds the value's end and, for an
// object, the keys encoding/json finds, in order; with more data after the value, it says so.
func FuzzScanTop(f *testing.F) {
	for _, s := range []string{`{"title":"a"}`, ` {"a":{"b":[1,{"c":"}"}]},"d\"e":null} `, `[1,2]`, `"x"`, `12.5e3`, `true`,
		`{"t\u00e9":"\\\"","":{}}`, `{}`, ` [] `, `{"a":"]}"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		b := []byte(in)
		if !json.Valid(b) {
			scanTop(b) // must not panic or loop
			return
		}
		keys, end, ok := scanTop(b)
		if !ok || end != len(b) {
			t.Fatalf("%q: ok=%v end=%d, want the whole text", in, ok, end)
		}
		var want []string
		if trimmed := bytes.TrimSpace(b); trimmed[0] == '{' {
			dec := json.NewDecoder(bytes.NewReader(trimmed))
			dec.Token()
			want = []string{}
			for dec.More() {
				k, _ := dec.Token()
				want = append(want, k.(string))
				var skip json.RawMessage
				dec.Decode(&skip)
			}
		}
		if !slices.Equal(keys, want) || (keys == nil) != (want == nil) {
			t.Fatalf("%q: keys %q, want %q", in, keys, want)
		}
		for _, tail := range []string{"x", "{}", "1", `"s"`} {
			if _, end, ok := scanTop(append(slices.Clone(b), " "+tail...)); ok && end == len(b)+1+len(tail) {
				t.Fatalf("%q + %q: the trailing data went unnoticed", in, tail)
			}
		}
	})
}
