package server

import (
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

// Suspension of intents awaiting a human (RFC-0025) and what follows from it (RFC-0026).
//
// The suspension record lives where the RFC puts it, in the intent's state under `_suspension`,
// so that records written by the reference implementation's agents (which change the status and
// patch the state in separate requests) are answered and timed out like the server's own. A
// suspension, an answer and a timeout are each one transaction with their consequences: the
// intents that depend on it, its tasks, its portfolios' events and its coordinators'.

const (
	// suspensionKey is the state key of the suspension record.
	suspensionKey = "_suspension"
	// suspensionActor is the actor of the events the server's suspension timers append.
	suspensionActor = "openintent-server"
	// kindSuspensionBlock records that a dependent intent was blocked because an intent it
	// depends on suspended (parent = that intent, ref = the dependent), so that it is unblocked
	// when that intent completes (RFC-0026 rule 2).
	kindSuspensionBlock = "suspension_block"
)

// Resolutions of a suspension record.
const (
	resolutionResponded = "responded"
	resolutionExpired   = "expired"
	resolutionCancelled = "cancelled"
)

// Suspensions configures suspensions awaiting human input (RFC-0025, RFC-0026).
type Suspensions struct {
	// DefaultRetryPolicy is the platform's human retry policy (RFC-0026 §5): a suspension whose
	// request names none gets it, one whose retry_policy leaves fields out inherits them from it.
	// GET /api/v1/server/config shows it. Nil: single-attempt suspensions with their
	// fallback_policy.
	DefaultRetryPolicy *models.HumanRetryPolicy
	// Interval is how often suspension timers (re-notifications, timeouts, portfolio deadlines)
	// are checked; zero means Config.TriggerInterval (DefaultTriggerInterval when that is zero).
	Interval time.Duration
}

// suspensionBlock is the body of a kindSuspensionBlock record.
type suspensionBlock struct {
	Upstream  string `json:"upstream_intent_id"`
	Dependent string `json:"dependent_intent_id"`
}

// readSuspension returns the intent's suspension record, decoded, and as stored (unknown keys of
// records written by other clients are kept when the server rewrites it).
func readSuspension(in models.Intent) (models.SuspensionRecord, map[string]any, bool) {
	rec := models.SuspensionRecord{ResponseType: models.SuspensionResponseTypeChoice}
	raw, ok := in.State[suspensionKey].(map[string]any)
	if !ok {
		return rec, nil, false
	}
	b, err := json.Marshal(raw)
	if err != nil || json.Unmarshal(b, &rec) != nil {
		// A record the server cannot read (a hand-written state) holds its id at most.
		rec = models.SuspensionRecord{}
		rec.ID, _ = raw["id"].(string)
		rt, _ := raw["response_type"].(string)
		rec.ResponseType = models.SuspensionResponseType(rt)
	}
	if rec.ResponseType == "" {
		rec.ResponseType = models.SuspensionResponseTypeChoice
	}
	return rec, raw, true
}

// writeSuspension stores rec as the intent's suspension record, over the keys of raw.
func writeSuspension(in *models.Intent, raw map[string]any, rec models.SuspensionRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	out := make(map[string]any, len(raw)+len(m))
	for k, v := range raw {
		out[k] = v
	}
	for k, v := range m {
		out[k] = v
	}
	if in.State == nil {
		in.State = models.Object{}
	}
	in.State[suspensionKey] = out
	return nil
}

// mergeRetryPolicy applies the platform default under the request's policy, field by field
// (RFC-0026 §5).
func mergeRetryPolicy(call models.HumanRetryPolicy, platform *models.HumanRetryPolicy) models.HumanRetryPolicy {
	if platform == nil {
		return call
	}
	out := call
	if out.MaxAttempts == 0 {
		out.MaxAttempts = platform.MaxAttempts
	}
	if out.IntervalSeconds == 0 {
		out.IntervalSeconds = platform.IntervalSeconds
	}
	if out.Strategy == "" {
		out.Strategy = platform.Strategy
	}
	if out.EscalationLadder == nil {
		out.EscalationLadder = slices.Clone(platform.EscalationLadder)
	}
	if out.FinalFallbackPolicy == "" {
		out.FinalFallbackPolicy = platform.FinalFallbackPolicy
	}
	return out
}

// hasRetryPolicy reports whether a record carries an RFC-0026 retry policy.
func hasRetryPolicy(p models.HumanRetryPolicy) bool {
	return p.MaxAttempts > 0 || p.IntervalSeconds > 0 || p.FinalFallbackPolicy != "" || len(p.EscalationLadder) > 0
}

// maxAttempts is the policy's number of notifications (1 without a policy).
func maxAttempts(p models.HumanRetryPolicy) int32 {
	return max(p.MaxAttempts, 1)
}

// effectiveFallback is the policy applied on timeout: the retry policy's final one, else the
// suspension's, else fail.
func effectiveFallback(rec models.SuspensionRecord) string {
	if rec.RetryPolicy.FinalFallbackPolicy != "" {
		return string(rec.RetryPolicy.FinalFallbackPolicy)
	}
	if rec.FallbackPolicy != "" {
		return string(rec.FallbackPolicy)
	}
	return string(models.FallbackPolicyFail)
}

// expiresAt is when the suspension times out (zero: never): as recorded, else computed from
// suspended_at, the retry policy's whole window, or timeout_seconds.
func expiresAt(rec models.SuspensionRecord) time.Time {
	if !rec.ExpiresAt.IsZero() {
		return rec.ExpiresAt.Time
	}
	if rec.SuspendedAt.IsZero() {
		return time.Time{}
	}
	if w := int64(rec.RetryPolicy.IntervalSeconds) * int64(maxAttempts(rec.RetryPolicy)); w > 0 {
		return rec.SuspendedAt.Add(time.Duration(w) * time.Second)
	}
	if rec.TimeoutSeconds > 0 {
		return rec.SuspendedAt.Add(time.Duration(rec.TimeoutSeconds) * time.Second)
	}
	return time.Time{}
}

// nextAttemptAt is when the notification after attempt is due (zero: none).
func nextAttemptAt(rec models.SuspensionRecord, attempt int32) time.Time {
	p := rec.RetryPolicy
	if p.IntervalSeconds <= 0 || attempt >= maxAttempts(p) || rec.SuspendedAt.IsZero() {
		return time.Time{}
	}
	return rec.SuspendedAt.Add(time.Duration(attempt) * time.Duration(p.IntervalSeconds) * time.Second)
}

// attemptDue is the notification attempt due at now (at least the record's attempt).
func attemptDue(rec models.SuspensionRecord, now time.Time) int32 {
	attempt := max(rec.Attempt, 1)
	p := rec.RetryPolicy
	if p.IntervalSeconds <= 0 || rec.SuspendedAt.IsZero() || !now.After(rec.SuspendedAt.Time) {
		return attempt
	}
	due := 1 + int64(now.Sub(rec.SuspendedAt.Time)/(time.Duration(p.IntervalSeconds)*time.Second))
	return max(attempt, int32(min(due, int64(maxAttempts(p)))))
}

// newSuspension validates a request and builds its record (times are set when it is stored).
func (h *handlers) newSuspension(b models.SuspensionCreate) (models.SuspensionRecord, error) {
	rec := models.SuspensionRecord{ID: b.ID, Question: b.Question, ResponseType: b.ResponseType, Choices: b.Choices,
		Context: b.Context, ChannelHint: b.ChannelHint, TimeoutSeconds: b.TimeoutSeconds, FallbackPolicy: b.FallbackPolicy,
		FallbackValue: b.FallbackValue, ConfidenceAtSuspension: b.Confidence, DecisionRecord: b.DecisionRecord}
	if strings.TrimSpace(rec.Question) == "" {
		return rec, validationFailed("question", "must not be empty")
	}
	if rec.ID == "" {
		rec.ID = store.NewID()
	}
	if rec.ResponseType == "" {
		rec.ResponseType = models.SuspensionResponseTypeChoice
	}
	if rec.FallbackPolicy == "" {
		rec.FallbackPolicy = models.FallbackPolicyFail
	}
	seen := map[string]bool{}
	for i, c := range rec.Choices {
		if seen[c.Value] {
			return rec, validationFailed(fmt.Sprintf("choices/%d/value", i), fmt.Sprintf("duplicate choice %q", c.Value))
		}
		seen[c.Value] = true
	}
	switch models.SuspensionResponseType(rec.ResponseType) {
	case models.SuspensionResponseTypeChoice:
		if len(rec.Choices) == 0 {
			return rec, validationFailed("choices", "a choice suspension needs at least one choice")
		}
	case models.SuspensionResponseTypeConfirm:
		if len(rec.Choices) == 0 {
			rec.Choices = []models.SuspensionChoice{{Value: "yes", Label: "Yes", Style: "primary"}, {Value: "no", Label: "No", Style: "default"}}
		}
		for i, c := range rec.Choices {
			if c.Value != "yes" && c.Value != "no" {
				return rec, validationFailed(fmt.Sprintf("choices/%d/value", i), "a confirm suspension's choices are yes and no")
			}
		}
	}
	if rec.Context == nil {
		rec.Context = map[string]any{}
	}
	p := b.RetryPolicy
	if hasRetryPolicy(p) || h.suspensions.cfg.DefaultRetryPolicy != nil {
		p = mergeRetryPolicy(p, h.suspensions.cfg.DefaultRetryPolicy)
		if p.MaxAttempts == 0 {
			p.MaxAttempts = 1
		}
		if p.Strategy == "" {
			p.Strategy = models.HumanRetryPolicyStrategyFixed
		}
		if p.FinalFallbackPolicy == "" {
			p.FinalFallbackPolicy = models.FallbackPolicy(rec.FallbackPolicy)
		}
		if rec.TimeoutSeconds > 0 && p.IntervalSeconds > rec.TimeoutSeconds {
			return rec, validationFailed("retry_policy/interval_seconds", "must not exceed timeout_seconds (RFC-0026 §4.1)")
		}
		for i, s := range p.EscalationLadder {
			if s.Attempt > p.MaxAttempts {
				return rec, validationFailed(fmt.Sprintf("retry_policy/escalation_ladder/%d/attempt", i), fmt.Sprintf("beyond max_attempts (%d)", p.MaxAttempts))
			}
		}
		rec.RetryPolicy = p
	}
	return rec, nil
}

// SuspendIntent suspends an active intent to ask a human (RFC-0025), with its consequences
// (RFC-0026), in one transaction.
func (h *handlers) SuspendIntent(ctx context.Context, req genserver.SuspendIntentRequestObject) (genserver.SuspendIntentResponseObject, error) {
	rec, err := h.newSuspension(*req.Body)
	if err != nil {
		return nil, err
	}
	actor := agentFrom(ctx)
	var out models.Intent
	err = h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		out, err = w.UpdateIntent(req.IntentID, req.Params.IfMatch, actor, func(in *models.Intent) (store.Change, error) {
			if err := checkIntentWriter(ctx, w, in); err != nil {
				return store.Change{}, err
			}
			if in.Status != models.IntentStatusActive {
				return store.Change{}, &apiError{status: http.StatusConflict, code: "invalid_transition", currentVersion: in.Version,
					detail: fmt.Sprintf("Cannot change status from %s to %s: only an active intent can be suspended", in.Status, models.IntentStatusSuspendedAwaitingInput)}
			}
			now := w.Now()
			rec.SuspendedAt, rec.SuspendedBy, rec.Attempt = timestamp.New(now), actor, 1
			rec.ExpiresAt = timestamp.New(expiresAt(rec))
			rec.NextAttemptAt = timestamp.New(nextAttemptAt(rec, 1))
			if err := writeSuspension(in, nil, rec); err != nil {
				return store.Change{}, err
			}
			from := in.Status
			in.Status = models.IntentStatusSuspendedAwaitingInput
			payload := map[string]any{"suspension_id": rec.ID, "question": rec.Question, "response_type": string(rec.ResponseType),
				"choices": rec.Choices, "channel_hint": nilIfEmpty(rec.ChannelHint), "timeout_seconds": nilIfZero(rec.TimeoutSeconds),
				"fallback_policy": string(rec.FallbackPolicy), "confidence_at_suspension": nilIfZero(rec.ConfidenceAtSuspension),
				"expires_at": nullableTime(rec.ExpiresAt), "status": string(in.Status), "from": string(from), "to": string(in.Status)}
			if hasRetryPolicy(rec.RetryPolicy) {
				payload["retry_policy"] = rec.RetryPolicy
			} else {
				payload["retry_policy"] = nil
			}
			return store.Change{EventType: "intent.suspended", Payload: payload}, nil
		})
		if err != nil {
			return err
		}
		return h.propagateSuspended(w, out, rec.ID, actor)
	})
	if err != nil {
		return nil, h.refuse(ctx, req.IntentID, err)
	}
	h.suspensions.start()
	return genserver.SuspendIntent200JSONResponse(out), nil
}

