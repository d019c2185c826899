package openintent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// newLog starts a server and an intent with n comment events after its creation.
func newLog(t *testing.T, n int) (*openintenttest.Server, *openintent.Client, string) {
	t.Helper()
	srv := openintenttest.NewServer(t)
	c := srv.Client(t, "auditor")
	ctx := context.Background()
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "audited"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, c, in.ID
}

// oldestFirst returns the intent's whole log in log order.
func oldestFirst(t *testing.T, c *openintent.Client, intentID string) []openintent.IntentEvent {
	t.Helper()
	evs, err := c.GetEvents(context.Background(), intentID, openintent.GetEventsParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

// The trace in the context reaches every event a call appends, whatever the call, and the
// helpers that start a trace give it a W3C trace id (32 lower-case hex digits).
func TestTraceReachesEveryEvent(t *testing.T) {
	srv := openintenttest.NewServer(t)
	c := srv.Client(t, "tracer")
	ctx := openintent.ContextWithTrace(context.Background(), openintent.Trace{TraceID: "0af7651916cd43dd8448eb211c80319c", ParentEventID: "evt-1"})
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "traced"})
	if err != nil {
		t.Fatal(err)
	}
	if in, err = c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"step": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err = c.SetStatus(ctx, in.ID, in.Version, openintent.StatusActive); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssignAgent(ctx, in.ID, "helper"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, in.ID, "scope", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil); err != nil {
		t.Fatal(err)
	}
	// WithTrace overrides the context for one call.
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, nil, openintent.WithTrace("other", "")); err != nil {
		t.Fatal(err)
	}
	evs := oldestFirst(t, c, in.ID)
	if len(evs) != 7 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs[:6] {
		if ev.TraceID != "0af7651916cd43dd8448eb211c80319c" || ev.ParentEventID != "evt-1" {
			t.Errorf("event %d (%s): trace %q parent %q", i, ev.EventType, ev.TraceID, ev.ParentEventID)
		}
	}
	if evs[6].TraceID != "other" || evs[6].ParentEventID != "" {
		t.Errorf("WithTrace: %q %q", evs[6].TraceID, evs[6].ParentEventID)
	}
	if _, err := openintent.VerifyChain(evs, openintent.ChainCheck{}); err != nil {
		t.Fatal(err)
	}

	req, err := c.StartLLMRequest(context.Background(), in.ID, openintent.LLMRequestPayload{Provider: "p", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(req.Started.TraceID) || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(openintent.NewTraceID()) {
		t.Errorf("trace ids %q", req.Started.TraceID)
	}
}

// The log verifies offline as served; an event rewritten in the store, or removed, or reordered
// is found at that event; AuditEventLog, which trusts nothing the server says, finds it too.
func TestOfflineChainVerification(t *testing.T) {
	srv, c, intentID := newLog(t, 8)
	ctx := context.Background()
	if _, err := c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: intentID}); err != nil {
		t.Fatal(err)
	}
	report, err := c.AuditEventLog(ctx, intentID, "")
	if err != nil || !report.Valid || report.EventCount != 9 || report.CheckpointsChecked != 1 {
		t.Fatalf("audit: %+v %v", report, err)
	}
	server, err := c.VerifyEventChain(ctx, intentID)
	if err != nil || !server.Valid || !server.ChainValid {
		t.Fatalf("server's verdict: %+v %v", server, err)
	}

	evs := oldestFirst(t, c, intentID)
	var chainErr *openintent.ChainError
	changed := append([]openintent.IntentEvent(nil), evs...)
	changed[5].Payload = openintent.Object{"n": 100.0}
	if _, err := openintent.VerifyChain(changed, openintent.ChainCheck{}); !errors.As(err, &chainErr) || chainErr.Breaks[0].EventID != evs[5].ID {
		t.Errorf("changed payload: %v", err)
	}
	removed := append(append([]openintent.IntentEvent(nil), evs[:3]...), evs[4:]...)
	if _, err := openintent.VerifyChain(removed, openintent.ChainCheck{}); !errors.Is(err, openintent.ErrChainBroken) {
		t.Errorf("removed event: %v", err)
	}
	swapped := append([]openintent.IntentEvent(nil), evs...)
	swapped[2], swapped[3] = swapped[3], swapped[2]
	if _, err := openintent.VerifyChain(swapped, openintent.ChainCheck{}); !errors.Is(err, openintent.ErrChainBroken) {
		t.Errorf("reordered events: %v", err)
	}
	// A continuation checks against the hash remembered from the last check.
	if _, err := openintent.VerifyChain(evs[6:], openintent.ChainCheck{After: evs[5].EventHash}); err != nil {
		t.Errorf("continuation: %v", err)
	}

	if err := srv.Store.TamperWithEvent(ctx, evs[4].ID, map[string]any{"n": -1}); err != nil {
		t.Fatal(err)
	}
	report, err = c.AuditEventLog(ctx, intentID, "")
	if !errors.As(err, &chainErr) || report.Valid || chainErr.Breaks[0].EventID != evs[4].ID || chainErr.Breaks[0].Reason != "hash_mismatch" {
		t.Errorf("audit after tampering: %+v %v", report, err)
	}
	if server, err := c.VerifyEventChain(ctx, intentID); err != nil || server.Valid || server.Breaks[0].EventID != evs[4].ID {
		t.Errorf("server's verdict after tampering: %+v %v", server, err)
	}
}

