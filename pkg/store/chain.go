package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/jsonvalue"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// The verifiable log of RFC-0019. Each event is hashed when it is appended, over its content and
// the hash of its intent's previous event (package eventlog says exactly what is covered), and
// both hashes are stored with it. Checkpoints are records holding a Merkle root over a batch of
// event hashes and the upper levels of its tree, so that an inclusion proof reads one block of
// leaves whatever the size of the batch.

// traceKey carries the RFC-0020 trace of a request into the events it appends.
type traceKey struct{}

// WithTrace returns ctx carrying an RFC-0020 trace: every event appended with it whose own
// trace_id and parent_event_id are both empty records these.
func WithTrace(ctx context.Context, traceID, parentEventID string) context.Context {
	if traceID == "" && parentEventID == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, [2]string{traceID, parentEventID})
}

// chain gives ev (its ID, CreatedAt and IntentID set) its trace from ctx, its sequence number,
// its previous event's hash and its own hash, computed over the payload as it is stored.
func (s *Store) chain(ctx context.Context, tx *wtx, ev *models.IntentEvent, payload []byte) error {
	// A signed event (RFC-0018) keeps the trace it was signed with: its proof covers it.
	if tr, ok := ctx.Value(traceKey{}).([2]string); ok && ev.TraceID == "" && ev.ParentEventID == "" && ev.Proof == (models.EventProof{}) {
		ev.TraceID, ev.ParentEventID = tr[0], tr[1]
	}
	seq, err := s.tips.nextSeq(ctx, tx)
	if err != nil {
		return err
	}
	head, ok, err := s.tips.head(ctx, tx, ev.IntentID)
	if err != nil {
		return err
	}
	ev.Sequence, ev.PreviousEventHash = seq, nil
	if ok {
		p := head.String()
		ev.PreviousEventHash = &p
	}
	// The hash covers what readers get back: the payload decoded from its stored JSON. A payload
	// of the kinds decoding gives (or of integers a double holds) is hashed as it is: its
	// canonical JSON is the same; any other is decoded first.
	stored := *ev
	decoded := !jsonNative(map[string]any(ev.Payload), 0)
	if decoded {
		if stored.Payload, err = decodePayload(payload); err != nil {
			return err
		}
	}
	h, err := s.hasher.Sum(&stored)
	if err != nil && !decoded { // a string that is not UTF-8, which encoding repaired
		if stored.Payload, err = decodePayload(payload); err == nil {
			h, err = s.hasher.Sum(&stored)
		}
	}
	if err != nil {
		return err
	}
	ev.EventHash = h.String()
	tx.tips.moved(ev.IntentID, seq, h)
	return nil
}

