package eventlog

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

func leaf(i int) Hash { return sha256.Sum256([]byte(fmt.Sprint("leaf ", i))) }

func leaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		out[i] = leaf(i)
	}
	return out
}

func TestHashWireForm(t *testing.T) {
	var h Hash // 32 zero bytes: 43 'A's in unpadded base64url
	if got, want := h.String(), "sha256:"+strings.Repeat("A", 43); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	h = sha256.Sum256([]byte("abc"))
	// SHA-256("abc") = ba7816bf 8f01cfea ... ; its base64url written out by hand from the hex.
	if got, want := h.String(), "sha256:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	for _, s := range []string{h.String(), h.String() + "="} {
		if back, err := Parse(s); err != nil || back != h {
			t.Errorf("Parse(%q) = %v, %v", s, back, err)
		}
	}
	for _, bad := range []string{"", "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0", "sha256:", "sha256:abc", "sha256:" + strings.Repeat("A", 44), "sha512:" + strings.Repeat("A", 43), "sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

// The bytes an event's hash covers, written out by hand: members sorted, no whitespace, the
// payload's members sorted too, non-ASCII as itself, '<' unescaped, null previous_event_hash,
// the trace fields and the proof in their places.
func TestCanonicalEvent(t *testing.T) {
	prev := "sha256:" + strings.Repeat("B", 43)
	ev := models.IntentEvent{
		ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", IntentID: "intent-1", EventType: "comment", Actor: "agent \"a\"",
		Payload:   models.Object{"z": 1.0, "a": []any{"é<", 2.5, nil, true}, "m": map[string]any{"b": 1e21, "a": 0.1}},
		CreatedAt: timestamp.New(time.Date(2026, 2, 12, 10, 15, 0, 120000000, time.UTC)),
		Sequence:  42, TraceID: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", ParentEventID: "evt-0",
	}
	want := `{"actor":"agent \"a\"","created_at":"2026-02-12T10:15:00.12Z","event_type":"comment","id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",` +
		`"intent_id":"intent-1","parent_event_id":"evt-0","payload":{"a":["é<",2.5,null,true],"m":{"a":0.1,"b":1e+21},"z":1},` +
		`"previous_event_hash":null,"sequence":42,"trace_id":"a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"}`
	got, err := AppendCanonical(nil, &ev)
	if err != nil || string(got) != want {
		t.Fatalf("canonical:\n got %s (%v)\nwant %s", got, err, want)
	}
	if h, _ := EventHash(&ev); h != sha256.Sum256([]byte(want)) {
		t.Error("EventHash is not the SHA-256 of the canonical bytes")
	}

	ev = models.IntentEvent{ID: "e", IntentID: "i", EventType: "t", Actor: "a", PreviousEventHash: &prev, Sequence: 7,
		Proof: models.EventProof{Type: "Ed25519Signature2026", Created: "2026-02-12T10:15:00Z", VerificationMethod: "did:key:z6Mk", Signature: "c2ln"}}
	want = `{"actor":"a","created_at":null,"event_type":"t","id":"e","intent_id":"i","payload":{},"previous_event_hash":"` + prev + `",` +
		`"proof":{"created":"2026-02-12T10:15:00Z","signature":"c2ln","type":"Ed25519Signature2026","verification_method":"did:key:z6Mk"},"sequence":7}`
	if got, err := AppendCanonical(nil, &ev); err != nil || string(got) != want {
		t.Fatalf("canonical:\n got %s (%v)\nwant %s", got, err, want)
	}
	ev.Actor = "\xff"
	if _, err := EventHash(&ev); err == nil {
		t.Error("an actor that is not UTF-8 was hashed")
	}
}

// Roots of small trees, built by hand from the RFC's rule (the last leaf repeated).
func TestRootByHand(t *testing.T) {
	a, b, c, d, e := leaf(0), leaf(1), leaf(2), leaf(3), leaf(4)
	cases := []struct {
		leaves []Hash
		want   Hash
	}{
		{[]Hash{a}, a},
		{[]Hash{a, b}, node(a, b)},
		{[]Hash{a, b, c}, node(node(a, b), node(c, c))},
		{[]Hash{a, b, c, d}, node(node(a, b), node(c, d))},
		{[]Hash{a, b, c, d, e}, node(node(node(a, b), node(c, d)), node(node(e, e), node(e, e)))},
	}
	for i, tc := range cases {
		if got := Root(tc.leaves); got != tc.want {
			t.Errorf("case %d: root differs", i)
		}
		if got := Build(tc.leaves).Root(); got != tc.want {
			t.Errorf("case %d: Build's root differs", i)
		}
	}
	// The path of c in [a b c]: its copy on the right, then (a b) on the left.
	p := Path(cases[2].leaves, 2)
	if len(p) != 2 || p[0] != (Step{Hash: c}) || p[1] != (Step{Hash: node(a, b), Left: true}) {
		t.Errorf("path of c: %+v", p)
	}
}

// A stored Tree answers the same paths as the whole tree, for sizes around block boundaries.
func TestTreePathsMatchTheWholeTree(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8, 255, 256, 257, 511, 512, 513, 1000, 1024, 1500} {
		ls := leaves(n)
		tree := Build(ls)
		root := Root(ls)
		if tree.Root() != root {
			t.Fatalf("n=%d: roots differ", n)
		}
		for _, i := range []int{0, 1, n / 2, n - 2, n - 1} {
			if i < 0 || i >= n {
				continue
			}
			lo := i / int(tree.Block) * int(tree.Block)
			got, err := tree.Path(int64(i), ls[lo:min(lo+int(tree.Block), n)])
			if err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			want := Path(ls, i)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("n=%d i=%d: paths differ", n, i)
			}
			if err := VerifyPath(ls[i], int64(i), int64(n), got, root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
		}
	}
}

