// Package anthropicadapter records the calls of Anthropic's official Go SDK
// (github.com/anthropics/anthropic-sdk-go) as RFC-0008 LLM events on an OpenIntent intent: add
// its option to the client, and every message created with a context naming an intent
// (openintent.ContextWithIntent) is logged there, with its model, token usage, latency, stop
// reason, tool uses and text, or its error; streamed messages too, when the stream ends. Events
// join the trace the context carries (RFC-0020), and calls are costed (RFC-0009) when WithPrice
// knows the model's price.
//
//	claude := anthropic.NewClient(anthropicadapter.Option(oiClient))
//	ctx = openintent.ContextWithIntent(ctx, intent.ID)
//	msg, err := claude.Messages.New(ctx, anthropic.MessageNewParams{...})
//
// The module is separate from the OpenIntent SDK so that the SDK does not depend on
// Anthropic's. Recording never breaks a call: if the OpenIntent server cannot be reached, the
// call goes on.
package anthropicadapter

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/openintent-go/openintent/pkg/llmlog"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// Setting configures the adapter: llmlog.WithProviderName, llmlog.WithPrice,
// llmlog.WithMaxContent, llmlog.WithErrorHandler.
type Setting = llmlog.Setting

// Middleware returns the recording middleware, for option.WithMiddleware.
func Middleware(client *openintent.Client, settings ...Setting) option.Middleware {
	return llmlog.Middleware(llmlog.Config{Client: client, Provider: Provider{}}.Apply(settings...))
}

// Option is option.WithMiddleware(Middleware(client, settings...)): give it to
// anthropic.NewClient, or to one call.
func Option(client *openintent.Client, settings ...Setting) option.RequestOption {
	return option.WithMiddleware(Middleware(client, settings...))
}

// Provider reads Anthropic's Messages API. Other requests (token counting, batches, models,
// files) are not recorded.
type Provider struct{}

// Name is "anthropic".
func (Provider) Name() string { return "anthropic" }

type request struct {
	Model       string            `json:"model"`
	Messages    []json.RawMessage `json:"messages"`
	Stream      bool              `json:"stream"`
	Temperature *float64          `json:"temperature"`
	MaxTokens   int               `json:"max_tokens"`
	Tools       []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"tools"`
}

// ParseRequest reads a POST to /v1/messages.
func (Provider) ParseRequest(r *http.Request, body []byte) (llmlog.Request, bool) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/messages") {
		return llmlog.Request{}, false
	}
	var q request
	if err := json.Unmarshal(body, &q); err != nil {
		return llmlog.Request{}, false
	}
	out := llmlog.Request{Model: q.Model, Messages: len(q.Messages), Stream: q.Stream, Temperature: q.Temperature, MaxTokens: q.MaxTokens}
	for _, t := range q.Tools {
		if t.Name != "" {
			out.Tools = append(out.Tools, t.Name)
		} else if t.Type != "" {
			out.Tools = append(out.Tools, t.Type)
		}
	}
	return out, true
}

type block struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// prompt counts every input token, cached or not.
func (u usage) prompt() int64 {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

type message struct {
	Content    []block `json:"content"`
	StopReason string  `json:"stop_reason"`
	Usage      usage   `json:"usage"`
}

func toolUse(b block) openintent.Object {
	var input any
	if len(b.Input) > 0 {
		_ = json.Unmarshal(b.Input, &input)
	}
	return openintent.Object{"id": b.ID, "type": "tool_use", "name": b.Name, "input": input}
}

// ParseResponse reads a message.
func (Provider) ParseResponse(body []byte) (llmlog.Response, error) {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return llmlog.Response{}, err
	}
	out := llmlog.Response{FinishReason: m.StopReason, PromptTokens: m.Usage.prompt(), CompletionTokens: m.Usage.OutputTokens}
	var text strings.Builder
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use", "server_tool_use":
			out.ToolCalls = append(out.ToolCalls, toolUse(b))
		}
	}
	out.Content = text.String()
	return out, nil
}

// ParseError reads Anthropic's error object: {"type": "error", "error": {"type", "message"}}.
func (Provider) ParseError(status int, body []byte) string {
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return strings.TrimSpace(string(body))
	}
	if e.Error.Type != "" {
		return e.Error.Type + ": " + e.Error.Message
	}
	return e.Error.Message
}

// NewStream reads a streamed message: message_start, content blocks and their deltas,
// message_delta (stop reason, output tokens), message_stop; or an error event.
func (Provider) NewStream() llmlog.Stream { return &stream{blocks: map[int64]*streamBlock{}} }

type streamBlock struct {
	block
	json strings.Builder
}

type stream struct {
	text   strings.Builder
	blocks map[int64]*streamBlock
	stop   string
	usage  usage
	chunks int64
	done   bool
}

func (s *stream) Event(name string, data []byte) error {
	s.chunks++
	var ev struct {
		Type    string `json:"type"`
		Index   int64  `json:"index"`
		Message struct {
			Usage usage `json:"usage"`
		} `json:"message"`
		ContentBlock block `json:"content_block"`
		Delta        struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			PartialJSON string `json:"partial_json"`
			StopReason  string `json:"stop_reason"`
		} `json:"delta"`
		Usage *usage `json:"usage"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil
	}
	switch ev.Type {
	case "message_start":
		s.usage = ev.Message.Usage
	case "content_block_start":
		s.blocks[ev.Index] = &streamBlock{block: ev.ContentBlock}
		s.text.WriteString(ev.ContentBlock.Text)
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			s.text.WriteString(ev.Delta.Text)
		case "input_json_delta":
			if b := s.blocks[ev.Index]; b != nil {
				b.json.WriteString(ev.Delta.PartialJSON)
			}
		}
	case "message_delta":
		if ev.Delta.StopReason != "" {
			s.stop = ev.Delta.StopReason
		}
		if ev.Usage != nil {
			s.usage.OutputTokens = ev.Usage.OutputTokens
			if ev.Usage.InputTokens > 0 {
				s.usage.InputTokens = ev.Usage.InputTokens
			}
		}
	case "message_stop":
		s.done = true
	case "error":
		msg := ev.Error.Message
		if ev.Error.Type != "" {
			msg = ev.Error.Type + ": " + msg
		}
		return errors.New(msg)
	}
	return nil
}

func (s *stream) Result() llmlog.Response {
	out := llmlog.Response{Content: s.text.String(), FinishReason: s.stop, PromptTokens: s.usage.prompt(),
		CompletionTokens: s.usage.OutputTokens, Chunks: s.chunks}
	idx := make([]int64, 0, len(s.blocks))
	for i := range s.blocks {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	for _, i := range idx {
		b := s.blocks[i]
		if b.Type != "tool_use" && b.Type != "server_tool_use" {
			continue
		}
		if b.json.Len() > 0 {
			b.Input = json.RawMessage(b.json.String())
		}
		out.ToolCalls = append(out.ToolCalls, toolUse(b.block))
	}
	return out
}

func (s *stream) Done() bool { return s.done }
