package openintent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// onBothStores runs f against the in-process server on the in-memory store and on a file store
// (against OPENINTENT_TEST_URL's server once).
func onBothStores(t *testing.T, f func(t *testing.T, e *env)) {
	if os.Getenv("OPENINTENT_TEST_URL") != "" {
		f(t, newEnv(t))
		return
	}
	t.Run("memory", func(t *testing.T) { f(t, newEnv(t)) })
	t.Run("file", func(t *testing.T) {
		f(t, newEnv(t, openintenttest.WithStoreFile(filepath.Join(t.TempDir(), "channels.db"))))
	})
}

func TestChannels(t *testing.T) {
	onBothStores(t, testChannels)
}

func testChannels(t *testing.T, e *env) {
	ctx := ctxT(t)
	alice, bob, carol := e.client(t, "alice"), e.client(t, "bob"), e.client(t, "carol")
	in := mustCreate(t, alice, openintent.IntentCreate{Title: "channels"})

	ch, err := alice.CreateChannel(ctx, in.ID, openintent.ChannelCreate{Name: "pair", Members: []string{"bob"},
		MemberPolicy: openintent.MemberExplicit, Options: &openintent.ChannelOptions{Audit: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ch.CreatedBy != "alice" || ch.Status != openintent.ChannelOpen || ch.Options == nil || !ch.Options.Audit ||
		ch.Options.MaxMessages != 1000 || ch.MessageCount != 0 || !ch.LastMessageAt.IsZero() {
		t.Fatalf("created: %+v", ch)
	}
	if _, err := bob.CreateChannel(ctx, in.ID, openintent.ChannelCreate{Name: "pair"}); !errors.Is(err, openintent.ErrConflict) {
		t.Errorf("a second channel with the same name: %v", err)
	}
	if _, err := alice.CreateChannel(ctx, in.ID, openintent.ChannelCreate{Name: "x", Members: []string{""}}); !isValidation(err, "members/0") {
		t.Errorf("a blank member: %v", err)
	}
	open, err := bob.CreateChannel(ctx, in.ID, openintent.ChannelCreate{Name: "open"})
	if err != nil || open.MemberPolicy != openintent.MemberIntent {
		t.Fatalf("open channel: %+v %v", open, err)
	}
	list, err := carol.ListChannels(ctx, in.ID)
	if err != nil || len(list) != 2 || list[0].ID != ch.ID || list[1].ID != open.ID {
		t.Fatalf("ListChannels: %+v %v", list, err)
	}
	if got, err := carol.GetChannel(ctx, ch.ID); err != nil || got.Name != "pair" {
		t.Fatalf("GetChannel: %+v %v", got, err)
	}
	if _, err := alice.GetChannel(ctx, "no-such-channel"); !errors.Is(err, openintent.ErrNotFound) {
		t.Errorf("GetChannel of an unknown id: %v", err)
	}

	// Messages: send, list, iterate, get, mark read, reply.
	req, err := alice.SendMessage(ctx, ch.ID, openintent.ChannelMessageCreate{To: "bob", MessageType: openintent.MessageRequest,
		Payload: openintent.Object{"question": "schema?"}})
	if err != nil || req.Sender != "alice" || req.Status != openintent.MessageDelivered || req.To == nil || *req.To != "bob" {
		t.Fatalf("SendMessage: %+v %v", req, err)
	}
	note, err := bob.Notify(ctx, ch.ID, "alice", openintent.Object{"fyi": 1})
	if err != nil || note.MessageType != openintent.MessageNotify {
		t.Fatalf("Notify: %+v %v", note, err)
	}
	all, err := bob.Broadcast(ctx, ch.ID, openintent.Object{"everyone": true})
	if err != nil || all.MessageType != openintent.MessageBroadcast || all.To == nil || *all.To != "*" {
		t.Fatalf("Broadcast: %+v %v", all, err)
	}
	if _, err := alice.SendMessage(ctx, ch.ID, openintent.ChannelMessageCreate{MessageType: openintent.MessageRequest}); !isValidation(err, "to") {
		t.Errorf("a request without an addressee: %v", err)
	}
	if _, err := alice.SendMessage(ctx, ch.ID, openintent.ChannelMessageCreate{Sender: "bob"}); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("sending as another agent: %v", err)
	}
	msgs, err := bob.ListMessages(ctx, ch.ID, openintent.ListMessagesParams{})
	if err != nil || len(msgs) != 3 || msgs[0].ID != req.ID || msgs[2].ID != all.ID {
		t.Fatalf("ListMessages: %+v %v", msgs, err)
	}
	if after, err := bob.ListMessages(ctx, ch.ID, openintent.ListMessagesParams{Since: req.ID, To: "alice"}); err != nil || len(after) != 1 || after[0].ID != note.ID {
		t.Errorf("ListMessages since, to: %+v %v", after, err)
	}
	var seen []string
	for m, err := range bob.ChannelMessages(ctx, ch.ID, openintent.ListMessagesParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, m.ID)
	}
	if len(seen) != 3 || seen[0] != req.ID || seen[1] != note.ID || seen[2] != all.ID {
		t.Errorf("ChannelMessages by pages of 2: %v", seen)
	}
	if got, err := bob.GetMessage(ctx, ch.ID, req.ID); err != nil || got.Payload["question"] != "schema?" {
		t.Errorf("GetMessage: %+v %v", got, err)
	}
	if _, err := alice.MarkRead(ctx, ch.ID, req.ID); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("alice marking bob's message read: %v", err)
	}
	read, err := bob.MarkRead(ctx, ch.ID, req.ID)
	if err != nil || read.Status != openintent.MessageRead || read.ReadAt.IsZero() {
		t.Fatalf("MarkRead: %+v %v", read, err)
	}
	reply, err := bob.ReplyTo(ctx, ch.ID, req.ID, openintent.ChannelReply{Payload: openintent.Object{"answer": "v2.3"}})
	if err != nil || reply.MessageType != openintent.MessageResponse || reply.CorrelationID == nil || *reply.CorrelationID != req.ID ||
		reply.To == nil || *reply.To != "alice" {
		t.Fatalf("ReplyTo: %+v %v", reply, err)
	}
	if got, _ := alice.GetMessage(ctx, ch.ID, req.ID); got == nil || got.Status != openintent.MessageReplied {
		t.Errorf("the request after its reply: %+v", got)
	}
	if got, _ := alice.GetChannel(ctx, ch.ID); got == nil || got.MessageCount != 4 || got.LastMessageAt.IsZero() {
		t.Errorf("channel counters: %+v", got)
	}

	// carol may write the intent but is no member of the explicit channel.
	if _, err := carol.Notify(ctx, ch.ID, "", openintent.Object{}); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("a non-member posting: %v", err)
	}
	if _, err := carol.ListMessages(ctx, ch.ID, openintent.ListMessagesParams{}); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("a non-member reading: %v", err)
	}
	if _, err := carol.Notify(ctx, open.ID, "", openintent.Object{"hi": 1}); err != nil {
		t.Errorf("posting to an intent channel: %v", err)
	}
	// Only the creator (or an intent admin) changes a channel.
	if _, err := bob.UpdateChannel(ctx, ch.ID, openintent.ChannelUpdate{Members: &[]string{"bob", "carol"}}); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("bob changing alice's channel: %v", err)
	}
	up, err := alice.UpdateChannel(ctx, ch.ID, openintent.ChannelUpdate{Members: &[]string{"bob", "carol"}})
	if err != nil || len(up.Members) != 2 {
		t.Fatalf("UpdateChannel: %+v %v", up, err)
	}
	if _, err := carol.Notify(ctx, ch.ID, "", openintent.Object{}); err != nil {
		t.Errorf("a new member posting: %v", err)
	}

	// A closed channel refuses messages; a deleted one is gone.
	closed, err := alice.UpdateChannel(ctx, ch.ID, openintent.ChannelUpdate{Status: openintent.ChannelClosed})
	if err != nil || closed.Status != openintent.ChannelClosed || closed.ClosedAt.IsZero() {
		t.Fatalf("closing: %+v %v", closed, err)
	}
	if _, err := bob.Notify(ctx, ch.ID, "alice", openintent.Object{}); !errors.Is(err, openintent.ErrConflict) {
		t.Errorf("posting to a closed channel: %v", err)
	}
	if _, err := bob.ReplyTo(ctx, ch.ID, note.ID, openintent.ChannelReply{}); !errors.Is(err, openintent.ErrConflict) {
		t.Errorf("replying on a closed channel: %v", err)
	}
	if err := carol.CloseChannel(ctx, open.ID); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("carol deleting bob's channel: %v", err)
	}
	if err := bob.CloseChannel(ctx, open.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.GetChannel(ctx, open.ID); !errors.Is(err, openintent.ErrNotFound) {
		t.Errorf("a deleted channel: %v", err)
	}

	// An outsider of a closed intent is refused everything.
	if _, err := alice.SetACL(ctx, in.ID, openintent.ACLSet{DefaultPolicy: openintent.AccessClosed}); err != nil {
		t.Fatal(err)
	}
	dave := e.client(t, "dave")
	if _, err := dave.GetChannel(ctx, ch.ID); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("an outsider reading a channel: %v", err)
	}
	if _, err := dave.ListChannels(ctx, in.ID); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("an outsider listing channels: %v", err)
	}
	if _, err := dave.ListMessages(ctx, ch.ID, openintent.ListMessagesParams{}); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Errorf("an outsider listing messages: %v", err)
	}
	for _, err := range dave.StreamChannelMessages(ctx, ch.ID, openintent.StreamChannelParams{}) {
		if !errors.Is(err, openintent.ErrPermissionDenied) {
			t.Errorf("an outsider streaming: %v", err)
		}
		break
	}
}

