package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// RFC-0002: hierarchies and dependency graphs.

func (h *handlers) CreateChildIntent(ctx context.Context, req genserver.CreateChildIntentRequestObject) (genserver.CreateChildIntentResponseObject, error) {
	b := req.Body
	if err := checkDependsOn(b.DependsOn); err != nil {
		return nil, err
	}
	if err := h.authorizeLinks(ctx, "", b.DependsOn); err != nil {
		return nil, err
	}
	parent := req.IntentID
	for field, v := range map[string]string{"parent_intent_id": b.ParentIntentID, "parent_id": b.ParentID} {
		if v != "" && v != parent {
			return nil, validationFailed(field, "must be the path's intent "+parent+" (or absent)")
		}
	}
	agent := agentFrom(ctx)
	in := models.Intent{Title: b.Title, Description: b.Description, CreatedBy: agent, ParentID: &parent,
		DependsOn: b.DependsOn, Constraints: b.Constraints, State: b.State, Status: models.IntentStatusDraft}
	out, err := h.store.CreateIntent(ctx, in, agent, map[string]any{"title": b.Title, "parent_id": parent, "depends_on": in.DependsOn})
	if err != nil {
		return nil, err
	}
	return genserver.CreateChildIntent200JSONResponse(out), nil
}

// existing returns the intent or its NotFoundError.
func (h *handlers) existing(ctx context.Context, id string) (models.Intent, error) {
	return h.store.GetIntent(ctx, id)
}

func (h *handlers) ListChildIntents(ctx context.Context, req genserver.ListChildIntentsRequestObject) (genserver.ListChildIntentsResponseObject, error) {
	if _, err := h.existing(ctx, req.IntentID); err != nil {
		return nil, err
	}
	cs, err := h.store.ListChildren(ctx, req.IntentID)
	if err == nil {
		cs, err = h.readable(ctx, cs)
	}
	if err != nil {
		return nil, err
	}
	return genserver.ListChildIntents200JSONResponse{Children: cs}, nil
}

