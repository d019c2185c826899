package store

import (
	"database/sql"
	"reflect"
	"strings"
	"unicode/utf8"
)

// PostgreSQL's text holds valid UTF-8 without NUL; SQLite's, and Go's strings, hold any bytes.
// So that a PostgreSQL store stores and finds every string the other stores do (a title with
// U+0000, a key built with a NUL separator, an id in a path that is not UTF-8), every string
// crosses to PostgreSQL encoded: U+FFFF (a noncharacter) escapes, followed by '0' for NUL, '1' for
// U+FFFF itself, or 'x' and two hex digits for a byte that is not UTF-8. Strings without any of
// these, all but a few, are sent as they are. Equality is kept; order differs only among strings
// holding them.

const pgEsc = "\uffff"

// pgText encodes s for a text column.
func pgText(s string) string {
	if strings.IndexByte(s, 0) < 0 && (strings.IndexByte(s, 0xef) < 0 || !strings.Contains(s, pgEsc)) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			const hex = "0123456789abcdef"
			b.WriteString(pgEsc + "x")
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&15])
		case r == 0:
			b.WriteString(pgEsc + "0")
		case r == 0xffff:
			b.WriteString(pgEsc + "1")
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// pgUntext decodes a text column.
func pgUntext(s string) string {
	if strings.IndexByte(s, 0xef) < 0 || !strings.Contains(s, pgEsc) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, pgEsc)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+len(pgEsc):]
		switch {
		case strings.HasPrefix(s, "0"):
			b.WriteByte(0)
			s = s[1:]
		case strings.HasPrefix(s, "1"):
			b.WriteString(pgEsc)
			s = s[1:]
		case len(s) >= 3 && s[0] == 'x' && isHex(s[1]) && isHex(s[2]):
			b.WriteByte(unhex(s[1])<<4 | unhex(s[2]))
			s = s[3:]
		default: // not written by pgText: kept as it is
			b.WriteString(pgEsc)
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// pgArgs returns args with their strings encoded (args itself when none changes).
func pgArgs(args []any) []any {
	var out []any
	for i, a := range args {
		var enc any
		switch v := a.(type) {
		case nil, int, int64, float64, bool, []byte:
			continue
		case string:
			if e := pgText(v); e != v {
				enc = e
			}
		case []string:
			for _, s := range v {
				if pgText(s) != s {
					c := make([]string, len(v))
					for j := range v {
						c[j] = pgText(v[j])
					}
					enc = c
					break
				}
			}
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				if s := rv.String(); pgText(s) != s {
					enc = pgText(s)
				}
			}
		}
		if enc == nil {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = enc
	}
	if out == nil {
		return args
	}
	return out
}

// pgScanner decodes the strings a row scans into.
type pgScanner struct{ scanner }

func (s pgScanner) Scan(dest ...any) error {
	if err := s.scanner.Scan(dest...); err != nil {
		return err
	}
	for _, d := range dest {
		switch v := d.(type) {
		case *string:
			*v = pgUntext(*v)
		case *sql.NullString:
			v.String = pgUntext(v.String)
		case *int64, *int, *float64, *[]byte, *sql.NullInt64, *bool:
		default:
			if rv := reflect.ValueOf(d); rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.String {
				rv.Elem().SetString(pgUntext(rv.Elem().String()))
			}
		}
	}
	return nil
}
