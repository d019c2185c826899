package store

import (
	"context"
	"fmt"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/jsonvalue"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// EventFilter selects events of one intent.
type EventFilter struct {
	// Type keeps only events of this type when not empty.
	Type string
	// Since keeps only events created strictly after it when not zero.
	Since time.Time
	// Limit and Offset page the result, newest first.
	Limit, Offset int
}

func (s *Store) insertEvent(ctx context.Context, tx *wtx, ev models.IntentEvent, now time.Time) (models.IntentEvent, error) {
	if ev.Payload == nil {
		ev.Payload = models.Object{}
	}
	payload, err := jsonvalue.Marshal(ev.Payload)
	if err != nil {
		return ev, err
	}
	ev.ID = newID()
	ev.CreatedAt = timestamp.New(now)
	if err := s.chain(ctx, tx, &ev, payload); err != nil {
		return ev, err
	}
	seq, err := tx.t.insertEvent(ctx, &ev, payload)
	if err != nil {
		return ev, err
	}
	if seq != ev.Sequence {
		return ev, fmt.Errorf("store: event %s stored as %d, numbered %d", ev.ID, seq, ev.Sequence)
	}
	s.watch.added(ev, payload)
	return ev, nil
}

// AppendEvent appends ev (ID, Sequence, CreatedAt and the RFC-0019 hashes are assigned) to an
// existing intent's log. Its trace, when it has none, is the one ctx carries (WithTrace).
func (s *Store) AppendEvent(ctx context.Context, ev models.IntentEvent) (models.IntentEvent, error) {
	var out models.IntentEvent
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.intentRow(ev.IntentID); err != nil {
			return err
		}
		var err error
		out, err = s.insertEvent(ctx, tx, ev, s.Now())
		return err
	})
	return out, err
}

// ListEvents returns an intent's events matching f, newest first. An unknown intent has none.
func (s *Store) ListEvents(ctx context.Context, intentID string, f EventFilter) ([]models.IntentEvent, error) {
	return reading(s, func(t tables) ([]models.IntentEvent, error) { return t.events(ctx, intentID, f) })
}

// AppendEvents appends n comment events by actor to an intent's log in one transaction (for
// seeding benchmarks and load tests).
func (s *Store) AppendEvents(ctx context.Context, intentID, actor string, n int) error {
	return s.inTx(ctx, func(tx *wtx) error {
		now := s.Now()
		for i := range n {
			if _, err := s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "comment", Actor: actor,
				Payload: models.Object{"n": i}}, now); err != nil {
				return err
			}
		}
		return nil
	})
}
