package jsonvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// Marshal must write what json.Marshal writes, byte for byte.
func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	cases := []any{
		nil, true, false, "", "plain", `quote " backslash \ slash /`, "<html> & </html>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff utf8 \xe2\x82", 0.0, math.Copysign(0, -1), 1.0, -2.5,
		123456789.0, 1e20, 1e21, 1e-6, 1e-7, 3.14159e-12, -1.7976931348623157e308, 5e-324, 42, int64(-7),
		map[string]any{}, map[string]any(nil), Object{"b": 1.0, "a": []any{"x", nil, true}}, []any{}, []any(nil),
		[]string{"a", "<b>"}, []string(nil), map[string]any{"z": map[string]any{"y": []any{1.5, map[string]any{"": ""}}}},
		map[string]any{"é": 1.0, "e": 2.0, "E": 3.0, "\u2028": 4.0}, json.Number("12.5"), []int{1, 2},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		cases = append(cases, randomJSON(rng, 4))
	}
	for _, v := range cases {
		want, werr := json.Marshal(v)
		got, err := Marshal(v)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s (%v)\nwant %s (%v)", v, got, err, want, werr)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), map[string]any{"x": math.Inf(-1)}} {
		if _, err := Marshal(bad); err == nil {
			t.Fatalf("%v encoded", bad)
		}
	}
}

func randomJSON(rng *rand.Rand, depth int) any {
	switch k := rng.IntN(8); {
	case depth == 0 || k < 2:
		return randomString(rng)
	case k == 2:
		return (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(50)-25))
	case k == 3:
		return rng.IntN(3) == 0
	case k == 4:
		return nil
	case k == 5:
		a := make([]any, rng.IntN(4))
		for i := range a {
			a[i] = randomJSON(rng, depth-1)
		}
		return a
	default:
		m := map[string]any{}
		for range rng.IntN(5) {
			m[randomString(rng)] = randomJSON(rng, depth-1)
		}
		return m
	}
}

func randomString(rng *rand.Rand) string {
	const alphabet = "ab<>&\"\\\n\x01é\u2028😀\xff"
	r := []rune(alphabet)
	b := []byte{}
	for range rng.IntN(6) {
		if rng.IntN(10) == 0 {
			b = append(b, 0xff) // invalid UTF-8
			continue
		}
		b = append(b, string(r[rng.IntN(len(r))])...)
	}
	return string(b)
}

// Through encoding/json (MarshalJSON, then its own compaction), an Object inside other values
// encodes as the same map would.
func TestObjectEncodesAsItsMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		m, _ := randomJSON(rng, 3).(map[string]any)
		type wrapper struct {
			O    Object         `json:"o"`
			P    *Object        `json:"p"`
			L    []Object       `json:"l"`
			Nil  Object         `json:"nil"`
			Map  map[string]any `json:"map"`
			Tail string         `json:"tail"`
		}
		o := Object(m)
		got, err := json.Marshal(wrapper{O: o, P: &o, L: []Object{o, nil}, Map: map[string]any{"x": o}, Tail: "<&>"})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(map[string]any{"o": m, "p": m, "l": []any{m, nil}, "nil": nil, "map": map[string]any{"x": m}, "tail": "<&>"})
		var g, w any
		json.Unmarshal(got, &g)
		json.Unmarshal(want, &w)
		// Same document; and the object's own bytes are json.Marshal's.
		ob, _ := json.Marshal(o)
		mb, _ := json.Marshal(m)
		if !bytes.Equal(ob, mb) || !jsonEqual(g, w) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
