package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/server"
)

// decode reads a response into a T.
func decode[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.raw), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r.raw)
	}
	return v
}

// events returns an intent's whole log, oldest first.
func (e *env) events(intentID string) []models.IntentEvent {
	e.t.Helper()
	evs := decode[[]models.IntentEvent](e.t, e.must(200, "GET", "/api/v1/intents/"+intentID+"/events?limit=1000", nil))
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

func (e *env) checkpoint(body any, headers ...string) models.LogCheckpoint {
	e.t.Helper()
	return decode[models.LogCheckpoint](e.t, e.must(201, "POST", "/api/v1/admin/checkpoints", body, headers...))
}

func (e *env) verifyChain(intentID string) models.EventChainVerification {
	e.t.Helper()
	return decode[models.EventChainVerification](e.t, e.must(200, "GET", "/api/v1/intents/"+intentID+"/events/verify", nil))
}

// Every kind of event (an intent's creation, a state patch, a status change, a lease, an
// assignment, a logged event) is hashed and linked as it is appended, and carries the RFC-0020
// trace its request gave (in the event's body, or the X-Trace-ID and X-Parent-Event-ID headers
// for the others); the chain's verification covers the trace fields.
func TestEveryEventIsChainedAndTraced(t *testing.T) {
	e := newEnv(t)
	trace := []string{"X-Trace-ID", "4bf92f3577b34da6a3ce929d0e0e4736", "X-Parent-Event-ID", "evt-root"}
	in := e.must(200, "POST", "/api/v1/intents", map[string]any{"title": "traced"}, trace...).body
	iid := id(in)
	p := "/api/v1/intents/" + iid
	in = e.must(200, "POST", p+"/state", map[string]any{"state": map[string]any{"progress": 0.5}}, append(trace, ifMatch(in["version"])...)...).body
	e.must(200, "POST", p+"/status", map[string]any{"status": "active"}, append(trace, ifMatch(in["version"])...)...)
	e.must(200, "POST", p+"/leases", map[string]any{"scope": "analysis", "duration_seconds": 60}, trace...)
	e.must(200, "POST", p+"/agents", map[string]any{"agent_id": "agent-b"}, trace...)
	// A body's trace wins over the headers.
	e.must(200, "POST", p+"/events", map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{"note": "x"},
		"trace_id": "body-trace", "parent_event_id": "body-parent"}, trace...)
	e.must(200, "POST", p+"/events", map[string]any{"event_type": "comment", "actor": "agent-a"})

	evs := e.events(iid)
	if len(evs) != 7 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		if ev.EventHash == "" || (i == 0) != (ev.PreviousEventHash == nil) || (i > 0 && *ev.PreviousEventHash != evs[i-1].EventHash) {
			t.Errorf("event %d (%s) is not chained: %+v", i, ev.EventType, ev)
		}
		want := [2]string{"4bf92f3577b34da6a3ce929d0e0e4736", "evt-root"}
		switch i {
		case 5:
			want = [2]string{"body-trace", "body-parent"}
		case 6:
			want = [2]string{}
		}
		if got := [2]string{ev.TraceID, ev.ParentEventID}; got != want {
			t.Errorf("event %d (%s): trace %q, want %q", i, ev.EventType, got, want)
		}
	}
	v := e.verifyChain(iid)
	if !v.ChainValid || !v.Valid || v.EventCount != 7 || len(v.Events) != 7 || len(v.Breaks) != 0 ||
		v.FirstSequence != evs[0].Sequence || v.LastSequence != evs[6].Sequence {
		t.Fatalf("verification: %+v", v)
	}
	// Offline, the same events check out, and a changed trace field does not.
	if r := eventlog.CheckChain(evs, "", nil); len(r.Breaks) != 0 {
		t.Fatalf("offline: %+v", r.Breaks)
	}
	evs[2].ParentEventID = "someone-else"
	if r := eventlog.CheckChain(evs, "", nil); len(r.Breaks) != 1 || r.Breaks[0].EventID != evs[2].ID {
		t.Fatalf("a changed parent_event_id: %+v", r.Breaks)
	}
	// A trace header that is not UTF-8, or too long, is refused before anything is written.
	for _, h := range [][]string{{"X-Trace-ID", "bad\xffid"}, {"X-Parent-Event-ID", strings.Repeat("p", 201)}} {
		r := e.must(422, "POST", p+"/events", map[string]any{"event_type": "comment", "actor": "agent-a"}, h...)
		if !strings.Contains(r.raw, h[0]) {
			t.Errorf("422 does not name the header: %s", r.raw)
		}
	}
	if n := len(e.events(iid)); n != 7 {
		t.Errorf("refused requests appended events: %d", n)
	}
	e.must(404, "GET", "/api/v1/intents/00000000-0000-7000-8000-000000000000/events/verify", nil)
}

