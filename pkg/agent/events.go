package agent

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Event types the runtime reacts to that the SDK has no constant for.
const (
	eventApprovalGranted  = "governance.approval_granted"
	eventApprovalDenied   = "governance.approval_denied"
	eventApprovalRequest  = "governance.approval_requested"
	eventChannelMessage   = "channel_message"
	eventEscalation       = "escalation_initiated"
	eventAccessRequested  = "access_requested"
	eventTaskCreated      = "task.created"
	eventTaskStatusChange = "task.status_changed"
)

// watch follows the events of an intent or a portfolio.
type watch struct {
	key       string
	id        string
	portfolio bool
	cancel    context.CancelFunc
}

// startWatch follows an intent's (or a portfolio's) events after the event after (-1: from when
// the stream opens) and dispatches them to the handlers, until the intent ends, the agent is
// unassigned from it or the agent stops. opened, when not nil, is called when the stream opens.
func (a *Agent) startWatch(id string, portfolio bool, after int64, opened func()) {
	key := "intent:" + id
	if portfolio {
		key = "portfolio:" + id
	}
	a.mu.Lock()
	if _, ok := a.watches[key]; ok || a.streamCtx == nil {
		a.mu.Unlock()
		if opened != nil {
			opened()
		}
		return
	}
	ctx, cancel := context.WithCancel(a.streamCtx)
	wt := &watch{key: key, id: id, portfolio: portfolio, cancel: cancel}
	a.watches[key] = wt
	a.streamWG.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.streamWG.Done()
		defer a.endWatch(wt)
		if !portfolio {
			// An intent that has ended (an old assignment replayed, say) has nothing more to say.
			if in, err := a.client.GetIntent(ctx, id); err == nil && terminal(in.Status) {
				if opened != nil {
					opened()
				}
				return
			}
			if len(a.cfg.message) > 0 {
				a.followChannels(ctx, id)
			}
			if a.cfg.taskWork != nil {
				a.scanTasks(ctx, id)
			}
		}
		open := func(ctx context.Context, opts ...openintent.Option) iter.Seq2[openintent.IntentEvent, error] {
			if portfolio {
				return a.client.StreamPortfolioEvents(ctx, id, opts...)
			}
			return a.client.StreamIntentEvents(ctx, id, opts...)
		}
		a.follow(ctx, key, open, after, opened, func(ev openintent.IntentEvent) bool {
			a.onIntentEvent(ctx, ev)
			return !portfolio && ev.IntentID == id && terminalEvent(ev)
		})
	}()
}

func (a *Agent) endWatch(wt *watch) {
	wt.cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watches[wt.key] == wt {
		delete(a.watches, wt.key)
	}
	if !wt.portfolio && len(a.cfg.watchPortfolios) == 0 {
		delete(a.seen, wt.id)
	}
}

// stopWatch stops following an intent.
func (a *Agent) stopWatch(intentID string) {
	a.mu.Lock()
	wt := a.watches["intent:"+intentID]
	a.mu.Unlock()
	if wt != nil {
		wt.cancel()
	}
}

// occurrence is an event being dispatched; it reads the intent once for all its handlers.
type occurrence struct {
	ev   openintent.IntentEvent
	once sync.Once
	in   *openintent.Intent
	err  error
}

func (o *occurrence) intent(ctx context.Context, c *openintent.Client) (*openintent.Intent, error) {
	o.once.Do(func() { o.in, o.err = c.GetIntent(ctx, o.ev.IntentID) })
	return o.in, o.err
}

// notify calls a handler for an event, in a slot of MaxConcurrency; its error is logged.
func (a *Agent) notify(ctx context.Context, ev openintent.IntentEvent, o *occurrence, fn func(ctx context.Context, w *Work) error) {
	if o == nil {
		o = &occurrence{ev: ev}
	}
	if !a.acquire(ctx) {
		return
	}
	in, err := o.intent(ctx, a.client)
	if err != nil {
		a.release()
		if ctx.Err() == nil {
			a.log.Warn("agent: read intent for a handler", "intent_id", ev.IntentID, "event_type", ev.EventType, "error", err)
		}
		return
	}
	w := a.newWork(in, ev, nil)
	w.holding = true // given up while the handler waits (Work.RequestInput, Channel.Ask)
	defer w.releaseSlot()
	if err := callSafely(func() error { return fn(w.traced(ctx), w) }); err != nil {
		a.log.Error("agent: handler failed", "intent_id", ev.IntentID, "event_type", ev.EventType, "error", err)
	}
}

