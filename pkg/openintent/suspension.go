package openintent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openintent-go/openintent/gen/client"
	"github.com/openintent-go/openintent/gen/models"
)

// Human in the loop (RFC-0025, RFC-0026): an agent suspends an intent with a question for a
// human, waits for the answer on the intent's event stream, and a human (through any client)
// answers it.

// Response types of a suspension.
const (
	ResponseChoice  = models.SuspensionResponseTypeChoice
	ResponseConfirm = models.SuspensionResponseTypeConfirm
	ResponseText    = models.SuspensionResponseTypeText
	ResponseForm    = models.SuspensionResponseTypeForm
)

// Fallback policies of a suspension.
const (
	FallbackFail                  = models.FallbackPolicyFail
	FallbackCompleteWithFallback  = models.FallbackPolicyCompleteWithFallback
	FallbackUseDefaultAndContinue = models.FallbackPolicyUseDefaultAndContinue
)

// Engagement modes ([RFC-0025] §7.2).
//
// [RFC-0025]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0025-human-in-the-loop.md
const (
	EngagementAutonomous   = models.EngagementDecisionModeAutonomous
	EngagementRequestInput = models.EngagementDecisionModeRequestInput
	EngagementRequireInput = models.EngagementDecisionModeRequireInput
	EngagementDefer        = models.EngagementDecisionModeDefer
)

// Event types of suspensions ([RFC-0025], [RFC-0026]).
//
// [RFC-0025]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0025-human-in-the-loop.md
// [RFC-0026]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0026-suspension-container-interaction.md
const (
	EventIntentSuspended               = models.EventTypeIntentSuspended
	EventIntentResumed                 = models.EventTypeIntentResumed
	EventIntentSuspensionExpired       = models.EventTypeIntentSuspensionExpired
	EventIntentSuspensionRenotified    = models.EventTypeIntentSuspensionRenotified
	EventIntentSuspensionEscalated     = models.EventTypeIntentSuspensionEscalated
	EventEngagementDecision            = models.EventTypeEngagementDecision
	EventPortfolioMemberSuspended      = models.EventTypePortfolioMemberSuspended
	EventPortfolioMemberResumed        = models.EventTypePortfolioMemberResumed
	EventCoordinatorEscalationRequired = models.EventTypeCoordinatorEscalationRequired
)

var (
	// ErrInputTimeout matches the error of WaitForInput when the suspension timed out under the
	// `fail` fallback policy (or a portfolio's deadline abandoned the intent).
	ErrInputTimeout = errors.New("openintent: no answer before the suspension timed out")
	// ErrInputCancelled matches the error of WaitForInput when the suspension ended without an
	// answer (the intent's status was changed).
	ErrInputCancelled = errors.New("openintent: the suspension was cancelled")
)

// SuspensionEndedError is WaitForInput's error when a suspension ends without an answer to
// return; it matches ErrInputTimeout or ErrInputCancelled with errors.Is.
type SuspensionEndedError struct {
	// SuspensionID is the suspension.
	SuspensionID string
	// Resolution is `expired` or `cancelled`.
	Resolution string
	// FallbackPolicy is the policy applied on timeout.
	FallbackPolicy FallbackPolicy
	// IntentStatus is the intent's status when it ended.
	IntentStatus IntentStatus
}

// Error implements error.
func (e *SuspensionEndedError) Error() string {
	if e.Resolution == "cancelled" {
		return fmt.Sprintf("openintent: suspension %s was cancelled (intent %s)", e.SuspensionID, e.IntentStatus)
	}
	return fmt.Sprintf("openintent: suspension %s expired without an answer (fallback %s, intent %s)", e.SuspensionID, e.FallbackPolicy, e.IntentStatus)
}

// Is matches ErrInputTimeout or ErrInputCancelled.
func (e *SuspensionEndedError) Is(target error) bool {
	if e.Resolution == "cancelled" {
		return target == ErrInputCancelled
	}
	return target == ErrInputTimeout
}

// InputResponse is how a suspension ended with a value: the human's answer, or the fallback
// value of a timed-out suspension under complete_with_fallback or use_default_and_continue.
type InputResponse struct {
	// SuspensionID is the suspension.
	SuspensionID string
	// Value is the answer (or the fallback value).
	Value any
	// Resolution is `responded`, or `expired` for a fallback value.
	Resolution string
	// RespondedBy and RespondedAt say who answered and when (empty for a fallback).
	RespondedBy string
	RespondedAt time.Time
	// ChoiceLabel and ChoiceDescription describe the chosen option, for choices.
	ChoiceLabel, ChoiceDescription string
	// Metadata is what the human's client sent along.
	Metadata Object
}