// RespondToSuspension records a human's answer and resumes the intent (RFC-0025 §8).
func (h *handlers) RespondToSuspension(ctx context.Context, req genserver.RespondToSuspensionRequestObject) (genserver.RespondToSuspensionResponseObject, error) {
	b := req.Body
	responder, err := actorField(ctx, "responded_by", b.RespondedBy)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(b.SuspensionID) == "" {
		return nil, validationFailed("suspension_id", "must not be empty")
	}
	// A timer that is due runs first, so a late answer meets the expiry, not the open question.
	if err := h.suspensions.check(ctx, req.IntentID); err != nil {
		return nil, err
	}
	var res models.SuspensionResolution
	err = h.store.Write(ctx, func(w *store.Writer) error {
		out, err := w.UpdateIntent(req.IntentID, 0, responder, func(in *models.Intent) (store.Change, error) {
			if err := checkIntentWriter(ctx, w, in); err != nil {
				return store.Change{}, err
			}
			rec, raw, has := readSuspension(*in)
			now := w.Now()
			if has && rec.ID == b.SuspensionID && (rec.Resolution == resolutionExpired || (rec.Resolution == "" && in.Status == models.IntentStatusSuspendedAwaitingInput && isPast(expiresAt(rec), now))) {
				return store.Change{}, conflict("suspension_expired", fmt.Sprintf("Suspension %s expired without an answer", rec.ID))
			}
			if in.Status != models.IntentStatusSuspendedAwaitingInput {
				return store.Change{}, conflict("not_suspended", fmt.Sprintf("Intent is not suspended (status=%s)", in.Status))
			}
			if has && rec.ID != "" && rec.ID != b.SuspensionID {
				return store.Change{}, conflict("suspension_mismatch", fmt.Sprintf("suspension_id mismatch: expected %s, got %s", rec.ID, b.SuspensionID))
			}
			if has && rec.Resolution != "" {
				return store.Change{}, conflict("suspension_resolved", fmt.Sprintf("Suspension %s is already %s", rec.ID, rec.Resolution))
			}
			chosen, err := checkAnswer(rec, b.Value)
			if err != nil {
				return store.Change{}, err
			}
			if rec.ID == "" {
				rec.ID = b.SuspensionID
			}
			rec.Response, rec.RespondedBy, rec.RespondedAt, rec.Resolution = b.Value, responder, timestamp.New(now), resolutionResponded
			if len(b.Metadata) > 0 {
				rec.Metadata = b.Metadata
			}
			if err := writeSuspension(in, raw, rec); err != nil {
				return store.Change{}, err
			}
			from := in.Status
			in.Status = models.IntentStatusActive
			res = models.SuspensionResolution{IntentID: in.ID, SuspensionID: rec.ID, Resolution: resolutionResponded, Value: b.Value,
				RespondedBy: responder, RespondedAt: timestamp.New(now)}
			if chosen != nil {
				res.ChoiceLabel, res.ChoiceDescription = chosen.Label, chosen.Description
			}
			return store.Change{EventType: "intent.resumed", Payload: map[string]any{"intent_id": in.ID, "suspension_id": rec.ID,
				"value": b.Value, "responded_by": responder, "responded_at": res.RespondedAt, "status": string(in.Status),
				"from": string(from), "to": string(in.Status)}}, nil
		})
		if err != nil {
			return err
		}
		return h.propagateResumed(w, out, res.SuspensionID, responder)
	})
	if err != nil {
		return nil, h.refuse(ctx, req.IntentID, err)
	}
	return genserver.RespondToSuspension200JSONResponse(res), nil
}

