package openaiadapter_test

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

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	openaiadapter "github.com/openintent-go/openintent/adapters/openai"
	"github.com/openintent-go/openintent/pkg/llmlog"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// fakeOpenAI serves the parts of OpenAI's HTTP API the tests use, answering by the request's
// model: "fail" gets a 429, a streamed request gets chunks, anything else a completion.
func fakeOpenAI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/v1/chat/completions" && strings.Contains(string(body), `"model":"fail"`):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
		case r.URL.Path == "/v1/chat/completions" && strings.Contains(string(body), `"stream":true`):
			w.Header().Set("Content-Type", "text/event-stream")
			for _, chunk := range []string{
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"lo"}}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`,
				`[DONE]`,
			} {
				fmt.Fprintf(w, "data: %s\n\n", chunk)
			}
		case r.URL.Path == "/v1/chat/completions":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"c2","object":"chat.completion","created":1,"model":"gpt-test-2026","choices":[{"index":0,
				"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"leases\"}"}}]},
				"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}`)
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
	llm    openai.Client
	errs   []error
	mu     sync.Mutex
}

func setup(t *testing.T, settings ...openaiadapter.Setting) *env {
	t.Helper()
	srv := openintenttest.NewServer(t)
	e := &env{oi: srv.Client(t, "writer")}
	var err error
	if e.intent, err = e.oi.CreateIntent(context.Background(), openintent.IntentCreate{Title: "Write"}); err != nil {
		t.Fatal(err)
	}
	settings = append(settings, llmlog.WithErrorHandler(func(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }))
	e.llm = openai.NewClient(option.WithBaseURL(fakeOpenAI(t).URL+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0),
		openaiadapter.Option(e.oi, settings...))
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

func TestCompletionIsRecorded(t *testing.T) {
	e := setup(t, llmlog.WithPrice(llmlog.PerMillionTokens(map[string]llmlog.Price{"gpt-test": {Input: 2, Output: 8}})))
	tr := openintent.Trace{TraceID: openintent.NewTraceID()}
	ctx := openintent.ContextWithTrace(openintent.ContextWithIntent(context.Background(), e.intent.ID), tr)
	res, err := e.llm.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-test",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("look up leases")},
		Temperature: openai.Float(0.2), MaxTokens: openai.Int(300),
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "lookup"})}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Message.ToolCalls[0].Function.Name != "lookup" {
		t.Fatalf("the caller's answer changed: %+v", res)
	}
	evs := e.events(t, "llm_request_started", "llm_request_completed")
	if len(evs) != 2 {
		t.Fatalf("events: %+v", evs)
	}
	started, done := evs[0].Payload, evs[1].Payload
	if started["model"] != "gpt-test" || started["provider"] != "openai" || started["messages_count"] != 2.0 ||
		started["temperature"] != 0.2 || started["max_tokens"] != 300.0 || fmt.Sprint(started["tools_available"]) != "[lookup]" || started["stream"] != false {
		t.Errorf("started: %v", started)
	}
	if done["prompt_tokens"] != 1000.0 || done["completion_tokens"] != 500.0 || done["total_tokens"] != 1500.0 ||
		done["finish_reason"] != "tool_calls" || done["request_id"] != started["request_id"] {
		t.Errorf("completed: %v", done)
	}
	if calls, _ := done["tool_calls"].([]any); len(calls) != 1 || !strings.Contains(fmt.Sprint(calls[0]), "lookup") {
		t.Errorf("tool calls: %v", done["tool_calls"])
	}
	if _, ok := done["duration_ms"]; !ok {
		t.Errorf("no latency: %v", done)
	}
	// Linked to the trace in the context (RFC-0020).
	if evs[0].TraceID != tr.TraceID || evs[1].TraceID != tr.TraceID || evs[1].ParentEventID != evs[0].ID {
		t.Errorf("trace: %s/%s, %s/%s parent %s", evs[0].TraceID, evs[0].ID, evs[1].TraceID, evs[1].ID, evs[1].ParentEventID)
	}
	// Priced: 1000 × $2/M + 500 × $8/M = $0.006.
	costs, err := e.oi.ListCosts(context.Background(), e.intent.ID)
	if err != nil || len(costs) != 1 || costs[0].Unit != "USD" || fmt.Sprintf("%.4f", costs[0].Amount) != "0.0060" {
		t.Errorf("costs: %+v, %v", costs, err)
	}
}

func TestStreamIsRecordedWhenItEnds(t *testing.T) {
	e := setup(t)
	ctx := openintent.ContextWithIntent(context.Background(), e.intent.ID)
	stream := e.llm.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-test",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	var text strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	stream.Close()
	if text.String() != "Hello" {
		t.Fatalf("the caller read %q", text.String())
	}
	evs := e.events(t, "llm_request_started", "stream_started", "stream_completed", "llm_request_completed")
	if len(evs) != 4 {
		t.Fatalf("events: %+v", evs)
	}
	done := evs[3].Payload
	if evs[0].Payload["stream"] != true || done["response_content"] != "Hello" || done["finish_reason"] != "stop" ||
		done["prompt_tokens"] != 9.0 || done["completion_tokens"] != 2.0 {
		t.Errorf("completed: %v", done)
	}
}

func TestFailureIsRecorded(t *testing.T) {
	e := setup(t)
	ctx := openintent.ContextWithIntent(context.Background(), e.intent.ID)
	_, err := e.llm.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fail",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("the caller's error changed: %v", err)
	}
	evs := e.events(t, "llm_request_failed")
	if len(evs) != 1 || !strings.Contains(evs[0].Payload["error"].(string), "HTTP 429: requests: Rate limit reached") {
		t.Fatalf("failed: %+v", evs)
	}
}

func TestCallsWithoutAnIntentAreNotRecorded(t *testing.T) {
	e := setup(t)
	if _, err := e.llm.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if evs := e.events(t, "llm_request_started"); len(evs) != 0 {
		t.Errorf("recorded: %+v", evs)
	}
}

// When the OpenIntent server is unreachable the call goes on, and the error handler hears why.
func TestRecordingNeverBreaksTheCall(t *testing.T) {
	oi, err := openintent.NewClient("http://127.0.0.1:1", openintent.WithAgentID("writer"), openintent.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	llm := openai.NewClient(option.WithBaseURL(fakeOpenAI(t).URL+"/v1"), option.WithAPIKey("sk-test"),
		openaiadapter.Option(oi, llmlog.WithErrorHandler(func(err error) { errs = append(errs, err) })))
	ctx := openintent.ContextWithIntent(context.Background(), "some-intent")
	if _, err := llm.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "llm_request_started") {
		t.Errorf("errors: %v", errs)
	}
}
