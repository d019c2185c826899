package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
)

// marshalJSON must write what json.Marshal writes, byte for byte.
func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	cases := []any{
		nil, true, false, "", "plain", `quote " backslash \ slash /`, "<html> & </html>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff utf8 \xe2\x82", 0.0, math.Copysign(0, -1), 1.0, -2.5,
		123456789.0, 1e20, 1e21, 1e-6, 1e-7, 3.14159e-12, -1.7976931348623157e308, 5e-324, 42, int64(-7),
		map[string]any{}, map[string]any(nil), models.Object{"b": 1.0, "a": []any{"x", nil, true}}, []any{}, []any(nil),
		[]string{"a", "<b>"}, []string(nil), map[string]any{"z": map[string]any{"y": []any{1.5, map[string]any{"": ""}}}},
		map[string]any{"é": 1.0, "e": 2.0, "E": 3.0, "\u2028": 4.0}, json.Number("12.5"), []int{1, 2},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		cases = append(cases, randomJSON(rng, 4))
	}
	for _, v := range cases {
		want, werr := json.Marshal(v)
		got, err := marshalJSON(v)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s (%v)\nwant %s (%v)", v, got, err, want, werr)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), map[string]any{"x": math.Inf(-1)}} {
		if _, err := marshalJSON(bad); err == nil {
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
