package server

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/openintent-go/openintent/pkg/store"
)

// tracerName names the server's spans' instrumentation scope.
const tracerName = "github.com/openintent-go/openintent/pkg/server"

// unsetGlobal is OpenTelemetry's global tracer provider before any is set: a placeholder that
// delegates to the provider otel.SetTracerProvider sets later, after which the global is that
// provider. It is read here, before any package importing this one can set a provider.
var unsetGlobal = otel.GetTracerProvider()

// telemetry is a server's metrics (metrics.go) and tracer, and the hooks the rest of the
// package calls to feed them. A nil *telemetry does nothing.
type telemetry struct {
	metrics *metrics
	// tracer is the configured provider's tracer; nil under a no-op provider, when no span is
	// started at all. With global set it follows otel's global provider instead (tracerNow).
	tracer trace.Tracer
	global bool
	prop   propagation.TraceContext
	// ops holds the request series of each route of the spec, by pattern (see noteRoute);
	// extra those of routes outside it, unknown those of requests matching no route.
	ops     map[string]*opSeries
	extraMu sync.Mutex
	extra   map[string]*opSeries
	unknown *opSeries

	// Series resolved once, for the hot paths.
	txWait                   [3]prometheus.Observer    // by store: memory, file, postgres
	txDuration               [3][2]prometheus.Observer // by store, then rollback, commit
	limitedKey, limitedAuth  prometheus.Counter
	delivered, deliveryFails prometheus.Counter
	givenUp, discarded       prometheus.Counter
}

func newTelemetry(tp trace.TracerProvider, routes *routeTable) *telemetry {
	m := newMetrics()
	t := &telemetry{metrics: m, global: tp == nil, ops: map[string]*opSeries{}, extra: map[string]*opSeries{},
		unknown: &opSeries{name: opUnknown}}
	if _, off := tp.(noop.TracerProvider); tp != nil && !off {
		t.tracer = tp.Tracer(tracerName)
	}
	for pattern, rt := range routes.byPattern {
		if rt.Operation != nil && rt.Operation.OperationID != "" {
			// The embedded spec's ids start with a capital (CreateIntent); the spec's do not.
			id := rt.Operation.OperationID
			t.ops[pattern] = &opSeries{name: strings.ToLower(id[:1]) + id[1:]}
		}
	}
	for i, kind := range storeLabels {
		t.txWait[i] = m.txWait.WithLabelValues(kind)
		t.txDuration[i][0] = m.txDuration.WithLabelValues(kind, "rollback")
		t.txDuration[i][1] = m.txDuration.WithLabelValues(kind, "commit")
	}
	t.limitedKey, t.limitedAuth = m.rateLimited.WithLabelValues("api_key"), m.rateLimited.WithLabelValues("auth_failures")
	t.delivered, t.deliveryFails = m.webhooks.WithLabelValues("delivered"), m.webhooks.WithLabelValues("failed")
	t.givenUp, t.discarded = m.webhooks.WithLabelValues("given_up"), m.webhooks.WithLabelValues("discarded")
	return t
}

// opSeries are the request series of one operation, resolved on its first request (the
// registry's lookup by label values costs more than the observation).
type opSeries struct {
	name     string
	once     sync.Once
	duration prometheus.Observer
	codes    atomic.Pointer[map[int]prometheus.Counter] // copied on write
	mu       sync.Mutex                                 // serialises writers of codes
}

