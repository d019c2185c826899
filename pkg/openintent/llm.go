package openintent

import (
	"context"
	"fmt"
	"time"
)

// LLM and tool-call logging (RFC-0008): each call is an event on the intent's log. The Log*
// methods are the Python SDK's; StartLLMRequest and StartToolCall time a call for you and link its
// events through a trace carried by the context.

// Trace links events ([RFC-0020]): every event of one trace shares TraceID, and ParentEventID is
// the event that caused the next one.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
type Trace struct {
	TraceID       string
	ParentEventID string
}

type traceKey struct{}

// ContextWithTrace returns ctx carrying tr: events logged with it (LogEvent, the Log* methods,
// StartLLMRequest, StartToolCall) record its trace_id and parent_event_id unless WithTrace says
// otherwise.
func ContextWithTrace(ctx context.Context, tr Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, tr)
}

// TraceFromContext returns the trace ctx carries, if any.
func TraceFromContext(ctx context.Context) (Trace, bool) {
	tr, ok := ctx.Value(traceKey{}).(Trace)
	return tr, ok
}

// logPayload appends an event whose payload is p (a generated payload struct), taking the trace
// from the options or else the context.
func (c *Client) logPayload(ctx context.Context, intentID string, eventType EventType, p any, opts []Option) (*IntentEvent, error) {
	payload, err := toObject(p)
	if err != nil {
		return nil, fmt.Errorf("openintent: %s: %w", eventType, err)
	}
	return c.LogEvent(ctx, intentID, eventType, payload, opts...)
}

// traceFor resolves the trace of an event: WithTrace wins, then the context.
func (c *Client) traceFor(ctx context.Context, opts []Option) (Trace, error) {
	s, err := c.resolve(opts)
	if err != nil {
		return Trace{}, err
	}
	if s.traceID != "" || s.parentEventID != "" {
		return Trace{TraceID: s.traceID, ParentEventID: s.parentEventID}, nil
	}
	tr, _ := TraceFromContext(ctx)
	return tr, nil
}

func checkLLM(method string, p *LLMRequestPayload) error {
	switch {
	case p.RequestID == "":
		return invalidArg(method, "RequestID", "RequestID is empty")
	case p.Provider == "":
		return invalidArg(method, "Provider", "Provider is empty")
	case p.Model == "":
		return invalidArg(method, "Model", "Model is empty")
	case p.MessagesCount < 0:
		return invalidArg(method, "MessagesCount", "MessagesCount is negative")
	}
	return nil
}

// LogLLMRequestStarted logs llm_request_started (the Python SDK's log_llm_request_started):
// RequestID, Provider, Model and MessagesCount are required; ToolsAvailable, Stream,
// Temperature and MaxTokens are optional.
func (c *Client) LogLLMRequestStarted(ctx context.Context, intentID string, p LLMRequestPayload, opts ...Option) (*IntentEvent, error) {
	if err := checkLLM("LogLLMRequestStarted", &p); err != nil {
		return nil, err
	}
	return c.logPayload(ctx, intentID, EventLLMRequestStarted, p, opts)
}

// LogLLMRequestCompleted logs llm_request_completed (the Python SDK's log_llm_request_completed),
// with the response, tool calls, finish reason, token counts and duration when given. TotalTokens
// defaults to PromptTokens+CompletionTokens.
func (c *Client) LogLLMRequestCompleted(ctx context.Context, intentID string, p LLMRequestPayload, opts ...Option) (*IntentEvent, error) {
	if err := checkLLM("LogLLMRequestCompleted", &p); err != nil {
		return nil, err
	}
	if p.TotalTokens == 0 {
		p.TotalTokens = p.PromptTokens + p.CompletionTokens
	}
	p.Stream = false
	return c.logPayload(ctx, intentID, EventLLMRequestCompleted, p, opts)
}