// jsonNative reports whether v holds only what decoding JSON gives (maps, slices, strings,
// float64s, booleans, nil), or integers a double holds exactly, or lists of strings: values
// whose canonical JSON is that of their stored form decoded.
func jsonNative(v any, depth int) bool {
	if depth > 64 {
		return false
	}
	switch x := v.(type) {
	case nil, bool, string, float64, []string:
		return true
	case int:
		return x >= -1<<53 && x <= 1<<53
	case int64:
		return x >= -1<<53 && x <= 1<<53
	case []any:
		for _, e := range x {
			if !jsonNative(e, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range x {
			if !jsonNative(e, depth+1) {
				return false
			}
		}
		return true
	case models.Object:
		return jsonNative(map[string]any(x), depth)
	}
	return false
}

// chainTips spares a file store the queries for the log's next sequence number and an intent's
// newest hash on every append: it remembers the last committed sequence number and the newest
// hash of recently written intents. Write transactions use it under Store.writeMu; each keeps
// what it moves (txTips) until it commits. The in-memory store's maps answer directly.
type chainTips struct {
	lastSeq int64 // 0 until first read
	heads   map[string]eventlog.Hash
}

// maxTips bounds the cached heads (the cache starts afresh beyond).
const maxTips = 1 << 16

// txTips is what a transaction moved: its last sequence number, the heads it appended to, and
// the intents it created (which have no head yet).
type txTips struct {
	seq   int64
	heads map[string]eventlog.Hash
	fresh map[string]bool
}

func (t *txTips) moved(intentID string, seq int64, h eventlog.Hash) {
	if t.heads == nil {
		t.heads = map[string]eventlog.Hash{}
	}
	t.seq, t.heads[intentID] = seq, h
	delete(t.fresh, intentID)
}

func (t *txTips) created(intentID string) {
	if t.fresh == nil {
		t.fresh = map[string]bool{}
	}
	t.fresh[intentID] = true
}

func (c *chainTips) nextSeq(ctx context.Context, tx *wtx) (int64, error) {
	switch {
	case tx.pg != nil: // the transaction's own last, or the log's when it took the write lock
		if tx.tips.seq > 0 {
			return tx.tips.seq + 1, nil
		}
		if err := tx.pg.start(ctx); err != nil {
			return 0, err
		}
		return tx.pg.lastSeq + 1, nil
	case tx.c == nil: // the in-memory store's log knows
	case tx.tips.seq > 0:
		return tx.tips.seq + 1, nil
	case c.lastSeq > 0:
		return c.lastSeq + 1, nil
	}
	return tx.t.nextSeq(ctx)
}

func (c *chainTips) head(ctx context.Context, tx *wtx, intentID string) (eventlog.Hash, bool, error) {
	if tx.c != nil || tx.pg != nil {
		if h, ok := tx.tips.heads[intentID]; ok {
			return h, true, nil
		}
		if tx.tips.fresh[intentID] {
			return eventlog.Hash{}, false, nil
		}
		if tx.pg != nil {
			if h, ok, known := tx.pg.head(intentID); known { // read with the intent, under the write lock
				return h, ok, nil
			}
		} else if h, ok := c.heads[intentID]; ok { // (PostgreSQL: another replica may have moved it)
			return h, true, nil
		}
	}
	h, ok, err := tx.t.chainHead(ctx, intentID)
	if err == nil && ok && tx.c != nil {
		c.cache(intentID, h) // committed: the transaction has not appended to it
	}
	return h, ok, err
}

func (c *chainTips) cache(intentID string, h eventlog.Hash) {
	if c.heads == nil || len(c.heads) >= maxTips {
		c.heads = map[string]eventlog.Hash{}
	}
	c.heads[intentID] = h
}

// committed takes in what a committed transaction moved.
func (c *chainTips) committed(t *txTips) {
	if t.seq > 0 {
		c.lastSeq = t.seq
	}
	for id, h := range t.heads {
		c.cache(id, h)
	}
}

// chainEntry is an event's place in the log, as checkpoints and proofs need it.
type chainEntry struct {
	seq      int64
	intentID string
	hash     eventlog.Hash
}

// hashOf reads a stored digest.
func hashOf(b []byte) (eventlog.Hash, error) {
	var h eventlog.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("store: a stored event hash has %d bytes, not %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// wireHash is the wire form of a stored digest, nil for none (zero).
func wireHash(h eventlog.Hash) *string {
	if h == (eventlog.Hash{}) {
		return nil
	}
	s := h.String()
	return &s
}

// The tables' side of the chain, on SQLite.

func (t sqlTables) nextSeq(ctx context.Context) (int64, error) {
	return one(ctx, t.q, scanInt, `SELECT coalesce(max(seq), 0) + 1 FROM events`)
}

func (t sqlTables) chainHead(ctx context.Context, intentID string) (eventlog.Hash, bool, error) {
	b, err := one(ctx, t.q, func(r scanner) ([]byte, error) {
		var b []byte
		return b, r.Scan(&b)
	}, `SELECT event_hash FROM events WHERE intent_id = ? ORDER BY seq DESC LIMIT 1`, intentID)
	if errors.Is(err, sql.ErrNoRows) {
		return eventlog.Hash{}, false, nil
	}
	if err != nil {
		return eventlog.Hash{}, false, err
	}
	h, err := hashOf(b)
	return h, err == nil, err
}

func scanChainEntry(r scanner) (chainEntry, error) {
	var e chainEntry
	var b []byte
	if err := r.Scan(&e.seq, &e.intentID, &b); err != nil {
		return e, err
	}
	var err error
	e.hash, err = hashOf(b)
	return e, err
}

func (t sqlTables) chainHashes(ctx context.Context, intentID string, afterSeq int64, limit int) ([]chainEntry, error) {
	if intentID == "" {
		return collect(ctx, t.q, scanChainEntry, `SELECT seq, intent_id, event_hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	}
	return collect(ctx, t.q, scanChainEntry, `SELECT seq, intent_id, event_hash FROM events WHERE intent_id = ? AND seq > ? ORDER BY seq LIMIT ?`, intentID, afterSeq, limit)
}

// eventRef finds the event as memTables.eventRef does, with no index on the id (which every
// append would pay for): it bisects the range on sequence numbers for the event's millisecond,
// reads the events of that millisecond, and else scans the range.
func (t sqlTables) eventRef(ctx context.Context, id, intentID string, from, to int64) (chainEntry, bool, error) {
	where, args := `seq >= ? AND seq <= ?`, []any{0, to}
	if intentID != "" {
		where, args = `intent_id = ? AND `+where, []any{intentID, 0, to}
	}
	at := func(seq int64) []any { a := append([]any(nil), args...); a[len(a)-2] = seq; return a }
	scan := func(after int64, limit int, stop func(string) bool) (chainEntry, bool, int64, error) {
		var hit chainEntry
		var ok bool
		last := int64(-1)
		err := t.q.withRows(ctx, func(rows *sql.Rows) error {
			for rows.Next() {
				var rid string
				var b []byte
				var e chainEntry
				if err := rows.Scan(&e.seq, &e.intentID, &b, &rid); err != nil {
					return err
				}
				last = e.seq
				if rid == id {
					var err error
					e.hash, err = hashOf(b)
					hit, ok = e, err == nil
					return err
				}
				if stop != nil && stop(rid) {
					return nil
				}
			}
			return nil
		}, `SELECT seq, intent_id, event_hash, id FROM events WHERE `+where+` ORDER BY seq LIMIT ?`, append(at(after), limit)...)
		return hit, ok, last, err
	}
	if ms, ok := uuidMillis(id); ok {
		lo, hi := from, to+1 // the first sequence whose next event is of ms or later lies in [lo, hi]
		for lo < hi {
			mid := lo + (hi-lo)/2
			rid, err := one(ctx, t.q, func(r scanner) (string, error) {
				var s string
				return s, r.Scan(&s)
			}, `SELECT id FROM events WHERE `+where+` ORDER BY seq LIMIT 1`, at(mid)...)
			if errors.Is(err, sql.ErrNoRows) {
				hi = mid
				continue
			}
			if err != nil {
				return chainEntry{}, false, err
			}
			if m, ok := uuidMillis(rid); ok && m < ms {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		e, ok, _, err := scan(lo, 256, func(rid string) bool { m, ok := uuidMillis(rid); return !ok || m > ms })
		if ok || err != nil {
			return e, ok, err
		}
	}
	for after := from; after <= to; { // the clock stepped back, or the id is not a UUID
		e, ok, last, err := scan(after, 4096, nil)
		if ok || err != nil || last < 0 {
			return e, ok, err
		}
		after = last + 1
	}
	return chainEntry{}, false, nil
}

// uuidMillis reads the 48-bit millisecond timestamp of a version 7 UUID's text.
func uuidMillis(id string) (int64, bool) {
	if len(id) != 36 || id[8] != '-' {
		return 0, false
	}
	var ms int64
	for _, c := range id[:8] + id[9:13] {
		switch {
		case c >= '0' && c <= '9':
			ms = ms<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			ms = ms<<4 | int64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return ms, true
}

// The same on the in-memory store.

func (m *memTables) nextSeq(context.Context) (int64, error) { return m.log.n + 1, nil }

func (m *memTables) chainHead(_ context.Context, intentID string) (eventlog.Hash, bool, error) {
	seqs := m.eventsOf[intentID]
	if len(seqs) == 0 {
		return eventlog.Hash{}, false, nil
	}
	return m.log.at(seqs[len(seqs)-1]).hash, true, nil
}

func (m *memTables) chainHashes(_ context.Context, intentID string, afterSeq int64, limit int) ([]chainEntry, error) {
	out := []chainEntry{}
	if intentID == "" {
		for seq := max(afterSeq, 0) + 1; seq <= m.log.n && len(out) < limit; seq++ {
			e := m.log.at(seq)
			out = append(out, chainEntry{seq: seq, intentID: e.intentID, hash: e.hash})
		}
		return out, nil
	}
	seqs := m.eventsOf[intentID]
	k, _ := slices.BinarySearch(seqs, afterSeq+1)
	for _, seq := range seqs[k:] {
		if len(out) == limit {
			break
		}
		out = append(out, chainEntry{seq: seq, intentID: intentID, hash: m.log.at(seq).hash})
	}
	return out, nil
}

// eventRef finds the event among the range's: ids are UUIDs of version 7, made in log order, so
// along the log they sort by their first 48 bits (milliseconds) but across a step back of the
// clock; a binary search finds the event's millisecond, and a scan of the whole range the rest.
func (m *memTables) eventRef(_ context.Context, id, intentID string, from, to int64) (chainEntry, bool, error) {
	b, ok := parseUUID(id)
	if !ok {
		return chainEntry{}, false, nil
	}
	var seqAt func(i int) int64
	n := 0
	if intentID == "" {
		from, to = max(from, 1), min(to, m.log.n)
		n = int(max(to-from+1, 0))
		seqAt = func(i int) int64 { return from + int64(i) }
	} else {
		seqs := m.eventsOf[intentID]
		lo, _ := slices.BinarySearch(seqs, from)
		hi, _ := slices.BinarySearch(seqs, to+1)
		seqs = seqs[lo:hi]
		n, seqAt = len(seqs), func(i int) int64 { return seqs[i] }
	}
	match := func(i int) (chainEntry, bool) {
		seq := seqAt(i)
		e := m.log.at(seq)
		return chainEntry{seq: seq, intentID: e.intentID, hash: e.hash}, e.id == b
	}
	ms := func(i int) []byte { return m.log.at(seqAt(i)).id[:6] }
	for i := sort.Search(n, func(i int) bool { return bytes.Compare(ms(i), b[:6]) >= 0 }); i < n && bytes.Equal(ms(i), b[:6]); i++ {
		if e, ok := match(i); ok {
			return e, true, nil
		}
	}
	for i := range n {
		if e, ok := match(i); ok {
			return e, true, nil
		}
	}
	return chainEntry{}, false, nil
}

// backfillChain hashes the events stored before migration 0007 gave events their hashes, in
// log order, once.
func (s *Store) backfillChain(ctx context.Context) error {
	var pending int // (a file store's: PostgreSQL stores hashed every event they stored)
	if err := s.held.QueryRowContext(ctx, `SELECT pending FROM event_chain_backfill`).Scan(&pending); err != nil || pending == 0 {
		return err
	}
	return s.inTx(ctx, func(tx *wtx) error {
		heads := map[string]eventlog.Hash{}
		var h eventlog.Hasher
		for after := int64(0); ; {
			evs, err := collect(ctx, tx, scanEvent, `SELECT `+eventColumns+` FROM events WHERE seq > ? ORDER BY seq LIMIT 1000`, after)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				break
			}
			for i := range evs {
				ev := &evs[i]
				after = ev.Sequence
				prev, ok := heads[ev.IntentID]
				ev.PreviousEventHash = nil
				var prevCol any
				if ok {
					ev.PreviousEventHash = wireHash(prev)
					prevCol = prev[:]
				}
				sum, err := h.Sum(ev)
				if err != nil {
					return fmt.Errorf("store: hash event %s: %w", ev.ID, err)
				}
				heads[ev.IntentID] = sum
				if _, err := tx.ExecContext(ctx, `UPDATE events SET event_hash = ?, previous_event_hash = ? WHERE seq = ?`, sum[:], prevCol, ev.Sequence); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE event_chain_backfill SET pending = 0`)
		return err
	})
}

// TamperWithEvent overwrites the stored payload of event id behind the log's back, leaving its
// hashes as they were: a hook for tests that check a rewritten event is detected. Nothing else
// may call it.
func (s *Store) TamperWithEvent(ctx context.Context, id string, payload models.Object) error {
	b, err := jsonvalue.Marshal(payload)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *wtx) error {
		if s.mem != nil {
			ref, ok, _ := s.mem.eventRef(ctx, id, "", 1, s.mem.log.n)
			if !ok {
				return &NotFoundError{Detail: "Event not found"}
			}
			s.mem.log.at(ref.seq).payload = b // not undone: a test hook's change is its own
			return nil
		}
		if tx.pg != nil {
			n, err := pgExec(ctx, tx.pg, `UPDATE events SET payload = $1 WHERE id = $2`, string(b), id)
			if err == nil && !n {
				err = &NotFoundError{Detail: "Event not found"}
			}
			return err
		}
		n, err := affected(tx.ExecContext(ctx, `UPDATE events SET payload = ? WHERE id = ?`, string(b), id))
		if err == nil && !n {
			err = &NotFoundError{Detail: "Event not found"}
		}
		return err
	})
}

// Checkpoints (RFC-0019 section 3).

// kindLogCheckpoint is the record kind of checkpoints: Parent the intent ("" for the server's
// log), Ref the scope.
const kindLogCheckpoint = "log_checkpoint"

// Checkpoint scopes.
const (
	ScopeIntent = "intent"
	ScopeServer = "server"
)

// storedCheckpoint is a checkpoint's record body: its wire form, and what proofs need of its
// tree.
type storedCheckpoint struct {
	models.LogCheckpoint
	// Block is the tree's leaves per block; Blocks the sequence number of each block's first
	// leaf; Upper the tree's stored nodes (eventlog.Tree.Upper), concatenated.
	Block  int64   `json:"tree_block"`
	Blocks []int64 `json:"tree_blocks"`
	Upper  []byte  `json:"tree_upper"`
}

func (c *storedCheckpoint) tree() (eventlog.Tree, error) {
	t := eventlog.Tree{Count: c.EventCount, Block: c.Block}
	if len(c.Upper)%len(eventlog.Hash{}) != 0 || c.Block <= 0 {
		return t, fmt.Errorf("store: checkpoint %s: malformed tree", c.ID)
	}
	t.Upper = make([]eventlog.Hash, len(c.Upper)/len(eventlog.Hash{}))
	for i := range t.Upper {
		copy(t.Upper[i][:], c.Upper[i*len(eventlog.Hash{}):])
	}
	return t, nil
}

// ErrNothingToCheckpoint reports a checkpoint asked for a log with no event since its last one.
var ErrNothingToCheckpoint = errors.New("store: no event since the last checkpoint")

// newCheckpointID returns "chk_" and 32 random hex digits.
func newCheckpointID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "chk_" + hex.EncodeToString(b[:])
}

