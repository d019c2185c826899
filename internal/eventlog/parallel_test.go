package eventlog

import (
	"crypto/sha256"
	"reflect"
	"runtime"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
)

// The fast path of CheckChain (events hashed on several goroutines, each with a Hasher that
// copies strings it knows are plain) gives the same hashes as the slow one (each event's
// AppendCanonical hashed alone), and the same report whatever the number of goroutines, on
// intact and tampered chains, with failures in every part of the split.
func TestParallelCheckAgreesWithSlowPath(t *testing.T) {
	for _, realistic := range []bool{false, true} {
		for _, n := range []int{0, 1, parallelRun - 1, 2 * parallelRun, 5*parallelRun + 3} {
			evs := chainOf(t, n, realistic)
			for _, tamper := range []bool{false, true} {
				if tamper && n > 2 {
					for _, i := range []int{1, n / 3, n / 2, n/2 + 1, n - 1} {
						evs[i].Payload = models.Object{"n": -1.5, "x": "tampered"}
					}
					evs[n/4].Actor = "\xff" // cannot be hashed
					s := "sha256:" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
					evs[2*n/3].PreviousEventHash = &s // a broken link
					evs[3*n/4].EventHash = s          // a stored hash that is not its content's
				}
				other := "another intent" // a checkpoint that is skipped but makes Hashes filled
				cps := []models.LogCheckpoint{{IntentID: &other}}
				prev := runtime.GOMAXPROCS(1)
				slow := CheckChain(evs, "", cps)
				runtime.GOMAXPROCS(4)
				fast := CheckChain(evs, "", cps)
				runtime.GOMAXPROCS(prev)
				if !reflect.DeepEqual(slow, fast) {
					t.Fatalf("n=%d tamper=%v: one goroutine and four disagree:\n%+v\n%+v", n, tamper, slow.Breaks, fast.Breaks)
				}
				hashBreaks := 0
				for i := range evs {
					want := [32]byte{}
					b, err := AppendCanonical(nil, &evs[i])
					if err == nil {
						want = sha256.Sum256(b)
					}
					if fast.Hashes[i] != Hash(want) {
						t.Fatalf("n=%d tamper=%v: event %d: hash differs from the slow path's", n, tamper, i)
					}
					if err != nil || Hash(want).String() != evs[i].EventHash {
						hashBreaks++
					}
				}
				got := 0
				for _, b := range fast.Breaks {
					if b.Reason == ReasonHash {
						got++
					}
				}
				if got != hashBreaks {
					t.Fatalf("n=%d tamper=%v: %d hash breaks, the slow path finds %d", n, tamper, got, hashBreaks)
				}
				if tamper && n > 2 && hashBreaks < 7 {
					t.Fatalf("n=%d: only %d hash breaks after tampering", n, hashBreaks)
				}
			}
		}
	}
}
