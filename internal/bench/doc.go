// Package bench holds the project's benchmarks (in its tests): SDK overhead, server cost per
// request cycle on both stores, throughput under concurrency, event-log and state scaling, lease
// contention, SSE fan-out and server memory. Each is compared with a baseline measured in the same
// run; the SDK, cycle and throughput figures measure theirs interleaved with themselves, so that
// the machine's speed drifting during a run weighs on both sides alike. `make bench` prints the
// ratios (see internal/benchtable).
package bench
