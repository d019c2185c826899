package server

import (
	"context"
	"errors"
	"slices"

	genserver "github.com/openintent-go/openintent/gen/server"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0004 portfolios.
const (
	kindPortfolio  = "portfolio"
	kindMembership = "membership"
)

// membership is a stored portfolio membership.
type membership struct {
	ID          string                `json:"id"`
	PortfolioID string                `json:"portfolio_id"`
	IntentID    string                `json:"intent_id"`
	Role        models.MembershipRole `json:"role"`
	Priority    int32                 `json:"priority"`
	AddedAt     models.Timestamp      `json:"added_at"`
}

func (h *handlers) CreatePortfolio(ctx context.Context, req genserver.CreatePortfolioRequestObject) (genserver.CreatePortfolioResponseObject, error) {
	b := req.Body
	if b.Name == "" {
		return nil, validationFailed("name", "must not be empty")
	}
	creator, err := actorField(ctx, "created_by", b.CreatedBy)
	if err != nil {
		return nil, err
	}
	p := models.Portfolio{Name: b.Name, Description: b.Description, CreatedBy: creator, Status: models.PortfolioStatusActive,
		GovernancePolicy: b.GovernancePolicy, Metadata: b.Metadata}
	p.GovernancePolicy = orEmpty(p.GovernancePolicy)
	err = h.store.Write(ctx, func(w *store.Writer) error {
		p.ID = store.NewID()
		p.CreatedAt, p.UpdatedAt = w.Timestamp(), w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindPortfolio, ID: p.ID}, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreatePortfolio200JSONResponse(h.withMembers(ctx, p, false)), nil
}

func (h *handlers) ListPortfolios(ctx context.Context, req genserver.ListPortfoliosRequestObject) (genserver.ListPortfoliosResponseObject, error) {
	ps, err := store.List[models.Portfolio](ctx, h.store, store.Query{Kind: kindPortfolio})
	if err != nil {
		return nil, err
	}
	out := make([]models.Portfolio, 0, len(ps))
	for _, p := range ps {
		if req.Params.CreatedBy == "" || p.CreatedBy == req.Params.CreatedBy {
			out = append(out, p)
		}
	}
	return genserver.ListPortfolios200JSONResponse(out), nil
}

func (h *handlers) GetPortfolio(ctx context.Context, req genserver.GetPortfolioRequestObject) (genserver.GetPortfolioResponseObject, error) {
	p, err := store.Get[models.Portfolio](ctx, h.store, kindPortfolio, req.PortfolioID)
	if err != nil {
		return nil, err
	}
	return genserver.GetPortfolio200JSONResponse(h.withMembers(ctx, p, true)), nil
}

// withMembers fills the portfolio's aggregate status (and its intents when withIntents).
func (h *handlers) withMembers(ctx context.Context, p models.Portfolio, withIntents bool) models.Portfolio {
	intents, err := h.portfolioIntents(ctx, p.ID)
	if err != nil {
		intents = nil
	}
	p.AggregateStatus = aggregate(intents)
	p = withSuspended(p)
	if withIntents {
		p.Intents = intents
		if p.Intents == nil {
			p.Intents = []models.Intent{}
		}
	}
	return p
}

// aggregate counts intents per status.
func aggregate(intents []models.Intent) models.AggregateStatus {
	a := models.AggregateStatus{ByStatus: map[string]int64{}, Total: int64(len(intents))}
	for _, in := range intents {
		a.ByStatus[string(in.Status)]++
	}
	if a.Total > 0 {
		a.CompletionPercentage = int32(a.ByStatus[string(models.IntentStatusCompleted)] * 100 / a.Total)
	}
	return a
}

// withSuspended fills the portfolio's RFC-0026 suspension fields from its aggregate status.
func withSuspended(p models.Portfolio) models.Portfolio {
	n := p.AggregateStatus.ByStatus[string(models.IntentStatusSuspendedAwaitingInput)]
	has := n > 0
	p.SuspendedMemberCount, p.HasSuspendedMembers = &n, &has
	return p
}

// portfolioIntents returns a portfolio's member intents, by priority (highest first) then
// insertion.
func (h *handlers) portfolioIntents(ctx context.Context, portfolioID string) ([]models.Intent, error) {
	ms, err := store.List[membership](ctx, h.store, store.Query{Kind: kindMembership, Parent: portfolioID})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ms, func(a, b membership) int { return int(b.Priority) - int(a.Priority) })
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.IntentID
	}
	ins, err := h.store.GetIntents(ctx, ids)
	if err != nil {
		return nil, err
	}
	return h.readable(ctx, ins)
}

