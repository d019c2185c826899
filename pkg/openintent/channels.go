package openintent

import (
	"github.com/openintent-go/openintent/gen/client"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/openintent-go/openintent/gen/models"
)

// Channel statuses, member policies, message types and message statuses (the server may send
// others: they are kept as strings).
const (
	ChannelOpen   = models.ChannelStatusOpen
	ChannelClosed = models.ChannelStatusClosed

	MemberExplicit = models.MemberPolicyExplicit
	MemberIntent   = models.MemberPolicyIntent

	MessageRequest   = models.MessageTypeRequest
	MessageResponse  = models.MessageTypeResponse
	MessageNotify    = models.MessageTypeNotify
	MessageBroadcast = models.MessageTypeBroadcast

	MessagePending   = models.MessageStatusPending
	MessageDelivered = models.MessageStatusDelivered
	MessageRead      = models.MessageStatusRead
	MessageReplied   = models.MessageStatusReplied
	MessageExpired   = models.MessageStatusExpired
)

// ErrChannelClosed ends a channel's stream (StreamChannelMessages) when the channel is closed
// or deleted; Ask wraps it when the channel closes before a reply comes.
var ErrChannelClosed = errors.New("openintent: channel closed")

// AskTimeoutError reports an Ask whose context ended before the reply came. It matches the
// context's error with errors.Is (context.DeadlineExceeded on a timeout); Request is the request
// that was sent, whose ID a late reply carries as its CorrelationID.
type AskTimeoutError struct {
	// Request is the request message Ask sent.
	Request ChannelMessage
	// Err is the context's error.
	Err error
}

// Error names the request and why Ask stopped waiting.
func (e *AskTimeoutError) Error() string {
	return fmt.Sprintf("openintent: Ask: no reply to message %s: %v", e.Request.ID, e.Err)
}

// Unwrap returns the context's error.
func (e *AskTimeoutError) Unwrap() error { return e.Err }

// ListMessagesParams filters ListMessages and ChannelMessages.
type ListMessagesParams struct {
	// Since lists the messages after this one (a message id of the channel, or an RFC 3339
	// timestamp: the messages created after it).
	Since string
	// To keeps messages whose addressee is exactly this (an agent, "*", "role:...").
	To string
	// Limit bounds a page (server default and maximum 1000).
	Limit int
}

// StreamChannelParams says where StreamChannelMessages starts.
type StreamChannelParams struct {
	// After replays the messages after this message id; "0" replays every message the channel
	// holds; empty starts with the next new message.
	After string
}

// CreateChannel opens a channel on an intent (create_channel); c.Name is required. The client's
// agent is its creator.
func (c *Client) CreateChannel(ctx context.Context, intentID string, ch ChannelCreate, opts ...Option) (*Channel, error) {
	if err := requireIDs("CreateChannel", "intentID", intentID, "ch.Name", ch.Name); err != nil {
		return nil, err
	}
	return call[Channel](ctx, c, op2(client.NewCreateChannelRequest, intentID, ch), opts)
}

// ListChannels returns an intent's channels in creation order (list_channels).
func (c *Client) ListChannels(ctx context.Context, intentID string, opts ...Option) ([]Channel, error) {
	if err := requireIDs("ListChannels", "intentID", intentID); err != nil {
		return nil, err
	}
	return callList[Channel](ctx, c, op1(client.NewListIntentChannelsRequest, intentID), opts)
}

// GetChannel returns a channel (get_channel).
func (c *Client) GetChannel(ctx context.Context, channelID string, opts ...Option) (*Channel, error) {
	if err := requireIDs("GetChannel", "channelID", channelID); err != nil {
		return nil, err
	}
	return call[Channel](ctx, c, op1(client.NewGetChannelRequest, channelID), opts)
}

// UpdateChannel changes a channel's members, member policy, options or status (closing it keeps
// its messages readable); only its creator or an admin of its intent may.
func (c *Client) UpdateChannel(ctx context.Context, channelID string, u ChannelUpdate, opts ...Option) (*Channel, error) {
	if err := requireIDs("UpdateChannel", "channelID", channelID); err != nil {
		return nil, err
	}
	return call[Channel](ctx, c, op2(client.NewUpdateChannelRequest, channelID, u), opts)
}

// CloseChannel closes a channel and deletes it with its messages (close_channel); its streams
// end with ErrChannelClosed. Unlike the Python SDK, it reports the server's refusal.
func (c *Client) CloseChannel(ctx context.Context, channelID string, opts ...Option) error {
	if err := requireIDs("CloseChannel", "channelID", channelID); err != nil {
		return err
	}
	return c.do(ctx, request{build: op1(client.NewCloseChannelRequest, channelID)}, opts)
}