// lastCheckpoint returns the newest checkpoint of a log (intentID, or "" for the server's).
func lastCheckpoint(w *Writer, intentID string) (*storedCheckpoint, error) {
	q := Query{Kind: kindLogCheckpoint, Parent: intentID, Newest: true, Limit: 1}
	if intentID == "" {
		q.Parent, q.Ref = "", ScopeServer
	}
	rs, err := w.List(q)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	var c storedCheckpoint
	return &c, rs[0].Decode(&c)
}

// CreateLogCheckpoint makes a checkpoint over the events appended to a log since its previous
// checkpoint: intentID's, or the server's whole log when intentID is empty. sign, when not nil,
// fills its signed_by and signature. ErrNothingToCheckpoint when there is no such event; a
// NotFoundError for an unknown intent.
func (s *Store) CreateLogCheckpoint(ctx context.Context, intentID string, sign func(*models.LogCheckpoint) error) (models.LogCheckpoint, error) {
	var out models.LogCheckpoint
	err := s.Write(ctx, func(w *Writer) error {
		var err error
		out, err = w.createLogCheckpoint(intentID, 0, sign)
		return err
	})
	return out, err
}

// createLogCheckpoint is CreateLogCheckpoint in the transaction; a positive least makes it
// create nothing (ErrNothingToCheckpoint) unless at least that many events are new.
func (w *Writer) createLogCheckpoint(intentID string, least int, sign func(*models.LogCheckpoint) error) (models.LogCheckpoint, error) {
	if intentID != "" {
		if _, err := w.tx.intentRow(intentID); err != nil {
			return models.LogCheckpoint{}, err
		}
	}
	prev, err := lastCheckpoint(w, intentID)
	if err != nil {
		return models.LogCheckpoint{}, err
	}
	after := int64(0)
	if prev != nil {
		after = prev.LastSequence
	}
	if least > 0 {
		some, err := w.tx.t.chainHashes(w.ctx, intentID, after, least)
		if err != nil || len(some) < least {
			return models.LogCheckpoint{}, errors.Join(err, ErrNothingToCheckpoint)
		}
	}
	entries, err := w.tx.t.chainHashes(w.ctx, intentID, after, 1<<62)
	if err != nil {
		return models.LogCheckpoint{}, err
	}
	if len(entries) == 0 {
		return models.LogCheckpoint{}, ErrNothingToCheckpoint
	}
	leaves := make([]eventlog.Hash, len(entries))
	for i, e := range entries {
		leaves[i] = e.hash
	}
	tree := eventlog.Build(leaves)
	c := storedCheckpoint{LogCheckpoint: models.LogCheckpoint{
		ID: newCheckpointID(), Scope: ScopeServer, MerkleRoot: tree.Root().String(),
		EventCount: int64(len(entries)), FirstSequence: entries[0].seq, LastSequence: entries[len(entries)-1].seq,
		CreatedAt: timestamp.New(w.now),
	}, Block: tree.Block}
	if intentID != "" {
		c.IntentID, c.Scope = &intentID, ScopeIntent
	}
	for k := 0; k < len(entries); k += int(tree.Block) {
		c.Blocks = append(c.Blocks, entries[k].seq)
	}
	for _, h := range tree.Upper {
		c.Upper = append(c.Upper, h[:]...)
	}
	if sign != nil {
		if err := sign(&c.LogCheckpoint); err != nil {
			return models.LogCheckpoint{}, err
		}
	}
	if _, err := w.Insert(Record{Kind: kindLogCheckpoint, ID: c.ID, Parent: intentID, Ref: string(c.Scope)}, c); err != nil {
		return models.LogCheckpoint{}, err
	}
	return c.LogCheckpoint, nil
}

