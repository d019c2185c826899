package canonical

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// The vectors below are written out by hand from the rules (RFC 8785 and ECMA-262's
// Number::toString), not produced by this package.

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		bits uint64
		want string
	}{
		// RFC 8785, appendix B.
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"}, // -0
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	} {
		got, err := Marshal(math.Float64frombits(c.bits))
		if err != nil || string(got) != c.want {
			t.Errorf("%016x: got %s, %v; want %s", c.bits, got, err, c.want)
		}
	}
	for _, c := range []struct {
		f    float64
		want string
	}{
		{1, "1"}, {-1.5, "-1.5"}, {4.5, "4.5"}, {0.1, "0.1"}, {0.002, "0.002"},
		{1e20, "100000000000000000000"}, {1e21, "1e+21"}, {1.5e21, "1.5e+21"},
		{1e-6, "0.000001"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"}, {1e-27, "1e-27"}, {1e30, "1e+30"},
		{123.456, "123.456"}, {100, "100"}, {-0.5, "-0.5"},
	} {
		got, err := Marshal(c.f)
		if err != nil || string(got) != c.want {
			t.Errorf("%v: got %s, %v; want %s", c.f, got, err, c.want)
		}
	}
	for _, c := range []struct {
		v    any
		want string
	}{
		{42, "42"}, {int64(-7), "-7"}, {uint8(255), "255"}, {int64(1 << 53), "9007199254740992"},
		{int64(1 << 60), "1152921504606847000"}, {json.Number("1.50"), "1.5"}, {json.Number("1E2"), "100"},
	} {
		got, err := Marshal(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("%#v: got %s, %v; want %s", c.v, got, err, c.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), math.Inf(-1), int64(1<<53 + 1), uint64(math.MaxUint64)} {
		if got, err := Marshal(bad); err == nil {
			t.Errorf("%v: got %s, want an error", bad, got)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"\"\\", `"\"\\"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x0b\x0e\x1f", `"\u0000\u0001\u000b\u000e\u001f"`},
		{"/<>&'\x7f", "\"/<>&'\x7f\""},
		{"é€😀\u2028\u2029", "\"é€😀\u2028\u2029\""},
	} {
		got, err := Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("%q: got %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := Marshal("\xff"); err == nil {
		t.Error("invalid UTF-8: want an error")
	}
	if _, err := Marshal(map[string]any{"\xed\xa0\x80": 1}); err == nil {
		t.Error("an encoded surrogate in a name: want an error")
	}
}

func TestSorting(t *testing.T) {
	// RFC 8785 section 3.2.3: names compared as UTF-16 code units, so the emoji (D83D DE00)
	// comes before U+FB33 although its code point is larger.
	in := map[string]any{
		"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
		"1": "One", "\U0001F600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis",
	}
	want := `{"\r":"Carriage Return","1":"One","` + "\u0080" + `":"Control","ö":"Latin Small Letter O With Diaeresis",` +
		`"€":"Euro Sign","😀":"Emoji: Grinning Face","` + "\ufb33" + `":"Hebrew Letter Dalet With Dagesh"}`
	got, err := Marshal(in)
	if err != nil || string(got) != want {
		t.Errorf("got  %s, %v\nwant %s", got, err, want)
	}
	// A name that is a prefix of another comes first; U+10000 and U+10001 keep their order.
	got, _ = Marshal(map[string]any{"ab": 2, "a": 1, "\U00010001": 4, "\U00010000": 3, "b": 5})
	if want := `{"a":1,"ab":2,"b":5,"` + "\U00010000" + `":3,"` + "\U00010001" + `":4}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestTransform(t *testing.T) {
	// RFC 8785 section 3.2.2's example.
	in := `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	got, err := Transform([]byte(in))
	if err != nil || string(got) != want {
		t.Errorf("got  %s, %v\nwant %s", got, err, want)
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `{"a":1} 2`, `{`, `[1,]`, ``} {
		if _, err := Transform([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

type obj map[string]any

type event struct {
	Type    string  `json:"event_type"`
	Payload obj     `json:"payload"`
	Trace   *string `json:"trace_id,omitempty"`
}

func TestGoValues(t *testing.T) {
	// Named maps and slices, structs through encoding/json, nested.
	v := map[string]any{
		"z":      []string{"b", "a"},
		"events": []event{{Type: "comment", Payload: obj{"note": "hi", "n": 2}}},
		"named":  obj{"y": []any{1.0, false, nil}, "x": map[string]string{"k": "v"}},
		"raw":    json.RawMessage(`{"b": 1.0, "a": [ ]}`),
		"nilmap": obj(nil),
	}
	want := `{"events":[{"event_type":"comment","payload":{"n":2,"note":"hi"}}],"named":{"x":{"k":"v"},"y":[1,false,null]},"nilmap":null,"raw":{"a":[],"b":1},"z":["b","a"]}`
	got, err := Marshal(v)
	if err != nil || string(got) != want {
		t.Errorf("got  %s, %v\nwant %s", got, err, want)
	}
	// A signed-event shape: this is the exact byte string RFC-0018 signatures cover.
	got, _ = Marshal(map[string]any{
		"intent_id": "i-1", "event_type": "state_change", "actor": "agent_billing_01",
		"payload":    map[string]any{"op": "set", "path": "/status", "value": "completed"},
		"created_at": "2026-02-12T10:15:00Z",
	})
	want = `{"actor":"agent_billing_01","created_at":"2026-02-12T10:15:00Z","event_type":"state_change","intent_id":"i-1","payload":{"op":"set","path":"/status","value":"completed"}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if strings.ContainsAny(string(got), " \n") {
		t.Error("whitespace in canonical JSON")
	}
}