// onIntentEvent dispatches an event of an intent the agent follows to its handlers, once even
// when several streams carry it (each carries an intent's events in order).
func (a *Agent) onIntentEvent(ctx context.Context, ev openintent.IntentEvent) {
	if ev.Sequence > 0 {
		a.mu.Lock()
		if ev.Sequence <= a.seen[ev.IntentID] {
			a.mu.Unlock()
			return
		}
		a.seen[ev.IntentID] = ev.Sequence
		a.mu.Unlock()
	}
	o := &occurrence{ev: ev}
	for _, h := range a.cfg.events[string(ev.EventType)] {
		a.notify(ctx, ev, o, h)
	}
	p := ev.Payload
	switch ev.EventType {
	case openintent.EventStatusChanged:
		st := eventStatus(ev)
		if st == openintent.StatusCompleted {
			for _, h := range a.cfg.complete {
				a.notify(ctx, ev, o, h)
			}
		}
		if terminal(st) && ev.Actor != a.id {
			a.cancelJobs(ev.IntentID, ErrIntentEnded)
		}
	case openintent.EventStatePatched:
		keys := patchedKeys(p)
		for _, sh := range a.cfg.stateChange {
			if len(sh.keys) == 0 || slices.ContainsFunc(sh.keys, func(k string) bool { return slices.Contains(keys, k) }) {
				a.notify(ctx, ev, o, sh.fn)
			}
		}
	case openintent.EventLeaseReleased:
		scope := str(p["scope"])
		if ev.Actor == a.id {
			return // its own lease: it just worked under it
		}
		for _, lw := range a.cfg.leaseAvailable {
			if lw.name == scope {
				a.startJob(ev.IntentID, scope, ev, lw.fn)
			}
		}
	case eventTaskCreated, eventTaskStatusChange:
		a.onTaskEvent(ctx, ev, o)
	case openintent.EventIntentSuspended, openintent.EventIntentSuspensionExpired:
		hs := a.cfg.inputRequested
		if ev.EventType == openintent.EventIntentSuspensionExpired {
			hs = a.cfg.suspensionExpired
		}
		if len(hs) == 0 {
			return
		}
		rec := suspensionFromPayload(p)
		for _, h := range hs {
			a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error { return h(ctx, w, rec) })
		}
	case openintent.EventIntentResumed:
		if len(a.cfg.inputReceived) == 0 {
			return
		}
		answer := openintent.InputResponse{SuspensionID: str(p["suspension_id"]), Value: p["value"], Resolution: "responded",
			RespondedBy: str(p["responded_by"])}
		if t, err := time.Parse(time.RFC3339Nano, str(p["responded_at"])); err == nil {
			answer.RespondedAt = t
		}
		for _, h := range a.cfg.inputReceived {
			a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error { return h(ctx, w, answer) })
		}
	case eventEscalation:
		if len(a.cfg.escalation) == 0 {
			return
		}
		e, err := a.findEscalation(ctx, ev.IntentID, str(p["escalation_id"]))
		if err != nil {
			a.log.Warn("agent: read escalation", "intent_id", ev.IntentID, "error", err)
			return
		}
		for _, h := range a.cfg.escalation {
			a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error { return h(ctx, w, *e) })
		}
	case eventApprovalGranted, eventApprovalDenied:
		hs := a.cfg.approvalGranted
		if ev.EventType == eventApprovalDenied {
			hs = a.cfg.approvalDenied
		}
		if len(hs) == 0 {
			return
		}
		ap, err := a.client.GetApprovalRequest(ctx, ev.IntentID, str(p["approval_id"]))
		if err != nil {
			a.log.Warn("agent: read approval request", "intent_id", ev.IntentID, "error", err)
			return
		}
		for _, h := range hs {
			a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error { return h(ctx, w, *ap) })
		}
	case eventAccessRequested:
		a.onAccessRequested(ctx, ev, o)
	case eventChannelMessage:
		// An audited channel's message reveals the channel.
		if len(a.cfg.message) > 0 && str(p["channel_id"]) != "" {
			a.followChannel(openintent.Channel{ID: str(p["channel_id"]), IntentID: ev.IntentID, Name: str(p["channel_name"])})
		}
	}
}

