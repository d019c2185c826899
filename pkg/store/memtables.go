package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// memTables is tables in Go maps: the in-memory store's. Writes change the maps in place and
// log how to undo each change; a rollback undoes them, newest first. Store.writeMu makes write
// transactions exclusive and keeps readers out of them, so readers see committed rows only.
type memTables struct {
	undo []func() // the open transaction's undo log

	intents      map[string]*memIntent
	intentOrder  []*memIntent            // by rowid
	byStatus     map[string]int64        // intents per status
	childrenOf   map[string][]*memIntent // by parent, in rowid order
	dependentsOf map[string]map[string]*memIntent

	log          eventLog
	traces       map[int64][2]string         // sequence number -> trace id, parent event id
	proofs       map[int64]models.EventProof // sequence number -> the RFC-0018 proof of a signed event
	eventsOf     map[string][]int64          // intent -> sequence numbers
	eventsOfType map[[2]string][]int64       // (intent, type) -> sequence numbers

	assignmentsOf map[string][]*models.AgentAssignment // intent -> in assignment order
	leaseByID     map[string]*models.Lease
	leasesOf      map[string][]*models.Lease // intent -> in acquisition order

	kinds map[string]*memKind
}

// memIntent is a stored intent: its current row and its place in creation order.
type memIntent struct {
	row   *intentRow
	rowid int64
}

// memKind holds the records of one kind.
type memKind struct {
	byID     map[string]*Record
	byKey    map[string]*Record
	byParent map[string]map[string]*Record
}

func newMemTables() *memTables {
	return &memTables{
		intents: map[string]*memIntent{}, byStatus: map[string]int64{}, childrenOf: map[string][]*memIntent{},
		dependentsOf: map[string]map[string]*memIntent{},
		eventsOf:     map[string][]int64{}, eventsOfType: map[[2]string][]int64{}, traces: map[int64][2]string{}, proofs: map[int64]models.EventProof{},
		assignmentsOf: map[string][]*models.AgentAssignment{}, leaseByID: map[string]*models.Lease{},
		leasesOf: map[string][]*models.Lease{}, kinds: map[string]*memKind{},
	}
}

// onUndo logs how to undo a change.
func (m *memTables) onUndo(f func()) { m.undo = append(m.undo, f) }

// commit forgets the undo log.
func (m *memTables) commit() {
	clear(m.undo)
	m.undo = m.undo[:0]
}

// rollback undoes the open transaction's changes.
func (m *memTables) rollback() {
	for i := len(m.undo) - 1; i >= 0; i-- {
		m.undo[i]()
	}
	m.commit()
}

// popLast removes the last element of the slice stored under k in mp (undoing an append).
func popLast[K comparable, V any](mp map[K][]V, k K) {
	s := mp[k]
	var zero V
	s[len(s)-1] = zero
	if len(s) == 1 {
		delete(mp, k)
	} else {
		mp[k] = s[:len(s)-1]
	}
}

func (m *memTables) intent(_ context.Context, id string) (*intentRow, error) {
	if mi, ok := m.intents[id]; ok {
		return mi.row, nil
	}
	return nil, nil
}

func (m *memTables) putIntent(_ context.Context, row *intentRow, insert, _ bool) error {
	if insert {
		mi := &memIntent{row: row, rowid: int64(len(m.intentOrder)) + 1}
		m.intents[row.id] = mi
		m.intentOrder = append(m.intentOrder, mi)
		m.byStatus[row.status]++
		if row.parent != "" {
			m.childrenOf[row.parent] = append(m.childrenOf[row.parent], mi)
		}
		m.onUndo(func() {
			delete(m.intents, row.id)
			m.intentOrder[len(m.intentOrder)-1] = nil
			m.intentOrder = m.intentOrder[:len(m.intentOrder)-1]
			m.byStatus[row.status]--
			if row.parent != "" {
				popLast(m.childrenOf, row.parent)
			}
		})
		return nil
	}
	mi, ok := m.intents[row.id]
	if !ok {
		return fmt.Errorf("store: update of unknown intent %s", row.id)
	}
	old := mi.row
	mi.row = row
	m.byStatus[old.status]--
	m.byStatus[row.status]++
	m.onUndo(func() {
		mi.row = old
		m.byStatus[row.status]--
		m.byStatus[old.status]++
	})
	return nil
}

