package server

import (
	"context"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// The members of a portfolio as of an earlier event: those now, corrected by the membership
// events since (what a webhook dispatcher whose cursor lags starts from).
func TestPortfolioMembersAt(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[string]string{}
	for _, name := range []string{"stays", "leaves", "joins"} {
		in, err := st.CreateIntent(ctx, models.Intent{Title: name, Status: models.IntentStatusDraft}, "owner", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = in.ID
	}
	// join and leave write what AddPortfolioIntent and RemovePortfolioIntent write.
	join := func(name string) {
		err := st.Write(ctx, func(w *store.Writer) error {
			m := membership{ID: store.NewID(), PortfolioID: "p", IntentID: ids[name]}
			if _, err := w.Insert(store.Record{Kind: kindMembership, ID: m.ID, Parent: "p", Ref: m.IntentID}, m); err != nil {
				return err
			}
			_, err := w.AppendEvent(m.IntentID, string(models.EventTypeAddedToPortfolio), "owner", models.Object{"portfolio_id": "p"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	leave := func(name string) {
		err := st.Write(ctx, func(w *store.Writer) error {
			rs, err := w.List(store.Query{Kind: kindMembership, Parent: "p", Ref: ids[name]})
			if err != nil || len(rs) != 1 {
				t.Fatalf("membership of %s: %v, %v", name, rs, err)
			}
			if err := w.Delete(kindMembership, rs[0].ID); err != nil {
				return err
			}
			_, err = w.AppendEvent(ids[name], string(models.EventTypeRemovedFromPortfolio), "owner", models.Object{"portfolio_id": "p"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	join("stays")
	join("leaves")
	then, err := st.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leave("leaves")
	join("joins")
	if _, err := st.AppendEvent(ctx, models.IntentEvent{IntentID: ids["joins"], EventType: "comment", Actor: "owner",
		Payload: models.Object{"portfolio_id": "p"}}); err != nil { // not a membership event
		t.Fatal(err)
	}
	now, err := st.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq  int64
		want map[string]bool
	}{
		{then, map[string]bool{"stays": true, "leaves": true, "joins": false}},
		{now, map[string]bool{"stays": true, "leaves": false, "joins": true}},
		{0, map[string]bool{"stays": false, "leaves": false, "joins": false}},
	} {
		got, err := portfolioMembersAt(ctx, st, "p", tc.seq)
		if err != nil {
			t.Fatal(err)
		}
		for name, member := range tc.want {
			if got[ids[name]] != member {
				t.Errorf("after event %d: %s member = %v, want %v", tc.seq, name, got[ids[name]], member)
			}
		}
	}
}
