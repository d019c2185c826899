package bench_test

import (
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
)

// TestServerCycleRoundTrips counts the round trips to PostgreSQL that each request of
// BenchmarkServerCycle's cycle (create, update_state, get) makes, through a proxy between the
// server and the database that counts the times the server's side sends after it received:
// statements sent together (pipelined) are one round trip. Timings on a shared machine are
// noisy; these counts are not. The test fails when a request makes more than it did when last
// tuned (issue #17), so that a change adding one is seen. It skips without PostgreSQL
// (internal/pgtest).
func TestServerCycleRoundTrips(t *testing.T) {
	dsn := pgtest.URL(t)
	proxied, counter := roundTripProxy(t, dsn)
	url, _ := startServerWith(t, proxied, store.Options{})
	steps := []struct {
		name string
		max  int64
		run  func(state *cycleState)
	}{
		// create: the whole transaction with its COMMIT, speculating that the log's last
		// sequence number is the one the store last wrote (pkg/store/pgspec.go).
		{"create", 1, func(c *cycleState) { c.create(t, url) }},
		// update_state: the whole transaction with its COMMIT, the access decision and the
		// intent's read answered from what the replica knows of the intent it just created,
		// which the transaction's guard confirms (pkg/store/pgknown.go).
		{"update_state", 1, func(c *cycleState) { c.update(t, url) }},
		// get: the ACL read with the intent's.
		{"get", 1, func(c *cycleState) { c.get(t, url) }},
	}
	// Warm up: the pool's connections and their prepared statements.
	for range 3 {
		var c cycleState
		for _, s := range steps {
			s.run(&c)
		}
	}
	const cycles = 20
	counts := make([]int64, len(steps))
	for range cycles {
		var c cycleState
		for i, s := range steps {
			counter.Store(0)
			s.run(&c)
			counts[i] += counter.Load()
		}
	}
	var total float64
	for i, s := range steps {
		per := float64(counts[i]) / cycles
		total += per
		t.Logf("%-13s %.2f round trips", s.name, per)
		// Background work (a response recorded by its timer, the sweep of expired keys) may
		// make a round trip during a request now and then.
		if per > float64(s.max)+0.25 {
			t.Errorf("%s: %.2f round trips to PostgreSQL per request, more than %d", s.name, per, s.max)
		}
	}
	t.Logf("cycle         %.2f round trips", total)
}

// cycleState is what one cycle's requests pass on to the next.
type cycleState struct {
	id      string
	version int64
}

func (c *cycleState) create(t *testing.T, url string) {
	var in struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	raw(t, "POST", url+"/api/v1/intents", map[string]any{"title": "cycle", "state": map[string]any{"n": 0}}, 0, &in)
	c.id, c.version = in.ID, in.Version
}

func (c *cycleState) update(t *testing.T, url string) {
	var up struct {
		Version int64 `json:"version"`
	}
	raw(t, "POST", url+"/api/v1/intents/"+c.id+"/state", map[string]any{"state": map[string]any{"n": 1}}, c.version, &up)
	c.version = up.Version
}

func (c *cycleState) get(t *testing.T, url string) {
	var got struct {
		ID string `json:"id"`
	}
	raw(t, "GET", url+"/api/v1/intents/"+c.id, nil, 0, &got)
}

// roundTripProxy starts a proxy in front of the PostgreSQL server of dsn (a unix socket, as
// pgtest's, or TCP) and returns the dsn reaching the database through it, and the counter of round
// trips made through it: each time a connection's client side sends after the server side sent.
func roundTripProxy(t *testing.T, dsn string) (string, *atomic.Int64) {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	port := u.Port()
	if port == "" {
		port = q.Get("port")
	}
	if port == "" {
		port = "5432"
	}
	network, target := "unix", ""
	if host := q.Get("host"); host != "" && host[0] == '/' {
		target = filepath.Join(host, ".s.PGSQL."+port)
	} else {
		network, target = "tcp", net.JoinHostPort(u.Hostname(), port)
	}
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL."+port))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	var count atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			// answered: the server side sent since the client side last did.
			var answered atomic.Bool
			answered.Store(true)
			pipe := func(dst, src net.Conn, fromClient bool) {
				defer wg.Done()
				defer dst.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						if fromClient {
							if answered.Swap(false) {
								count.Add(1)
							}
						} else {
							answered.Store(true)
						}
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						if !errors.Is(err, io.EOF) {
							src.Close()
						}
						return
					}
				}
			}
			wg.Add(2)
			go pipe(s, c, true)
			go pipe(c, s, false)
		}
	}()
	q.Set("host", dir)
	u.RawQuery = q.Encode()
	u.Host = ""
	if u.Port() == "" && q.Get("port") == "" {
		q.Set("port", port)
		u.RawQuery = q.Encode()
	}
	return u.String(), &count
}