// patchedKeys returns the top-level state keys a state_patched event changed.
func patchedKeys(p openintent.Object) []string {
	var keys []string
	patches, _ := p["patches"].([]any)
	for _, raw := range patches {
		patch, _ := raw.(map[string]any)
		path := strings.TrimPrefix(str(patch["path"]), "/")
		first, _, _ := strings.Cut(path, "/")
		first = strings.ReplaceAll(strings.ReplaceAll(first, "~1", "/"), "~0", "~")
		if first != "" && !slices.Contains(keys, first) {
			keys = append(keys, first)
		}
	}
	if s, ok := p["state"].(map[string]any); ok { // servers that log the merged keys
		for k := range s {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// suspensionFromPayload reads the suspension an intent.suspended or intent.suspension_expired
// event describes.
func suspensionFromPayload(p openintent.Object) openintent.SuspensionRecord {
	var rec openintent.SuspensionRecord
	if raw, err := json.Marshal(p); err == nil {
		_ = json.Unmarshal(raw, &rec)
	}
	if rec.ID == "" {
		rec.ID = str(p["suspension_id"])
	}
	return rec
}

func (a *Agent) findEscalation(ctx context.Context, intentID, id string) (*openintent.Escalation, error) {
	es, err := a.client.ListEscalations(ctx, openintent.ListEscalationsParams{IntentID: intentID})
	if err != nil {
		return nil, err
	}
	for i := range es {
		if es[i].ID == id {
			return &es[i], nil
		}
	}
	return nil, errors.New("agent: escalation " + id + " not found")
}

// onAccessRequested asks the OnAccessRequested handlers to decide, the first decision winning.
func (a *Agent) onAccessRequested(ctx context.Context, ev openintent.IntentEvent, o *occurrence) {
	if len(a.cfg.accessRequested) == 0 {
		return
	}
	reqs, err := a.client.ListAccessRequests(ctx, ev.IntentID)
	if err != nil {
		a.log.Warn("agent: read access requests", "intent_id", ev.IntentID, "error", err)
		return
	}
	i := slices.IndexFunc(reqs, func(r openintent.AccessRequest) bool { return r.ID == str(ev.Payload["request_id"]) })
	if i < 0 {
		return
	}
	req := reqs[i]
	for _, h := range a.cfg.accessRequested {
		var d AccessDecision
		a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error {
			var err error
			d, err = h(ctx, w, req)
			if err != nil {
				return err
			}
			switch d {
			case Approve:
				_, err = a.client.ApproveAccessRequest(ctx, ev.IntentID, req.ID, openintent.AccessRequestDecision{Reason: "approved by " + a.id})
			case Deny:
				_, err = a.client.DenyAccessRequest(ctx, ev.IntentID, req.ID, openintent.AccessRequestDecision{Reason: "denied by " + a.id})
			}
			return err
		})
		if d != Defer {
			return
		}
	}
}

// followChannels follows the messages of the intent's channels the OnMessage handlers name.
func (a *Agent) followChannels(ctx context.Context, intentID string) {
	chs, err := a.client.ListChannels(ctx, intentID)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("agent: list channels", "intent_id", intentID, "error", err)
		}
		return
	}
	for _, ch := range chs {
		a.followChannel(ch)
	}
}

// followChannel follows a channel's messages (from its first) when an OnMessage handler names
// it, once.
func (a *Agent) followChannel(ch openintent.Channel) {
	if !slices.ContainsFunc(a.cfg.message, func(h messageHandler) bool { return h.channel == "" || h.channel == ch.Name }) {
		return
	}
	a.mu.Lock()
	if a.followed[ch.ID] || a.streamCtx == nil || a.streamCtx.Err() != nil {
		a.mu.Unlock()
		return
	}
	a.followed[ch.ID] = true
	ctx := a.streamCtx
	a.streamWG.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.streamWG.Done()
		defer func() {
			a.mu.Lock()
			delete(a.followed, ch.ID)
			a.mu.Unlock()
		}()
		for m, err := range a.client.StreamChannelMessages(ctx, ch.ID, openintent.StreamChannelParams{After: "0"}) {
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, openintent.ErrChannelClosed) {
					a.log.Warn("agent: channel stream", "channel_id", ch.ID, "error", err)
				}
				return
			}
			a.onMessage(ctx, ch, m)
		}
	}()
}

// onMessage calls the OnMessage handlers for a message addressed to the agent.
func (a *Agent) onMessage(ctx context.Context, ch openintent.Channel, m openintent.ChannelMessage) {
	if m.Sender == a.id || m.MessageType == openintent.MessageResponse {
		return
	}
	to := ""
	if m.To != nil {
		to = *m.To
	}
	direct := to == a.id
	if !direct && to != "" && to != "*" {
		return
	}
	if direct && (m.Status == openintent.MessageRead || m.Status == openintent.MessageReplied) {
		return // handled before
	}
	ev := openintent.IntentEvent{ID: m.ID, IntentID: ch.IntentID, EventType: eventChannelMessage, Actor: m.Sender,
		Payload: openintent.Object{"channel_id": ch.ID, "channel_name": ch.Name, "message_id": m.ID}}
	if md := m.Metadata; md != nil {
		ev.TraceID, _ = md["trace_id"].(string)
	}
	o := &occurrence{ev: ev}
	answered := false
	for _, h := range a.cfg.message {
		if h.channel != "" && h.channel != ch.Name {
			continue
		}
		a.notify(ctx, ev, o, func(ctx context.Context, w *Work) error {
			out, err := h.fn(ctx, w, m)
			if err != nil || out == nil || answered || m.MessageType != openintent.MessageRequest {
				return err
			}
			answered = true
			_, err = a.client.ReplyTo(ctx, ch.ID, m.ID, openintent.ChannelReply{Payload: out})
			return err
		})
	}
	if direct && !answered {
		if _, err := a.client.MarkRead(ctx, ch.ID, m.ID); err != nil && ctx.Err() == nil {
			a.log.Warn("agent: mark read", "channel_id", ch.ID, "message_id", m.ID, "error", err)
		}
	}
}
