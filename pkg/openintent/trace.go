package openintent

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"net/http"
)

// Tracing (RFC-0020): every event an agent causes can carry the trace it belongs to and the
// event that caused it. LogEvent and the Log* helpers put them in the event's body; every other
// request that appends events (UpdateState, SetStatus, AcquireLease, AssignAgent, CreateTask, ...)
// sends them as the X-Trace-ID and X-Parent-Event-ID headers, and the server records them on
// each event the request appends. Both come from WithTrace, else from the trace ctx carries
// (ContextWithTrace), and the event's hash covers them (RFC-0019).

// NewTraceID returns a fresh trace id: 32 lower-case hex digits (128 random bits), the W3C
// trace-id form [RFC-0020] uses.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
func NewTraceID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewTrace returns ctx carrying a new trace with no parent event: the root of a call chain.
func NewTrace(ctx context.Context) context.Context {
	return ContextWithTrace(ctx, Trace{TraceID: NewTraceID()})
}

// setTraceHeaders sends the trace of a request that may append events (any but GET and HEAD).
func setTraceHeaders(ctx context.Context, s *settings, method string, h http.Header) {
	if method == http.MethodGet || method == http.MethodHead {
		return
	}
	tr := Trace{TraceID: s.traceID, ParentEventID: s.parentEventID}
	if tr == (Trace{}) {
		tr, _ = TraceFromContext(ctx)
	}
	if tr.TraceID != "" && validHeaderValue(tr.TraceID) {
		h.Set("X-Trace-ID", tr.TraceID)
	}
	if tr.ParentEventID != "" && validHeaderValue(tr.ParentEventID) {
		h.Set("X-Parent-Event-ID", tr.ParentEventID)
	}
}
