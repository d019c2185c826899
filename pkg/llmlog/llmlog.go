// Package llmlog records the HTTP calls an LLM client makes as RFC-0008 events on an intent:
// llm_request_started when a request leaves, llm_request_completed (model, tokens, latency,
// finish reason, tool calls, response text) or llm_request_failed (the provider's error) when
// it ends, stream_started and stream_completed around a streamed answer, and the call's cost
// (RFC-0009) when its price is known. Events join the trace in the request's context
// (openintent.ContextWithTrace, RFC-0020), and the intent is the one the context names
// (openintent.ContextWithIntent); requests made without one are not recorded.
//
// The package is the engine of the LLM adapters, which are separate modules so that the SDK
// keeps its small dependency set: github.com/openintent-go/openintent/adapters/openai (the
// official OpenAI Go SDK) and .../adapters/anthropic (Anthropic's). Each supplies a Provider that
// reads its API's JSON; Middleware has the signature both SDKs' option.WithMiddleware take.
// Recording never breaks a call: when the OpenIntent server cannot be reached, the call goes on
// and Config.OnError hears about it.
package llmlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// Request is what a Provider reads from a request's body.
type Request struct {
	// Model is the model asked for.
	Model string
	// Messages counts the messages (or input items) sent.
	Messages int
	// Tools are the names of the tools offered to the model.
	Tools []string
	// Stream says the answer is streamed.
	Stream bool
	// Temperature is the sampling temperature, when set.
	Temperature *float64
	// MaxTokens limits the answer (0: unset).
	MaxTokens int
}

// Response is what a Provider reads from an answer (or a whole stream).
type Response struct {
	// Content is the answer's text.
	Content string
	// FinishReason is why the model stopped.
	FinishReason string
	// ToolCalls are the tool calls the model made.
	ToolCalls []openintent.Object
	// PromptTokens and CompletionTokens are the usage the provider reported.
	PromptTokens, CompletionTokens int64
	// Chunks counts the events of a streamed answer.
	Chunks int64
}

// Provider reads one provider's API.
type Provider interface {
	// Name is the provider's name in events ("openai", "anthropic").
	Name() string
	// ParseRequest reads a request; ok is false for requests that are no model call (listing
	// models, uploading files), which are passed through unrecorded.
	ParseRequest(r *http.Request, body []byte) (req Request, ok bool)
	// ParseResponse reads a successful, unstreamed answer.
	ParseResponse(body []byte) (Response, error)
	// ParseError reads an error answer's message.
	ParseError(status int, body []byte) string
	// NewStream returns a reader of a streamed answer's server-sent events.
	NewStream() Stream
}

// Stream reads a streamed answer's events one by one.
type Stream interface {
	// Event takes one server-sent event; a non-nil error is an error the stream reported.
	Event(name string, data []byte) error
	// Result is what the stream said so far.
	Result() Response
	// Done reports whether the stream said it is complete (a client may close it then without
	// reading to its end).
	Done() bool
}

// PriceFunc returns the cost in US dollars of a call to model with this usage, and whether it
// is known.
type PriceFunc func(model string, promptTokens, completionTokens int64) (usd float64, ok bool)

// Price is a model's price per million tokens, for PerMillionTokens.
type Price struct {
	// Input and Output are US dollars per million prompt and completion tokens.
	Input, Output float64
}

// PerMillionTokens returns a PriceFunc reading prices from a table keyed by model name; a model
// whose name starts with a key (and no longer key matches) takes that key's price, so that
// "gpt-4o" prices "gpt-4o-2024-08-06".
func PerMillionTokens(prices map[string]Price) PriceFunc {
	return func(model string, in, out int64) (float64, bool) {
		best, found := "", false
		for k := range prices {
			if strings.HasPrefix(model, k) && len(k) >= len(best) {
				best, found = k, true
			}
		}
		if !found {
			return 0, false
		}
		p := prices[best]
		return (float64(in)*p.Input + float64(out)*p.Output) / 1e6, true
	}
}

// Config configures Middleware.
type Config struct {
	// Client records the events (required).
	Client *openintent.Client
	// Provider reads the API (required).
	Provider Provider
	// ProviderName overrides the provider's name in events (e.g. "azure-openai" for an
	// OpenAI-compatible endpoint).
	ProviderName string
	// Price prices calls; each priced call is recorded as a cost (unit USD). Unpriced calls
	// record no cost.
	Price PriceFunc
	// MaxContent caps the response text kept in events (default 4000 characters; negative:
	// record none).
	MaxContent int
	// OnError hears about events that could not be recorded (default: a warning through
	// slog.Default). The call itself is never affected.
	OnError func(error)
}

