// Command benchtable turns the output of `go test -bench -benchmem ./internal/bench/` (read from
// stdin) into one Markdown table: each benchmark with ns/op, B/op, allocs/op and its custom
// metrics, the ratio against its baseline from the same run, and the budget from issue #5.
//
//	go test -run '^$' -bench . -benchmem ./internal/bench/ | go run ./internal/benchtable
package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// result is one benchmark line.
type result struct {
	name    string
	metrics map[string]float64 // unit -> value, e.g. "ns/op", "allocs/op", "req/s"
	order   []string
}

// budget compares a benchmark with its baseline: another benchmark of the same run, or, when the
// benchmark measured its baseline interleaved with itself, its own "baseline-" metric.
type budget struct {
	bench, baseline string  // names without the -GOMAXPROCS suffix (baseline: a description when interleaved)
	interleaved     bool    // the baseline is the benchmark's own "baseline-"+metric
	metric          string  // compared metric: "ns/op", "req/s", "fanout-ms", "heap-MB"...
	limit           float64 // the budget on the ratio (or on the value when absolute)
	atLeast         bool    // the ratio must be at least limit (throughput)
	absolute        bool    // the budget applies to the metric itself, not to a ratio
	soft            bool    // an aim, reported but not a hard budget
}

var budgets = []budget{
	{bench: "SDKOverhead/get_intent", baseline: "net/http + encoding/json", interleaved: true, metric: "ns/op", limit: 1.15},
	{bench: "SDKOverhead/update_state", baseline: "net/http + encoding/json", interleaved: true, metric: "ns/op", limit: 1.15},
	{bench: "SDKOverhead/log_event", baseline: "net/http + encoding/json", interleaved: true, metric: "ns/op", limit: 1.15},
	{bench: "ServerCycle/memory", baseline: "canned handler", interleaved: true, metric: "ns/op", limit: 2},
	{bench: "ServerCycle/file", baseline: "canned handler", interleaved: true, metric: "ns/op", limit: 4},
	{bench: "ServerCycle/file_fsync", baseline: "canned handler", interleaved: true, metric: "ns/op"},
	// Issue #17: PostgreSQL, a local cluster over a unix socket.
	{bench: "ServerCycle/postgres", baseline: "canned handler", interleaved: true, metric: "ns/op", limit: 6},
	// Issue #17: 64 clients spread over 3 replicas on one PostgreSQL database, against the same
	// clients on one of them (reported: writes are serialised across replicas).
	{bench: "ReplicaThroughput/clients=64", baseline: "the 64 clients on 1 replica", interleaved: true, metric: "req/s"},
	{bench: "Throughput/clients=8", baseline: "1 client", interleaved: true, metric: "req/s"},
	{bench: "Throughput/clients=64", baseline: "1 client", interleaved: true, metric: "req/s", limit: 1.5, atLeast: true},
	{bench: "EventsFirstPage/events=100000", baseline: "EventsFirstPage/events=100", metric: "ns/op", limit: 1.5},
	{bench: "UpdateStateSize/keys=10000", baseline: "UpdateStateSize/keys=0", metric: "ns/op", limit: 3, soft: true},
	{bench: "LeaseContention/agents=32", baseline: "LeaseContention/agents=1", metric: "ns/op"},
	{bench: "SSEFanout/subscribers=1000", baseline: "SSEFanout/subscribers=1", metric: "ns/op"},
	{bench: "SSEFanout/subscribers=1000", metric: "ms-to-all", limit: 50, absolute: true, soft: true},
	{bench: "ServerMemory/intents=10000", baseline: "ServerMemory/intents=0", metric: "heap-MB", limit: 50, absolute: true},
	// RSS includes SQLite's pages and memory the runtime has not returned yet: reported, not budgeted
	// (the issue budgets the heap); it varies from run to run by tens of MB on these machines.
	{bench: "ServerMemory/intents=10000", metric: "rss-MB", limit: 50, absolute: true, soft: true},
	// Issue #15 (RFC-0019).
	{bench: "ChainVerify/events=10000", baseline: "crypto/sha256 over the same bytes", interleaved: true, metric: "ns/op", limit: 2},
	{bench: "ChainVerify/server/events=10000", baseline: "ChainVerify/events=10000", metric: "ns/op"},
	{bench: "InclusionProof/events=100000", metric: "proof-ms", limit: 1, absolute: true},
	// RFC-0022/0023: a signed dispatch between two servers on loopback, against creating an
	// intent on one; the time from the peer's completion to the callback's event (reported).
	{bench: "FederationDispatch/dispatch", baseline: "create_intent on one server", interleaved: true, metric: "ns/op"},
	{bench: "FederationDispatch/callback", metric: "callback-ms", absolute: true},
	// RFC-0021: Ask's round trip through two channel streams, against the same two writes.
	{bench: "ChannelAsk/memory", baseline: "send + reply, no stream", interleaved: true, metric: "ns/op"},
	{bench: "ChannelAsk/memory", metric: "p99-µs", absolute: true},
	{bench: "ChannelAsk/file", baseline: "send + reply, no stream", interleaved: true, metric: "ns/op"},
	{bench: "ChannelAsk/file", metric: "p99-µs", absolute: true},
	// Issue #21 (pkg/agent): an assignment appended to the log until the agent's handler starts
	// (p50 at most 5 ms on the memory store), and handlers per second over 64 intents (reported).
	{bench: "AgentDispatch", metric: "p50-µs", limit: 5000, absolute: true},
	{bench: "AgentDispatch", metric: "p99-µs", absolute: true},
	{bench: "AgentThroughput/intents=64", metric: "handlers/s", absolute: true},
}

