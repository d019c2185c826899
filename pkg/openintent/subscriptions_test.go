package openintent_test

import (
	"errors"
	"iter"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/server"
)

// receiver is a webhook endpoint that fails its first `fail` requests with 500.
type receiver struct {
	mu       sync.Mutex
	fail     int
	attempts int
	got      []*openintent.Webhook
	bad      []error
	arrived  chan struct{}
	secret   string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if rc.attempts <= rc.fail {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	wh, err := openintent.VerifyWebhook(r, rc.secret, 0)
	if err != nil {
		rc.bad = append(rc.bad, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.got = append(rc.got, wh)
	rc.arrived <- struct{}{}
}

func TestWebhookDeliveryRetriesAndSigns(t *testing.T) {
	if testing.Short() {
		t.Skip("webhook delivery timing")
	}
	logs := captureLogs(t)
	srv := openintenttest.NewServer(t, openintenttest.WithLogger(logs.logger),
		openintenttest.WithWebhooks(server.Webhooks{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 5}))
	c := srv.Client(t, "watcher")
	ctx := ctxT(t)
	rc := &receiver{fail: 2, secret: "whsec-test-secret-0001", arrived: make(chan struct{}, 10)}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)

	in := mustCreate(t, c, openintent.IntentCreate{Title: "watched"})
	other := mustCreate(t, c, openintent.IntentCreate{Title: "not watched"})
	sub, err := c.Subscribe(ctx, openintent.SubscriptionCreate{IntentID: in.ID, WebhookURL: hook.URL, Secret: rc.secret,
		EventTypes: []openintent.EventType{"state_patched"}})
	if err != nil {
		t.Fatal(err)
	}
	if !sub.Active || sub.SubscriberID != "watcher" {
		t.Fatalf("subscription %+v", sub)
	}
	if _, err := c.UpdateState(ctx, other.ID, other.Version, openintent.Object{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"filtered": true}); err != nil {
		t.Fatal(err)
	}
	up, err := c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("webhook never delivered")
	}
	time.Sleep(100 * time.Millisecond) // anything else would arrive by now
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.attempts != 3 || len(rc.got) != 1 || len(rc.bad) != 0 {
		t.Fatalf("attempts %d, delivered %d, bad %v; want 3 attempts (two failures), one delivery", rc.attempts, len(rc.got), rc.bad)
	}
	wh := rc.got[0]
	if wh.SubscriptionID != sub.ID || wh.Event.EventType != "state_patched" || wh.Event.IntentID != in.ID || wh.Event.Payload["version"] != float64(up.Version) || wh.DeliveryID == "" {
		t.Fatalf("webhook %+v", wh)
	}
	// The secret is write-only: not in the subscription list nor the logs.
	subs, err := c.ListSubscriptions(ctx, in.ID, "")
	if err != nil || len(subs) != 1 {
		t.Fatalf("subscriptions %v, %v", subs, err)
	}
	if strings.Contains(logs.String(), rc.secret) {
		t.Fatal("the webhook secret appears in the logs")
	}
}

func TestWebhookStopsAfterUnsubscribeAndExpiry(t *testing.T) {
	e := newClockEnv(t)
	c := e.client(t, "watcher")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "w"})
	var ve *openintent.ValidationError
	past := e.clock.Now().Add(-time.Minute)
	if _, err := c.Subscribe(ctx, openintent.SubscriptionCreate{IntentID: in.ID, WebhookURL: "http://127.0.0.1:1/x", ExpiresAt: openintent.Timestamp{Time: past}}); !errors.As(err, &ve) {
		t.Fatalf("expired subscription accepted: %v", err)
	}
	if _, err := c.Subscribe(ctx, openintent.SubscriptionCreate{IntentID: in.ID, WebhookURL: "ftp://x"}); !errors.As(err, &ve) {
		t.Fatalf("ftp webhook accepted: %v", err)
	}
	sub, err := c.Subscribe(ctx, openintent.SubscriptionCreate{IntentID: in.ID, WebhookURL: "http://127.0.0.1:1/x",
		ExpiresAt: openintent.Timestamp{Time: e.clock.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	subs, err := c.ListSubscriptions(ctx, in.ID, "")
	if err != nil || len(subs) != 1 || subs[0].Active {
		t.Fatalf("after expiry: %+v, %v", subs, err)
	}
	if err := c.Unsubscribe(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	var nf *openintent.NotFoundError
	if err := c.Unsubscribe(ctx, sub.ID); !errors.As(err, &nf) {
		t.Fatalf("unsubscribing twice: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"subscription_id":"s","event":{}}`)
	sig := server.Sign("k", now.Unix(), body)
	ts := "1800000000"
	if err := openintent.VerifySignature("k", ts, sig, body, 0, now); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	for name, err := range map[string]error{
		"wrong secret":   openintent.VerifySignature("other", ts, sig, body, 0, now),
		"tampered body":  openintent.VerifySignature("k", ts, sig, append([]byte(" "), body...), 0, now),
		"replayed later": openintent.VerifySignature("k", ts, sig, body, time.Minute, now.Add(2*time.Minute)),
		"no prefix":      openintent.VerifySignature("k", ts, strings.TrimPrefix(sig, "sha256="), body, 0, now),
		"bad timestamp":  openintent.VerifySignature("k", "soon", sig, body, 0, now),
	} {
		if !errors.Is(err, openintent.ErrInvalidSignature) {
			t.Errorf("%s: %v, want ErrInvalidSignature", name, err)
		}
	}
}

func TestPortfolioStreamResumes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "streamer")
	ctx := ctxT(t)
	p, err := c.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: "stream"})
	if err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, c, openintent.IntentCreate{Title: "a"})
	outside := mustCreate(t, c, openintent.IntentCreate{Title: "outside"})
	if _, err := c.AddIntentToPortfolio(ctx, p.ID, a.ID, "", 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.LogEvent(ctx, a.ID, openintent.EventComment, openintent.Object{"i": i}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LogEvent(ctx, outside.ID, openintent.EventComment, openintent.Object{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	// Read two events from the start, stop, then resume after the last one seen.
	var seen []openintent.IntentEvent
	for ev, err := range c.StreamPortfolioEvents(ctx, p.ID, openintent.WithLastEventID("0")) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
		if len(seen) == 2 {
			break
		}
	}
	last := seen[len(seen)-1].Sequence
	for ev, err := range c.StreamPortfolioEvents(ctx, p.ID, openintent.WithLastEventID(strconvI(last))) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
		if len(seen) == 5 { // intent_created, added_to_portfolio, 3 comments
			break
		}
	}
	for i, ev := range seen {
		if ev.IntentID != a.ID {
			t.Fatalf("event %d of another intent: %+v", i, ev)
		}
		if i > 0 && ev.Sequence <= seen[i-1].Sequence {
			t.Fatalf("event %d repeated or out of order: %d after %d", i, ev.Sequence, seen[i-1].Sequence)
		}
	}
	if seen[0].EventType != "intent_created" || seen[1].EventType != "added_to_portfolio" || seen[4].Payload["i"] != float64(2) {
		t.Fatalf("events %v", seen)
	}
}

// portfolioStory is what the membership tests play out: a portfolio of a, b and secret (whose
// ACL is closed: only its owner reads it), then comments on secret ("hidden") and on b
// ("member"), b's removal, a comment on b ("after removal"), and a last comment on a ("end").
type portfolioStory struct {
	p            *openintent.Portfolio
	a, b, secret *openintent.Intent
}

// newPortfolioStory sets the portfolio up, as owner.
func newPortfolioStory(t *testing.T, owner *openintent.Client, name string) portfolioStory {
	t.Helper()
	ctx := ctxT(t)
	p, err := owner.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	st := portfolioStory{p: p}
	st.a = mustCreate(t, owner, openintent.IntentCreate{Title: "a"})
	st.b = mustCreate(t, owner, openintent.IntentCreate{Title: "b"})
	st.secret = mustCreate(t, owner, openintent.IntentCreate{Title: "secret"})
	for _, in := range []*openintent.Intent{st.a, st.b, st.secret} {
		if _, err := owner.AddIntentToPortfolio(ctx, p.ID, in.ID, "", 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.SetACL(ctx, st.secret.ID, openintent.ACLSet{DefaultPolicy: openintent.AccessClosed}); err != nil {
		t.Fatal(err)
	}
	return st
}

// play makes the changes, as owner.
func (st portfolioStory) play(t *testing.T, owner *openintent.Client) {
	t.Helper()
	ctx := ctxT(t)
	for _, step := range []struct {
		in   *openintent.Intent
		step string
	}{{st.secret, "hidden"}, {st.b, "member"}, {nil, "remove b"}, {st.b, "after removal"}, {st.a, "end"}} {
		if step.in == nil {
			if err := owner.RemoveIntentFromPortfolio(ctx, st.p.ID, st.b.ID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := owner.LogEvent(ctx, step.in.ID, openintent.EventComment, openintent.Object{"step": step.step}); err != nil {
			t.Fatal(err)
		}
	}
}

// describeSteps names events by type and step, e.g. "comment:member".
func describeSteps(evs []openintent.IntentEvent) []string {
	var out []string
	for _, ev := range evs {
		s := string(ev.EventType)
		if step, ok := ev.Payload["step"].(string); ok {
			s += ":" + step
		}
		out = append(out, string(s))
	}
	return out
}

// A portfolio stream follows membership as it changes: an intent's removed_from_portfolio event
// reaches it, the removed intent's later events do not. Neither a portfolio stream nor an agent
// stream shows events of an intent whose ACL is closed to the caller.
func TestStreamsFollowMembershipAndHideClosedIntents(t *testing.T) {
	e := newEnv(t)
	owner := e.client(t, "owner")
	other := e.client(t, "other")
	ctx := ctxT(t)
	st := newPortfolioStory(t, owner, "watched")
	start, err := owner.LogEvent(ctx, st.a.ID, openintent.EventComment, openintent.Object{"step": "start"})
	if err != nil {
		t.Fatal(err)
	}
	// Streams opened before the changes, from the event just logged.
	type read struct {
		evs []openintent.IntentEvent
		err error
	}
	started := make(chan struct{}, 2)
	collect := func(events iter.Seq2[openintent.IntentEvent, error]) chan read {
		out := make(chan read, 1)
		go func() {
			var r read
			for ev, err := range events {
				if err != nil {
					r.err = err
					break
				}
				if ev.Payload["step"] == "start" {
					started <- struct{}{} // the stream is reading: the changes below come after
					continue
				}
				r.evs = append(r.evs, ev)
				if ev.Payload["step"] == "end" {
					break
				}
			}
			out <- r
		}()
		return out
	}
	from := openintent.WithLastEventID(strconvI(start.Sequence - 1))
	portfolio := collect(other.StreamPortfolioEvents(ctx, st.p.ID, from))
	agent := collect(other.StreamAgentEvents(ctx, "owner", from))
	for range 2 {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("the streams did not start")
		}
	}
	st.play(t, owner)
	for name, ch := range map[string]chan read{"portfolio": portfolio, "agent": agent} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("%s stream: %v", name, r.err)
		}
		want := []string{"comment:member", "removed_from_portfolio", "comment:end"}
		if name == "agent" { // every event by owner it may read
			want = []string{"comment:member", "removed_from_portfolio", "comment:after removal", "comment:end"}
		}
		if got := describeSteps(r.evs); !slices.Equal(got, want) {
			t.Errorf("%s stream: %v, want %v", name, got, want)
		}
	}
}

// Webhook subscriptions to a portfolio follow its membership through the log like streams, and
// a subscriber never receives events of an intent whose ACL is closed to it.
func TestWebhooksFollowMembershipAndHideClosedIntents(t *testing.T) {
	srv := openintenttest.NewServer(t, openintenttest.WithWebhooks(server.Webhooks{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}))
	owner, other := srv.Client(t, "owner"), srv.Client(t, "other")
	ctx := ctxT(t)
	rc := &receiver{secret: "whsec-test-secret-0002", arrived: make(chan struct{}, 20)}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	st := newPortfolioStory(t, owner, "hooked")
	if _, err := other.Subscribe(ctx, openintent.SubscriptionCreate{PortfolioID: st.p.ID, WebhookURL: hook.URL, Secret: rc.secret,
		EventTypes: []openintent.EventType{"comment", "removed_from_portfolio"}}); err != nil {
		t.Fatal(err)
	}
	st.play(t, owner)
	want := []string{"comment:member", "removed_from_portfolio", "comment:end"}
	for range want {
		select {
		case <-rc.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("webhooks not delivered")
		}
	}
	time.Sleep(100 * time.Millisecond) // anything else would arrive by now
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var evs []openintent.IntentEvent
	for _, wh := range rc.got {
		evs = append(evs, wh.Event)
	}
	slices.SortFunc(evs, func(x, y openintent.IntentEvent) int { return int(x.Sequence - y.Sequence) })
	if got := describeSteps(evs); !slices.Equal(got, want) || len(rc.bad) > 0 {
		t.Fatalf("delivered %v (bad %v), want %v", got, rc.bad, want)
	}
}
