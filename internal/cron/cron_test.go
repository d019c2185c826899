package cron

import (
	"strings"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	base := time.Date(2026, 11, 23, 10, 59, 30, 0, time.UTC) // a Monday
	for _, tc := range []struct{ expr, want string }{
		{"* * * * *", "2026-11-23T11:00:00Z"},
		{"0 * * * *", "2026-11-23T11:00:00Z"},
		{"*/15 * * * *", "2026-11-23T11:00:00Z"},
		{"5 10 * * *", "2026-11-24T10:05:00Z"},
		{"0 9 * * MON-FRI", "2026-11-24T09:00:00Z"},
		{"0 9 * * SAT,SUN", "2026-11-28T09:00:00Z"},
		{"0 9 * * 7", "2026-11-29T09:00:00Z"},
		{"0 0 1 JAN *", "2027-01-01T00:00:00Z"},
		{"0 0 29 2 *", "2028-02-29T00:00:00Z"},
		{"0 0 13 * FRI", "2026-11-27T00:00:00Z"}, // day 13 or any Friday
		{"30 11-13/2 * * *", "2026-11-23T11:30:00Z"},
	} {
		s, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.expr, err)
		}
		got := s.Next(base).Format(time.RFC3339)
		if got != tc.want {
			t.Errorf("Next(%q) = %s, want %s", tc.expr, got, tc.want)
		}
		if !s.Matches(s.Next(base)) {
			t.Errorf("%q does not match its own Next", tc.expr)
		}
	}
	if s, _ := Parse("0 0 30 2 *"); !s.Next(base).IsZero() {
		t.Error("30 February should never come")
	}
}

func TestParseErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"* * * *":     "has 4 fields",
		"60 * * * *":  "minute field",
		"* 24 * * *":  "hour field",
		"* * 0 * *":   "day of month field",
		"* * * FOO *": "month field",
		"* * * * 8":   "day of week field",
		"*/0 * * * *": "bad step",
		"5-1 * * * *": "ends before",
		"a * * * *":   "not a number",
	} {
		_, err := Parse(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", expr, err, want)
		}
	}
}
