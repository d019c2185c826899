package canonical

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// esNumber is ECMAScript's Number::toString written the long way (the shortest digits from
// strconv's 'e' form, placed by the exponent): the reference the fast paths of appendNumber
// are held to.
func esNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	digits := strings.ReplaceAll(mant, ".", "")
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	out := sign + digits[:1]
	if k > 1 {
		out += "." + digits[1:]
	}
	if n-1 >= 0 {
		return out + "e+" + strconv.Itoa(n-1)
	}
	return out + "e" + strconv.Itoa(n-1)
}

// The integer and positional fast paths of appendNumber write what the general rule writes,
// for random doubles of every magnitude and for the edges of each path.
func TestNumberFastPathsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	edges := []float64{1, -1, 0.5, 1e-6, 1e-7, 9.999999999999999e-7, 1e21, 1e21 - 65536, 9.999999999999999e20,
		1 << 53, 1<<53 - 1, -(1<<53 - 1), 1 << 60, 123456789012345680000, 0.1, 0.3, 5e-324, math.MaxFloat64}
	for range 50_000 {
		edges = append(edges[:18], math.Float64frombits(r.Uint64()), math.Ldexp(r.Float64(), r.IntN(160)-80), float64(r.Int64N(1<<54)-1<<53))
		for _, f := range edges {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			got, err := appendNumber(nil, f)
			if want := esNumber(f); err != nil || string(got) != want {
				t.Fatalf("%v (bits %x): got %s (%v), want %s", f, math.Float64bits(f), got, err, want)
			}
		}
	}
}

// naiveString is appendString one byte at a time, the reference for its 8-byte fast scan.
func naiveString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xF])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Every byte value, at every place of an 8-byte word and beyond, is escaped (or refused) as the
// byte-at-a-time rule says.
func TestStringFastScanAgrees(t *testing.T) {
	for n := 1; n <= 24; n++ { // every length, so that every tail of a word is met
		base := []byte("abcdefghijklmnopqrstuvwx"[:n])
		for pos := range len(base) {
			for c := range 256 {
				s := bytes.Clone(base)
				s[pos] = byte(c)
				got, err := appendString(nil, string(s))
				if !utf8.Valid(s) {
					if err == nil {
						t.Fatalf("%q: invalid UTF-8 accepted", s)
					}
					continue
				}
				if want := naiveString(string(s)); err != nil || string(got) != want {
					t.Fatalf("%q: got %s (%v), want %s", s, got, err, want)
				}
			}
		}
	}
	for _, s := range []string{"", "é", "12345678é", "1234567\"", "12345678\\", "\u2028\u2029<>&/\x7f", "\U0001F600 ok"} {
		if got, err := appendString(nil, s); err != nil || string(got) != naiveString(s) {
			t.Errorf("%q: got %s (%v)", s, got, err)
		}
	}
}

// compareUTF16's byte fast path orders every pair as decoding both strings whole does.
func TestCompareUTF16FastPath(t *testing.T) {
	slow := func(a, b string) int {
		ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
		for i := 0; i < len(ua) && i < len(ub); i++ {
			if ua[i] != ub[i] {
				return int(ua[i]) - int(ub[i])
			}
		}
		return len(ua) - len(ub)
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	alphabet := []string{"a", "b", "z", "~", "\u007f", "é", "ê", "ü", "\u0800", "\ufb33", "\uffff", "\U0001f600", "\U0001f601", "\U00010000", ""}
	r := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		var s strings.Builder
		for range r.IntN(5) {
			s.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return s.String()
	}
	for range 100_000 {
		a, b := word(), word()
		if sign(compareUTF16(a, b)) != sign(slow(a, b)) {
			t.Fatalf("%q vs %q: %d, want the sign of %d", a, b, compareUTF16(a, b), slow(a, b))
		}
	}
}
