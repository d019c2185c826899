package openintent

import (
	"github.com/openintent-go/openintent/gen/client"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	ID    string
	Event string
	Data  []byte
}

// maxSSELine bounds one line of a stream (an event's JSON).
const maxSSELine = 8 << 20

// sseReader parses a text/event-stream (the WHATWG format): `field: value` lines, events ending
// at a blank line, comments starting with ':', multi-line data joined with newlines.
type sseReader struct {
	r      *bufio.Reader
	lastID string
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReaderSize(r, 64<<10)} }

// next returns the next event, or an error (io.EOF at a clean end of stream).
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data bytes.Buffer
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !hasData {
				ev = sseEvent{}
				continue
			}
			ev.Data = bytes.TrimSuffix(data.Bytes(), []byte("\n"))
			if ev.ID == "" {
				ev.ID = s.lastID
			}
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID, s.lastID = value, value
			}
		}
	}
}

// readLine reads a line ending in \n, \r\n or \r, without its end.
func (s *sseReader) readLine() (string, error) {
	var b strings.Builder
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		switch c {
		case '\n':
			return b.String(), nil
		case '\r':
			if next, err := s.r.Peek(1); err == nil && next[0] == '\n' {
				s.r.ReadByte()
			}
			return b.String(), nil
		}
		if b.Len() >= maxSSELine {
			return "", fmt.Errorf("event stream line longer than %d bytes", maxSSELine)
		}
		b.WriteByte(c)
	}
}

// WithLastEventID makes a stream start after the event with this id (a previous event's
// Sequence), replaying what came since; "0" replays the whole log. Without it a stream starts
// with the next new event.
func WithLastEventID(id string) Option {
	return func(s *settings) error {
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			return invalidArg("WithLastEventID", "id", "%q is not an event id", id)
		}
		s.lastEventID = id
		return nil
	}
}

// StreamIntentEvents streams the intent's events as they are appended (server-sent events). It
// reconnects after a dropped connection with Last-Event-ID, so no event is lost or repeated, and
// ends when ctx ends (yielding ctx's error) or the server refuses the stream (yielding the
// error). WithLastEventID replays from a known point. The reference server's frames (the whole
// intent as data, and other shapes) are decoded into events too (see decodeFrame); a frame that
// is no event is yielded as an error, and the stream goes on if the loop does.
func (c *Client) StreamIntentEvents(ctx context.Context, intentID string, opts ...Option) iter.Seq2[IntentEvent, error] {
	return c.stream(ctx, "StreamIntentEvents", "intentID", intentID, func(s string) (*http.Request, error) {
		return client.NewStreamIntentEventsRequest(s, intentID, nil)
	}, intentStreamKind, opts)
}

// StreamAgentEvents streams events written by the agent or naming it (assignments, leases), as
// StreamIntentEvents does for an intent.
func (c *Client) StreamAgentEvents(ctx context.Context, agentID string, opts ...Option) iter.Seq2[IntentEvent, error] {
	return c.stream(ctx, "StreamAgentEvents", "agentID", agentID, func(s string) (*http.Request, error) {
		return client.NewStreamAgentEventsRequest(s, agentID, nil)
	}, agentStreamKind, opts)
}

// StreamPortfolioEvents streams the events of a portfolio's member intents (membership is read
// again as it changes), as StreamIntentEvents does for one intent.
func (c *Client) StreamPortfolioEvents(ctx context.Context, portfolioID string, opts ...Option) iter.Seq2[IntentEvent, error] {
	return c.stream(ctx, "StreamPortfolioEvents", "portfolioID", portfolioID, func(s string) (*http.Request, error) {
		return client.NewStreamPortfolioEventsRequest(s, portfolioID, nil)
	}, portfolioStreamKind, opts)
}

func (c *Client) stream(ctx context.Context, method, name, id string, b builder, kind streamKind, opts []Option) iter.Seq2[IntentEvent, error] {
	return func(yield func(IntentEvent, error) bool) {
		tmpl, path, err := c.streamRequest(b)
		yield = namedYield(method, path, yield) // errors name method and path (errorsop.go)
		if err == nil {
			err = requireID(method, name, id)
		}
		if err != nil {
			yield(IntentEvent{}, err)
			return
		}
		s, err := c.resolve(opts)
		if err != nil {
			yield(IntentEvent{}, err)
			return
		}
		last := s.lastEventID
		followStream(ctx, &s, "event stream", path, &last, func() (bool, error) {
			return c.streamOnce(ctx, &s, tmpl, path, kind, id, &last, yield)
		}, isPermanent, yield)
	}
}