// observe counts a request answered with status after d.
func (o *opSeries) observe(m *metrics, status int, d time.Duration) {
	o.once.Do(func() { o.duration = m.requestDuration.WithLabelValues(o.name) })
	o.duration.Observe(d.Seconds())
	if codes := o.codes.Load(); codes != nil {
		if c, ok := (*codes)[status]; ok {
			c.Inc()
			return
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	next := map[int]prometheus.Counter{}
	if codes := o.codes.Load(); codes != nil {
		maps.Copy(next, *codes)
	}
	c, ok := next[status]
	if !ok {
		c = m.requests.WithLabelValues(o.name, codeLabel(status))
		next[status] = c
		o.codes.Store(&next)
	}
	c.Inc()
}

// requestInfo is what the layers of a request learn about it for its metrics, span and log
// line: the authenticator names its route and acting agent. It also records the status.
type requestInfo struct {
	statusRecorder
	pattern   string    // the ServeMux pattern; empty when no route matched
	operation string    // its operation id ("unknown" when no route matched; see noteRoute)
	op        *opSeries // its series
	agent     string    // the acting agent, once authenticated
}

type requestInfoKey struct{}

// requestInfoFrom returns the request's info (nil outside a request, or in a Server built
// without telemetry).
func requestInfoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return i
}

// noteRoute records the route a request matched (pattern is empty when none did) and names
// it: by its operation id in the spec, by its pattern outside the spec (GET /openapi.json), or
// "unknown" when no route matched. Every name is fixed by the route table, never taken from a
// request's path.
func (t *telemetry) noteRoute(ctx context.Context, pattern string) {
	i := requestInfoFrom(ctx)
	if t == nil || i == nil || pattern == "" {
		return
	}
	i.pattern = pattern
	if i.op = t.ops[pattern]; i.op == nil {
		t.extraMu.Lock()
		if i.op = t.extra[pattern]; i.op == nil {
			i.op = &opSeries{name: pattern}
			t.extra[pattern] = i.op
		}
		t.extraMu.Unlock()
	}
	i.operation = i.op.name
}

// noteAgent records the acting agent of an authenticated request.
func noteAgent(ctx context.Context, agent string) {
	if i := requestInfoFrom(ctx); i != nil {
		i.agent = agent
	}
}

// instrument counts and times every request by operation and status, runs it in a span named
// by its operation (child of the caller's span when the request carries a W3C traceparent),
// and makes the events it appends without a trace_id record the request's trace id. The store
// reports the request's write transactions to t (ObserveTx).
func (t *telemetry) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{statusRecorder: statusRecorder{ResponseWriter: w}, operation: opUnknown, op: t.unknown}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
		ctx = store.ContextWithTxObserver(ctx, t)
		if r.Header.Get("Traceparent") != "" {
			// Honoured with tracing off too: the events then link to the caller's trace.
			ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		var span trace.Span
		if tracer := t.tracerNow(); tracer != nil {
			// Named by the method until the route is known (see noteRoute), then renamed.
			ctx, span = tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			ctx = store.WithTrace(ctx, sc.TraceID().String(), "") // X-Trace-ID and a body's trace_id win
		}
		defer func() {
			status := info.status
			if status == 0 {
				status = http.StatusOK
			}
			info.op.observe(t.metrics, status, time.Since(start))
			if span == nil {
				return
			}
			if span.IsRecording() {
				span.SetName(info.operation)
				attrs := []attribute.KeyValue{
					attribute.String("openintent.operation_id", info.operation),
					attribute.String("http.request.method", r.Method),
					attribute.String("url.path", r.URL.Path),
					attribute.Int("http.response.status_code", status),
					attribute.String("openintent.request_id", requestIDFrom(ctx)),
				}
				if _, path, ok := strings.Cut(info.pattern, " "); ok {
					attrs = append(attrs, attribute.String("http.route", path))
				}
				if info.agent != "" {
					attrs = append(attrs, attribute.String("openintent.agent_id", info.agent))
				}
				span.SetAttributes(attrs...)
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
			}
			span.End()
		}()
		next.ServeHTTP(&info.statusRecorder, r.WithContext(ctx))
	})
}

// storeLabels are the values of the `store` label of the transaction series, by kind of store.
var storeLabels = [3]string{"memory", "file", "postgres"}

