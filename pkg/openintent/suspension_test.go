package openintent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/server"
)

var refund = openintent.SuspensionCreate{
	Question: "Refund order 12345?",
	Choices: []openintent.SuspensionChoice{
		{Value: "approve", Label: "Approve refund", Description: "Full refund"},
		{Value: "deny", Label: "Deny refund"},
	},
	Context:        map[string]any{"order": "12345"},
	TimeoutSeconds: 3600,
	FallbackPolicy: openintent.FallbackCompleteWithFallback,
	FallbackValue:  "deny",
}

// activeIntent creates an active intent as c's agent.
func activeIntent(t *testing.T, c *openintent.Client, title string) *openintent.Intent {
	t.Helper()
	return mustCreate(t, c, openintent.IntentCreate{Title: title, Status: openintent.StatusActive})
}

func TestSuspendRespondAndWait(t *testing.T) {
	e := newEnv(t, openintenttest.WithAPIKeys(openintenttest.DefaultAPIKey, "agent-key=agent", "operator-key=operator", "outsider-key=outsider"))
	if e.srv == nil {
		t.Skip("needs keys bound to agents: in-process server only")
	}
	agent := e.client(t, "agent", openintent.WithAPIKey("agent-key"))
	operator := e.client(t, "operator", openintent.WithAPIKey("operator-key"))
	outsider := e.client(t, "outsider", openintent.WithAPIKey("outsider-key"))
	ctx := ctxT(t)
	in := activeIntent(t, agent, "refund")
	// Only the operator may answer: the ACL is closed to everyone else.
	if _, err := agent.SetACL(ctx, in.ID, openintent.ACLSet{DefaultPolicy: "closed", Entries: []openintent.ACLEntryCreate{{PrincipalID: "operator", Permission: "write"}}}); err != nil {
		t.Fatal(err)
	}
	got, rec, err := agent.Suspend(ctx, in.ID, refund)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != openintent.StatusSuspendedAwaitingInput || rec.Question != refund.Question || rec.Attempt != 1 || rec.ExpiresAt.IsZero() {
		t.Fatalf("suspended: %+v %+v", got, rec)
	}
	if again, ok := openintent.SuspensionOf(got); !ok || again.ID != rec.ID {
		t.Fatalf("SuspensionOf: %+v %v", again, ok)
	}

	type result struct {
		res *openintent.InputResponse
		err error
	}
	waited := make(chan result, 1)
	go func() {
		res, err := agent.WaitForInput(ctx, in.ID, rec.ID)
		waited <- result{res, err}
	}()

	var pe *openintent.PermissionError
	if _, err := outsider.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: rec.ID, Value: "approve"}); !errors.As(err, &pe) {
		t.Fatalf("outsider: %v", err)
	}
	var ve *openintent.ValidationError
	_, err = operator.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: rec.ID, Value: "maybe"})
	if !errors.As(err, &ve) || !errors.Is(err, openintent.ErrValidation) || len(ve.FieldErrors) != 1 || ve.FieldErrors[0].Field != "value" || ve.Code != "invalid_choice" {
		t.Fatalf("wrong choice: %v", err)
	}
	var ce *openintent.ConflictError
	if _, err := operator.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: "other", Value: "approve"}); !errors.As(err, &ce) || ce.Code != "suspension_mismatch" {
		t.Fatalf("wrong suspension: %v", err)
	}
	select {
	case r := <-waited:
		t.Fatalf("WaitForInput returned before the answer: %+v %v", r.res, r.err)
	default:
	}
	res, err := operator.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: rec.ID, Value: "approve", Metadata: map[string]any{"via": "slack"}})
	if err != nil || res.ChoiceLabel != "Approve refund" || res.RespondedBy != "operator" || res.Resolution != "responded" {
		t.Fatalf("answer: %+v %v", res, err)
	}
	r := <-waited
	if r.err != nil || r.res.Value != "approve" || r.res.RespondedBy != "operator" || r.res.ChoiceLabel != "Approve refund" ||
		r.res.ChoiceDescription != "Full refund" || r.res.Metadata["via"] != "slack" || r.res.Resolution != "responded" {
		t.Fatalf("WaitForInput: %+v %v", r.res, r.err)
	}
	// Waiting after the answer returns it at once; a second answer is refused.
	if again, err := agent.WaitForInput(ctx, in.ID, rec.ID); err != nil || again.Value != "approve" {
		t.Fatalf("WaitForInput after the answer: %+v %v", again, err)
	}
	if _, err := operator.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: rec.ID, Value: "deny"}); !errors.As(err, &ce) || ce.Code != "not_suspended" {
		t.Fatalf("second answer: %v", err)
	}
	if cur, _ := agent.GetIntent(ctx, in.ID); cur.Status != openintent.StatusActive {
		t.Fatalf("status after the answer: %s", cur.Status)
	}
	// Input errors are the client's.
	if _, _, err := agent.Suspend(ctx, in.ID, openintent.SuspensionCreate{}); err == nil {
		t.Fatal("Suspend without a question")
	}
	if _, err := operator.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{}); err == nil {
		t.Fatal("RespondToSuspension without an id")
	}
	// A deadline ends the wait.
	in2 := activeIntent(t, agent, "nobody answers")
	_, rec2, err := agent.Suspend(ctx, in2.ID, openintent.SuspensionCreate{Question: "?", ResponseType: openintent.ResponseText})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := agent.WaitForInput(short, in2.ID, rec2.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}

