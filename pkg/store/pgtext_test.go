package store

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// pgText gives PostgreSQL valid UTF-8 without NUL, and pgUntext gives back the very string, for
// any bytes; strings without NUL, U+FFFF or invalid bytes cross unchanged.
func TestPgTextRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "\x00", "\uffff", "\xef", "\xbf", "\xff", "0", "1", "x", "4", "é", "ｆ", "\uffff0", "\uffffx4"}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(8) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		e := pgText(s)
		if !utf8.ValidString(e) || strings.IndexByte(e, 0) >= 0 {
			t.Fatalf("%q encodes to %q", s, e)
		}
		if d := pgUntext(e); d != s {
			t.Fatalf("%q -> %q -> %q", s, e, d)
		}
		if utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\uffff") && e != s {
			t.Fatalf("%q was changed to %q", s, e)
		}
	}
}