// getCheckpoint reads a checkpoint's record (a NotFoundError when there is none).
func (s *Store) getCheckpoint(ctx context.Context, id string) (storedCheckpoint, error) {
	var c storedCheckpoint
	r, err := s.GetRecord(ctx, kindLogCheckpoint, id)
	if err != nil {
		return c, err
	}
	return c, r.Decode(&c)
}

// LogCheckpoint returns a checkpoint (a NotFoundError when there is none).
func (s *Store) LogCheckpoint(ctx context.Context, id string) (models.LogCheckpoint, error) {
	c, err := s.getCheckpoint(ctx, id)
	return c.LogCheckpoint, err
}

// CheckpointQuery selects checkpoints.
type CheckpointQuery struct {
	// IntentID keeps one intent's; Scope one scope's (both optional).
	IntentID, Scope string
	// Limit and Offset page the result, oldest first.
	Limit, Offset int
}

// ListLogCheckpoints returns the checkpoints q selects, oldest first.
func (s *Store) ListLogCheckpoints(ctx context.Context, q CheckpointQuery) ([]models.LogCheckpoint, error) {
	out := []models.LogCheckpoint{}
	if q.IntentID != "" && q.Scope == ScopeServer {
		return out, nil
	}
	rq := Query{Kind: kindLogCheckpoint, Parent: q.IntentID, Ref: q.Scope}
	rs, err := s.ListRecords(ctx, rq)
	if err != nil {
		return nil, err
	}
	for i := q.Offset; i < len(rs) && len(out) < q.Limit; i++ {
		var c storedCheckpoint
		if err := rs[i].Decode(&c); err != nil {
			return nil, err
		}
		out = append(out, c.LogCheckpoint)
	}
	return out, nil
}