func TestSuspensionTimeoutAndFallback(t *testing.T) {
	e := newClockEnv(t)
	c := e.client(t, "agent")
	ctx := ctxT(t)

	// fail: the wait ends with ErrInputTimeout, a late answer is refused.
	in := activeIntent(t, c, "fail")
	_, rec, err := c.Suspend(ctx, in.ID, openintent.SuspensionCreate{Question: "Deploy?", ResponseType: openintent.ResponseConfirm,
		TimeoutSeconds: 60, FallbackPolicy: openintent.FallbackFail})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := c.WaitForInput(ctx, in.ID, rec.ID)
		errs <- err
	}()
	e.clock.Advance(time.Minute)
	err = <-errs
	var ended *openintent.SuspensionEndedError
	if !errors.Is(err, openintent.ErrInputTimeout) || !errors.As(err, &ended) || ended.IntentStatus != openintent.StatusAbandoned || ended.FallbackPolicy != "fail" {
		t.Fatalf("WaitForInput after the timeout: %v", err)
	}
	var ce *openintent.ConflictError
	if _, err := c.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: rec.ID, Value: "yes"}); !errors.As(err, &ce) || ce.Code != "suspension_expired" {
		t.Fatalf("late answer: %v", err)
	}

	// complete_with_fallback: RequestInput returns the fallback value and the intent is active.
	in2 := activeIntent(t, c, "fallback")
	values := make(chan any, 1)
	go func() {
		v, err := c.RequestInput(ctx, in2.ID, refund)
		if err != nil {
			v = err
		}
		values <- v
	}()
	waitFor(t, "the suspension", func() bool {
		cur, err := c.GetIntent(ctx, in2.ID)
		return err == nil && cur.Status == openintent.StatusSuspendedAwaitingInput
	})
	e.clock.Advance(time.Hour)
	if v := <-values; v != "deny" {
		t.Fatalf("RequestInput: %v", v)
	}
	if cur, _ := c.GetIntent(ctx, in2.ID); cur.Status != openintent.StatusActive {
		t.Fatalf("after the fallback: %s", cur.Status)
	}

	// A status change cancels: ErrInputCancelled.
	in3 := activeIntent(t, c, "cancelled")
	s3, rec3, err := c.Suspend(ctx, in3.ID, openintent.SuspensionCreate{Question: "?", ResponseType: openintent.ResponseText})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetStatus(ctx, in3.ID, s3.Version, openintent.StatusAbandoned); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForInput(ctx, in3.ID, rec3.ID); !errors.Is(err, openintent.ErrInputCancelled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestHumanRetryPolicyEvents(t *testing.T) {
	e := newClockEnv(t)
	c := e.client(t, "agent")
	ctx := ctxT(t)
	in := activeIntent(t, c, "retry")
	_, rec, err := c.Suspend(ctx, in.ID, openintent.SuspensionCreate{Question: "Proceed?", ResponseType: openintent.ResponseConfirm,
		TimeoutSeconds: 600, RetryPolicy: openintent.HumanRetryPolicy{MaxAttempts: 2, IntervalSeconds: 600,
			EscalationLadder:    []openintent.EscalationStep{{Attempt: 2, ChannelHint: "pagerduty", NotifyTo: "supervisor"}},
			FinalFallbackPolicy: openintent.FallbackFail}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.CreateEventQueue(ctx, openintent.EventSource{IntentID: in.ID}, openintent.WithLastEventID("0"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	next := func(want openintent.EventType) openintent.IntentEvent {
		t.Helper()
		for {
			ev, err := q.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if openintent.EventType(ev.EventType) == want {
				return ev
			}
		}
	}
	next(openintent.EventIntentSuspended)
	e.clock.Advance(10 * time.Minute)
	rn := next(openintent.EventIntentSuspensionRenotified)
	es := next(openintent.EventIntentSuspensionEscalated)
	if rn.Payload["attempt"] != float64(2) || rn.Payload["notify_to"] != "supervisor" || es.Payload["escalated_to"] != "supervisor" {
		t.Fatalf("renotified %v, escalated %v", rn.Payload, es.Payload)
	}
	// The operator may answer the same suspension after a re-notification.
	if _, err := c.RespondToSuspension(ctx, in.ID, openintent.SuspensionAnswer{SuspensionID: rec.ID, Value: "yes"}); err != nil {
		t.Fatal(err)
	}
	next(openintent.EventIntentResumed)
}

func TestShouldRequestInput(t *testing.T) {
	for _, tc := range []struct {
		s    openintent.EngagementSignals
		mode openintent.EngagementMode
		ask  bool
	}{
		{openintent.EngagementSignals{Confidence: 0.9, Risk: 0.1, Reversibility: 0.9}, openintent.EngagementAutonomous, false},
		{openintent.EngagementSignals{Confidence: 0.9, Risk: 0.9, Reversibility: 0.9}, openintent.EngagementDefer, false},
		{openintent.EngagementSignals{Confidence: 0.9, Risk: 0.1, Reversibility: 0.05}, openintent.EngagementDefer, false},
		{openintent.EngagementSignals{Confidence: 0.4, Risk: 0.1, Reversibility: 0.9}, openintent.EngagementRequireInput, true},
		{openintent.EngagementSignals{Confidence: 0.9, Risk: 0.6, Reversibility: 0.9}, openintent.EngagementRequireInput, true},
		{openintent.EngagementSignals{Confidence: 0.6, Risk: 0.3, Reversibility: 0.8}, openintent.EngagementRequestInput, true},
	} {
		if d := openintent.DecideEngagement(tc.s); d.Mode != tc.mode || d.ShouldAsk != tc.ask || d.Rationale == "" {
			t.Errorf("%+v: %+v", tc.s, d)
		}
	}
	e := newEnv(t)
	c := e.client(t, "agent")
	ctx := ctxT(t)
	in := activeIntent(t, c, "engagement")
	d, err := c.ShouldRequestInput(ctx, in.ID, openintent.EngagementSignals{Confidence: 0.55, Risk: 0.6, Reversibility: 0.8, Context: map[string]any{"amount": 499.99}})
	if err != nil || d.Mode != openintent.EngagementRequireInput || !d.ShouldAsk {
		t.Fatalf("decision: %+v %v", d, err)
	}
	evs, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventEngagementDecision})
	if err != nil || len(evs) != 1 || evs[0].Payload["mode"] != "require_input" || evs[0].Payload["should_ask"] != true ||
		evs[0].Payload["signals"].(map[string]any)["risk"] != 0.6 || !strings.Contains(evs[0].Payload["rationale"].(string), "0.55") {
		t.Fatalf("engagement.decision: %+v %v", evs, err)
	}
}

func TestPlatformRetryPolicy(t *testing.T) {
	e := newClockEnv(t, openintenttest.WithSuspensions(server.Suspensions{DefaultRetryPolicy: &openintent.HumanRetryPolicy{MaxAttempts: 3, IntervalSeconds: 900}}))
	c := e.client(t, "agent")
	ctx := ctxT(t)
	cfg, err := c.GetServerConfig(ctx)
	if err != nil || cfg.Suspension.DefaultRetryPolicy["max_attempts"] != float64(3) {
		t.Fatalf("server config: %+v %v", cfg, err)
	}
	// A suspension naming no policy gets the platform's: three notifications 15 minutes apart.
	in := activeIntent(t, c, "platform policy")
	_, rec, err := c.Suspend(ctx, in.ID, openintent.SuspensionCreate{Question: "?", ResponseType: openintent.ResponseText, FallbackPolicy: openintent.FallbackUseDefaultAndContinue})
	if err != nil {
		t.Fatal(err)
	}
	if rec.RetryPolicy.MaxAttempts != 3 || rec.RetryPolicy.FinalFallbackPolicy != openintent.FallbackUseDefaultAndContinue ||
		!rec.ExpiresAt.Equal(e.clock.Now().Add(45*time.Minute)) || !rec.NextAttemptAt.Equal(e.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("record: %+v", rec)
	}
}
