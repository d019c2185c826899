package eventlog

import (
	"errors"
	"fmt"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/canonical"
)

// CheckLog checks a run of the server's whole log (every intent's events, in sequence order):
// each event's hash against its content, and each server checkpoint whose range the run holds.
// Links are not checked: they join an intent's events, which CheckChain checks.
func CheckLog(events []models.IntentEvent, checkpoints []models.LogCheckpoint) ChainResult {
	res := ChainResult{Breaks: []models.ChainBreak{}, Hashes: make([]Hash, len(events))} // Hashes always: the checkpoints' leaves
	var h Hasher
	var buf []byte
	for i := range events {
		ev := &events[i]
		sum, err := h.Sum(ev)
		res.Hashes[i] = sum
		if buf = sum.Append(buf[:0]); err != nil || string(buf) != ev.EventHash {
			res.Breaks = append(res.Breaks, models.ChainBreak{Sequence: ev.Sequence, EventID: ev.ID, Reason: ReasonHash, Expected: string(buf), Found: ev.EventHash,
				Detail: fmt.Sprintf("event %s (sequence %d): its content does not give its event_hash", ev.ID, ev.Sequence)})
		}
	}
	for _, cp := range checkpoints {
		if b, ok := checkCheckpoint(events, res.Hashes, cp, true); ok {
			res.Checkpoints++
			if b != nil {
				res.Breaks = append(res.Breaks, *b)
			}
		}
	}
	return res
}

// ErrInconsistent is wrapped by the error of a consistency proof that does not hold.
var ErrInconsistent = errors.New("eventlog: the checkpoints are not consistent")

func inconsistent(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInconsistent, fmt.Sprintf(format, args...))
}

// SameLog reports why two checkpoints do not cover the same log, or "".
func SameLog(from, to models.LogCheckpoint) string {
	switch {
	case from.Scope != to.Scope:
		return fmt.Sprintf("checkpoint %s covers the %s log, checkpoint %s the %s log", from.ID, from.Scope, to.ID, to.Scope)
	case (from.IntentID == nil) != (to.IntentID == nil) || (from.IntentID != nil && *from.IntentID != *to.IntentID):
		return fmt.Sprintf("checkpoints %s and %s cover different intents", from.ID, to.ID)
	case to.FirstSequence <= from.LastSequence:
		return fmt.Sprintf("checkpoint %s (sequences %d to %d) does not start after checkpoint %s (%d to %d) ends",
			to.ID, to.FirstSequence, to.LastSequence, from.ID, from.FirstSequence, from.LastSequence)
	}
	return ""
}

