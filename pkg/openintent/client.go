package openintent

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Version is the SDK's version, sent in the default User-Agent.
const Version = "0.1.0"

// maxResponseBytes bounds how much of a response body the client reads.
const maxResponseBytes = 64 << 20

// Client talks to an OpenIntent server. It is safe for concurrent use by multiple goroutines.
type Client struct {
	base     *url.URL
	server   string // base with a trailing slash: the generated builders' server URL
	settings settings
	owned    *http.Transport // the client's own transport, without WithHTTPClient (Close)
}

// NewClient returns a client of the server at baseURL (for example "http://localhost:8000"; a
// trailing "/api/v1" is accepted and dropped). Options are validated: an invalid one is an error.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalidArg("NewClient", "baseURL", "base URL %q must be an absolute http(s) URL", baseURL)
	}
	if u.User != nil {
		return nil, invalidArg("NewClient", "baseURL", "base URL must not carry credentials; use WithAPIKey")
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v1")
	u.RawQuery, u.Fragment = "", ""
	s := defaultSettings()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	c := clientAt(u, s)
	if c.settings.httpClient == nil {
		c.owned = newTransport()
		c.settings.httpClient = &http.Client{Transport: c.owned}
		ownedTransports.Store(c.owned, struct{}{})
		// An unreachable client's idle connections close with it, not IdleConnTimeout later.
		runtime.AddCleanup(c, func(t *http.Transport) {
			ownedTransports.Delete(t)
			t.CloseIdleConnections()
		}, c.owned)
	}
	return c, nil
}

// clientAt returns a client of the server at base with settings s (without a transport of its own).
func clientAt(base *url.URL, s settings) *Client {
	return &Client{base: base, server: strings.TrimSuffix(base.String(), "/") + "/", settings: s}
}

// AgentID returns the agent the client acts as ("" when none was set).
func (c *Client) AgentID() string { return c.settings.agentID }

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Close closes the idle connections of the client's own transport (the Python SDK's close). It
// affects only this client: every client created without WithHTTPClient has its own transport,
// and an HTTP client given with WithHTTPClient is the caller's to close, so Close leaves it
// alone. Requests in flight and open streams go on; a client used after Close opens new
// connections.
func (c *Client) Close() error {
	if c.owned != nil {
		c.owned.CloseIdleConnections()
	}
	return nil
}

// ownedTransports holds the transports of the clients created without WithHTTPClient that are
// still reachable (CloseIdleConnections).
var ownedTransports sync.Map // *http.Transport -> struct{}

