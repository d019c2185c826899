// Package canonical writes the canonical JSON of a value: the byte string that RFC-0018 signs
// and RFC-0019 hashes, so that any two parties derive the same bytes from the same document.
//
// The rules are those of RFC 8785, the JSON Canonicalization Scheme (JCS), which RFC-0018 names:
//
//   - no whitespace anywhere;
//   - object members sorted by their names compared as arrays of UTF-16 code units (for names
//     within the Basic Multilingual Plane this is code point order; a character outside it
//     sorts by its surrogate pair, so U+1F600 comes before U+FB33);
//   - strings in UTF-8, escaping only '"', '\\' and the control characters U+0000..U+001F
//     (as \b, \t, \n, \f, \r, or \u00XX with lower-case hex); '/', '<', '>', '&', U+007F and
//     U+2028/U+2029 are written as themselves; a string that is not valid UTF-8 is an error;
//   - numbers as IEEE-754 doubles written as ECMAScript's Number.prototype.toString writes them:
//     the shortest digits that read back to the same double, positional notation from 1e-7 up
//     to 1e21 and exponential (1e+21, 1.5e-7) outside it, -0 as 0; NaN and infinities are
//     errors, and so is an integer that a double cannot hold exactly;
//   - true, false and null as themselves.
//
// Marshal accepts what encoding/json decodes into an any (map[string]any, []any, string,
// float64, bool, nil), json.Number, Go's integer types, []string, maps with string keys, and
// json.RawMessage; anything else (a struct) is first encoded with encoding/json and then
// canonicalized.
package canonical

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Marshal returns the canonical JSON of v.
func Marshal(v any) ([]byte, error) {
	return appendValue(make([]byte, 0, 128), v)
}

// Transform returns the canonical JSON of the JSON document data (one value, surrounding
// whitespace allowed). An object with a duplicated member name is an error.
func Transform(data []byte) ([]byte, error) {
	v, err := decode(data)
	if err != nil {
		return nil, err
	}
	return Marshal(v)
}

// decode reads one JSON value, keeping numbers as json.Number and refusing duplicate names.
func decode(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, fmt.Errorf("canonical: %w", err)
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("canonical: more than one JSON value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			m := map[string]any{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				name := k.(string)
				if _, dup := m[name]; dup {
					return nil, fmt.Errorf("duplicate member name %q", name)
				}
				if m[name], err = decodeValue(d); err != nil {
					return nil, err
				}
			}
			_, err := d.Token() // '}'
			return m, err
		case '[':
			a := []any{}
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token() // ']'
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", x)
	default:
		return x, nil // string, json.Number, bool, nil
	}
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x)
	case float64:
		return appendNumber(b, x)
	case float32:
		return appendNumber(b, float64(x))
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("canonical: number %s: %w", x, err)
		}
		return appendNumber(b, f)
	case int:
		return appendInt(b, int64(x))
	case int8:
		return appendInt(b, int64(x))
	case int16:
		return appendInt(b, int64(x))
	case int32:
		return appendInt(b, int64(x))
	case int64:
		return appendInt(b, x)
	case uint:
		return appendUint(b, uint64(x))
	case uint8:
		return appendUint(b, uint64(x))
	case uint16:
		return appendUint(b, uint64(x))
	case uint32:
		return appendUint(b, uint64(x))
	case uint64:
		return appendUint(b, x)
	case map[string]any:
		return appendObject(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []string:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendString(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case json.RawMessage:
		d, err := decode(x)
		if err != nil {
			return nil, err
		}
		return appendValue(b, d)
	}
	// A named map or slice type (jsonvalue.Object, models.Object, []T) is walked by
	// reflection; anything else goes through encoding/json first.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String && !implementsMarshaler(rv.Type()) {
			if rv.IsNil() {
				return append(b, "null"...), nil
			}
			m := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return appendObject(b, m)
		}
	case reflect.Slice:
		if !implementsMarshaler(rv.Type()) && rv.Type().Elem().Kind() != reflect.Uint8 {
			if rv.IsNil() {
				return append(b, "null"...), nil
			}
			a := make([]any, rv.Len())
			for i := range a {
				a[i] = rv.Index(i).Interface()
			}
			return appendValue(b, a)
		}
	case reflect.Pointer:
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("canonical: %w", err)
	}
	d, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return appendValue(b, d)
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

func implementsMarshaler(t reflect.Type) bool {
	return t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)
}