func (m *memTables) countIntents(_ context.Context, q IntentQuery) (int64, error) {
	n := int64(len(m.intentOrder))
	if q.Status != "" {
		n = m.byStatus[q.Status]
	}
	for id := range excluded(q) {
		if mi, ok := m.intents[id]; ok && (q.Status == "" || mi.row.status == q.Status) {
			n--
		}
	}
	return n, nil
}

// excluded returns the set of ids q leaves out.
func excluded(q IntentQuery) map[string]bool {
	set := make(map[string]bool, len(q.Exclude))
	for _, id := range q.Exclude {
		set[id] = true
	}
	return set
}

func (m *memTables) listIntents(_ context.Context, q IntentQuery) ([]*intentRow, error) {
	out := []*intentRow{}
	skip, offset := excluded(q), q.Offset
	for i := len(m.intentOrder) - 1; i >= 0 && len(out) < q.Limit; i-- {
		row := m.intentOrder[i].row
		if (q.Status != "" && row.status != q.Status) || skip[row.id] {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		out = append(out, row)
	}
	return out, nil
}

func (m *memTables) children(_ context.Context, id string) ([]*intentRow, error) {
	out := []*intentRow{}
	for _, mi := range m.childrenOf[id] {
		out = append(out, mi.row)
	}
	return out, nil
}

func (m *memTables) dependents(_ context.Context, id string) ([]*intentRow, error) {
	ds := make([]*memIntent, 0, len(m.dependentsOf[id]))
	for _, mi := range m.dependentsOf[id] {
		ds = append(ds, mi)
	}
	slices.SortFunc(ds, func(a, b *memIntent) int { return cmp.Compare(a.rowid, b.rowid) })
	out := make([]*intentRow, len(ds))
	for i, mi := range ds {
		out[i] = mi.row
	}
	return out, nil
}

func (m *memTables) addDependency(_ context.Context, id, dependency string) error {
	if m.intents[id] == nil {
		return fmt.Errorf("store: dependency of unknown intent %s", id)
	}
	set := m.dependentsOf[dependency]
	if _, ok := set[id]; ok {
		return nil
	}
	if set == nil {
		set = map[string]*memIntent{}
		m.dependentsOf[dependency] = set
	}
	set[id] = m.intents[id]
	m.onUndo(func() { delete(set, id) })
	return nil
}

func (m *memTables) removeDependency(_ context.Context, id, dependency string) error {
	set := m.dependentsOf[dependency]
	mi, ok := set[id]
	if !ok {
		return nil
	}
	delete(set, id)
	m.onUndo(func() { set[id] = mi })
	return nil
}

// memEvent is a stored event; its sequence number is its place in the log. It is laid out for
// size (a log may hold millions): the id in binary, the rarely set trace and parent event ids
// aside (memTables.traces).
type memEvent struct {
	id                         [16]byte
	intentID, eventType, actor string
	payload                    []byte
	createdAt                  int64
	// hash and prev are its RFC-0019 hash and its intent's previous event's (zero for none).
	hash, prev eventlog.Hash
}

// eventChunk is how many events one block of the log holds: the log grows a block at a time,
// never copying what it holds.
const eventChunk = 4096

// eventLog holds events in sequence order, from sequence number 1.
type eventLog struct {
	chunks [][]memEvent
	n      int64
}

func (l *eventLog) at(seq int64) *memEvent {
	i := seq - 1
	return &l.chunks[i/eventChunk][i%eventChunk]
}

func (l *eventLog) append(e memEvent) int64 {
	if l.n%eventChunk == 0 {
		l.chunks = append(l.chunks, make([]memEvent, 0, eventChunk))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, e)
	l.n++
	return l.n
}

func (l *eventLog) pop() {
	c := &l.chunks[len(l.chunks)-1]
	(*c)[len(*c)-1] = memEvent{}
	*c = (*c)[:len(*c)-1]
	if len(*c) == 0 {
		l.chunks = l.chunks[:len(l.chunks)-1]
	}
	l.n--
}

func (m *memTables) insertEvent(_ context.Context, ev *models.IntentEvent, payload []byte) (int64, error) {
	id, ok := parseUUID(ev.ID)
	if !ok {
		return 0, fmt.Errorf("store: event id %q is not a UUID", ev.ID)
	}
	intentID := ev.IntentID
	if mi, ok := m.intents[intentID]; ok {
		intentID = mi.row.id // one copy of the id for all its events
	}
	hash, err := eventlog.Parse(ev.EventHash)
	if err != nil {
		return 0, err
	}
	var prev eventlog.Hash
	if ev.PreviousEventHash != nil {
		if prev, err = eventlog.Parse(*ev.PreviousEventHash); err != nil {
			return 0, err
		}
	}
	if ev.Sequence != m.log.n+1 {
		return 0, fmt.Errorf("store: event %s numbered %d, the log's next is %d", ev.ID, ev.Sequence, m.log.n+1)
	}
	seq := m.log.append(memEvent{id: id, intentID: intentID, eventType: string(ev.EventType), actor: ev.Actor,
		payload: bytes.Clone(payload), createdAt: micros(ev.CreatedAt.Time), hash: hash, prev: prev}) // a clone holds no spare capacity
	if ev.TraceID != "" || ev.ParentEventID != "" {
		m.traces[seq] = [2]string{ev.TraceID, ev.ParentEventID}
	}
	if ev.Proof != (models.EventProof{}) {
		m.proofs[seq] = ev.Proof
	}
	typed := [2]string{intentID, string(ev.EventType)}
	m.eventsOf[intentID] = append(m.eventsOf[intentID], seq)
	m.eventsOfType[typed] = append(m.eventsOfType[typed], seq)
	m.onUndo(func() {
		m.log.pop()
		delete(m.traces, seq)
		delete(m.proofs, seq)
		popLast(m.eventsOf, intentID)
		popLast(m.eventsOfType, typed)
	})
	return seq, nil
}

// event returns the event seq, its payload decoded.
func (m *memTables) event(seq int64) (models.IntentEvent, error) {
	e := m.log.at(seq)
	payload, err := decodePayload(e.payload)
	trace := m.traces[seq]
	return models.IntentEvent{Sequence: seq, ID: formatUUID(e.id), IntentID: e.intentID, EventType: models.EventType(e.eventType), Actor: e.actor,
		TraceID: trace[0], ParentEventID: trace[1], Payload: payload, CreatedAt: timestamp.New(fromMicros(e.createdAt)), Proof: m.proofs[seq],
		EventHash: e.hash.String(), PreviousEventHash: wireHash(e.prev)}, err
}

func (m *memTables) events(_ context.Context, intentID string, f EventFilter) ([]models.IntentEvent, error) {
	seqs := m.eventsOf[intentID]
	if f.Type != "" {
		seqs = m.eventsOfType[[2]string{intentID, f.Type}]
	}
	since := int64(-1 << 63)
	if !f.Since.IsZero() {
		since = micros(f.Since.Truncate(time.Microsecond))
	}
	out := []models.IntentEvent{}
	offset := f.Offset
	for i := len(seqs) - 1; i >= 0 && len(out) < f.Limit; i-- {
		if m.log.at(seqs[i]).createdAt <= since {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		ev, err := m.event(seqs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func (m *memTables) eventsAfter(_ context.Context, f StreamFilter) ([]models.IntentEvent, error) {
	out := []models.IntentEvent{}
	next := m.seqsAfter(f)
	for seq := next(); seq > 0 && len(out) < f.Limit; seq = next() {
		ev, err := m.event(seq)
		if err != nil {
			return nil, err
		}
		if f.Agent != "" && ev.Actor != f.Agent && !namesAgent(ev.Payload, f.Agent) {
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

// seqsAfter returns an iterator over the sequence numbers after f.AfterSeq of the intents f
// keeps, in order (0 when done): the whole log when it keeps every intent, else a merge of
// those intents' own lists.
func (m *memTables) seqsAfter(f StreamFilter) func() int64 {
	after := max(f.AfterSeq, 0)
	if f.IntentIDs == nil {
		return func() int64 {
			if after >= m.log.n {
				return 0
			}
			after++
			return after
		}
	}
	var lists [][]int64
	for i, id := range f.IntentIDs {
		if slices.Contains(f.IntentIDs[:i], id) {
			continue
		}
		seqs := m.eventsOf[id]
		k, _ := slices.BinarySearch(seqs, after+1)
		if k < len(seqs) {
			lists = append(lists, seqs[k:])
		}
	}
	return func() int64 {
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || l[0] < lists[best][0]) {
				best = i
			}
		}
		if best < 0 {
			return 0
		}
		seq := lists[best][0]
		lists[best] = lists[best][1:]
		return seq
	}
}

func (m *memTables) lastSeq(context.Context) (int64, error) { return m.log.n, nil }

func (m *memTables) assignment(_ context.Context, intentID, agentID string) (models.AgentAssignment, bool, error) {
	for _, a := range m.assignmentsOf[intentID] {
		if a.AgentID == agentID {
			return *a, true, nil
		}
	}
	return models.AgentAssignment{}, false, nil
}

func (m *memTables) insertAssignment(_ context.Context, a models.AgentAssignment) error {
	m.assignmentsOf[a.IntentID] = append(m.assignmentsOf[a.IntentID], &a)
	m.onUndo(func() { popLast(m.assignmentsOf, a.IntentID) })
	return nil
}

func (m *memTables) setAssignmentRole(_ context.Context, a models.AgentAssignment) error {
	for _, stored := range m.assignmentsOf[a.IntentID] {
		if stored.ID == a.ID {
			old := stored.Role
			stored.Role = a.Role
			m.onUndo(func() { stored.Role = old })
		}
	}
	return nil
}

func (m *memTables) deleteAssignment(_ context.Context, intentID, agentID string) (bool, error) {
	list := m.assignmentsOf[intentID]
	for i, a := range list {
		if a.AgentID == agentID {
			m.assignmentsOf[intentID] = slices.Delete(slices.Clone(list), i, i+1)
			m.onUndo(func() { m.assignmentsOf[intentID] = list })
			return true, nil
		}
	}
	return false, nil
}

func (m *memTables) assignments(_ context.Context, intentID string) ([]models.AgentAssignment, error) {
	out := []models.AgentAssignment{}
	for _, a := range m.assignmentsOf[intentID] {
		out = append(out, *a)
	}
	// As the file store orders them: by assignment time, then insertion.
	slices.SortStableFunc(out, func(a, b models.AgentAssignment) int { return a.AssignedAt.Compare(b.AssignedAt.Time) })
	return out, nil
}

func (m *memTables) activeLease(_ context.Context, intentID, scope string, now time.Time) (models.Lease, bool, error) {
	var best *models.Lease
	for _, l := range m.leasesOf[intentID] {
		if l.Scope == scope && l.ReleasedAt.IsZero() && l.ExpiresAt.After(now) && (best == nil || l.ExpiresAt.After(best.ExpiresAt.Time)) {
			best = l
		}
	}
	if best == nil {
		return models.Lease{}, false, nil
	}
	return *best, true, nil
}

func (m *memTables) lease(_ context.Context, intentID, id string) (models.Lease, bool, error) {
	l, ok := m.leaseByID[id]
	if !ok || l.IntentID != intentID {
		return models.Lease{}, false, nil
	}
	return *l, true, nil
}

func (m *memTables) insertLease(_ context.Context, l models.Lease) error {
	m.leaseByID[l.ID] = &l
	m.leasesOf[l.IntentID] = append(m.leasesOf[l.IntentID], &l)
	m.onUndo(func() {
		delete(m.leaseByID, l.ID)
		popLast(m.leasesOf, l.IntentID)
	})
	return nil
}

func (m *memTables) updateLease(_ context.Context, l models.Lease) error {
	stored, ok := m.leaseByID[l.ID]
	if !ok {
		return nil
	}
	old := *stored
	stored.ExpiresAt, stored.ReleasedAt = l.ExpiresAt, l.ReleasedAt
	m.onUndo(func() { *stored = old })
	return nil
}

func (m *memTables) leases(_ context.Context, intentID string) ([]models.Lease, error) {
	out := []models.Lease{}
	for _, l := range m.leasesOf[intentID] {
		out = append(out, *l)
	}
	slices.SortStableFunc(out, func(a, b models.Lease) int { return a.AcquiredAt.Compare(b.AcquiredAt.Time) })
	return out, nil
}

// live reports whether r exists at now.
func live(r *Record, now time.Time) bool { return r.ExpiresAt == nil || r.ExpiresAt.After(now) }

// copyRecord returns a copy of r whose expiry the caller may change.
func copyRecord(r *Record) Record {
	c := *r
	if r.ExpiresAt != nil {
		t := *r.ExpiresAt
		c.ExpiresAt = &t
	}
	return c
}

func (m *memTables) kind(kind string) *memKind {
	k, ok := m.kinds[kind]
	if !ok {
		k = &memKind{byID: map[string]*Record{}, byKey: map[string]*Record{}, byParent: map[string]map[string]*Record{}}
		m.kinds[kind] = k
	}
	return k
}

// peek returns the records of kind without creating the map (readers share the tables).
func (m *memTables) peek(kind string) *memKind {
	if k, ok := m.kinds[kind]; ok {
		return k
	}
	return &memKind{}
}

func (m *memTables) record(_ context.Context, kind, id string, now time.Time) (Record, bool, error) {
	r, ok := m.peek(kind).byID[id]
	if !ok || !live(r, now) {
		return Record{}, false, nil
	}
	return copyRecord(r), true, nil
}

func (m *memTables) records(_ context.Context, q Query, now time.Time) ([]Record, error) {
	k := m.peek(q.Kind)
	from := k.byID
	if q.Parent != "" {
		from = k.byParent[q.Parent]
	}
	var out []Record
	for _, r := range from {
		if live(r, now) && (q.Ref == "" || r.Ref == q.Ref) {
			out = append(out, copyRecord(r))
		}
	}
	slices.SortFunc(out, func(a, b Record) int {
		c := a.CreatedAt.Compare(b.CreatedAt)
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if q.Newest {
			return -c
		}
		return c
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (m *memTables) insertRecord(_ context.Context, r Record, now time.Time) error {
	k := m.kind(r.Kind)
	if holder, ok := k.byKey[r.Key]; ok && r.Key != "" && !live(holder, now) {
		m.removeRecord(k, holder) // an expired record no longer holds its key
	}
	_, idTaken := k.byID[r.ID]
	_, keyTaken := k.byKey[r.Key]
	if idTaken || (r.Key != "" && keyTaken) {
		return &DuplicateError{Kind: r.Kind, Key: r.Key}
	}
	stored := copyRecord(&r)
	m.addRecord(k, &stored)
	return nil
}

func (m *memTables) addRecord(k *memKind, r *Record) {
	k.byID[r.ID] = r
	if r.Key != "" {
		k.byKey[r.Key] = r
	}
	siblings := k.byParent[r.Parent]
	if siblings == nil {
		siblings = map[string]*Record{}
		k.byParent[r.Parent] = siblings
	}
	siblings[r.ID] = r
	m.onUndo(func() { m.dropRecord(k, r) })
}

func (m *memTables) removeRecord(k *memKind, r *Record) {
	m.dropRecord(k, r)
	m.onUndo(func() {
		k.byID[r.ID] = r
		if r.Key != "" {
			k.byKey[r.Key] = r
		}
		if k.byParent[r.Parent] == nil {
			k.byParent[r.Parent] = map[string]*Record{}
		}
		k.byParent[r.Parent][r.ID] = r
	})
}

// dropRecord removes r from k's maps without logging it.
func (m *memTables) dropRecord(k *memKind, r *Record) {
	delete(k.byID, r.ID)
	if r.Key != "" {
		delete(k.byKey, r.Key)
	}
	delete(k.byParent[r.Parent], r.ID)
	if len(k.byParent[r.Parent]) == 0 {
		delete(k.byParent, r.Parent)
	}
}

func (m *memTables) rewriteRecord(_ context.Context, r Record) (bool, error) {
	k := m.kind(r.Kind)
	stored, ok := k.byID[r.ID]
	if !ok {
		return false, nil
	}
	old := *stored
	stored.Body, stored.Version, stored.Ref = r.Body, r.Version, r.Ref
	stored.ExpiresAt = nil
	if r.ExpiresAt != nil {
		t := *r.ExpiresAt
		stored.ExpiresAt = &t
	}
	m.onUndo(func() { *stored = old })
	return true, nil
}

func (m *memTables) deleteRecord(_ context.Context, kind, id string, now time.Time) (bool, error) {
	k := m.kind(kind)
	r, ok := k.byID[id]
	if !ok || !live(r, now) {
		return false, nil
	}
	m.removeRecord(k, r)
	return true, nil
}
