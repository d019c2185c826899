package openintent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Option configures a Client (when passed to NewClient) or a single call (when passed to a
// method, after the client's own options). An option with an invalid value makes NewClient or
// the call fail with an error naming the option, before anything is sent.
type Option func(*settings) error

// settings is what options configure; a copy is resolved for every call.
type settings struct {
	apiKey         string
	agentID        string
	httpClient     *http.Client
	timeout        time.Duration
	maxRetries     int
	retryBase      time.Duration
	retryMax       time.Duration
	logger         *slog.Logger
	userAgent      string
	header         http.Header
	idempotencyKey string
	traceID        string
	parentEventID  string
	lastEventID    string
	signer         *Ed25519Identity // WithEventSigner (identity.go)
	streamOpened   func()           // WithStreamOpened (streamhooks.go)
	streamReady    func()           // WithStreamReady (streamhooks.go)
	middleware     []Middleware     // WithMiddleware (middleware.go)
}

// Defaults of a new client.
const (
	// DefaultTimeout bounds each HTTP attempt (the Python SDK's 30 seconds).
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries is how many times a retryable request is retried.
	DefaultMaxRetries = 2
	// MaxRetriesLimit is the largest value WithMaxRetries accepts.
	MaxRetriesLimit = 10
)

func defaultSettings() settings {
	return settings{ // httpClient: NewClient gives the client its own unless WithHTTPClient
		timeout:    DefaultTimeout,
		maxRetries: DefaultMaxRetries,
		retryBase:  500 * time.Millisecond,
		retryMax:   8 * time.Second,
		logger:     slog.New(slog.DiscardHandler),
		userAgent:  "openintent-go/" + Version,
	}
}

// newTransport returns the transport of a client created without WithHTTPClient: its own, so
// that closing it (Client.Close) affects no other client. Agents issue many concurrent requests
// to one server, so it keeps more idle connections per host than http.DefaultTransport (2), which
// would otherwise open a new TCP connection for most requests under load.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}

// WithAPIKey sets the API key sent as X-API-Key. The key is never logged or put in an error.
// A server may bind a key to agents (the reference server's `KEY=AGENT` keys): the client can
// then act only as those agents, and a request naming another with WithAgentID fails with a
// *PermissionError whose code is agent_not_allowed.
func WithAPIKey(key string) Option {
	return func(s *settings) error {
		if key == "" {
			return invalidArg("WithAPIKey", "key", "key is empty")
		}
		if !validHeaderValue(key) {
			return invalidArg("WithAPIKey", "key", "key contains characters not allowed in an HTTP header")
		}
		s.apiKey = key
		return nil
	}
}

// WithAgentID sets the acting agent, sent as X-Agent-ID. It becomes the holder of leases, the
// actor of events and the default agent of AssignAgent. Without it, a key bound to agents acts
// as its first agent. Fields of a request that name the acting agent (an event's actor, a
// vault's owner, ...) must be this agent: the server refuses to let one agent act as another.
func WithAgentID(id string) Option {
	return func(s *settings) error {
		if err := checkAgentID(id); err != nil {
			return invalidArg("WithAgentID", "id", "%v", err)
		}
		s.agentID = id
		return nil
	}
}

// WithHTTPClient sets the HTTP client used to send requests. It stays the caller's: Client.Close
// leaves its connections alone. By default each client has its own transport keeping up to 64
// idle connections per host, closed by Client.Close.
func WithHTTPClient(c *http.Client) Option {
	return func(s *settings) error {
		if c == nil {
			return invalidArg("WithHTTPClient", "c", "client is nil")
		}
		s.httpClient = c
		return nil
	}
}

// WithTimeout bounds each HTTP attempt (default 30s). The call as a whole is bounded by its
// context.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return invalidArg("WithTimeout", "d", "timeout must be positive, got %v", d)
		}
		s.timeout = d
		return nil
	}
}