// A Setting changes a Config: the LLM adapters (adapters/openai, adapters/anthropic) take these
// for their options.
type Setting func(*Config)

// WithProviderName names the provider in events instead of the provider's own name, for
// compatible endpoints (Azure OpenAI, OpenRouter, a local server).
func WithProviderName(name string) Setting { return func(c *Config) { c.ProviderName = name } }

// WithPrice prices calls, each priced call recorded as a cost in US dollars.
func WithPrice(f PriceFunc) Setting { return func(c *Config) { c.Price = f } }

// WithMaxContent caps the response text kept in events (4000 characters by default; negative:
// keep none).
func WithMaxContent(n int) Setting { return func(c *Config) { c.MaxContent = n } }

// WithErrorHandler hears about events that could not be recorded.
func WithErrorHandler(f func(error)) Setting { return func(c *Config) { c.OnError = f } }

// Apply applies settings to cfg, in order, and returns it.
func (cfg Config) Apply(settings ...Setting) Config {
	for _, s := range settings {
		if s != nil {
			s(&cfg)
		}
	}
	return cfg
}

// Middleware returns an HTTP middleware that records every model call made through it on the
// intent its context names. It has the type of the official OpenAI and Anthropic Go SDKs'
// option.Middleware.
func Middleware(cfg Config) func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	if cfg.MaxContent == 0 {
		cfg.MaxContent = 4000
	}
	if cfg.OnError == nil {
		cfg.OnError = func(err error) { slog.Default().Warn("llmlog: recording an LLM call failed", "error", err) }
	}
	return func(r *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		intentID := openintent.IntentFromContext(r.Context())
		if intentID == "" || cfg.Client == nil || cfg.Provider == nil || r.Body == nil {
			return next(r)
		}
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req, ok := cfg.Provider.ParseRequest(r, body)
		if !ok {
			return next(r)
		}
		rec := cfg.start(r.Context(), intentID, req)
		resp, err := next(r)
		if rec == nil {
			return resp, err
		}
		if err != nil {
			rec.fail(err.Error())
			return resp, err
		}
		if resp.StatusCode >= 400 {
			data, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(data))
			if rerr != nil {
				rec.fail(fmt.Sprintf("HTTP %d: %v", resp.StatusCode, rerr))
				return resp, nil
			}
			rec.fail(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, cfg.Provider.ParseError(resp.StatusCode, data)))
			return resp, nil
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			rec.streamStarted()
			resp.Body = &streamBody{rc: resp.Body, rec: rec, stream: cfg.Provider.NewStream()}
			return resp, nil
		}
		data, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if rerr != nil {
			rec.fail("reading the answer: " + rerr.Error())
			return resp, nil
		}
		out, perr := cfg.Provider.ParseResponse(data)
		if perr != nil {
			rec.fail("unreadable answer: " + perr.Error())
			return resp, nil
		}
		rec.complete(out)
		return resp, nil
	}
}

// recording is one call being recorded.
type recording struct {
	cfg      *Config
	ctx      context.Context
	intentID string
	req      Request
	llm      *openintent.LLMRequest
	provider string
	once     sync.Once
	streamed bool
	id       string
	model    string
}