func TestChannelAskAndStream(t *testing.T) {
	onBothStores(t, testChannelAskAndStream)
}

func testChannelAskAndStream(t *testing.T, e *env) {
	ctx := ctxT(t)
	asker, answerer := e.client(t, "research-agent"), e.client(t, "data-agent")
	in := mustCreate(t, asker, openintent.IntentCreate{Title: "ask"})
	ch, err := asker.CreateChannel(ctx, in.ID, openintent.ChannelCreate{Name: "clarify"})
	if err != nil {
		t.Fatal(err)
	}

	// The answering agent follows the channel and replies to the requests addressed to it.
	answerCtx, stop := context.WithCancel(ctx)
	defer stop()
	answered := make(chan error, 1)
	go func() {
		for m, err := range answerer.StreamChannelMessages(answerCtx, ch.ID, openintent.StreamChannelParams{After: "0"}) {
			if err != nil {
				answered <- err
				return
			}
			if m.MessageType == openintent.MessageRequest && m.To != nil && *m.To == "data-agent" {
				if _, err := answerer.ReplyTo(answerCtx, ch.ID, m.ID, openintent.ChannelReply{
					Payload: openintent.Object{"answer": "v2.3", "question": m.Payload["question"]}}); err != nil {
					answered <- err
					return
				}
			}
		}
	}()
	for i, q := range []string{"schema?", "format?"} {
		reply, err := asker.Ask(ctx, ch.ID, "data-agent", openintent.Object{"question": q})
		if err != nil {
			t.Fatalf("Ask %d: %v", i, err)
		}
		if reply.MessageType != openintent.MessageResponse || reply.Sender != "data-agent" || reply.Payload["question"] != q ||
			reply.Payload["answer"] != "v2.3" {
			t.Fatalf("Ask %d: %+v", i, reply)
		}
	}

	// Nobody answers role:auditor: Ask gives up at the context's deadline.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = asker.Ask(short, ch.ID, "role:auditor", openintent.Object{"question": "anyone?"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ask without an answer: %v", err)
	}
	var timeout *openintent.AskTimeoutError
	if !errors.As(err, &timeout) {
		// On a very loaded machine the deadline may pass before the request is even sent.
		t.Skipf("the deadline passed while sending the request: %v", err)
	}
	// The request stays on the channel: a late reply can still be found by its id.
	if got, err := asker.GetMessage(ctx, ch.ID, timeout.Request.ID); err != nil || got.Status != openintent.MessageDelivered {
		t.Errorf("the unanswered request: %+v %v", got, err)
	}

	// A stream from now receives what is sent, replies included, and ends when the channel closes.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watched := make(chan openintent.ChannelMessage, 16)
	ended := make(chan error, 1)
	go func() {
		for m, err := range asker.StreamChannelMessages(watchCtx, ch.ID, openintent.StreamChannelParams{After: timeout.Request.ID}) {
			if err != nil {
				ended <- err
				return
			}
			watched <- m
		}
		ended <- nil
	}()
	sent, err := answerer.Broadcast(ctx, ch.ID, openintent.Object{"status": "starting"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-watched:
		if m.ID != sent.ID {
			t.Errorf("streamed %+v, want the broadcast %s", m, sent.ID)
		}
	case <-ctx.Done():
		t.Fatal("the stream did not deliver the broadcast")
	}
	// Ask on a channel that closes before the answer comes.
	askErr := make(chan error, 1)
	go func() {
		_, err := asker.Ask(ctx, ch.ID, "role:auditor", openintent.Object{"question": "last"})
		askErr <- err
	}()
	// The pending request reaches the watcher before the channel closes, so Ask is waiting.
	select {
	case m := <-watched:
		if m.Payload["question"] != "last" {
			t.Errorf("streamed %+v, want the last request", m)
		}
	case <-ctx.Done():
		t.Fatal("the stream did not deliver the last request")
	}
	if _, err := asker.UpdateChannel(ctx, ch.ID, openintent.ChannelUpdate{Status: openintent.ChannelClosed}); err != nil {
		t.Fatal(err)
	}
	if err := <-askErr; !errors.Is(err, openintent.ErrChannelClosed) {
		t.Errorf("Ask on a channel closed while waiting: %v", err)
	}
	if err := <-ended; !errors.Is(err, openintent.ErrChannelClosed) {
		t.Errorf("the stream of a closed channel ended with %v", err)
	}
	if err := <-answered; !errors.Is(err, openintent.ErrChannelClosed) {
		t.Errorf("the answering agent's stream ended with %v", err)
	}
}
