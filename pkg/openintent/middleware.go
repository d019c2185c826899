package openintent

import (
	"errors"
	"net/http"
)

// MiddlewareNext sends a request on: to the next middleware, or, after the last, to the HTTP
// client.
type MiddlewareNext func(req *http.Request) (*http.Response, error)

// Middleware runs around each HTTP attempt the client makes: every try of a call (a retried call
// passes through it once per attempt) and every connection of a stream. It may read and change
// the request (headers, context) before calling next, and read or replace the response or error
// after; it must return either a response or an error. It sees the request as sent, with its
// X-API-Key header: do not log the key. For a stream, the response's body is the live stream:
// read it only through what the client returns.
//
//	timing := func(req *http.Request, next openintent.MiddlewareNext) (*http.Response, error) {
//		start := time.Now()
//		resp, err := next(req)
//		log.Printf("%s %s took %v", req.Method, req.URL.Path, time.Since(start))
//		return resp, err
//	}
//	client, err := openintent.NewClient(url, openintent.WithMiddleware(timing))
type Middleware func(req *http.Request, next MiddlewareNext) (*http.Response, error)

// WithMiddleware adds middleware around every HTTP attempt, given to NewClient or to a single
// call. They compose in order: the first given is the outermost, and a call's middleware runs
// inside the client's. The example of package openintent's OpenTelemetry tracing shows a
// middleware starting a span per attempt and propagating it.
func WithMiddleware(mw ...Middleware) Option {
	return func(s *settings) error {
		for i, m := range mw {
			if m == nil {
				return invalidArg("WithMiddleware", "mw", "middleware %d is nil", i)
			}
		}
		// A fresh slice: the client's settings are copied for every call and must not share it.
		all := make([]Middleware, 0, len(s.middleware)+len(mw))
		s.middleware = append(append(all, s.middleware...), mw...)
		return nil
	}
}

// errNoResponse reports a middleware that returned neither a response nor an error.
var errNoResponse = errors.New("middleware returned no response and no error")

// send sends one HTTP attempt: it adds the W3C traceparent of the [RFC-0020] trace (traceparent.go)
// and runs the request through the middleware to the HTTP client.
//
// [RFC-0020]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0020-distributed-tracing.md
func (s *settings) send(req *http.Request) (*http.Response, error) {
	setTraceparent(req, s)
	if len(s.middleware) == 0 {
		return s.httpClient.Do(req)
	}
	next := MiddlewareNext(s.httpClient.Do)
	for i := len(s.middleware) - 1; i >= 0; i-- {
		m, inner := s.middleware[i], next
		next = func(r *http.Request) (*http.Response, error) { return m(r, inner) }
	}
	resp, err := next(req)
	if resp == nil && err == nil {
		return nil, errNoResponse
	}
	return resp, err
}
