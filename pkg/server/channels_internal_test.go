package server

import (
	"context"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// changedMessages finds the messages whose status changed after a change number, in the order
// of their last change: from the channel's list of recent changes when it reaches back that far,
// from every message when it does not; never a message beyond the stream's position.
func TestChangedMessages(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := st.CreateIntent(ctx, models.Intent{Title: "talk", Status: models.IntentStatusActive}, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	chID := store.NewID()
	var ids []string
	const sent = recentChanges + 8
	err = st.Write(ctx, func(w *store.Writer) error {
		c := models.Channel{ID: chID, IntentID: in.ID, Name: "main", CreatedBy: "alice", Members: []string{}, MemberPolicy: models.MemberPolicyIntent,
			Options: normalizeOptions(nil), Status: models.ChannelStatusOpen, CreatedAt: w.Timestamp()}
		if _, err := w.Insert(store.Record{Kind: kindChannel, ID: chID, Parent: in.ID, Key: channelKey(in.ID, "main")}, storedChannel{Channel: c}); err != nil {
			return err
		}
		for range sent {
			m, _, err := appendMessage(w, chID, newMessage{sender: "alice", kind: models.MessageTypeNotify})
			if err != nil {
				return err
			}
			ids = append(ids, m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every message is marked read, the last ones first; then the first one is replied to.
	mark := func(id string, status models.MessageStatus) {
		t.Helper()
		if err := st.Write(ctx, func(w *store.Writer) error {
			_, err := store.Modify(w, kindChannelMessage, id, 0, func(m *storedMessage, _ *store.Record) error {
				m.Status = status
				return statusChange(w, m)
			})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(ids) - 1; i >= 0; i-- {
		mark(ids[i], models.MessageStatusRead)
	}
	mark(ids[0], models.MessageStatusReplied)
	c, err := store.Get[storedChannel](ctx, st, kindChannel, chID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Changes != sent+1 || len(c.Changed) != recentChanges {
		t.Fatalf("changes %d, %d recent", c.Changes, len(c.Changed))
	}
	for _, tc := range []struct {
		name       string
		seen, upTo int64
		want       []string
	}{
		{"recent", sent - 2, sent, []string{ids[1], ids[0]}}, // changes sent-1 (ids[1]) and sent+1 (ids[0])
		{"older than the list", 0, sent, append(reversed(ids[1:]), ids[0])},
		{"up to the stream's position", 0, 3, []string{ids[2], ids[1], ids[0]}},
		{"none", sent + 1, sent, nil},
	} {
		got, err := changedMessages(ctx, st, c, tc.seen, tc.upTo)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, m := range got {
			gotIDs = append(gotIDs, m.ID)
		}
		if len(gotIDs) != len(tc.want) {
			t.Fatalf("%s: %d messages, want %d", tc.name, len(gotIDs), len(tc.want))
		}
		for i := range gotIDs {
			if gotIDs[i] != tc.want[i] {
				t.Fatalf("%s: message %d is %s, want %s", tc.name, i, gotIDs[i], tc.want[i])
			}
		}
	}
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