// checkAnswer validates an answer against the suspension's response type and choices (RFC-0025
// §8) and returns the chosen option, if any.
func checkAnswer(rec models.SuspensionRecord, value any) (*models.SuspensionChoice, error) {
	var valid []string
	switch models.SuspensionResponseType(rec.ResponseType) {
	case models.SuspensionResponseTypeChoice, models.SuspensionResponseTypeConfirm:
		for _, c := range rec.Choices {
			valid = append(valid, c.Value)
		}
		if len(valid) == 0 && rec.ResponseType == models.SuspensionResponseTypeConfirm {
			valid = []string{"yes", "no"}
		}
		if len(valid) == 0 {
			return nil, nil // a choice record without choices (written by hand) takes any value, as the reference server does
		}
		s, ok := value.(string)
		if !ok || !slices.Contains(valid, s) {
			e := validationFailed("value", fmt.Sprintf("%s is not one of the offered choices: %s", describe(value), strings.Join(valid, ", ")))
			e.code = "invalid_choice"
			return nil, e
		}
		for i := range rec.Choices {
			if rec.Choices[i].Value == s {
				return &rec.Choices[i], nil
			}
		}
		return nil, nil
	case models.SuspensionResponseTypeText:
		if s, ok := value.(string); !ok || strings.TrimSpace(s) == "" {
			return nil, validationFailed("value", "a text suspension takes a non-empty string")
		}
		return nil, nil
	case models.SuspensionResponseTypeForm:
		return nil, nil
	}
	return nil, validationFailed("value", fmt.Sprintf("the suspension's response_type %q is unknown (choice, confirm, text or form)", rec.ResponseType))
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil || v == nil {
		return "null"
	}
	if len(b) > 60 {
		b = append(b[:57], "..."...)
	}
	return string(b)
}

