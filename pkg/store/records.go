package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Record is a stored resource of the RFC-0004+ routes: the JSON of its wire model plus the
// columns the store indexes.
type Record struct {
	// Kind names the resource type, e.g. "portfolio".
	Kind string
	// ID is the record's id, unique within Kind.
	ID string
	// Parent is the owning resource (usually an intent id); lists select by it.
	Parent string
	// Ref is a second resource the record points at (e.g. a membership's intent).
	Ref string
	// Key, when set, is unique within Kind; a second record with the same key is a
	// DuplicateError.
	Key string
	// Version counts writes, from 1.
	Version int64
	// Body is the wire model's JSON.
	Body json.RawMessage
	// CreatedAt orders lists.
	CreatedAt time.Time
	// ExpiresAt, when set, is when the record stops existing.
	ExpiresAt *time.Time
}

// Decode unmarshals the record's body into v.
func (r Record) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("store: decode %s %s: %w", r.Kind, r.ID, err)
	}
	return nil
}

// DuplicateError reports a record whose unique key is taken.
type DuplicateError struct {
	// Kind is the record kind; Key the key that is taken.
	Kind, Key string
}

func (e *DuplicateError) Error() string { return fmt.Sprintf("%s %q already exists", e.Kind, e.Key) }

// ErrDuplicate matches every DuplicateError.
var ErrDuplicate = errors.New("duplicate")

// Is reports whether target is ErrDuplicate.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// NewID returns a fresh random id for a record.
func NewID() string { return newID() }

// Query selects records of one kind.
type Query struct {
	// Kind is required.
	Kind string
	// Parent, Ref: when set, keep records with this parent / ref.
	Parent, Ref string
	// Newest lists newest first (default oldest first).
	Newest bool
	// Limit bounds the result when positive.
	Limit int
}

// getRecord returns the record kind/id live at now from t, or a NotFoundError.
func getRecord(ctx context.Context, t tables, now time.Time, kind, id string) (Record, error) {
	r, ok, err := t.record(ctx, kind, id, now)
	if err == nil && !ok {
		err = &NotFoundError{Detail: notFoundDetail(kind)}
	}
	return r, err
}

// notFoundDetail turns "access_request" into "Access request not found".
func notFoundDetail(kind string) string {
	s := strings.ReplaceAll(kind, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:] + " not found"
}

// GetRecord returns a live record (NotFoundError when missing or expired).
func (s *Store) GetRecord(ctx context.Context, kind, id string) (Record, error) {
	now := s.Now()
	if s.pg != nil {
		if s.knownRecordAbsent(ctx, id) { // the request's first write transaction confirms it (pgknown.go)
			return Record{}, &NotFoundError{Detail: notFoundDetail(kind)}
		}
		if a := pendingAhead(ctx); a != nil {
			return s.pgRecordReadingAhead(ctx, a, now, kind, id)
		}
	}
	return reading(s, func(t tables) (Record, error) { return getRecord(ctx, t, now, kind, id) })
}

// ListRecords returns the live records q selects.
func (s *Store) ListRecords(ctx context.Context, q Query) ([]Record, error) {
	now := s.Now()
	return reading(s, func(t tables) ([]Record, error) { return t.records(ctx, q, now) })
}

// Get decodes the live record kind/id into a T.
func Get[T any](ctx context.Context, s *Store, kind, id string) (T, error) {
	var v T
	r, err := s.GetRecord(ctx, kind, id)
	if err != nil {
		return v, err
	}
	return v, r.Decode(&v)
}

// List decodes the live records q selects into Ts.
func List[T any](ctx context.Context, s *Store, q Query) ([]T, error) {
	rs, err := s.ListRecords(ctx, q)
	if err != nil {
		return nil, err
	}
	return DecodeAll[T](rs)
}

