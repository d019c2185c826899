package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Channels and their messages (RFC-0021). A channel is a record whose parent is its intent (its
// key makes its name unique within the intent); a message is a record whose parent is its
// channel. A channel's access is its intent's (authz.go resolves channel ids to their intent);
// an `explicit` channel narrows it to its creator and members. Every write to a channel or its
// messages wakes the channel's topic (channelTopic), which wakes its streams on every replica
// (store.WatchTopic).

// Record kinds of RFC-0021.
const (
	kindChannel        = "channel"
	kindChannelMessage = "channel_message"
)

// Defaults and bounds of channels.
const (
	defaultMaxMessages  = 1000
	maxChannelListLimit = 1000
)

// storedChannel is a channel as stored: its wire form and what the server keeps beside it.
type storedChannel struct {
	models.Channel
	// Retained counts the messages held now (MessageCount counts every message ever sent).
	Retained int64 `json:"retained"`
	// Changes counts the status changes of the channel's messages (read, replied), and Changed
	// names the messages of the newest of them (at most recentChanges, oldest first: Changed[i]
	// is change number Changes-len(Changed)+1+i), so that a stream finds the messages whose
	// status changed since it last looked without reading them all.
	Changes int64    `json:"changes,omitempty"`
	Changed []string `json:"changed_ids,omitempty"`
}

// recentChanges bounds storedChannel.Changed: enough for a stream that keeps up, small as every
// write to the channel rewrites it.
const recentChanges = 8

// storedMessage is a message as stored: its wire form and its place in its channel.
type storedMessage struct {
	models.ChannelMessage
	// Seq numbers a channel's messages from 1 in the order they were sent: the cursor of lists
	// and streams.
	Seq int64 `json:"seq"`
	// Change is the channel's Changes at the message's last status change (0: none).
	Change int64 `json:"change,omitempty"`
}

// channelTopic is the store topic (store.WatchTopic) that every write to a channel or its
// messages wakes.
func channelTopic(channelID string) string { return "channel/" + channelID }

// noteChange counts a status change of message messageID on c and returns its number.
func noteChange(c *storedChannel, messageID string) int64 {
	c.Changes++
	c.Changed = append(c.Changed, messageID)
	if n := len(c.Changed) - recentChanges; n > 0 {
		c.Changed = slices.Delete(c.Changed, 0, n)
	}
	return c.Changes
}

// statusChange notes, in w, that the status of message m of its channel changed: it counts the
// change on the channel and stamps m with it. The caller stores m.
func statusChange(w *store.Writer, m *storedMessage) error {
	_, err := store.Modify(w, kindChannel, m.ChannelID, 0, func(c *storedChannel, _ *store.Record) error {
		m.Change = noteChange(c, m.ID)
		return nil
	})
	return err
}

// channelKey makes a channel's name unique within its intent.
func channelKey(intentID, name string) string {
	return fmt.Sprintf("%d:%s/%s", len(intentID), intentID, name)
}

// resolvedIntent reports whether an intent status ends its channels (RFC-0021 §7.1).
func resolvedIntent(s models.IntentStatus) bool {
	return s == models.IntentStatusCompleted || s == models.IntentStatusAbandoned
}

// channelView is the channel as served at now: a channel that is open as stored reads closed
// once its intent is resolved or its time to live ran out (closed_at says when).
func channelView(c models.Channel, in *models.Intent, now time.Time) models.Channel {
	if c.Status != models.ChannelStatusOpen {
		return c
	}
	if in != nil && resolvedIntent(in.Status) {
		c.Status, c.ClosedAt = models.ChannelStatusClosed, in.UpdatedAt
		return c
	}
	if at, ok := ttlExpiry(c); ok && !now.Before(at) {
		c.Status, c.ClosedAt = models.ChannelStatusClosed, timestamp.New(at)
	}
	return c
}

// ttlExpiry is when a channel's time to live runs out, if it has one.
func ttlExpiry(c models.Channel) (time.Time, bool) {
	if c.Options == nil || c.Options.TTLSeconds == nil {
		return time.Time{}, false
	}
	last := c.CreatedAt.Time
	if !c.LastMessageAt.IsZero() {
		last = c.LastMessageAt.Time
	}
	return last.Add(time.Duration(*c.Options.TTLSeconds) * time.Second), true
}

// messageView is the message as served at now: a message neither read nor replied to reads
// expired once its expires_at passed.
func messageView(m models.ChannelMessage, now time.Time) models.ChannelMessage {
	if (m.Status == models.MessageStatusDelivered || m.Status == models.MessageStatusPending) &&
		!m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt.Time) {
		m.Status = models.MessageStatusExpired
	}
	return m
}