// An inclusion proof verifies offline for the event it names; forged ones are refused: a changed
// sibling, a flipped side, another leaf index, another event, another checkpoint, a changed root.
func TestForgedInclusionProofIsRefused(t *testing.T) {
	_, c, intentID := newLog(t, 10)
	ctx := context.Background()
	cp, err := c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: intentID})
	if err != nil {
		t.Fatal(err)
	}
	did, err := c.GetServerDIDDocument(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := openintent.VerifyCheckpointSignature(*cp, did.ID); err != nil {
		t.Fatalf("signature: %v", err)
	}
	evs := oldestFirst(t, c, intentID)
	ev := evs[6]
	proof, err := c.GetMerkleProof(ctx, cp.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := openintent.VerifyInclusion(*proof, *cp, &ev); err != nil {
		t.Fatalf("genuine proof: %v", err)
	}
	forge := func(f func(p *openintent.MerkleProof, cp *openintent.LogCheckpoint, ev *openintent.IntentEvent)) error {
		p, c2, e2 := *proof, *cp, ev
		p.ProofHashes = append([]openintent.MerkleProofStep(nil), proof.ProofHashes...)
		f(&p, &c2, &e2)
		return openintent.VerifyInclusion(p, c2, &e2)
	}
	other := evs[7].EventHash
	for name, f := range map[string]func(*openintent.MerkleProof, *openintent.LogCheckpoint, *openintent.IntentEvent){
		"changed sibling": func(p *openintent.MerkleProof, _ *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			p.ProofHashes[1].Hash = other
		},
		"flipped side": func(p *openintent.MerkleProof, _ *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			p.ProofHashes[0].Position = "left"
		},
		"other leaf index": func(p *openintent.MerkleProof, _ *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			p.LeafIndex = 7
		},
		"dropped step": func(p *openintent.MerkleProof, _ *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			p.ProofHashes = p.ProofHashes[1:]
		},
		"other event hash": func(p *openintent.MerkleProof, _ *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			p.EventHash = other
		},
		"changed event": func(_ *openintent.MerkleProof, _ *openintent.LogCheckpoint, e *openintent.IntentEvent) {
			e.Actor = "mallory"
		},
		"changed root": func(p *openintent.MerkleProof, c *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			c.MerkleRoot, p.MerkleRoot = other, other
		},
		"other checkpoint": func(_ *openintent.MerkleProof, c *openintent.LogCheckpoint, _ *openintent.IntentEvent) {
			c.ID = "chk_other"
		},
	} {
		if err := forge(f); !errors.Is(err, openintent.ErrProofInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A checkpoint changed after it was signed no longer verifies.
	bad := *cp
	bad.EventCount++
	if err := openintent.VerifyCheckpointSignature(bad, did.ID); !errors.Is(err, openintent.ErrBadCheckpointSignature) {
		t.Errorf("changed checkpoint: %v", err)
	}
	if err := openintent.VerifyCheckpointSignature(*cp, "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"); !errors.Is(err, openintent.ErrBadCheckpointSignature) {
		t.Errorf("another signer: %v", err)
	}
	// An agent that may not read the intent can still check the proof it is handed.
	if _, err := c.GetMerkleProof(ctx, cp.ID, "nope"); !errors.Is(err, openintent.ErrNotFound) {
		t.Errorf("unknown event: %v", err)
	}
	if root, err := openintent.MerkleRoot(func() (hs []string) {
		for _, e := range evs {
			hs = append(hs, e.EventHash)
		}
		return
	}()); err != nil || root != cp.MerkleRoot {
		t.Errorf("MerkleRoot: %s %v", root, err)
	}
}

// Consistency between checkpoints, checked offline from the server's proof; forged or
// inconsistent ones are refused.
func TestCheckpointConsistencyOffline(t *testing.T) {
	_, c, intentID := newLog(t, 3)
	ctx := context.Background()
	first, err := c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: intentID})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		c.LogEvent(ctx, intentID, openintent.EventComment, nil)
	}
	second, err := c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: intentID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: intentID}); !errors.Is(err, openintent.ErrConflict) {
		t.Errorf("empty checkpoint: %v", err)
	}
	p, err := c.VerifyConsistency(ctx, first.ID, second.ID)
	if err != nil || !p.Consistent {
		t.Fatalf("%+v %v", p, err)
	}
	var boundary *openintent.IntentEvent
	for _, ev := range oldestFirst(t, c, intentID) {
		if ev.ID == p.BoundaryEvent.EventID {
			boundary = &ev
		}
	}
	if err := openintent.VerifyCheckpointConsistency(*first, *second, *p, boundary); err != nil {
		t.Fatalf("offline: %v", err)
	}
	forged := *p
	b := *p.BoundaryEvent
	b.Sequence = first.LastSequence
	forged.BoundaryEvent = &b
	if err := openintent.VerifyCheckpointConsistency(*first, *second, forged, nil); !errors.Is(err, openintent.ErrInconsistent) {
		t.Errorf("forged boundary: %v", err)
	}
	reversed, err := c.VerifyConsistency(ctx, second.ID, first.ID)
	if err != nil || reversed.Consistent || reversed.Reason == "" {
		t.Fatalf("reversed: %+v %v", reversed, err)
	}
	if err := openintent.VerifyCheckpointConsistency(*second, *first, *reversed, nil); !errors.Is(err, openintent.ErrInconsistent) {
		t.Errorf("reversed offline: %v", err)
	}
	list, err := c.ListCheckpoints(ctx, openintent.ListCheckpointsParams{IntentID: intentID})
	if err != nil || len(list) != 2 || list[1].ID != second.ID {
		t.Errorf("list: %+v %v", list, err)
	}
	got, err := c.GetCheckpoint(ctx, first.ID)
	if err != nil || got.MerkleRoot != first.MerkleRoot {
		t.Errorf("get: %+v %v", got, err)
	}
	a, err := c.AnchorCheckpoint(ctx, first.ID, openintent.AnchorCreate{Provider: "notary", Reference: "r-1"})
	if err != nil || a.Anchor.MerkleRoot != first.MerkleRoot || a.Anchor.Reference != "r-1" {
		t.Errorf("anchor: %+v %v", a, err)
	}
}

