package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Work is what a handler is called with: the intent, the event that caused the call, and helpers
// bound to them. Every call the helpers make carries the trace of that event (RFC-0020). The
// handler's context carries that trace too, and names the intent (openintent.ContextWithIntent):
// calls made with it through the client, or through an LLM adapter that logs its requests on the
// intent it names, join the trace.
//
// Its fields are set before the handler is called and not changed afterwards; its methods are
// safe for concurrent use.
type Work struct {
	// Intent is the intent as read just before the handler was called (after the lease was taken,
	// for work handlers).
	Intent *openintent.Intent
	// Event is the event that caused the call: the agent's assignment for an assignment handler.
	Event openintent.IntentEvent
	// Lease is the lease a work handler runs under (nil for other handlers).
	Lease *openintent.Lease
	// Attempt counts a work handler's attempts on the intent, from 1; LastError is the previous
	// attempt's error (nil on the first).
	Attempt   int
	LastError error

	agent *Agent
	job   *job
	trace openintent.Trace

	mu        sync.Mutex
	latest    *openintent.Intent // the newest version of the intent this Work has seen
	holding   bool               // whether the handler holds a slot of MaxConcurrency
	completed bool
	delegated bool
}

// newWork returns the Work of a call caused by ev.
func (a *Agent) newWork(in *openintent.Intent, ev openintent.IntentEvent, j *job) *Work {
	tr := openintent.Trace{TraceID: ev.TraceID, ParentEventID: ev.ID}
	if tr.TraceID == "" {
		tr.TraceID = openintent.NewTraceID()
	}
	return &Work{Intent: in, latest: in, Event: ev, agent: a, job: j, trace: tr}
}

// Agent returns the agent the handler runs in.
func (w *Work) Agent() *Agent { return w.agent }

// Client returns the agent's client, for calls the helpers do not cover. Pass it the handler's
// context so that the calls carry the trace.
func (w *Work) Client() *openintent.Client { return w.agent.client }

// Trace returns the trace the handler's calls carry.
func (w *Work) Trace() openintent.Trace { return w.trace }

// traced returns ctx carrying the Work's trace unless it carries one already, and naming the
// Work's intent (openintent.ContextWithIntent) unless it names one: the LLM adapters log the
// calls made with it on that intent (RFC-0008).
func (w *Work) traced(ctx context.Context) context.Context {
	if _, ok := openintent.TraceFromContext(ctx); !ok {
		ctx = openintent.ContextWithTrace(ctx, w.trace)
	}
	if id := w.intentID(); id != "" && openintent.IntentFromContext(ctx) == "" {
		ctx = openintent.ContextWithIntent(ctx, id)
	}
	return ctx
}

func (w *Work) intentID() string {
	if w.Intent != nil {
		return w.Intent.ID
	}
	return w.Event.IntentID
}

func (w *Work) setLatest(in *openintent.Intent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if in != nil && (w.latest == nil || in.Version >= w.latest.Version) {
		w.latest = in
	}
}

func (w *Work) version() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.latest == nil {
		return 0
	}
	return w.latest.Version
}

func (w *Work) isCompleted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.completed
}

func (w *Work) isDelegated() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delegated
}

// releaseSlot gives back the handler's slot of MaxConcurrency, if it holds one.
func (w *Work) releaseSlot() {
	w.mu.Lock()
	held := w.holding
	w.holding = false
	w.mu.Unlock()
	if held {
		w.agent.release()
	}
}

// waiting runs fn, a wait for someone else, without holding a slot of MaxConcurrency, and takes
// the slot back afterwards.
func (w *Work) waiting(fn func()) {
	w.mu.Lock()
	held := w.holding
	w.holding = false
	w.mu.Unlock()
	if held {
		w.agent.release()
	}
	fn()
	if held {
		w.agent.sem <- struct{}{} // never refused for good: the slot was ours
		w.mu.Lock()
		w.holding = true
		w.mu.Unlock()
	}
}