// participates reports whether agent takes part in a channel: any agent with access to the
// intent of an `intent` channel, the creator and members of an `explicit` one.
func participates(c models.Channel, agent string) bool {
	return c.MemberPolicy != models.MemberPolicyExplicit || agent == c.CreatedBy || slices.Contains(c.Members, agent)
}

// notMember is the refusal of an agent that does not take part in an `explicit` channel.
func notMember(c models.Channel, agent, what string) *apiError {
	return forbidden("not_a_member", fmt.Sprintf("Channel %s is explicit: agent %s is not a member and may not %s", c.ID, agent, what))
}

// normalizeOptions fills in the defaults of a channel's options.
func normalizeOptions(o *models.ChannelOptions) *models.ChannelOptions {
	out := models.ChannelOptions{MaxMessages: defaultMaxMessages}
	if o != nil {
		out.Audit, out.TTLSeconds = o.Audit, o.TTLSeconds
		if o.MaxMessages > 0 {
			out.MaxMessages = o.MaxMessages
		}
	}
	return &out
}

// checkMembers validates a member list: agent ids, each once.
func checkMembers(field string, members []string) error {
	for i, m := range members {
		f := fmt.Sprintf("%s/%d", field, i)
		if strings.TrimSpace(m) == "" {
			return validationFailed(f, "must not be blank")
		}
		if msg := checkAgentID(m); msg != "" {
			return validationFailed(f, msg)
		}
		if slices.Contains(members[:i], m) {
			return validationFailed(f, fmt.Sprintf("agent %q is listed twice", m))
		}
	}
	return nil
}