// LogLLMRequestFailed logs llm_request_failed (the Python SDK's log_llm_request_failed); Error is
// required.
func (c *Client) LogLLMRequestFailed(ctx context.Context, intentID string, p LLMRequestPayload, opts ...Option) (*IntentEvent, error) {
	if err := checkLLM("LogLLMRequestFailed", &p); err != nil {
		return nil, err
	}
	if p.Error == "" {
		return nil, invalidArg("LogLLMRequestFailed", "Error", "Error is empty")
	}
	p.Stream = false
	return c.logPayload(ctx, intentID, EventLLMRequestFailed, p, opts)
}

func checkTool(method string, p *ToolCallPayload) error {
	switch {
	case p.ToolName == "":
		return invalidArg(method, "ToolName", "ToolName is empty")
	case p.ToolID == "":
		return invalidArg(method, "ToolID", "ToolID is empty")
	}
	if p.Arguments == nil {
		p.Arguments = Object{}
	}
	return nil
}

// LogToolCallStarted logs tool_call_started (the Python SDK's log_tool_call_started): ToolName, ToolID
// and Arguments, with Provider, Model and ParentRequestID when given.
func (c *Client) LogToolCallStarted(ctx context.Context, intentID string, p ToolCallPayload, opts ...Option) (*IntentEvent, error) {
	if err := checkTool("LogToolCallStarted", &p); err != nil {
		return nil, err
	}
	return c.logPayload(ctx, intentID, EventToolCallStarted, p, opts)
}

// LogToolCallCompleted logs tool_call_completed (the Python SDK's log_tool_call_completed) with its
// Result and duration.
func (c *Client) LogToolCallCompleted(ctx context.Context, intentID string, p ToolCallPayload, opts ...Option) (*IntentEvent, error) {
	if err := checkTool("LogToolCallCompleted", &p); err != nil {
		return nil, err
	}
	return c.logPayload(ctx, intentID, EventToolCallCompleted, p, opts)
}

// LogToolCallFailed logs tool_call_failed (the Python SDK's log_tool_call_failed); Error is required.
func (c *Client) LogToolCallFailed(ctx context.Context, intentID string, p ToolCallPayload, opts ...Option) (*IntentEvent, error) {
	if err := checkTool("LogToolCallFailed", &p); err != nil {
		return nil, err
	}
	if p.Error == "" {
		return nil, invalidArg("LogToolCallFailed", "Error", "Error is empty")
	}
	return c.logPayload(ctx, intentID, EventToolCallFailed, p, opts)
}

// LLMRequest is an LLM call in progress, started by StartLLMRequest.
type LLMRequest struct {
	c        *Client
	intentID string
	payload  LLMRequestPayload
	start    time.Time
	trace    Trace
	opts     []Option
	// Started is the llm_request_started event.
	Started *IntentEvent
}

// LLMResult is what an LLM call produced, for LLMRequest.Complete.
type LLMResult struct {
	ResponseContent  string
	ToolCalls        []Object
	FinishReason     string
	PromptTokens     int64
	CompletionTokens int64
}

// StartLLMRequest logs llm_request_started and returns the request, to Complete or Fail when
// the call ends; the duration and total tokens are computed for you. A missing RequestID is
// generated. The trace comes from ctx (or WithTrace); without one a new trace starts. Use
// req.Context(ctx) for work done on behalf of this call (tool calls), so its events link to it.
func (c *Client) StartLLMRequest(ctx context.Context, intentID string, p LLMRequestPayload, opts ...Option) (*LLMRequest, error) {
	if p.RequestID == "" {
		p.RequestID = newIdempotencyKey()
	}
	tr, err := c.traceFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	if tr.TraceID == "" {
		tr.TraceID = NewTraceID()
	}
	start := time.Now()
	ev, err := c.LogLLMRequestStarted(ctx, intentID, p, append(opts[:len(opts):len(opts)], WithTrace(tr.TraceID, tr.ParentEventID))...)
	if err != nil {
		return nil, err
	}
	return &LLMRequest{c: c, intentID: intentID, payload: p, start: start, opts: opts,
		trace: Trace{TraceID: tr.TraceID, ParentEventID: ev.ID}, Started: ev}, nil
}