// An event rewritten in the store behind the server's back is found at that event by the
// chain's verification, and the checkpoint over it no longer matches; the events before it
// still verify.
func TestTamperedEventIsDetectedAtThatEvent(t *testing.T) {
	e := newEnv(t)
	iid := id(e.createIntent("audited", nil))
	for i := range 6 {
		e.must(200, "POST", "/api/v1/intents/"+iid+"/events", map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{"n": i}})
	}
	cp := e.checkpoint(map[string]any{"intent_id": iid})
	evs := e.events(iid)
	victim := evs[3]
	if err := e.store.TamperWithEvent(context.Background(), victim.ID, models.Object{"n": 99}); err != nil {
		t.Fatal(err)
	}
	v := e.verifyChain(iid)
	if v.ChainValid || v.Valid || len(v.Breaks) != 2 {
		t.Fatalf("tampered log verified: %+v", v)
	}
	if b := v.Breaks[0]; b.EventID != victim.ID || b.Sequence != victim.Sequence || b.Reason != "hash_mismatch" || b.Found != victim.EventHash {
		t.Errorf("first break: %+v, want event %s", b, victim.ID)
	}
	if b := v.Breaks[1]; b.CheckpointID != cp.ID || b.Reason != "checkpoint_mismatch" {
		t.Errorf("second break: %+v", b)
	}
	for i, l := range v.Events {
		if l.Verified != (i != 3) {
			t.Errorf("event %d verified=%v", i, l.Verified)
		}
	}
	// Offline too: the tampered content as now served breaks the chain at the same event.
	if r := eventlog.CheckChain(e.events(iid), "", []models.LogCheckpoint{cp}); len(r.Breaks) != 2 || r.Breaks[0].EventID != victim.ID {
		t.Errorf("offline: %+v", r.Breaks)
	}
}

