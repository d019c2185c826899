package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkServerCycle/canned-2         	    5743	    200000 ns/op	   29312 B/op	     368 allocs/op
BenchmarkServerCycle/memory-2         	    1674	    300000 ns/op	   77062 B/op	    1224 allocs/op
BenchmarkServerCycle/file-2           	    1016	   1000000 ns/op	   77048 B/op	    1223 allocs/op
BenchmarkThroughput/clients=1-2       	    1000	    100 ns/op	    1000 req/s	 80 p50-µs
BenchmarkThroughput/clients=64-2      	    1000	    50 ns/op	    2000 req/s	 900 p50-µs
BenchmarkOther-2                      	    10	    7 ns/op
PASS
`

func TestTable(t *testing.T) {
	byName, names, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 6 {
		t.Fatalf("parsed %d benchmarks, want 6: %v", len(names), names)
	}
	var out strings.Builder
	missed := write(&out, byName, names)
	if missed != 1 {
		t.Errorf("missed = %d, want 1 (file cycle at 5x against a 4x budget)\n%s", missed, out.String())
	}
	for _, want := range []string{
		"| ServerCycle/memory | 300000 | 77062 | 1224 |  | ServerCycle/canned (ns/op) | 1.50x | ≤ 2.00x | ok |",
		"| ServerCycle/file | 1000000 | 77048 | 1223 |  | ServerCycle/canned (ns/op) | 5.00x | ≤ 4.00x | MISSED |",
		"| Throughput/clients=64 | 50.0 | 0.00 | 0.00 | 2000 req/s, 900 p50-µs | Throughput/clients=1 (req/s) | 2.00x | ≥ 1.50x | ok |",
		"| Other | 7.00 | 0.00 | 0.00 |  | | | | |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseRejectsBadNumber(t *testing.T) {
	if _, _, err := parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Fatal("want an error for a malformed metric")
	}
}

func TestRepeatedRunsUseTheMedian(t *testing.T) {
	out := "BenchmarkX-2 10 300 ns/op\nBenchmarkX-2 10 100 ns/op\nBenchmarkX-2 10 200 ns/op 5 allocs/op\n"
	byName, names, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || byName["X"].metrics["ns/op"] != 200 || byName["X"].metrics["allocs/op"] != 5 {
		t.Fatalf("names %v, X = %+v", names, byName["X"])
	}
}