func (h *handlers) ListDescendantIntents(ctx context.Context, req genserver.ListDescendantIntentsRequestObject) (genserver.ListDescendantIntentsResponseObject, error) {
	if _, err := h.existing(ctx, req.IntentID); err != nil {
		return nil, err
	}
	out := []models.Intent{}
	seen := map[string]bool{req.IntentID: true}
	var walk func(id string) error
	walk = func(id string) error {
		cs, err := h.store.ListChildren(ctx, id)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			out = append(out, c)
			if err := walk(c.ID); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(req.IntentID); err != nil {
		return nil, err
	}
	out, err := h.readable(ctx, out)
	if err != nil {
		return nil, err
	}
	return genserver.ListDescendantIntents200JSONResponse{Descendants: out}, nil
}

func (h *handlers) ListAncestorIntents(ctx context.Context, req genserver.ListAncestorIntentsRequestObject) (genserver.ListAncestorIntentsResponseObject, error) {
	in, err := h.existing(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	out := []models.Intent{}
	seen := map[string]bool{in.ID: true}
	for in.ParentID != nil && !seen[*in.ParentID] {
		seen[*in.ParentID] = true
		p, err := h.store.GetIntent(ctx, *in.ParentID)
		if err != nil {
			break // a parent that no longer exists ends the chain
		}
		out = append(out, p)
		in = p
	}
	if out, err = h.readable(ctx, out); err != nil {
		return nil, err
	}
	return genserver.ListAncestorIntents200JSONResponse{Ancestors: out}, nil
}

func (h *handlers) ListIntentDependencies(ctx context.Context, req genserver.ListIntentDependenciesRequestObject) (genserver.ListIntentDependenciesResponseObject, error) {
	in, err := h.existing(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	deps, err := h.store.GetIntents(ctx, in.DependsOn)
	if err == nil {
		deps, err = h.readable(ctx, deps)
	}
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentDependencies200JSONResponse{Dependencies: deps}, nil
}

func (h *handlers) ListIntentDependents(ctx context.Context, req genserver.ListIntentDependentsRequestObject) (genserver.ListIntentDependentsResponseObject, error) {
	if _, err := h.existing(ctx, req.IntentID); err != nil {
		return nil, err
	}
	ds, err := h.store.ListDependents(ctx, req.IntentID)
	if err == nil {
		ds, err = h.readable(ctx, ds)
	}
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentDependents200JSONResponse{Dependents: ds}, nil
}

// splitChildren divides an intent's children into ready ones (not terminal, every dependency
// completed) and blocked ones (some dependency not completed or gone).
func (h *handlers) splitChildren(ctx context.Context, id string) (ready, blocked []models.Intent, err error) {
	if _, err := h.existing(ctx, id); err != nil {
		return nil, nil, err
	}
	cs, err := h.store.ListChildren(ctx, id)
	if err == nil {
		cs, err = h.readable(ctx, cs)
	}
	if err != nil {
		return nil, nil, err
	}
	ready, blocked = []models.Intent{}, []models.Intent{}
	status := map[string]models.IntentStatus{}
	for _, c := range cs {
		done := true
		for _, d := range c.DependsOn {
			st, ok := status[d]
			if !ok {
				dep, err := h.store.GetIntent(ctx, d)
				if err == nil {
					st = dep.Status
				}
				status[d] = st
			}
			if st != models.IntentStatusCompleted {
				done = false
			}
		}
		switch {
		case !done:
			blocked = append(blocked, c)
		case c.Status != models.IntentStatusCompleted && c.Status != models.IntentStatusAbandoned:
			ready = append(ready, c)
		}
	}
	return ready, blocked, nil
}

func (h *handlers) ListReadyChildIntents(ctx context.Context, req genserver.ListReadyChildIntentsRequestObject) (genserver.ListReadyChildIntentsResponseObject, error) {
	ready, _, err := h.splitChildren(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.ListReadyChildIntents200JSONResponse{Ready: ready}, nil
}

func (h *handlers) ListBlockedChildIntents(ctx context.Context, req genserver.ListBlockedChildIntentsRequestObject) (genserver.ListBlockedChildIntentsResponseObject, error) {
	_, blocked, err := h.splitChildren(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.ListBlockedChildIntents200JSONResponse{Blocked: blocked}, nil
}

func (h *handlers) AddIntentDependency(ctx context.Context, req genserver.AddIntentDependencyRequestObject) (genserver.AddIntentDependencyResponseObject, error) {
	dep := req.Body.DependencyID
	if err := h.authorize(ctx, dep, models.PermissionWrite); err != nil {
		return nil, err
	}
	out, err := h.store.UpdateIntent(ctx, req.IntentID, req.Params.IfMatch, agentFrom(ctx), func(tx *store.Tx, in *models.Intent) (store.Change, error) {
		if _, err := tx.GetIntent(dep); err != nil {
			return store.Change{}, &store.NotFoundError{Detail: "Dependency intent not found"}
		}
		if slices.Contains(in.DependsOn, dep) {
			return store.Change{}, badRequest("duplicate_dependency", "Dependency already exists")
		}
		if path := dependencyPath(tx, dep, in.ID); path != nil {
			return store.Change{}, badRequest("dependency_cycle", fmt.Sprintf("Dependency would create cycle: %s -> %s", in.ID, joinPath(path)))
		}
		in.DependsOn = append(in.DependsOn, dep)
		return store.Change{EventType: "dependency_added", Payload: map[string]any{"dependency_id": dep}}, nil
	})
	if err != nil {
		return nil, err
	}
	return genserver.AddIntentDependency200JSONResponse(out), nil
}

// dependencyPath returns a dependency chain from -> ... -> to, or nil when to is unreachable.
func dependencyPath(tx *store.Tx, from, to string) []string {
	seen := map[string]bool{}
	var walk func(id string) []string
	walk = func(id string) []string {
		if id == to {
			return []string{id}
		}
		if seen[id] {
			return nil
		}
		seen[id] = true
		in, err := tx.GetIntent(id)
		if err != nil {
			return nil
		}
		for _, d := range in.DependsOn {
			if p := walk(d); p != nil {
				return append([]string{id}, p...)
			}
		}
		return nil
	}
	return walk(from)
}

func joinPath(p []string) string {
	out := ""
	for i, s := range p {
		if i > 0 {
			out += " -> "
		}
		out += s
	}
	return out
}

func (h *handlers) RemoveIntentDependency(ctx context.Context, req genserver.RemoveIntentDependencyRequestObject) (genserver.RemoveIntentDependencyResponseObject, error) {
	dep := req.DependencyID
	out, err := h.store.UpdateIntent(ctx, req.IntentID, req.Params.IfMatch, agentFrom(ctx), func(_ *store.Tx, in *models.Intent) (store.Change, error) {
		in.DependsOn = slices.DeleteFunc(in.DependsOn, func(d string) bool { return d == dep })
		return store.Change{EventType: "dependency_removed", Payload: map[string]any{"dependency_id": dep}}, nil
	})
	if err != nil {
		return nil, err
	}
	return genserver.RemoveIntentDependency200JSONResponse(out), nil
}

func (h *handlers) GetIntentGraph(ctx context.Context, req genserver.GetIntentGraphRequestObject) (genserver.GetIntentGraphResponseObject, error) {
	root, err := h.existing(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	g := models.IntentGraph{RootID: root.ID, Nodes: []models.GraphNode{}, Edges: []models.GraphEdge{},
		AggregateStatus: models.AggregateStatus{ByStatus: map[string]int64{}}}
	seen := map[string]bool{}
	queue := []models.Intent{root}
	for len(queue) > 0 {
		in := queue[0]
		queue = queue[1:]
		if seen[in.ID] {
			continue
		}
		seen[in.ID] = true
		g.Nodes = append(g.Nodes, models.GraphNode{ID: in.ID, Title: in.Title, Status: in.Status, ParentID: in.ParentID, DependsOn: in.DependsOn})
		g.AggregateStatus.Total++
		g.AggregateStatus.ByStatus[string(in.Status)]++
		children, err := h.store.ListChildren(ctx, in.ID)
		if err == nil {
			children, err = h.readable(ctx, children) // intents closed to the caller are not shown
		}
		if err != nil {
			return nil, err
		}
		for _, c := range children {
			g.Edges = append(g.Edges, models.GraphEdge{From: in.ID, To: c.ID, Type: models.GraphEdgeTypeParent})
			queue = append(queue, c)
		}
		for _, d := range in.DependsOn {
			dep, err := h.store.GetIntent(ctx, d)
			if err == nil {
				ok, err := h.access.permits(ctx, dep, agentFrom(ctx), models.PermissionRead)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				queue = append(queue, dep)
			}
			g.Edges = append(g.Edges, models.GraphEdge{From: in.ID, To: d, Type: models.GraphEdgeTypeDependency})
		}
	}
	if g.AggregateStatus.Total > 0 {
		g.AggregateStatus.CompletionPercentage = int32(g.AggregateStatus.ByStatus[string(models.IntentStatusCompleted)] * 100 / g.AggregateStatus.Total)
	}
	return genserver.GetIntentGraph200JSONResponse(g), nil
}
