package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// sqlTables is tables on a file store's SQLite database: q runs the reads (the read pool, or a
// write transaction) and x, inside a write transaction, the writes.
type sqlTables struct {
	q querier
	x *wtx
}

// querier runs read statements: a file store's read pool, or its write transaction.
type querier interface {
	// withRows runs query and hands its rows to fn; they are closed after.
	withRows(ctx context.Context, fn func(*sql.Rows) error, query string, args ...any) error
	// withRow runs query and hands its first row to fn (whose Scan reports sql.ErrNoRows).
	withRow(ctx context.Context, fn func(*sql.Row) error, query string, args ...any) error
}

// collect runs query on q and returns every row read by scan.
func collect[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	out := []T{}
	err := q.withRows(ctx, func(rows *sql.Rows) error {
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	}, query, args...)
	return out, err
}

// one runs query on q and returns its first row read by scan (sql.ErrNoRows when none).
func one[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var v T
	err := q.withRow(ctx, func(row *sql.Row) error {
		var err error
		v, err = scan(row)
		return err
	}, query, args...)
	return v, err
}

type scanner interface{ Scan(dest ...any) error }

const intentColumns = `id, title, description, created_by, parent_id, depends_on, constraints, state, status, confidence, version, governance_policy, created_at, updated_at`

func scanIntentRow(r scanner) (*intentRow, error) {
	var row intentRow
	var parent, policy sql.NullString
	err := r.Scan(&row.id, &row.title, &row.description, &row.createdBy, &parent, &row.deps, &row.constraints, &row.state,
		&row.status, &row.confidence, &row.version, &policy, &row.createdAt, &row.updatedAt)
	row.parent, row.policy = parent.String, policy.String
	return &row, err
}

