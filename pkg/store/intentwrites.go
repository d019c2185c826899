package store

import (
	"slices"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// UpdateIntent is Store.UpdateIntent inside the Writer's transaction, so that one transaction
// may change several intents (a suspension blocking the intents that depend on it) along with
// records and further events. expected <= 0 skips the version check.
func (w *Writer) UpdateIntent(id string, expected int64, actor string, mutate func(in *models.Intent) (Change, error)) (models.Intent, error) {
	in, err := w.tx.intent(id)
	if err != nil {
		return in, err
	}
	if expected > 0 && in.Version != expected {
		return in, &VersionConflictError{Current: in.Version}
	}
	before, prevStatus := slices.Clone(in.DependsOn), in.Status
	ch, err := mutate(&in)
	if err != nil {
		return in, err
	}
	in.Version++
	in.UpdatedAt = timestamp.New(w.now)
	normalizeIntent(&in)
	if err := w.tx.writeIntent(&in, false, prevStatus); err != nil {
		return in, err
	}
	if !slices.Equal(before, in.DependsOn) {
		if err := w.tx.syncDependencies(in.ID, before, in.DependsOn); err != nil {
			return in, err
		}
	}
	payload := ch.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	payload["version"] = in.Version
	if _, err := w.s.insertEvent(w.ctx, w.tx, models.IntentEvent{IntentID: in.ID, EventType: models.EventType(ch.EventType), Actor: actor, Payload: payload}, w.now); err != nil {
		return in, err
	}
	return in, nil
}

// Dependents returns the intents that depend on id, oldest first, as the transaction sees them.
func (w *Writer) Dependents(id string) ([]models.Intent, error) {
	rows, err := w.tx.t.dependents(w.ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]models.Intent, 0, len(rows))
	for _, row := range rows {
		in, err := w.tx.intent(row.id)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}