// ObserveTx records a store write transaction (store.TxObserver): its wait for the write lock
// and its duration, and a span, child of the work it ran for, when that work is traced.
func (t *telemetry) ObserveTx(ctx context.Context, tx store.TxTiming) {
	kind := 0
	switch {
	case tx.Postgres:
		kind = 2
	case tx.File:
		kind = 1
	}
	kindName := storeLabels[kind]
	outcome, outcomeName := 0, "rollback"
	if tx.Committed {
		outcome, outcomeName = 1, "commit"
	}
	t.txWait[kind].Observe(tx.Locked.Sub(tx.Start).Seconds())
	t.txDuration[kind][outcome].Observe(tx.End.Sub(tx.Locked).Seconds())
	if !trace.SpanFromContext(ctx).IsRecording() {
		return // no root spans for untraced background work
	}
	tracer := t.tracerNow()
	if tracer == nil {
		return
	}
	_, span := tracer.Start(ctx, "store.transaction", trace.WithTimestamp(tx.Start), trace.WithAttributes(
		attribute.String("openintent.store", kindName),
		attribute.String("openintent.store.outcome", outcomeName),
		attribute.Float64("openintent.store.lock_wait_ms", float64(tx.Locked.Sub(tx.Start).Microseconds())/1000)))
	span.End(trace.WithTimestamp(tx.End))
}

// tracerNow returns the tracer to start spans with, or nil when tracing is off: under a no-op
// provider, or, following the global provider, while none is set.
func (t *telemetry) tracerNow() trace.Tracer {
	switch {
	case t == nil:
		return nil
	case !t.global:
		return t.tracer
	}
	tp := otel.GetTracerProvider()
	if _, off := tp.(noop.TracerProvider); off || tp == unsetGlobal {
		return nil
	}
	return tp.Tracer(tracerName)
}

// background is the context of a background loop (webhooks, triggers): its store
// transactions are measured too.
func (t *telemetry) background(ctx context.Context) context.Context {
	if t == nil {
		return ctx
	}
	return store.ContextWithTxObserver(ctx, t)
}