// DecodeAll decodes records into Ts.
func DecodeAll[T any](rs []Record) ([]T, error) {
	out := make([]T, 0, len(rs))
	for _, r := range rs {
		var v T
		if err := r.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Writer is one write transaction over records, intents and events: everything done through it
// commits together or not at all.
type Writer struct {
	s   *Store
	tx  *wtx
	ctx context.Context
	now time.Time
}

// Write runs fn in one write transaction, committing when it returns nil.
func (s *Store) Write(ctx context.Context, fn func(w *Writer) error) error {
	return s.inTx(ctx, func(tx *wtx) error {
		return fn(&Writer{s: s, tx: tx, ctx: ctx, now: s.Now()})
	})
}

// Now is the transaction's clock reading.
func (w *Writer) Now() time.Time { return w.now }

// Timestamp is Now as a wire timestamp.
func (w *Writer) Timestamp() models.Timestamp { return timestamp.New(w.now) }

// Get returns a live record of the transaction.
func (w *Writer) Get(kind, id string) (Record, error) {
	return getRecord(w.ctx, w.tx.t, w.now, kind, id)
}

// GetInto decodes the live record kind/id into v and returns its version.
func (w *Writer) GetInto(kind, id string, v any) (int64, error) {
	r, err := w.Get(kind, id)
	if err != nil {
		return 0, err
	}
	return r.Version, r.Decode(v)
}

// List returns the live records q selects, as the transaction sees them.
func (w *Writer) List(q Query) ([]Record, error) { return w.tx.t.records(w.ctx, q, w.now) }

// Assignments returns an intent's assignments as the transaction sees them.
func (w *Writer) Assignments(intentID string) ([]models.AgentAssignment, error) {
	return w.tx.t.assignments(w.ctx, intentID)
}

// Intent returns an intent as the transaction sees it.
func (w *Writer) Intent(id string) (models.Intent, error) { return w.tx.intent(id) }

// Insert stores a new record whose body is the JSON of v. Version and CreatedAt are assigned
// when zero.
func (w *Writer) Insert(r Record, v any) (Record, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return r, err
	}
	r.Body = body
	if r.Version == 0 {
		r.Version = 1
	}
	if r.CreatedAt.IsZero() {
		last := w.s.lastCreated
		if w.tx.pg != nil { // other replicas create records too
			db, err := w.tx.pg.recordClock(w.ctx)
			if err != nil {
				return r, err
			}
			if db.After(last) {
				last = db
			}
		}
		r.CreatedAt = w.now
		if !r.CreatedAt.After(last) {
			r.CreatedAt = last.Add(time.Microsecond)
		}
		w.s.lastCreated = r.CreatedAt
		if w.tx.pg != nil {
			w.tx.pg.created(r.CreatedAt)
		}
	}
	return r, w.tx.t.insertRecord(w.ctx, r, w.now)
}

// Update replaces a record's body with the JSON of v (and its expiry), bumping its version.
func (w *Writer) Update(r Record, v any) (Record, error) {
	r.Version++
	return w.Rewrite(r, v)
}

// Rewrite replaces a record's body with the JSON of v (and its expiry) keeping its version: for
// bookkeeping that is not a change of the resource (a heartbeat, a trigger's fire count).
func (w *Writer) Rewrite(r Record, v any) (Record, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return r, err
	}
	r.Body = body
	ok, err := w.tx.t.rewriteRecord(w.ctx, r)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, &NotFoundError{Detail: notFoundDetail(r.Kind)}
	}
	return r, nil
}

// Delete removes a live record (NotFoundError when there is none).
func (w *Writer) Delete(kind, id string) error {
	ok, err := w.tx.t.deleteRecord(w.ctx, kind, id, w.now)
	if err != nil {
		return err
	}
	if !ok {
		return &NotFoundError{Detail: notFoundDetail(kind)}
	}
	return nil
}

// AppendEvent appends an event to an intent's log in the transaction.
func (w *Writer) AppendEvent(intentID, eventType, actor string, payload models.Object) (models.IntentEvent, error) {
	return w.s.insertEvent(w.ctx, w.tx, models.IntentEvent{IntentID: intentID, EventType: models.EventType(eventType), Actor: actor, Payload: payload}, w.now)
}

// SetGovernancePolicy replaces an intent's governance policy (nil removes it) if its version is
// expected, bumps the version and returns the intent.
func (w *Writer) SetGovernancePolicy(intentID string, expected int64, policy models.Object) (models.Intent, error) {
	in, err := w.Intent(intentID)
	if err != nil {
		return in, err
	}
	if expected != 0 && in.Version != expected {
		return in, &VersionConflictError{Current: in.Version}
	}
	in.GovernancePolicy = policy
	in.Version++
	in.UpdatedAt = timestamp.New(w.now)
	normalizeIntent(&in)
	return in, w.tx.writeIntent(&in, false, in.Status)
}

// Modify decodes the live record kind/id into a T, checks its version against expected (when
// positive; VersionConflictError otherwise), calls change, and stores the result with the
// version bumped. change sees the record as stored (r.Version+1 is the version it gets) and may
// change its Ref and ExpiresAt. An error from change aborts the write.
func Modify[T any](w *Writer, kind, id string, expected int64, change func(v *T, r *Record) error) (T, error) {
	var v T
	r, err := w.Get(kind, id)
	if err != nil {
		return v, err
	}
	if expected > 0 && r.Version != expected {
		return v, &VersionConflictError{Current: r.Version}
	}
	if err := r.Decode(&v); err != nil {
		return v, err
	}
	if err := change(&v, &r); err != nil {
		return v, err
	}
	_, err = w.Update(r, v)
	return v, err
}
