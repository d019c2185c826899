package bench_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// fetchLog returns an intent's whole log through the SDK, oldest first.
func fetchLog(b *testing.B, c *openintent.Client, intentID string) []openintent.IntentEvent {
	var evs []openintent.IntentEvent
	for ev, err := range c.Events(context.Background(), intentID, openintent.GetEventsParams{Limit: 1000}) {
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	slices.Reverse(evs)
	return evs
}

// BenchmarkChainVerify: the SDK's offline verification of a 10,000-event chain (RFC-0019: each
// event's canonical JSON rebuilt from the decoded event and hashed, each link checked),
// interleaved with hashing the same canonical bytes with crypto/sha256 alone (on one goroutine;
// VerifyChain hashes a run this long on GOMAXPROCS goroutines, then compares the links in order). The events are
// comment events as a server appends them (ids, hashes, times; payload {"n": i}). Also the
// server's own verification of the same chain through HTTP (reported).
func BenchmarkChainVerify(b *testing.B) {
	url, st := startServer(b, "")
	c := sdk(b, url, "bench")
	ctx := context.Background()
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "chain"})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AppendEvents(ctx, in.ID, "bench", 9_999); err != nil {
		b.Fatal(err)
	}
	evs := fetchLog(b, c, in.ID)
	if len(evs) != 10_000 {
		b.Fatalf("%d events", len(evs))
	}
	canon := make([][]byte, len(evs))
	for i := range evs {
		if canon[i], err = eventlog.AppendCanonical(nil, &evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("events=10000", func(b *testing.B) {
		var sink byte
		interleaved(b, func() {
			for _, c := range canon {
				h := sha256.Sum256(c)
				sink ^= h[0]
			}
		}, func() {
			if _, err := openintent.VerifyChain(evs, openintent.ChainCheck{}); err != nil {
				b.Fatal(err)
			}
		})
		_ = sink
	})
	b.Run("server/events=10000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := c.VerifyEventChain(ctx, in.ID)
			if err != nil || !v.Valid {
				b.Fatal(v, err)
			}
		}
	})
}

// BenchmarkInclusionProof: the inclusion proof of one event in a checkpoint over a
// 100,000-event log: fetched through the SDK (the server reads the checkpoint's stored tree and
// one block of leaves) and verified offline with the event's hash recomputed. Also reported:
// making the checkpoint, and the first proof, which decodes the stored tree (later ones find it
// decoded).
func BenchmarkInclusionProof(b *testing.B) {
	url, st := startServer(b, "")
	c := sdk(b, url, "bench")
	ctx := context.Background()
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "big log"})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AppendEvents(ctx, in.ID, "bench", 99_999); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	cp, err := c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: in.ID})
	if err != nil || cp.EventCount != 100_000 {
		b.Fatal(cp, err)
	}
	build := time.Since(start)
	page, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{Limit: 1, Offset: 38_221})
	if err != nil || len(page) != 1 {
		b.Fatal(page, err)
	}
	ev := page[0]
	start = time.Now()
	if _, err := c.GetMerkleProof(ctx, cp.ID, ev.ID); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	b.Run(fmt.Sprintf("events=%d", cp.EventCount), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.GetMerkleProof(ctx, cp.ID, ev.ID)
			if err != nil {
				b.Fatal(err)
			}
			if err := openintent.VerifyInclusion(*p, *cp, &ev); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "proof-ms")
		b.ReportMetric(float64(build.Milliseconds()), "checkpoint-ms")
		b.ReportMetric(float64(first.Microseconds())/1000, "first-proof-ms")
	})
}
