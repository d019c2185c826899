package openintent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
)

// Verifiable event logs (RFC-0019). A server that implements them hashes every event over its
// content and its intent's previous event's hash (event_hash, previous_event_hash), and commits
// batches of hashes to Merkle roots in checkpoints. The Client methods below are the Python
// SDK's; the Verify* functions check what a server hands out offline, trusting nothing but the
// bytes (and, for a checkpoint's signature, the server's DID).

// Checkpoint scopes.
const (
	ScopeIntent = models.CheckpointScopeIntent
	ScopeServer = models.CheckpointScopeServer
)

// VerifyEventChain asks the server to check the intent's hash chain and checkpoints (the
// Python SDK's verify_event_chain): it recomputes every event's hash from what it stores. Valid
// is set from chain_valid when the server sends only that. To trust nothing the server says,
// use AuditEventLog.
func (c *Client) VerifyEventChain(ctx context.Context, intentID string, opts ...Option) (*ChainVerification, error) {
	if err := requireID("VerifyEventChain", "intentID", intentID); err != nil {
		return nil, err
	}
	v, err := call[ChainVerification](ctx, c, op1(client.NewVerifyEventChainRequest, intentID), opts)
	if err == nil && v.ChainValid && !v.Valid {
		v.Valid = true
	}
	return v, err
}

