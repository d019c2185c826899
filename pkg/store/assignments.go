package store

import (
	"context"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// AssignAgent assigns agentID to an intent with role; assigning again updates the role. The
// change is logged as agent_assigned by actor.
func (s *Store) AssignAgent(ctx context.Context, intentID, agentID, role, actor string) (models.AgentAssignment, error) {
	var out models.AgentAssignment
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.intentRow(intentID); err != nil {
			return err
		}
		now := s.Now()
		a, assigned, err := tx.t.assignment(ctx, intentID, agentID)
		if err != nil {
			return err
		}
		if assigned {
			a.Role = role
			err = tx.t.setAssignmentRole(ctx, a)
		} else {
			a = models.AgentAssignment{ID: newID(), IntentID: intentID, AgentID: agentID, Role: role, AssignedAt: timestamp.New(now)}
			err = tx.t.insertAssignment(ctx, a)
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
		deleted, err := tx.t.deleteAssignment(ctx, intentID, agentID)
		if err != nil {
			return err
		}
		if !deleted {
			return &NotFoundError{Detail: "Agent is not assigned to this intent"}
		}
		_, err = s.insertEvent(ctx, tx, models.IntentEvent{IntentID: intentID, EventType: "agent_unassigned", Actor: actor,
			Payload: models.Object{"agent_id": agentID}}, s.Now())
		return err
	})
}

// ListAssignments returns an intent's assignments, oldest first.
func (s *Store) ListAssignments(ctx context.Context, intentID string) ([]models.AgentAssignment, error) {
	return reading(s, func(t tables) ([]models.AgentAssignment, error) { return t.assignments(ctx, intentID) })
}