// Checkpoints: made by service keys only, signed by the server, never empty, over an intent's
// log or the server's; every event has an inclusion proof that verifies; anchors are recorded
// once.
func TestCheckpointsProofsAndAnchors(t *testing.T) {
	e := newEnvConfig(t, testStorePath(t), func(c *server.Config) { c.APIKeys = append(c.APIKeys, "alice-key=alice") })
	iid := id(e.createIntent("log", nil))
	other := id(e.createIntent("other", nil))
	for i := range 300 { // more than one block of the stored tree
		e.must(200, "POST", "/api/v1/intents/"+iid+"/events", map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{"n": i}})
	}
	r := e.must(403, "POST", "/api/v1/admin/checkpoints", map[string]any{"intent_id": iid}, "X-API-Key", "alice-key", "X-Agent-ID", "")
	if !strings.Contains(r.raw, "service_key_required") {
		t.Errorf("bound key: %s", r.raw)
	}
	e.must(422, "POST", "/api/v1/admin/checkpoints", map[string]any{"scope": "intent"})
	e.must(422, "POST", "/api/v1/admin/checkpoints", map[string]any{"scope": "server", "intent_id": iid})
	e.must(422, "POST", "/api/v1/admin/checkpoints", map[string]any{"intent_id": iid, "scope": "galaxy"})
	e.must(404, "POST", "/api/v1/admin/checkpoints", map[string]any{"intent_id": "00000000-0000-7000-8000-000000000000"})

	cp := e.checkpoint(map[string]any{"intent_id": iid})
	if cp.Scope != "intent" || cp.IntentID == nil || *cp.IntentID != iid || cp.EventCount != 301 || cp.Anchor != nil {
		t.Fatalf("checkpoint %+v", cp)
	}
	if err := eventlog.VerifySignature(cp, ""); err != nil {
		t.Errorf("signature: %v", err)
	}
	e.must(409, "POST", "/api/v1/admin/checkpoints", map[string]any{"intent_id": iid})
	if got := decode[models.LogCheckpoint](t, e.must(200, "GET", "/api/v1/checkpoints/"+cp.ID, nil)); got.MerkleRoot != cp.MerkleRoot {
		t.Errorf("get: %+v", got)
	}
	e.must(404, "GET", "/api/v1/checkpoints/chk_nope", nil)

	evs := e.events(iid)
	var leaves []string
	for _, ev := range evs {
		leaves = append(leaves, ev.EventHash)
	}
	for _, i := range []int{0, 1, 150, 255, 256, 299, 300} {
		p := decode[models.MerkleProof](t, e.must(200, "GET", "/api/v1/checkpoints/"+cp.ID+"/proof/"+evs[i].ID, nil))
		if p.LeafIndex != int64(i) || p.EventHash != evs[i].EventHash || p.EventCount != 301 {
			t.Fatalf("proof of leaf %d: %+v", i, p)
		}
		if err := eventlog.VerifyProof(p, cp.MerkleRoot, cp.EventCount); err != nil {
			t.Fatalf("proof of leaf %d: %v", i, err)
		}
	}
	otherEvents := e.events(other)
	e.must(404, "GET", "/api/v1/checkpoints/"+cp.ID+"/proof/"+otherEvents[0].ID, nil)
	e.must(404, "GET", "/api/v1/checkpoints/"+cp.ID+"/proof/nope", nil)

	server := e.checkpoint(map[string]any{"scope": "server"})
	if server.Scope != "server" || server.IntentID != nil || server.FirstSequence != 1 || server.EventCount != 302 {
		t.Fatalf("server checkpoint %+v", server)
	}
	p := decode[models.MerkleProof](t, e.must(200, "GET", "/api/v1/checkpoints/"+server.ID+"/proof/"+otherEvents[0].ID, nil))
	if err := eventlog.VerifyProof(p, server.MerkleRoot, server.EventCount); err != nil {
		t.Errorf("server proof: %v", err)
	}
	list := decode[[]models.LogCheckpoint](t, e.must(200, "GET", "/api/v1/checkpoints?intent_id="+iid, nil))
	if len(list) != 1 || list[0].ID != cp.ID {
		t.Errorf("list by intent: %+v", list)
	}
	if list := decode[[]models.LogCheckpoint](t, e.must(200, "GET", "/api/v1/checkpoints?scope=server", nil)); len(list) != 1 || list[0].ID != server.ID {
		t.Errorf("list by scope: %+v", list)
	}
	if list := decode[[]models.LogCheckpoint](t, e.must(200, "GET", "/api/v1/checkpoints?limit=1&offset=1", nil)); len(list) != 1 || list[0].ID != server.ID {
		t.Errorf("list page: %+v", list)
	}

	e.must(403, "POST", "/api/v1/admin/checkpoints/"+cp.ID+"/anchor", map[string]any{"provider": "x"}, "X-API-Key", "alice-key", "X-Agent-ID", "")
	a := decode[models.CheckpointAnchor](t, e.must(200, "POST", "/api/v1/admin/checkpoints/"+cp.ID+"/anchor",
		map[string]any{"provider": "rfc3161-notary", "reference": "receipt-7", "timestamp_proof": "MIIB..."}))
	if a.CheckpointID != cp.ID || a.Anchor.Type != "external-timestamp" || a.Anchor.Provider != "rfc3161-notary" ||
		a.Anchor.Reference != "receipt-7" || a.Anchor.MerkleRoot != cp.MerkleRoot || a.Anchor.AnchoredAt.IsZero() {
		t.Errorf("anchor %+v", a)
	}
	e.must(409, "POST", "/api/v1/admin/checkpoints/"+cp.ID+"/anchor", map[string]any{"provider": "again"})
	e.must(404, "POST", "/api/v1/admin/checkpoints/chk_nope/anchor", map[string]any{})
	got := decode[models.LogCheckpoint](t, e.must(200, "GET", "/api/v1/checkpoints/"+cp.ID, nil))
	if got.Anchor == nil || got.Anchor.Reference != "receipt-7" {
		t.Errorf("anchored checkpoint: %+v", got)
	}
	if err := eventlog.VerifySignature(got, ""); err != nil {
		t.Errorf("signature after anchoring: %v", err)
	}
	if v := e.verifyChain(iid); !v.Valid || v.CheckpointsChecked != 1 {
		t.Errorf("verify: %+v", v.Breaks)
	}
}

