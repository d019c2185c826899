package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/internal/outbound"
	"github.com/openintent-go/openintent/internal/webhooksig"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0006 subscriptions and their webhook deliveries.
const (
	kindSubscription = "subscription"
	kindDelivery     = "delivery"      // a pending webhook delivery
	kindDeadDelivery = "delivery_dead" // a delivery that exhausted its attempts
)

// Webhooks configures webhook delivery. Zero values take the defaults.
type Webhooks struct {
	// MaxAttempts bounds the attempts per delivery (default 8).
	MaxAttempts int
	// BaseBackoff is the wait after the first failed attempt, doubled after each failure up to
	// MaxBackoff (defaults 1s and 5m).
	BaseBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Client sends the requests (default: an outbound.NewClient with Timeout, which follows no
	// redirect and, unless AllowPrivateNetworks, connects to public addresses only, checked on
	// the address a name resolves to).
	Client *http.Client
	// AllowPrivateNetworks lets webhooks live on loopback, private and link-local addresses
	// (tests, local development): subscriptions may name them and the default client reaches
	// them. Off, such a webhook_url is refused with 422 when it names the address literally
	// (or is localhost), and a delivery to a name resolving to one fails, its last_error saying
	// the address is not public.
	AllowPrivateNetworks bool
	// MaxInFlight bounds the deliveries being sent at once, across subscriptions (default 16).
	// Each subscription's deliveries are sent one at a time, in the order of their events, so a
	// slow receiver delays its own subscription only. A failed delivery holds back the later
	// ones of its subscription until it succeeds or is given up after MaxAttempts.
	MaxInFlight int
}

// storedSubscription is a subscription with its write-only signing secret.
type storedSubscription struct {
	models.Subscription
	Secret string `json:"secret,omitempty"`
}

// delivery is one event to post to one subscription's webhook.
type delivery struct {
	ID             string             `json:"id"`
	SubscriptionID string             `json:"subscription_id"`
	Event          models.IntentEvent `json:"event"`
	Attempts       int                `json:"attempts"`
	NextAt         time.Time          `json:"next_at"`
	LastError      string             `json:"last_error,omitempty"`
	// Claim and ClaimedUntil: the attempt in progress, taken by one replica of the server (claim,
	// a random id) until then; other replicas sharing the store leave the delivery, and the later
	// ones of its subscription, alone until the attempt is recorded or its claim runs out (the
	// replica died: the attempt is made again).
	Claim        string    `json:"claim,omitempty"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
}

// heldUntil is when the delivery may next be attempted: its retry time, or the end of the claim
// of an attempt in progress.
func (dl delivery) heldUntil() time.Time {
	if dl.ClaimedUntil.After(dl.NextAt) {
		return dl.ClaimedUntil
	}
	return dl.NextAt
}

// webhookBody is what a webhook receives.
type webhookBody struct {
	SubscriptionID string             `json:"subscription_id"`
	Event          models.IntentEvent `json:"event"`
}

// Sign returns the X-OpenIntent-Signature value of a webhook body sent at timestamp (Unix
// seconds, as in X-OpenIntent-Timestamp): "sha256=" and the hex HMAC-SHA256, keyed by the
// subscription's secret, of "<timestamp>.<body>".
func Sign(secret string, timestamp int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(webhooksig.Sum(secret, timestamp, body))
}

// dispatcher turns committed events into webhook deliveries and sends them, at least once, off
// the request path. Deliveries are stored, so a restart resumes them. Its loop enqueues
// deliveries and hands each subscription's due ones to a worker of their own (at most
// cfg.MaxInFlight workers at once), which sends them one at a time in the order of their events.
//
// Replicas of the server sharing a store each run a dispatcher; they share the work through the
// store: the deliveries of a batch of events are stored by the replica whose transaction moves
// the shared cursor past them (a compare-and-set), and each attempt is claimed in the store
// before it is sent, so that one replica makes it.
type dispatcher struct {
	store  *store.Store
	access *accessControl
	log    *slog.Logger
	cfg    Webhooks
	now    func() time.Time
	loop
	// members follows, for the portfolios of subscriptions, their members as of the events the
	// dispatcher has read (used by its goroutine only).
	members map[string]map[string]bool

	slots   chan struct{}   // one per running worker: at most cfg.MaxInFlight
	kick    chan struct{}   // wakes the loop when a worker ends
	workers sync.WaitGroup  // running workers (added to by the loop's goroutine only)
	mu      sync.Mutex      // guards busy
	busy    map[string]bool // subscription id -> a worker is sending its deliveries
	tel     *telemetry      // metrics and spans of deliveries (telemetry.go)
}

func newDispatcher(st *store.Store, access *accessControl, log *slog.Logger, cfg Webhooks) *dispatcher {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 16
	}
	if cfg.Client == nil {
		cfg.Client = outbound.NewClient(outbound.Options{AllowPrivate: cfg.AllowPrivateNetworks, Timeout: cfg.Timeout})
	}
	return &dispatcher{store: st, access: access, log: log, cfg: cfg, now: st.Now, members: map[string]map[string]bool{},
		slots: make(chan struct{}, cfg.MaxInFlight), kick: make(chan struct{}, 1), busy: map[string]bool{}}
}

// checkWebhookURL refuses (422 on webhook_url) a URL deliveries could not reach under the
// dispatcher's address policy, as far as the URL itself shows: not http(s), or a literal address
// that is not public, or localhost (see outbound.CheckURL). Names are resolved, and checked,
// when a delivery connects. With AllowPrivateNetworks every URL passes.
func (d *dispatcher) checkWebhookURL(raw string) error {
	if d.cfg.AllowPrivateNetworks {
		return nil
	}
	if err := outbound.CheckURL(raw); err != nil {
		return validationFailed("webhook_url", err.Error())
	}
	return nil
}

// start runs the dispatcher's loop once there is something to deliver.
func (d *dispatcher) start() { d.loop.start(d.run) }

// wake makes the loop look at the deliveries again (without blocking).
func (d *dispatcher) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(ctx context.Context) {
	ctx = d.tel.background(ctx)
	defer d.workers.Wait() // in-flight deliveries (which use ctx) end before close returns
	cursor, err := loadCursor(ctx, d.store, "webhooks")
	if err != nil {
		d.log.Error("webhooks: read cursor", "error", err)
	}
	followLog(ctx, d.store, d.kick, func() time.Duration {
		if err := d.enqueue(ctx, &cursor); err != nil && ctx.Err() == nil {
			d.log.Error("webhooks: enqueue deliveries", "error", err)
		}
		return d.deliverDue(ctx)
	})
}

// enqueue stores a delivery for every new event and matching active subscription, and moves the
// cursor past the events, in one transaction.
func (d *dispatcher) enqueue(ctx context.Context, cursor *int64) error {
	for {
		// Another replica may have handled the events first: go on from where it got.
		if stored, ok, err := storedCursor(ctx, d.store, "webhooks"); err != nil {
			return err
		} else if ok && stored != *cursor {
			*cursor = stored
			clear(d.members) // membership was followed to the old position
		}
		events, err := d.store.EventsAfter(ctx, store.StreamFilter{AfterSeq: *cursor, Limit: 200})
		if err != nil || len(events) == 0 {
			return err
		}
		subs, err := store.List[storedSubscription](ctx, d.store, store.Query{Kind: kindSubscription})
		if err != nil {
			return err
		}
		for _, s := range subs {
			if p := s.PortfolioID; p != nil && d.members[*p] == nil {
				// A portfolio first seen: its members as of the cursor, followed through the log
				// from there.
				if d.members[*p], err = portfolioMembersAt(ctx, d.store, *p, *cursor); err != nil {
					return err
				}
			}
		}
		// Which subscriptions get which events, decided before the write transaction (which
		// must not read the store outside itself).
		type due struct {
			sub string
			ev  models.IntentEvent
		}
		var dues []due
		now := d.now()
		readable := map[[2]string]bool{} // (intent, subscriber) -> may read
		// Membership as of the end of this batch, kept only if its deliveries are stored.
		after := make(map[string]map[string]bool, len(d.members))
		for p, members := range d.members {
			after[p] = maps.Clone(members)
		}
		for _, ev := range events {
			shown := map[string]bool{} // portfolio id -> whether its subscriptions get ev
			for p, members := range after {
				shown[p] = inPortfolio(ev, p, members)
			}
			for _, s := range subs {
				if !matches(s.Subscription, ev, shown, now) {
					continue
				}
				// A subscriber never receives events of an intent whose ACL is closed to it.
				k := [2]string{ev.IntentID, s.SubscriberID}
				ok, known := readable[k]
				if !known {
					if ok, err = d.access.allows(ctx, ev.IntentID, s.SubscriberID, models.PermissionRead); err != nil {
						return err
					}
					readable[k] = ok
				}
				if ok {
					dues = append(dues, due{s.ID, ev})
				}
			}
		}
		last := events[len(events)-1].Sequence
		err = d.store.Write(ctx, func(w *store.Writer) error {
			for _, du := range dues {
				dl := delivery{ID: store.NewID(), SubscriptionID: du.sub, Event: du.ev, NextAt: w.Now()}
				if _, err := w.Insert(store.Record{Kind: kindDelivery, ID: dl.ID, Parent: du.sub}, dl); err != nil {
					return err
				}
			}
			return advanceCursor(w, "webhooks", *cursor, last)
		})
		if errors.Is(err, errCursorMoved) {
			continue // another replica stored these deliveries
		}
		if err != nil {
			return err
		}
		*cursor, d.members = last, after
	}
}

// matches reports whether an active subscription selects ev; inPortfolio tells, per portfolio,
// whether ev belongs to it.
func matches(s models.Subscription, ev models.IntentEvent, inPortfolio map[string]bool, now time.Time) bool {
	if s.WebhookURL == nil || *s.WebhookURL == "" || !active(s, now) {
		return false
	}
	if len(s.EventTypes) > 0 && !slices.Contains(s.EventTypes, ev.EventType) {
		return false
	}
	switch {
	case s.IntentID != nil:
		return ev.IntentID == *s.IntentID
	case s.PortfolioID != nil:
		return inPortfolio[*s.PortfolioID]
	case s.AgentID != "":
		agent, _ := ev.Payload["agent_id"].(string)
		return ev.Actor == s.AgentID || agent == s.AgentID
	}
	return true // no scope: every event
}

// active reports whether a subscription has not expired.
func active(s models.Subscription, now time.Time) bool {
	return s.ExpiresAt.IsZero() || s.ExpiresAt.After(now)
}

// deliverDue hands every subscription with due deliveries to a worker (unless one is already
// sending its deliveries) and returns how long to wait for the next delivery to come due. A
// subscription's deliveries go in the order of their events; one waiting for its retry holds
// back the later ones. When MaxInFlight workers run, the rest wait for one to end (which wakes
// the loop).
func (d *dispatcher) deliverDue(ctx context.Context) time.Duration {
	next := time.Minute
	rs, err := d.store.ListRecords(ctx, store.Query{Kind: kindDelivery})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("webhooks: list deliveries", "error", err)
		}
		return time.Second
	}
	type queued struct {
		r  store.Record
		dl delivery
	}
	queues := map[string][]queued{}
	var subs []string // in the order first seen
	for _, r := range rs {
		var dl delivery
		if err := r.Decode(&dl); err != nil {
			d.log.Error("webhooks: decode delivery", "error", err)
			continue
		}
		if _, ok := queues[dl.SubscriptionID]; !ok {
			subs = append(subs, dl.SubscriptionID)
		}
		queues[dl.SubscriptionID] = append(queues[dl.SubscriptionID], queued{r, dl})
	}
	now := d.now()
	for _, sub := range subs {
		if ctx.Err() != nil {
			return 0
		}
		q := queues[sub]
		slices.SortStableFunc(q, func(a, b queued) int { return cmp.Compare(a.dl.Event.Sequence, b.dl.Event.Sequence) })
		var due []store.Record // up to the first delivery waiting for its retry
		for _, e := range q {
			if wait := e.dl.heldUntil().Sub(now); wait > 0 {
				next = min(next, wait)
				break
			}
			due = append(due, e.r)
		}
		if len(due) == 0 || !d.markBusy(sub) {
			continue
		}
		select {
		case d.slots <- struct{}{}:
		default:
			d.clearBusy(sub)
			return next // every slot is taken: the first worker to end wakes the loop
		}
		d.workers.Add(1)
		go d.work(ctx, sub, due)
	}
	return next
}

// markBusy marks sub as being sent by a worker of this replica; false if one already is.
func (d *dispatcher) markBusy(sub string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy[sub] {
		return false
	}
	d.busy[sub] = true
	return true
}

func (d *dispatcher) clearBusy(sub string) {
	d.mu.Lock()
	delete(d.busy, sub)
	d.mu.Unlock()
}

// work sends the due deliveries of subscription sub, in order, one at a time, and stops at the
// first that must wait for a retry; then it frees its slot and wakes the loop (which sends what
// came due meanwhile).
func (d *dispatcher) work(ctx context.Context, sub string, due []store.Record) {
	defer func() {
		d.clearBusy(sub)
		<-d.slots
		d.workers.Done()
		d.wake()
	}()
	for _, listed := range due {
		if ctx.Err() != nil {
			return
		}
		// Read it again: the loop may have listed it before an earlier worker sent it.
		r, err := d.store.GetRecord(ctx, kindDelivery, listed.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		var dl delivery
		if err == nil {
			err = r.Decode(&dl)
		}
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("webhooks: read delivery", "error", err, "delivery_id", listed.ID)
			}
			return
		}
		if dl.heldUntil().After(d.now()) || !d.attempt(ctx, dl) {
			return // it waits for its retry (or another replica's attempt), and the later deliveries behind it
		}
	}
}

// claimTTL is how long a claim on an attempt holds: the attempt's timeout, with room for
// recording its outcome and for clocks of replicas that differ a little.
func (d *dispatcher) claimTTL() time.Duration { return 2*d.cfg.Timeout + 30*time.Second }

// claim takes the next attempt of delivery dl for this replica, in a transaction that reads
// the delivery again: it reports the delivery as it is now, false when it is gone (sent by
// another replica, or its subscription deleted) or not due (another replica's attempt is in
// progress or failed and waits for its retry).
func (d *dispatcher) claim(ctx context.Context, dl delivery) (delivery, bool, error) {
	claim, ok := store.NewID(), false
	err := d.store.Write(ctx, func(w *store.Writer) error {
		var cur delivery
		r, err := w.Get(kindDelivery, dl.ID)
		if err == nil {
			err = r.Decode(&cur)
		}
		if err != nil {
			return err
		}
		now := w.Now()
		if cur.Attempts != dl.Attempts || cur.heldUntil().After(now) {
			return nil
		}
		cur.Claim, cur.ClaimedUntil = claim, now.Add(d.claimTTL())
		if _, err := w.Rewrite(r, cur); err != nil { // bookkeeping, not a change of the delivery
			return err
		}
		dl, ok = cur, true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return dl, false, nil
	}
	return dl, ok, err
}

// settle records what became of a claimed attempt, in a transaction that reads the delivery
// again and changes it only if the claim is still this replica's (a claim that ran out may have
// been taken over: then that replica's attempt is the one recorded).
func (d *dispatcher) settle(ctx context.Context, dl delivery, change func(w *store.Writer, r store.Record, cur delivery) error) error {
	err := d.store.Write(ctx, func(w *store.Writer) error {
		var cur delivery
		r, err := w.Get(kindDelivery, dl.ID)
		if err == nil {
			err = r.Decode(&cur)
		}
		if err != nil {
			return err
		}
		if cur.Claim != dl.Claim {
			return errHandledElsewhere
		}
		cur.Claim, cur.ClaimedUntil = "", time.Time{}
		return change(w, r, cur)
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errHandledElsewhere) {
		return nil // deleted with its subscription, or taken over
	}
	return err
}

// attempt claims, posts and records one attempt of a delivery. It reports whether the
// subscription's next delivery may follow: false when this one waits for a retry, for another
// replica's attempt, or the dispatcher stops.
func (d *dispatcher) attempt(ctx context.Context, dl delivery) bool {
	sub, err := store.Get[storedSubscription](ctx, d.store, kindSubscription, dl.SubscriptionID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		if ctx.Err() == nil {
			d.log.Error("webhooks: read subscription", "error", err, "subscription_id", dl.SubscriptionID)
		}
		return false
	}
	if err != nil || !active(sub.Subscription, d.now()) || sub.WebhookURL == nil {
		// Deleted or expired subscriptions stop receiving.
		err := d.store.Write(ctx, func(w *store.Writer) error { return w.Delete(kindDelivery, dl.ID) })
		if err == nil {
			d.tel.deliveryDiscarded()
		}
		return true
	}
	dl, ok, err := d.claim(ctx, dl)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("webhooks: claim delivery", "error", err, "delivery_id", dl.ID)
		}
		return false
	}
	if !ok {
		return false // another replica is on this subscription's deliveries
	}
	pctx, span := d.tel.startDelivery(ctx, sub, dl)
	err = d.post(pctx, sub, dl)
	if err != nil && ctx.Err() != nil {
		span.End()
		// Stopping: not counted as an attempt; the claim is given back, so that another replica,
		// or this one after a restart, sends it again.
		d.settle(context.WithoutCancel(ctx), dl, func(w *store.Writer, r store.Record, cur delivery) error {
			_, err := w.Rewrite(r, cur)
			return err
		})
		return false
	}
	dl.Attempts++
	werr := d.settle(context.WithoutCancel(pctx), dl, func(w *store.Writer, r store.Record, cur delivery) error {
		if err == nil {
			return w.Delete(kindDelivery, dl.ID)
		}
		cur.Attempts, cur.LastError = dl.Attempts, err.Error()
		if cur.Attempts >= d.cfg.MaxAttempts {
			if err := w.Delete(kindDelivery, dl.ID); err != nil {
				return err
			}
			_, err := w.Insert(store.Record{Kind: kindDeadDelivery, ID: dl.ID, Parent: dl.SubscriptionID}, cur)
			return err
		}
		cur.NextAt = d.now().Add(d.backoff(cur.Attempts))
		_, err := w.Update(r, cur)
		return err
	})
	if werr != nil {
		d.log.Error("webhooks: record attempt", "error", werr, "delivery_id", dl.ID)
	}
	d.tel.deliveryDone(span, dl, err, dl.Attempts >= d.cfg.MaxAttempts, d.now())
	switch {
	case err == nil:
		d.log.Info("webhooks: delivered", "delivery_id", dl.ID, "subscription_id", dl.SubscriptionID, "event_type", dl.Event.EventType, "attempt", dl.Attempts)
		return true
	case dl.Attempts >= d.cfg.MaxAttempts:
		d.log.Warn("webhooks: giving up on delivery", "delivery_id", dl.ID, "subscription_id", dl.SubscriptionID, "attempts", dl.Attempts, "error", err)
		return true
	}
	d.log.Info("webhooks: delivery failed; will retry", "delivery_id", dl.ID, "subscription_id", dl.SubscriptionID, "attempt", dl.Attempts, "error", err)
	return false
}

func (d *dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.BaseBackoff
	for i := 1; i < attempts && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

func (d *dispatcher) post(ctx context.Context, sub storedSubscription, dl delivery) error {
	body, err := json.Marshal(webhookBody{SubscriptionID: sub.ID, Event: dl.Event})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *sub.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL is not valid") // err would quote the URL
	}
	ts := d.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "openintent-go-server/webhooks")
	req.Header.Set("X-OpenIntent-Delivery", dl.ID)
	req.Header.Set("X-OpenIntent-Event", string(dl.Event.EventType))
	req.Header.Set("X-OpenIntent-Timestamp", strconv.FormatInt(ts, 10))
	d.tel.inject(ctx, req.Header) // W3C traceparent of the delivery's span, when tracing is on
	if sub.Secret != "" {
		req.Header.Set("X-OpenIntent-Signature", Sign(sub.Secret, ts, body))
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		var fe *outbound.ForbiddenAddressError
		if errors.As(err, &fe) {
			return fmt.Errorf("post webhook: %w", fe) // "address 127.0.0.1 is not public (loopback)"
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("post webhook: %w", ue.Err) // the URL may carry credentials: never log it
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

func (h *handlers) CreateSubscription(ctx context.Context, req genserver.CreateSubscriptionRequestObject) (genserver.CreateSubscriptionResponseObject, error) {
	b := req.Body
	scopes := 0
	for _, s := range []string{b.IntentID, b.PortfolioID} {
		if s != "" {
			scopes++
		}
	}
	if scopes > 1 {
		return nil, validationFailed("portfolio_id", "give intent_id or portfolio_id, not both")
	}
	if b.WebhookURL != "" {
		u, err := url.Parse(b.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, validationFailed("webhook_url", "must be an absolute http or https URL")
		}
		if err := h.webhooks.checkWebhookURL(b.WebhookURL); err != nil {
			return nil, err
		}
	}
	// The subscriber is the caller: deliveries are filtered by what it may read.
	subscriber, err := actorField(ctx, "subscriber_id", b.SubscriberID)
	if err != nil {
		return nil, err
	}
	if err := h.authorize(ctx, b.IntentID, models.PermissionRead); err != nil {
		return nil, err
	}
	sub := storedSubscription{Secret: b.Secret, Subscription: models.Subscription{SubscriberID: subscriber, AgentID: b.AgentID,
		EventTypes: b.EventTypes, ExpiresAt: b.ExpiresAt, Active: true}}
	sub.EventTypes = nonNil(sub.EventTypes)
	if b.IntentID != "" {
		sub.IntentID = &b.IntentID
	}
	if b.PortfolioID != "" {
		sub.PortfolioID = &b.PortfolioID
	}
	if b.WebhookURL != "" {
		sub.WebhookURL = &b.WebhookURL
	}
	end, err := h.store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if !sub.ExpiresAt.IsZero() && !sub.ExpiresAt.After(w.Now()) {
			return validationFailed("expires_at", "must be in the future")
		}
		if sub.WebhookURL != nil {
			// The dispatcher may start after this commits: it begins no later than here.
			if err := ensureCursor(w, "webhooks", end); err != nil {
				return err
			}
		}
		if b.IntentID != "" {
			if _, err := w.Intent(b.IntentID); err != nil {
				return err
			}
		}
		if b.PortfolioID != "" {
			if _, err := w.Get(kindPortfolio, b.PortfolioID); err != nil {
				return err
			}
		}
		sub.ID, sub.CreatedAt = store.NewID(), w.Timestamp()
		parent := b.IntentID
		if parent == "" {
			parent = b.PortfolioID
		}
		_, err := w.Insert(store.Record{Kind: kindSubscription, ID: sub.ID, Parent: parent}, sub)
		return err
	})
	if err != nil {
		return nil, err
	}
	if sub.WebhookURL != nil {
		h.webhooks.start()
	}
	return genserver.CreateSubscription200JSONResponse(sub.Subscription), nil // never the secret
}

func (h *handlers) ListSubscriptions(ctx context.Context, req genserver.ListSubscriptionsRequestObject) (genserver.ListSubscriptionsResponseObject, error) {
	parent := req.Params.IntentID
	if parent == "" {
		parent = req.Params.PortfolioID
	}
	subs, err := store.List[storedSubscription](ctx, h.store, store.Query{Kind: kindSubscription, Parent: parent})
	if err != nil {
		return nil, err
	}
	out := make([]models.Subscription, 0, len(subs))
	now := h.store.Now()
	for _, s := range subs {
		if s.SubscriberID != agentFrom(ctx) {
			continue // a subscription (its URL may carry a token) is its subscriber's alone
		}
		if req.Params.PortfolioID != "" && (s.PortfolioID == nil || *s.PortfolioID != req.Params.PortfolioID) {
			continue
		}
		s.Active = active(s.Subscription, now)
		out = append(out, s.Subscription)
	}
	return genserver.ListSubscriptions200JSONResponse(out), nil
}

func (h *handlers) DeleteSubscription(ctx context.Context, req genserver.DeleteSubscriptionRequestObject) (genserver.DeleteSubscriptionResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if err := w.Delete(kindSubscription, req.SubscriptionID); err != nil {
			return err
		}
		pending, err := w.List(store.Query{Kind: kindDelivery, Parent: req.SubscriptionID})
		if err != nil {
			return err
		}
		for _, r := range pending {
			if err := w.Delete(kindDelivery, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return genserver.DeleteSubscription204Response{}, nil
}