// Forged proofs are refused: another leaf, a changed sibling, a flipped side, a leaf index
// that is not the leaf's, a padding copy past the end, a path of the wrong length, another root.
func TestForgedPathsAreRefused(t *testing.T) {
	ls := leaves(7)
	root := Root(ls)
	path := Path(ls, 5)
	if err := VerifyPath(ls[5], 5, 7, path, root); err != nil {
		t.Fatal(err)
	}
	changed := append([]Step(nil), path...)
	changed[1].Hash[0] ^= 1
	flipped := append([]Step(nil), path...)
	flipped[0].Left = !flipped[0].Left
	padding := Path(padded(ls, 8), 7) // the copy of leaf 6 at index 7
	for name, err := range map[string]error{
		"another leaf":     VerifyPath(ls[4], 5, 7, path, root),
		"changed sibling":  VerifyPath(ls[5], 5, 7, changed, root),
		"flipped side":     VerifyPath(ls[5], 5, 7, flipped, root),
		"wrong index":      VerifyPath(ls[5], 4, 7, path, root),
		"index past count": VerifyPath(ls[6], 7, 7, padding, root),
		"short path":       VerifyPath(ls[5], 5, 7, path[:2], root),
		"tree of 16":       VerifyPath(ls[5], 5, 16, path, root),
		"another root":     VerifyPath(ls[5], 5, 7, path, Root(ls[:6])),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The wire form round-trips and is checked the same way.
	p := models.MerkleProof{EventHash: ls[5].String(), MerkleRoot: root.String(), LeafIndex: 5, EventCount: 7, ProofHashes: StepsToWire(path)}
	if err := VerifyProof(p, root.String(), 7); err != nil {
		t.Fatal(err)
	}
	p.ProofHashes[0].Position = "up"
	if err := VerifyProof(p, root.String(), 7); err == nil {
		t.Error("a step positioned up was accepted")
	}
}

// chain builds n events of one intent, linked and hashed as a server appends them.
func chain(t testing.TB, n int) []models.IntentEvent { return chainOf(t, n, false) }

func chainOf(t testing.TB, n int, realistic bool) []models.IntentEvent {
	evs := make([]models.IntentEvent, n)
	var prev *string
	for i := range evs {
		evs[i] = models.IntentEvent{ID: fmt.Sprintf("e%d", i), IntentID: "i", EventType: "comment", Actor: "a",
			Payload: models.Object{"n": float64(i)}, CreatedAt: timestamp.New(time.Unix(1_800_000_000+int64(i), 5000)), Sequence: int64(3 * (i + 1)), PreviousEventHash: prev}
		if realistic {
			evs[i].ID = fmt.Sprintf("0190a1b2-c3d4-7e5f-8a9b-%012d", i)
			evs[i].IntentID = "0190a1b2-0000-7e5f-8a9b-0c1d2e3f4a5b"
			evs[i].Actor = "research-agent"
			evs[i].Payload = models.Object{"note": fmt.Sprint("step ", i, " of the analysis"), "progress": float64(i) / 1000}
		}
		h, err := EventHash(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		evs[i].EventHash = h.String()
		s := evs[i].EventHash
		prev = &s
	}
	return evs
}

func TestCheckChain(t *testing.T) {
	evs := chain(t, 6)
	hashes := make([]Hash, len(evs))
	for i := range evs {
		hashes[i], _ = Parse(evs[i].EventHash)
	}
	intent := "i"
	cp := models.LogCheckpoint{ID: "chk", IntentID: &intent, EventCount: 3, FirstSequence: evs[1].Sequence, LastSequence: evs[3].Sequence, MerkleRoot: Root(hashes[1:4]).String()}
	if r := CheckChain(evs, "", []models.LogCheckpoint{cp}); len(r.Breaks) != 0 || r.Checkpoints != 1 {
		t.Fatalf("a sound chain: %+v", r.Breaks)
	}
	// A changed payload breaks that event's hash, and the checkpoint over it.
	bad := append([]models.IntentEvent(nil), evs...)
	bad[2].Payload = models.Object{"n": 99.0}
	r := CheckChain(bad, "", []models.LogCheckpoint{cp})
	if len(r.Breaks) != 2 || r.Breaks[0].Reason != ReasonHash || r.Breaks[0].EventID != "e2" || r.Breaks[1].Reason != ReasonCheckpoint || r.Links(bad)[2].Verified || !r.Links(bad)[1].Verified {
		t.Fatalf("changed payload: %+v", r.Breaks)
	}
	// So do a changed trace id and parent event id (RFC-0020 fields are covered).
	for _, f := range []func(*models.IntentEvent){func(e *models.IntentEvent) { e.TraceID = "x" }, func(e *models.IntentEvent) { e.ParentEventID = "x" }} {
		bad = append([]models.IntentEvent(nil), evs...)
		f(&bad[4])
		if r := CheckChain(bad, "", nil); len(r.Breaks) != 1 || r.Breaks[0].EventID != "e4" {
			t.Fatalf("changed trace field: %+v", r.Breaks)
		}
	}
	// A removed event breaks the link of the next one.
	removed := append(append([]models.IntentEvent(nil), evs[:3]...), evs[4:]...)
	if r := CheckChain(removed, "", nil); len(r.Breaks) != 1 || r.Breaks[0].Reason != ReasonLink || r.Breaks[0].EventID != "e4" {
		t.Fatalf("removed event: %+v", r.Breaks)
	}
	// A run that starts mid-log checks against the hash remembered before it.
	if r := CheckChain(evs[3:], evs[2].EventHash, nil); len(r.Breaks) != 0 {
		t.Fatalf("suffix: %+v", r.Breaks)
	}
	if r := CheckChain(evs[3:], "", nil); len(r.Breaks) != 1 || r.Breaks[0].Reason != ReasonLink {
		t.Fatalf("suffix taken for the whole log: %+v", r.Breaks)
	}
}

func BenchmarkCheckChain(b *testing.B) {
	evs := chainOf(b, 1000, true)
	b.ResetTimer()
	for range b.N {
		if r := CheckChain(evs, "", nil); len(r.Breaks) != 0 {
			b.Fatal(r.Breaks)
		}
	}
}

func BenchmarkSHA256Only(b *testing.B) {
	evs := chainOf(b, 1000, true)
	var bufs [][]byte
	for i := range evs {
		c, _ := AppendCanonical(nil, &evs[i])
		bufs = append(bufs, c)
	}
	b.ResetTimer()
	for range b.N {
		for _, c := range bufs {
			_ = sha256.Sum256(c)
		}
	}
}

func TestAppendTimeIsRFC3339Nano(t *testing.T) {
	for _, tm := range []time.Time{time.Unix(0, 0), time.Date(2026, 2, 12, 10, 15, 0, 120000000, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Unix(1_800_000_000, 123456000).UTC(), time.Unix(1_800_000_000, 100).UTC(), time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999, time.UTC), time.Date(2024, 12, 31, 12, 0, 0, 0, time.UTC)} {
		if got, want := string(appendTime(nil, tm)), tm.Format(time.RFC3339Nano); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	// Every day of four centuries, at a second of each hour.
	for d := time.Date(1890, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2290; d = d.Add(24*time.Hour + 37*time.Second) {
		if got, want := string(appendTime(nil, d)), d.Format(time.RFC3339Nano); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}
