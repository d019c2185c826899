package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// An assignment runs the handler under a lease, writes its result, completes the intent, and
// every write carries the assignment's trace.
func TestAssignmentWritesResultUnderLeaseWithTrace(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	worker := srv.Client(t, "summariser")
	var mu sync.Mutex
	var seenLease *openintent.Lease
	var seenAttempt int
	a := agent.New(worker, "summariser", agent.Capabilities("summarise"), agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			mu.Lock()
			seenLease, seenAttempt = w.Lease, w.Attempt
			mu.Unlock()
			req, err := w.StartLLMRequest(ctx, openintent.LLMRequestPayload{Provider: "test", Model: "echo", MessagesCount: 1})
			if err != nil {
				return nil, err
			}
			if _, err := req.Complete(ctx, openintent.LLMResult{ResponseContent: "short", PromptTokens: 3, CompletionTokens: 1}); err != nil {
				return nil, err
			}
			if _, err := w.Log(ctx, "summarised", openintent.Object{"words": 1}); err != nil {
				return nil, err
			}
			return openintent.Object{"summary": "short: " + w.Intent.Title}, nil
		}))
	start(t, a)

	rec, err := boss.GetAgentRecord(testContext(t), "summariser")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != openintent.AgentActive || len(rec.Capabilities) != 1 || rec.Capabilities[0] != "summarise" {
		t.Fatalf("agent record: %+v", rec)
	}

	in := newIntent(t, boss, "report")
	ctx := openintent.NewTrace(testContext(t))
	tr, _ := openintent.TraceFromContext(ctx)
	if _, err := boss.AssignAgent(ctx, in.ID, "summariser"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, boss, in.ID, completed)
	waitEvent(t, boss, in.ID, ofType(string(openintent.EventLeaseReleased))) // once the handler has returned

	got, err := boss.GetIntent(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != openintent.StatusCompleted || got.State["summary"] != "short: report" {
		t.Fatalf("intent: status %s, state %v", got.Status, got.State)
	}
	mu.Lock()
	if seenLease == nil || seenLease.Scope != agent.DefaultLeaseScope || seenAttempt != 1 {
		t.Errorf("handler saw lease %+v, attempt %d", seenLease, seenAttempt)
	}
	mu.Unlock()
	leases, err := boss.GetLeases(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 1 || leases[0].Status != openintent.LeaseReleased {
		t.Fatalf("leases: %+v", leases)
	}
	evs, err := boss.GetEvents(testContext(t), in.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var assigned string
	for _, ev := range evs {
		if ev.EventType == openintent.EventAgentAssigned {
			assigned = ev.ID
		}
	}
	for _, ev := range evs {
		if ev.Actor != "summariser" {
			continue
		}
		if ev.TraceID != tr.TraceID {
			t.Errorf("%s by the agent has trace %q, want the assignment's %q", ev.EventType, ev.TraceID, tr.TraceID)
		}
		switch ev.EventType {
		case openintent.EventStatePatched, openintent.EventLeaseAcquired, openintent.EventLLMRequestStarted:
			if ev.ParentEventID != assigned {
				t.Errorf("%s has parent %q, want the assignment %q", ev.EventType, ev.ParentEventID, assigned)
			}
		}
	}
}

// Guardrails refuse work before the handler runs, and results before they are written, with the
// reason recorded as a failure of the intent.
func TestGuardrailsRefuseWithRecordedReason(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	calls := newCounter()
	a := agent.New(srv.Client(t, "careful"), "careful", agent.AutoComplete(),
		agent.InputGuardrail(func(ctx context.Context, w *agent.Work) error {
			if strings.Contains(w.Intent.Title, "secret") {
				return errors.New("titles with secrets are out of scope")
			}
			return nil
		}),
		agent.OutputGuardrail(func(ctx context.Context, w *agent.Work, result openintent.Object) error {
			if _, ok := result["ssn"]; ok {
				return errors.New("result holds a social security number")
			}
			return nil
		}),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			calls.add(w.Intent.Title)
			if strings.Contains(w.Intent.Title, "person") {
				return openintent.Object{"ssn": "078-05-1120"}, nil
			}
			return openintent.Object{"ok": true}, nil
		}))
	start(t, a)

	refusedIn, refusedOut, fine := newIntent(t, boss, "secret plans"), newIntent(t, boss, "person lookup"), newIntent(t, boss, "weather")
	for _, in := range []*openintent.Intent{refusedIn, refusedOut, fine} {
		assign(t, boss, in.ID, "careful")
	}
	waitEvent(t, boss, fine.ID, completed)
	for _, tc := range []struct {
		in        *openintent.Intent
		guardrail string
		reason    string
		calls     int
	}{
		{refusedIn, "input", "titles with secrets are out of scope", 0},
		{refusedOut, "output", "result holds a social security number", 1},
	} {
		waitEvent(t, boss, tc.in.ID, ofType(string(openintent.EventFailureRecorded)))
		fs, err := boss.ListFailures(testContext(t), tc.in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].ErrorType != "guardrail_refused" || fs[0].ErrorMessage != tc.reason || fs[0].Metadata["guardrail"] != tc.guardrail {
			t.Errorf("%s: failures %+v", tc.in.Title, fs)
		}
		if n := calls.get(tc.in.Title); n != tc.calls {
			t.Errorf("%s: handler called %d times, want %d", tc.in.Title, n, tc.calls)
		}
		got, err := boss.GetIntent(testContext(t), tc.in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != openintent.StatusActive || len(got.State) != 0 {
			t.Errorf("%s: refused work changed the intent: %s %v", tc.in.Title, got.Status, got.State)
		}
	}
}

// A failing handler is recorded and retried as the intent's retry policy says; when retries run
// out, the intent goes to the policy's fallback agent.
func TestRetryPolicyAndFallback(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	var mu sync.Mutex
	var attempts []int
	var lastErrs []string
	flaky := agent.New(srv.Client(t, "flaky"), "flaky", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			mu.Lock()
			attempts = append(attempts, w.Attempt)
			if w.LastError != nil {
				lastErrs = append(lastErrs, w.LastError.Error())
			}
			mu.Unlock()
			if w.Intent.Title == "hopeless" || w.Attempt < 3 {
				return nil, fmt.Errorf("flake %d", w.Attempt)
			}
			return openintent.Object{"done_on_attempt": w.Attempt}, nil
		}))
	backup := agent.New(srv.Client(t, "backup"), "backup", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			return openintent.Object{"rescued_by": "backup"}, nil
		}))
	start(t, flaky)
	start(t, backup)

	retried := newIntent(t, boss, "flaky work")
	if _, err := boss.SetRetryPolicy(testContext(t), retried.ID, openintent.RetryPolicySet{Strategy: "fixed", MaxRetries: 2, BaseDelayMs: 10}); err != nil {
		t.Fatal(err)
	}
	assign(t, boss, retried.ID, "flaky")
	waitEvent(t, boss, retried.ID, completed)
	got, err := boss.GetIntent(testContext(t), retried.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["done_on_attempt"] != float64(3) {
		t.Fatalf("state %v", got.State)
	}
	fs, err := boss.ListFailures(testContext(t), retried.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].AttemptNumber != 1 || fs[1].AttemptNumber != 2 || fs[0].ErrorMessage != "flake 1" || fs[0].RetryScheduledAt.IsZero() {
		t.Fatalf("failures %+v", fs)
	}
	mu.Lock()
	if fmt.Sprint(attempts) != "[1 2 3]" || fmt.Sprint(lastErrs) != "[flake 1 flake 2]" {
		t.Errorf("attempts %v, last errors %v", attempts, lastErrs)
	}
	mu.Unlock()

	hopeless := newIntent(t, boss, "hopeless")
	if _, err := boss.SetRetryPolicy(testContext(t), hopeless.ID, openintent.RetryPolicySet{Strategy: "fixed", MaxRetries: 1, BaseDelayMs: 10,
		FallbackAgentID: "backup"}); err != nil {
		t.Fatal(err)
	}
	assign(t, boss, hopeless.ID, "flaky")
	waitEvent(t, boss, hopeless.ID, completed)
	got, err = boss.GetIntent(testContext(t), hopeless.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["rescued_by"] != "backup" {
		t.Fatalf("state %v", got.State)
	}
	fs, err = boss.ListFailures(testContext(t), hopeless.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || !fs[1].RetryScheduledAt.IsZero() {
		t.Fatalf("failures %+v", fs)
	}
	waitEvent(t, boss, hopeless.ID, ofType("fallback_triggered"))
}

// Cancelling Run drains the agent: OnDrain is called, a handler that finishes in time has its
// result written, one that does not is cancelled with ErrDraining and its lease released, and
// the agent ends deregistered, within the drain deadline.
func TestDrain(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	started := newCounter()
	drained := make(chan struct{})
	causes := make(chan error, 1)
	a := agent.New(srv.Client(t, "drainer"), "drainer", agent.AutoComplete(), agent.DrainTimeout(time.Second),
		agent.OnDrain(func(ctx context.Context) error {
			close(drained)
			return nil
		}),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			started.add(w.Intent.Title)
			if w.Intent.Title == "cooperative" {
				<-drained // finishes as soon as the drain starts
				return openintent.Object{"finished": "during the drain"}, nil
			}
			<-ctx.Done() // holds on until the deadline
			causes <- context.Cause(ctx)
			return nil, ctx.Err()
		}))
	r := start(t, a)
	coop, stubborn := newIntent(t, boss, "cooperative"), newIntent(t, boss, "stubborn")
	assign(t, boss, coop.ID, "drainer")
	assign(t, boss, stubborn.ID, "drainer")
	started.waitTotal(t, 2)

	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cause := <-causes; !errors.Is(cause, agent.ErrDraining) {
		t.Errorf("stubborn handler's cause: %v", cause)
	}
	got, err := boss.GetIntent(testContext(t), coop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != openintent.StatusCompleted || got.State["finished"] != "during the drain" {
		t.Errorf("cooperative intent: %s %v", got.Status, got.State)
	}
	got, err = boss.GetIntent(testContext(t), stubborn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != openintent.StatusActive || len(got.State) != 0 {
		t.Errorf("stubborn intent: %s %v", got.Status, got.State)
	}
	for _, in := range []*openintent.Intent{coop, stubborn} {
		leases, err := boss.GetLeases(testContext(t), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			if l.Status != openintent.LeaseReleased {
				t.Errorf("%s: lease %s is %s after the drain", in.Title, l.ID, l.Status)
			}
		}
	}
	if fs, err := boss.ListFailures(testContext(t), stubborn.ID); err != nil || len(fs) != 0 {
		t.Errorf("a drained handler is handed back, not failed: %v %+v", err, fs)
	}
	rec, err := boss.GetAgentRecord(testContext(t), "drainer")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != openintent.AgentDeregistered {
		t.Errorf("agent status after the drain: %s", rec.Status)
	}
}

// Invalid options and a client acting as another agent make Run fail at once.
func TestRunRefusesBadConfiguration(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	if err := agent.New(srv.Client(t, "x"), "y").Run(ctx); err == nil || !strings.Contains(err.Error(), `acts as "x"`) {
		t.Errorf("mismatched client: %v", err)
	}
	if err := agent.New(srv.Client(t, "x"), "x", agent.MaxConcurrency(0), agent.OnAssignment(nil)).Run(ctx); err == nil ||
		!strings.Contains(err.Error(), "MaxConcurrency") || !strings.Contains(err.Error(), "OnAssignment") {
		t.Errorf("invalid options: %v", err)
	}
}
