package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// DefaultStreamHeartbeat is how often an idle event stream sends a `: ping` comment.
const DefaultStreamHeartbeat = 15 * time.Second

// streamPage bounds how many events one read of the log sends.
const streamPage = 500

// streams serves the server-sent event routes. Streams read the event log itself, from the
// client's Last-Event-ID on, and are woken by the store when events are committed: a slow reader
// falls behind but never loses an event, and a reconnecting one resumes exactly where it left.
type streams struct {
	store     *store.Store
	log       *slog.Logger
	heartbeat time.Duration
	access    *accessControl
	drain     *drainer
	tel       *telemetry // the open-streams gauge (telemetry.go)
}

// reconnectFrame ends a stream when the server shuts down: the client resumes elsewhere with
// Last-Event-ID (the SDK's streams do so at once).
const reconnectFrame = "retry: 100\nevent: reconnect\ndata: {\"detail\":\"This server is shutting down; reconnect with Last-Event-ID\"}\n\n"

type streamKind int

const (
	intentStream streamKind = iota + 1
	agentStream
	portfolioStream
	channelStream // a channel's messages (channels.go)
)

// streamRoutes maps the stream patterns of the spec to their kind; both the server paths and
// the reference client's paths are served.
var streamRoutes = map[string]streamKind{
	"GET /api/v1/subscribe/intents/{intent_id}": intentStream,
	"GET /api/v1/intents/{intent_id}/subscribe": intentStream,
	"GET /api/v1/subscribe/agents/{agent_id}":   agentStream,
	"GET /api/v1/agents/{agent_id}/subscribe":   agentStream,

	"GET /api/v1/subscribe/portfolios/{portfolio_id}": portfolioStream,
	"GET /api/v1/portfolios/{portfolio_id}/subscribe": portfolioStream,

	"GET /api/v1/subscribe/channels/{channel_id}": channelStream,
}

// pathParam returns the value of the first {param} of pattern in r's path.
func pathParam(pattern string, r *http.Request) string {
	pp := strings.Split(strings.TrimPrefix(pattern, "GET "), "/")
	rp := strings.Split(r.URL.EscapedPath(), "/")
	for i, seg := range pp {
		if strings.HasPrefix(seg, "{") && i < len(rp) {
			v, err := url.PathUnescape(rp[i])
			if err != nil {
				return rp[i]
			}
			return v
		}
	}
	return ""
}

