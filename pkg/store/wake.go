package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Topics wake live readers of records, as Watch wakes readers of the event log. A record write
// wakes nobody by itself: a transaction that changes what a live reader follows (a channel and
// its messages, for a channel's streams) names the topic with Writer.Wake, and the readers
// waiting on WatchTopic(topic) are woken once it commits: this store's at once, and on a
// PostgreSQL store those of every other replica too:
//
//   - by NOTIFY on pgWakeChannel (sent in the transaction, so delivered once it commits), which
//     the listener of pg.go hears while the replica has watchers;
//   - by polling, as a backstop for a lost notification and for a replica that does not listen
//     (Options.DisableNotify): the transaction also stamps a row of the records table per topic
//     (kind wakeKind, id the topic, created_at a tick of the record clock, which the write lock
//     makes increase in commit order), and the poller looks for rows stamped after the newest it
//     saw. One row per topic, restamped by each wake; rows not stamped for wakeRetention are
//     swept.

// pgWakeChannel is the NOTIFY channel of topics woken. A payload is the writing store's id and
// the topics, separated by spaces ("*" for too many to list, or for a topic holding a space).
const pgWakeChannel = "openintent_wakes"

// wakeKind is the record kind of the rows that stamp topics woken (PostgreSQL only; never listed).
const wakeKind = "_wake"

// wakeRetention is how long a topic's row stays after its last wake: far longer than any
// polling interval, so that a poller never misses a stamp.
const wakeRetention = time.Hour

// WatchTopic returns a channel closed at the next commit, by this store or by another replica
// sharing its database, of a write transaction that called Writer.Wake(topic). Take it before
// reading what the topic covers, then wait on it, so that no change is missed.
func (s *Store) WatchTopic(topic string) <-chan struct{} {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	if s.watch.byTopic == nil {
		s.watch.byTopic = map[string]chan struct{}{}
	}
	ch, ok := s.watch.byTopic[topic]
	if !ok {
		ch = make(chan struct{})
		s.watch.byTopic[topic] = ch
		if s.watch.demand != nil {
			select {
			case s.watch.demand <- struct{}{}:
			default: // signalled already
			}
		}
	}
	return ch
}

// Wake wakes the watchers of topic (WatchTopic), on every replica, once the transaction commits
// (nobody, if it does not).
func (w *Writer) Wake(topic string) { w.s.watch.addTopic(topic) }

// addTopic notes a topic the transaction in flight wakes.
func (w *watchers) addTopic(topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.pendingTopics, topic) {
		w.pendingTopics = append(w.pendingTopics, topic)
	}
}

// pendingTopicList returns a copy of the topics the transaction in flight wakes.
func (w *watchers) pendingTopicList() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.pendingTopics)
}

// wakeTopics closes the channels of the watchers of topics, or of every topic when all is set;
// w.mu is held.
func (w *watchers) wakeTopics(topics []string, all bool) {
	if all {
		for k, ch := range w.byTopic {
			close(ch)
			delete(w.byTopic, k)
		}
		return
	}
	for _, t := range topics {
		if ch, ok := w.byTopic[t]; ok {
			close(ch)
			delete(w.byTopic, t)
		}
	}
}

// wakeTopicsFrom wakes the watchers of topics woken by another replica.
func (w *watchers) wakeTopicsFrom(topics []string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wakeTopics(topics, all)
}

// watchingEvents and watchingTopics report whether anyone waits on a Watch, or a WatchTopic,
// channel.
func (w *watchers) watchingEvents() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byKey) > 0
}

func (w *watchers) watchingTopics() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byTopic) > 0
}

// holdWakes holds back, for the commit of a PostgreSQL write transaction, the NOTIFY of the
// topics it wakes, the stamps of their rows, and (at most once a minute) the sweep of rows
// stamped more than wakeRetention ago.
func (t *wtx) holdWakes(topics []string) {
	x, p := t.pg, t.s.pg
	payload := p.id + " " + strings.Join(topics, " ")
	if len(payload) > 7900 || slices.ContainsFunc(topics, func(s string) bool { return s == "" || strings.ContainsAny(s, " \t\r\n") }) {
		payload = p.id + " " + AnyIntent // NOTIFY payloads are limited to 8000 bytes
	}
	x.hold(`SELECT pg_notify($1, $2)`, pgWakeChannel, payload)
	// The stamp is a tick of the record clock, so that it is larger than any stamp committed
	// before (the write lock is held) and moves the clock past it.
	now := t.s.Now()
	for _, topic := range topics {
		x.noteRecord(topic)
	}
	x.hold(`WITH tick AS (UPDATE record_clock SET last_created = GREATEST(last_created + 1, $2) RETURNING last_created)
		INSERT INTO records (kind, id, parent, ref, ukey, version, body, created_at, expires_at)
		SELECT $3, topic, '', '', NULL, 1, '{}', tick.last_created, NULL FROM tick, unnest($1::text[]) AS topic
		ON CONFLICT (kind, id) DO UPDATE SET created_at = EXCLUDED.created_at, version = records.version + 1`,
		topics, micros(now), wakeKind)
	if now.Sub(p.lastWakeSweep) >= time.Minute {
		p.lastWakeSweep = now // guarded by the write transaction
		x.hold(`DELETE FROM records WHERE kind = $1 AND id IN
			(SELECT id FROM records WHERE kind = $1 AND parent = '' AND created_at < $2 ORDER BY created_at LIMIT 1000)`,
			wakeKind, micros(now.Add(-wakeRetention)))
	}
}

// lastWakeStamp returns the newest stamp any topic's row can have now: the record clock.
func (p *pgStore) lastWakeStamp(ctx context.Context) (int64, error) {
	var us int64
	err := p.pool.QueryRow(ctx, `SELECT last_created FROM record_clock`).Scan(&us)
	return us, err
}

// pollTopics wakes the watchers of the topics whose rows were stamped after last, and returns
// the newest stamp seen.
func (p *pgStore) pollTopics(ctx context.Context, s *Store, last int64) int64 {
	type stamp struct {
		topic string
		at    int64
	}
	hits, err := pgCollect(ctx, p.pool, func(r scanner) (stamp, error) {
		var h stamp
		return h, r.Scan(&h.topic, &h.at)
	}, `SELECT id, created_at FROM records WHERE kind = $1 AND parent = '' AND created_at > $2 ORDER BY created_at LIMIT $3`,
		wakeKind, last, pollBatch)
	if err != nil || len(hits) == 0 {
		return last
	}
	if len(hits) == pollBatch {
		if n, err := p.lastWakeStamp(ctx); err == nil {
			last = n
		}
		s.watch.wakeTopicsFrom(nil, true)
		return last
	}
	topics := make([]string, len(hits))
	for i, h := range hits {
		topics[i] = h.topic
	}
	s.watch.wakeTopicsFrom(topics, false)
	return hits[len(hits)-1].at
}
