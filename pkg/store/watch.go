package store

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"

	"github.com/openintent-go/openintent/gen/models"
)

// watchers wakes readers of the event log when events are committed, and keeps the most recent
// committed events in memory so that live readers (streams, webhooks, triggers) catching up
// after a wake-up read them without a query each. Writes go through one connection, one
// transaction at a time, so the events of the transaction in flight are collected in pending
// and published after its commit.
type watchers struct {
	mu      sync.Mutex
	pending []recentEvent
	byKey   map[string]chan struct{} // intent id, or AnyIntent

	// recent holds, in sequence order, every event committed by this store with a sequence
	// number of at least recentFrom (at least the newest RecentEvents, at most twice as many).
	// recentFrom is 0 until the store knows where its log ended when it was opened.
	recent     []recentEvent
	recentFrom int64

	// demand, on a PostgreSQL store that listens for other replicas' commits, is signalled when
	// a watcher arrives: the listener listens while there are watchers (pg.go).
	demand chan struct{}

	// byTopic holds the watchers of topics (WatchTopic), and pendingTopics the topics the
	// transaction in flight wakes (Writer.Wake), each once (wake.go).
	byTopic       map[string]chan struct{}
	pendingTopics []string
}

// RecentEvents is how many of the newest events a store keeps in memory for live readers.
const RecentEvents = 4096

// recentEvent is an event without its payload, which is kept encoded so that every reader
// decodes a copy of its own.
type recentEvent struct {
	ev      models.IntentEvent
	payload []byte
}

// AnyIntent is the Watch key woken by events of every intent.
const AnyIntent = "*"

func (w *watchers) added(ev models.IntentEvent, payload []byte) {
	ev.Payload = nil
	w.mu.Lock()
	w.pending = append(w.pending, recentEvent{ev: ev, payload: payload})
	w.mu.Unlock()
}

func (w *watchers) settle(committed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if committed && len(w.pending) > 0 {
		for _, p := range w.pending {
			if ch, ok := w.byKey[p.ev.IntentID]; ok {
				close(ch)
				delete(w.byKey, p.ev.IntentID)
			}
		}
		if ch, ok := w.byKey[AnyIntent]; ok {
			close(ch)
			delete(w.byKey, AnyIntent)
		}
		if w.recentFrom > 0 {
			w.publish(w.pending)
		}
	}
	if committed {
		w.wakeTopics(w.pendingTopics, false)
	}
	clear(w.pendingTopics)
	w.pendingTopics = w.pendingTopics[:0]
	if cap(w.pending) > 64 {
		w.pending = nil // do not hold on to a bulk write's events
	} else {
		clear(w.pending)
		w.pending = w.pending[:0]
	}
}

// publish appends committed events to the recent window. The window keeps at least the newest
// RecentEvents; it is trimmed back to that many only when it reaches twice as many, so that
// trimming costs O(1) per event.
func (w *watchers) publish(evs []recentEvent) {
	if len(evs) >= RecentEvents {
		evs = evs[len(evs)-RecentEvents:]
		w.recent = w.recent[:0]
	} else if len(w.recent)+len(evs) > 2*RecentEvents {
		keep := RecentEvents - len(evs)
		w.recent = append(w.recent[:0], w.recent[len(w.recent)-keep:]...)
	}
	w.recent = append(w.recent, evs...)
	w.recentFrom = w.recent[0].ev.Sequence
}

// startRecent records where the log ends when the store opens: every later event is kept.
func (w *watchers) startRecent(lastSeq int64) {
	w.mu.Lock()
	w.recentFrom = lastSeq + 1
	w.mu.Unlock()
}

// recentAfter answers f from the recent window, if the window holds every event it asks for.
func (w *watchers) recentAfter(f StreamFilter) ([]models.IntentEvent, bool, error) {
	w.mu.Lock()
	if w.recentFrom == 0 || f.AfterSeq+1 < w.recentFrom {
		w.mu.Unlock()
		return nil, false, nil
	}
	i := sort.Search(len(w.recent), func(i int) bool { return w.recent[i].ev.Sequence > f.AfterSeq })
	var picked []recentEvent
	var payloads []models.Object // decoded while matching the agent, else nil
	for _, r := range w.recent[i:] {
		if len(picked) == f.Limit {
			break
		}
		if f.IntentIDs != nil && !slices.Contains(f.IntentIDs, r.ev.IntentID) {
			continue
		}
		var payload models.Object
		if f.Agent != "" && r.ev.Actor != f.Agent {
			// Matched before counting towards the limit, as the query does.
			var err error
			if payload, err = decodePayload(r.payload); err != nil {
				w.mu.Unlock()
				return nil, false, err
			}
			if !namesAgent(payload, f.Agent) {
				continue
			}
		}
		picked = append(picked, r)
		payloads = append(payloads, payload)
	}
	w.mu.Unlock()
	out := make([]models.IntentEvent, len(picked))
	for k, r := range picked {
		out[k] = r.ev
		out[k].Payload = payloads[k]
		if out[k].Payload == nil {
			var err error
			if out[k].Payload, err = decodePayload(r.payload); err != nil {
				return nil, false, err
			}
		}
	}
	return out, true, nil
}

// decodePayload decodes an event's stored payload; an empty one is an empty object, never nil.
func decodePayload(b []byte) (models.Object, error) {
	var p models.Object
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	if p == nil {
		p = models.Object{}
	}
	return p, nil
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
		if s.watch.demand != nil {
			select {
			case s.watch.demand <- struct{}{}:
			default: // signalled already
			}
		}
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

// namesAgent reports whether an event's payload names agent as its `agent_id` (the other way,
// beside being its actor, that an event concerns an agent).
func namesAgent(payload models.Object, agent string) bool {
	a, ok := payload["agent_id"].(string)
	return ok && a == agent
}

// EventsAfter returns events matching f in sequence order. Recent events come from memory.
func (s *Store) EventsAfter(ctx context.Context, f StreamFilter) ([]models.IntentEvent, error) {
	if f.IntentIDs != nil && len(f.IntentIDs) == 0 {
		return []models.IntentEvent{}, nil
	}
	if evs, ok, err := s.watch.recentAfter(f); ok || err != nil {
		return evs, err
	}
	return reading(s, func(t tables) ([]models.IntentEvent, error) { return t.eventsAfter(ctx, f) })
}

// LastSeq returns the sequence number of the newest event (0 when the log is empty).
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	return reading(s, func(t tables) (int64, error) { return t.lastSeq(ctx) })
}

// pendingIntents returns the intents of the events of the transaction in flight, each once.
func (w *watchers) pendingIntents() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for _, p := range w.pending {
		if !slices.Contains(ids, p.ev.IntentID) {
			ids = append(ids, p.ev.IntentID)
		}
	}
	return ids
}

// wake closes the channels of the watchers of intents ids and of AnyIntent, or of every watcher
// (topics' too) when all is set: another replica committed events of those intents.
func (w *watchers) wake(ids []string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if all {
		for k, ch := range w.byKey {
			close(ch)
			delete(w.byKey, k)
		}
		w.wakeTopics(nil, true) // what was missed may have woken topics too
		return
	}
	for _, id := range append(ids, AnyIntent) {
		if ch, ok := w.byKey[id]; ok {
			close(ch)
			delete(w.byKey, id)
		}
	}
}

// watching reports whether anyone waits on a Watch or WatchTopic channel.
func (w *watchers) watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byKey) > 0 || len(w.byTopic) > 0
}