// PatchState merges patch into the intent's state (each top-level key replacing the current
// value) with optimistic concurrency: on a version conflict it tries again on the newer version.
// It returns the intent as written.
func (w *Work) PatchState(ctx context.Context, patch openintent.Object) (*openintent.Intent, error) {
	ctx = w.traced(ctx)
	c, id := w.agent.client, w.intentID()
	v := w.version()
	for attempt := 0; ; attempt++ {
		if v == 0 {
			cur, err := c.GetIntent(ctx, id)
			if err != nil {
				return nil, err
			}
			v = cur.Version
		}
		in, err := c.UpdateState(ctx, id, v, patch)
		if err == nil {
			w.setLatest(in)
			return in, nil
		}
		var vc *openintent.VersionConflictError
		if !errors.As(err, &vc) || attempt >= 50 {
			return nil, err
		}
		v = vc.CurrentVersion // 0: read it again
		if !sleep(ctx, time.Duration(rand.IntN(1+min(attempt, 10)))*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// Log appends a comment to the intent's log: {"message": message} and data's keys.
func (w *Work) Log(ctx context.Context, message string, data openintent.Object) (*openintent.IntentEvent, error) {
	payload := openintent.Object{"message": message}
	for k, v := range data {
		payload[k] = v
	}
	return w.agent.client.LogEvent(w.traced(ctx), w.intentID(), openintent.EventComment, payload)
}

// Complete merges result (when not nil) into the intent's state and completes the intent,
// retrying on version conflicts. Under a governance policy whose completion needs approval
// (completion_mode require_approval or quorum, RFC-0013), the refused completion becomes a vote:
// the agent requests approval of "complete" with result as its context, and Complete returns nil;
// the intent completes when the approvals are there (a Coordinator applies quorum rules).
func (w *Work) Complete(ctx context.Context, result openintent.Object) error {
	ctx = w.traced(ctx)
	c, id := w.agent.client, w.intentID()
	if len(result) > 0 {
		if _, err := w.PatchState(ctx, result); err != nil {
			return err
		}
	}
	if w.job != nil {
		w.job.finishing.Store(true)
	}
	v := w.version()
	for attempt := 0; ; attempt++ {
		if v == 0 {
			cur, err := c.GetIntent(ctx, id)
			if err != nil {
				return err
			}
			if cur.Status == openintent.StatusCompleted {
				break
			}
			v = cur.Version
		}
		in, err := c.SetStatus(ctx, id, v, openintent.StatusCompleted)
		if err == nil {
			w.setLatest(in)
			break
		}
		var vc *openintent.VersionConflictError
		if errors.As(err, &vc) && attempt < 50 {
			v = vc.CurrentVersion
			continue
		}
		if needsApproval(err) {
			if _, err := c.CreateApprovalRequest(ctx, id, openintent.ApprovalRequestCreate{Action: "complete",
				Reason: fmt.Sprintf("%s finished its work", w.agent.id), Context: result}); err != nil {
				return err
			}
			break
		}
		if w.job != nil {
			w.job.finishing.Store(false)
		}
		return err
	}
	w.mu.Lock()
	w.completed = true
	w.mu.Unlock()
	return nil
}

// needsApproval reports whether err is a completion refused by the intent's completion mode.
func needsApproval(err error) bool {
	var pe *openintent.PermissionError
	if !errors.As(err, &pe) || pe.Code != "governance_violation" {
		return false
	}
	for _, f := range pe.FieldErrors {
		if f.Field == "governance_policy.completion_mode" {
			return true
		}
	}
	return false
}

// Fail records that this attempt failed with err and returns an error that, returned by the
// handler, ends the work without retrying (see Permanent): `return nil, w.Fail(ctx, err)`.
func (w *Work) Fail(ctx context.Context, err error) error {
	if err == nil {
		err = errors.New("agent: work failed")
	}
	_, rerr := w.agent.client.RecordFailure(w.traced(ctx), w.intentID(), openintent.FailureCreate{AttemptNumber: int32(max(w.Attempt, 1)),
		ErrorType: "handler_error", ErrorMessage: err.Error()})
	return &permanentError{err: err, recorded: rerr == nil}
}

// Delegate hands the intent to another agent (RFC-0013): it records the delegation on the
// intent's log and assigns agentID, whose assignment handler starts once this handler has
// returned and released the lease. A delegated intent is not completed by AutoComplete.
func (w *Work) Delegate(ctx context.Context, agentID string, note openintent.Object) error {
	ctx = w.traced(ctx)
	if agentID == "" {
		return errors.New("agent: Delegate: agentID is empty")
	}
	payload := openintent.Object{"message": "delegated to " + agentID, "delegated_to": agentID, "delegated_by": w.agent.id}
	if note != nil {
		payload["note"] = note
	}
	if _, err := w.agent.client.LogEvent(ctx, w.intentID(), openintent.EventComment, payload); err != nil {
		return err
	}
	if _, err := w.agent.client.AssignAgent(ctx, w.intentID(), agentID); err != nil {
		return err
	}
	w.mu.Lock()
	w.delegated = true
	w.mu.Unlock()
	return nil
}

// Escalate escalates the intent to a human (RFC-0013) with a reason and context.
func (w *Work) Escalate(ctx context.Context, reason string, data openintent.Object) (*openintent.Escalation, error) {
	return w.agent.client.CreateEscalation(w.traced(ctx), w.intentID(), openintent.EscalationCreate{Reason: reason, Context: data})
}

// RequestInput suspends the intent with a question for a human and waits for the answer
// (RFC-0025): the human's value, or the fallback value of a suspension that timed out under a
// policy that continues; see openintent.Client.RequestInput for the errors. The handler keeps
// its lease but gives up its slot of MaxConcurrency while it waits.
func (w *Work) RequestInput(ctx context.Context, s openintent.SuspensionCreate) (any, error) {
	var v any
	var err error
	w.waiting(func() { v, err = w.agent.client.RequestInput(w.traced(ctx), w.intentID(), s) })
	return v, err
}

// InvokeTool calls a tool through the server's tool proxy under the agent's grant (RFC-0014),
// logging the call on the intent's log (tool_call_started, then completed or failed).
func (w *Work) InvokeTool(ctx context.Context, tool string, params openintent.Object) (*openintent.ToolInvokeResult, error) {
	ctx = w.traced(ctx)
	c, id := w.agent.client, w.intentID()
	if params == nil {
		params = openintent.Object{}
	}
	call, err := c.StartToolCall(ctx, id, openintent.ToolCallPayload{ToolName: tool, Arguments: params})
	if err != nil {
		return nil, err
	}
	res, err := c.InvokeTool(ctx, tool, "", params)
	if err == nil && res.Error != nil && res.Status != "success" {
		err = fmt.Errorf("agent: tool %s: %s", tool, *res.Error)
	}
	if err != nil {
		if _, lerr := call.Fail(ctx, err); lerr != nil {
			w.agent.log.Warn("agent: log tool call", "tool", tool, "error", lerr)
		}
		return res, err
	}
	var result any
	if res.Result != nil {
		result = res.Result
	}
	if _, lerr := call.Complete(ctx, result); lerr != nil {
		w.agent.log.Warn("agent: log tool call", "tool", tool, "error", lerr)
	}
	return res, nil
}

// StartLLMRequest logs the start of an LLM call on the intent's log (RFC-0008), in the handler's
// trace; Complete or Fail the request when the call ends.
func (w *Work) StartLLMRequest(ctx context.Context, p openintent.LLMRequestPayload) (*openintent.LLMRequest, error) {
	return w.agent.client.StartLLMRequest(w.traced(ctx), w.intentID(), p)
}

// StartToolCall logs the start of a tool call made outside the server's proxy, in the handler's
// trace; Complete or Fail it when the call ends.
func (w *Work) StartToolCall(ctx context.Context, p openintent.ToolCallPayload) (*openintent.ToolCall, error) {
	return w.agent.client.StartToolCall(w.traced(ctx), w.intentID(), p)
}

// Memory returns the agent's memory (RFC-0015) in its namespace (MemoryNamespace).
func (w *Work) Memory() *Memory { return w.agent.Memory() }

// Tasks returns the tasks of the intent (RFC-0012).
func (w *Work) Tasks() *Tasks { return &Tasks{w: w} }

// Channel returns the intent's channel with this name (RFC-0021), opened on first use: the
// existing channel, or a new one open to everyone working on the intent and audited (each
// message is also an event of the intent's log, through which the OnMessage handlers of the
// other agents following the intent find the channel).
func (w *Work) Channel(name string) *Channel {
	return &Channel{w: w, intentID: w.intentID(), name: name}
}

// ChannelOf returns the channel with this name of another intent, such as one this intent
// depends on, opened on first use as Channel does.
func (w *Work) ChannelOf(intentID, name string) *Channel {
	return &Channel{w: w, intentID: intentID, name: name}
}
