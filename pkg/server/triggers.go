package server

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/internal/cron"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// Record kinds of RFC-0017 triggers (ref = type, parent = namespace) and of the lineage of the
// intents they create (id = the intent).
const (
	kindTrigger = "trigger"
	kindLineage = "trigger_lineage"
)

// DefaultTriggerInterval is how often schedule triggers are evaluated by default.
const DefaultTriggerInterval = time.Second

// maxCascade bounds chains of event triggers firing on each other's intents (RFC-0017 §3.3).
const maxCascade = 10

// storedTrigger is a trigger as stored: its wire model plus the engine's bookkeeping.
type storedTrigger struct {
	models.Trigger
	// ArmedAt is when the schedule starts counting (creation, re-enabling, a skipped firing).
	ArmedAt timestamp.Time `json:"armed_at"`
	// LastIntentID is the intent of the last firing, for deduplication.
	LastIntentID string `json:"last_intent_id,omitempty"`
	// Queued is a firing deferred by `queue` deduplication.
	Queued bool `json:"queued,omitempty"`
	// Owner is the agent that created the trigger: only it may change or fire it, and an event
	// trigger fires only on events of intents it may read.
	Owner string `json:"owner,omitempty"`
	// LastEventSeq is the sequence number of the last event an event trigger handled (fired on,
	// or skipped by deduplication or the cascade limit): each event is handled once, by one
	// replica of the server when several share the store.
	LastEventSeq int64 `json:"last_event_seq,omitempty"`
}

// lineage is how an intent came from triggers.
type lineage struct {
	TriggerID string   `json:"trigger_id"`
	Type      string   `json:"trigger_type"`
	Depth     int      `json:"trigger_depth"`
	Chain     []string `json:"trigger_chain"`
}

// checkCondition validates a trigger's condition for its type.
func checkCondition(typ string, c map[string]any) error {
	switch typ {
	case string(models.TriggerTypeSchedule):
		if at, ok := c["at"]; ok {
			s, _ := at.(string)
			if _, err := timestamp.Parse(s); err != nil {
				return validationFailed("condition/at", "must be a timestamp")
			}
			return nil
		}
		expr, _ := c["cron"].(string)
		if expr == "" {
			return validationFailed("condition/cron", "a schedule trigger needs a cron expression (or `at`)")
		}
		if _, err := cron.Parse(expr); err != nil {
			return validationFailed("condition/cron", err.Error())
		}
		if tz, ok := c["timezone"].(string); ok && tz != "" {
			if _, err := time.LoadLocation(tz); err != nil {
				return validationFailed("condition/timezone", fmt.Sprintf("unknown time zone %q", tz))
			}
		}
		for _, k := range []string{"starts_at", "ends_at"} {
			if v, ok := c[k]; ok && v != nil {
				if s, _ := v.(string); s == "" {
					return validationFailed("condition/"+k, "must be a timestamp")
				} else if _, err := timestamp.Parse(s); err != nil {
					return validationFailed("condition/"+k, "must be a timestamp")
				}
			}
		}
	case string(models.TriggerTypeEvent):
		if e, _ := c["event"].(string); e == "" {
			return validationFailed("condition/event", "an event trigger needs the event type it listens for")
		}
		if f, ok := c["filter"]; ok && f != nil {
			if _, ok := f.(map[string]any); !ok {
				return validationFailed("condition/filter", "must be an object")
			}
		}
	}
	return nil
}

func (h *handlers) CreateTrigger(ctx context.Context, req genserver.CreateTriggerRequestObject) (genserver.CreateTriggerResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Name) == "" {
		return nil, validationFailed("name", "must not be empty")
	}
	if err := checkCondition(string(b.Type), b.Condition); err != nil {
		return nil, err
	}
	t := storedTrigger{Trigger: models.Trigger{Name: b.Name, Type: b.Type, Enabled: b.Enabled == nil || *b.Enabled,
		Deduplication: b.Deduplication, Version: 1}, Owner: agentFrom(ctx)}
	if t.Deduplication == "" {
		t.Deduplication = models.DeduplicationModeAllow
	}
	if b.Condition != nil {
		t.Condition = b.Condition
	}
	if b.IntentTemplate != nil {
		t.IntentTemplate = b.IntentTemplate
	}
	if b.Namespace != "" {
		t.Namespace = &b.Namespace
	}
	end, err := h.store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if t.Type == models.TriggerTypeEvent {
			// The engine may start after this commits: it begins no later than here.
			if err := ensureCursor(w, "triggers", end); err != nil {
				return err
			}
		}
		t.ID = store.NewID()
		t.CreatedAt, t.UpdatedAt, t.ArmedAt = w.Timestamp(), w.Timestamp(), w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindTrigger, ID: t.ID, Ref: string(t.Type), Parent: b.Namespace}, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.triggers.start()
	return genserver.CreateTrigger200JSONResponse(t.Trigger), nil
}

