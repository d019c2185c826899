package openintent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestLogLLMAndToolCalls(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "llm-agent")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "LLM work"})
	zero := 0.0
	base := openintent.LLMRequestPayload{RequestID: "req-1", Provider: "openai", Model: "gpt-4o", MessagesCount: 3}

	started := base
	started.ToolsAvailable, started.Stream, started.Temperature, started.MaxTokens = []string{"search"}, true, &zero, 256
	ev, err := c.LogLLMRequestStarted(ctx, in.ID, started)
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventType != "llm_request_started" || ev.Payload["temperature"] != 0.0 || ev.Payload["stream"] != true ||
		ev.Payload["max_tokens"] != 256.0 || ev.Payload["messages_count"] != 3.0 {
		t.Fatalf("started payload = %v", ev.Payload)
	}
	done := base
	done.ResponseContent, done.FinishReason, done.PromptTokens, done.CompletionTokens, done.DurationMs = "hi", "stop", 10, 5, 42
	ev, err = c.LogLLMRequestCompleted(ctx, in.ID, done)
	if err != nil || ev.Payload["total_tokens"] != 15.0 || ev.Payload["duration_ms"] != 42.0 || ev.Payload["stream"] != false {
		t.Fatalf("completed = %+v %v", ev, err)
	}
	failed := base
	failed.Error = "rate limited"
	if ev, err = c.LogLLMRequestFailed(ctx, in.ID, failed); err != nil || ev.Payload["error"] != "rate limited" {
		t.Fatalf("failed = %+v %v", ev, err)
	}
	if _, err := c.LogLLMRequestFailed(ctx, in.ID, base); err == nil || !strings.Contains(err.Error(), "Error") {
		t.Fatalf("failed without error: %v", err)
	}
	if _, err := c.LogLLMRequestStarted(ctx, in.ID, openintent.LLMRequestPayload{Provider: "x", Model: "y"}); err == nil || !strings.Contains(err.Error(), "RequestID") {
		t.Fatalf("missing request id: %v", err)
	}

	tool := openintent.ToolCallPayload{ToolName: "search", ToolID: "call-1", Arguments: openintent.Object{"q": "go"}, ParentRequestID: "req-1"}
	if ev, err = c.LogToolCallStarted(ctx, in.ID, tool); err != nil || ev.Payload["parent_request_id"] != "req-1" {
		t.Fatalf("tool started = %+v %v", ev, err)
	}
	tool.Result, tool.DurationMs = []any{"a", "b"}, 7
	if ev, err = c.LogToolCallCompleted(ctx, in.ID, tool); err != nil || len(ev.Payload["result"].([]any)) != 2 {
		t.Fatalf("tool completed = %+v %v", ev, err)
	}
	tool.Result, tool.Error = nil, "boom"
	if ev, err = c.LogToolCallFailed(ctx, in.ID, tool); err != nil || ev.Payload["error"] != "boom" {
		t.Fatalf("tool failed = %+v %v", ev, err)
	}
	if _, err := c.LogToolCallStarted(ctx, in.ID, openintent.ToolCallPayload{ToolID: "x"}); err == nil {
		t.Fatal("tool call without a name accepted")
	}
}

func TestTimedCallsLinkTheirEvents(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "llm-agent")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Traced"})

	req, err := c.StartLLMRequest(ctx, in.ID, openintent.LLMRequestPayload{Provider: "anthropic", Model: "claude", MessagesCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if req.Started.TraceID == "" || req.Started.Payload["request_id"] == "" {
		t.Fatalf("started = %+v", req.Started)
	}
	call, err := c.StartToolCall(req.Context(ctx), in.ID, openintent.ToolCallPayload{ToolName: "search", Arguments: openintent.Object{"q": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Millisecond)
	toolDone, err := call.Complete(ctx, openintent.Object{"hits": 3})
	if err != nil {
		t.Fatal(err)
	}
	llmDone, err := req.Complete(ctx, openintent.LLMResult{ResponseContent: "answer", PromptTokens: 100, CompletionTokens: 20, FinishReason: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	// One trace; each event's parent is the one that caused it.
	trace := req.Started.TraceID
	for _, ev := range []*openintent.IntentEvent{call.Started, toolDone, llmDone} {
		if ev.TraceID != trace {
			t.Fatalf("%s has trace %q, want %q", ev.EventType, ev.TraceID, trace)
		}
	}
	if call.Started.ParentEventID != req.Started.ID || toolDone.ParentEventID != call.Started.ID || llmDone.ParentEventID != req.Started.ID {
		t.Fatalf("parents: tool started %s, tool done %s, llm done %s", call.Started.ParentEventID, toolDone.ParentEventID, llmDone.ParentEventID)
	}
	if call.Started.Payload["parent_request_id"] != req.Started.Payload["request_id"] {
		t.Fatalf("tool call not linked to the request: %v", call.Started.Payload)
	}
	if d := toolDone.Payload["duration_ms"].(float64); d < 15 {
		t.Fatalf("tool duration = %v ms", d)
	}
	if llmDone.Payload["total_tokens"] != 120.0 {
		t.Fatalf("total tokens = %v", llmDone.Payload["total_tokens"])
	}
	// The events are stored with their trace.
	stored, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: "tool_call_completed"})
	if err != nil || len(stored) != 1 || stored[0].TraceID != trace || stored[0].ParentEventID != call.Started.ID {
		t.Fatalf("stored = %+v %v", stored, err)
	}

	failing, err := c.StartLLMRequest(ctx, in.ID, openintent.LLMRequestPayload{Provider: "p", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := failing.Fail(ctx, errors.New("context length exceeded"))
	if err != nil || ev.EventType != "llm_request_failed" || ev.Payload["error"] != "context length exceeded" || ev.TraceID == trace {
		t.Fatalf("failed = %+v %v", ev, err)
	}
	// A trace in the context is picked up by plain LogEvent too.
	tctx := openintent.ContextWithTrace(ctx, openintent.Trace{TraceID: "t-9", ParentEventID: ev.ID})
	note, err := c.LogEvent(tctx, in.ID, openintent.EventComment, nil)
	if err != nil || note.TraceID != "t-9" || note.ParentEventID != ev.ID {
		t.Fatalf("LogEvent in traced ctx = %+v %v", note, err)
	}
}