// AnchorLogCheckpoint records an anchor on a checkpoint that has none (check runs first and may
// refuse); it returns the checkpoint anchored.
func (s *Store) AnchorLogCheckpoint(ctx context.Context, id string, anchor func(models.LogCheckpoint) (models.TimestampAnchor, error)) (models.LogCheckpoint, error) {
	var out models.LogCheckpoint
	err := s.Write(ctx, func(w *Writer) error {
		c, err := Modify(w, kindLogCheckpoint, id, 0, func(c *storedCheckpoint, _ *Record) error {
			a, err := anchor(c.LogCheckpoint)
			if err != nil {
				return err
			}
			c.Anchor = &a
			return nil
		})
		out = c.LogCheckpoint
		return err
	})
	return out, err
}

// treeCache holds the decoded trees of the checkpoints proofs were last asked of (a record's
// JSON takes longer to decode than a proof takes to compute). A checkpoint's tree never changes
// once committed, so entries are never stale.
type treeCache struct {
	mu sync.Mutex
	m  map[string]*cachedTree
}

// cachedTree is what a proof needs of a checkpoint.
type cachedTree struct {
	cp     models.LogCheckpoint // without its anchor, which may come later
	blocks []int64
	tree   eventlog.Tree
}

// maxCachedTrees bounds the cache (a tree over 100,000 events holds about 35 kB).
const maxCachedTrees = 64

