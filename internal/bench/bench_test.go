package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

const key = "bench-key"

// startServer runs a server without response validation (the validator would dominate).
func startServer(b *testing.B, path string) (string, *store.Store) {
	b.Helper()
	return startServerWith(b, path, store.Options{})
}

func startServerWith(b testing.TB, path string, opts store.Options) (string, *store.Store) {
	b.Helper()
	if path == "" {
		path = store.Memory
	}
	st, err := store.Open(context.Background(), path, opts)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{key}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); st.Close() })
	return hs.URL, st
}

func sdk(b *testing.B, url, agent string) *openintent.Client {
	c, err := openintent.NewClient(url, openintent.WithAPIKey(key), openintent.WithAgentID(agent))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// raw sends one JSON request with plain net/http and decodes the answer into out.
var rawClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// idempotent makes raw POSTs carry an Idempotency-Key, as the SDK's do.
var idempotent = true

func raw(b testing.TB, method, url string, body any, ifMatch int64, out any) {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Agent-ID", "raw")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch > 0 {
		req.Header.Set("If-Match", strconv.FormatInt(ifMatch, 10))
	}
	if method == "POST" && idempotent {
		// The same request as the SDK's, which sends a key with every POST it may retry.
		req.Header.Set("Idempotency-Key", strconv.FormatInt(rand.Int64(), 36)+strconv.FormatInt(rand.Int64(), 36))
	}
	res, err := rawClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(res.Body)
		b.Fatalf("%s %s: %d %s", method, url, res.StatusCode, msg)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		b.Fatal(err)
	}
}

// interleaved measures op alternately with its baseline base, so that the machine's speed
// drifting during the run (it does, by tens of percent within minutes) weighs on both alike.
// It reports op's ns/op, B/op and allocs/op (allocations read from runtime/metrics, which,
// unlike the testing package's timer switches, does not stop the world) and base's
// baseline-ns/op.
func interleaved(b *testing.B, base, op func()) {
	var baseTime, opTime time.Duration
	var allocs allocations
	for b.Loop() {
		t0 := time.Now()
		base()
		baseTime += time.Since(t0)
		allocs.start()
		t1 := time.Now()
		op()
		opTime += time.Since(t1)
		allocs.stop()
	}
	b.ReportMetric(float64(opTime.Nanoseconds())/float64(b.N), "ns/op")
	allocs.report(b)
	b.ReportMetric(float64(baseTime.Nanoseconds())/float64(b.N), "baseline-ns/op")
}

// allocations counts the heap allocations (of every goroutine) between start and stop calls.
type allocations struct {
	samples        []metrics.Sample
	objects, bytes uint64
	o0, b0         uint64
}

func (a *allocations) read() (objects, bytes uint64) {
	if a.samples == nil {
		a.samples = []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	}
	metrics.Read(a.samples)
	return a.samples[0].Value.Uint64() + a.samples[1].Value.Uint64(), a.samples[2].Value.Uint64()
}

func (a *allocations) start() { a.o0, a.b0 = a.read() }

func (a *allocations) stop() {
	o, by := a.read()
	a.objects, a.bytes = a.objects+o-a.o0, a.bytes+by-a.b0
}

// report reports B/op and allocs/op over b.N operations.
func (a *allocations) report(b *testing.B) {
	b.ReportMetric(float64(a.bytes)/float64(b.N), "B/op")
	b.ReportMetric(float64(a.objects)/float64(b.N), "allocs/op")
}