func isPast(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nilIfZero[T int32 | float64](v T) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullableTime(t timestamp.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// propagateSuspended applies RFC-0026 to the intent that just suspended: its active dependents
// become blocked (rule 2), its running tasks blocked (rule 3), its portfolios log
// portfolio.member_suspended, and coordinators whose policy is escalate are told.
func (h *handlers) propagateSuspended(w *store.Writer, in models.Intent, suspensionID, actor string) error {
	deps, err := w.Dependents(in.ID)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if d.Status != models.IntentStatusActive {
			continue
		}
		if _, err := w.UpdateIntent(d.ID, 0, actor, func(d *models.Intent) (store.Change, error) {
			d.Status = models.IntentStatusBlocked
			return store.Change{EventType: "status_changed", Payload: map[string]any{"status": string(d.Status), "from": string(models.IntentStatusActive),
				"to": string(d.Status), "reason": "upstream_suspended", "upstream_intent_id": in.ID, "suspension_id": suspensionID}}, nil
		}); err != nil {
			return err
		}
		if _, err := w.Insert(store.Record{Kind: kindSuspensionBlock, ID: store.NewID(), Parent: in.ID, Ref: d.ID},
			suspensionBlock{Upstream: in.ID, Dependent: d.ID}); err != nil {
			return err
		}
	}
	if err := h.mirrorTasks(w, in.ID, actor, true); err != nil {
		return err
	}
	ms, err := w.List(store.Query{Kind: kindMembership, Ref: in.ID})
	if err != nil {
		return err
	}
	portfolios := []string{}
	for _, r := range ms {
		if slices.Contains(portfolios, r.Parent) {
			continue
		}
		portfolios = append(portfolios, r.Parent)
		if _, err := w.AppendEvent(in.ID, "portfolio.member_suspended", actor, models.Object{"portfolio_id": r.Parent, "intent_id": in.ID, "suspension_id": suspensionID}); err != nil {
			return err
		}
	}
	// Coordinators of the intent or of a portfolio holding it (RFC-0026 §3).
	for _, parent := range append([]string{in.ID}, portfolios...) {
		rs, err := w.List(store.Query{Kind: kindCoordinator, Parent: parent})
		if err != nil {
			return err
		}
		for _, r := range rs {
			var l models.CoordinatorLease
			if err := r.Decode(&l); err != nil {
				return err
			}
			if coordinatorView(l, w.Now()).Status != "active" || l.SuspensionPolicy != models.CoordinatorSuspensionPolicyEscalate {
				continue
			}
			p := models.Object{"coordinator_lease_id": l.ID, "agent_id": l.AgentID, "intent_id": in.ID, "suspension_id": suspensionID, "reason": "intent_suspended"}
			if parent != in.ID {
				p["portfolio_id"] = parent
			}
			if _, err := w.AppendEvent(in.ID, "coordinator.escalation_required", actor, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// propagateResumed undoes rule 3 when the intent resumes: its tasks blocked by the suspension
// run again, and its portfolios log portfolio.member_resumed. Its dependents stay blocked until
// it completes (rule 2).
func (h *handlers) propagateResumed(w *store.Writer, in models.Intent, suspensionID, actor string) error {
	if err := h.mirrorTasks(w, in.ID, actor, false); err != nil {
		return err
	}
	ms, err := w.List(store.Query{Kind: kindMembership, Ref: in.ID})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, r := range ms {
		if seen[r.Parent] {
			continue
		}
		seen[r.Parent] = true
		if _, err := w.AppendEvent(in.ID, "portfolio.member_resumed", actor, models.Object{"portfolio_id": r.Parent, "intent_id": in.ID, "suspension_id": suspensionID}); err != nil {
			return err
		}
	}
	return nil
}

// mirrorTasks blocks the intent's running and claimed tasks (suspend) or runs again those its
// suspension blocked (resume), RFC-0026 rule 3.
func (h *handlers) mirrorTasks(w *store.Writer, intentID, actor string, suspend bool) error {
	rs, err := w.List(store.Query{Kind: kindTask, Parent: intentID})
	if err != nil {
		return err
	}
	for _, r := range rs {
		var t models.Task
		if err := r.Decode(&t); err != nil {
			return err
		}
		from := t.Status
		switch {
		case suspend && (t.Status == models.TaskStatusRunning || t.Status == models.TaskStatusClaimed):
			t.Status, t.BlockedReason, t.SuspendedIntentID = models.TaskStatusBlocked, orNull(blockedBySuspension), intentID
		case !suspend && t.Status == models.TaskStatusBlocked && blockedBy(t) == intentID:
			t.Status, t.BlockedReason, t.SuspendedIntentID = models.TaskStatusRunning, nil, ""
			if t.StartedAt.IsZero() {
				t.StartedAt = w.Timestamp()
			}
		default:
			continue
		}
		t.Version = r.Version + 1
		if _, err := w.Update(r, t); err != nil {
			return err
		}
		p := models.Object{"task_id": t.ID, "from": string(from), "to": string(t.Status)}
		if suspend {
			p["blocked_reason"], p["suspended_intent_id"] = blockedBySuspension, intentID
		}
		if _, err := w.AppendEvent(intentID, "task.status_changed", actor, p); err != nil {
			return err
		}
	}
	return nil
}

// blockedBySuspension is the blocked_reason of a task blocked by its intent's suspension.
const blockedBySuspension = "intent_suspended"

// blockedBy returns the intent whose suspension blocked the task, if any.
func blockedBy(t models.Task) string {
	if t.BlockedReason == nil || *t.BlockedReason != blockedBySuspension {
		return ""
	}
	return t.SuspendedIntentID
}

// unblockDependents ends rule 2 for an intent that completed: each dependent its suspension
// blocked, and that no other suspension still blocks, becomes active again.
func (h *handlers) unblockDependents(w *store.Writer, id, actor string) error {
	rs, err := w.List(store.Query{Kind: kindSuspensionBlock, Parent: id})
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := w.Delete(kindSuspensionBlock, r.ID); err != nil {
			return err
		}
		others, err := w.List(store.Query{Kind: kindSuspensionBlock, Ref: r.Ref})
		if err != nil {
			return err
		}
		d, err := w.Intent(r.Ref)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if len(others) > 0 || d.Status != models.IntentStatusBlocked {
			continue
		}
		if _, err := w.UpdateIntent(d.ID, 0, actor, func(d *models.Intent) (store.Change, error) {
			d.Status = models.IntentStatusActive
			return store.Change{EventType: "status_changed", Payload: map[string]any{"status": string(d.Status), "from": string(models.IntentStatusBlocked),
				"to": string(d.Status), "reason": "upstream_completed", "upstream_intent_id": id}}, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// cancelOpenSuspension marks an open suspension cancelled when its intent leaves
// suspended_awaiting_input by a plain status change (not an answer or a timeout): an agent
// waiting for the answer learns that none will come.
func cancelOpenSuspension(in *models.Intent, now time.Time) error {
	rec, raw, ok := readSuspension(*in)
	if !ok || rec.Resolution != "" {
		return nil
	}
	rec.Resolution = resolutionCancelled
	rec.ExpiredAt = timestamp.Time{}
	raw["cancelled_at"] = timestamp.New(now)
	return writeSuspension(in, raw, rec)
}

// afterStatusChange applies RFC-0026 to a status change made through setIntentStatus: entering
// suspended_awaiting_input (the reference implementation's agents suspend this way), leaving
// it, and completing (which unblocks the dependents a suspension blocked).
func (h *handlers) afterStatusChange(ctx context.Context, in models.Intent, from models.IntentStatus) error {
	to := in.Status
	if from == to {
		return nil
	}
	susp := models.IntentStatusSuspendedAwaitingInput
	if to != susp && from != susp {
		if to != models.IntentStatusCompleted {
			return nil
		}
		// Completing unblocks only what a suspension blocked: most completions have nothing to do.
		rs, err := h.store.ListRecords(ctx, store.Query{Kind: kindSuspensionBlock, Parent: in.ID, Limit: 1})
		if err != nil || len(rs) == 0 {
			return err
		}
	}
	actor := agentFrom(ctx)
	rec, _, _ := readSuspension(in)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		switch {
		case to == susp:
			if err := h.propagateSuspended(w, in, rec.ID, actor); err != nil {
				return err
			}
		case from == susp && to == models.IntentStatusActive:
			if err := h.propagateResumed(w, in, rec.ID, actor); err != nil {
				return err
			}
		}
		if to == models.IntentStatusCompleted {
			return h.unblockDependents(w, in.ID, actor)
		}
		return nil
	})
	if to == susp {
		h.suspensions.start()
	}
	return err
}

// suspensionTimers re-notifies, times out and applies portfolio deadlines to suspensions
// (RFC-0025 §6, RFC-0026 §4 and rule 5). It runs once an intent is suspended and stops with
// Server.Close.
type suspensionTimers struct {
	h        *handlers
	cfg      Suspensions
	interval time.Duration
	loop
}

func newSuspensionTimers(h *handlers, cfg Suspensions, triggerInterval time.Duration) *suspensionTimers {
	iv := cfg.Interval
	if iv <= 0 {
		iv = triggerInterval
	}
	if iv <= 0 {
		iv = DefaultTriggerInterval
	}
	return &suspensionTimers{h: h, cfg: cfg, interval: iv}
}

// startIfNeeded starts the timers when suspended intents are stored (after a restart).
func (s *suspensionTimers) startIfNeeded(ctx context.Context) error {
	page, _, err := s.h.store.ListIntents(ctx, store.IntentQuery{Status: string(models.IntentStatusSuspendedAwaitingInput), Limit: 1})
	if err == nil && len(page) > 0 {
		s.start()
	}
	return err
}

func (s *suspensionTimers) start() { s.loop.start(s.run) }

func (s *suspensionTimers) run(ctx context.Context) {
	ctx = s.h.tel.background(ctx)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.h.log.Error("suspensions: timers", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep checks every suspended intent's timers.
func (s *suspensionTimers) sweep(ctx context.Context) error {
	const page = 500
	var ids []string
	for off := 0; ; off += page {
		ins, _, err := s.h.store.ListIntents(ctx, store.IntentQuery{Status: string(models.IntentStatusSuspendedAwaitingInput), Limit: page, Offset: off})
		if err != nil {
			return err
		}
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
		if len(ins) < page {
			break
		}
	}
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return nil
		}
		if err := s.check(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("intent %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// timerAction is what a suspension's timers call for now.
type timerAction struct {
	expire    bool
	reason    string // timeout or portfolio_deadline
	portfolio string // the portfolio whose deadline passed
	attempt   int32  // the notification attempt due (renotify when above the record's)
}

// due works out what the suspension of in calls for at now; list and get read the portfolios
// holding it.
func due(in models.Intent, now time.Time, list func(store.Query) ([]store.Record, error), get func(kind, id string) (store.Record, error)) (timerAction, bool, error) {
	if in.Status != models.IntentStatusSuspendedAwaitingInput {
		return timerAction{}, false, nil
	}
	rec, _, ok := readSuspension(in)
	if !ok || rec.Resolution != "" {
		return timerAction{}, false, nil
	}
	// RFC-0026 rule 5: a portfolio's deadline takes precedence over the suspension's timeout.
	ms, err := list(store.Query{Kind: kindMembership, Ref: in.ID})
	if err != nil {
		return timerAction{}, false, err
	}
	for _, m := range ms {
		r, err := get(kindPortfolio, m.Parent)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return timerAction{}, false, err
		}
		var p models.Portfolio
		if err := r.Decode(&p); err != nil {
			return timerAction{}, false, err
		}
		if d, ok := p.GovernancePolicy["deadline"].(string); ok {
			if t, err := timestamp.Parse(d); err == nil && !now.Before(t.Time) {
				return timerAction{expire: true, reason: "portfolio_deadline", portfolio: p.ID}, true, nil
			}
		}
	}
	if isPast(expiresAt(rec), now) {
		return timerAction{expire: true, reason: "timeout"}, true, nil
	}
	if a := attemptDue(rec, now); a > max(rec.Attempt, 1) {
		return timerAction{attempt: a}, true, nil
	}
	return timerAction{}, false, nil
}

// errNothingDue rolls back a timer transaction that found nothing to do.
var errNothingDue = errors.New("suspensions: nothing due")

// check applies the timers of one intent's suspension that are due now.
func (s *suspensionTimers) check(ctx context.Context, id string) error {
	st := s.h.store
	in, err := st.GetIntent(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	list := func(q store.Query) ([]store.Record, error) { return st.ListRecords(ctx, q) }
	get := func(kind, id string) (store.Record, error) { return st.GetRecord(ctx, kind, id) }
	if _, ok, err := due(in, st.Now(), list, get); err != nil || !ok {
		return err
	}
	err = st.Write(ctx, func(w *store.Writer) error {
		in, err := w.Intent(id)
		if err != nil {
			return err
		}
		act, ok, err := due(in, w.Now(), w.List, w.Get)
		if err != nil {
			return err
		}
		if !ok {
			return errNothingDue
		}
		if act.expire {
			return s.expire(w, id, act)
		}
		return s.renotify(w, id, act.attempt)
	})
	if errors.Is(err, errNothingDue) {
		return nil
	}
	return err
}

// renotify records notification attempt (RFC-0026 §4.2): intent.suspension_renotified, and
// intent.suspension_escalated for each escalation step of the attempts it moves past.
func (s *suspensionTimers) renotify(w *store.Writer, id string, attempt int32) error {
	var rec models.SuspensionRecord
	var prev int32
	_, err := w.UpdateIntent(id, 0, suspensionActor, func(in *models.Intent) (store.Change, error) {
		var raw map[string]any
		rec, raw, _ = readSuspension(*in)
		prev = max(rec.Attempt, 1)
		rec.Attempt = attempt
		rec.NextAttemptAt = timestamp.New(nextAttemptAt(rec, attempt))
		if err := writeSuspension(in, raw, rec); err != nil {
			return store.Change{}, err
		}
		channel, notify := rec.ChannelHint, ""
		for _, step := range rec.RetryPolicy.EscalationLadder {
			if step.Attempt > prev && step.Attempt <= attempt {
				if step.ChannelHint != "" {
					channel = step.ChannelHint
				}
				if step.NotifyTo != "" {
					notify = step.NotifyTo
				}
			}
		}
		return store.Change{EventType: "intent.suspension_renotified", Payload: map[string]any{"suspension_id": rec.ID, "attempt": attempt,
			"max_attempts": maxAttempts(rec.RetryPolicy), "channel_hint": nilIfEmpty(channel), "notify_to": nilIfEmpty(notify),
			"next_attempt_at": nullableTime(rec.NextAttemptAt)}}, nil
	})
	if err != nil {
		return err
	}
	for _, step := range rec.RetryPolicy.EscalationLadder {
		if step.Attempt > prev && step.Attempt <= attempt {
			if _, err := w.AppendEvent(id, "intent.suspension_escalated", suspensionActor, models.Object{"suspension_id": rec.ID,
				"attempt": step.Attempt, "escalated_to": nilIfEmpty(step.NotifyTo), "channel_hint": nilIfEmpty(step.ChannelHint)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// expire ends a suspension nobody answered: intent.suspension_expired, then its fallback policy
// (fail abandons the intent; complete_with_fallback and use_default_and_continue resume it), or,
// past a portfolio's deadline, abandonment whatever the policy (RFC-0026 rule 5).
func (s *suspensionTimers) expire(w *store.Writer, id string, act timerAction) error {
	var rec models.SuspensionRecord
	out, err := w.UpdateIntent(id, 0, suspensionActor, func(in *models.Intent) (store.Change, error) {
		var raw map[string]any
		rec, raw, _ = readSuspension(*in)
		rec.Resolution, rec.ExpiredAt, rec.NextAttemptAt = resolutionExpired, w.Timestamp(), timestamp.Time{}
		policy := effectiveFallback(rec)
		from := in.Status
		payload := map[string]any{"suspension_id": rec.ID, "reason": act.reason, "fallback_policy": policy,
			"fallback_value": rec.FallbackValue, "attempts": max(rec.Attempt, 1), "from": string(from)}
		switch {
		case act.reason == "portfolio_deadline":
			in.Status = models.IntentStatusAbandoned
			payload["abandonment_reason"], payload["portfolio_id"] = "portfolio_deadline_exceeded", act.portfolio
			raw["abandonment_reason"] = "portfolio_deadline_exceeded"
		case policy == string(models.FallbackPolicyFail):
			in.Status = models.IntentStatusAbandoned
			payload["abandonment_reason"] = "suspension_expired"
		default: // complete_with_fallback, use_default_and_continue: the agent continues with fallback_value
			in.Status = models.IntentStatusActive
		}
		payload["status"], payload["to"] = string(in.Status), string(in.Status)
		if err := writeSuspension(in, raw, rec); err != nil {
			return store.Change{}, err
		}
		return store.Change{EventType: "intent.suspension_expired", Payload: payload}, nil
	})
	if err != nil {
		return err
	}
	if out.Status == models.IntentStatusActive {
		return s.h.propagateResumed(w, out, rec.ID, suspensionActor)
	}
	return nil
}

// defaultPolicyObject is the platform default retry policy as GET /server/config shows it.
func (s *suspensionTimers) defaultPolicyObject() map[string]any {
	if s.cfg.DefaultRetryPolicy == nil {
		return nil
	}
	b, err := json.Marshal(s.cfg.DefaultRetryPolicy)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// suspendedTasks lists the plan's tasks blocked by their intent's suspension (RFC-0026 rule 4).
func (h *handlers) suspendedTasks(ctx context.Context, p models.Plan) ([]models.SuspendedTask, error) {
	var out []models.SuspendedTask
	for _, id := range p.Tasks {
		t, err := store.Get[models.Task](ctx, h.store, kindTask, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.Status != models.TaskStatusBlocked || blockedBy(t) == "" {
			continue
		}
		st := models.SuspendedTask{TaskID: t.ID, IntentID: t.SuspendedIntentID}
		if in, err := h.store.GetIntent(ctx, t.SuspendedIntentID); err == nil {
			if rec, _, ok := readSuspension(in); ok {
				st.SuspendedSince, st.ExpiresAt = rec.SuspendedAt, timestamp.New(expiresAt(rec))
			}
		}
		out = append(out, st)
	}
	return out, nil
}
