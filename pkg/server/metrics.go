package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics of one Server, on a registry of its own (several servers in one process
// do not collide). Every label takes a bounded set of values: operation ids of the spec (never
// paths or ids), status codes, and the fixed words listed in the README.
type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec   // operation, code
	requestDuration *prometheus.HistogramVec // operation
	streams         *prometheus.GaugeVec     // kind
	webhooks        *prometheus.CounterVec   // outcome
	webhookLag      prometheus.Histogram
	triggers        *prometheus.CounterVec   // type, status
	txDuration      *prometheus.HistogramVec // store, outcome
	txWait          *prometheus.HistogramVec // store
	leasesAcquired  prometheus.Counter
	leaseConflicts  prometheus.Counter
	rateLimited     *prometheus.CounterVec // limit
}

// opUnknown is the operation label of requests that match no route (404 or 405).
const opUnknown = "unknown"

// Buckets, in seconds: requests and store transactions take from tens of microseconds (the
// in-memory store) to seconds (a file store under load, with -fsync).
var (
	requestBuckets = []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}
	txBuckets      = []float64{.00002, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 2}
	lagBuckets     = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}
)

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "openintent_http_requests_total",
		Help: "HTTP requests answered, by operation id of the spec (unknown: no route) and status code.",
	}, []string{"operation", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "openintent_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by operation id (for event streams: how long the stream stayed open).",
		Buckets: requestBuckets,
	}, []string{"operation"})
	m.streams = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "openintent_streams_open",
		Help: "Event streams (SSE) open now, by kind: intent, portfolio or agent.",
	}, []string{"kind"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "openintent_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered, failed (to be retried), given_up (the last attempt failed), discarded (the subscription was deleted or expired before it was sent).",
	}, []string{"outcome"})
	m.webhookLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "openintent_webhook_delivery_lag_seconds",
		Help:    "Time from an event being appended to its webhook delivery succeeding (retries included).",
		Buckets: lagBuckets,
	})
	m.triggers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "openintent_trigger_firings_total",
		Help: "Trigger firings by trigger type (schedule, event, webhook) and status (fired, skipped, queued); manual firings included.",
	}, []string{"type", "status"})
	m.txDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "openintent_store_transaction_duration_seconds",
		Help:    "Time a store write transaction held the write lock, by store (memory, file, postgres) and outcome (commit, rollback).",
		Buckets: txBuckets,
	}, []string{"store", "outcome"})
	m.txWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "openintent_store_transaction_wait_seconds",
		Help:    "Time a store write transaction waited for the write lock (transactions run one at a time), by store.",
		Buckets: txBuckets,
	}, []string{"store"})
	m.leasesAcquired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "openintent_leases_acquired_total",
		Help: "Intent leases acquired.",
	})
	m.leaseConflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "openintent_lease_conflicts_total",
		Help: "Lease acquisitions refused because another agent holds the scope (409).",
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "openintent_rate_limited_requests_total",
		Help: "Requests refused with 429 by a rate limit: api_key (per-key limit) or auth_failures (failed authentications from one address).",
	}, []string{"limit"})
	m.reg.MustRegister(m.requests, m.requestDuration, m.streams, m.webhooks, m.webhookLag, m.triggers,
		m.txDuration, m.txWait, m.leasesAcquired, m.leaseConflicts, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, kind := range []string{"intent", "portfolio", "agent"} {
		m.streams.WithLabelValues(kind) // present at 0 from the start
	}
	for _, limit := range []string{"api_key", "auth_failures"} {
		m.rateLimited.WithLabelValues(limit)
	}
	return m
}

// MetricsHandler serves the server's Prometheus metrics (text exposition format). It needs no
// credentials and is not part of the API: serve it on a listener of its own that only the
// monitoring system reaches (the binary's -metrics-addr), not on the public one.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.tel.metrics.reg, promhttp.HandlerOpts{Registry: s.tel.metrics.reg})
}

// statusCodes are the label values of the status codes the server answers, written once.
var statusCodes = func() map[int]string {
	m := map[int]string{}
	for c := 100; c < 600; c++ {
		if http.StatusText(c) != "" {
			m[c] = strconv.Itoa(c)
		}
	}
	return m
}()

func codeLabel(status int) string {
	if s, ok := statusCodes[status]; ok {
		return s
	}
	return strconv.Itoa(status)
}