var suffix = regexp.MustCompile(`-\d+$`)

// baselinePrefix marks the metrics of a baseline measured interleaved with the benchmark.
const baselinePrefix = "baseline-"

// parse reads `go test -bench` output. With -count > 1, each benchmark is represented by its
// median run, so that one run slowed by a noisy machine does not decide a ratio: by its ratio to
// its interleaved baseline when it has one, else by ns/op.
func parse(r io.Reader) (map[string]*result, []string, error) {
	runs := map[string][]*result{}
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := suffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		res := &result{name: name, metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("benchmark %s: metric %q: %w", name, f[i+1], err)
			}
			res.metrics[f[i+1]] = v
			res.order = append(res.order, f[i+1])
		}
		if _, dup := runs[name]; !dup {
			names = append(names, name)
		}
		runs[name] = append(runs[name], res)
	}
	byName := make(map[string]*result, len(runs))
	for name, rs := range runs {
		key := func(r *result) float64 {
			for _, u := range r.order {
				if m, ok := strings.CutPrefix(u, baselinePrefix); ok && r.metrics[u] > 0 {
					return r.metrics[m] / r.metrics[u]
				}
			}
			return r.metrics["ns/op"]
		}
		slices.SortStableFunc(rs, func(a, b *result) int { return cmp.Compare(key(a), key(b)) })
		byName[name] = rs[(len(rs)-1)/2]
	}
	return byName, names, sc.Err()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func write(w io.Writer, byName map[string]*result, names []string) (missed int) {
	fmt.Fprintln(w, "| benchmark | ns/op | B/op | allocs/op | other | compared with | ratio / value | budget | |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- | --- | ---: | --- | --- |")
	for _, n := range names {
		r := byName[n]
		var other []string
		for _, u := range r.order {
			if u != "ns/op" && u != "B/op" && u != "allocs/op" {
				other = append(other, num(r.metrics[u])+" "+u)
			}
		}
		matched := false
		for _, b := range budgets {
			if b.bench != n {
				continue
			}
			matched = true
			cmp, value, limit, verdict := "", "", "reported", ""
			v, ok := r.metrics[b.metric]
			switch {
			case !ok:
				value = "no " + b.metric
			case b.absolute:
				cmp, value = b.metric, num(v)
			case b.interleaved:
				base := r.metrics[baselinePrefix+b.metric]
				if base == 0 {
					value = "no baseline"
					break
				}
				cmp, value = b.baseline+", interleaved ("+baselinePrefix+b.metric+")", num(v/base)+"x"
				v /= base
			default:
				base, ok := byName[b.baseline]
				if !ok || base.metrics[b.metric] == 0 {
					value = "no baseline"
					break
				}
				cmp, value = b.baseline+" ("+b.metric+")", num(v/base.metrics[b.metric])+"x"
				v = v / base.metrics[b.metric]
			}
			if b.limit != 0 && ok && value != "no baseline" {
				op := "≤"
				good := v <= b.limit
				if b.atLeast {
					op, good = "≥", v >= b.limit
				}
				limit = op + " " + num(b.limit)
				if b.absolute {
					limit += " " + b.metric
				} else {
					limit += "x"
				}
				if b.soft {
					limit = "aim " + limit
				}
				switch {
				case good:
					verdict = "ok"
				case b.soft:
					verdict = "above aim"
				default:
					verdict = "MISSED"
					missed++
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, num(r.metrics["ns/op"]), num(r.metrics["B/op"]),
				num(r.metrics["allocs/op"]), strings.Join(other, ", "), cmp, value, limit, verdict)
		}
		if !matched {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | | | | |\n", n, num(r.metrics["ns/op"]), num(r.metrics["B/op"]),
				num(r.metrics["allocs/op"]), strings.Join(other, ", "))
		}
	}
	return missed
}

func main() {
	byName, names, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(2)
	}
	if len(names) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on stdin")
		os.Exit(2)
	}
	if missed := write(os.Stdout, byName, names); missed > 0 {
		fmt.Fprintf(os.Stdout, "\n%d budget(s) missed.\n", missed)
	}
}