// SendMessage sends a message on a channel (send_message). The sender is the client's agent;
// m.MessageType defaults to MessageNotify. A closed channel answers a *ConflictError.
func (c *Client) SendMessage(ctx context.Context, channelID string, m ChannelMessageCreate, opts ...Option) (*ChannelMessage, error) {
	if err := requireIDs("SendMessage", "channelID", channelID); err != nil {
		return nil, err
	}
	if m.Sender == "" {
		m.Sender = c.settings.agentID // the reference server requires sender
	}
	if m.Payload == nil {
		m.Payload = Object{}
	}
	return call[ChannelMessage](ctx, c, op2(client.NewSendChannelMessageRequest, channelID, m), opts)
}

// Notify sends a fire-and-forget message to an agent (to: an agent, "role:<id>", or "" for
// everyone), as the Python SDK's channel.notify.
func (c *Client) Notify(ctx context.Context, channelID, to string, payload Object, opts ...Option) (*ChannelMessage, error) {
	return c.SendMessage(ctx, channelID, ChannelMessageCreate{To: to, MessageType: MessageNotify, Payload: payload}, opts...)
}

// Broadcast sends a message to everyone on a channel (to "*"), as the Python SDK's
// channel.broadcast.
func (c *Client) Broadcast(ctx context.Context, channelID string, payload Object, opts ...Option) (*ChannelMessage, error) {
	return c.SendMessage(ctx, channelID, ChannelMessageCreate{To: "*", MessageType: MessageBroadcast, Payload: payload}, opts...)
}