// CloseIdleConnections closes the idle connections of every client created without
// WithHTTPClient, as if each were closed (Client.Close): for a program or test that wants no
// connection left open without tracking its clients.
func CloseIdleConnections() {
	ownedTransports.Range(func(k, _ any) bool {
		k.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// resolve applies per-call options on a copy of the client's settings.
func (c *Client) resolve(opts []Option) (settings, error) {
	s := c.settings
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// request describes one API call.
type request struct {
	build builder // the generated client's request builder (builders.go)
	query any     // a generated ...Params struct, encoded by encodeQuery, or nil
	out   any     // decoded from a 2xx body when non-nil (a *json.RawMessage keeps it raw)

	// Set from the built request: the HTTP method and the path below the base URL, e.g.
	// "/api/v1/intents", which errors and logs name.
	method, path string
}

// built builds req's request and reads what do needs from it: the method, the path (for errors
// and logs), the URL with the query, the body and its content type.
func (c *Client) built(req *request) (*http.Request, []byte, error) {
	hreq, err := req.build(c.server)
	if err != nil {
		return nil, nil, &requestError{method: req.method, path: req.path, err: fmt.Errorf("build request: %w", err)}
	}
	req.method = hreq.Method
	req.path = strings.TrimPrefix(hreq.URL.EscapedPath(), c.base.EscapedPath())
	if req.query != nil {
		q, err := encodeQuery(req.query)
		if err != nil {
			return nil, nil, invalidArg("", "params", "%v", err)
		}
		hreq.URL.RawQuery = q
	}
	var body []byte
	if hreq.Body != nil {
		if n := hreq.ContentLength; n > 0 { // the builders' bytes.Reader: one allocation
			body = make([]byte, n)
			_, err = io.ReadFull(hreq.Body, body)
		} else {
			body, err = io.ReadAll(hreq.Body)
		}
		hreq.Body.Close()
		if err != nil {
			return nil, nil, &requestError{method: req.method, path: req.path, err: fmt.Errorf("encode request: %w", err)}
		}
		if len(body) == 0 {
			body = nil
		}
	}
	hreq.Body, hreq.GetBody, hreq.ContentLength = nil, nil, 0
	return hreq, body, nil
}

// do sends req with retries and decodes the result; a non-2xx answer becomes a typed error.
// Every error names the SDK method (errorsop.go), the HTTP method and the path.
func (c *Client) do(ctx context.Context, req request, opts []Option) (err error) {
	defer func() {
		if err != nil {
			nameOp(err)
		}
	}()
	s, err := c.resolve(opts)
	if err != nil {
		return err
	}
	tmpl, body, err := c.built(&req)
	if err != nil {
		return err
	}
	idemKey := s.idempotencyKey
	idempotent := req.method == http.MethodGet || req.method == http.MethodPut ||
		req.method == http.MethodDelete || req.method == http.MethodHead
	if !idempotent && idemKey == "" && s.maxRetries > 0 {
		idemKey = newIdempotencyKey()
	}
	retryable := idempotent || idemKey != ""

	for attempt := 0; ; attempt++ {
		resp, respBody, err := c.attempt(ctx, &s, req, tmpl, body, idemKey, attempt)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return &requestError{method: req.method, path: req.path, err: ctx.Err()}
			}
			if !retryable || attempt >= s.maxRetries || !retryableNetError(err) {
				return &requestError{method: req.method, path: req.path, err: err}
			}
			wait = backoff(s, attempt)
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if req.out == nil || len(bytes.TrimSpace(respBody)) == 0 {
				return nil
			}
			if raw, ok := req.out.(*json.RawMessage); ok {
				*raw = append((*raw)[:0], respBody...)
				return nil
			}
			if d, ok := req.out.(bodyDecoder); ok {
				err = d.decodeBody(respBody)
			} else {
				err = json.Unmarshal(respBody, req.out)
			}
			if err != nil {
				return &requestError{method: req.method, path: req.path, err: fmt.Errorf("decode %d response: %w", resp.StatusCode, err)}
			}
			return nil
		default:
			apiErr := newAPIError(req.method, req.path, resp, respBody)
			// A server asking for a wait longer than maxRetryAfter (a tool's hourly limit, say) is
			// answered at once rather than by blocking the caller.
			if !retryable || attempt >= s.maxRetries || !retryableStatus(resp.StatusCode) || apiErr.RetryAfter > maxRetryAfter {
				return apiErr.typed()
			}
			wait = max(backoff(s, attempt), apiErr.RetryAfter)
		}
		s.logger.InfoContext(ctx, "openintent: retrying request", "method", req.method, "path", req.path,
			"attempt", attempt+1, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &requestError{method: req.method, path: req.path, err: ctx.Err()}
		case <-t.C:
		}
	}
}

// attempt sends one HTTP request, a copy of tmpl with body, and reads the whole response.
func (c *Client) attempt(ctx context.Context, s *settings, req request, tmpl *http.Request, body []byte, idemKey string, attempt int) (*http.Response, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	hreq := tmpl.WithContext(actx) // tmpl is this call's own
	if attempt > 0 {
		// An abandoned attempt's transport may still read its header: a retry gets a copy.
		hreq.Header = tmpl.Header.Clone()
	}
	if body != nil {
		hreq.Body = io.NopCloser(bytes.NewReader(body))
		hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		hreq.ContentLength = int64(len(body))
	}
	for k, v := range s.header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", s.userAgent)
	if s.apiKey != "" {
		hreq.Header.Set("X-API-Key", s.apiKey)
	}
	if s.agentID != "" {
		hreq.Header.Set("X-Agent-ID", s.agentID)
	}
	if idemKey != "" {
		hreq.Header.Set("Idempotency-Key", idemKey)
	}
	setTraceHeaders(ctx, s, req.method, hreq.Header) // RFC-0020 (trace.go)
	start := time.Now()
	resp, err := s.send(hreq) // middleware and traceparent (middleware.go)
	if err != nil {
		s.logger.DebugContext(ctx, "openintent: request failed", "method", req.method, "path", req.path,
			"attempt", attempt, "duration", time.Since(start), "error", err)
		return nil, nil, err
	}
	defer resp.Body.Close()
	respBody, err := readBody(resp)
	if s.logger.Enabled(ctx, slog.LevelDebug) { // spares building the attributes
		s.logger.DebugContext(ctx, "openintent: request", "method", req.method, "path", req.path,
			"status", resp.StatusCode, "attempt", attempt, "duration", time.Since(start),
			"request_id", resp.Header.Get("X-Request-ID"))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	return resp, respBody, nil
}

// maxRetryAfter is the longest Retry-After the client waits out by itself.
const maxRetryAfter = time.Minute

// retryableStatus reports whether a status is worth retrying: 429 and 502..504.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// retryableNetError reports whether a transport error may succeed on retry (anything but a
// malformed request: connection refused/reset, EOF, per-attempt timeouts).
func retryableNetError(err error) bool {
	var uerr *url.Error
	if errors.As(err, &uerr) && (strings.Contains(uerr.Err.Error(), "unsupported protocol") ||
		strings.Contains(uerr.Err.Error(), "stopped after")) {
		return false
	}
	return true
}

// backoff returns the wait before retry number attempt+1: full jitter over an exponential cap.
func backoff(s settings, attempt int) time.Duration {
	ceil := s.retryBase << min(attempt, 20)
	if ceil > s.retryMax || ceil <= 0 {
		ceil = s.retryMax
	}
	return ceil/2 + rand.N(ceil/2+1)
}

// newIdempotencyKey returns a random UUIDv4-shaped key.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// readBody reads a response body of at most maxResponseBytes, in one allocation when the
// server sent its length (net/http never delivers more than that).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxResponseBytes {
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
}
