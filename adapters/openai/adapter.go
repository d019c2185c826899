// Package openaiadapter records the calls of the official OpenAI Go SDK
// (github.com/openai/openai-go) as RFC-0008 LLM events on an OpenIntent intent: add its option
// to the client, and every chat completion or response created with a context naming an intent
// (openintent.ContextWithIntent) is logged there, with its model, token usage, latency, finish
// reason, tool calls and text, or its error; streamed answers too, when the stream ends. Events
// join the trace the context carries (RFC-0020), and calls are costed (RFC-0009) when WithPrice
// knows the model's price.
//
//	oai := openai.NewClient(openaiadapter.Option(oiClient))
//	ctx = openintent.ContextWithIntent(ctx, intent.ID)
//	completion, err := oai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{...})
//
// The module is separate from the OpenIntent SDK so that the SDK does not depend on OpenAI's.
// Recording never breaks a call: if the OpenIntent server cannot be reached, the call goes on.
package openaiadapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/openai/openai-go/v3/option"

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
// openai.NewClient, or to one call.
func Option(client *openintent.Client, settings ...Setting) option.RequestOption {
	return option.WithMiddleware(Middleware(client, settings...))
}

// Provider reads OpenAI's API: chat completions, responses and (legacy) completions. Other
// requests (models, files, embeddings, ...) are not recorded.
type Provider struct{}

// Name is "openai".
func (Provider) Name() string { return "openai" }

type request struct {
	Model               string            `json:"model"`
	Messages            []json.RawMessage `json:"messages"`
	Input               json.RawMessage   `json:"input"`
	Prompt              json.RawMessage   `json:"prompt"`
	Stream              bool              `json:"stream"`
	Temperature         *float64          `json:"temperature"`
	MaxTokens           int               `json:"max_tokens"`
	MaxCompletionTokens int               `json:"max_completion_tokens"`
	MaxOutputTokens     int               `json:"max_output_tokens"`
	Tools               []struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// ParseRequest reads a POST to /chat/completions, /responses or /completions.
func (Provider) ParseRequest(r *http.Request, body []byte) (llmlog.Request, bool) {
	p := r.URL.Path
	if r.Method != http.MethodPost || !(strings.HasSuffix(p, "/chat/completions") || strings.HasSuffix(p, "/responses") || strings.HasSuffix(p, "/completions")) {
		return llmlog.Request{}, false
	}
	var q request
	if err := json.Unmarshal(body, &q); err != nil {
		return llmlog.Request{}, false
	}
	out := llmlog.Request{Model: q.Model, Stream: q.Stream, Temperature: q.Temperature,
		MaxTokens: max(q.MaxTokens, q.MaxCompletionTokens, q.MaxOutputTokens), Messages: len(q.Messages)}
	if out.Messages == 0 {
		var items []json.RawMessage
		switch {
		case json.Unmarshal(q.Input, &items) == nil:
			out.Messages = len(items)
		case len(q.Input) > 0 && string(q.Input) != "null", len(q.Prompt) > 0 && string(q.Prompt) != "null":
			out.Messages = 1 // a single string input or prompt
		}
	}
	for _, t := range q.Tools {
		switch {
		case t.Function.Name != "":
			out.Tools = append(out.Tools, t.Function.Name)
		case t.Name != "":
			out.Tools = append(out.Tools, t.Name)
		case t.Type != "":
			out.Tools = append(out.Tools, t.Type) // a built-in tool: web_search, file_search, ...
		}
	}
	return out, true
}

type toolCall struct {
	ID       string `json:"id"`
	Index    int    `json:"index"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
}

func (u *usage) tokens() (int64, int64) {
	if u == nil {
		return 0, 0
	}
	return u.PromptTokens + u.InputTokens, u.CompletionTokens + u.OutputTokens
}

type answer struct {
	Object  string `json:"object"`
	Choices []struct {
		Text    string `json:"text"`
		Message struct {
			Content   *string    `json:"content"`
			Refusal   *string    `json:"refusal"`
			ToolCalls []toolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	// The responses API.
	Status            string `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Output []struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		CallID  string `json:"call_id"`
		Args    string `json:"arguments"`
		Content []struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			Refusal string `json:"refusal"`
		} `json:"content"`
	} `json:"output"`
	Usage *usage `json:"usage"`
}