// proofTree returns a committed checkpoint's tree, decoding its record when it is not cached.
func (s *Store) proofTree(ctx context.Context, id string) (*cachedTree, error) {
	s.trees.mu.Lock()
	t, ok := s.trees.m[id]
	s.trees.mu.Unlock()
	if ok {
		return t, nil
	}
	c, err := s.getCheckpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	tree, err := c.tree()
	if err != nil {
		return nil, err
	}
	c.Anchor = nil
	t = &cachedTree{cp: c.LogCheckpoint, blocks: c.Blocks, tree: tree}
	s.trees.mu.Lock()
	defer s.trees.mu.Unlock()
	if s.trees.m == nil || len(s.trees.m) >= maxCachedTrees {
		s.trees.m = map[string]*cachedTree{} // start afresh rather than track use
	}
	s.trees.m[id] = t
	return t, nil
}

// InclusionProof returns the Merkle proof that event eventID is a leaf of checkpoint
// checkpointID: a NotFoundError when either is unknown or the checkpoint does not cover the
// event.
func (s *Store) InclusionProof(ctx context.Context, checkpointID, eventID string) (models.MerkleProof, error) {
	ct, err := s.proofTree(ctx, checkpointID)
	if err != nil {
		return models.MerkleProof{}, err
	}
	c, tree := storedCheckpoint{LogCheckpoint: ct.cp, Blocks: ct.blocks}, ct.tree
	intentID := ""
	if c.IntentID != nil {
		intentID = *c.IntentID
	}
	type leafRef struct {
		index int64
		leaf  eventlog.Hash
		block []eventlog.Hash
	}
	f, err := reading(s, func(t tables) (leafRef, error) {
		ref, ok, err := t.eventRef(ctx, eventID, intentID, c.FirstSequence, c.LastSequence)
		if err != nil {
			return leafRef{}, err
		}
		if !ok {
			return leafRef{}, &NotFoundError{Detail: "Event not found in this checkpoint"}
		}
		k := sort.Search(len(c.Blocks), func(i int) bool { return c.Blocks[i] > ref.seq }) - 1
		if k < 0 {
			return leafRef{}, fmt.Errorf("store: checkpoint %s: no block holds sequence %d", c.ID, ref.seq)
		}
		lo := int64(k) * tree.Block
		entries, err := t.chainHashes(ctx, intentID, c.Blocks[k]-1, int(min(tree.Block, tree.Count-lo)))
		if err != nil {
			return leafRef{}, err
		}
		f := leafRef{index: -1, leaf: ref.hash, block: make([]eventlog.Hash, len(entries))}
		for i, e := range entries {
			f.block[i] = e.hash
			if e.seq == ref.seq {
				f.index = lo + int64(i)
			}
		}
		if f.index < 0 {
			return leafRef{}, fmt.Errorf("store: checkpoint %s: event %s is not in its block", c.ID, eventID)
		}
		return f, nil
	})
	if err != nil {
		return models.MerkleProof{}, err
	}
	path, err := tree.Path(f.index, f.block)
	if err != nil {
		return models.MerkleProof{}, err
	}
	return models.MerkleProof{EventID: eventID, EventHash: f.leaf.String(), CheckpointID: c.ID, MerkleRoot: c.MerkleRoot,
		ProofHashes: eventlog.StepsToWire(path), LeafIndex: f.index, EventCount: c.EventCount}, nil
}

// LogEvents returns the events of a log from sequence from to to (inclusive), oldest first:
// intentID's, or every intent's when it is empty.
func (s *Store) LogEvents(ctx context.Context, intentID string, from, to int64) ([]models.IntentEvent, error) {
	var out []models.IntentEvent
	f := StreamFilter{AfterSeq: from - 1, Limit: 10_000}
	if intentID != "" {
		f.IntentIDs = []string{intentID}
	}
	for {
		evs, err := reading(s, func(t tables) ([]models.IntentEvent, error) { return t.eventsAfter(ctx, f) })
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Sequence > to {
				return out, nil
			}
			out = append(out, ev)
		}
		if len(evs) < f.Limit {
			return out, nil
		}
		f.AfterSeq = evs[len(evs)-1].Sequence
	}
}
