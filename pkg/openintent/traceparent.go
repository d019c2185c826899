package openintent

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// W3C Trace Context: a request whose call carries an RFC-0020 trace (WithTrace, or a trace in
// ctx, see ContextWithTrace) also sends a `traceparent` header naming that trace, so that the
// server's spans of the request (and the spans of any OpenTelemetry-instrumented service behind
// it) join the trace of the events. TraceFromTraceparent goes the other way.

// setTraceparent sets the traceparent header of a request whose call carries an [RFC-0020] trace
// with a W3C-compatible trace id, unless the request has one already (set with WithHeader; a
// middleware may still replace it). The header's parent-id is derived from the trace's parent
// event (the first 8 bytes of the SHA-256 of its id), so the server's spans of the requests one
// event caused share a parent, or random without one; the sampled flag is set so the server
// records its spans.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
func setTraceparent(req *http.Request, s *settings) {
	if req.Header.Get("Traceparent") != "" {
		return
	}
	tr := Trace{TraceID: s.traceID, ParentEventID: s.parentEventID}
	if tr == (Trace{}) {
		tr, _ = TraceFromContext(req.Context())
	}
	id := w3cTraceID(tr.TraceID)
	if id == "" {
		return
	}
	var parent string
	if tr.ParentEventID != "" {
		sum := sha256.Sum256([]byte(tr.ParentEventID))
		parent = hex.EncodeToString(sum[:8])
	} else {
		parent = NewTraceID()[:16]
	}
	if strings.Trim(parent, "0") == "" { // an all-zero parent-id is invalid
		parent = "0000000000000001"
	}
	req.Header.Set("Traceparent", "00-"+id+"-"+parent+"-01")
}

// w3cTraceID returns id as a W3C trace-id (32 lower-case hex digits, not all zero), accepting
// upper case and the dashes of a UUID, or "" when it is not one.
func w3cTraceID(id string) string {
	if len(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-' {
		id = strings.ReplaceAll(id, "-", "")
	}
	if len(id) != 32 {
		return ""
	}
	id = strings.ToLower(id)
	if _, err := hex.DecodeString(id); err != nil || strings.Trim(id, "0") == "" {
		return ""
	}
	return id
}

// TraceFromTraceparent reads a W3C traceparent header ("00-<trace-id>-<parent-id>-<flags>", as
// OpenTelemetry and other tracers send it) into the [RFC-0020] trace with the same trace id and no
// parent event; ok is false when the header is malformed. A service handling a traced request
// links the events it causes to the caller's trace with it:
//
//	if tr, ok := openintent.TraceFromTraceparent(r.Header.Get("traceparent")); ok {
//		ctx = openintent.ContextWithTrace(ctx, tr)
//	}
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
func TraceFromTraceparent(traceparent string) (tr Trace, ok bool) {
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return Trace{}, false
	}
	if parts[0] == "00" && len(parts) != 4 {
		return Trace{}, false
	}
	for _, p := range []string{parts[0], parts[2], parts[3]} {
		if _, err := hex.DecodeString(p); err != nil || p != strings.ToLower(p) {
			return Trace{}, false
		}
	}
	if len(parts[1]) != 32 || parts[1] != strings.ToLower(parts[1]) || strings.Trim(parts[2], "0") == "" {
		return Trace{}, false
	}
	id := w3cTraceID(parts[1])
	if id == "" {
		return Trace{}, false
	}
	return Trace{TraceID: id}, true
}
