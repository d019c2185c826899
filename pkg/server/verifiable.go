package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Verifiable event logs (RFC-0019) and the request side of tracing (RFC-0020). The store hashes
// and links every event as it is appended; this file serves the chain's verification,
// checkpoints, inclusion and consistency proofs and anchors. Checkpoints and proofs carry
// hashes, never content, so any agent may read them (a third party checks a proof it was
// handed); making checkpoints and anchoring them are an operator's: service keys only.

// serviceKeyKey marks the context of a request made with a service key (one bound to no agent).
type serviceKeyKey struct{}

// isServiceKey reports whether the request was made with a service key.
func isServiceKey(ctx context.Context) bool {
	v, _ := ctx.Value(serviceKeyKey{}).(bool)
	return v
}

// Headers carrying the RFC-0020 trace of a request into every event it appends.
const (
	headerTraceID       = "X-Trace-ID"
	headerParentEventID = "X-Parent-Event-ID"
)

// withKeyAndTrace adds to an authenticated request's context whether its key is a service key,
// and the trace its X-Trace-ID and X-Parent-Event-ID headers give (422 when one is not printable
// UTF-8 of at most 200 bytes).
func withKeyAndTrace(r *http.Request, k *apiKey) (*http.Request, *apiError) {
	ctx := r.Context()
	if len(k.agents) == 0 {
		ctx = context.WithValue(ctx, serviceKeyKey{}, true)
	}
	trace, parent := r.Header.Get(headerTraceID), r.Header.Get(headerParentEventID)
	for _, h := range [][2]string{{headerTraceID, trace}, {headerParentEventID, parent}} {
		if msg := checkAgentID(h[1]); msg != "" {
			return r, validationFailed(h[0], msg)
		}
	}
	return r.WithContext(store.WithTrace(ctx, trace, parent)), nil
}

// authorizeServiceKey is the rule of operators' operations.
func authorizeServiceKey(ctx context.Context) error {
	if isServiceKey(ctx) {
		return nil
	}
	return forbidden("service_key_required", "Only a service key (one bound to no agent) may make or anchor checkpoints: it is an operator's operation")
}