func (a *answer) response() llmlog.Response {
	var out llmlog.Response
	out.PromptTokens, out.CompletionTokens = a.Usage.tokens()
	if len(a.Choices) > 0 {
		c := a.Choices[0]
		out.FinishReason = c.FinishReason
		switch {
		case c.Message.Content != nil:
			out.Content = *c.Message.Content
		case c.Message.Refusal != nil:
			out.Content = *c.Message.Refusal
		default:
			out.Content = c.Text
		}
		for _, tc := range c.Message.ToolCalls {
			out.ToolCalls = append(out.ToolCalls, openintent.Object{"id": tc.ID, "type": "function",
				"function": openintent.Object{"name": tc.Function.Name, "arguments": tc.Function.Arguments}})
		}
		return out
	}
	var text strings.Builder
	for _, o := range a.Output {
		switch o.Type {
		case "message":
			for _, c := range o.Content {
				text.WriteString(c.Text + c.Refusal)
			}
		case "function_call":
			out.ToolCalls = append(out.ToolCalls, openintent.Object{"id": o.CallID, "type": "function",
				"function": openintent.Object{"name": o.Name, "arguments": o.Args}})
		}
	}
	out.Content = text.String()
	out.FinishReason = a.Status
	if a.IncompleteDetails != nil && a.IncompleteDetails.Reason != "" {
		out.FinishReason = a.IncompleteDetails.Reason
	}
	return out
}

// ParseResponse reads a chat completion, a response or a completion.
func (Provider) ParseResponse(body []byte) (llmlog.Response, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return llmlog.Response{}, err
	}
	return a.response(), nil
}

// ParseError reads OpenAI's error object: {"error": {"message", "type", "code"}}.
func (Provider) ParseError(status int, body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return strings.TrimSpace(string(body))
	}
	s := e.Error.Message
	if e.Error.Type != "" {
		s = e.Error.Type + ": " + s
	}
	if e.Error.Code != nil {
		s += fmt.Sprintf(" (code %v)", e.Error.Code)
	}
	return s
}

// NewStream reads a streamed chat completion (chunks, then [DONE]) or response (typed
// events, ending with response.completed).
func (Provider) NewStream() llmlog.Stream { return &stream{calls: map[int]*toolCall{}} }

type stream struct {
	text   strings.Builder
	finish string
	calls  map[int]*toolCall
	usage  usage
	chunks int64
	done   bool
	final  *answer // the responses API's completed response
}

func (s *stream) Event(name string, data []byte) error {
	if string(data) == "[DONE]" {
		s.done = true
		return nil
	}
	s.chunks++
	var ev struct {
		Type    string `json:"type"`
		Choices []struct {
			Delta struct {
				Content   string     `json:"content"`
				ToolCalls []toolCall `json:"tool_calls"`
			} `json:"delta"`
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage    *usage          `json:"usage"`
		Delta    string          `json:"delta"`
		Response json.RawMessage `json:"response"`
		Error    *struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil // not an event this reader knows; the client decides what it means
	}
	if ev.Error != nil && ev.Error.Message != "" {
		return errors.New(ev.Error.Message)
	}
	switch ev.Type {
	case "":
		for _, c := range ev.Choices {
			s.text.WriteString(c.Delta.Content + c.Text)
			if c.FinishReason != "" {
				s.finish = c.FinishReason
			}
			for _, tc := range c.Delta.ToolCalls {
				cur := s.calls[tc.Index]
				if cur == nil {
					cur = &toolCall{Index: tc.Index}
					s.calls[tc.Index] = cur
				}
				if tc.ID != "" {
					cur.ID = tc.ID
				}
				cur.Function.Name += tc.Function.Name
				cur.Function.Arguments += tc.Function.Arguments
			}
		}
		if ev.Usage != nil {
			s.usage = *ev.Usage
		}
	case "response.output_text.delta", "response.refusal.delta":
		s.text.WriteString(ev.Delta)
	case "response.completed", "response.incomplete":
		var a answer
		if json.Unmarshal(ev.Response, &a) == nil {
			s.final = &a
		}
		s.done = true
	case "response.failed":
		var a struct {
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(ev.Response, &a) == nil && a.Error != nil {
			return errors.New(a.Error.Message)
		}
		return errors.New("the response failed")
	case "error":
		return errors.New(ev.Message)
	}
	return nil
}

func (s *stream) Result() llmlog.Response {
	if s.final != nil {
		out := s.final.response()
		if out.Content == "" {
			out.Content = s.text.String()
		}
		out.Chunks = s.chunks
		return out
	}
	out := llmlog.Response{Content: s.text.String(), FinishReason: s.finish, Chunks: s.chunks}
	out.PromptTokens, out.CompletionTokens = s.usage.tokens()
	idx := make([]int, 0, len(s.calls))
	for i := range s.calls {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		tc := s.calls[i]
		out.ToolCalls = append(out.ToolCalls, openintent.Object{"id": tc.ID, "type": "function",
			"function": openintent.Object{"name": tc.Function.Name, "arguments": tc.Function.Arguments}})
	}
	return out
}

func (s *stream) Done() bool { return s.done }
