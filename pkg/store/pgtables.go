package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
)

// pgTables is tables on a PostgreSQL database: q is the pool (reads of committed rows) or a
// write transaction (which sees its own writes). The queries are those of sqlTables, in
// PostgreSQL's dialect; rows scan with the same scanners. Strings cross encoded (pgtext.go).
type pgTables struct {
	q pgQuerier
}

// pgQuerier runs statements: a *pgxpool.Pool or a pgx.Tx.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// pgErr turns a claim of an Idempotency-Key that a live row holds into ErrIdempotencyKeyTaken.
func pgErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "idempotency_keys_pkey" {
		return ErrIdempotencyKeyTaken
	}
	return err
}

// pgCollect runs query on q and returns every row read by scan.
func pgCollect[T any](ctx context.Context, q pgQuerier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, pgArgs(args)...)
	if err != nil {
		return nil, pgErr(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(pgScanner{rows})
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, pgErr(rows.Err())
}

// pgOne runs query on q and returns its first row read by scan (sql.ErrNoRows when none).
func pgOne[T any](ctx context.Context, q pgQuerier, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(pgScanner{q.QueryRow(ctx, query, pgArgs(args)...)})
	return v, pgErr(err)
}

// pgExec runs a statement and reports whether it changed a row.
func pgExec(ctx context.Context, q pgQuerier, query string, args ...any) (bool, error) {
	tag, err := q.Exec(ctx, query, pgArgs(args)...)
	if err != nil {
		return false, pgErr(err)
	}
	return tag.RowsAffected() > 0, nil
}

// write runs a statement whose answer is not needed: a write transaction holds it back (pgTx).
func (t pgTables) write(ctx context.Context, query string, args ...any) error {
	if tx, ok := t.q.(*pgTx); ok {
		tx.hold(query, args...)
		return nil
	}
	_, err := pgExec(ctx, t.q, query, args...)
	return err
}

// nonNegative bounds a LIMIT or OFFSET below by 0 (PostgreSQL refuses negative ones).
func nonNegative(n int) int { return max(n, 0) }

func (t pgTables) intent(ctx context.Context, id string) (*intentRow, error) {
	var row *intentRow
	var err error
	if tx, ok := t.q.(*pgTx); ok {
		row, err = tx.intentWithHead(ctx, id)
	} else {
		row, err = pgOne(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents WHERE id = $1`, id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return row, err
}

func (t pgTables) putIntent(ctx context.Context, row *intentRow, insert, _ bool) error {
	parent, policy := nullString(row.parent), nullString(row.policy)
	if insert {
		if tx, ok := t.q.(*pgTx); ok {
			tx.noteInsert(row.id)
		}
		err := t.write(ctx, `INSERT INTO intents (`+intentColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
			row.id, row.title, row.description, row.createdBy, parent, row.deps, row.constraints, row.state, row.status,
			row.confidence, row.version, policy, row.createdAt, row.updatedAt)
		return err
	}
	err := t.write(ctx, `UPDATE intents SET title=$1, description=$2, depends_on=$3, constraints=$4, state=$5, status=$6, confidence=$7, version=$8, governance_policy=$9, updated_at=$10 WHERE id=$11`,
		row.title, row.description, row.deps, row.constraints, row.state, row.status, row.confidence, row.version, policy, row.updatedAt, row.id)
	return err
}

// pgIntentsWhere returns the WHERE clause selecting what q selects, and its arguments.
func pgIntentsWhere(q IntentQuery) (string, []any) {
	var conds []string
	var args []any
	if q.Status != "" {
		args = append(args, q.Status)
		conds = append(conds, "status = $"+strconv.Itoa(len(args)))
	}
	if len(q.Exclude) > 0 {
		args = append(args, q.Exclude)
		conds = append(conds, "id <> ALL($"+strconv.Itoa(len(args))+"::text[])")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (t pgTables) countIntents(ctx context.Context, q IntentQuery) (int64, error) {
	where, args := pgIntentsWhere(q)
	return pgOne(ctx, t.q, scanInt, `SELECT count(*) FROM intents`+where, args...)
}

func (t pgTables) listIntents(ctx context.Context, q IntentQuery) ([]*intentRow, error) {
	where, args := pgIntentsWhere(q)
	n := len(args)
	return pgCollect(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents`+where+
		` ORDER BY pos DESC LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2), append(args, nonNegative(q.Limit), nonNegative(q.Offset))...)
}

func (t pgTables) children(ctx context.Context, id string) ([]*intentRow, error) {
	return pgCollect(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents WHERE parent_id = $1 ORDER BY pos`, id)
}

func (t pgTables) dependents(ctx context.Context, id string) ([]*intentRow, error) {
	return pgCollect(ctx, t.q, scanIntentRow, `SELECT `+intentColumns+` FROM intents WHERE id IN (SELECT intent_id FROM intent_dependencies WHERE dependency_id = $1) ORDER BY pos`, id)
}

func (t pgTables) addDependency(ctx context.Context, id, dependency string) error {
	err := t.write(ctx, `INSERT INTO intent_dependencies (intent_id, dependency_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, dependency)
	return err
}

func (t pgTables) removeDependency(ctx context.Context, id, dependency string) error {
	err := t.write(ctx, `DELETE FROM intent_dependencies WHERE intent_id = $1 AND dependency_id = $2`, id, dependency)
	return err
}

func (t pgTables) insertEvent(ctx context.Context, ev *models.IntentEvent, payload []byte) (int64, error) {
	proof, err := proofColumn(ev.Proof)
	if err != nil {
		return 0, err
	}
	hash, prev, err := hashColumns(ev)
	if err != nil {
		return 0, err
	}
	err = t.write(ctx, `INSERT INTO events (seq, id, intent_id, event_type, actor, payload, trace_id, parent_event_id, created_at, proof, event_hash, previous_event_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
		ev.Sequence, ev.ID, ev.IntentID, string(ev.EventType), ev.Actor, string(payload), nullString(ev.TraceID), nullString(ev.ParentEventID), micros(ev.CreatedAt.Time), proof, hash, prev)
	if err != nil {
		return 0, err
	}
	return ev.Sequence, nil
}

func (t pgTables) events(ctx context.Context, intentID string, f EventFilter) ([]models.IntentEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE intent_id = $1`
	args := []any{intentID}
	if f.Type != "" {
		args = append(args, f.Type)
		q += ` AND event_type = $` + strconv.Itoa(len(args))
	}
	if !f.Since.IsZero() {
		args = append(args, micros(f.Since.Truncate(time.Microsecond)))
		q += ` AND created_at > $` + strconv.Itoa(len(args))
	}
	q += ` ORDER BY seq DESC LIMIT $` + strconv.Itoa(len(args)+1) + ` OFFSET $` + strconv.Itoa(len(args)+2)
	args = append(args, nonNegative(f.Limit), nonNegative(f.Offset))
	return pgCollect(ctx, t.q, scanEvent, q, args...)
}

func (t pgTables) eventsAfter(ctx context.Context, f StreamFilter) ([]models.IntentEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE seq > $1`
	args := []any{f.AfterSeq}
	if f.IntentIDs != nil {
		args = append(args, f.IntentIDs)
		q += ` AND intent_id = ANY($` + strconv.Itoa(len(args)) + `::text[])`
	}
	if f.Agent == "" {
		args = append(args, nonNegative(f.Limit))
		return pgCollect(ctx, t.q, scanEvent, q+` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	}
	// Events naming the agent in their payload are matched here, on the payload decoded:
	// PostgreSQL's JSON operators fail on a document holding an escaped NUL anywhere. The query
	// keeps the events by the agent and those whose payload has an agent_id member, a batch at
	// a time, until the page is full.
	args = append(args, f.Agent)
	q += ` AND (actor = $` + strconv.Itoa(len(args)) + ` OR strpos(payload, '"agent_id"') > 0)`
	batch := max(f.Limit, 64)
	args = append(args, batch)
	q += ` ORDER BY seq LIMIT $` + strconv.Itoa(len(args))
	out := []models.IntentEvent{}
	for len(out) < f.Limit {
		evs, err := pgCollect(ctx, t.q, scanEvent, q, args...)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Actor == f.Agent || namesAgent(ev.Payload, f.Agent) {
				out = append(out, ev)
				if len(out) == f.Limit {
					break
				}
			}
		}
		if len(evs) < batch {
			break
		}
		args[0] = evs[len(evs)-1].Sequence
	}
	return out, nil
}

func (t pgTables) lastSeq(ctx context.Context) (int64, error) {
	return pgOne(ctx, t.q, scanInt, `SELECT coalesce(max(seq), 0) FROM events`)
}

func (t pgTables) nextSeq(ctx context.Context) (int64, error) {
	return pgOne(ctx, t.q, scanInt, `SELECT coalesce(max(seq), 0) + 1 FROM events`)
}

func (t pgTables) chainHead(ctx context.Context, intentID string) (eventlog.Hash, bool, error) {
	b, err := pgOne(ctx, t.q, func(r scanner) ([]byte, error) {
		var b []byte
		return b, r.Scan(&b)
	}, `SELECT event_hash FROM events WHERE intent_id = $1 ORDER BY seq DESC LIMIT 1`, intentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventlog.Hash{}, false, nil
	}
	if err != nil {
		return eventlog.Hash{}, false, err
	}
	h, err := hashOf(b)
	return h, err == nil, err
}

func (t pgTables) chainHashes(ctx context.Context, intentID string, afterSeq int64, limit int) ([]chainEntry, error) {
	if intentID == "" {
		return pgCollect(ctx, t.q, scanChainEntry, `SELECT seq, intent_id, event_hash FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, nonNegative(limit))
	}
	return pgCollect(ctx, t.q, scanChainEntry, `SELECT seq, intent_id, event_hash FROM events WHERE intent_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, intentID, afterSeq, nonNegative(limit))
}

// eventRef looks the event up by its id (PostgreSQL keeps the index on it).
func (t pgTables) eventRef(ctx context.Context, id, intentID string, from, to int64) (chainEntry, bool, error) {
	if _, ok := parseUUID(id); !ok {
		return chainEntry{}, false, nil
	}
	q, args := `SELECT seq, intent_id, event_hash FROM events WHERE id = $1 AND seq >= $2 AND seq <= $3`, []any{id, from, to}
	if intentID != "" {
		q, args = q+` AND intent_id = $4`, append(args, intentID)
	}
	return found(pgOne(ctx, t.q, scanChainEntry, q, args...))
}

func (t pgTables) assignment(ctx context.Context, intentID, agentID string) (models.AgentAssignment, bool, error) {
	return found(pgOne(ctx, t.q, scanAssignment, `SELECT `+assignmentColumns+` FROM assignments WHERE intent_id = $1 AND agent_id = $2`, intentID, agentID))
}

func (t pgTables) insertAssignment(ctx context.Context, a models.AgentAssignment) error {
	err := t.write(ctx, `INSERT INTO assignments (`+assignmentColumns+`) VALUES ($1,$2,$3,$4,$5)`, a.ID, a.IntentID, a.AgentID, a.Role, micros(a.AssignedAt.Time))
	return err
}

func (t pgTables) setAssignmentRole(ctx context.Context, a models.AgentAssignment) error {
	err := t.write(ctx, `UPDATE assignments SET role = $1 WHERE id = $2`, a.Role, a.ID)
	return err
}

func (t pgTables) deleteAssignment(ctx context.Context, intentID, agentID string) (bool, error) {
	return pgExec(ctx, t.q, `DELETE FROM assignments WHERE intent_id = $1 AND agent_id = $2`, intentID, agentID)
}

func (t pgTables) assignments(ctx context.Context, intentID string) ([]models.AgentAssignment, error) {
	return pgCollect(ctx, t.q, scanAssignment, `SELECT `+assignmentColumns+` FROM assignments WHERE intent_id = $1 ORDER BY assigned_at, pos`, intentID)
}

func (t pgTables) activeLease(ctx context.Context, intentID, scope string, now time.Time) (models.Lease, bool, error) {
	return found(pgOne(ctx, t.q, scanLease, `SELECT `+leaseColumns+` FROM leases WHERE intent_id = $1 AND scope = $2 AND released_at IS NULL AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1`,
		intentID, scope, micros(now)))
}

func (t pgTables) lease(ctx context.Context, intentID, id string) (models.Lease, bool, error) {
	return found(pgOne(ctx, t.q, scanLease, `SELECT `+leaseColumns+` FROM leases WHERE id = $1 AND intent_id = $2`, id, intentID))
}

func (t pgTables) insertLease(ctx context.Context, l models.Lease) error {
	err := t.write(ctx, `INSERT INTO leases (`+leaseColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		l.ID, l.IntentID, l.AgentID, l.Scope, micros(l.AcquiredAt.Time), micros(l.ExpiresAt.Time), nullTimestamp(l.ReleasedAt))
	return err
}

func (t pgTables) updateLease(ctx context.Context, l models.Lease) error {
	err := t.write(ctx, `UPDATE leases SET expires_at = $1, released_at = $2 WHERE id = $3`, micros(l.ExpiresAt.Time), nullTimestamp(l.ReleasedAt), l.ID)
	return err
}

func (t pgTables) leases(ctx context.Context, intentID string) ([]models.Lease, error) {
	return pgCollect(ctx, t.q, scanLease, `SELECT `+leaseColumns+` FROM leases WHERE intent_id = $1 ORDER BY acquired_at, pos`, intentID)
}

func (t pgTables) record(ctx context.Context, kind, id string, now time.Time) (Record, bool, error) {
	return found(pgOne(ctx, t.q, scanRecord, `SELECT `+recordColumns+` FROM records WHERE kind = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > $3)`, kind, id, micros(now)))
}

func (t pgTables) records(ctx context.Context, f Query, now time.Time) ([]Record, error) {
	q := `SELECT ` + recordColumns + ` FROM records WHERE kind = $1 AND (expires_at IS NULL OR expires_at > $2)`
	args := []any{f.Kind, micros(now)}
	if f.Parent != "" {
		args = append(args, f.Parent)
		q += ` AND parent = $` + strconv.Itoa(len(args))
	}
	if f.Ref != "" {
		args = append(args, f.Ref)
		q += ` AND ref = $` + strconv.Itoa(len(args))
	}
	if f.Newest {
		q += ` ORDER BY created_at DESC, id DESC`
	} else {
		q += ` ORDER BY created_at, id`
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	out, err := pgCollect(ctx, t.q, scanRecord, q, args...)
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// noteRecord tells a write transaction that it writes a record with id (pgknown.go).
func (t pgTables) noteRecord(id string) {
	if tx, ok := t.q.(*pgTx); ok {
		tx.noteRecord(id)
	}
}

func (t pgTables) insertRecord(ctx context.Context, r Record, now time.Time) error {
	t.noteRecord(r.ID)
	if r.Key != "" {
		// An expired record no longer holds its key.
		if err := t.write(ctx, `DELETE FROM records WHERE kind = $1 AND ukey = $2 AND expires_at IS NOT NULL AND expires_at <= $3`, r.Kind, r.Key, micros(now)); err != nil {
			return err
		}
	}
	// A taken id or key inserts nothing (a failed INSERT would abort the whole transaction).
	inserted, err := pgExec(ctx, t.q, `INSERT INTO records (`+recordColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING`,
		r.Kind, r.ID, r.Parent, r.Ref, nullString(r.Key), r.Version, string(r.Body), micros(r.CreatedAt), nullMicros(r.ExpiresAt))
	if err == nil && !inserted {
		return &DuplicateError{Kind: r.Kind, Key: r.Key}
	}
	return err
}

func (t pgTables) rewriteRecord(ctx context.Context, r Record) (bool, error) {
	t.noteRecord(r.ID)
	return pgExec(ctx, t.q, `UPDATE records SET body = $1, version = $2, expires_at = $3, ref = $4 WHERE kind = $5 AND id = $6`,
		string(r.Body), r.Version, nullMicros(r.ExpiresAt), r.Ref, r.Kind, r.ID)
}

func (t pgTables) deleteRecord(ctx context.Context, kind, id string, now time.Time) (bool, error) {
	t.noteRecord(id)
	return pgExec(ctx, t.q, `DELETE FROM records WHERE kind = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > $3)`, kind, id, micros(now))
}