func (h *handlers) GetTrigger(ctx context.Context, req genserver.GetTriggerRequestObject) (genserver.GetTriggerResponseObject, error) {
	t, err := store.Get[models.Trigger](ctx, h.store, kindTrigger, req.TriggerID)
	if err != nil {
		return nil, err
	}
	return genserver.GetTrigger200JSONResponse(t), nil
}

func (h *handlers) ListTriggers(ctx context.Context, req genserver.ListTriggersRequestObject) (genserver.ListTriggersResponseObject, error) {
	ts, err := store.List[storedTrigger](ctx, h.store, store.Query{Kind: kindTrigger, Parent: req.Params.Namespace, Ref: req.Params.Type})
	if err != nil {
		return nil, err
	}
	// Triggers are their creator's: a list shows the caller's own.
	out := []models.Trigger{}
	for _, t := range ts {
		if t.Owner == agentFrom(ctx) {
			out = append(out, t.Trigger)
		}
	}
	return genserver.ListTriggers200JSONResponse(out), nil
}

func (h *handlers) UpdateTrigger(ctx context.Context, req genserver.UpdateTriggerRequestObject) (genserver.UpdateTriggerResponseObject, error) {
	b := req.Body
	var t storedTrigger
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		t, err = store.Modify(w, kindTrigger, req.TriggerID, req.Params.IfMatch, func(t *storedTrigger, r *store.Record) error {
			if b.Condition != nil {
				if err := checkCondition(string(t.Type), b.Condition); err != nil {
					return err
				}
				t.Condition = b.Condition
				t.ArmedAt = w.Timestamp()
			}
			if b.IntentTemplate != nil {
				t.IntentTemplate = b.IntentTemplate
			}
			if b.Deduplication != "" {
				t.Deduplication = b.Deduplication
			}
			if b.Enabled != nil {
				if *b.Enabled && !t.Enabled {
					t.ArmedAt = w.Timestamp() // no catching up on the time it was off
				}
				t.Enabled = *b.Enabled
			}
			t.Version, t.UpdatedAt = r.Version+1, w.Timestamp()
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdateTrigger200JSONResponse(t.Trigger), nil
}

func (h *handlers) DeleteTrigger(ctx context.Context, req genserver.DeleteTriggerRequestObject) (genserver.DeleteTriggerResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error { return w.Delete(kindTrigger, req.TriggerID) })
	if err != nil {
		return nil, err
	}
	return genserver.DeleteTrigger200JSONResponse{Status: "deleted", TriggerID: req.TriggerID}, nil
}

// FireTrigger fires the trigger now; a disabled trigger answers 409.
func (h *handlers) FireTrigger(ctx context.Context, req genserver.FireTriggerRequestObject) (genserver.FireTriggerResponseObject, error) {
	out, err := h.triggers.fire(ctx, req.TriggerID, firing{manual: true, actor: agentFrom(ctx)})
	if err != nil {
		return nil, err
	}
	return genserver.FireTrigger200JSONResponse(out), nil
}

// firing is why a trigger fires.
type firing struct {
	manual bool
	// scheduled: a schedule trigger's time came, or a queued firing's intent finished (checked
	// again in the firing's transaction: another replica may have fired it).
	scheduled bool
	actor     string
	event     *models.IntentEvent // the event of an event trigger
	parent    *lineage            // lineage of the event's intent, if it came from a trigger
}

// triggerEngine fires schedule triggers on time, event triggers on matching events, and
// deferred (queued) firings once the intent they waited for is finished. It runs once a trigger
// exists and stops with Server.Close.
//
// Replicas of the server sharing a store each run an engine; each firing's transaction checks
// again that it is due (a schedule trigger's tick not fired yet, an event not handled yet by the
// trigger), so that every tick and every event fires a trigger once, on one replica.
type triggerEngine struct {
	h        *handlers
	interval time.Duration
	loop
}

func newTriggerEngine(h *handlers, interval time.Duration) *triggerEngine {
	if interval <= 0 {
		interval = DefaultTriggerInterval
	}
	return &triggerEngine{h: h, interval: interval}
}

// startIfNeeded starts the engine when triggers are stored (after a restart).
func (e *triggerEngine) startIfNeeded(ctx context.Context) error {
	rs, err := e.h.store.ListRecords(ctx, store.Query{Kind: kindTrigger, Limit: 1})
	if err == nil && len(rs) > 0 {
		e.start()
	}
	return err
}

func (e *triggerEngine) start() { e.loop.start(e.run) }

func (e *triggerEngine) run(ctx context.Context) {
	ctx = e.h.tel.background(ctx)
	log := e.h.log
	cursor, err := loadCursor(ctx, e.h.store, "triggers")
	if err != nil {
		log.Error("triggers: read cursor", "error", err)
	}
	tick := time.NewTicker(e.interval)
	defer tick.Stop()
	for {
		woken := e.h.store.Watch(store.AnyIntent)
		if err := e.events(ctx, &cursor); err != nil && ctx.Err() == nil {
			log.Error("triggers: event triggers", "error", err)
		}
		if err := e.due(ctx); err != nil && ctx.Err() == nil {
			log.Error("triggers: schedule triggers", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-woken:
		case <-tick.C:
		}
	}
}

// due fires every schedule trigger whose time has come and every queued firing whose intent
// is finished.
func (e *triggerEngine) due(ctx context.Context) error {
	ts, err := store.List[storedTrigger](ctx, e.h.store, store.Query{Kind: kindTrigger})
	if err != nil {
		return err
	}
	now := e.h.store.Now()
	for _, t := range ts {
		if !t.Enabled {
			continue
		}
		if t.Queued || (t.Type == models.TriggerTypeSchedule && scheduledAt(t, now)) {
			if _, err := e.fire(ctx, t.ID, firing{scheduled: true, actor: "trigger:" + t.ID}); err != nil && !isAPIError(err) && !errors.Is(err, errHandledElsewhere) {
				return err
			}
		}
	}
	return nil
}

func isAPIError(err error) bool {
	var ae *apiError
	return errors.As(err, &ae)
}

// scheduledAt reports whether a schedule trigger has a firing due at now: the first cron time
// after it was armed or last fired, inside its starts_at/ends_at window; or its one-time `at`.
func scheduledAt(t storedTrigger, now time.Time) bool {
	var c map[string]any
	if t.Condition != nil {
		c = t.Condition
	}
	if at, ok := c["at"].(string); ok {
		when, err := timestamp.Parse(at)
		return err == nil && t.FireCount == 0 && !now.Before(when.Time)
	}
	sched, err := cron.Parse(fmt.Sprint(c["cron"]))
	if err != nil {
		return false
	}
	from := t.ArmedAt.Time
	if t.LastFiredAt.After(from) {
		from = t.LastFiredAt.Time
	}
	if s, ok := c["starts_at"].(string); ok {
		if st, err := timestamp.Parse(s); err == nil && st.After(from) {
			from = st.Add(-time.Minute) // a start on the minute is itself a candidate
		}
	}
	loc := time.UTC
	if tz, ok := c["timezone"].(string); ok && tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	next := sched.Next(from.In(loc))
	if next.IsZero() || next.After(now) {
		return false
	}
	if s, ok := c["ends_at"].(string); ok {
		if end, err := timestamp.Parse(s); err == nil && next.After(end.Time) {
			return false
		}
	}
	return true
}

// events fires the event triggers matching events appended after the cursor.
func (e *triggerEngine) events(ctx context.Context, cursor *int64) error {
	st := e.h.store
	for {
		// Another replica may have handled these events already: go on from where it got.
		if stored, ok, err := storedCursor(ctx, st, "triggers"); err != nil {
			return err
		} else if ok && stored > *cursor {
			*cursor = stored
		}
		evs, err := st.EventsAfter(ctx, store.StreamFilter{AfterSeq: *cursor, Limit: 200})
		if err != nil || len(evs) == 0 {
			return err
		}
		ts, err := store.List[storedTrigger](ctx, st, store.Query{Kind: kindTrigger, Ref: string(models.TriggerTypeEvent)})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			for _, t := range ts {
				if !t.Enabled || t.Condition == nil || ev.Sequence <= t.LastEventSeq || !eventMatches(t.Condition, ev) {
					continue // (already handled: by another replica sharing the store)
				}
				// A trigger never sees events of an intent its owner may not read: its intent
				// template would copy them into an intent of its own.
				if ok, err := e.h.access.allows(ctx, ev.IntentID, t.Owner, models.PermissionRead); err != nil {
					return err
				} else if !ok {
					continue
				}
				f := firing{actor: "trigger:" + t.ID, event: &ev}
				if l, err := store.Get[lineage](ctx, st, kindLineage, ev.IntentID); err == nil {
					f.parent = &l
				}
				if _, err := e.fire(ctx, t.ID, f); err != nil && !isAPIError(err) && !errors.Is(err, errHandledElsewhere) {
					return err
				}
			}
		}
		*cursor = evs[len(evs)-1].Sequence
		if stored, ok, err := storedCursor(ctx, st, "triggers"); err != nil || (ok && stored >= *cursor) {
			if err != nil {
				return err
			}
			continue // another replica got as far: no write
		}
		err = st.Write(ctx, func(w *store.Writer) error { return raiseCursor(w, "triggers", *cursor) })
		if err != nil {
			return err
		}
	}
}

// eventMatches reports whether ev has the condition's event type and every filter value (exact
// or a glob such as `billing.*`) in its payload, or in its intent_id, actor or event_type.
func eventMatches(c map[string]any, ev models.IntentEvent) bool {
	want, _ := c["event"].(string)
	if ok, _ := path.Match(want, string(ev.EventType)); !ok && want != string(ev.EventType) {
		return false
	}
	filter, _ := c["filter"].(map[string]any)
	for k, pattern := range filter {
		var got any
		switch k {
		case "intent_id":
			got = ev.IntentID
		case "actor":
			got = ev.Actor
		default:
			got = ev.Payload[k]
		}
		p, g := fmt.Sprint(pattern), fmt.Sprint(got)
		if ok, _ := path.Match(p, g); !ok && p != g {
			return false
		}
	}
	return true
}

// fire fires a trigger once in one transaction: it checks that the trigger is enabled and
// what deduplication allows, creates the intent from the template with its lineage, and counts
// the firing.
func (e *triggerEngine) fire(ctx context.Context, id string, f firing) (models.TriggerFiring, error) {
	var out models.TriggerFiring
	var typ string // the trigger's type, for the metrics
	ctx, observed := e.h.tel.startTrigger(ctx, id, f.manual)
	err := e.h.store.Write(ctx, func(w *store.Writer) error {
		var t storedTrigger
		rec, err := w.Get(kindTrigger, id)
		if err == nil {
			err = rec.Decode(&t)
		}
		if err != nil {
			return err
		}
		typ = string(t.Type)
		if !t.Enabled {
			return conflict("trigger_disabled", fmt.Sprintf("Trigger %s is disabled", id))
		}
		// Checked again here, where no other replica can fire it meanwhile.
		if f.scheduled && !t.Queued && !(t.Type == models.TriggerTypeSchedule && scheduledAt(t, w.Now())) {
			return errHandledElsewhere
		}
		if f.event != nil {
			if f.event.Sequence <= t.LastEventSeq {
				return errHandledElsewhere
			}
			t.LastEventSeq = f.event.Sequence
		}
		lin := lineage{TriggerID: id, Type: string(t.Type), Depth: 1, Chain: []string{id}}
		if f.parent != nil {
			lin.Depth, lin.Chain = f.parent.Depth+1, append(append([]string{}, f.parent.Chain...), id)
		}
		if lin.Depth > maxCascade {
			e.h.log.Warn("triggers: cascade limit reached; not firing", "trigger_id", id, "depth", lin.Depth)
			out = models.TriggerFiring{Status: "skipped", FireCount: t.FireCount}
			if f.event != nil {
				_, err := w.Rewrite(rec, t) // the event is handled
				return err
			}
			return nil
		}
		if busy, err := e.lastIntentOpen(w, t); err != nil {
			return err
		} else if busy && t.Deduplication != models.DeduplicationModeAllow {
			out = models.TriggerFiring{Status: "skipped", FireCount: t.FireCount}
			t.Queued = t.Deduplication == models.DeduplicationModeQueue
			if t.Queued {
				out.Status = "queued"
			}
			t.ArmedAt = w.Timestamp()
			_, err := w.Rewrite(rec, t) // bookkeeping, not a change of the trigger's version
			return err
		}
		tmpl := intentFromTemplate(t, f, w.Now())
		in, err := w.CreateIntent(tmpl, tmpl.CreatedBy, map[string]any{"title": tmpl.Title, "trigger": lin})
		if err != nil {
			return err
		}
		if _, err := w.Insert(store.Record{Kind: kindLineage, ID: in.ID}, lin); err != nil {
			return err
		}
		t.FireCount++
		t.LastFiredAt, t.UpdatedAt = w.Timestamp(), w.Timestamp()
		t.LastIntentID, t.Queued = in.ID, false
		if t.Condition != nil && t.Condition["at"] != nil {
			t.Enabled = false // a one-time schedule is done
		}
		if _, err := w.Rewrite(rec, t); err != nil { // firing does not change the trigger's version
			return err
		}
		payload := models.Object{"trigger_id": id, "created_intent_id": in.ID, "trigger_type": string(t.Type), "fire_count": t.FireCount, "manual": f.manual}
		if f.event != nil {
			payload["source_event_id"] = f.event.ID
		}
		if _, err := w.AppendEvent(in.ID, "trigger.fired", f.actor, payload); err != nil {
			return err
		}
		out = models.TriggerFiring{Status: "fired", FireCount: t.FireCount, IntentID: in.ID}
		return nil
	})
	observed(typ, out.Status, err)
	return out, err
}

// lastIntentOpen reports whether the intent of the trigger's last firing is still unfinished.
func (e *triggerEngine) lastIntentOpen(w *store.Writer, t storedTrigger) (bool, error) {
	if t.LastIntentID == "" {
		return false, nil
	}
	in, err := w.Intent(t.LastIntentID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && in.Status != models.IntentStatusCompleted && in.Status != models.IntentStatusAbandoned, err
}

var templateExpr = regexp.MustCompile(`\{\{\s*(trigger|event)\.([A-Za-z0-9_.]+)\s*\}\}`)

// intentFromTemplate builds the intent a firing creates: title, description, state (with the
// template's context merged in) and constraints, with {{ trigger.* }} and {{ event.* }}
// expressions in string values filled in.
func intentFromTemplate(t storedTrigger, f firing, now time.Time) models.Intent {
	vars := map[string]map[string]any{"trigger": {"trigger_id": t.ID, "name": t.Name, "type": string(t.Type),
		"fired_at": timestamp.New(now).String(), "fire_count": t.FireCount + 1}}
	if f.event != nil {
		ev := map[string]any{"id": f.event.ID, "intent_id": f.event.IntentID, "event_type": string(f.event.EventType), "actor": f.event.Actor}
		for k, v := range f.event.Payload {
			ev[k] = v
		}
		vars["event"] = ev
	}
	expand := func(v any) any {
		return mapJSON(v, func(leaf any) any {
			x, ok := leaf.(string)
			if !ok {
				return leaf
			}
			return templateExpr.ReplaceAllStringFunc(x, func(m string) string {
				sub := templateExpr.FindStringSubmatch(m)
				var cur any = vars[sub[1]]
				for part := range strings.SplitSeq(sub[2], ".") {
					obj, _ := cur.(map[string]any)
					cur = obj[part]
				}
				if cur == nil {
					return ""
				}
				return fmt.Sprint(cur)
			})
		})
	}
	tpl := map[string]any{}
	if t.IntentTemplate != nil {
		tpl = expand(map[string]any(t.IntentTemplate)).(map[string]any)
	}
	in := models.Intent{Title: t.Name, CreatedBy: "trigger:" + t.ID, Status: models.IntentStatusActive, State: models.Object{}}
	if s, ok := tpl["title"].(string); ok && s != "" {
		in.Title = s
	}
	in.Description, _ = tpl["description"].(string)
	if s, ok := tpl["state"].(map[string]any); ok {
		for k, v := range s {
			in.State[k] = v
		}
	}
	if c, ok := tpl["context"].(map[string]any); ok {
		for k, v := range c {
			in.State[k] = v
		}
	}
	if c, ok := tpl["constraints"].(map[string]any); ok {
		in.Constraints = c
	}
	return in
}