// VerifyConsistency checks, offline, a server's proof that checkpoint to extends checkpoint
// from: both cover the same log, to starts after from ends, from_proof proves the event at
// from's last leaf, the boundary event (the first after it) names that event's hash as its
// previous_event_hash (for an intent's log) or directly follows it (for the server's), and,
// when the boundary event opens to, to_proof proves it is to's first leaf. Given the boundary
// event itself (boundary, optional), its hash is recomputed too, which binds its
// previous_event_hash; without it the server's word for that link is taken. Events between the
// boundary event and to (when other checkpoints lie between) are not covered.
func VerifyConsistency(from, to models.LogCheckpoint, p models.ConsistencyProof, boundary *models.IntentEvent) error {
	if p.FromCheckpoint != from.ID || p.ToCheckpoint != to.ID {
		return inconsistent("the proof is about %s and %s, not %s and %s", p.FromCheckpoint, p.ToCheckpoint, from.ID, to.ID)
	}
	if !p.Consistent {
		return inconsistent("the server found %s and %s inconsistent: %s", from.ID, to.ID, p.Reason)
	}
	if why := SameLog(from, to); why != "" {
		return inconsistent("%s", why)
	}
	b, fp := p.BoundaryEvent, p.FromProof
	if b == nil || fp == nil {
		return inconsistent("the proof lacks its boundary event or from_proof")
	}
	if fp.CheckpointID != from.ID || fp.LeafIndex != from.EventCount-1 {
		return inconsistent("from_proof proves leaf %d of %s, not the last leaf (%d) of %s", fp.LeafIndex, fp.CheckpointID, from.EventCount-1, from.ID)
	}
	if err := VerifyProof(*fp, from.MerkleRoot, from.EventCount); err != nil {
		return inconsistent("from_proof: %v", err)
	}
	if b.Sequence <= from.LastSequence || b.Sequence > to.FirstSequence {
		return inconsistent("the boundary event (sequence %d) is not between the checkpoints (%d and %d)", b.Sequence, from.LastSequence, to.FirstSequence)
	}
	if from.IntentID != nil {
		if b.PreviousEventHash == nil || *b.PreviousEventHash != fp.EventHash {
			return inconsistent("the boundary event %s does not link to %s's last event %s", b.EventID, from.ID, fp.EventID)
		}
	} else if b.Sequence != from.LastSequence+1 {
		return inconsistent("the boundary event (sequence %d) does not follow %s's last event (%d)", b.Sequence, from.ID, from.LastSequence)
	}
	if b.Sequence == to.FirstSequence {
		tp := p.ToProof
		if tp == nil || tp.CheckpointID != to.ID || tp.LeafIndex != 0 || tp.EventID != b.EventID || tp.EventHash != b.EventHash {
			return inconsistent("to_proof does not prove the boundary event %s is the first leaf of %s", b.EventID, to.ID)
		}
		if err := VerifyProof(*tp, to.MerkleRoot, to.EventCount); err != nil {
			return inconsistent("to_proof: %v", err)
		}
	}
	if boundary != nil {
		h, err := EventHash(boundary)
		if err != nil || boundary.ID != b.EventID || boundary.Sequence != b.Sequence || h.String() != b.EventHash ||
			(boundary.PreviousEventHash == nil) != (b.PreviousEventHash == nil) || (b.PreviousEventHash != nil && *boundary.PreviousEventHash != *b.PreviousEventHash) {
			return inconsistent("the boundary event given is not the one the proof names, or its content does not give its hash")
		}
	}
	return nil
}

// SigningInput is what a checkpoint's signature covers: the canonical JSON of the checkpoint
// without its signature and its anchor (which is added after it is signed).
func SigningInput(cp models.LogCheckpoint) ([]byte, error) {
	var intent any
	if cp.IntentID != nil {
		intent = *cp.IntentID
	}
	var signedBy any
	if cp.SignedBy != nil {
		signedBy = *cp.SignedBy
	}
	var created any
	if !cp.CreatedAt.IsZero() {
		created = string(appendTime(nil, cp.CreatedAt.UTC()))
	}
	return canonical.Marshal(map[string]any{
		"checkpoint_id": cp.ID, "intent_id": intent, "scope": cp.Scope, "merkle_root": cp.MerkleRoot,
		"event_count": cp.EventCount, "first_sequence": cp.FirstSequence, "last_sequence": cp.LastSequence,
		"created_at": created, "signed_by": signedBy,
	})
}

// ErrBadSignature is wrapped by the error of a checkpoint whose signature does not verify.
var ErrBadSignature = errors.New("eventlog: checkpoint signature does not verify")

// VerifySignature checks a checkpoint's signature against the did:key key that signed_by names;
// a non-empty signer must be that DID (the server's, as its DID document gives it).
func VerifySignature(cp models.LogCheckpoint, signer string) error {
	if cp.SignedBy == nil || cp.Signature == nil {
		return fmt.Errorf("%w: checkpoint %s is not signed", ErrBadSignature, cp.ID)
	}
	if signer != "" && agentkey.BaseDID(*cp.SignedBy) != agentkey.BaseDID(signer) {
		return fmt.Errorf("%w: checkpoint %s is signed by %s, not %s", ErrBadSignature, cp.ID, *cp.SignedBy, signer)
	}
	pub, err := agentkey.ParseDID(*cp.SignedBy)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	msg, err := SigningInput(cp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !agentkey.Verify(pub, msg, *cp.Signature) {
		return fmt.Errorf("%w: checkpoint %s", ErrBadSignature, cp.ID)
	}
	return nil
}
