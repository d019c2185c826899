package bench_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// runBenchAgent runs an agent until the benchmark ends.
func runBenchAgent(b *testing.B, a *agent.Agent) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		b.Fatal(err)
	}
}

// BenchmarkAgentDispatch: the time from an assignment event appended to the log to the start of
// the agent's handler (pkg/agent, issue #21): the agent's stream delivering the event, the runtime
// reading the intent, taking the lease and reading the intent again. One assignment at a time, on
// the memory store; reports the p50 and p99 (budget: p50 at most 5 ms).
func BenchmarkAgentDispatch(b *testing.B) {
	url, _ := startServer(b, "")
	boss := sdk(b, url, "boss")
	started := make(chan time.Duration, 1)
	a := agent.New(sdk(b, url, "dispatch"), "dispatch",
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			started <- time.Since(w.Event.CreatedAt.Time)
			return nil, nil
		}))
	runBenchAgent(b, a)
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		in, err := boss.CreateIntent(ctx, openintent.IntentCreate{Title: "dispatch", Status: openintent.StatusActive})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := boss.AssignAgent(ctx, in.ID, "dispatch"); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, <-started)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkAgentThroughput: handlers per second of one agent working 64 intents at once (pkg/agent,
// issue #21): each assignment's whole cycle (lease, handler, state patch, completion, release),
// 64 intents assigned together per round, MaxConcurrency 64, on the memory store. Reported.
func BenchmarkAgentThroughput(b *testing.B) {
	const batch = 64
	b.Run("intents=64", func(b *testing.B) {
		url, _ := startServer(b, "")
		boss := sdk(b, url, "boss")
		a := agent.New(sdk(b, url, "worker"), "worker", agent.MaxConcurrency(batch), agent.AutoComplete(),
			agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
				return openintent.Object{"result": w.Intent.Title}, nil
			}))
		runBenchAgent(b, a)
		// The worker's completions, seen on its agent stream (the events it writes).
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done, opened := make(chan struct{}, batch), make(chan struct{})
		go func() {
			for ev, err := range boss.StreamAgentEvents(ctx, "worker", openintent.WithStreamOpened(func() { close(opened) })) {
				if err == nil && ev.EventType == openintent.EventStatusChanged && ev.Payload["status"] == string(openintent.StatusCompleted) {
					done <- struct{}{}
				}
			}
		}()
		<-opened
		var elapsed time.Duration
		handled := 0
		for b.Loop() {
			b.StopTimer()
			ids := make([]string, batch)
			for i := range ids {
				in, err := boss.CreateIntent(ctx, openintent.IntentCreate{Title: "work", Status: openintent.StatusActive})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = in.ID
			}
			b.StartTimer()
			t0 := time.Now()
			for _, id := range ids {
				if _, err := boss.AssignAgent(ctx, id, "worker"); err != nil {
					b.Fatal(err)
				}
			}
			for range ids {
				<-done
			}
			elapsed += time.Since(t0)
			handled += batch
		}
		b.ReportMetric(float64(handled)/elapsed.Seconds(), "handlers/s")
	})
}
