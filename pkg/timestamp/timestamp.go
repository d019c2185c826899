// Package timestamp provides Time, the wire timestamp of the OpenIntent protocol.
//
// Time writes RFC 3339 in UTC and reads liberally: RFC 3339 with any offset, and the zone-less ISO
// 8601 form of the reference server (with or without fractional seconds), which is taken as UTC.
package timestamp

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Time is an instant on the wire. The zero Time encodes as JSON null.
type Time struct {
	time.Time
}

// New returns t as a Time in UTC.
func New(t time.Time) Time { return Time{t.UTC()} }

// Now returns the current time as a Time in UTC, truncated to microseconds (the precision stored).
func Now() Time { return Time{time.Now().UTC().Truncate(time.Microsecond)} }

// layouts are tried in order by Parse.
var layouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// Parse reads s in any accepted form; a zone-less value is UTC.
func Parse(s string) (Time, error) {
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return Time{t.UTC()}, nil
		}
	}
	return Time{}, fmt.Errorf("timestamp: cannot parse %q as an RFC 3339 or ISO 8601 time", s)
}

// String formats t as RFC 3339 in UTC.
func (t Time) String() string { return t.UTC().Format(time.RFC3339Nano) }

// MarshalJSON writes t as an RFC 3339 string in UTC, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 34)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a JSON string in any accepted form; null leaves t unchanged.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("timestamp: expected a JSON string")
	}
	p, err := Parse(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// MarshalText writes t as RFC 3339 in UTC (used for query parameters).
func (t Time) MarshalText() ([]byte, error) {
	return t.UTC().AppendFormat(nil, time.RFC3339Nano), nil
}

// UnmarshalText reads t in any accepted form.
func (t *Time) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// Bind implements the parameter binder of the generated server code.
func (t *Time) Bind(s string) error { return t.UnmarshalText([]byte(s)) }
