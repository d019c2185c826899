package store

import (
	"regexp"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIDIsATimeOrderedUUID(t *testing.T) {
	seen := map[string]bool{}
	prev := newID()
	for range 1000 {
		id := newID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("%q is not a version 7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
	}
	time.Sleep(2 * time.Millisecond)
	if later := newID(); later <= prev {
		t.Fatalf("an id made later sorts first: %s <= %s", later, prev)
	}
	// The first 48 bits are the Unix time in milliseconds.
	id := newID()
	var ms int64
	for _, c := range id[0:8] + id[9:13] {
		ms = ms<<4 | int64(hexVal(c))
	}
	if d := time.Since(time.UnixMilli(ms)); d < 0 || d > time.Minute {
		t.Fatalf("%s carries time %v", id, time.UnixMilli(ms))
	}
}

func hexVal(c rune) int {
	if c >= 'a' {
		return int(c-'a') + 10
	}
	return int(c - '0')
}