func (s *streams) serve(w http.ResponseWriter, r *http.Request, kind streamKind, pattern string) {
	if kind == channelStream {
		s.serveChannel(w, r, pattern)
		return
	}
	ctx := r.Context()
	id := pathParam(pattern, r)
	filter := store.StreamFilter{Limit: streamPage}
	watchKey := store.AnyIntent
	switch kind {
	case intentStream:
		ok, err := s.store.IntentExists(ctx, id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if !ok {
			writeError(w, r, s.log, &apiError{status: http.StatusNotFound, code: "not_found", detail: "Intent not found"})
			return
		}
		filter.IntentIDs, watchKey = []string{id}, id
	case agentStream:
		filter.Agent = id
	case portfolioStream:
		if _, err := s.store.GetRecord(ctx, kindPortfolio, id); err != nil {
			writeError(w, r, s.log, err)
			return
		}
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		seq, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || seq < 0 {
			e := badRequest("invalid_last_event_id", "Last-Event-ID must be an event id received from this stream")
			e.fields = []models.FieldError{{Field: "Last-Event-ID", Message: "must be a non-negative integer"}}
			writeError(w, r, s.log, e)
			return
		}
		filter.AfterSeq = seq
	} else {
		last, err := s.store.LastSeq(ctx)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		filter.AfterSeq = last
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	defer s.tel.streamOpened(kind)()
	// The opening id tells the client where this stream starts, so that a reconnection before
	// the first event resumes from here.
	if err := s.write(w, rc, fmt.Sprintf("retry: 1000\nid: %d\n\n", filter.AfterSeq)); err != nil {
		return
	}
	opened, sent, why := time.Now(), 0, "client gone"
	s.log.InfoContext(ctx, "stream opened", "path", r.URL.Path, "agent_id", agentFrom(ctx), "after", filter.AfterSeq, "request_id", requestIDFrom(ctx))
	defer func() {
		s.log.InfoContext(ctx, "stream closed", "path", r.URL.Path, "agent_id", agentFrom(ctx), "events", sent, "reason", why,
			"duration", time.Since(opened), "request_id", requestIDFrom(ctx))
	}()
	ping := time.NewTicker(s.heartbeat)
	defer ping.Stop()
	agent := agentFrom(ctx)
	// A portfolio stream starts from the portfolio's members now and follows its membership
	// events from there.
	var members map[string]bool
	if kind == portfolioStream {
		var err error
		if members, err = portfolioMemberSet(ctx, s.store, id); err != nil {
			s.log.ErrorContext(ctx, "stream: read portfolio members", "error", err, "request_id", requestIDFrom(ctx))
			return
		}
	}
	for {
		woken := s.store.Watch(watchKey)
		events, err := s.store.EventsAfter(ctx, filter)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "stream: read events", "error", err, "request_id", requestIDFrom(ctx))
				s.write(w, rc, "event: error\ndata: {\"detail\":\"Internal error reading the event log; reconnect with Last-Event-ID\"}\n\n")
			}
			return
		}
		var b strings.Builder
		readable := map[string]bool{}
		for _, ev := range events {
			filter.AfterSeq = ev.Sequence
			if kind == portfolioStream && !inPortfolio(ev, id, members) {
				continue
			}
			ok, known := readable[ev.IntentID]
			if !known {
				if ok, err = s.access.allows(ctx, ev.IntentID, agent, models.PermissionRead); err != nil {
					s.log.ErrorContext(ctx, "stream: check access", "error", err, "request_id", requestIDFrom(ctx))
					return
				}
				readable[ev.IntentID] = ok
			}
			if !ok {
				continue // an intent whose ACL is closed to the caller
			}
			data, err := json.Marshal(ev)
			if err != nil {
				s.log.ErrorContext(ctx, "stream: encode event", "error", err)
				return
			}
			fmt.Fprintf(&b, "id: %d\nevent: %s\ndata: %s\n\n", ev.Sequence, eventName(string(ev.EventType)), data)
			sent++
		}
		if b.Len() > 0 {
			if err := s.write(w, rc, b.String()); err != nil {
				return
			}
		}
		if len(events) == streamPage {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.drain.done():
			why = "server shutting down"
			s.write(w, rc, reconnectFrame)
			return
		case <-woken:
		case <-ping.C:
			if err := s.write(w, rc, ": ping\n\n"); err != nil {
				return
			}
		}
	}
}

// inPortfolio reports whether a portfolio stream shows ev (its members' events, its own
// membership events), and keeps members up to date with the membership events it passes, so
// that an intent's removed_from_portfolio event reaches the stream and its later events do not.
func inPortfolio(ev models.IntentEvent, portfolioID string, members map[string]bool) bool {
	if !isMembershipEvent(ev, portfolioID) {
		return members[ev.IntentID]
	}
	if models.EventType(ev.EventType) == models.EventTypeAddedToPortfolio {
		members[ev.IntentID] = true
	} else {
		delete(members, ev.IntentID)
	}
	return true
}

// isMembershipEvent reports whether ev adds its intent to the portfolio or removes it.
func isMembershipEvent(ev models.IntentEvent, portfolioID string) bool {
	pid, _ := ev.Payload["portfolio_id"].(string)
	t := models.EventType(ev.EventType)
	return pid == portfolioID && (t == models.EventTypeAddedToPortfolio || t == models.EventTypeRemovedFromPortfolio)
}

// write sends text and flushes it, giving up on a client that does not read for 30 seconds.
func (s *streams) write(w http.ResponseWriter, rc *http.ResponseController, text string) error {
	if err := rc.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.Write([]byte(text)); err != nil {
		return err
	}
	return rc.Flush()
}

// eventName makes an event type safe for the `event:` line.
func eventName(t string) string {
	if strings.ContainsAny(t, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(t)
	}
	return t
}