// followStream reads a stream connection after connection (once reads one, resuming from
// *last) until the consumer stops, ctx ends or once ends with an error final says is final
// (each yielded). A stream the server ended with a `reconnect` frame resumes at once (the next
// connection reaches another server behind the same address); failed connections back off,
// and 20 in a row without a value end the stream.
func followStream[T any](ctx context.Context, s *settings, what, path string, last *string, once func() (bool, error), final func(error) bool, yield func(T, error) bool) {
	var zero T
	failures := 0
	for {
		got, err := once()
		if got {
			failures = 0
		}
		switch {
		case errors.Is(err, errStopped):
			return
		case ctx.Err() != nil:
			yield(zero, ctx.Err())
			return
		case final(err):
			yield(zero, err)
			return
		}
		wait := drainingReconnectWait
		if !errors.Is(err, errServerDraining) {
			if failures >= 20 {
				yield(zero, fmt.Errorf("giving up after %d reconnections: %w", failures, err))
				return
			}
			wait = backoff(*s, failures)
			failures++
			s.logger.InfoContext(ctx, "openintent: reconnecting "+what, "path", path, "last_event_id", *last, "wait", wait, "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			yield(zero, ctx.Err())
			return
		case <-t.C:
		}
	}
}

// errStopped reports that the consumer stopped the iteration.
var errStopped = errors.New("stream stopped by the consumer")

// errServerDraining reports a stream the server ended with a `reconnect` frame (it is shutting
// down); drainingReconnectWait is the pause before resuming, the server's retry hint.
var errServerDraining = errors.New("openintent: the server ended the stream: reconnect")

const drainingReconnectWait = 100 * time.Millisecond

// streamRequest builds a stream's request (b is a generated builder, builders.go) and returns it
// with its path, which errors and logs name.
func (c *Client) streamRequest(b builder) (*http.Request, string, error) {
	r := request{build: b}
	tmpl, _, err := c.built(&r)
	return tmpl, r.path, err
}

// openStream opens one connection of the stream tmpl (at path), resuming after last (when set):
// the caller closes the body of the answer, which is a 200 (any other status is a typed error).
// The stream's ready hooks run once the server accepted it (streamhooks.go).
func (c *Client) openStream(ctx context.Context, s *settings, tmpl *http.Request, path, last string) (*http.Response, error) {
	req := tmpl.Clone(ctx)
	for k, v := range s.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set("Cache-Control", "no-cache")
	if s.apiKey != "" {
		req.Header.Set("X-API-Key", s.apiKey)
	}
	if s.agentID != "" {
		req.Header.Set("X-Agent-ID", s.agentID)
	}
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := s.send(req) // middleware and traceparent (middleware.go)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, newAPIError(http.MethodGet, path, resp, body).typed()
	}
	s.streamLive() // the server now delivers everything written from here (streamhooks.go)
	return resp, nil
}

// readFrames reads one connection of a stream, handing each frame to handle, until the
// connection ends: it remembers the last id (the server opens a stream with the id it starts
// after, so a reconnection resumes from there even before the first frame arrives), turns an EOF
// into io.ErrUnexpectedEOF (a server ends a stream only with a frame saying why), and answers the
// frames every stream has, `reconnect` (the server is draining) and `error`. handle says whether
// it delivered the frame and returns an error to end the connection; readFrames reports whether
// any frame was delivered and why the connection ended.
func (c *Client) readFrames(ctx context.Context, s *settings, tmpl *http.Request, path, what string, last *string, handle func(sseEvent) (bool, error)) (bool, error) {
	resp, err := c.openStream(ctx, s, tmpl, path, *last)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	r := newSSEReader(resp.Body)
	got := false
	for {
		ev, err := r.next()
		if r.lastID != "" {
			*last = r.lastID
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
		switch ev.Event {
		case "reconnect":
			return got, errServerDraining
		case "error":
			var body struct {
				Detail string `json:"detail"`
			}
			_ = json.Unmarshal(ev.Data, &body)
			// The caller lost access (the next connection is refused) or the server failed.
			return got, fmt.Errorf("openintent: %s error: %s", what, body.Detail)
		}
		delivered, err := handle(ev)
		got = got || delivered
		if err != nil {
			return got, err
		}
	}
}

// streamOnce reads one connection of an event stream, yielding its events (decodeFrame).
func (c *Client) streamOnce(ctx context.Context, s *settings, tmpl *http.Request, path string, kind streamKind, id string, last *string, yield func(IntentEvent, error) bool) (bool, error) {
	return c.readFrames(ctx, s, tmpl, path, "event stream", last, func(ev sseEvent) (bool, error) {
		out, err := decodeFrame(ev.Event, ev.Data, kind, id)
		if err != nil {
			// A frame that is no event: say so, and go on if the consumer does.
			if !yield(IntentEvent{}, err) {
				return false, errStopped
			}
			return false, nil
		}
		if !yield(out, nil) {
			return true, errStopped
		}
		return true, nil
	})
}