// Consistency: a later checkpoint of the same log extends an earlier one, with proofs a client
// checks offline; checkpoints of other logs, in the wrong order, or over a rewritten event are
// found inconsistent.
func TestCheckpointConsistency(t *testing.T) {
	e := newEnv(t)
	iid := id(e.createIntent("log", nil))
	other := id(e.createIntent("other", nil))
	post := func(intent string, n int) {
		for i := range n {
			e.must(200, "POST", "/api/v1/intents/"+intent+"/events", map[string]any{"event_type": "comment", "actor": "agent-a", "payload": map[string]any{"n": i}})
		}
	}
	post(iid, 4)
	c1 := e.checkpoint(map[string]any{"intent_id": iid})
	s1 := e.checkpoint(map[string]any{"scope": "server"})
	post(other, 2)
	post(iid, 3)
	c2 := e.checkpoint(map[string]any{"intent_id": iid})
	o1 := e.checkpoint(map[string]any{"intent_id": other})
	s2 := e.checkpoint(map[string]any{"scope": "server"})
	post(iid, 2)
	c3 := e.checkpoint(map[string]any{"intent_id": iid})

	consistency := func(from, to models.LogCheckpoint) models.ConsistencyProof {
		t.Helper()
		return decode[models.ConsistencyProof](t, e.must(200, "GET", "/api/v1/verify/consistency?from_checkpoint="+from.ID+"&to_checkpoint="+to.ID, nil))
	}
	for _, pair := range [][2]models.LogCheckpoint{{c1, c2}, {c2, c3}, {c1, c3}, {s1, s2}} {
		p := consistency(pair[0], pair[1])
		if !p.Consistent || p.BoundaryEvent == nil || p.FromProof == nil {
			t.Fatalf("%s -> %s: %+v", pair[0].ID, pair[1].ID, p)
		}
		if err := eventlog.VerifyConsistency(pair[0], pair[1], p, nil); err != nil {
			t.Errorf("%s -> %s offline: %v", pair[0].ID, pair[1].ID, err)
		}
	}
	// The boundary event itself, as served, binds the link.
	p := consistency(c1, c2)
	var boundary models.IntentEvent
	for _, ev := range e.events(iid) {
		if ev.ID == p.BoundaryEvent.EventID {
			boundary = ev
		}
	}
	if err := eventlog.VerifyConsistency(c1, c2, p, &boundary); err != nil {
		t.Errorf("with the boundary event: %v", err)
	}
	// Forged proofs are refused offline.
	forged := p
	fb := *p.BoundaryEvent
	wrong := c1.MerkleRoot
	fb.PreviousEventHash = &wrong
	forged.BoundaryEvent = &fb
	if err := eventlog.VerifyConsistency(c1, c2, forged, nil); err == nil {
		t.Error("a boundary event linked elsewhere was accepted")
	}
	forged = p
	forged.ToProof = consistency(c2, c3).FromProof // a proof from another checkpoint
	if err := eventlog.VerifyConsistency(c1, c2, forged, nil); err == nil {
		t.Error("a to_proof of another checkpoint was accepted")
	}
	boundary.Payload = models.Object{"n": 42}
	if err := eventlog.VerifyConsistency(c1, c2, p, &boundary); err == nil {
		t.Error("a changed boundary event was accepted")
	}
	if err := eventlog.VerifyConsistency(c2, c1, p, nil); err == nil {
		t.Error("a proof for the other order was accepted")
	}

	for name, pair := range map[string][2]models.LogCheckpoint{
		"other intent": {c1, o1}, "reversed": {c2, c1}, "itself": {c1, c1}, "intent then server": {c1, s2},
	} {
		p := consistency(pair[0], pair[1])
		if p.Consistent || p.Reason == "" || p.BoundaryEvent != nil {
			t.Errorf("%s: %+v", name, p)
		}
		if err := eventlog.VerifyConsistency(pair[0], pair[1], p, nil); err == nil {
			t.Errorf("%s: accepted offline", name)
		}
	}
	e.must(404, "GET", "/api/v1/verify/consistency?from_checkpoint=chk_nope&to_checkpoint="+c1.ID, nil)
	e.must(422, "GET", "/api/v1/verify/consistency?from_checkpoint="+c1.ID, nil)

	// An event of c1 rewritten behind the log's back makes c1 inconsistent with what follows.
	if err := e.store.TamperWithEvent(context.Background(), e.events(iid)[2].ID, models.Object{"rewritten": true}); err != nil {
		t.Fatal(err)
	}
	if p := consistency(c1, c2); p.Consistent || !strings.Contains(p.Reason, "no longer") {
		t.Errorf("after tampering: %+v", p)
	}
	if p := consistency(s1, s2); p.Consistent {
		t.Errorf("server log after tampering: %+v", p)
	}
	if p := consistency(c2, c3); !p.Consistent {
		t.Errorf("later checkpoints, untouched: %+v", p)
	}
}