// appendObject writes m's members sorted by their names' UTF-16 code units.
func appendObject(b []byte, m map[string]any) ([]byte, error) {
	type member struct {
		name  string
		value any
	}
	var small [8]member // most objects: no allocation, and each value read once
	ms := small[:0]
	if len(m) > len(small) {
		ms = make([]member, 0, len(m))
	}
	for k, v := range m {
		ms = append(ms, member{k, v})
	}
	if len(ms) > 1 {
		slices.SortFunc(ms, func(x, y member) int { return compareUTF16(x.name, y.name) })
	}
	b = append(b, '{')
	for i, e := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendString(b, e.name); err != nil {
			return nil, fmt.Errorf("canonical: member name %q is not valid UTF-8", e.name)
		}
		b = append(b, ':')
		if b, err = appendValue(b, e.value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// compareUTF16 orders two valid UTF-8 strings as their UTF-16 encodings compare, code unit by
// code unit. Code point order agrees except between a supplementary character (encoded as a
// surrogate, 0xD800..0xDFFF) and a BMP character at or above 0xE000.
func compareUTF16(a, b string) int {
	// The common prefix, byte by byte; where the first bytes differ, an ASCII byte orders as its
	// code unit does against anything (every other character's unit is above 0x7F). Only two
	// non-ASCII characters need decoding, from the start of the character they differ in.
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return len(a) - len(b)
	}
	if a[i] < utf8.RuneSelf || b[i] < utf8.RuneSelf {
		return int(a[i]) - int(b[i])
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	a, b = a[i:], b[i:]
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return int(utf16Key(ra)) - int(utf16Key(rb))
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// utf16Key maps a rune to a number that orders runes as their UTF-16 code unit sequences
// order: the first unit in the high bits, the low surrogate's 10 bits (zero for a BMP rune)
// below it. A BMP rune is never a surrogate, so it never ties with a supplementary one.
func utf16Key(r rune) rune {
	if r >= 0x10000 {
		hi, lo := utf16.EncodeRune(r)
		return hi<<10 | (lo - 0xDC00)
	}
	return r << 10
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JCS string.
func appendString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	p := plainPrefix(s)
	if p == len(s) {
		b = append(b, s...)
		return append(b, '"'), nil
	}
	start := 0
	for i := p; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			// Checked where met, so that an ASCII string is read once.
			if r, n := utf8.DecodeRuneInString(s[i:]); r == utf8.RuneError && n == 1 {
				return nil, fmt.Errorf("canonical: string %q is not valid UTF-8", s)
			} else {
				i += n - 1
			}
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// plainPrefix returns the length of s's longest prefix of printable ASCII other than '"' and
// '\\' (written as itself) that ends on a multiple of 8 bytes or at the end of s, testing 8
// bytes at a time: the ids and hashes of an event are read once, fast.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8] // one bounds check, the loads combined into one
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if !plainWord(x) {
			return i
		}
	}
	if i < len(s) {
		x := uint64(0x6161616161616161) // the tail, filled up with 'a's
		for k := i; k < len(s); k++ {
			x = x&^(0xff<<(8*(k-i))) | uint64(s[k])<<(8*(k-i))
		}
		if plainWord(x) {
			return len(s)
		}
	}
	return i
}

// plainWord reports whether the 8 bytes of x are all printable ASCII other than '"' and '\\'.
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := x^(ones*'"'), x^(ones*'\\')
	// The high bit of a byte is set in low where x's byte is below 0x20, in quote and slash
	// where it is '"' or '\\', in x where it is not ASCII (a borrow may set a later byte's too,
	// which only makes the answer false when it already is).
	low := (x - ones*0x20) &^ x
	quote := (q - ones) &^ q
	slash := (bs - ones) &^ bs
	return (low|quote|slash|x)&highs == 0
}

// maxExact is 2^53: every integer of magnitude up to it is a double.
const maxExact = 1 << 53

func appendInt(b []byte, i int64) ([]byte, error) {
	if i > maxExact || i < -maxExact {
		if f := float64(i); f >= math.MaxInt64 || int64(f) != i {
			return nil, fmt.Errorf("canonical: integer %d is not exactly a double", i)
		}
	}
	return appendNumber(b, float64(i))
}

func appendUint(b []byte, u uint64) ([]byte, error) {
	if u > maxExact {
		if f := float64(u); f >= math.MaxUint64 || uint64(f) != u {
			return nil, fmt.Errorf("canonical: integer %d is not exactly a double", u)
		}
	}
	return appendNumber(b, float64(u))
}

// appendNumber writes f as ECMAScript's Number.prototype.toString does (ECMA-262, Number::
// toString): with k shortest significant digits and the decimal point after n of them,
// positional when -6 < n <= 21, exponential otherwise.
func appendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("canonical: %v is not a JSON number", f)
	}
	if f == 0 {
		return append(b, '0'), nil // also -0
	}
	if f == math.Trunc(f) && f > -maxExact && f < maxExact {
		// An integer below 2^53 in magnitude: its shortest digits are its decimal digits.
		return strconv.AppendInt(b, int64(f), 10), nil
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		// Positional notation (n from -5 to 21 below): Go's shortest round-tripping digits,
		// closest to f, are ECMAScript's too.
		return strconv.AppendFloat(b, f, 'f', -1, 64), nil
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// 'e' with precision -1 gives the shortest round-tripping digits: d[.ddd]e±XX.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp, _ := bytes.Cut(e, []byte{'e'})
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	x, _ := strconv.Atoi(string(exp))
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b, nil
}
