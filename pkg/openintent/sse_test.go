package openintent

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSSEReaderParsesTheFormat(t *testing.T) {
	in := "retry: 1000\nid: 7\n\n" + // id only: updates the last id, dispatches nothing
		": ping\n\n" +
		"id: 8\nevent: comment\ndata: {\"a\":1}\n\n" +
		"event: multi\r\ndata: line one\r\ndata:line two\r\n\r\n" + // CRLF, no id: keeps 8
		"id: 10\rdata: cr only\r\r" +
		"data: unterminated"
	r := newSSEReader(strings.NewReader(in))
	want := []sseEvent{
		{ID: "8", Event: "comment", Data: []byte(`{"a":1}`)},
		{ID: "8", Event: "multi", Data: []byte("line one\nline two")},
		{ID: "10", Data: []byte("cr only")},
	}
	for i, w := range want {
		ev, err := r.next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.ID != w.ID || ev.Event != w.Event || string(ev.Data) != string(w.Data) {
			t.Fatalf("event %d = %+v (%q), want %+v (%q)", i, ev, ev.Data, w, w.Data)
		}
	}
	if _, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated event: %v", err)
	}
	if r := newSSEReader(strings.NewReader("data: x\n\n")); true {
		r.next()
		if _, err := r.next(); err != io.EOF {
			t.Fatalf("clean end: %v", err)
		}
	}
}

// FuzzSSEReader: no input makes the parser panic or loop, and every event it returns came from
// data lines of the input.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{"id: 1\nevent: x\ndata: {}\n\n", ": c\n\n", "data\n\n", "id: \x00\ndata: a\r\n\r\n", "data: a\rdata: b\r\r", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := newSSEReader(strings.NewReader(in))
		for n := 0; ; n++ {
			ev, err := r.next()
			if err != nil {
				return
			}
			if n > len(in) {
				t.Fatalf("more events (%d) than input bytes", n)
			}
			if len(ev.Data) > len(in) {
				t.Fatalf("event data longer than the input")
			}
		}
	})
}
