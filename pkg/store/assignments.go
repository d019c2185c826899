package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

func scanAssignment(r scanner) (models.AgentAssignment, error) {
	var (
		a  models.AgentAssignment
		at int64
	)
	err := r.Scan(&a.ID, &a.IntentID, &a.AgentID, &a.Role, &at)
	a.AssignedAt = timestamp.New(fromMicros(at))
	return a, err
}

// AssignAgent assigns agentID to an intent with role; assigning again updates the role. The
// change is logged as agent_assigned by actor.
func (s *Store) AssignAgent(ctx context.Context, intentID, agentID, role, actor string) (models.AgentAssignment, error) {
	var out models.AgentAssignment
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.intentRow(intentID); err != nil {
			return err
		}
		now := s.Now()
		a, err := one(ctx, tx, scanAssignment, `SELECT id, intent_id, agent_id, role, assigned_at FROM assignments WHERE intent_id = ? AND agent_id = ?`, intentID, agentID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			a = models.AgentAssignment{ID: newID(), IntentID: intentID, AgentID: agentID, Role: role, AssignedAt: timestamp.New(now)}
			_, err = tx.ExecContext(ctx, `INSERT INTO assignments (id, intent_id, agent_id, role, assigned_at) VALUES (?,?,?,?,?)`, a.ID, intentID, agentID, role, micros(now))
		case err == nil:
			a.Role = role
			_, err = tx.ExecContext(ctx, `UPDATE assignments SET role = ? WHERE id = ?`, role, a.ID)
		}
		if err != nil {
			return err
		}
		out = a
		_, err = s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "agent_assigned", Actor: actor,
			Payload: models.Object{"agent_id": agentID, "role": role}}, now)
		return err
	})
	return out, err
}

// UnassignAgent removes agentID's assignment, logged as agent_unassigned by actor.
func (s *Store) UnassignAgent(ctx context.Context, intentID, agentID, actor string) error {
	return s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.intentRow(intentID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE intent_id = ? AND agent_id = ?`, intentID, agentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NotFoundError{Detail: "Agent is not assigned to this intent"}
		}
		_, err = s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "agent_unassigned", Actor: actor,
			Payload: models.Object{"agent_id": agentID}}, s.Now())
		return err
	})
}

// ListAssignments returns an intent's assignments, oldest first.
func (s *Store) ListAssignments(ctx context.Context, intentID string) ([]models.AgentAssignment, error) {
	return listAssignments(ctx, s.read, intentID)
}

func listAssignments(ctx context.Context, q querier, intentID string) ([]models.AgentAssignment, error) {
	return collect(ctx, q, scanAssignment, `SELECT id, intent_id, agent_id, role, assigned_at FROM assignments WHERE intent_id = ? ORDER BY assigned_at, rowid`, intentID)
}