// intentOf reads a channel's intent, nil when it is gone.
func intentOf(ctx context.Context, st *store.Store, id string) (*models.Intent, error) {
	in, err := st.GetIntent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// readChannel returns a channel as served now.
func readChannel(ctx context.Context, st *store.Store, id string) (models.Channel, error) {
	_, c, err := readStoredChannel(ctx, st, id)
	return c, err
}

// readStoredChannel returns a channel as stored and as served now.
func readStoredChannel(ctx context.Context, st *store.Store, id string) (storedChannel, models.Channel, error) {
	c, err := store.Get[storedChannel](ctx, st, kindChannel, id)
	if err != nil {
		return c, models.Channel{}, err
	}
	in, err := intentOf(ctx, st, c.IntentID)
	if err != nil {
		return c, models.Channel{}, err
	}
	return c, channelView(c.Channel, in, st.Now()), nil
}

// readableChannel returns a channel whose messages the caller may read (403 for a non-member
// of an `explicit` channel).
func (h *handlers) readableChannel(ctx context.Context, id string) (models.Channel, error) {
	c, err := readChannel(ctx, h.store, id)
	if err != nil {
		return c, err
	}
	if agent := agentFrom(ctx); !participates(c, agent) {
		return c, notMember(c, agent, "read its messages")
	}
	return c, nil
}

// mayManage checks that the caller may change or close a channel: its creator, or an admin of
// its intent.
func (h *handlers) mayManage(ctx context.Context, c models.Channel) error {
	agent := agentFrom(ctx)
	if agent == c.CreatedBy {
		return nil
	}
	ok, err := h.access.allows(ctx, c.IntentID, agent, models.PermissionAdmin)
	if err != nil || ok {
		return err
	}
	return forbidden("forbidden", fmt.Sprintf("Channel %s belongs to %s; only it or an admin of intent %s may change or close it", c.ID, c.CreatedBy, c.IntentID))
}

func (h *handlers) CreateChannel(ctx context.Context, req genserver.CreateChannelRequestObject) (genserver.CreateChannelResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Name) == "" {
		return nil, validationFailed("name", "must not be blank")
	}
	if err := checkMembers("members", b.Members); err != nil {
		return nil, err
	}
	c := models.Channel{IntentID: req.IntentID, Name: b.Name, CreatedBy: agentFrom(ctx), Members: nonNil(b.Members),
		MemberPolicy: b.MemberPolicy, Options: normalizeOptions(b.Options), Status: models.ChannelStatusOpen}
	if c.MemberPolicy == "" {
		c.MemberPolicy = models.MemberPolicyIntent
	}
	if b.TaskID != "" {
		c.TaskID = &b.TaskID
	}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		in, err := w.Intent(c.IntentID)
		if err != nil {
			return err
		}
		if resolvedIntent(in.Status) {
			return conflict("intent_resolved", fmt.Sprintf("Intent %s is %s: its channels are closed", in.ID, in.Status))
		}
		if c.TaskID != nil {
			var t models.Task
			if _, err := w.GetInto(kindTask, *c.TaskID, &t); err != nil || t.IntentID != c.IntentID {
				return validationFailed("task_id", fmt.Sprintf("no task %q of intent %s", *c.TaskID, c.IntentID))
			}
		}
		c.ID, c.CreatedAt = store.NewID(), w.Timestamp()
		_, err = w.Insert(store.Record{Kind: kindChannel, ID: c.ID, Parent: c.IntentID, Key: channelKey(c.IntentID, c.Name)}, storedChannel{Channel: c})
		if errors.Is(err, store.ErrDuplicate) {
			return conflict("channel_exists", fmt.Sprintf("Intent %s already has a channel named %q", c.IntentID, c.Name))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateChannel201JSONResponse(c), nil
}

func (h *handlers) ListIntentChannels(ctx context.Context, req genserver.ListIntentChannelsRequestObject) (genserver.ListIntentChannelsResponseObject, error) {
	cs, err := store.List[storedChannel](ctx, h.store, store.Query{Kind: kindChannel, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	in, err := intentOf(ctx, h.store, req.IntentID)
	if err != nil {
		return nil, err
	}
	now := h.store.Now()
	out := make([]models.Channel, len(cs))
	for i, c := range cs {
		out[i] = channelView(c.Channel, in, now)
	}
	return genserver.ListIntentChannels200JSONResponse(out), nil
}

func (h *handlers) GetChannel(ctx context.Context, req genserver.GetChannelRequestObject) (genserver.GetChannelResponseObject, error) {
	c, err := readChannel(ctx, h.store, req.ChannelID)
	if err != nil {
		return nil, err
	}
	return genserver.GetChannel200JSONResponse(c), nil
}

// modifyChannel changes a channel in w as change says, after closing it for good when it reads
// closed now (so that no change reopens a channel its intent or its time to live closed).
func modifyChannel(w *store.Writer, id string, change func(c *storedChannel) error) (storedChannel, error) {
	c, err := store.Modify(w, kindChannel, id, 0, func(c *storedChannel, _ *store.Record) error {
		in, err := w.Intent(c.IntentID)
		var intent *models.Intent
		if err == nil {
			intent = &in
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		c.Channel = channelView(c.Channel, intent, w.Now())
		return change(c)
	})
	return c, err
}

func (h *handlers) UpdateChannel(ctx context.Context, req genserver.UpdateChannelRequestObject) (genserver.UpdateChannelResponseObject, error) {
	b := req.Body
	if b.Members != nil {
		if err := checkMembers("members", *b.Members); err != nil {
			return nil, err
		}
	}
	cur, err := readChannel(ctx, h.store, req.ChannelID)
	if err != nil {
		return nil, err
	}
	if err := h.mayManage(ctx, cur); err != nil {
		return nil, err
	}
	var out storedChannel
	err = h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		out, err = modifyChannel(w, req.ChannelID, func(c *storedChannel) error {
			switch {
			case b.Status == "" || b.Status == c.Status:
			case b.Status == models.ChannelStatusClosed:
				c.Status, c.ClosedAt = models.ChannelStatusClosed, w.Timestamp()
			default:
				return conflict("invalid_transition", fmt.Sprintf("Channel %s is %s; a closed channel stays closed", c.ID, c.Status))
			}
			if b.Members != nil {
				c.Members = nonNil(*b.Members)
			}
			if b.MemberPolicy != "" {
				c.MemberPolicy = b.MemberPolicy
			}
			if b.Options != nil {
				c.Options = normalizeOptions(b.Options)
			}
			return nil
		})
		w.Wake(channelTopic(req.ChannelID))
		return err
	})
	if err != nil {
		return nil, err
	}
	in, err := intentOf(ctx, h.store, out.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.UpdateChannel200JSONResponse(channelView(out.Channel, in, h.store.Now())), nil
}

func (h *handlers) CloseChannel(ctx context.Context, req genserver.CloseChannelRequestObject) (genserver.CloseChannelResponseObject, error) {
	cur, err := readChannel(ctx, h.store, req.ChannelID)
	if err != nil {
		return nil, err
	}
	if err := h.mayManage(ctx, cur); err != nil {
		return nil, err
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		msgs, err := w.List(store.Query{Kind: kindChannelMessage, Parent: req.ChannelID})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := w.Delete(kindChannelMessage, m.ID); err != nil {
				return err
			}
		}
		w.Wake(channelTopic(req.ChannelID))
		return w.Delete(kindChannel, req.ChannelID)
	})
	if err != nil {
		return nil, err
	}
	return genserver.CloseChannel200JSONResponse{Status: string(models.ChannelStatusClosed), ChannelID: req.ChannelID}, nil
}

// checkAddressee validates a message's `to`: an agent id, `role:<id>` or `*`.
func checkAddressee(to string) error {
	if strings.TrimSpace(to) == "" {
		return validationFailed("to", "must not be blank")
	}
	if msg := checkAgentID(to); msg != "" {
		return validationFailed("to", msg)
	}
	if role, ok := strings.CutPrefix(to, "role:"); ok && strings.TrimSpace(role) == "" {
		return validationFailed("to", "role:<role_id> needs a role id")
	}
	return nil
}

// namesOneAgent reports whether a message's `to` names one agent (not everyone, not a role).
func namesOneAgent(to string) bool { return to != "" && to != "*" && !strings.HasPrefix(to, "role:") }

// newMessage is a message to append to a channel.
type newMessage struct {
	sender, to    string
	kind          models.MessageType
	payload       models.Object
	metadata      map[string]any
	expiresAt     timestamp.Time
	correlationID string
	// reply tells a reply to the message correlationID, whose change of status (to replied) the
	// channel counts with the new message.
	reply bool
}

// appendMessage stores m on the channel in w: it checks that the channel is open and that the
// sender takes part, numbers the message, updates the channel's counters, removes the oldest
// messages beyond max_messages and, on an audited channel, appends a channel_message event.
// Its trace is taken from ctx (see auditContext). For a reply it also returns the number of the
// replied message's change of status.
func appendMessage(w *store.Writer, channelID string, m newMessage) (_ models.ChannelMessage, change int64, _ error) {
	var msg storedMessage
	var evict int64
	c, err := modifyChannel(w, channelID, func(c *storedChannel) error {
		if c.Status != models.ChannelStatusOpen {
			return conflict("channel_closed", fmt.Sprintf("Channel %s is closed: it takes no new messages", c.ID))
		}
		if !participates(c.Channel, m.sender) {
			return notMember(c.Channel, m.sender, "send on it")
		}
		if namesOneAgent(m.to) && c.MemberPolicy == models.MemberPolicyExplicit && !participates(c.Channel, m.to) {
			return forbidden("not_a_member", fmt.Sprintf("to: agent %s is not a member of explicit channel %s", m.to, c.ID))
		}
		now := w.Timestamp()
		msg = storedMessage{ChannelMessage: models.ChannelMessage{ID: store.NewID(), ChannelID: c.ID, Sender: m.sender,
			MessageType: m.kind, Payload: orEmpty(m.payload), Status: models.MessageStatusDelivered, CreatedAt: now, ExpiresAt: m.expiresAt},
			Seq: c.MessageCount + 1}
		if m.to != "" {
			msg.To = &m.to
		}
		if m.correlationID != "" {
			msg.CorrelationID = &m.correlationID
		}
		if m.metadata != nil {
			msg.Metadata = m.metadata
		}
		c.MessageCount, c.LastMessageAt = msg.Seq, now
		if m.reply {
			change = noteChange(c, m.correlationID)
		}
		c.Retained++
		if keep := normalizeOptions(c.Options).MaxMessages; c.Retained > keep {
			evict = c.Retained - keep
			c.Retained = keep
		}
		return nil
	})
	if err != nil {
		return models.ChannelMessage{}, 0, err
	}
	if _, err := w.Insert(store.Record{Kind: kindChannelMessage, ID: msg.ID, Parent: c.ID, Ref: m.correlationID}, msg); err != nil {
		return models.ChannelMessage{}, 0, err
	}
	w.Wake(channelTopic(c.ID))
	if evict > 0 {
		old, err := w.List(store.Query{Kind: kindChannelMessage, Parent: c.ID, Limit: int(evict)})
		if err != nil {
			return models.ChannelMessage{}, 0, err
		}
		for _, r := range old {
			if err := w.Delete(kindChannelMessage, r.ID); err != nil {
				return models.ChannelMessage{}, 0, err
			}
		}
	}
	if c.Options != nil && c.Options.Audit {
		p := models.Object{"channel_id": c.ID, "channel_name": c.Name, "message_id": msg.ID,
			"message_type": string(msg.MessageType), "to": nil, "payload": msg.Payload}
		if msg.To != nil {
			p["to"] = *msg.To
		}
		if msg.CorrelationID != nil {
			p["correlation_id"] = *msg.CorrelationID
		}
		if _, err := w.AppendEvent(c.IntentID, string(models.EventTypeChannelMessage), m.sender, p); err != nil {
			return models.ChannelMessage{}, 0, err
		}
	}
	return msg.ChannelMessage, change, nil
}

// auditContext gives the events of an audited message the trace its metadata names (RFC-0021
// §6), if any.
func auditContext(ctx context.Context, metadata map[string]any) context.Context {
	traceID, _ := metadata["trace_id"].(string)
	parent, _ := metadata["parent_event_id"].(string)
	return store.WithTrace(ctx, traceID, parent)
}

func (h *handlers) SendChannelMessage(ctx context.Context, req genserver.SendChannelMessageRequestObject) (genserver.SendChannelMessageResponseObject, error) {
	b := req.Body
	sender, err := actorField(ctx, "sender", b.Sender)
	if err != nil {
		return nil, err
	}
	m := newMessage{sender: sender, to: b.To, kind: b.MessageType, payload: b.Payload, metadata: b.Metadata, expiresAt: b.ExpiresAt}
	if m.kind == "" {
		m.kind = models.MessageTypeNotify
	}
	switch m.kind {
	case models.MessageTypeResponse:
		return nil, validationFailed("message_type", "a response is sent with POST /channels/{channel_id}/messages/{message_id}/reply")
	case models.MessageTypeRequest:
		if m.to == "" || m.to == "*" {
			return nil, validationFailed("to", "a request needs one addressee: an agent or role:<role_id>")
		}
	case models.MessageTypeBroadcast:
		if m.to == "" {
			m.to = "*"
		} else if m.to != "*" {
			return nil, validationFailed("to", "a broadcast goes to everyone: * or nothing")
		}
	}
	if m.to != "" {
		if err := checkAddressee(m.to); err != nil {
			return nil, err
		}
	}
	if !m.expiresAt.IsZero() && !m.expiresAt.After(h.store.Now()) {
		return nil, validationFailed("expires_at", "must be in the future")
	}
	var msg models.ChannelMessage
	err = h.store.Write(auditContext(ctx, m.metadata), func(w *store.Writer) error {
		var err error
		msg, _, err = appendMessage(w, req.ChannelID, m)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.SendChannelMessage201JSONResponse(msg), nil
}

// channelMessage returns a message of a channel (404 when the channel does not hold it).
func channelMessage(ctx context.Context, st *store.Store, channelID, messageID string) (storedMessage, error) {
	r, err := st.GetRecord(ctx, kindChannelMessage, messageID)
	if err == nil && r.Parent != channelID {
		err = &store.NotFoundError{Detail: "Channel message not found"}
	}
	if err != nil {
		return storedMessage{}, err
	}
	var m storedMessage
	return m, r.Decode(&m)
}

func (h *handlers) GetChannelMessage(ctx context.Context, req genserver.GetChannelMessageRequestObject) (genserver.GetChannelMessageResponseObject, error) {
	if _, err := h.readableChannel(ctx, req.ChannelID); err != nil {
		return nil, err
	}
	m, err := channelMessage(ctx, h.store, req.ChannelID, req.MessageID)
	if err != nil {
		return nil, err
	}
	return genserver.GetChannelMessage200JSONResponse(messageView(m.ChannelMessage, h.store.Now())), nil
}

// messageCursor returns the position after which `since` lists messages: the seq of a message
// of the channel, or the time after which they were created.
func (h *handlers) messageCursor(ctx context.Context, channelID, since string) (seq int64, after time.Time, err error) {
	m, err := channelMessage(ctx, h.store, channelID, since)
	if err == nil {
		return m.Seq, time.Time{}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return 0, time.Time{}, err
	}
	if t, perr := timestamp.Parse(since); perr == nil {
		return 0, t.Time, nil
	}
	return 0, time.Time{}, validationFailed("since", fmt.Sprintf("no message %q on channel %s (messages beyond max_messages are removed), and not an RFC 3339 timestamp", since, channelID))
}

func (h *handlers) ListChannelMessages(ctx context.Context, req genserver.ListChannelMessagesRequestObject) (genserver.ListChannelMessagesResponseObject, error) {
	p := req.Params
	if _, err := h.readableChannel(ctx, req.ChannelID); err != nil {
		return nil, err
	}
	var afterSeq int64
	var afterTime time.Time
	if p.Since != "" {
		var err error
		if afterSeq, afterTime, err = h.messageCursor(ctx, req.ChannelID, p.Since); err != nil {
			return nil, err
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = maxChannelListLimit
	}
	ms, err := store.List[storedMessage](ctx, h.store, store.Query{Kind: kindChannelMessage, Parent: req.ChannelID})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ms, func(a, b storedMessage) int { return cmp.Compare(a.Seq, b.Seq) }) // the order they were sent
	now := h.store.Now()
	out := []models.ChannelMessage{}
	for _, m := range ms {
		if len(out) == limit {
			break
		}
		if m.Seq <= afterSeq || (!afterTime.IsZero() && !m.CreatedAt.After(afterTime)) {
			continue
		}
		if p.To != "" && (m.To == nil || *m.To != p.To) {
			continue
		}
		out = append(out, messageView(m.ChannelMessage, now))
	}
	return genserver.ListChannelMessages200JSONResponse(out), nil
}

func (h *handlers) UpdateChannelMessageStatus(ctx context.Context, req genserver.UpdateChannelMessageStatusRequestObject) (genserver.UpdateChannelMessageStatusResponseObject, error) {
	if req.Body.Status != models.MessageStatusRead {
		return nil, validationFailed("status", "only read may be set; the server sets the other statuses")
	}
	agent := agentFrom(ctx)
	c, err := readChannel(ctx, h.store, req.ChannelID)
	if err != nil {
		return nil, err
	}
	if !participates(c, agent) {
		return nil, notMember(c, agent, "mark its messages")
	}
	var out storedMessage
	err = h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindChannelMessage, req.MessageID)
		if err == nil && r.Parent != req.ChannelID {
			err = &store.NotFoundError{Detail: "Channel message not found"}
		}
		if err != nil {
			return err
		}
		out, err = store.Modify(w, kindChannelMessage, req.MessageID, 0, func(m *storedMessage, _ *store.Record) error {
			if m.To != nil && namesOneAgent(*m.To) && *m.To != agent {
				return forbidden("not_addressee", fmt.Sprintf("Message %s is addressed to %s; agent %s may not mark it", m.ID, *m.To, agent))
			}
			if !m.ReadAt.IsZero() {
				return nil // read already: nothing changes
			}
			m.ReadAt = w.Timestamp()
			if m.Status != models.MessageStatusReplied {
				m.Status = models.MessageStatusRead
			}
			return statusChange(w, m)
		})
		w.Wake(channelTopic(req.ChannelID))
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdateChannelMessageStatus200JSONResponse(messageView(out.ChannelMessage, h.store.Now())), nil
}

func (h *handlers) ReplyToChannelMessage(ctx context.Context, req genserver.ReplyToChannelMessageRequestObject) (genserver.ReplyToChannelMessageResponseObject, error) {
	b := req.Body
	sender, err := actorField(ctx, "sender", b.Sender)
	if err != nil {
		return nil, err
	}
	c, err := readChannel(ctx, h.store, req.ChannelID)
	if err != nil {
		return nil, err
	}
	if !participates(c, sender) {
		return nil, notMember(c, sender, "reply on it")
	}
	var reply models.ChannelMessage
	err = h.store.Write(auditContext(ctx, b.Metadata), func(w *store.Writer) error {
		r, err := w.Get(kindChannelMessage, req.MessageID)
		if err == nil && r.Parent != req.ChannelID {
			err = &store.NotFoundError{Detail: "Channel message not found"}
		}
		if err != nil {
			return err
		}
		var original storedMessage
		if err := r.Decode(&original); err != nil {
			return err
		}
		if messageView(original.ChannelMessage, w.Now()).Status == models.MessageStatusExpired {
			return conflict("message_expired", fmt.Sprintf("Message %s expired at %s: it takes no reply", original.ID, original.ExpiresAt))
		}
		var change int64
		reply, change, err = appendMessage(w, req.ChannelID, newMessage{sender: sender, to: original.Sender, kind: models.MessageTypeResponse,
			payload: b.Payload, metadata: b.Metadata, correlationID: original.ID, reply: true})
		if err != nil {
			return err
		}
		original.Status, original.Change = models.MessageStatusReplied, change
		if _, err = w.Update(r, original); errors.Is(err, store.ErrNotFound) {
			return nil // the reply pushed it out (beyond max_messages)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.ReplyToChannelMessage201JSONResponse(reply), nil
}

// channelClosedFrame ends a channel's stream when the channel is closed or deleted.
const channelClosedFrame = "event: channel_closed\ndata: {\"detail\":\"The channel is closed\"}\n\n"

// serveChannel serves GET /api/v1/subscribe/channels/{channel_id}: the channel's messages from
// Last-Event-ID (a message id of the channel, or 0) or from now, each as it is sent, and the
// status changes of the messages it sent (channel_message_status frames, without an id, so
// that they do not move the client's Last-Event-ID). It is woken by the channel's topic, which
// every write to the channel wakes on every replica, and by its intent's events (the intent
// resolved, its ACL changed).
func (s *streams) serveChannel(w http.ResponseWriter, r *http.Request, pattern string) {
	ctx := r.Context()
	id := pathParam(pattern, r)
	agent := agentFrom(ctx)
	opened, c, err := readStoredChannel(ctx, s.store, id)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if !participates(c, agent) {
		writeError(w, r, s.log, notMember(c, agent, "read its messages"))
		return
	}
	var after int64
	opening := "0"
	switch v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v {
	case "":
		after = c.MessageCount
		if newest, err := s.store.ListRecords(ctx, store.Query{Kind: kindChannelMessage, Parent: id, Newest: true, Limit: 1}); err != nil {
			writeError(w, r, s.log, err)
			return
		} else if len(newest) > 0 {
			opening = newest[0].ID
		}
	case "0":
	default:
		m, err := channelMessage(ctx, s.store, id, v)
		if errors.Is(err, store.ErrNotFound) {
			e := badRequest("invalid_last_event_id", "Last-Event-ID must be the id of a message of this channel, or 0")
			e.fields = []models.FieldError{{Field: "Last-Event-ID", Message: "no such message on this channel (messages beyond max_messages are removed)"}}
			err = e
		}
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		after, opening = m.Seq, m.ID
	}

	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	defer s.tel.streamOpened(channelStream)()
	if err := s.write(w, rc, "retry: 1000\nid: "+opening+"\n\n"); err != nil {
		return
	}
	// seen is the count of status changes the stream's frames show: the messages it sends carry
	// their status as read, later changes follow as channel_message_status frames.
	start, sent, why, seen := time.Now(), 0, "client gone", opened.Changes
	s.log.InfoContext(ctx, "stream opened", "path", r.URL.Path, "agent_id", agent, "after", opening, "request_id", requestIDFrom(ctx))
	defer func() {
		s.log.InfoContext(ctx, "stream closed", "path", r.URL.Path, "agent_id", agent, "events", sent, "reason", why,
			"duration", time.Since(start), "request_id", requestIDFrom(ctx))
	}()
	ping := time.NewTicker(s.heartbeat)
	defer ping.Stop()
	for {
		woken, intentWoken := s.store.WatchTopic(channelTopic(id)), s.store.Watch(c.IntentID)
		stored, err := store.Get[storedChannel](ctx, s.store, kindChannel, id)
		if errors.Is(err, store.ErrNotFound) {
			why = "channel deleted"
			s.write(w, rc, channelClosedFrame)
			return
		}
		if err != nil {
			s.failStream(ctx, w, rc, err)
			return
		}
		in, err := intentOf(ctx, s.store, stored.IntentID)
		if err != nil {
			s.failStream(ctx, w, rc, err)
			return
		}
		c = channelView(stored.Channel, in, s.store.Now())
		if ok, err := s.access.allows(ctx, c.IntentID, agent, models.PermissionRead); err != nil || !ok || !participates(c, agent) {
			if err != nil {
				s.failStream(ctx, w, rc, err)
				return
			}
			why = "access lost"
			s.write(w, rc, "event: error\ndata: {\"detail\":\"The caller may no longer read this channel\"}\n\n")
			return
		}
		var b strings.Builder
		now := s.store.Now()
		if n := c.MessageCount - after; n > 0 {
			msgs, err := messagesAfter(ctx, s.store, id, after, int(n))
			if err == nil {
				err = appendMessageFrames(&b, msgs, now, false)
			}
			if err != nil {
				s.failStream(ctx, w, rc, err)
				return
			}
			if len(msgs) > 0 {
				after = msgs[len(msgs)-1].Seq
			}
			sent += len(msgs)
		}
		if stored.Changes > seen {
			msgs, err := changedMessages(ctx, s.store, stored, seen, after)
			if err == nil {
				err = appendMessageFrames(&b, msgs, now, true)
			}
			if err != nil {
				s.failStream(ctx, w, rc, err)
				return
			}
			sent += len(msgs)
			seen = stored.Changes
		}
		if b.Len() > 0 {
			if err := s.write(w, rc, b.String()); err != nil {
				return
			}
		}
		if c.Status != models.ChannelStatusOpen {
			why = "channel closed"
			s.write(w, rc, channelClosedFrame)
			return
		}
		var expiry <-chan time.Time
		var timer *time.Timer
		if at, ok := ttlExpiry(c); ok {
			timer = time.NewTimer(max(at.Sub(s.store.Now()), time.Millisecond))
			expiry = timer.C
		}
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case <-s.drain.done():
			why, stop = "server shutting down", true
			s.write(w, rc, reconnectFrame)
		case <-woken:
		case <-intentWoken:
		case <-expiry:
		case <-ping.C:
			stop = s.write(w, rc, ": ping\n\n") != nil
		}
		if timer != nil {
			timer.Stop()
		}
		if stop {
			return
		}
	}
}

// appendMessageFrames appends a stream frame per message: a channel_message with the message's
// id (Last-Event-ID resumes after it), or, for a new status of a message sent before, a
// channel_message_status without one.
func appendMessageFrames(b *strings.Builder, msgs []storedMessage, now time.Time, status bool) error {
	for _, m := range msgs {
		data, err := json.Marshal(messageView(m.ChannelMessage, now))
		if err != nil {
			return err
		}
		if status {
			fmt.Fprintf(b, "event: channel_message_status\ndata: %s\n\n", data)
		} else {
			fmt.Fprintf(b, "id: %s\nevent: channel_message\ndata: %s\n\n", m.ID, data)
		}
	}
	return nil
}

// messagesAfter returns the messages of a channel after seq after, in order. It reads the
// newest n first (the channel's count said n are new) and more when messages sent since then
// pushed older new ones out of that page.
func messagesAfter(ctx context.Context, st *store.Store, channelID string, after int64, n int) ([]storedMessage, error) {
	for limit := n; ; limit *= 2 {
		rs, err := st.ListRecords(ctx, store.Query{Kind: kindChannelMessage, Parent: channelID, Newest: true, Limit: limit})
		if err != nil {
			return nil, err
		}
		ms, err := store.DecodeAll[storedMessage](rs)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(ms, func(a, b storedMessage) int { return cmp.Compare(a.Seq, b.Seq) })
		if len(rs) < limit || len(ms) == 0 || ms[0].Seq <= after+1 {
			i, _ := slices.BinarySearchFunc(ms, after+1, func(m storedMessage, seq int64) int { return cmp.Compare(m.Seq, seq) })
			return ms[i:], nil
		}
	}
}

// changedMessages returns the messages of a channel up to seq upTo whose status changed after
// its change number seen, in the order of their last change. The channel's list of recent
// changes names them when it reaches back that far; otherwise every message is read.
func changedMessages(ctx context.Context, st *store.Store, c storedChannel, seen, upTo int64) ([]storedMessage, error) {
	if c.Changes <= seen {
		return nil, nil
	}
	var ms []storedMessage
	if first := c.Changes - int64(len(c.Changed)) + 1; len(c.Changed) > 0 && first <= seen+1 {
		var ids []string
		for _, mid := range c.Changed[seen+1-first:] {
			if !slices.Contains(ids, mid) {
				ids = append(ids, mid)
			}
		}
		for _, mid := range ids {
			m, err := channelMessage(ctx, st, c.ID, mid)
			if errors.Is(err, store.ErrNotFound) {
				continue // removed since (beyond max_messages)
			}
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
	} else {
		var err error
		if ms, err = store.List[storedMessage](ctx, st, store.Query{Kind: kindChannelMessage, Parent: c.ID}); err != nil {
			return nil, err
		}
	}
	ms = slices.DeleteFunc(ms, func(m storedMessage) bool { return m.Change <= seen || m.Seq > upTo })
	slices.SortFunc(ms, func(a, b storedMessage) int { return cmp.Compare(a.Change, b.Change) })
	return ms, nil
}

// failStream ends a stream after an internal error, telling the client to reconnect.
func (s *streams) failStream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, err error) {
	if ctx.Err() != nil {
		return
	}
	s.log.ErrorContext(ctx, "stream: read channel", "error", err, "request_id", requestIDFrom(ctx))
	s.write(w, rc, "event: error\ndata: {\"detail\":\"Internal error reading the channel; reconnect with Last-Event-ID\"}\n\n")
}