// Suspend moves an active intent to suspended_awaiting_input with a question for a human
// ([RFC-0025] request_input), returning the suspended intent and its suspension record. The
// server fills the record's id (unless s.ID is set), times and retry policy, blocks the intents
// that depend on it and its running tasks, and applies the fallback policy when nobody answers
// in time. Wait for the answer with WaitForInput, or use RequestInput for both.
//
// [RFC-0025]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0025-human-in-the-loop.md
func (c *Client) Suspend(ctx context.Context, intentID string, s SuspensionCreate, opts ...Option) (*Intent, *SuspensionRecord, error) {
	if err := requireID("Suspend", "intentID", intentID); err != nil {
		return nil, nil, err
	}
	if s.Question == "" {
		return nil, nil, invalidArg("Suspend", "Question", "Question is required")
	}
	var out intentWire
	if err := c.do(ctx, request{build: op3(client.NewSuspendIntentRequest, intentID, nil, s), out: &out}, opts); err != nil {
		return nil, nil, err
	}
	in := Intent(out)
	rec, ok := SuspensionOf(&in)
	if !ok {
		return &in, nil, fmt.Errorf("openintent: Suspend: the server's answer holds no suspension record")
	}
	return &in, rec, nil
}

// RespondToSuspension answers an intent's open suspension and resumes the intent (answer.Value:
// one of the choices' values, "yes"/"no" for a confirmation, text, or a form's object).
// Refusals: a *ConflictError when the intent is not suspended, the id is not the open
// suspension's, or it timed out (code suspension_expired); a *ValidationError naming `value`
// for an answer outside the choices.
func (c *Client) RespondToSuspension(ctx context.Context, intentID string, answer SuspensionAnswer, opts ...Option) (*SuspensionResolution, error) {
	if err := requireIDs("RespondToSuspension", "intentID", intentID, "answer.SuspensionID", answer.SuspensionID); err != nil {
		return nil, err
	}
	return call[SuspensionResolution](ctx, c, op2(client.NewRespondToSuspensionRequest, intentID, answer), opts)
}

// SuspensionOf returns the suspension record in an intent's state (`_suspension`), if any: the
// open one while the intent is suspended, the last one after.
func SuspensionOf(in *Intent) (*SuspensionRecord, bool) {
	if in == nil {
		return nil, false
	}
	raw, ok := in.State["_suspension"]
	if !ok || raw == nil {
		return nil, false
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, false
	}
	var rec SuspensionRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, false
	}
	return &rec, true
}

// WaitForInput waits for the suspension's end, following the intent's event stream until ctx
// ends: the human's answer, or the fallback value of a timed-out suspension whose policy
// continues (Resolution "expired"). A suspension that timed out under `fail` yields an error
// matching ErrInputTimeout, one cancelled by a status change ErrInputCancelled (both
// *SuspensionEndedError); ctx's end yields its error. An answer given before the call is
// returned at once.
func (c *Client) WaitForInput(ctx context.Context, intentID, suspensionID string, opts ...Option) (*InputResponse, error) {
	if err := requireIDs("WaitForInput", "intentID", intentID, "suspensionID", suspensionID); err != nil {
		return nil, err
	}
	// The log's position first, then the record: an answer given between the two reads is in
	// the stream that starts from that position.
	evs, err := c.GetEvents(ctx, intentID, GetEventsParams{Limit: 1}, opts...)
	if err != nil {
		return nil, err
	}
	after := int64(0)
	for _, ev := range evs {
		after = max(after, ev.Sequence)
	}
	if res, done, err := c.suspensionOutcome(ctx, intentID, suspensionID, opts); done || err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev, err := range c.StreamIntentEvents(ctx, intentID, append(opts, WithLastEventID(strconv.FormatInt(after, 10)))...) {
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				return nil, err
			}
			continue // a frame that is no event: the stream goes on
		}
		switch EventType(ev.EventType) {
		case EventIntentResumed, EventIntentSuspensionExpired, EventStatusChanged, EventStatePatched:
		default:
			continue
		}
		if res, done, err := c.suspensionOutcome(ctx, intentID, suspensionID, opts); done || err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("openintent: WaitForInput: the event stream ended")
}