// portfolioMembers returns the ids of a portfolio's intents.
func portfolioMembers(ctx context.Context, st *store.Store, portfolioID string) ([]string, error) {
	ms, err := store.List[membership](ctx, st, store.Query{Kind: kindMembership, Parent: portfolioID})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.IntentID
	}
	return ids, nil
}

// portfolioMemberSet returns a portfolio's intents as a set: the membership its streams and
// webhook subscriptions start from and then follow through the log (inPortfolio).
func portfolioMemberSet(ctx context.Context, st *store.Store, portfolioID string) (map[string]bool, error) {
	ids, err := portfolioMembers(ctx, st, portfolioID)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// portfolioMembersAt returns a portfolio's intents as they were after event seq: its members
// now, corrected by each intent's first membership event after seq (one that joined since was
// not a member then; one that left since was).
func portfolioMembersAt(ctx context.Context, st *store.Store, portfolioID string, seq int64) (map[string]bool, error) {
	members, err := portfolioMemberSet(ctx, st, portfolioID)
	if err != nil {
		return nil, err
	}
	corrected := map[string]bool{}
	f := store.StreamFilter{AfterSeq: seq, Limit: 500}
	for {
		evs, err := st.EventsAfter(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			f.AfterSeq = ev.Sequence
			if corrected[ev.IntentID] || !isMembershipEvent(ev, portfolioID) {
				continue
			}
			corrected[ev.IntentID] = true
			members[ev.IntentID] = models.EventType(ev.EventType) == models.EventTypeRemovedFromPortfolio
		}
		if len(evs) < f.Limit {
			return members, nil
		}
	}
}

func (h *handlers) UpdatePortfolio(ctx context.Context, req genserver.UpdatePortfolioRequestObject) (genserver.UpdatePortfolioResponseObject, error) {
	b := req.Body
	p, err := h.updatePortfolio(ctx, req.PortfolioID, func(p *models.Portfolio) {
		if b.Name != "" {
			p.Name = b.Name
		}
		if b.Description != "" {
			p.Description = b.Description
		}
		if b.GovernancePolicy != nil {
			p.GovernancePolicy = b.GovernancePolicy
		}
		if b.Metadata != nil {
			p.Metadata = b.Metadata
		}
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdatePortfolio200JSONResponse(p), nil
}

func (h *handlers) UpdatePortfolioStatus(ctx context.Context, req genserver.UpdatePortfolioStatusRequestObject) (genserver.UpdatePortfolioStatusResponseObject, error) {
	if req.Body.Status == "" {
		return nil, validationFailed("status", "must not be empty")
	}
	p, err := h.updatePortfolio(ctx, req.PortfolioID, func(p *models.Portfolio) { p.Status = req.Body.Status })
	if err != nil {
		return nil, err
	}
	return genserver.UpdatePortfolioStatus200JSONResponse(p), nil
}

func (h *handlers) updatePortfolio(ctx context.Context, id string, change func(*models.Portfolio)) (models.Portfolio, error) {
	var p models.Portfolio
	err := h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindPortfolio, id)
		if err != nil {
			return err
		}
		if err := r.Decode(&p); err != nil {
			return err
		}
		change(&p)
		p.UpdatedAt = w.Timestamp()
		_, err = w.Update(r, p)
		return err
	})
	if err != nil {
		return p, err
	}
	return h.withMembers(ctx, p, false), nil
}