// Context returns ctx carrying the request's trace, with the started event as parent.
func (r *LLMRequest) Context(ctx context.Context) context.Context {
	ctx = ContextWithTrace(ctx, r.trace)
	return context.WithValue(ctx, llmRequestKey{}, r.payload.RequestID)
}

type llmRequestKey struct{}

// Complete logs llm_request_completed with the result and the elapsed time.
func (r *LLMRequest) Complete(ctx context.Context, res LLMResult) (*IntentEvent, error) {
	p := r.payload
	p.ResponseContent, p.ToolCalls, p.FinishReason = res.ResponseContent, res.ToolCalls, res.FinishReason
	p.PromptTokens, p.CompletionTokens = res.PromptTokens, res.CompletionTokens
	p.TotalTokens = res.PromptTokens + res.CompletionTokens
	p.DurationMs = time.Since(r.start).Milliseconds()
	return r.c.LogLLMRequestCompleted(ctx, r.intentID, p, r.traceOpts()...)
}

// Fail logs llm_request_failed with the error's text and the elapsed time.
func (r *LLMRequest) Fail(ctx context.Context, cause error) (*IntentEvent, error) {
	if cause == nil {
		return nil, invalidArg("LLMRequest.Fail", "cause", "cause is nil")
	}
	p := r.payload
	p.Error = cause.Error()
	p.DurationMs = time.Since(r.start).Milliseconds()
	return r.c.LogLLMRequestFailed(ctx, r.intentID, p, r.traceOpts()...)
}

func (r *LLMRequest) traceOpts() []Option {
	return append(r.opts[:len(r.opts):len(r.opts)], WithTrace(r.trace.TraceID, r.trace.ParentEventID))
}

// ToolCall is a tool call in progress, started by StartToolCall.
type ToolCall struct {
	c        *Client
	intentID string
	payload  ToolCallPayload
	start    time.Time
	trace    Trace
	opts     []Option
	// Started is the tool_call_started event.
	Started *IntentEvent
}

// StartToolCall logs tool_call_started and returns the call, to Complete or Fail when it ends.
// A missing ToolID is generated; inside an LLMRequest's context, ParentRequestID defaults to that
// request and the events join its trace.
func (c *Client) StartToolCall(ctx context.Context, intentID string, p ToolCallPayload, opts ...Option) (*ToolCall, error) {
	if p.ToolID == "" {
		p.ToolID = newIdempotencyKey()
	}
	if p.ParentRequestID == "" {
		p.ParentRequestID, _ = ctx.Value(llmRequestKey{}).(string)
	}
	tr, err := c.traceFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	if tr.TraceID == "" {
		tr.TraceID = NewTraceID()
	}
	start := time.Now()
	ev, err := c.LogToolCallStarted(ctx, intentID, p, append(opts[:len(opts):len(opts)], WithTrace(tr.TraceID, tr.ParentEventID))...)
	if err != nil {
		return nil, err
	}
	return &ToolCall{c: c, intentID: intentID, payload: p, start: start, opts: opts,
		trace: Trace{TraceID: tr.TraceID, ParentEventID: ev.ID}, Started: ev}, nil
}

// Complete logs tool_call_completed with the result and the elapsed time.
func (t *ToolCall) Complete(ctx context.Context, result any) (*IntentEvent, error) {
	p := t.payload
	p.Result = result
	p.DurationMs = time.Since(t.start).Milliseconds()
	return t.c.LogToolCallCompleted(ctx, t.intentID, p, append(t.opts[:len(t.opts):len(t.opts)], WithTrace(t.trace.TraceID, t.trace.ParentEventID))...)
}

// Fail logs tool_call_failed with the error's text and the elapsed time.
func (t *ToolCall) Fail(ctx context.Context, cause error) (*IntentEvent, error) {
	if cause == nil {
		return nil, invalidArg("ToolCall.Fail", "cause", "cause is nil")
	}
	p := t.payload
	p.Error = cause.Error()
	p.DurationMs = time.Since(t.start).Milliseconds()
	return t.c.LogToolCallFailed(ctx, t.intentID, p, append(t.opts[:len(t.opts):len(t.opts)], WithTrace(t.trace.TraceID, t.trace.ParentEventID))...)
}
