package server

import (
	"context"
	"errors"
	"math"
	"strings"

	genserver "github.com/openintent-go/openintent/gen/server"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0005, RFC-0009 and RFC-0010.
const (
	kindAttachment  = "attachment"
	kindCost        = "cost"
	kindRetryPolicy = "retry_policy"
	kindFailure     = "failure"
)

func (h *handlers) CreateIntentAttachment(ctx context.Context, req genserver.CreateIntentAttachmentRequestObject) (genserver.CreateIntentAttachmentResponseObject, error) {
	b := req.Body
	switch {
	case strings.TrimSpace(b.Filename) == "":
		return nil, validationFailed("filename", "must not be empty")
	case strings.TrimSpace(b.MimeType) == "":
		return nil, validationFailed("mime_type", "must not be empty")
	case b.Size < 0:
		return nil, validationFailed("size", "must not be negative")
	case strings.TrimSpace(b.StorageURL) == "":
		return nil, validationFailed("storage_url", "must not be empty")
	}
	a := models.Attachment{IntentID: req.IntentID, Filename: b.Filename, MimeType: b.MimeType, Size: b.Size,
		StorageURL: b.StorageURL, Metadata: b.Metadata, CreatedBy: agentFrom(ctx)}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		a.ID, a.CreatedAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindAttachment, ID: a.ID, Parent: a.IntentID}, a); err != nil {
			return err
		}
		_, err := w.AppendEvent(a.IntentID, string(models.EventTypeAttachmentAdded), a.CreatedBy,
			models.Object{"attachment_id": a.ID, "filename": a.Filename, "mime_type": a.MimeType, "size": a.Size})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateIntentAttachment200JSONResponse(a), nil
}

func (h *handlers) ListIntentAttachments(ctx context.Context, req genserver.ListIntentAttachmentsRequestObject) (genserver.ListIntentAttachmentsResponseObject, error) {
	as, err := store.List[models.Attachment](ctx, h.store, store.Query{Kind: kindAttachment, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentAttachments200JSONResponse(as), nil
}

func (h *handlers) DeleteIntentAttachment(ctx context.Context, req genserver.DeleteIntentAttachmentRequestObject) (genserver.DeleteIntentAttachmentResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindAttachment, req.AttachmentID)
		if err != nil {
			return err
		}
		if r.Parent != req.IntentID {
			return &store.NotFoundError{Detail: "Attachment not found"}
		}
		if err := w.Delete(kindAttachment, r.ID); err != nil {
			return err
		}
		_, err = w.AppendEvent(req.IntentID, "attachment_removed", agentFrom(ctx), models.Object{"attachment_id": r.ID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.DeleteIntentAttachment204Response{}, nil
}

func (h *handlers) RecordIntentCost(ctx context.Context, req genserver.RecordIntentCostRequestObject) (genserver.RecordIntentCostResponseObject, error) {
	b := req.Body
	switch {
	case b.AgentID == "":
		return nil, validationFailed("agent_id", "must not be empty")
	case b.CostType == "":
		return nil, validationFailed("cost_type", "must not be empty")
	case b.Unit == "":
		return nil, validationFailed("unit", "must not be empty")
	case math.IsNaN(b.Amount) || math.IsInf(b.Amount, 0) || b.Amount < 0:
		return nil, validationFailed("amount", "must be a non-negative number")
	}
	c := models.Cost{IntentID: req.IntentID, AgentID: b.AgentID, CostType: b.CostType, Amount: b.Amount, Unit: b.Unit,
		CostMetadata: b.CostMetadata}
	if c.CostMetadata == nil {
		c.CostMetadata = b.Metadata
	}
	c.CostMetadata = orEmpty(c.CostMetadata)
	if b.Provider != "" {
		p := b.Provider
		c.Provider = &p
	}
	agent := agentFrom(ctx)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		in, err := w.Intent(req.IntentID)
		if err != nil {
			return err
		}
		pol := effectivePolicy(in.GovernancePolicy)
		assigned, err := w.Assignments(in.ID)
		if err != nil {
			return err
		}
		if v := checkWriter(pol, agent, assigned); v != nil {
			return v
		}
		if pol.MaxCost != nil {
			costs, err := w.List(store.Query{Kind: kindCost, Parent: in.ID})
			if err != nil {
				return err
			}
			total := c.Amount
			for _, r := range costs {
				var prev models.Cost
				if err := r.Decode(&prev); err != nil {
					return err
				}
				total += prev.Amount
			}
			if total > *pol.MaxCost {
				return &violation{rule: "max_cost", detail: "Recording this cost would exceed the intent's max_cost", logged: true}
			}
		}
		c.ID, c.RecordedAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindCost, ID: c.ID, Parent: c.IntentID, Ref: c.AgentID}, c); err != nil {
			return err
		}
		_, err = w.AppendEvent(c.IntentID, "cost_recorded", agent,
			models.Object{"cost_id": c.ID, "agent_id": c.AgentID, "cost_type": string(c.CostType), "amount": c.Amount, "unit": c.Unit})
		return err
	})
	if err != nil {
		return nil, h.refuse(ctx, req.IntentID, err)
	}
	return genserver.RecordIntentCost200JSONResponse(c), nil
}

