package bench_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// BenchmarkReplicaThroughput (issue #17): the mixed reads and writes of BenchmarkThroughput from
// 64 clients, on PostgreSQL (a local cluster over a unix socket: internal/pgtest), spread over 3
// replicas of the server (each its own store and connections, one database), in batches
// interleaved with batches of the same 64 clients all on one of them (the baseline). Reports the
// requests per second of each and the p50/p99 latency of each. Skipped without PostgreSQL.
func BenchmarkReplicaThroughput(b *testing.B) {
	dsn := pgtest.URL(b)
	const replicas, clients = 3, 64
	var urls []string
	for range replicas {
		st, err := store.Open(context.Background(), dsn, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		srv, err := server.New(server.Config{Store: st, APIKeys: []string{key}, SecretKey: []byte("0123456789abcdef0123456789abcdef")})
		if err != nil {
			b.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		b.Cleanup(func() { hs.Close(); srv.Close(); st.Close() })
		urls = append(urls, hs.URL)
	}
	load := newMixedLoad(b, sdk(b, urls[0], "setup"))
	b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
		one, spread := make([]*openintent.Client, clients), make([]*openintent.Client, clients)
		for w := range clients {
			one[w] = sdk(b, urls[0], fmt.Sprintf("w%d", w))
			spread[w] = sdk(b, urls[w%replicas], fmt.Sprintf("w%d", w))
		}
		const batch = 2048
		var measured, base time.Duration
		var lat, baseLat []time.Duration
		for done := 0; done < b.N; done += batch {
			k := min(batch, b.N-done)
			d, l := load.run(b, one, k)
			base += d
			baseLat = append(baseLat, l...)
			d, l = load.run(b, spread, k)
			measured += d
			lat = append(lat, l...)
		}
		b.ReportMetric(float64(measured.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(float64(b.N)/measured.Seconds(), "req/s")
		b.ReportMetric(float64(b.N)/base.Seconds(), "baseline-req/s")
		for _, l := range []struct {
			name string
			lat  []time.Duration
		}{{"", lat}, {"1-replica-", baseLat}} {
			if len(l.lat) > 0 {
				sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
				b.ReportMetric(float64(l.lat[len(l.lat)/2].Microseconds()), l.name+"p50-µs")
				b.ReportMetric(float64(l.lat[len(l.lat)*99/100].Microseconds()), l.name+"p99-µs")
			}
		}
	})
}
