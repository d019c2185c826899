package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/jsonvalue"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Change is the event a write appends to the intent's log.
type Change struct {
	// EventType is the event's type.
	EventType string
	// Payload is the event's payload.
	Payload map[string]any
}

// decode returns a new intent holding the row's values.
func (row *intentRow) decode() (models.Intent, error) {
	in := models.Intent{ID: row.id, Title: row.title, Description: row.description, CreatedBy: row.createdBy,
		Status: models.IntentStatus(row.status), Confidence: row.confidence, Version: row.version}
	if row.parent != "" {
		p, pi := row.parent, row.parent
		in.ParentID, in.ParentIntentID = &p, &pi
	}
	// Most intents have no dependencies and no constraints: those need no decoder.
	if row.deps != "[]" {
		if err := json.Unmarshal([]byte(row.deps), &in.DependsOn); err != nil {
			return in, fmt.Errorf("store: intent %s depends_on: %w", in.ID, err)
		}
	}
	if row.constraints != "{}" {
		if err := json.Unmarshal([]byte(row.constraints), &in.Constraints); err != nil {
			return in, fmt.Errorf("store: intent %s constraints: %w", in.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(row.state), &in.State); err != nil {
		return in, fmt.Errorf("store: intent %s state: %w", in.ID, err)
	}
	if row.policy != "" {
		if err := json.Unmarshal([]byte(row.policy), &in.GovernancePolicy); err != nil {
			return in, fmt.Errorf("store: intent %s governance_policy: %w", in.ID, err)
		}
	}
	in.CreatedAt = timestamp.New(fromMicros(row.createdAt))
	in.UpdatedAt = timestamp.New(fromMicros(row.updatedAt))
	normalizeIntent(&in)
	return in, nil
}

// normalizeIntent makes sure required collections encode as [] and {}, never null.
func normalizeIntent(in *models.Intent) {
	if in.DependsOn == nil {
		in.DependsOn = []string{}
	}
	if in.Constraints == nil {
		in.Constraints = models.Object{}
	}
	if in.State == nil {
		in.State = models.Object{}
	}
}

// GetIntent returns the intent with id, or a NotFoundError.
func (s *Store) GetIntent(ctx context.Context, id string) (models.Intent, error) {
	row, err := s.intentRow(ctx, id)
	if err != nil {
		return models.Intent{}, err
	}
	return row.decode()
}

// intentRow returns the committed row of intent id, from the cache or else the tables (on the
// in-memory store a cache hit does not wait for a write transaction in progress).
func (s *Store) intentRow(ctx context.Context, id string) (*intentRow, error) {
	if s.pg != nil { // another replica may have changed it: no cache
		if row, err, ok := takeAhead(ctx, id); ok { // this request's own read, a moment ago
			return row, err
		}
		return reading(s, func(t tables) (*intentRow, error) { return existingIntent(ctx, t, id) })
	}
	if row, _ := s.intents.get(id); row != nil {
		return row, nil
	}
	return reading(s, func(t tables) (*intentRow, error) { return s.committedIntentRow(ctx, t, id) })
}

// existingIntent returns intent id's row from t, or a NotFoundError.
func existingIntent(ctx context.Context, t tables, id string) (*intentRow, error) {
	row, err := t.intent(ctx, id)
	if err == nil && row == nil {
		err = &NotFoundError{Detail: "Intent not found"}
	}
	return row, err
}

// committedIntentRow returns the committed row of intent id from the cache, or else reads it
// from t (which must not see uncommitted writes to it) and caches it.
func (s *Store) committedIntentRow(ctx context.Context, t tables, id string) (*intentRow, error) {
	row, gen := s.intents.get(id)
	if row != nil {
		return row, nil
	}
	row, err := existingIntent(ctx, t, id)
	if err != nil {
		return nil, err
	}
	s.intents.fill(row, gen)
	return row, nil
}

// intent returns intent id as the transaction sees it.
func (t *wtx) intent(id string) (models.Intent, error) {
	row, err := t.intentRow(id)
	if err != nil {
		return models.Intent{}, err
	}
	return row.decode()
}

// intentRow returns the row of intent id as the transaction sees it: as the transaction wrote
// it, else as committed (from the cache or else the database).
func (t *wtx) intentRow(id string) (*intentRow, error) {
	if t.pg != nil {
		if _, wrote := t.written[id]; !wrote {
			if row := t.pg.knownRow(id); row != nil { // a speculative transaction confirms it (pgknown.go)
				return row, nil
			}
		}
	}
	if t.s.mem != nil || t.pg != nil {
		return existingIntent(t.ctx, t.t, id) // the maps, or PostgreSQL's transaction, hold its writes
	}
	if row, ok := t.written[id]; ok {
		return row, nil
	}
	// The transaction has not written it: what it reads is the committed row.
	return t.s.committedIntentRow(t.ctx, t.t, id)
}

// IntentExists reports whether the intent exists.
func (s *Store) IntentExists(ctx context.Context, id string) (bool, error) {
	_, err := s.intentRow(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// decodeAll decodes rows (read by a tables method that returned err).
func decodeAll(rows []*intentRow, err error) ([]models.Intent, error) {
	if err != nil {
		return nil, err
	}
	out := make([]models.Intent, len(rows))
	for i, row := range rows {
		if out[i], err = row.decode(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// IntentQuery selects a page of intents, newest first.
type IntentQuery struct {
	// Status keeps only intents with this status when not empty.
	Status string
	// Exclude lists intents left out (and not counted).
	Exclude []string
	// Limit and Offset page the result.
	Limit, Offset int
}

// ListIntents returns one page of the intents q selects, newest first, and how many it selects
// in all.
func (s *Store) ListIntents(ctx context.Context, q IntentQuery) ([]models.Intent, int64, error) {
	var total int64
	rows, err := reading(s, func(t tables) ([]*intentRow, error) {
		var err error
		if total, err = t.countIntents(ctx, q); err != nil {
			return nil, err
		}
		return t.listIntents(ctx, q)
	})
	page, err := decodeAll(rows, err)
	return page, total, err
}

// ListChildren returns the intents whose parent is id, oldest first.
func (s *Store) ListChildren(ctx context.Context, id string) ([]models.Intent, error) {
	return decodeAll(reading(s, func(t tables) ([]*intentRow, error) { return t.children(ctx, id) }))
}

// ListDependents returns the intents that depend on id, oldest first.
func (s *Store) ListDependents(ctx context.Context, id string) ([]models.Intent, error) {
	return decodeAll(reading(s, func(t tables) ([]*intentRow, error) { return t.dependents(ctx, id) }))
}

// GetIntents returns the existing intents among ids, in the order of ids.
func (s *Store) GetIntents(ctx context.Context, ids []string) ([]models.Intent, error) {
	out := make([]models.Intent, 0, len(ids))
	for _, id := range ids {
		in, err := s.GetIntent(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// CreateIntent stores a new intent built from in (ID, Version and timestamps are assigned),
// checking that its parent and dependencies exist, and appends an intent_created event by actor.
func (s *Store) CreateIntent(ctx context.Context, in models.Intent, actor string, payload map[string]any) (models.Intent, error) {
	var out models.Intent
	// Rerunnable: createIntent changes neither in nor payload, and out is set anew.
	err := s.inTxRerunnable(ctx, func(tx *wtx) error {
		var err error
		out, err = s.createIntent(ctx, tx, s.Now(), in, actor, payload)
		return err
	})
	return out, err
}

// CreateIntent is Store.CreateIntent inside the Writer's transaction.
func (w *Writer) CreateIntent(in models.Intent, actor string, payload map[string]any) (models.Intent, error) {
	return w.s.createIntent(w.ctx, w.tx, w.now, in, actor, payload)
}

func (s *Store) createIntent(ctx context.Context, tx *wtx, now time.Time, in models.Intent, actor string, payload map[string]any) (models.Intent, error) {
	in.ID = newID()
	in.Version = 1
	in.CreatedAt, in.UpdatedAt = timestamp.New(now), timestamp.New(now)
	normalizeIntent(&in)
	if in.ParentID != nil {
		p := *in.ParentID
		in.ParentIntentID = &p
	}
	if in.ParentID != nil {
		if _, err := tx.intentRow(*in.ParentID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return in, &NotFoundError{Detail: "Parent intent not found"}
			}
			return in, err
		}
	}
	for _, d := range in.DependsOn {
		if _, err := tx.intentRow(d); err != nil {
			if errors.Is(err, ErrNotFound) {
				return in, &NotFoundError{Detail: fmt.Sprintf("Dependency intent not found: %s", d)}
			}
			return in, err
		}
	}
	if err := tx.writeIntent(&in, true, ""); err != nil {
		return in, err
	}
	if err := tx.syncDependencies(in.ID, nil, in.DependsOn); err != nil {
		return in, err
	}
	_, err := s.insertEvent(ctx, tx, models.IntentEvent{IntentID: in.ID, EventType: "intent_created", Actor: actor, Payload: payload}, now)
	return in, err
}

// Tx reads inside an UpdateIntent transaction.
type Tx struct {
	tx  *wtx
	ctx context.Context
	now time.Time
}

// GetIntent returns an intent as the transaction sees it.
func (t *Tx) GetIntent(id string) (models.Intent, error) { return t.tx.intent(id) }

// Assignments returns an intent's assignments as the transaction sees them.
func (t *Tx) Assignments(intentID string) ([]models.AgentAssignment, error) {
	return t.tx.t.assignments(t.ctx, intentID)
}

// List returns the live records q selects, as the transaction sees them.
func (t *Tx) List(q Query) ([]Record, error) { return t.tx.t.records(t.ctx, q, t.now) }

// UpdateIntent runs a versioned write: inside one transaction it loads the intent (NotFoundError),
// checks expected against its version (VersionConflictError), calls mutate to change it, bumps the
// version, saves it and appends the Change mutate returns as an event by actor. An error from
// mutate aborts the write and is returned as is.
func (s *Store) UpdateIntent(ctx context.Context, id string, expected int64, actor string, mutate func(t *Tx, in *models.Intent) (Change, error)) (models.Intent, error) {
	var out models.Intent
	err := s.inTx(ctx, func(tx *wtx) error {
		in, err := tx.intent(id)
		if err != nil {
			return err
		}
		if in.Version != expected {
			return &VersionConflictError{Current: in.Version}
		}
		before, prevStatus := slices.Clone(in.DependsOn), in.Status
		ch, err := mutate(&Tx{tx: tx, ctx: ctx, now: s.Now()}, &in)
		if err != nil {
			return err
		}
		now := s.Now()
		in.Version++
		in.UpdatedAt = timestamp.New(now)
		normalizeIntent(&in)
		if err := tx.writeIntent(&in, false, prevStatus); err != nil {
			return err
		}
		if !slices.Equal(before, in.DependsOn) {
			if err := tx.syncDependencies(in.ID, before, in.DependsOn); err != nil {
				return err
			}
		}
		payload := ch.Payload
		if payload == nil {
			payload = map[string]any{}
		}
		payload["version"] = in.Version
		if _, err := s.insertEvent(ctx, tx, models.IntentEvent{IntentID: in.ID, EventType: models.EventType(ch.EventType), Actor: actor, Payload: payload}, now); err != nil {
			return err
		}
		out = in
		return nil
	})
	return out, err
}

// writeIntent inserts in (insert) or replaces it; prevStatus is its stored status.
func (tx *wtx) writeIntent(in *models.Intent, insert bool, prevStatus models.IntentStatus) error {
	deps, err := jsonvalue.Marshal(in.DependsOn)
	if err != nil {
		return err
	}
	constraints, err := jsonvalue.Marshal(in.Constraints)
	if err != nil {
		return err
	}
	state, err := jsonvalue.Marshal(in.State)
	if err != nil {
		return err
	}
	var policy []byte
	if in.GovernancePolicy != nil {
		if policy, err = jsonvalue.Marshal(in.GovernancePolicy); err != nil {
			return err
		}
	}
	row := &intentRow{id: in.ID, title: in.Title, description: in.Description, createdBy: in.CreatedBy,
		deps: string(deps), constraints: string(constraints), state: string(state), status: string(in.Status),
		confidence: in.Confidence, version: in.Version, policy: string(policy), createdAt: micros(in.CreatedAt.Time), updatedAt: micros(in.UpdatedAt.Time)}
	if in.ParentID != nil {
		row.parent = *in.ParentID
	}
	if err := tx.t.putIntent(tx.ctx, row, insert, in.Status != prevStatus); err != nil {
		return err
	}
	if insert {
		tx.tips.created(row.id) // a new intent has no event yet (chain.go)
	}
	tx.wrote(row)
	return nil
}

func (tx *wtx) syncDependencies(id string, before, after []string) error {
	for _, d := range before {
		if !slices.Contains(after, d) {
			if err := tx.t.removeDependency(tx.ctx, id, d); err != nil {
				return err
			}
		}
	}
	for _, d := range after {
		if !slices.Contains(before, d) {
			if err := tx.t.addDependency(tx.ctx, id, d); err != nil {
				return err
			}
		}
	}
	return nil
}
