package bench_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/store"
)

// BenchmarkChannelAsk: the round trip of Ask on a channel (RFC-0021) on each store: the request,
// an answering agent's stream delivering it, its reply, and the asker's stream delivering that.
// Interleaved with the same two writes made one after the other by one client (send, reply),
// so the ratio is what the streams' hops add; reports the p50 and p99 of the round trip.
func BenchmarkChannelAsk(b *testing.B) {
	for _, s := range []struct {
		name string
		path func(b *testing.B) string
	}{
		{"memory", func(*testing.B) string { return "" }},
		{"file", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }},
	} {
		b.Run(s.name, func(b *testing.B) {
			url, _ := startServerWith(b, s.path(b), store.Options{})
			asker, answerer := sdk(b, url, "asker"), sdk(b, url, "answerer")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in, err := asker.CreateIntent(ctx, openintent.IntentCreate{Title: "ask"})
			if err != nil {
				b.Fatal(err)
			}
			ch, err := asker.CreateChannel(ctx, in.ID, openintent.ChannelCreate{Name: "ask"})
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for m, err := range answerer.StreamChannelMessages(ctx, ch.ID, openintent.StreamChannelParams{After: "0"}) {
					if err != nil {
						return
					}
					if m.MessageType == openintent.MessageRequest && m.To != nil && *m.To == "answerer" {
						if _, err := answerer.ReplyTo(ctx, ch.ID, m.ID, openintent.ChannelReply{Payload: openintent.Object{"answer": 42}}); err != nil && ctx.Err() == nil {
							b.Error(err)
							return
						}
					}
				}
			}()
			question := openintent.Object{"question": "answer?"}
			var lat []time.Duration
			interleaved(b, func() {
				m, err := asker.Notify(ctx, ch.ID, "nobody", question)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := asker.ReplyTo(ctx, ch.ID, m.ID, openintent.ChannelReply{Payload: openintent.Object{"answer": 42}}); err != nil {
					b.Fatal(err)
				}
			}, func() {
				askCtx, done := context.WithTimeout(ctx, 30*time.Second)
				defer done()
				t0 := time.Now()
				if _, err := asker.Ask(askCtx, ch.ID, "answerer", question); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			})
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