func (h *handlers) ListIntentCosts(ctx context.Context, req genserver.ListIntentCostsRequestObject) (genserver.ListIntentCostsResponseObject, error) {
	cs, err := store.List[models.Cost](ctx, h.store, store.Query{Kind: kindCost, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentCosts200JSONResponse(cs), nil
}

// summarize totals costs overall, per agent and per cost type.
func summarize(costs []models.Cost) models.CostSummary {
	s := models.CostSummary{ByAgent: models.Object{}, ByType: models.Object{}, Count: int64(len(costs))}
	byAgent, byType := map[string]float64{}, map[string]float64{}
	for _, c := range costs {
		s.Total += c.Amount
		byAgent[c.AgentID] += c.Amount
		byType[string(c.CostType)] += c.Amount
	}
	for k, v := range byAgent {
		s.ByAgent[k] = v
	}
	for k, v := range byType {
		s.ByType[k] = v
	}
	return s
}

func (h *handlers) GetIntentRetryPolicy(ctx context.Context, req genserver.GetIntentRetryPolicyRequestObject) (genserver.GetIntentRetryPolicyResponseObject, error) {
	p, err := store.Get[models.RetryPolicy](ctx, h.store, kindRetryPolicy, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.GetIntentRetryPolicy200JSONResponse(p), nil
}

func (h *handlers) PutIntentRetryPolicy(ctx context.Context, req genserver.PutIntentRetryPolicyRequestObject) (genserver.PutIntentRetryPolicyResponseObject, error) {
	b := req.Body
	switch {
	case b.Strategy == "":
		return nil, validationFailed("strategy", "must not be empty")
	case b.MaxRetries < 0:
		return nil, validationFailed("max_retries", "must not be negative")
	case b.BaseDelayMs < 0:
		return nil, validationFailed("base_delay_ms", "must not be negative")
	case b.MaxDelayMs < 0:
		return nil, validationFailed("max_delay_ms", "must not be negative")
	case b.MaxDelayMs > 0 && b.BaseDelayMs > b.MaxDelayMs:
		return nil, validationFailed("max_delay_ms", "must not be less than base_delay_ms")
	}
	p := models.RetryPolicy{IntentID: req.IntentID, Strategy: b.Strategy, MaxRetries: b.MaxRetries, BaseDelayMs: b.BaseDelayMs,
		MaxDelayMs: b.MaxDelayMs, Jitter: b.Jitter, FallbackAgentID: b.FallbackAgentID, FailureThreshold: b.FailureThreshold}
	if p.MaxRetries == 0 {
		p.MaxRetries = 3
	}
	if p.BaseDelayMs == 0 {
		p.BaseDelayMs = 1000
	}
	if p.MaxDelayMs == 0 {
		p.MaxDelayMs = max(60000, p.BaseDelayMs)
	}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		now := w.Timestamp()
		p.UpdatedAt = now
		r, err := w.Get(kindRetryPolicy, req.IntentID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.ID, p.CreatedAt = store.NewID(), now
			_, err = w.Insert(store.Record{Kind: kindRetryPolicy, ID: req.IntentID, Parent: req.IntentID}, p)
			return err
		case err != nil:
			return err
		}
		var prev models.RetryPolicy
		if err := r.Decode(&prev); err != nil {
			return err
		}
		p.ID, p.CreatedAt = prev.ID, prev.CreatedAt
		_, err = w.Update(r, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.PutIntentRetryPolicy200JSONResponse(p), nil
}

func (h *handlers) RecordIntentFailure(ctx context.Context, req genserver.RecordIntentFailureRequestObject) (genserver.RecordIntentFailureResponseObject, error) {
	b := req.Body
	switch {
	case strings.TrimSpace(b.ErrorMessage) == "":
		return nil, validationFailed("error_message", "must not be empty")
	case b.AttemptNumber < 1:
		return nil, validationFailed("attempt_number", "must be at least 1")
	}
	f := models.Failure{IntentID: req.IntentID, ErrorType: b.ErrorType, ErrorCode: b.ErrorCode, ErrorMessage: b.ErrorMessage,
		AttemptNumber: b.AttemptNumber, Metadata: b.Metadata, RetryScheduledAt: b.RetryScheduledAt}
	if f.ErrorType == "" {
		f.ErrorType = "error"
	}
	agent := b.AgentID
	if agent == "" {
		agent = agentFrom(ctx)
	}
	f.AgentID = &agent
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		f.ID, f.OccurredAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindFailure, ID: f.ID, Parent: f.IntentID}, f); err != nil {
			return err
		}
		_, err := w.AppendEvent(f.IntentID, string(models.EventTypeFailureRecorded), agent,
			models.Object{"failure_id": f.ID, "error_type": f.ErrorType, "error_message": f.ErrorMessage, "attempt_number": f.AttemptNumber})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RecordIntentFailure200JSONResponse(f), nil
}

func (h *handlers) ListIntentFailures(ctx context.Context, req genserver.ListIntentFailuresRequestObject) (genserver.ListIntentFailuresResponseObject, error) {
	fs, err := store.List[models.Failure](ctx, h.store, store.Query{Kind: kindFailure, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentFailures200JSONResponse(fs), nil
}
