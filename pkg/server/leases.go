package server

import (
	"context"
	"time"

	genserver "github.com/openintent-go/openintent/gen/server"
)

// RFC-0003: leases. The store guarantees at most one active lease per (intent, scope).

func leaseDuration(seconds int64) time.Duration {
	if seconds == 0 {
		seconds = 300
	}
	return time.Duration(seconds) * time.Second
}

func (h *handlers) ListIntentLeases(ctx context.Context, req genserver.ListIntentLeasesRequestObject) (genserver.ListIntentLeasesResponseObject, error) {
	ls, err := h.store.ListLeases(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.ListIntentLeases200JSONResponse(ls), nil
}

func (h *handlers) AcquireIntentLease(ctx context.Context, req genserver.AcquireIntentLeaseRequestObject) (genserver.AcquireIntentLeaseResponseObject, error) {
	l, err := h.store.AcquireLease(ctx, req.IntentID, req.Body.Scope, agentFrom(ctx), leaseDuration(req.Body.DurationSeconds))
	h.tel.leaseAcquire(err)
	if err != nil {
		return nil, err
	}
	return genserver.AcquireIntentLease200JSONResponse(l), nil
}

func (h *handlers) RenewIntentLease(ctx context.Context, req genserver.RenewIntentLeaseRequestObject) (genserver.RenewIntentLeaseResponseObject, error) {
	var seconds int64
	if req.Body != nil {
		seconds = req.Body.DurationSeconds
	}
	l, err := h.store.RenewLease(ctx, req.IntentID, req.LeaseID, agentFrom(ctx), leaseDuration(seconds))
	if err != nil {
		return nil, err
	}
	return genserver.RenewIntentLease200JSONResponse(l), nil
}

func (h *handlers) ReleaseIntentLease(ctx context.Context, req genserver.ReleaseIntentLeaseRequestObject) (genserver.ReleaseIntentLeaseResponseObject, error) {
	if err := h.store.ReleaseLease(ctx, req.IntentID, req.LeaseID, agentFrom(ctx)); err != nil {
		return nil, err
	}
	return genserver.ReleaseIntentLease200JSONResponse{Message: "Lease released"}, nil
}