func (t sqlTables) intent(ctx context.Context, id string) (*intentRow, error) {
	row, err := one(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return row, err
}

func (t sqlTables) putIntent(ctx context.Context, row *intentRow, insert, statusChanged bool) error {
	parent, policy := nullString(row.parent), nullString(row.policy)
	if insert {
		_, err := t.x.ExecContext(ctx, `INSERT INTO intents (`+intentColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			row.id, row.title, row.description, row.createdBy, parent, row.deps, row.constraints, row.state, row.status,
			row.confidence, row.version, policy, row.createdAt, row.updatedAt)
		return err
	}
	// The status column (and so its index) is rewritten only when it changes.
	set, args := "", []any{row.title, row.description, row.deps, row.constraints, row.state}
	if statusChanged {
		set, args = "status=?, ", append(args, row.status)
	}
	_, err := t.x.ExecContext(ctx, `UPDATE intents SET title=?, description=?, depends_on=?, constraints=?, state=?, `+set+`confidence=?, version=?, governance_policy=?, updated_at=? WHERE id=?`,
		append(args, row.confidence, row.version, policy, row.updatedAt, row.id)...)
	return err
}

// intentsWhere returns the WHERE clause selecting what q selects, and its arguments.
func intentsWhere(q IntentQuery) (string, []any, error) {
	var conds []string
	var args []any
	if q.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, q.Status)
	}
	if len(q.Exclude) > 0 {
		// One argument however many ids: a JSON array.
		ids, err := json.Marshal(q.Exclude)
		if err != nil {
			return "", nil, err
		}
		conds, args = append(conds, "id NOT IN (SELECT value FROM json_each(?))"), append(args, string(ids))
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func (t sqlTables) countIntents(ctx context.Context, q IntentQuery) (int64, error) {
	where, args, err := intentsWhere(q)
	if err != nil {
		return 0, err
	}
	return one(ctx, t.q, scanInt, `SELECT count(*) FROM intents`+where, args...)
}

func (t sqlTables) listIntents(ctx context.Context, q IntentQuery) ([]*intentRow, error) {
	where, args, err := intentsWhere(q)
	if err != nil {
		return nil, err
	}
	return collect(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents`+where+` ORDER BY rowid DESC LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
}

func (t sqlTables) children(ctx context.Context, id string) ([]*intentRow, error) {
	return collect(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents WHERE parent_id = ? ORDER BY rowid`, id)
}

func (t sqlTables) dependents(ctx context.Context, id string) ([]*intentRow, error) {
	return collect(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents WHERE id IN (SELECT intent_id FROM intent_dependencies WHERE dependency_id = ?) ORDER BY rowid`, id)
}

func (t sqlTables) addDependency(ctx context.Context, id, dependency string) error {
	_, err := t.x.ExecContext(ctx, `INSERT OR IGNORE INTO intent_dependencies (intent_id, dependency_id) VALUES (?, ?)`, id, dependency)
	return err
}

func (t sqlTables) removeDependency(ctx context.Context, id, dependency string) error {
	_, err := t.x.ExecContext(ctx, `DELETE FROM intent_dependencies WHERE intent_id = ? AND dependency_id = ?`, id, dependency)
	return err
}

func (t sqlTables) insertEvent(ctx context.Context, ev *models.IntentEvent, payload []byte) (int64, error) {
	// seq is the rowid, given (its hash covers it): the last insert id, with no RETURNING row to
	// read back.
	proof, err := proofColumn(ev.Proof)
	if err != nil {
		return 0, err
	}
	hash, prev, err := hashColumns(ev)
	if err != nil {
		return 0, err
	}
	res, err := t.x.ExecContext(ctx, `INSERT INTO events (seq, id, intent_id, event_type, actor, payload, trace_id, parent_event_id, created_at, proof, event_hash, previous_event_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		ev.Sequence, ev.ID, ev.IntentID, ev.EventType, ev.Actor, string(payload), nullString(ev.TraceID), nullString(ev.ParentEventID), micros(ev.CreatedAt.Time), proof, hash, prev)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// hashColumns are the event_hash and previous_event_hash columns of an event: 32-byte digests,
// the second NULL for an intent's first event.
func hashColumns(ev *models.IntentEvent) (hash []byte, prev any, err error) {
	h, err := eventlog.Parse(ev.EventHash)
	if err != nil {
		return nil, nil, err
	}
	if ev.PreviousEventHash != nil {
		p, err := eventlog.Parse(*ev.PreviousEventHash)
		if err != nil {
			return nil, nil, err
		}
		prev = p[:]
	}
	return h[:], prev, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const eventColumns = `seq, id, intent_id, event_type, actor, payload, trace_id, parent_event_id, created_at, proof, event_hash, previous_event_hash`

func scanEvent(r scanner) (models.IntentEvent, error) {
	var (
		ev            models.IntentEvent
		payload       string
		trace, parent sql.NullString
		created       int64
		proof         sql.NullString
		hash, prev    []byte
	)
	if err := r.Scan(&ev.Sequence, &ev.ID, &ev.IntentID, &ev.EventType, &ev.Actor, &payload, &trace, &parent, &created, &proof, &hash, &prev); err != nil {
		return ev, err
	}
	if hash != nil { // NULL only before the store's first open since migration 0007
		h, err := hashOf(hash)
		if err != nil {
			return ev, err
		}
		ev.EventHash = h.String()
	}
	if prev != nil {
		h, err := hashOf(prev)
		if err != nil {
			return ev, err
		}
		ev.PreviousEventHash = wireHash(h)
	}
	var err error
	if ev.Payload, err = decodePayload([]byte(payload)); err != nil {
		return ev, err
	}
	if proof.Valid {
		if err := json.Unmarshal([]byte(proof.String), &ev.Proof); err != nil {
			return ev, fmt.Errorf("store: event %s: proof: %w", ev.ID, err)
		}
	}
	ev.TraceID, ev.ParentEventID = trace.String, parent.String
	ev.CreatedAt = timestamp.New(fromMicros(created))
	return ev, nil
}

func (t sqlTables) events(ctx context.Context, intentID string, f EventFilter) ([]models.IntentEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE intent_id = ?`
	args := []any{intentID}
	if f.Type != "" {
		q += ` AND event_type = ?`
		args = append(args, f.Type)
	}
	if !f.Since.IsZero() {
		q += ` AND created_at > ?`
		args = append(args, micros(f.Since.Truncate(time.Microsecond)))
	}
	q += ` ORDER BY seq DESC LIMIT ? OFFSET ?`
	args = append(args, f.Limit, f.Offset)
	return collect(ctx, t.q, scanEvent, q, args...)
}

func (t sqlTables) eventsAfter(ctx context.Context, f StreamFilter) ([]models.IntentEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE seq > ?`
	args := []any{f.AfterSeq}
	if f.IntentIDs != nil {
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
	return collect(ctx, t.q, scanEvent, q, args...)
}

func (t sqlTables) lastSeq(ctx context.Context) (int64, error) {
	return one(ctx, t.q, scanInt, `SELECT coalesce(max(seq), 0) FROM events`)
}

// scanInt reads a row of one integer.
func scanInt(r scanner) (int64, error) {
	var n int64
	err := r.Scan(&n)
	return n, err
}

const assignmentColumns = `id, intent_id, agent_id, role, assigned_at`

func scanAssignment(r scanner) (models.AgentAssignment, error) {
	var (
		a  models.AgentAssignment
		at int64
	)
	err := r.Scan(&a.ID, &a.IntentID, &a.AgentID, &a.Role, &at)
	a.AssignedAt = timestamp.New(fromMicros(at))
	return a, err
}

func (t sqlTables) assignment(ctx context.Context, intentID, agentID string) (models.AgentAssignment, bool, error) {
	a, err := one(ctx, t.q, scanAssignment, `SELECT `+assignmentColumns+` FROM assignments WHERE intent_id = ? AND agent_id = ?`, intentID, agentID)
	return found(a, err)
}

// found turns a row read by one into (row, whether there was one, error).
func found[T any](v T, err error) (T, bool, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (t sqlTables) insertAssignment(ctx context.Context, a models.AgentAssignment) error {
	_, err := t.x.ExecContext(ctx, `INSERT INTO assignments (`+assignmentColumns+`) VALUES (?,?,?,?,?)`, a.ID, a.IntentID, a.AgentID, a.Role, micros(a.AssignedAt.Time))
	return err
}

func (t sqlTables) setAssignmentRole(ctx context.Context, a models.AgentAssignment) error {
	_, err := t.x.ExecContext(ctx, `UPDATE assignments SET role = ? WHERE id = ?`, a.Role, a.ID)
	return err
}

func (t sqlTables) deleteAssignment(ctx context.Context, intentID, agentID string) (bool, error) {
	return affected(t.x.ExecContext(ctx, `DELETE FROM assignments WHERE intent_id = ? AND agent_id = ?`, intentID, agentID))
}

// affected reports whether a statement changed a row.
func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (t sqlTables) assignments(ctx context.Context, intentID string) ([]models.AgentAssignment, error) {
	return collect(ctx, t.q, scanAssignment, `SELECT `+assignmentColumns+` FROM assignments WHERE intent_id = ? ORDER BY assigned_at, rowid`, intentID)
}

const leaseColumns = `id, intent_id, agent_id, scope, acquired_at, expires_at, released_at`

func scanLease(r scanner) (models.Lease, error) {
	var (
		l                 models.Lease
		acquired, expires int64
		released          sql.NullInt64
	)
	if err := r.Scan(&l.ID, &l.IntentID, &l.AgentID, &l.Scope, &acquired, &expires, &released); err != nil {
		return l, err
	}
	l.AcquiredAt = timestamp.New(fromMicros(acquired))
	l.ExpiresAt = timestamp.New(fromMicros(expires))
	if released.Valid {
		l.ReleasedAt = timestamp.New(fromMicros(released.Int64))
	}
	return l, nil
}

func (t sqlTables) activeLease(ctx context.Context, intentID, scope string, now time.Time) (models.Lease, bool, error) {
	return found(one(ctx, t.q, scanLease, `SELECT `+leaseColumns+` FROM leases WHERE intent_id = ? AND scope = ? AND released_at IS NULL AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`,
		intentID, scope, micros(now)))
}

func (t sqlTables) lease(ctx context.Context, intentID, id string) (models.Lease, bool, error) {
	return found(one(ctx, t.q, scanLease, `SELECT `+leaseColumns+` FROM leases WHERE id = ? AND intent_id = ?`, id, intentID))
}

func (t sqlTables) insertLease(ctx context.Context, l models.Lease) error {
	_, err := t.x.ExecContext(ctx, `INSERT INTO leases (`+leaseColumns+`) VALUES (?,?,?,?,?,?,?)`,
		l.ID, l.IntentID, l.AgentID, l.Scope, micros(l.AcquiredAt.Time), micros(l.ExpiresAt.Time), nullTimestamp(l.ReleasedAt))
	return err
}

func (t sqlTables) updateLease(ctx context.Context, l models.Lease) error {
	_, err := t.x.ExecContext(ctx, `UPDATE leases SET expires_at = ?, released_at = ? WHERE id = ?`, micros(l.ExpiresAt.Time), nullTimestamp(l.ReleasedAt), l.ID)
	return err
}

func nullTimestamp(t timestamp.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t.Time)
}

func (t sqlTables) leases(ctx context.Context, intentID string) ([]models.Lease, error) {
	return collect(ctx, t.q, scanLease, `SELECT `+leaseColumns+` FROM leases WHERE intent_id = ? ORDER BY acquired_at, rowid`, intentID)
}

const recordColumns = `kind, id, parent, ref, ukey, version, body, created_at, expires_at`

func scanRecord(sc scanner) (Record, error) {
	var r Record
	var key sql.NullString
	var body string
	var created int64
	var expires sql.NullInt64
	if err := sc.Scan(&r.Kind, &r.ID, &r.Parent, &r.Ref, &key, &r.Version, &body, &created, &expires); err != nil {
		return r, err
	}
	r.Key = key.String
	r.Body = []byte(body)
	r.CreatedAt = fromMicros(created)
	if expires.Valid {
		t := fromMicros(expires.Int64)
		r.ExpiresAt = &t
	}
	return r, nil
}

func (t sqlTables) record(ctx context.Context, kind, id string, now time.Time) (Record, bool, error) {
	return found(one(ctx, t.q, scanRecord, `SELECT `+recordColumns+` FROM records WHERE kind = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)`, kind, id, micros(now)))
}

func (t sqlTables) records(ctx context.Context, f Query, now time.Time) ([]Record, error) {
	var where []string
	args := []any{f.Kind, micros(now)}
	if f.Parent != "" {
		where = append(where, " AND parent = ?")
		args = append(args, f.Parent)
	}
	if f.Ref != "" {
		where = append(where, " AND ref = ?")
		args = append(args, f.Ref)
	}
	order := " ORDER BY created_at, id"
	if f.Newest {
		order = " ORDER BY created_at DESC, id DESC"
	}
	limit := ""
	if f.Limit > 0 {
		limit = fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	out, err := collect(ctx, t.q, scanRecord, `SELECT `+recordColumns+` FROM records WHERE kind = ? AND (expires_at IS NULL OR expires_at > ?)`+strings.Join(where, "")+order+limit, args...)
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

func (t sqlTables) insertRecord(ctx context.Context, r Record, now time.Time) error {
	if r.Key != "" {
		// An expired record no longer holds its key.
		if _, err := t.x.ExecContext(ctx, `DELETE FROM records WHERE kind = ? AND ukey = ? AND expires_at IS NOT NULL AND expires_at <= ?`, r.Kind, r.Key, micros(now)); err != nil {
			return err
		}
	}
	_, err := t.x.ExecContext(ctx, `INSERT INTO records (`+recordColumns+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		r.Kind, r.ID, r.Parent, r.Ref, nullString(r.Key), r.Version, string(r.Body), micros(r.CreatedAt), nullMicros(r.ExpiresAt))
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return &DuplicateError{Kind: r.Kind, Key: r.Key}
	}
	return err
}

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func (t sqlTables) rewriteRecord(ctx context.Context, r Record) (bool, error) {
	return affected(t.x.ExecContext(ctx, `UPDATE records SET body = ?, version = ?, expires_at = ?, ref = ? WHERE kind = ? AND id = ?`,
		string(r.Body), r.Version, nullMicros(r.ExpiresAt), r.Ref, r.Kind, r.ID))
}

func (t sqlTables) deleteRecord(ctx context.Context, kind, id string, now time.Time) (bool, error) {
	return affected(t.x.ExecContext(ctx, `DELETE FROM records WHERE kind = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)`, kind, id, micros(now)))
}

// proofColumn is the proof column of an event: the JSON of its RFC-0018 proof, or NULL.
func proofColumn(p models.EventProof) (any, error) {
	if p == (models.EventProof{}) {
		return nil, nil
	}
	b, err := json.Marshal(p)
	return string(b), err
}