// startSpan starts a span of background or outbound work; a no-op span when tracing is off.
func (t *telemetry) startSpan(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	tracer := t.tracerNow()
	if tracer == nil {
		return ctx, noop.Span{}
	}
	return tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// inject adds the W3C traceparent of ctx's span to an outbound request's headers (webhooks,
// the tool proxy), when that span is recorded (tracing is on).
func (t *telemetry) inject(ctx context.Context, h http.Header) {
	if t != nil && trace.SpanFromContext(ctx).IsRecording() {
		t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// rateLimited counts a request refused by the per-key limit (perKey) or the failed
// authentication limit.
func (t *telemetry) rateLimited(perKey bool) {
	switch {
	case t == nil:
	case perKey:
		t.limitedKey.Inc()
	default:
		t.limitedAuth.Inc()
	}
}

// leaseAcquire counts an attempt to acquire an intent lease by its result.
func (t *telemetry) leaseAcquire(err error) {
	if t == nil {
		return
	}
	var lc *store.LeaseConflictError
	switch {
	case err == nil:
		t.metrics.leasesAcquired.Inc()
	case errors.As(err, &lc):
		t.metrics.leaseConflicts.Inc()
	}
}

// streamOpened counts an open event stream until the returned function is called.
func (t *telemetry) streamOpened(kind streamKind) (closed func()) {
	if t == nil {
		return func() {}
	}
	name := "intent"
	switch kind {
	case portfolioStream:
		name = "portfolio"
	case agentStream:
		name = "agent"
	case channelStream:
		name = "channel"
	}
	g := t.metrics.streams.WithLabelValues(name)
	g.Inc()
	return g.Dec
}

// startDelivery starts the span of one webhook delivery attempt (a root span: the request that
// appended the event is over; the event's trace_id is an attribute).
func (t *telemetry) startDelivery(ctx context.Context, sub storedSubscription, dl delivery) (context.Context, trace.Span) {
	tracer := t.tracerNow()
	if tracer == nil {
		return ctx, noop.Span{}
	}
	attrs := []attribute.KeyValue{
		attribute.String("openintent.subscription_id", sub.ID),
		attribute.String("openintent.delivery_id", dl.ID),
		attribute.String("openintent.event_id", dl.Event.ID),
		attribute.String("openintent.event_type", string(dl.Event.EventType)),
		attribute.String("openintent.intent_id", dl.Event.IntentID),
		attribute.Int("openintent.webhook.attempt", dl.Attempts+1),
	}
	if dl.Event.TraceID != "" {
		attrs = append(attrs, attribute.String("openintent.event.trace_id", dl.Event.TraceID))
	}
	return tracer.Start(ctx, "webhook.deliver", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// deliveryDone counts a webhook delivery attempt by outcome (and the lag of a successful one)
// and ends its span. err is the attempt's error (its text names no URL); gaveUp tells that it
// was the last attempt.
func (t *telemetry) deliveryDone(span trace.Span, dl delivery, err error, gaveUp bool, now time.Time) {
	if t == nil {
		span.End()
		return
	}
	outcome := "delivered"
	switch {
	case err == nil:
		// The lag first: a scrape that sees the delivery counted sees its lag too.
		t.metrics.webhookLag.Observe(now.Sub(dl.Event.CreatedAt.Time).Seconds())
		t.delivered.Inc()
	case gaveUp:
		outcome = "given_up"
		t.givenUp.Inc()
	default:
		outcome = "failed"
		t.deliveryFails.Inc()
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String("openintent.webhook.outcome", outcome))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// deliveryDiscarded counts a delivery dropped unsent (its subscription deleted or expired).
func (t *telemetry) deliveryDiscarded() {
	if t != nil {
		t.discarded.Inc()
	}
}

// startTrigger starts the span of a trigger firing (child of the request of a manual firing,
// a root span otherwise). observed ends it and, unless err is not nil, counts the firing by the
// trigger's type and the firing's status (fired, skipped, queued).
func (t *telemetry) startTrigger(ctx context.Context, id string, manual bool) (_ context.Context, observed func(typ, status string, err error)) {
	if t == nil {
		return ctx, func(string, string, error) {}
	}
	ctx, span := t.startSpan(ctx, "trigger.fire", trace.SpanKindInternal,
		attribute.String("openintent.trigger_id", id), attribute.Bool("openintent.trigger.manual", manual))
	return ctx, func(typ, status string, err error) {
		if err == nil {
			switch typ {
			case "schedule", "event", "webhook":
			default:
				typ = "other"
			}
			switch status {
			case "fired", "skipped", "queued":
			default:
				status = "other"
			}
			t.metrics.triggers.WithLabelValues(typ, status).Inc()
			if span.IsRecording() {
				span.SetAttributes(attribute.String("openintent.trigger.type", typ), attribute.String("openintent.trigger.status", status))
			}
		}
		endSpan(span, err)
	}
}

// startTool starts the span of a tool-proxy call (child of the request's span); called ends it
// with the call's status and the upstream's HTTP status. The span records no parameter,
// result or error text: they may hold what the credential's secret redacts.
func (t *telemetry) startTool(ctx context.Context, tool, service, grantID string) (_ context.Context, called func(toolCall)) {
	ctx, span := t.startSpan(ctx, "tool.invoke", trace.SpanKindClient, attribute.String("openintent.tool", tool),
		attribute.String("openintent.tool.service", service), attribute.String("openintent.grant_id", grantID))
	return ctx, func(c toolCall) {
		if span.IsRecording() {
			span.SetAttributes(attribute.String("openintent.tool.status", c.status))
			if c.httpStatus != 0 {
				span.SetAttributes(attribute.Int("http.response.status_code", c.httpStatus))
			}
			if c.status != "success" {
				span.SetStatus(codes.Error, c.status)
			}
		}
		span.End()
	}
}

// endSpan ends a span, marking it failed with err when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