// An outsider may read checkpoints and proofs of a closed intent's events (hashes, third-party
// checking) but never its content, and may not verify its chain (which lists its events).
func TestProofsOfClosedIntentsRevealNoContent(t *testing.T) {
	e := newWalkEnv(t)
	w := buildWorld(t, e)
	C := w.ids["C"]
	cp := e.checkpoint(map[string]any{"intent_id": C})
	evs := decode[[]models.IntentEvent](t, e.must(200, "GET", "/api/v1/intents/"+C+"/events?limit=1000", nil, as(aliceKey, "")...))
	bob := as(bobKey, "")
	for _, path := range []string{"/api/v1/checkpoints/" + cp.ID, "/api/v1/checkpoints?intent_id=" + C,
		"/api/v1/checkpoints/" + cp.ID + "/proof/" + evs[0].ID} {
		if r := e.must(200, "GET", path, nil, bob...); strings.Contains(r.raw, w.canary) {
			t.Errorf("%s leaks the canary: %s", path, r.raw)
		}
	}
	e.must(403, "GET", "/api/v1/intents/"+C+"/events/verify", nil, bob...)
	e.must(403, "POST", "/api/v1/admin/checkpoints", map[string]any{"intent_id": C}, bob...)
	if r := e.must(200, "GET", "/api/v1/intents/"+C+"/events/verify", nil, as(aliceKey, "")...); !strings.Contains(r.raw, `"chain_valid":true`) {
		t.Errorf("alice's verification: %s", r.raw)
	}
}