// WithMaxRetries sets how many times a retryable request is retried (0 disables retries; at most
// MaxRetriesLimit). Requests are retried on network errors, 429 and 502..504, and only when they
// are idempotent: GET, PUT and DELETE, or any request carrying an Idempotency-Key (the client
// adds one to every POST and PATCH it may retry). A 409 is never retried.
func WithMaxRetries(n int) Option {
	return func(s *settings) error {
		if n < 0 || n > MaxRetriesLimit {
			return invalidArg("WithMaxRetries", "n", "must be within 0..%d, got %d", MaxRetriesLimit, n)
		}
		s.maxRetries = n
		return nil
	}
}

// WithRetryBackoff sets the exponential backoff between retries: the first wait is about base,
// doubling up to max, with full jitter. A Retry-After header from the server takes precedence
// when it is longer; one over a minute is not waited out: the *RateLimitError is returned.
func WithRetryBackoff(base, max time.Duration) Option {
	return func(s *settings) error {
		if base <= 0 || max < base {
			return invalidArg("WithRetryBackoff", "base", "need 0 < base <= max, got base=%v max=%v", base, max)
		}
		s.retryBase, s.retryMax = base, max
		return nil
	}
}

// WithLogger logs every HTTP attempt at debug level (method, path, status, duration, attempt)
// and retries at info level. Headers, keys and bodies are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return invalidArg("WithLogger", "l", "logger is nil")
		}
		s.logger = l
		return nil
	}
}

// WithUserAgent replaces the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		if ua == "" || !validHeaderValue(ua) {
			return invalidArg("WithUserAgent", "ua", "invalid user agent %q", ua)
		}
		s.userAgent = ua
		return nil
	}
}

// reservedHeaders are set by the client itself and cannot be replaced through WithHeader.
var reservedHeaders = map[string]string{
	"X-Api-Key":       "WithAPIKey",
	"X-Agent-Id":      "WithAgentID",
	"Idempotency-Key": "WithIdempotencyKey",
	"User-Agent":      "WithUserAgent",
	"Content-Type":    "",
	"If-Match":        "",
}

// WithHeader adds a header to requests. Headers the client manages itself (X-API-Key,
// X-Agent-ID, Idempotency-Key, User-Agent, Content-Type, If-Match) are refused: use their own
// options or parameters.
func WithHeader(name, value string) Option {
	return func(s *settings) error {
		canon := http.CanonicalHeaderKey(name)
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return invalidArg("WithHeader", "name", "invalid header name %q", name)
		}
		if alt, ok := reservedHeaders[canon]; ok {
			if alt != "" {
				return invalidArg("WithHeader", "name", "%s is managed by the client; use %s", canon, alt)
			}
			return invalidArg("WithHeader", "name", "%s is managed by the client", canon)
		}
		if !validHeaderValue(value) {
			return invalidArg("WithHeader", "value", "value of %s contains characters not allowed in an HTTP header", canon)
		}
		h := s.header.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Add(canon, value)
		s.header = h
		return nil
	}
}

// WithIdempotencyKey sets the Idempotency-Key of a POST or PATCH (per call). Without it the
// client generates a random key for every such request it may retry, so a retry after a dropped
// connection is recognised by the server as the same request.
func WithIdempotencyKey(key string) Option {
	return func(s *settings) error {
		if key == "" || len(key) > 255 || !validHeaderValue(key) {
			return invalidArg("WithIdempotencyKey", "key", "key must be 1..255 printable characters")
		}
		s.idempotencyKey = key
		return nil
	}
}

// WithTrace sets the [RFC-0020] trace_id and parent_event_id of the events a call appends (per
// call): in the body of LogEvent and the LLM/tool-call logging methods, in the X-Trace-ID and
// X-Parent-Event-ID headers of any other write (see trace.go). Either may be empty. Without it
// the trace in ctx (ContextWithTrace) is used.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
func WithTrace(traceID, parentEventID string) Option {
	return func(s *settings) error {
		s.traceID, s.parentEventID = traceID, parentEventID
		return nil
	}
}

func checkAgentID(id string) error {
	if id == "" {
		return errors.New("agent id is empty")
	}
	if len(id) > 200 {
		return fmt.Errorf("agent id is %d bytes long; at most 200 allowed", len(id))
	}
	for _, r := range id {
		if r < 0x20 || r > 0x7e {
			return errors.New("agent id must be printable ASCII")
		}
	}
	return nil
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