func (cfg *Config) start(ctx context.Context, intentID string, req Request) *recording {
	provider := cfg.ProviderName
	if provider == "" {
		provider = cfg.Provider.Name()
	}
	model := req.Model
	if model == "" {
		model = "unknown"
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	p := openintent.LLMRequestPayload{RequestID: "llm-" + hex.EncodeToString(id[:]), Provider: provider, Model: model, MessagesCount: int32(req.Messages),
		ToolsAvailable: req.Tools, Stream: req.Stream, Temperature: req.Temperature, MaxTokens: int32(req.MaxTokens)}
	// Recording outlives the request's context: a stream is read after the call returns.
	ctx = context.WithoutCancel(ctx)
	llm, err := cfg.Client.StartLLMRequest(ctx, intentID, p)
	if err != nil {
		cfg.OnError(fmt.Errorf("llm_request_started: %w", err))
		return nil
	}
	return &recording{cfg: cfg, ctx: ctx, intentID: intentID, req: req, llm: llm, provider: provider, id: p.RequestID, model: model}
}

func (r *recording) requestID() string { return r.id }

func (r *recording) streamStarted() {
	r.streamed = true
	if _, err := r.cfg.Client.StartStream(r.llm.Context(r.ctx), r.intentID, r.requestID(), r.provider, r.model); err != nil {
		r.cfg.OnError(fmt.Errorf("stream_started: %w", err))
	}
}

func (r *recording) fail(msg string) {
	r.once.Do(func() {
		if r.streamed {
			if _, err := r.cfg.Client.CancelStream(r.llm.Context(r.ctx), r.intentID, r.requestID(), r.provider,
				r.model, msg, 0, 0); err != nil {
				r.cfg.OnError(fmt.Errorf("stream_cancelled: %w", err))
			}
		}
		if _, err := r.llm.Fail(r.ctx, errors.New(msg)); err != nil {
			r.cfg.OnError(fmt.Errorf("llm_request_failed: %w", err))
		}
	})
}

func (r *recording) complete(out Response) {
	r.once.Do(func() {
		content := out.Content
		if r.cfg.MaxContent < 0 {
			content = ""
		} else if len([]rune(content)) > r.cfg.MaxContent {
			content = string([]rune(content)[:r.cfg.MaxContent])
		}
		model := r.model
		if r.streamed {
			if _, err := r.cfg.Client.CompleteStream(r.llm.Context(r.ctx), r.intentID, r.requestID(), r.provider, model,
				out.Chunks, out.CompletionTokens); err != nil {
				r.cfg.OnError(fmt.Errorf("stream_completed: %w", err))
			}
		}
		if _, err := r.llm.Complete(r.ctx, openintent.LLMResult{ResponseContent: content, ToolCalls: out.ToolCalls,
			FinishReason: out.FinishReason, PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens}); err != nil {
			r.cfg.OnError(fmt.Errorf("llm_request_completed: %w", err))
		}
		if r.cfg.Price == nil {
			return
		}
		if out.PromptTokens == 0 && out.CompletionTokens == 0 {
			return // no usage reported: nothing to price
		}
		usd, ok := r.cfg.Price(model, out.PromptTokens, out.CompletionTokens)
		if !ok {
			return
		}
		if _, err := r.cfg.Client.RecordCost(r.llm.Context(r.ctx), r.intentID, openintent.CostCreate{CostType: models.CostTypeTokens,
			Amount: usd, Unit: "USD", Provider: r.provider, Metadata: openintent.Object{"model": model, "request_id": r.requestID(),
				"prompt_tokens": out.PromptTokens, "completion_tokens": out.CompletionTokens}}); err != nil {
			r.cfg.OnError(fmt.Errorf("cost: %w", err))
		}
	})
}

// streamBody reads a streamed answer through to the caller, parsing its events on the way, and
// records the call when the stream ends (completed), breaks or is closed early (failed).
type streamBody struct {
	rc     io.ReadCloser
	rec    *recording
	stream Stream
	buf    bytes.Buffer // bytes of the event being read
	err    error        // an error the stream reported
	ended  bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.buf.Write(p[:n])
		b.drain(false)
	}
	if err == io.EOF {
		b.drain(true)
		if b.stream.Done() {
			b.end(nil)
		} else {
			b.end(errors.New("the stream ended before the provider said it was complete"))
		}
	} else if err != nil {
		b.end(err)
	}
	return n, err
}

func (b *streamBody) Close() error {
	b.drain(true)
	if b.stream.Done() {
		b.end(nil)
	} else {
		b.end(errors.New("the stream was closed before it ended"))
	}
	return b.rc.Close()
}

// drain parses every complete event in the buffer (and the rest at the end of the stream).
func (b *streamBody) drain(final bool) {
	for {
		data := b.buf.Bytes()
		i := bytes.Index(data, []byte("\n\n"))
		j := bytes.Index(data, []byte("\r\n\r\n"))
		end, sep := i, 2
		if j >= 0 && (i < 0 || j < i) {
			end, sep = j, 4
		}
		if end < 0 {
			if final && len(bytes.TrimSpace(data)) > 0 {
				b.event(data)
				b.buf.Reset()
			}
			return
		}
		b.event(data[:end])
		b.buf.Next(end + sep)
	}
}

func (b *streamBody) event(raw []byte) {
	var name string
	var data bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if data.Len() == 0 {
		return
	}
	if err := b.stream.Event(name, data.Bytes()); err != nil && b.err == nil {
		b.err = err
	}
}

func (b *streamBody) end(readErr error) {
	if b.ended {
		return
	}
	b.ended = true
	switch {
	case b.err != nil:
		b.rec.fail(b.err.Error())
	case readErr != nil:
		b.rec.fail(readErr.Error())
	default:
		b.rec.complete(b.stream.Result())
	}
}
