package anthropicadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	anthropicadapter "github.com/openintent-go/openintent/adapters/anthropic"
	"github.com/openintent-go/openintent/pkg/llmlog"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// fakeAnthropic serves the Messages API: model "fail" gets a 529, a streamed request events,
// anything else a message with a tool use.
func fakeAnthropic(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/v1/messages" && strings.Contains(string(body), `"model":"fail"`):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(529)
			io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		case r.URL.Path == "/v1/messages" && strings.Contains(string(body), `"stream":true`):
			w.Header().Set("Content-Type", "text/event-stream")
			for _, ev := range [][2]string{
				{"message_start", `{"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":12,"output_tokens":1}}}`},
				{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
				{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi "}}`},
				{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"there"}}`},
				{"content_block_stop", `{"type":"content_block_stop","index":0}`},
				{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`},
				{"message_stop", `{"type":"message_stop"}`},
			} {
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev[0], ev[1])
			}
		case r.URL.Path == "/v1/messages":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"m2","type":"message","role":"assistant","model":"claude-test-2026","content":[
				{"type":"text","text":"Let me look."},
				{"type":"tool_use","id":"tu_1","name":"lookup","input":{"q":"leases"}}],
				"stop_reason":"tool_use","usage":{"input_tokens":2000,"output_tokens":100}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type env struct {
	oi     *openintent.Client
	intent *openintent.Intent
	llm    anthropic.Client
	mu     sync.Mutex
	errs   []error
}

func setup(t *testing.T, settings ...anthropicadapter.Setting) *env {
	t.Helper()
	srv := openintenttest.NewServer(t)
	e := &env{oi: srv.Client(t, "writer")}
	var err error
	if e.intent, err = e.oi.CreateIntent(context.Background(), openintent.IntentCreate{Title: "Write"}); err != nil {
		t.Fatal(err)
	}
	settings = append(settings, llmlog.WithErrorHandler(func(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }))
	e.llm = anthropic.NewClient(option.WithBaseURL(fakeAnthropic(t).URL), option.WithAPIKey("sk-ant-test"), option.WithMaxRetries(0),
		anthropicadapter.Option(e.oi, settings...))
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, err := range e.errs {
			t.Errorf("recording failed: %v", err)
		}
	})
	return e
}

func (e *env) events(t *testing.T, types ...string) []openintent.IntentEvent {
	t.Helper()
	evs, err := e.oi.GetEvents(context.Background(), e.intent.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Sequence < evs[j].Sequence })
	var out []openintent.IntentEvent
	for _, ev := range evs {
		for _, ty := range types {
			if string(ev.EventType) == ty {
				out = append(out, ev)
			}
		}
	}
	return out
}

func params(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: model, MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("look up leases"))},
		Tools:    []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: map[string]any{"q": map[string]any{"type": "string"}}}, "lookup")}}
}

func TestMessageIsRecorded(t *testing.T) {
	e := setup(t, llmlog.WithPrice(llmlog.PerMillionTokens(map[string]llmlog.Price{"claude-test": {Input: 3, Output: 15}})))
	tr := openintent.Trace{TraceID: openintent.NewTraceID()}
	ctx := openintent.ContextWithTrace(openintent.ContextWithIntent(context.Background(), e.intent.ID), tr)
	msg, err := e.llm.Messages.New(ctx, params("claude-test"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != "tool_use" {
		t.Fatalf("the caller's answer changed: %+v", msg)
	}
	evs := e.events(t, "llm_request_started", "llm_request_completed")
	if len(evs) != 2 {
		t.Fatalf("events: %+v", evs)
	}
	started, done := evs[0].Payload, evs[1].Payload
	if started["model"] != "claude-test" || started["provider"] != "anthropic" || started["messages_count"] != 1.0 ||
		started["max_tokens"] != 256.0 || fmt.Sprint(started["tools_available"]) != "[lookup]" {
		t.Errorf("started: %v", started)
	}
	if done["prompt_tokens"] != 2000.0 || done["completion_tokens"] != 100.0 || done["finish_reason"] != "tool_use" ||
		done["response_content"] != "Let me look." || !strings.Contains(fmt.Sprint(done["tool_calls"]), "lookup") {
		t.Errorf("completed: %v", done)
	}
	if evs[0].TraceID != tr.TraceID || evs[1].TraceID != tr.TraceID || evs[1].ParentEventID != evs[0].ID {
		t.Errorf("trace: %+v", evs)
	}
	// 2000 × $3/M + 100 × $15/M = $0.0075.
	costs, err := e.oi.ListCosts(context.Background(), e.intent.ID)
	if err != nil || len(costs) != 1 || costs[0].Unit != "USD" || fmt.Sprintf("%.4f", costs[0].Amount) != "0.0075" || costs[0].Provider == nil || *costs[0].Provider != "anthropic" {
		t.Errorf("costs: %+v, %v", costs, err)
	}
}

func TestStreamIsRecordedWhenItEnds(t *testing.T) {
	e := setup(t)
	ctx := openintent.ContextWithIntent(context.Background(), e.intent.ID)
	stream := e.llm.Messages.NewStreaming(ctx, params("claude-test"))
	var text strings.Builder
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" {
			text.WriteString(ev.Delta.Text)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	stream.Close()
	if text.String() != "Hi there" {
		t.Fatalf("the caller read %q", text.String())
	}
	evs := e.events(t, "stream_started", "stream_completed", "llm_request_completed")
	if len(evs) != 3 {
		t.Fatalf("events: %+v", evs)
	}
	done := evs[2].Payload
	if done["response_content"] != "Hi there" || done["finish_reason"] != "end_turn" || done["prompt_tokens"] != 12.0 || done["completion_tokens"] != 3.0 {
		t.Errorf("completed: %v", done)
	}
}

func TestFailureIsRecorded(t *testing.T) {
	e := setup(t)
	ctx := openintent.ContextWithIntent(context.Background(), e.intent.ID)
	_, err := e.llm.Messages.New(ctx, params("fail"))
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 {
		t.Fatalf("the caller's error changed: %v", err)
	}
	evs := e.events(t, "llm_request_failed")
	if len(evs) != 1 || evs[0].Payload["error"] != "HTTP 529: overloaded_error: Overloaded" {
		t.Fatalf("failed: %+v", evs)
	}
}