// suspensionOutcome reads the intent's suspension record and reports whether it has ended.
func (c *Client) suspensionOutcome(ctx context.Context, intentID, suspensionID string, opts []Option) (*InputResponse, bool, error) {
	in, err := c.GetIntent(ctx, intentID, opts...)
	if err != nil {
		return nil, false, err
	}
	rec, ok := SuspensionOf(in)
	switch {
	case !ok && in.Status == StatusSuspendedAwaitingInput:
		return nil, false, nil // suspended by a client that writes the record next
	case !ok || rec.ID != suspensionID:
		// Gone, or replaced by another suspension: this one is over without an answer.
		return nil, true, &SuspensionEndedError{SuspensionID: suspensionID, Resolution: "cancelled", IntentStatus: in.Status}
	}
	switch rec.Resolution {
	case "responded":
		res := &InputResponse{SuspensionID: rec.ID, Value: rec.Response, Resolution: rec.Resolution, RespondedBy: rec.RespondedBy,
			RespondedAt: rec.RespondedAt.Time, Metadata: rec.Metadata}
		if s, ok := rec.Response.(string); ok {
			for _, ch := range rec.Choices {
				if ch.Value == s {
					res.ChoiceLabel, res.ChoiceDescription = ch.Label, ch.Description
				}
			}
		}
		return res, true, nil
	case "expired":
		policy := rec.FallbackPolicy
		if rec.RetryPolicy.FinalFallbackPolicy != "" {
			policy = rec.RetryPolicy.FinalFallbackPolicy
		}
		if policy == "" || policy == FallbackFail || in.Status == StatusAbandoned {
			return nil, true, &SuspensionEndedError{SuspensionID: rec.ID, Resolution: rec.Resolution, FallbackPolicy: policy, IntentStatus: in.Status}
		}
		return &InputResponse{SuspensionID: rec.ID, Value: rec.FallbackValue, Resolution: rec.Resolution}, true, nil
	case "cancelled":
		return nil, true, &SuspensionEndedError{SuspensionID: rec.ID, Resolution: rec.Resolution, IntentStatus: in.Status}
	}
	if in.Status != StatusSuspendedAwaitingInput {
		// Left suspension without a resolution recorded (a record written by another client).
		return nil, true, &SuspensionEndedError{SuspensionID: rec.ID, Resolution: "cancelled", IntentStatus: in.Status}
	}
	return nil, false, nil
}

// RequestInput suspends the intent with s and waits for the answer (Suspend, then
// WaitForInput): the Python SDK agents' request_input. It returns the human's value, or the
// fallback value of a timed-out suspension whose policy continues; see WaitForInput for the
// errors. ctx bounds the wait, not the suspension's own timeout (the server applies that).
func (c *Client) RequestInput(ctx context.Context, intentID string, s SuspensionCreate, opts ...Option) (any, error) {
	_, rec, err := c.Suspend(ctx, intentID, s, opts...)
	if err != nil {
		return nil, err
	}
	res, err := c.WaitForInput(ctx, intentID, rec.ID, opts...)
	if err != nil {
		return nil, err
	}
	return res.Value, nil
}

// DecideEngagement applies [RFC-0025]'s default engagement rules to the signals, offline:
// autonomous when confidence >= 0.85, risk <= 0.2 and reversibility >= 0.5; else defer when
// risk >= 0.8 or reversibility <= 0.1; else require_input when confidence < 0.5 or risk > 0.5;
// else request_input.
//
// [RFC-0025]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0025-human-in-the-loop.md
func DecideEngagement(s EngagementSignals) EngagementDecision {
	c, r, rev := s.Confidence, s.Risk, s.Reversibility
	d := EngagementDecision{Signals: s}
	switch {
	case c >= 0.85 && r <= 0.2 && rev >= 0.5:
		d.Mode, d.Rationale = EngagementAutonomous, fmt.Sprintf("High confidence (%.2f), low risk (%.2f), reversible (%.2f): acting autonomously.", c, r, rev)
	case r >= 0.8 || rev <= 0.1:
		d.Mode, d.Rationale = EngagementDefer, fmt.Sprintf("Risk (%.2f) or irreversibility (%.2f) exceeds the safe threshold: deferring to a coordinator.", r, rev)
	case c < 0.5 || r > 0.5:
		d.Mode, d.ShouldAsk, d.Rationale = EngagementRequireInput, true, fmt.Sprintf("Low confidence (%.2f) or elevated risk (%.2f): a human's input is required.", c, r)
	default:
		d.Mode, d.ShouldAsk, d.Rationale = EngagementRequestInput, true, fmt.Sprintf("Moderate confidence (%.2f) with manageable risk (%.2f): asking a human, able to go on without.", c, r)
	}
	return d
}

// ShouldRequestInput decides whether to ask a human (DecideEngagement) and records the
// decision on the intent as an `engagement.decision` event ([RFC-0025] §9.2, the Python SDK
// agents' should_request_input). Signals left at zero are not defaults: set Confidence and
// Reversibility (the RFC's defaults are 1).
//
// [RFC-0025]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0025-human-in-the-loop.md
func (c *Client) ShouldRequestInput(ctx context.Context, intentID string, s EngagementSignals, opts ...Option) (*EngagementDecision, error) {
	d := DecideEngagement(s)
	if _, err := c.logPayload(ctx, intentID, EventEngagementDecision, d, opts); err != nil {
		return nil, err
	}
	return &d, nil
}