// ListMessages returns one page of a channel's messages, oldest first (list_messages).
func (c *Client) ListMessages(ctx context.Context, channelID string, p ListMessagesParams, opts ...Option) ([]ChannelMessage, error) {
	if err := requireIDs("ListMessages", "channelID", channelID); err != nil {
		return nil, err
	}
	if p.Limit < 0 {
		return nil, invalidArg("ListMessages", "limit", "limit must not be negative")
	}
	q := models.ListChannelMessagesParams{Since: p.Since, To: p.To, Limit: p.Limit}
	out := []ChannelMessage{}
	if err := c.do(ctx, request{build: op2(client.NewListChannelMessagesRequest, channelID, nil), query: q, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelMessages iterates over a channel's messages matching p, oldest first, page by page
// after p.Since. It stops at the first error, which it yields.
func (c *Client) ChannelMessages(ctx context.Context, channelID string, p ListMessagesParams, opts ...Option) iter.Seq2[ChannelMessage, error] {
	return func(yield func(ChannelMessage, error) bool) {
		for {
			page, err := c.ListMessages(ctx, channelID, p, opts...)
			if err != nil {
				yield(ChannelMessage{}, err)
				return
			}
			for _, m := range page {
				if !yield(m, nil) {
					return
				}
			}
			limit := p.Limit
			if limit == 0 {
				limit = 1000
			}
			if len(page) < limit {
				return
			}
			p.Since = page[len(page)-1].ID
		}
	}
}

// GetMessage returns a message of a channel (get_message).
func (c *Client) GetMessage(ctx context.Context, channelID, messageID string, opts ...Option) (*ChannelMessage, error) {
	if err := requireIDs("GetMessage", "channelID", channelID, "messageID", messageID); err != nil {
		return nil, err
	}
	return call[ChannelMessage](ctx, c, op2(client.NewGetChannelMessageRequest, channelID, messageID), opts)
}

// MarkRead marks a message read (mark_read); a message addressed to one agent is marked by
// that agent only.
func (c *Client) MarkRead(ctx context.Context, channelID, messageID string, opts ...Option) (*ChannelMessage, error) {
	if err := requireIDs("MarkRead", "channelID", channelID, "messageID", messageID); err != nil {
		return nil, err
	}
	return call[ChannelMessage](ctx, c, op3(client.NewUpdateChannelMessageStatusRequest, channelID, messageID,
		models.ChannelMessageStatusUpdate{Status: MessageRead}), opts)
}

// ReplyTo answers a message (reply_to): the reply is a MessageResponse to its sender whose
// CorrelationID is the message's id, and the message becomes MessageReplied.
func (c *Client) ReplyTo(ctx context.Context, channelID, messageID string, r ChannelReply, opts ...Option) (*ChannelMessage, error) {
	if err := requireIDs("ReplyTo", "channelID", channelID, "messageID", messageID); err != nil {
		return nil, err
	}
	if r.Sender == "" {
		r.Sender = c.settings.agentID // the reference server requires sender
	}
	if r.Payload == nil {
		r.Payload = Object{}
	}
	return call[ChannelMessage](ctx, c, op3(client.NewReplyToChannelMessageRequest, channelID, messageID, r), opts)
}

// askPollInterval is how often Ask also looks for the reply in the channel's messages, for
// servers whose streams do not carry replies (the reference server's).
const askPollInterval = 2 * time.Second

// Ask sends a request to an agent (to: an agent or "role:<id>") and waits for the first reply
// (ask): it follows the channel's stream from the request on, so the reply arrives as soon as
// it is sent, without polling (it also reads the channel's messages after the request every 2
// seconds, for servers whose streams do not carry replies, as the reference server's). It waits
// until ctx ends: give ctx a deadline (the Python SDK's timeout). Then it returns an
// *AskTimeoutError matching ctx's error (context.DeadlineExceeded); a channel closed before the
// reply gives an error matching ErrChannelClosed.
func (c *Client) Ask(ctx context.Context, channelID, to string, payload Object, opts ...Option) (*ChannelMessage, error) {
	if err := requireIDs("Ask", "channelID", channelID, "to", to); err != nil {
		return nil, err
	}
	req, err := c.SendMessage(ctx, channelID, ChannelMessageCreate{To: to, MessageType: MessageRequest, Payload: payload}, opts...)
	if err != nil {
		return nil, err
	}
	isReply := func(m ChannelMessage) bool {
		return m.MessageType == MessageResponse && m.CorrelationID != nil && *m.CorrelationID == req.ID
	}
	type result struct {
		reply *ChannelMessage
		err   error
	}
	streamCtx, stop := context.WithCancel(ctx)
	defer stop()
	streamed := make(chan result, 1)
	go func() {
		// Every reply is sent after the request: the stream from the request on holds it.
		for m, err := range c.StreamChannelMessages(streamCtx, channelID, StreamChannelParams{After: req.ID}, opts...) {
			if err != nil {
				streamed <- result{err: err}
				return
			}
			if isReply(m) {
				streamed <- result{reply: &m}
				return
			}
		}
	}()
	poll := time.NewTicker(askPollInterval)
	defer poll.Stop()
	for {
		select {
		case r := <-streamed:
			switch {
			case r.reply != nil:
				return r.reply, nil
			case ctx.Err() != nil:
				return nil, &AskTimeoutError{Request: *req, Err: ctx.Err()}
			}
			return nil, fmt.Errorf("openintent: Ask: waiting for the reply to message %s: %w", req.ID, r.err)
		case <-poll.C:
			for m, err := range c.ChannelMessages(ctx, channelID, ListMessagesParams{Since: req.ID}, opts...) {
				if err != nil {
					if ctx.Err() != nil {
						return nil, &AskTimeoutError{Request: *req, Err: ctx.Err()}
					}
					return nil, fmt.Errorf("openintent: Ask: waiting for the reply to message %s: %w", req.ID, err)
				}
				if isReply(m) {
					return &m, nil
				}
			}
		case <-ctx.Done():
			return nil, &AskTimeoutError{Request: *req, Err: ctx.Err()}
		}
	}
}

// StreamChannelMessages streams a channel's messages as they are sent, replies included
// (server-sent events), from p.After. It reconnects after a dropped connection from the last
// message it yielded, so none is lost or repeated, and ends when ctx ends (yielding ctx's
// error), when the channel is closed or deleted (yielding ErrChannelClosed), or when the server
// refuses the stream (yielding the error).
func (c *Client) StreamChannelMessages(ctx context.Context, channelID string, p StreamChannelParams, opts ...Option) iter.Seq2[ChannelMessage, error] {
	return func(yield func(ChannelMessage, error) bool) {
		tmpl, path, err := c.streamRequest(func(s string) (*http.Request, error) {
			return client.NewStreamChannelMessagesRequest(s, channelID, nil)
		})
		yield = namedYield("StreamChannelMessages", path, yield) // errors name the method and path (errorsop.go)
		if err == nil {
			err = requireIDs("StreamChannelMessages", "channelID", channelID)
		}
		if err != nil {
			yield(ChannelMessage{}, err)
			return
		}
		s, err := c.resolve(opts)
		if err != nil {
			yield(ChannelMessage{}, err)
			return
		}
		last := p.After
		followStream(ctx, &s, "channel stream", path, &last, func() (bool, error) {
			return c.channelStreamOnce(ctx, &s, tmpl, path, &last, yield)
		}, func(err error) bool { return errors.Is(err, ErrChannelClosed) || isPermanent(err) }, yield)
	}
}

// channelStreamOnce reads one connection of a channel's stream, yielding its messages.
func (c *Client) channelStreamOnce(ctx context.Context, s *settings, tmpl *http.Request, path string, last *string, yield func(ChannelMessage, error) bool) (bool, error) {
	return c.readFrames(ctx, s, tmpl, path, "channel stream", last, func(ev sseEvent) (bool, error) {
		switch ev.Event {
		case "channel_closed":
			return false, ErrChannelClosed
		case "channel_message", "message", "":
		default:
			// Not a message sent: channel_message_status tells a new status of a message sent
			// before (this server); other frames are unknown. Neither is yielded.
			return false, nil
		}
		var m ChannelMessage
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			return false, fmt.Errorf("openintent: decode channel message %s: %w", ev.ID, err)
		}
		if !yield(m, nil) {
			return true, errStopped
		}
		return true, nil
	})
}