// Making checkpoints is an operator's: a key bound to an agent gets a *PermissionError.
func TestCheckpointsNeedAServiceKey(t *testing.T) {
	srv := openintenttest.NewServer(t, openintenttest.WithAPIKeys("ops-key", "agent-key=worker"))
	ops := srv.Client(t, "ops")
	in, err := ops.CreateIntent(context.Background(), openintent.IntentCreate{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := openintent.NewClient(srv.URL, openintent.WithAPIKey("agent-key"))
	if err != nil {
		t.Fatal(err)
	}
	var perm *openintent.PermissionError
	if _, err := worker.CreateCheckpoint(context.Background(), openintent.CheckpointCreate{IntentID: in.ID}); !errors.As(err, &perm) || perm.Code != "service_key_required" {
		t.Errorf("bound key: %v", err)
	}
}

// Against the reference server's stub, which sends chain_valid only, Valid follows it.
func TestVerifyEventChainReadsChainValid(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"intent_id":"i","event_count":0,"first_sequence":0,"last_sequence":0,"chain_valid":true,"events":[]}`))
	}))
	defer hs.Close()
	c, err := openintent.NewClient(hs.URL, openintent.WithAPIKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.VerifyEventChain(context.Background(), "i")
	if err != nil || !v.Valid {
		t.Errorf("%+v %v", v, err)
	}
}
