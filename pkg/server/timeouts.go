package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// DefaultBodyReadTimeout is the time a client has to send a request body when
// Config.BodyReadTimeout is zero.
const DefaultBodyReadTimeout = 30 * time.Second

// bodyTimeoutError is a request body not received in time.
type bodyTimeoutError struct{ limit time.Duration }

func (e *bodyTimeoutError) Error() string {
	return fmt.Sprintf("request body not received within %s", e.limit)
}

func (e *bodyTimeoutError) Timeout() bool { return true }
func (e *bodyTimeoutError) Unwrap() error { return os.ErrDeadlineExceeded }

// limitBodyTime gives a request's body d to arrive: it sets the connection's read deadline when
// the request has a body and clears it once the body has been read to its end (net/http clears
// it too when it starts its background read), so the deadline never reaches the rest of the
// request's life. A body that stalls fails to read with a *bodyTimeoutError, answered 408
// request_timeout (not the 422 "not valid JSON" a bare i/o timeout would get), and the
// connection is closed.
//
// Requests without a body get no deadline: for them net/http's background read, which watches
// for the client going away, is already running, and a deadline passing under it cancels the
// request's context (golang/go#70834), which would end an event stream.
//
// Zero d means DefaultBodyReadTimeout; negative d, or a connection that cannot set deadlines,
// leaves the body as it is.
func limitBodyTime(d time.Duration, next http.Handler) http.Handler {
	if d == 0 {
		d = DefaultBodyReadTimeout
	}
	if d < 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // e.g. a ResponseWriter that does not reach the connection
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, w: w, limit: d}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body read under the connection's read deadline.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	w     http.ResponseWriter
	limit time.Duration
	once  sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		// The whole body is in: lift the deadline before the server's background read (which
		// watches for the client going away) can trip on it.
		b.once.Do(func() { b.rc.SetReadDeadline(time.Time{}) })
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The rest of the request will not be read: the connection cannot serve another.
		b.w.Header().Set("Connection", "close")
		err = &bodyTimeoutError{limit: b.limit}
	}
	return n, err
}
