package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"sync"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// watchers wakes readers of the event log when events are committed. Writes go through one
// connection, one transaction at a time, so the intents touched by the transaction in flight
// are collected in pending and announced after its commit.
type watchers struct {
	mu      sync.Mutex
	pending map[string]struct{}
	byKey   map[string]chan struct{} // intent id, or AnyIntent
}

// AnyIntent is the Watch key woken by events of every intent.
const AnyIntent = "*"

func (w *watchers) touched(intentID string) {
	w.mu.Lock()
	if w.pending == nil {
		w.pending = map[string]struct{}{}
	}
	w.pending[intentID] = struct{}{}
	w.mu.Unlock()
}

func (w *watchers) settle(committed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if committed && len(w.pending) > 0 {
		for id := range w.pending {
			if ch, ok := w.byKey[id]; ok {
				close(ch)
				delete(w.byKey, id)
			}
		}
		if ch, ok := w.byKey[AnyIntent]; ok {
			close(ch)
			delete(w.byKey, AnyIntent)
		}
	}
	clear(w.pending)
}

// Watch returns a channel closed at the next commit of events of intentID (AnyIntent: of any
// intent). Take it before reading the log, then wait on it, so no event is missed.
func (s *Store) Watch(intentID string) <-chan struct{} {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	if s.watch.byKey == nil {
		s.watch.byKey = map[string]chan struct{}{}
	}
	ch, ok := s.watch.byKey[intentID]
	if !ok {
		ch = make(chan struct{})
		s.watch.byKey[intentID] = ch
	}
	return ch
}

// StreamFilter selects events for a stream, oldest first after a sequence number.
type StreamFilter struct {
	// IntentIDs keeps events of these intents; nil keeps every intent.
	IntentIDs []string
	// Agent keeps events written by this agent or naming it as `agent_id` in their payload.
	Agent string
	// AfterSeq keeps events with a larger sequence number.
	AfterSeq int64
	// Limit bounds the page.
	Limit int
}

// EventsAfter returns events matching f in sequence order.
func (s *Store) EventsAfter(ctx context.Context, f StreamFilter) ([]models.IntentEvent, error) {
	q := `SELECT seq, id, intent_id, event_type, actor, payload, trace_id, parent_event_id, created_at FROM events WHERE seq > ?`
	args := []any{f.AfterSeq}
	if f.IntentIDs != nil {
		if len(f.IntentIDs) == 0 {
			return []models.IntentEvent{}, nil
		}
		q += ` AND intent_id IN (?` + strings.Repeat(",?", len(f.IntentIDs)-1) + `)`
		for _, id := range f.IntentIDs {
			args = append(args, id)
		}
	}
	if f.Agent != "" {
		q += ` AND (actor = ? OR json_extract(payload, '$.agent_id') = ?)`
		args = append(args, f.Agent, f.Agent)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanEvents(rows)
}

// LastSeq returns the sequence number of the newest event (0 when the log is empty).
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&seq)
	return seq.Int64, err
}

func scanEvents(rows *sql.Rows) ([]models.IntentEvent, error) {
	out := []models.IntentEvent{}
	for rows.Next() {
		var (
			ev            models.IntentEvent
			payload       string
			trace, parent sql.NullString
			created       int64
		)
		if err := rows.Scan(&ev.Sequence, &ev.ID, &ev.IntentID, &ev.EventType, &ev.Actor, &payload, &trace, &parent, &created); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(payload), &ev.Payload); err != nil {
			return nil, err
		}
		if ev.Payload == nil {
			ev.Payload = models.Object{}
		}
		ev.TraceID, ev.ParentEventID = trace.String, parent.String
		ev.CreatedAt = timestamp.New(fromMicros(created))
		out = append(out, ev)
	}
	return out, rows.Err()
}
