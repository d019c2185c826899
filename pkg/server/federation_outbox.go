package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// The callbacks a server owes its peers (RFC-0022): when the status of an intent it received
// changes, it posts a signed callback to the callback URL of the envelope. The federation loop
// reads the event log from its cursor, stores one kindFedOutbox record per status change of a
// received intent (in the transaction that moves the cursor, so a restart neither loses nor
// repeats one), and sends them, signed when sent (so that a retry carries a fresh timestamp),
// each dispatch's in the order of their events, retrying with backoff up to MaxAttempts. A
// callback's nonce is the event's id: a peer that already took it answers 409 `replayed`, which
// counts as delivered.

// federationCursor names the federation loop's position in the event log.
const federationCursor = "federation"

// outboxItem is one callback to send.
type outboxItem struct {
	ID          string         `json:"id"`
	DispatchID  string         `json:"dispatch_id"`
	Peer        string         `json:"peer"`
	CallbackURL string         `json:"callback_url"`
	IntentID    string         `json:"intent_id"` // the intent here
	EventID     string         `json:"event_id"`
	EventHash   string         `json:"event_hash,omitempty"`
	Sequence    int64          `json:"sequence"`
	EventType   string         `json:"event_type"` // the callback's: completed, failed, status_changed
	StateDelta  map[string]any `json:"state_delta"`
	TraceID     string         `json:"trace_id,omitempty"`
	Attempts    int            `json:"attempts"`
	NextAt      time.Time      `json:"next_at"`
	LastError   string         `json:"last_error,omitempty"`
	// Claim and ClaimedUntil: the attempt in progress, taken by one replica of the server until
	// then (another replica leaves the item alone meanwhile).
	Claim        string    `json:"claim,omitempty"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
}

// heldUntil is when the item may next be attempted.
func (it outboxItem) heldUntil() time.Time {
	if it.ClaimedUntil.After(it.NextAt) {
		return it.ClaimedUntil
	}
	return it.NextAt
}

// start runs the federation loop once there are callbacks to send.
func (f *federation) start() {
	if f.enabled() {
		f.loop.start(f.run)
	}
}

// close stops the loop.
func (f *federation) close() { f.loop.close() }

// startIfNeeded resumes the loop after a restart when the server ever accepted an envelope.
func (f *federation) startIfNeeded(ctx context.Context) error {
	if !f.enabled() {
		return nil
	}
	rs, err := f.store.ListRecords(ctx, store.Query{Kind: kindFedReceived, Limit: 1})
	if err != nil {
		return err
	}
	if len(rs) > 0 {
		f.start()
	}
	return nil
}

func (f *federation) run(ctx context.Context) {
	cursor, err := loadCursor(ctx, f.store, federationCursor)
	if err != nil {
		f.log.Error("federation: read cursor", "error", err)
	}
	followLog(ctx, f.store, nil, func() time.Duration {
		if err := f.enqueue(ctx, &cursor); err != nil && ctx.Err() == nil {
			f.log.Error("federation: enqueue callbacks", "error", err)
		}
		return f.sendDue(ctx)
	})
}

// enqueue stores a callback for every status change of a received intent after the cursor and
// moves the cursor past the events, in one transaction.
func (f *federation) enqueue(ctx context.Context, cursor *int64) error {
	for {
		if stored, ok, err := storedCursor(ctx, f.store, federationCursor); err != nil {
			return err
		} else if ok && stored != *cursor {
			*cursor = stored // another replica got there first
		}
		events, err := f.store.EventsAfter(ctx, store.StreamFilter{AfterSeq: *cursor, Limit: 200})
		if err != nil || len(events) == 0 {
			return err
		}
		var items []outboxItem
		for _, ev := range events {
			if ev.EventType != models.EventTypeStatusChanged {
				continue
			}
			rs, err := store.List[receipt](ctx, f.store, store.Query{Kind: kindFedReceived, Ref: ev.IntentID, Limit: 1})
			if err != nil {
				return err
			}
			if len(rs) == 0 || !rs[0].Accepted || rs[0].CallbackURL == "" {
				continue
			}
			it, err := f.callbackFor(ctx, rs[0], ev)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		last := events[len(events)-1].Sequence
		err = f.store.Write(ctx, func(w *store.Writer) error {
			for _, it := range items {
				it.NextAt = w.Now()
				if _, err := w.Insert(store.Record{Kind: kindFedOutbox, ID: it.ID, Parent: it.IntentID, Ref: it.DispatchID}, it); err != nil {
					return err
				}
			}
			return advanceCursor(w, federationCursor, *cursor, last)
		})
		if errors.Is(err, errCursorMoved) {
			continue
		}
		if err != nil {
			return err
		}
		*cursor = last
	}
}

// callbackFor builds the callback reporting a status change ev of the intent a receipt created.
func (f *federation) callbackFor(ctx context.Context, rc receipt, ev models.IntentEvent) (outboxItem, error) {
	to, _ := ev.Payload["to"].(string)
	if to == "" {
		to, _ = ev.Payload["status"].(string)
	}
	from, _ := ev.Payload["from"].(string)
	it := outboxItem{ID: store.NewID(), DispatchID: rc.DispatchID, Peer: rc.SourceServer, CallbackURL: rc.CallbackURL,
		IntentID: ev.IntentID, EventID: ev.ID, EventHash: ev.EventHash, Sequence: ev.Sequence, TraceID: rc.TraceID,
		EventType: "status_changed", StateDelta: map[string]any{"status": to}}
	if from != "" {
		it.StateDelta["previous_status"] = from
	}
	switch models.IntentStatus(to) {
	case models.IntentStatusCompleted:
		it.EventType = "completed"
		in, err := f.store.GetIntent(ctx, ev.IntentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return it, err
		}
		if err == nil {
			it.StateDelta["state"] = nonNilObject(in.State)
		}
	case models.IntentStatusAbandoned:
		it.EventType = "failed"
	}
	return it, nil
}

// sendDue sends the callbacks that are due, each dispatch's in order (one waiting for its retry
// holds back the later ones), and returns how long to wait for the next to come due.
func (f *federation) sendDue(ctx context.Context) time.Duration {
	next := time.Minute
	rs, err := f.store.ListRecords(ctx, store.Query{Kind: kindFedOutbox})
	if err != nil {
		if ctx.Err() == nil {
			f.log.Error("federation: list callbacks", "error", err)
		}
		return time.Second
	}
	held := map[string]bool{} // dispatch ids whose next callback must wait
	for _, r := range rs {
		if ctx.Err() != nil {
			return 0
		}
		var it outboxItem
		if err := r.Decode(&it); err != nil {
			f.log.Error("federation: decode callback", "error", err)
			continue
		}
		if held[it.DispatchID] {
			continue
		}
		if wait := it.heldUntil().Sub(f.store.Now()); wait > 0 {
			next, held[it.DispatchID] = min(next, wait), true
			continue
		}
		if !f.attempt(ctx, it) {
			held[it.DispatchID] = true
		}
	}
	return next
}

// claimTTL is how long a claim on an attempt holds.
func (f *federation) claimTTL() time.Duration { return 2*f.cfg.Timeout + 30*time.Second }

// attempt claims, sends and records one attempt of a callback; it reports whether the
// dispatch's next callback may follow.
func (f *federation) attempt(ctx context.Context, it outboxItem) bool {
	claim, ok := store.NewID(), false
	err := f.store.Write(ctx, func(w *store.Writer) error {
		var cur outboxItem
		r, err := w.Get(kindFedOutbox, it.ID)
		if err == nil {
			err = r.Decode(&cur)
		}
		if err != nil {
			return err
		}
		if cur.Attempts != it.Attempts || cur.heldUntil().After(w.Now()) {
			return nil
		}
		cur.Claim, cur.ClaimedUntil = claim, w.Now().Add(f.claimTTL())
		if _, err := w.Rewrite(r, cur); err != nil {
			return err
		}
		it, ok = cur, true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return true // sent by another replica
	}
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			f.log.Error("federation: claim callback", "error", err, "dispatch_id", it.DispatchID)
		}
		return false
	}
	sendErr := f.post(ctx, it)
	if sendErr != nil && ctx.Err() != nil {
		return false // stopping: the claim runs out and the callback is sent again
	}
	it.Attempts++
	dead := sendErr != nil && it.Attempts >= f.cfg.MaxAttempts
	err = f.store.Write(context.WithoutCancel(ctx), func(w *store.Writer) error {
		var cur outboxItem
		r, err := w.Get(kindFedOutbox, it.ID)
		if err == nil {
			err = r.Decode(&cur)
		}
		if err != nil {
			return err
		}
		if cur.Claim != claim {
			return errHandledElsewhere
		}
		if sendErr == nil || dead {
			if err := w.Delete(kindFedOutbox, it.ID); err != nil {
				return err
			}
		}
		cur.Claim, cur.ClaimedUntil, cur.Attempts = "", time.Time{}, it.Attempts
		if sendErr == nil {
			return nil
		}
		cur.LastError = sendErr.Error()
		if dead {
			_, err := w.Insert(store.Record{Kind: kindFedDead, ID: cur.ID, Parent: cur.IntentID, Ref: cur.DispatchID}, cur)
			return err
		}
		cur.NextAt = w.Now().Add(f.backoff(cur.Attempts))
		_, err = w.Update(r, cur)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errHandledElsewhere) {
		f.log.Error("federation: record callback attempt", "error", err, "dispatch_id", it.DispatchID)
	}
	switch {
	case sendErr == nil:
		f.log.Info("federation: callback delivered", "dispatch_id", it.DispatchID, "peer", it.Peer, "event_type", it.EventType, "attempt", it.Attempts)
		return true
	case dead:
		f.log.Warn("federation: giving up on callback", "dispatch_id", it.DispatchID, "peer", it.Peer, "attempts", it.Attempts, "error", sendErr)
		return true
	}
	f.log.Info("federation: callback failed; will retry", "dispatch_id", it.DispatchID, "peer", it.Peer, "attempt", it.Attempts, "error", sendErr)
	return false
}

func (f *federation) backoff(attempts int) time.Duration {
	b := f.cfg.BaseBackoff
	for i := 1; i < attempts && b < f.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, f.cfg.MaxBackoff)
}

// post signs and sends one callback. A peer that answers 409 `replayed` already has it.
func (f *federation) post(ctx context.Context, it outboxItem) error {
	if f.peers[it.Peer] == nil {
		return fmt.Errorf("%s is no longer one of this server's federation peers", it.Peer)
	}
	now := f.store.Now().UTC()
	cb := models.FederationCallback{DispatchID: it.DispatchID, EventType: it.EventType, StateDelta: it.StateDelta,
		IntentID: it.IntentID, TraceID: it.TraceID, IdempotencyKey: "event-" + it.EventID, Timestamp: timestamp.New(now),
		Attestation: map[string]any{"dispatch_id": it.DispatchID, "intent_id": it.IntentID, "event_id": it.EventID,
			"event_hash": it.EventHash, "governance_compliant": true, "timestamp": now.Format(time.RFC3339Nano)}}
	body, err := f.sign(cb)
	if err != nil {
		return err
	}
	code, raw, err := f.send(ctx, it.CallbackURL, body)
	switch {
	case err != nil:
		return fmt.Errorf("post callback: %w", err)
	case code == http.StatusOK:
		return nil
	case code == http.StatusConflict:
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Code == "replayed" {
			return nil // delivered before (its answer was lost)
		}
	}
	return fmt.Errorf("the peer answered %s", errorDetail(code, raw))
}
