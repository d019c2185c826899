package openintent

import (
	"testing"
	"time"
)

// encodeQuery sends what is set: zero optional fields stay off the wire (the generated builders
// would send `status=`), required ones always go, slices as repeated keys, times in RFC 3339.
func TestEncodeQuery(t *testing.T) {
	type params struct {
		Status   string    `form:"status,omitempty" json:"status,omitempty"`
		Limit    int32     `form:"limit,omitempty" json:"limit,omitempty"`
		Required string    `form:"required" json:"required"`
		Tags     []string  `form:"tag,omitempty" json:"tag,omitempty"`
		Since    time.Time `form:"since,omitempty" json:"since,omitempty"`
		Flag     *bool     `form:"flag,omitempty" json:"flag,omitempty"`
		Untagged string
	}
	yes := false
	for _, tc := range []struct {
		in   any
		want string
	}{
		{params{}, "required="},
		{&params{Status: "active", Limit: 5, Required: "r"}, "limit=5&required=r&status=active"},
		{params{Tags: []string{"a", "b c"}, Required: "x"}, "required=x&tag=a&tag=b+c"},
		{params{Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Required: "x"}, "required=x&since=2026-01-02T02%3A04%3A05Z"},
		{params{Flag: &yes, Required: "x", Untagged: "u"}, "flag=false&required=x"},
		{(*params)(nil), ""},
	} {
		got, err := encodeQuery(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("encodeQuery(%+v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := encodeQuery(42); err == nil {
		t.Error("a non-struct was encoded")
	}
}
