package server

import (
	"context"
	"sync"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
)

// drainer says that the server is shutting down: readiness turns false and every open stream
// ends with a frame telling its client to reconnect elsewhere.
type drainer struct {
	once sync.Once
	ch   chan struct{}
}

func newDrainer() *drainer { return &drainer{ch: make(chan struct{})} }

func (d *drainer) start() { d.once.Do(func() { close(d.ch) }) }

// done is closed once the server drains.
func (d *drainer) done() <-chan struct{} { return d.ch }

func (d *drainer) draining() bool {
	select {
	case <-d.ch:
		return true
	default:
		return false
	}
}

// Drain starts a graceful shutdown: /readyz answers 503 from now on and every open event stream
// ends at once with a `reconnect` frame (clients resume elsewhere with Last-Event-ID, losing
// nothing). Requests in flight continue; the caller then shuts the HTTP server down.
func (s *Server) Drain() { s.drain.start() }

func (h *handlers) GetHealth(context.Context, genserver.GetHealthRequestObject) (genserver.GetHealthResponseObject, error) {
	return genserver.GetHealth200JSONResponse(models.HealthStatus{Status: models.ProbeStatusOk}), nil
}

// readinessTimeout bounds the store check of /readyz.
const readinessTimeout = 2 * time.Second

func (h *handlers) GetReadiness(ctx context.Context, _ genserver.GetReadinessRequestObject) (genserver.GetReadinessResponseObject, error) {
	if h.drain.draining() {
		return genserver.GetReadiness503JSONResponse(models.HealthStatus{Status: models.ProbeStatusShuttingDown}), nil
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	if _, err := h.store.LastSeq(ctx); err != nil {
		h.log.WarnContext(ctx, "readiness: the store does not answer", "error", err)
		return genserver.GetReadiness503JSONResponse(models.HealthStatus{Status: models.ProbeStatusStoreUnavailable}), nil
	}
	return genserver.GetReadiness200JSONResponse(models.HealthStatus{Status: models.ProbeStatusReady}), nil
}
