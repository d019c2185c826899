// Package bench holds the project's benchmarks (in its tests): SDK overhead, server cost per
// request cycle on both stores, throughput under concurrency, event-log and state scaling, lease
// contention, SSE fan-out and server memory. Each is compared with a baseline measured in the same
// run; `make bench` prints the ratios (see internal/benchtable).
package bench