// BenchmarkSDKOverhead: get_intent, update_state and log_event through the SDK, each interleaved
// with the same request made with plain net/http + encoding/json, against the same server.
func BenchmarkSDKOverhead(b *testing.B) {
	url, _ := startServer(b, "")
	c := sdk(b, url, "bench")
	ctx := context.Background()
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "bench", State: openintent.Object{"n": 0}})
	if err != nil {
		b.Fatal(err)
	}
	version := in.Version
	b.Run("get_intent", func(b *testing.B) {
		interleaved(b, func() {
			var out openintent.Intent
			raw(b, "GET", url+"/api/v1/intents/"+in.ID, nil, 0, &out)
		}, func() {
			if _, err := c.GetIntent(ctx, in.ID); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("update_state", func(b *testing.B) {
		interleaved(b, func() {
			var out openintent.Intent
			raw(b, "POST", url+"/api/v1/intents/"+in.ID+"/state", map[string]any{"state": map[string]any{"n": 1}}, version, &out)
			version = out.Version
		}, func() {
			up, err := c.UpdateState(ctx, in.ID, version, openintent.Object{"n": 1})
			if err != nil {
				b.Fatal(err)
			}
			version = up.Version
		})
	})
	b.Run("log_event", func(b *testing.B) {
		interleaved(b, func() {
			var out openintent.IntentEvent
			raw(b, "POST", url+"/api/v1/intents/"+in.ID+"/events", map[string]any{"event_type": "comment", "actor": "raw", "payload": map[string]any{"n": 1}}, 0, &out)
		}, func() {
			if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": 1}); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// cycle makes create + update_state + get with plain net/http.
func cycle(b *testing.B, url string) {
	var in openintent.Intent
	raw(b, "POST", url+"/api/v1/intents", map[string]any{"title": "cycle", "state": map[string]any{"n": 0}}, 0, &in)
	var up openintent.Intent
	raw(b, "POST", url+"/api/v1/intents/"+in.ID+"/state", map[string]any{"state": map[string]any{"n": 1}}, in.Version, &up)
	var got openintent.Intent
	raw(b, "GET", url+"/api/v1/intents/"+in.ID, nil, 0, &got)
}

// BenchmarkServerCycle: the server's cost of create + update_state + get on each store, each
// interleaved with the same requests to a handler that answers them with a canned intent.
func BenchmarkServerCycle(b *testing.B) {
	canned := []byte(`{"id":"c","title":"cycle","description":"","created_by":"raw","parent_id":null,"parent_intent_id":null,"depends_on":[],"constraints":{},"state":{"n":1},"status":"draft","confidence":0,"version":2,"governance_policy":null,"created_at":"2026-11-23T00:00:00Z","updated_at":"2026-11-23T00:00:00Z"}`)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(canned)
	}))
	b.Cleanup(hs.Close)
	for _, s := range []struct {
		name string
		path func(b *testing.B) string
		opts store.Options
	}{
		{"memory", func(*testing.B) string { return "" }, store.Options{}},
		{"file", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }, store.Options{}},
		{"file_fsync", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }, store.Options{FsyncEveryCommit: true}},
		// PostgreSQL (issue #17): a throwaway local cluster (internal/pgtest), skipped without one.
		{"postgres", func(b *testing.B) string { return pgtest.URL(b) }, store.Options{}},
	} {
		b.Run(s.name, func(b *testing.B) {
			url, _ := startServerWith(b, s.path(b), s.opts)
			interleaved(b, func() { cycle(b, hs.URL) }, func() { cycle(b, url) })
		})
	}
}

// mixedLoad is the throughput benchmarks' load: requests spread over 200 intents, one in four
// appending an event (LogEvent), the others reading an intent (GetIntent).
type mixedLoad struct {
	ids  []string
	next atomic.Int64
}

// newMixedLoad creates the load's intents through c.
func newMixedLoad(b *testing.B, c *openintent.Client) *mixedLoad {
	l := &mixedLoad{ids: make([]string, 200)}
	for i := range l.ids {
		in, err := c.CreateIntent(context.Background(), openintent.IntentCreate{Title: "t"})
		if err != nil {
			b.Fatal(err)
		}
		l.ids[i] = in.ID
	}
	return l
}

// run makes n requests from the given clients and returns how long they took and each
// request's latency.
func (l *mixedLoad) run(b *testing.B, clients []*openintent.Client, n int) (time.Duration, []time.Duration) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(n))
	lat := make([][]time.Duration, len(clients))
	start := time.Now()
	var wg sync.WaitGroup
	for w, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				k := l.next.Add(1)
				id := l.ids[int(k)%len(l.ids)]
				t0 := time.Now()
				var err error
				if k%4 == 0 {
					_, err = cl.LogEvent(ctx, id, openintent.EventComment, nil)
				} else {
					_, err = cl.GetIntent(ctx, id)
				}
				if err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, d := range lat {
		all = append(all, d...)
	}
	return elapsed, all
}

// BenchmarkThroughput: mixed reads and writes over many intents from 8 and 64 concurrent
// clients, in batches interleaved with batches from one client (the baseline), so that the
// machine's speed drifting weighs on both alike; reports requests per second of each and the
// measured side's p50/p99 latency.
func BenchmarkThroughput(b *testing.B) {
	url, _ := startServer(b, "")
	c := sdk(b, url, "setup")
	load := newMixedLoad(b, c)
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			clients := make([]*openintent.Client, n)
			for w := range clients {
				clients[w] = sdk(b, url, fmt.Sprintf("w%d", w))
			}
			single := []*openintent.Client{sdk(b, url, "single")}
			const batch = 4096
			var measured, base time.Duration
			var lat []time.Duration
			var allocs allocations
			for done := 0; done < b.N; done += batch {
				k := min(batch, b.N-done)
				d, _ := load.run(b, single, k)
				base += d
				allocs.start()
				d, l := load.run(b, clients, k)
				allocs.stop()
				measured += d
				lat = append(lat, l...)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(measured.Nanoseconds())/float64(b.N), "ns/op")
			allocs.report(b)
			b.ReportMetric(float64(b.N)/measured.Seconds(), "req/s")
			b.ReportMetric(float64(b.N)/base.Seconds(), "baseline-req/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// BenchmarkEventsFirstPage: the first page of get_events on an intent with 100 and with 100,000
// events.
func BenchmarkEventsFirstPage(b *testing.B) {
	url, st := startServer(b, "")
	c := sdk(b, url, "reader")
	ctx := context.Background()
	for _, n := range []int{100, 100_000} {
		in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "log"})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.AppendEvents(ctx, in.ID, "bench", n); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
				if err != nil || len(page) != 100 {
					b.Fatal(len(page), err)
				}
			}
		})
	}
}