func (h *handlers) AddPortfolioIntent(ctx context.Context, req genserver.AddPortfolioIntentRequestObject) (genserver.AddPortfolioIntentResponseObject, error) {
	b := req.Body
	if b.IntentID == "" {
		return nil, validationFailed("intent_id", "is required")
	}
	// Joining a portfolio writes into the intent's log and shows it to the portfolio's readers.
	if err := h.authorize(ctx, b.IntentID, models.PermissionWrite); err != nil {
		return nil, err
	}
	m := membership{PortfolioID: req.PortfolioID, IntentID: b.IntentID, Role: b.Role, Priority: b.Priority}
	if m.Role == "" {
		m.Role = models.MembershipRoleMember
	}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Get(kindPortfolio, req.PortfolioID); err != nil {
			return err
		}
		if _, err := w.Intent(b.IntentID); err != nil {
			return err
		}
		m.ID, m.AddedAt = store.NewID(), w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindMembership, ID: m.ID, Parent: m.PortfolioID, Ref: m.IntentID, Key: m.PortfolioID + "/" + m.IntentID}, m)
		if errors.Is(err, store.ErrDuplicate) {
			return conflict("already_member", "Intent is already in this portfolio")
		}
		if err != nil {
			return err
		}
		_, err = w.AppendEvent(m.IntentID, string(models.EventTypeAddedToPortfolio), agentFrom(ctx),
			models.Object{"portfolio_id": m.PortfolioID, "membership_id": m.ID, "role": string(m.Role), "priority": m.Priority})
		return err
	})
	if err != nil {
		return nil, err
	}
	added := m.AddedAt
	return genserver.AddPortfolioIntent200JSONResponse{Message: "Intent added to portfolio", MembershipID: m.ID, ID: m.ID,
		PortfolioID: m.PortfolioID, IntentID: m.IntentID, Role: m.Role, Priority: m.Priority, AddedAt: added}, nil
}

func (h *handlers) RemovePortfolioIntent(ctx context.Context, req genserver.RemovePortfolioIntentRequestObject) (genserver.RemovePortfolioIntentResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error {
		rs, err := w.List(store.Query{Kind: kindMembership, Parent: req.PortfolioID, Ref: req.IntentID})
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return &store.NotFoundError{Detail: "Intent is not in this portfolio"}
		}
		for _, r := range rs {
			if err := w.Delete(kindMembership, r.ID); err != nil {
				return err
			}
		}
		_, err = w.AppendEvent(req.IntentID, string(models.EventTypeRemovedFromPortfolio), agentFrom(ctx), models.Object{"portfolio_id": req.PortfolioID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RemovePortfolioIntent200JSONResponse{Message: "Intent removed from portfolio"}, nil
}

func (h *handlers) ListPortfolioIntents(ctx context.Context, req genserver.ListPortfolioIntentsRequestObject) (genserver.ListPortfolioIntentsResponseObject, error) {
	if _, err := h.store.GetRecord(ctx, kindPortfolio, req.PortfolioID); err != nil {
		return nil, err
	}
	intents, err := h.portfolioIntents(ctx, req.PortfolioID)
	if err != nil {
		return nil, err
	}
	if intents == nil {
		intents = []models.Intent{}
	}
	return genserver.ListPortfolioIntents200JSONResponse(intents), nil
}

func (h *handlers) ListIntentPortfolios(ctx context.Context, req genserver.ListIntentPortfoliosRequestObject) (genserver.ListIntentPortfoliosResponseObject, error) {
	ms, err := store.List[membership](ctx, h.store, store.Query{Kind: kindMembership, Ref: req.IntentID})
	if err != nil {
		return nil, err
	}
	out := []models.Portfolio{}
	for _, m := range ms {
		p, err := store.Get[models.Portfolio](ctx, h.store, kindPortfolio, m.PortfolioID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h.withMembers(ctx, p, false))
	}
	return genserver.ListIntentPortfolios200JSONResponse(out), nil
}

func (h *handlers) GetPortfolioCosts(ctx context.Context, req genserver.GetPortfolioCostsRequestObject) (genserver.GetPortfolioCostsResponseObject, error) {
	if _, err := h.store.GetRecord(ctx, kindPortfolio, req.PortfolioID); err != nil {
		return nil, err
	}
	ids, err := portfolioMembers(ctx, h.store, req.PortfolioID)
	if err != nil {
		return nil, err
	}
	costs := []models.Cost{}
	for _, id := range ids {
		if ok, err := h.mayRead(ctx, id); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		cs, err := store.List[models.Cost](ctx, h.store, store.Query{Kind: kindCost, Parent: id})
		if err != nil {
			return nil, err
		}
		costs = append(costs, cs...)
	}
	return genserver.GetPortfolioCosts200JSONResponse{PortfolioID: req.PortfolioID, Costs: costs, Summary: summarize(costs)}, nil
}
