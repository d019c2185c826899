package store

import (
	"strconv"
	"strings"
	"testing"
)

func TestIntentCacheRefusesFillsOlderThanAPublish(t *testing.T) {
	var c intentCache
	_, gen := c.get("a")                                         // a reader misses and goes to the database...
	c.publish(map[string]*intentRow{"a": {id: "a", version: 2}}) // ...while a write commits
	c.fill(&intentRow{id: "a", version: 1}, gen)                 // the reader's row predates it
	if r, _ := c.get("a"); r == nil || r.version != 2 {
		t.Fatalf("cached %+v, want version 2", r)
	}
	_, gen = c.get("b")
	c.fill(&intentRow{id: "b", version: 1}, gen)
	if r, _ := c.get("b"); r == nil || r.version != 1 {
		t.Fatalf("a fill with no publish in between was not cached: %+v", r)
	}
}

func TestIntentCacheStaysWithinItsLimits(t *testing.T) {
	var c intentCache
	for i := range intentCacheRows + 100 {
		c.publish(map[string]*intentRow{"": {id: strconv.Itoa(i)}})
	}
	if len(c.rows) > intentCacheRows {
		t.Fatalf("%d rows cached, limit %d", len(c.rows), intentCacheRows)
	}
	big := strings.Repeat("x", intentCacheBytes/8)
	c.publish(map[string]*intentRow{"": {id: "1", state: big}})
	if r, _ := c.get("1"); r != nil {
		t.Fatal("a huge row was cached (and its stale predecessor kept)")
	}
	for i := range 32 {
		c.publish(map[string]*intentRow{"": {id: "big" + strconv.Itoa(i), state: big[:intentCacheBytes/20]}})
	}
	sum := 0
	for _, r := range c.rows {
		sum += r.size()
	}
	if c.bytes != sum || c.bytes > intentCacheBytes {
		t.Fatalf("%d bytes counted, %d cached, limit %d", c.bytes, sum, intentCacheBytes)
	}
}

// Queries built per call (a LIMIT, an IN list) stop being prepared and kept once the statement
// caches are full, and still run.
func TestStatementCachesAreBounded(t *testing.T) {
	s, err := Open(t.Context(), t.TempDir()+"/s.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range maxStatements + 50 {
		q := Query{Kind: "note", Limit: i + 1}
		if _, err := s.ListRecords(t.Context(), q); err != nil {
			t.Fatal(err)
		}
		err := s.Write(t.Context(), func(w *Writer) error {
			_, err := w.List(q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.held.stmts); n > maxStatements {
		t.Errorf("%d statements held", n)
	}
	if n := s.readers.n.Load(); n > maxStatements {
		t.Errorf("%d statements in the read pool", n)
	}
}