// BenchmarkUpdateStateSize: one state update on an intent whose state holds 0 and 10,000 keys.
func BenchmarkUpdateStateSize(b *testing.B) {
	url, _ := startServer(b, "")
	c := sdk(b, url, "writer")
	ctx := context.Background()
	for _, n := range []int{0, 10_000} {
		state := openintent.Object{}
		for i := range n {
			state[fmt.Sprintf("key-%05d", i)] = i
		}
		in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "big", State: state})
		if err != nil {
			b.Fatal(err)
		}
		version := in.Version
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				up, err := c.UpdateState(ctx, in.ID, version, openintent.Object{"counter": version})
				if err != nil {
					b.Fatal(err)
				}
				version = up.Version
			}
		})
	}
}

// BenchmarkLeaseContention: acquiring and releasing one scope alone, and with 32 agents
// contending (each op is one successful acquire+release).
func BenchmarkLeaseContention(b *testing.B) {
	url, _ := startServer(b, "")
	setup := sdk(b, url, "setup")
	ctx := context.Background()
	for _, agents := range []int{1, 32} {
		in, err := setup.CreateIntent(ctx, openintent.IntentCreate{Title: "lease"})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			var done atomic.Int64
			var wg sync.WaitGroup
			for a := range agents {
				c := sdk(b, url, fmt.Sprintf("a%d", a))
				wg.Add(1)
				go func() {
					defer wg.Done()
					for done.Load() < int64(b.N) {
						l, err := c.AcquireLease(ctx, in.ID, "s", time.Minute)
						if err != nil {
							continue // held by another agent
						}
						done.Add(1)
						if err := c.ReleaseLease(ctx, in.ID, l.ID); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkSSEFanout: time from appending one event until every live subscriber of the intent
// has received it, with 1 and 1,000 subscribers.
func BenchmarkSSEFanout(b *testing.B) {
	url, _ := startServer(b, "")
	c := sdk(b, url, "writer")
	for _, subs := range []int{1, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "fanout"})
			if err != nil {
				b.Fatal(err)
			}
			got := make(chan struct{}, subs)
			ready := make(chan struct{}, subs)
			tr := &http.Transport{MaxIdleConnsPerHost: subs + 10}
			b.Cleanup(tr.CloseIdleConnections)
			for s := range subs {
				sc, err := openintent.NewClient(url, openintent.WithAPIKey(key), openintent.WithAgentID(fmt.Sprintf("s%d", s)),
					openintent.WithHTTPClient(&http.Client{Transport: tr}))
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					first := true
					for _, err := range sc.StreamIntentEvents(ctx, in.ID, openintent.WithLastEventID("0")) {
						if err != nil {
							return
						}
						if first { // the replayed intent_created: the stream is open
							first = false
							ready <- struct{}{}
							continue
						}
						got <- struct{}{}
					}
				}()
			}
			for range subs {
				<-ready
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil); err != nil {
					b.Fatal(err)
				}
				for range subs {
					<-got
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms-to-all")
		})
	}
}

// BenchmarkServerMemory: live heap of a server holding 10,000 intents with 10 events each,
// against an empty server.
func BenchmarkServerMemory(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		b.Run(fmt.Sprintf("intents=%d", n), func(b *testing.B) {
			for b.Loop() {
				debug.FreeOSMemory() // a GC that also returns freed pages, so RSS counts what is held
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				rssBefore := rssBytes()
				srv, err := openintenttest.Start()
				if err != nil {
					b.Fatal(err)
				}
				c, err := srv.NewClient("mem")
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				for range n {
					in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "m"})
					if err != nil {
						b.Fatal(err)
					}
					if err := srv.Store.AppendEvents(ctx, in.ID, "mem", 9); err != nil {
						b.Fatal(err)
					}
				}
				debug.FreeOSMemory()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MB")
				if rss := rssBytes(); rss > 0 && rssBefore > 0 {
					// SQLite's pages live outside the Go heap: the resident set shows them.
					b.ReportMetric(float64(rss-rssBefore)/(1<<20), "rss-MB")
				}
				srv.Close()
			}
		})
	}
}

// rssBytes returns the process's resident set size from /proc (Linux), or 0 where unavailable.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