func (h *handlers) VerifyEventChain(ctx context.Context, req genserver.VerifyEventChainRequestObject) (genserver.VerifyEventChainResponseObject, error) {
	if _, err := h.store.GetIntent(ctx, req.IntentID); err != nil {
		return nil, err
	}
	events, err := h.store.LogEvents(ctx, req.IntentID, 0, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	cps, err := h.store.ListLogCheckpoints(ctx, store.CheckpointQuery{IntentID: req.IntentID, Limit: math.MaxInt})
	if err != nil {
		return nil, err
	}
	res := eventlog.CheckChain(events, "", cps)
	for _, cp := range cps {
		if cp.Signature != nil {
			if err := eventlog.VerifySignature(cp, h.identity.DID()); err != nil {
				res.Breaks = append(res.Breaks, models.ChainBreak{Sequence: cp.FirstSequence, CheckpointID: cp.ID,
					Reason: eventlog.ReasonCheckpoint, Detail: err.Error()})
			}
		}
	}
	out := models.EventChainVerification{IntentID: req.IntentID, EventCount: int64(len(events)), ChainValid: len(res.Breaks) == 0,
		Breaks: res.Breaks, Events: res.Links(events), CheckpointsChecked: int64(res.Checkpoints)}
	out.Valid = out.ChainValid
	if len(events) > 0 {
		out.FirstSequence, out.LastSequence = events[0].Sequence, events[len(events)-1].Sequence
	}
	return genserver.VerifyEventChain200JSONResponse(out), nil
}

func (h *handlers) ListCheckpoints(ctx context.Context, req genserver.ListCheckpointsRequestObject) (genserver.ListCheckpointsResponseObject, error) {
	limit := int(req.Params.Limit)
	if limit == 0 {
		limit = 100
	}
	cps, err := h.store.ListLogCheckpoints(ctx, store.CheckpointQuery{IntentID: req.Params.IntentID, Scope: string(req.Params.Scope),
		Limit: limit, Offset: int(req.Params.Offset)})
	if err != nil {
		return nil, err
	}
	return genserver.ListCheckpoints200JSONResponse(cps), nil
}

func (h *handlers) GetCheckpoint(ctx context.Context, req genserver.GetCheckpointRequestObject) (genserver.GetCheckpointResponseObject, error) {
	cp, err := h.store.LogCheckpoint(ctx, req.CheckpointID)
	if err != nil {
		return nil, err
	}
	return genserver.GetCheckpoint200JSONResponse(cp), nil
}

func (h *handlers) GetMerkleProof(ctx context.Context, req genserver.GetMerkleProofRequestObject) (genserver.GetMerkleProofResponseObject, error) {
	p, err := h.store.InclusionProof(ctx, req.CheckpointID, req.EventID)
	if err != nil {
		return nil, err
	}
	return genserver.GetMerkleProof200JSONResponse(p), nil
}

// signCheckpoint signs a checkpoint with the server's identity key.
func (h *handlers) signCheckpoint(cp *models.LogCheckpoint) error {
	did := h.identity.DID()
	cp.SignedBy = &did
	msg, err := eventlog.SigningInput(*cp)
	if err != nil {
		return err
	}
	sig := agentkey.EncodeSignature(h.identity.Sign(msg))
	cp.Signature = &sig
	return nil
}

func (h *handlers) CreateCheckpoint(ctx context.Context, req genserver.CreateCheckpointRequestObject) (genserver.CreateCheckpointResponseObject, error) {
	b := req.Body
	if b == nil {
		b = &models.CheckpointCreate{}
	}
	intentID := b.IntentID
	switch b.Scope {
	case "", models.CheckpointScopeIntent:
		if intentID == "" {
			return nil, validationFailed("intent_id", "required for the intent scope")
		}
	case models.CheckpointScopeServer:
		if intentID != "" {
			return nil, validationFailed("intent_id", "must be empty for the server scope")
		}
	}
	cp, err := h.store.CreateLogCheckpoint(ctx, intentID, h.signCheckpoint)
	if errors.Is(err, store.ErrNothingToCheckpoint) {
		return nil, conflict("nothing_to_checkpoint", "No event was appended to this log since its last checkpoint: a checkpoint is never empty")
	}
	if err != nil {
		return nil, err
	}
	return genserver.CreateCheckpoint201JSONResponse(cp), nil
}

func (h *handlers) AnchorCheckpoint(ctx context.Context, req genserver.AnchorCheckpointRequestObject) (genserver.AnchorCheckpointResponseObject, error) {
	b := req.Body
	if b == nil {
		b = &models.CheckpointAnchorCreate{}
	}
	cp, err := h.store.AnchorLogCheckpoint(ctx, req.CheckpointID, func(cp models.LogCheckpoint) (models.TimestampAnchor, error) {
		if cp.Anchor != nil {
			return models.TimestampAnchor{}, conflict("already_anchored", fmt.Sprintf("Checkpoint %s was anchored at %s; an anchor never changes", cp.ID, cp.Anchor.AnchoredAt))
		}
		a := models.TimestampAnchor{Type: "external-timestamp", Provider: b.Provider, Reference: b.Reference, TimestampProof: b.TimestampProof,
			AnchoredAt: b.AnchoredAt, MerkleRoot: cp.MerkleRoot}
		if a.Provider == "" {
			a.Provider = "openintent"
		}
		if a.Reference == "" {
			a.Reference = "anchor_" + cp.ID
		}
		if a.AnchoredAt.IsZero() {
			a.AnchoredAt = timestamp.New(h.store.Now())
		}
		return a, nil
	})
	if err != nil {
		return nil, err
	}
	return genserver.AnchorCheckpoint200JSONResponse(models.CheckpointAnchor{CheckpointID: cp.ID, Anchor: *cp.Anchor}), nil
}

func (h *handlers) VerifyCheckpointConsistency(ctx context.Context, req genserver.VerifyCheckpointConsistencyRequestObject) (genserver.VerifyCheckpointConsistencyResponseObject, error) {
	from, err := h.store.LogCheckpoint(ctx, req.Params.FromCheckpoint)
	if err != nil {
		return nil, err
	}
	to, err := h.store.LogCheckpoint(ctx, req.Params.ToCheckpoint)
	if err != nil {
		return nil, err
	}
	out, err := h.consistency(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return genserver.VerifyCheckpointConsistency200JSONResponse(out), nil
}

// consistency decides whether to extends from, recomputing both from the stored log.
func (h *handlers) consistency(ctx context.Context, from, to models.LogCheckpoint) (models.ConsistencyProof, error) {
	out := models.ConsistencyProof{FromCheckpoint: from.ID, ToCheckpoint: to.ID}
	if why := eventlog.SameLog(from, to); why != "" {
		out.Reason = why
		return out, nil
	}
	intentID := ""
	if from.IntentID != nil {
		intentID = *from.IntentID
	}
	events, err := h.store.LogEvents(ctx, intentID, from.FirstSequence, to.LastSequence)
	if err != nil {
		return out, err
	}
	var res eventlog.ChainResult
	if intentID != "" {
		start := ""
		if len(events) > 0 && events[0].PreviousEventHash != nil {
			start = *events[0].PreviousEventHash // before from: outside what is checked here
		}
		res = eventlog.CheckChain(events, start, []models.LogCheckpoint{from, to})
	} else {
		res = eventlog.CheckLog(events, []models.LogCheckpoint{from, to})
	}
	if len(res.Breaks) > 0 || res.Checkpoints != 2 {
		out.Reason = "the log they cover no longer matches them"
		if len(res.Breaks) > 0 {
			out.Reason += ": " + res.Breaks[0].Detail
		}
		return out, nil
	}
	last, next := -1, -1
	for i, ev := range events {
		if ev.Sequence == from.LastSequence {
			last, next = i, i+1
		}
	}
	if last < 0 || next >= len(events) {
		out.Reason = "the log has no event after checkpoint " + from.ID
		return out, nil
	}
	b := events[next]
	fp, err := h.store.InclusionProof(ctx, from.ID, events[last].ID)
	if err != nil {
		return out, err
	}
	out.FromProof = &fp
	out.BoundaryEvent = &models.BoundaryEvent{Sequence: b.Sequence, EventID: b.ID, EventHash: b.EventHash, PreviousEventHash: b.PreviousEventHash}
	if b.Sequence == to.FirstSequence {
		tp, err := h.store.InclusionProof(ctx, to.ID, b.ID)
		if err != nil {
			return out, err
		}
		out.ToProof = &tp
	}
	out.Consistent = true
	return out, nil
}