// ListCheckpoints returns checkpoints, oldest first (the Python SDK's list_checkpoints):
// params.IntentID and params.Scope filter, params.Limit defaults to 100.
func (c *Client) ListCheckpoints(ctx context.Context, params ListCheckpointsParams, opts ...Option) ([]LogCheckpoint, error) {
	if params.Limit < 0 || params.Offset < 0 {
		return nil, invalidArg("ListCheckpoints", "limit", "limit and offset must not be negative")
	}
	out := []LogCheckpoint{}
	if err := c.do(ctx, request{build: op1(client.NewListCheckpointsRequest, nil), query: &params, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// GetCheckpoint returns a checkpoint (the Python SDK's get_checkpoint).
func (c *Client) GetCheckpoint(ctx context.Context, checkpointID string, opts ...Option) (*LogCheckpoint, error) {
	if err := requireID("GetCheckpoint", "checkpointID", checkpointID); err != nil {
		return nil, err
	}
	return call[LogCheckpoint](ctx, c, op1(client.NewGetCheckpointRequest, checkpointID), opts)
}

// GetMerkleProof returns the proof that an event is a leaf of a checkpoint (the Python SDK's
// get_merkle_proof). Check it with VerifyInclusion.
func (c *Client) GetMerkleProof(ctx context.Context, checkpointID, eventID string, opts ...Option) (*MerkleProof, error) {
	if err := requireIDs("GetMerkleProof", "checkpointID", checkpointID, "eventID", eventID); err != nil {
		return nil, err
	}
	return call[MerkleProof](ctx, c, op2(client.NewGetMerkleProofRequest, checkpointID, eventID), opts)
}

// VerifyConsistency asks the server whether checkpoint to extends checkpoint from (the Python
// SDK's verify_consistency). The answer carries the proofs VerifyCheckpointConsistency checks
// offline.
func (c *Client) VerifyConsistency(ctx context.Context, fromCheckpoint, toCheckpoint string, opts ...Option) (*ConsistencyProof, error) {
	if err := requireIDs("VerifyConsistency", "fromCheckpoint", fromCheckpoint, "toCheckpoint", toCheckpoint); err != nil {
		return nil, err
	}
	q := &models.VerifyCheckpointConsistencyParams{FromCheckpoint: fromCheckpoint, ToCheckpoint: toCheckpoint}
	var out ConsistencyProof
	if err := c.do(ctx, request{build: op1(client.NewVerifyCheckpointConsistencyRequest, nil), query: q, out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateCheckpoint makes a checkpoint over the events appended since the log's last one (the
// RFC's admin create_checkpoint): an intent's log (Scope ScopeIntent, the default, with
// IntentID) or the server's (ScopeServer). Servers let only operators do it: on this one, a
// service key (one bound to no agent); others get a *PermissionError. A log with nothing new
// gets a *ConflictError.
func (c *Client) CreateCheckpoint(ctx context.Context, body CheckpointCreate, opts ...Option) (*LogCheckpoint, error) {
	return call[LogCheckpoint](ctx, c, op1(client.NewCreateCheckpointRequest, body), opts)
}

// AnchorCheckpoint records that a checkpoint's root was published to an external timestamping
// service (the RFC's admin anchor_checkpoint): body names the service and its receipt. An
// operator's operation, like CreateCheckpoint; an anchor never changes (*ConflictError).
func (c *Client) AnchorCheckpoint(ctx context.Context, checkpointID string, body AnchorCreate, opts ...Option) (*CheckpointAnchor, error) {
	if err := requireID("AnchorCheckpoint", "checkpointID", checkpointID); err != nil {
		return nil, err
	}
	return call[CheckpointAnchor](ctx, c, op2(client.NewAnchorCheckpointRequest, checkpointID, body), opts)
}

// Offline verification.

var (
	// ErrChainBroken is matched (errors.Is) by the *ChainError of a log that does not verify.
	ErrChainBroken = errors.New("openintent: the event log does not verify")
	// ErrProofInvalid is matched by the error of an inclusion proof that does not verify.
	ErrProofInvalid = errors.New("openintent: the inclusion proof does not verify")
	// ErrInconsistent is matched by the error of a consistency proof that does not hold.
	ErrInconsistent = errors.New("openintent: the checkpoints are not consistent")
	// ErrBadCheckpointSignature is matched by the error of a checkpoint whose signature fails.
	ErrBadCheckpointSignature = errors.New("openintent: the checkpoint's signature does not verify")
)

// ChainError reports a log that failed verification: every failure, the first first.
type ChainError struct {
	Breaks []ChainBreak
}

func (e *ChainError) Error() string {
	if len(e.Breaks) == 1 {
		return "openintent: the event log does not verify: " + e.Breaks[0].Detail
	}
	return fmt.Sprintf("openintent: the event log does not verify: %s (and %d more failures)", e.Breaks[0].Detail, len(e.Breaks)-1)
}

// Is makes a *ChainError match ErrChainBroken.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// ChainCheck says what VerifyChain checks events against.
type ChainCheck struct {
	// After is the event_hash of the event just before the first one given (one checked
	// earlier); empty when the events start the intent's log.
	After string
	// Checkpoints are recomputed from the events: each of the intent's whose whole range the
	// events hold.
	Checkpoints []LogCheckpoint
	// Signer, when set, is the DID every checkpoint must be signed by (the server's, from its
	// DID document); each checkpoint's signature is then checked too.
	Signer string
	// Links fills the report's Events with each event's place in the chain (otherwise only its
	// failures are listed, in Breaks).
	Links bool
}

// VerifyChain checks a run of one intent's events, oldest first, offline: every event's
// event_hash is recomputed from its content (its [RFC-0020] trace_id and parent_event_id, and its
// [RFC-0018] proof, included), every previous_event_hash must be the event_hash of the event
// before it, and the checkpoints check holds are recomputed. The report lists every failure
// (and each event, with check.Links); the error is a *ChainError when there is one.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
// [RFC-0018]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0018-cryptographic-agent-identity.md
func VerifyChain(events []IntentEvent, check ChainCheck) (*ChainVerification, error) {
	res := eventlog.CheckChain(events, check.After, check.Checkpoints)
	if check.Signer != "" {
		for _, cp := range check.Checkpoints {
			if err := eventlog.VerifySignature(cp, check.Signer); err != nil {
				res.Breaks = append(res.Breaks, ChainBreak{Sequence: cp.FirstSequence, CheckpointID: cp.ID, Reason: eventlog.ReasonCheckpoint, Detail: err.Error()})
			}
		}
	}
	out := &ChainVerification{EventCount: int64(len(events)), ChainValid: len(res.Breaks) == 0, Valid: len(res.Breaks) == 0,
		Breaks: res.Breaks, Events: []ChainLink{}, CheckpointsChecked: int64(res.Checkpoints)}
	if check.Links {
		out.Events = res.Links(events)
	}
	if len(events) > 0 {
		out.IntentID, out.FirstSequence, out.LastSequence = events[0].IntentID, events[0].Sequence, events[len(events)-1].Sequence
	}
	if !out.Valid {
		return out, &ChainError{Breaks: res.Breaks}
	}
	return out, nil
}

// EventHash recomputes an event's event_hash from its content.
func EventHash(ev IntentEvent) (string, error) {
	h, err := eventlog.EventHash(&ev)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// MerkleRoot computes the Merkle root of a batch of event hashes, in log order, as a checkpoint
// over them holds it.
func MerkleRoot(eventHashes []string) (string, error) {
	if len(eventHashes) == 0 {
		return "", invalidArg("MerkleRoot", "eventHashes", "no event hashes")
	}
	leaves := make([]eventlog.Hash, len(eventHashes))
	for i, s := range eventHashes {
		var err error
		if leaves[i], err = eventlog.Parse(s); err != nil {
			return "", fmt.Errorf("openintent: MerkleRoot: %w", err)
		}
	}
	return eventlog.Root(leaves).String(), nil
}

// VerifyInclusion checks offline that proof proves an event is a leaf of checkpoint: the proof
// names the checkpoint and its root, has one step per level of a tree of the checkpoint's
// event_count leaves, each on the side its leaf_index says, and climbs from the event's hash to
// the root. Given the event itself (event, optional), its hash is recomputed from its content
// and must be the proof's, and it must lie in the checkpoint's range. The error matches
// ErrProofInvalid. Check the checkpoint itself with VerifyCheckpointSignature (or against an
// anchor) to trust its root.
func VerifyInclusion(proof MerkleProof, checkpoint LogCheckpoint, event *IntentEvent) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrProofInvalid, fmt.Sprintf(format, args...))
	}
	if proof.CheckpointID != checkpoint.ID {
		return fail("the proof is for checkpoint %s, not %s", proof.CheckpointID, checkpoint.ID)
	}
	if err := eventlog.VerifyProof(proof, checkpoint.MerkleRoot, checkpoint.EventCount); err != nil {
		return fail("%v", err)
	}
	if event != nil {
		h, err := EventHash(*event)
		switch {
		case err != nil:
			return fail("event %s: %v", event.ID, err)
		case event.ID != proof.EventID:
			return fail("the proof is for event %s, not %s", proof.EventID, event.ID)
		case h != proof.EventHash:
			return fail("event %s's content gives hash %s, the proof proves %s", event.ID, h, proof.EventHash)
		case event.Sequence < checkpoint.FirstSequence || event.Sequence > checkpoint.LastSequence:
			return fail("event %s (sequence %d) is outside checkpoint %s (%d to %d)", event.ID, event.Sequence, checkpoint.ID, checkpoint.FirstSequence, checkpoint.LastSequence)
		case checkpoint.IntentID != nil && event.IntentID != *checkpoint.IntentID:
			return fail("event %s belongs to intent %s, checkpoint %s covers %s", event.ID, event.IntentID, checkpoint.ID, *checkpoint.IntentID)
		}
	}
	return nil
}

// VerifyCheckpointConsistency checks offline a server's proof (VerifyConsistency) that to
// extends from: same log, to after from, from's last leaf proven, the boundary event (the first
// after from) linked to it, and proven as to's first leaf when it is. Given the boundary event
// itself (boundary, optional, e.g. from GetEvents), its hash is recomputed, which binds the
// link; without it the server's word for the link is taken. The error matches ErrInconsistent.
func VerifyCheckpointConsistency(from, to LogCheckpoint, proof ConsistencyProof, boundary *IntentEvent) error {
	if err := eventlog.VerifyConsistency(from, to, proof, boundary); err != nil {
		return fmt.Errorf("%w: %w", ErrInconsistent, err)
	}
	return nil
}

// VerifyCheckpointSignature checks a checkpoint's Ed25519 signature with the did:key key its
// signed_by names; a non-empty signer DID (the server's, from its DID document) must be that
// key's. The error matches ErrBadCheckpointSignature.
func VerifyCheckpointSignature(checkpoint LogCheckpoint, signer string) error {
	if err := eventlog.VerifySignature(checkpoint, signer); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCheckpointSignature, err)
	}
	return nil
}

// AuditEventLog fetches an intent's whole event log and its checkpoints and verifies them
// offline with VerifyChain: the server's own verdict is not asked for. Events appended while it
// reads are left for the next audit. signer, when set, is the DID every checkpoint must be
// signed by. The error is a *ChainError when the log does not verify.
func (c *Client) AuditEventLog(ctx context.Context, intentID, signer string, opts ...Option) (*ChainVerification, error) {
	if err := requireID("AuditEventLog", "intentID", intentID); err != nil {
		return nil, err
	}
	var events []IntentEvent
	seen := map[string]bool{}
	for ev, err := range c.Events(ctx, intentID, GetEventsParams{Limit: 1000}, opts...) {
		if err != nil {
			return nil, err
		}
		if !seen[ev.ID] { // pages shift as events arrive: an event may come twice
			seen[ev.ID] = true
			events = append(events, ev)
		}
	}
	slices.SortFunc(events, func(a, b IntentEvent) int { return cmp.Compare(a.Sequence, b.Sequence) })
	var cps []LogCheckpoint
	for {
		page, err := c.ListCheckpoints(ctx, ListCheckpointsParams{IntentID: intentID, Limit: 1000, Offset: int32(len(cps))}, opts...)
		if err != nil {
			return nil, err
		}
		cps = append(cps, page...)
		if len(page) < 1000 {
			break
		}
	}
	return VerifyChain(events, ChainCheck{Checkpoints: cps, Signer: signer})
}
