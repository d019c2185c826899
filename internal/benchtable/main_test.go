package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkServerCycle/memory-2         	    1674	    300000 ns/op	    200000 baseline-ns/op	   77062 B/op	    1224 allocs/op
BenchmarkServerCycle/file-2           	    1016	   1000000 ns/op	    200000 baseline-ns/op	   77048 B/op	    1223 allocs/op
BenchmarkThroughput/clients=64-2      	    1000	    50 ns/op	    1000 baseline-req/s	    2000 req/s	 900 p50-µs
BenchmarkOther-2                      	    10	    7 ns/op
PASS
`

func TestTable(t *testing.T) {
	byName, names, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 4 {
		t.Fatalf("parsed %d benchmarks, want 4: %v", len(names), names)
	}
	var out strings.Builder
	missed := write(&out, byName, names)
	if missed != 1 {
		t.Errorf("missed = %d, want 1 (file cycle at 5x against a 4x budget)\n%s", missed, out.String())
	}
	for _, want := range []string{
		"| ServerCycle/memory | 300000 | 77062 | 1224 | 200000 baseline-ns/op | canned handler, interleaved (baseline-ns/op) | 1.50x | ≤ 2.00x | ok |",
		"| ServerCycle/file | 1000000 | 77048 | 1223 | 200000 baseline-ns/op | canned handler, interleaved (baseline-ns/op) | 5.00x | ≤ 4.00x | MISSED |",
		"| Throughput/clients=64 | 50.0 | 0.00 | 0.00 | 1000 baseline-req/s, 2000 req/s, 900 p50-µs | 1 client, interleaved (baseline-req/s) | 2.00x | ≥ 1.50x | ok |",
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

// A benchmark measured against an interleaved baseline is represented by its run with the median
// ratio, not the median time: a run on a slow machine is slow on both sides.
func TestInterleavedRunsUseTheMedianRatio(t *testing.T) {
	out := `BenchmarkServerCycle/memory-2 10 500 ns/op 200 baseline-ns/op
BenchmarkServerCycle/memory-2 10 300 ns/op 200 baseline-ns/op
BenchmarkServerCycle/memory-2 10 700 ns/op 400 baseline-ns/op
`
	byName, names, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	write(&table, byName, names)
	if !strings.Contains(table.String(), "| ServerCycle/memory | 700 |") || !strings.Contains(table.String(), "| 1.75x |") {
		t.Fatalf("want the 1.75x run (ratios 2.5, 1.5, 1.75):\n%s", table.String())
	}
}
