package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// WorkFunc does an agent's work on an intent: the assignment handler (OnAssignment), and the
// handlers of OnLeaseAvailable and OnTrigger. It runs while the runtime holds a lease; the
// object it returns (nil for none) is merged into the intent's state.
type WorkFunc func(ctx context.Context, w *Work) (openintent.Object, error)

// Handler reacts to an event (OnEvent, OnStateChange, OnComplete); w.Event is the event and
// w.Intent the intent as read when the handler was called.
type Handler func(ctx context.Context, w *Work) error

// TaskFunc reacts to a task's creation or status change (OnTask).
type TaskFunc func(ctx context.Context, w *Work, task openintent.Task) error

// MessageFunc receives a channel message addressed to the agent (OnMessage). The object it
// returns, when not nil, answers a request (ReplyTo).
type MessageFunc func(ctx context.Context, w *Work, msg openintent.ChannelMessage) (openintent.Object, error)

// SuspensionFunc reacts to a suspension awaiting human input (OnInputRequested,
// OnSuspensionExpired).
type SuspensionFunc func(ctx context.Context, w *Work, s openintent.SuspensionRecord) error

// InputFunc reacts to a human's answer to a suspension (OnInputReceived).
type InputFunc func(ctx context.Context, w *Work, answer openintent.InputResponse) error

// AccessFunc decides an access request (OnAccessRequested).
type AccessFunc func(ctx context.Context, w *Work, req openintent.AccessRequest) (AccessDecision, error)

// EscalationFunc reacts to an escalation of an intent (OnEscalation).
type EscalationFunc func(ctx context.Context, w *Work, e openintent.Escalation) error

// ApprovalFunc reacts to an approval request's decision (OnApprovalGranted, OnApprovalDenied).
type ApprovalFunc func(ctx context.Context, w *Work, a openintent.ApprovalRequest) error

// DrainFunc is called when the agent starts draining (OnDrain); ctx ends at the drain deadline.
type DrainFunc func(ctx context.Context) error

// InputGuardrailFunc checks an intent before the work handler runs (InputGuardrail): an error
// refuses the work, recording the error's text as the reason.
type InputGuardrailFunc func(ctx context.Context, w *Work) error

// OutputGuardrailFunc checks the result of a work handler before it is written (OutputGuardrail):
// an error refuses the result, recording the error's text as the reason.
type OutputGuardrailFunc func(ctx context.Context, w *Work, result openintent.Object) error

// AccessDecision is what an OnAccessRequested handler decides.
type AccessDecision int

// Access decisions: Defer leaves the request pending for someone else.
const (
	Defer AccessDecision = iota
	Approve
	Deny
)

// Option configures an Agent, a Coordinator or a Worker.
type Option func(*config)

// Defaults of the runtime.
const (
	// DefaultMaxConcurrency is how many handlers run at once without MaxConcurrency.
	DefaultMaxConcurrency = 16
	// DefaultLeaseDuration is the lease an assignment handler runs under; it is renewed every
	// third of it, so a handler may run for as long as it needs.
	DefaultLeaseDuration = 60 * time.Second
	// DefaultLeaseScope is the lease scope assignment handlers take: the whole intent.
	DefaultLeaseScope = "intent"
	// DefaultDrainTimeout bounds the drain of an agent whose context ended.
	DefaultDrainTimeout = 30 * time.Second
)

type stateHandler struct {
	keys []string
	fn   Handler
}

type scopedWork struct {
	name string // the lease scope (OnLeaseAvailable) or the trigger's name (OnTrigger)
	fn   WorkFunc
}

type taskHandler struct {
	status openintent.TaskStatus
	fn     TaskFunc
}

type messageHandler struct {
	channel string
	fn      MessageFunc
}

type config struct {
	errs []error

	maxConcurrency    int
	leaseDuration     time.Duration
	leaseScope        string
	capabilities      []string
	heartbeatInterval time.Duration
	drainTimeout      time.Duration
	autoComplete      bool
	logger            *slog.Logger
	memoryNamespace   string
	resumeAfter       string
	watchIntents      []string
	watchPortfolios   []string
	retryPolicy       *openintent.RetryPolicy
	registration      openintent.AgentRegistration

	assignment        []WorkFunc
	events            map[string][]Handler
	stateChange       []stateHandler
	leaseAvailable    []scopedWork
	trigger           []scopedWork
	task              []taskHandler
	message           []messageHandler
	inputRequested    []SuspensionFunc
	suspensionExpired []SuspensionFunc
	inputReceived     []InputFunc
	accessRequested   []AccessFunc
	escalation        []EscalationFunc
	approvalGranted   []ApprovalFunc
	approvalDenied    []ApprovalFunc
	complete          []Handler
	drain             []DrainFunc
	inputGuardrails   []InputGuardrailFunc
	outputGuardrails  []OutputGuardrailFunc

	// Coordinators (coordinator.go).
	allComplete          []AllCompleteFunc
	quorum               []QuorumFunc
	coordinatorHeartbeat time.Duration

	// Workers (worker.go).
	taskWork TaskWorkFunc
}

func defaultConfig() config {
	return config{
		maxConcurrency: DefaultMaxConcurrency,
		leaseDuration:  DefaultLeaseDuration,
		leaseScope:     DefaultLeaseScope,
		drainTimeout:   DefaultDrainTimeout,
		logger:         slog.New(slog.DiscardHandler),
		events:         map[string][]Handler{},
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("agent: "+format, args...))
}

func (c *config) err() error { return errors.Join(c.errs...) }

// needsIntentStreams reports whether any handler reacts to what happens on intents, so that the
// runtime must follow the intents the agent is assigned to.
func (c *config) needsIntentStreams() bool {
	return len(c.events) > 0 || len(c.stateChange) > 0 || len(c.leaseAvailable) > 0 || len(c.task) > 0 ||
		len(c.message) > 0 || len(c.inputRequested) > 0 || len(c.suspensionExpired) > 0 ||
		len(c.inputReceived) > 0 || len(c.accessRequested) > 0 || len(c.escalation) > 0 ||
		len(c.approvalGranted) > 0 || len(c.approvalDenied) > 0 || len(c.complete) > 0 || c.taskWork != nil
}

// MaxConcurrency bounds how many handlers run at once (DefaultMaxConcurrency without it). A
// handler waiting for a human (Work.RequestInput) or for an answer on a channel (Channel.Ask)
// does not count while it waits.
func MaxConcurrency(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.fail("MaxConcurrency: must be at least 1, got %d", n)
			return
		}
		c.maxConcurrency = n
	}
}

// LeaseDuration sets the duration of the leases work handlers run under (DefaultLeaseDuration
// without it; whole seconds, at least one). The lease is renewed every third of it: a shorter
// lease lets another agent take over sooner after this one dies.
func LeaseDuration(d time.Duration) Option {
	return func(c *config) {
		if d < time.Second {
			c.fail("LeaseDuration: must be at least 1s, got %v", d)
			return
		}
		c.leaseDuration = d
	}
}

// LeaseScope sets the lease scope assignment handlers take on their intent (DefaultLeaseScope,
// the whole intent, without it).
func LeaseScope(scope string) Option {
	return func(c *config) {
		if scope == "" {
			c.fail("LeaseScope: scope is empty")
			return
		}
		c.leaseScope = scope
	}
}

// Capabilities declares what the agent can do: registered with its record (RFC-0016) and, for a
// Worker, the capabilities a task may require of it.
func Capabilities(caps ...string) Option {
	return func(c *config) { c.capabilities = append(c.capabilities, caps...) }
}

// Registration sets the rest of the agent's record (name, role, capacity, heartbeat settings,
// metadata); its AgentID and Capabilities are the agent's.
func Registration(r openintent.AgentRegistration) Option {
	return func(c *config) { c.registration = r }
}

// HeartbeatInterval sets how often the agent heartbeats (by default the interval the server asks
// for).
func HeartbeatInterval(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("HeartbeatInterval: must be positive, got %v", d)
			return
		}
		c.heartbeatInterval = d
	}
}

// DrainTimeout bounds the drain that follows the end of Run's context (DefaultDrainTimeout
// without it): running handlers have until then to finish; then their contexts are cancelled
// (with a cause matching ErrDraining) and their leases released.
func DrainTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("DrainTimeout: must be positive, got %v", d)
			return
		}
		c.drainTimeout = d
	}
}

// AutoComplete completes an intent when its assignment handler succeeds, after writing its
// result (unless the handler completed it itself or delegated it). Without it, handlers complete
// intents with Work.Complete.
func AutoComplete() Option {
	return func(c *config) { c.autoComplete = true }
}

// Logger sets where the runtime logs (nothing without it).
func Logger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.fail("Logger: logger is nil")
			return
		}
		c.logger = l
	}
}

// MemoryNamespace sets the namespace of Work.Memory and Agent.Memory (the agent's id without
// it).
func MemoryNamespace(ns string) Option {
	return func(c *config) {
		if ns == "" {
			c.fail("MemoryNamespace: namespace is empty")
			return
		}
		c.memoryNamespace = ns
	}
}

// ResumeAfter makes the agent's event stream start after this event (an earlier run's
// Agent.LastEventID), so that what happened while the agent was not running reaches it. Without
// it the stream starts when Run connects.
func ResumeAfter(eventID string) Option {
	return func(c *config) {
		if _, err := strconv.ParseInt(eventID, 10, 64); err != nil {
			c.fail("ResumeAfter: %q is not an event id", eventID)
			return
		}
		c.resumeAfter = eventID
	}
}

// Watch makes the agent follow these intents' events from when Run starts, whether or not it is
// assigned to them.
func Watch(intentIDs ...string) Option {
	return func(c *config) { c.watchIntents = append(c.watchIntents, intentIDs...) }
}

// WatchPortfolio makes the agent follow the events of a portfolio's intents from when Run
// starts.
func WatchPortfolio(portfolioID string) Option {
	return func(c *config) { c.watchPortfolios = append(c.watchPortfolios, portfolioID) }
}

// DefaultRetryPolicy is the retry policy of intents that have none (RFC-0010). Without it, a
// failed attempt on such an intent is recorded and not retried.
func DefaultRetryPolicy(p openintent.RetryPolicy) Option {
	return func(c *config) { c.retryPolicy = &p }
}

// OnAssignment handles the agent's assignment to an intent: fn runs under a lease on the intent
// (LeaseScope), its result is merged into the intent's state, its error recorded and retried by
// the intent's retry policy. Several handlers run one after the other.
func OnAssignment(fn WorkFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnAssignment: fn is nil")
			return
		}
		c.assignment = append(c.assignment, fn)
	}
}

// OnEvent calls fn for every event of this type on the intents the agent follows.
func OnEvent(eventType openintent.EventType, fn Handler) Option {
	return func(c *config) {
		if fn == nil || eventType == "" {
			c.fail("OnEvent: event type and fn are required")
			return
		}
		c.events[string(eventType)] = append(c.events[string(eventType)], fn)
	}
}

// OnStateChange calls fn when the state of an intent the agent follows changes at one of these
// top-level keys (at any key when none are given), the agent's own changes included.
func OnStateChange(keys []string, fn Handler) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnStateChange: fn is nil")
			return
		}
		c.stateChange = append(c.stateChange, stateHandler{keys: keys, fn: fn})
	}
}

// OnLeaseAvailable runs fn when another agent releases a lease on scope of an intent the agent
// follows: the runtime takes the lease and holds it while fn runs, as for an assignment.
func OnLeaseAvailable(scope string, fn WorkFunc) Option {
	return func(c *config) {
		if fn == nil || scope == "" {
			c.fail("OnLeaseAvailable: scope and fn are required")
			return
		}
		c.leaseAvailable = append(c.leaseAvailable, scopedWork{name: scope, fn: fn})
	}
}

// OnTask calls fn when a task of an intent the agent follows is created (status pending) or
// changes status, for this status only when status is not empty.
func OnTask(status openintent.TaskStatus, fn TaskFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnTask: fn is nil")
			return
		}
		c.task = append(c.task, taskHandler{status: status, fn: fn})
	}
}

// OnTrigger handles the agent's assignment to an intent that a trigger created (RFC-0017): a
// trigger with this name (when the agent may read the trigger: its own), or this trigger id, or
// any trigger when name is empty. It runs instead of the OnAssignment handlers, as they would.
func OnTrigger(name string, fn WorkFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnTrigger: fn is nil")
			return
		}
		c.trigger = append(c.trigger, scopedWork{name: name, fn: fn})
	}
}

// OnMessage calls fn for each message addressed to the agent (to it, or to everyone) on the
// channels named channel (every channel when empty) of the intents it follows (RFC-0021): the
// channels they have when the agent starts following them, those it opens with Work.Channel, and
// audited channels as their messages appear on the intent's log (Work.Channel opens audited
// channels, so agents using the runtime find each other's). The object fn returns answers a
// request; a message addressed to the agent alone is marked read once handled, and not handled
// again. Channels close when their intent ends.
func OnMessage(channel string, fn MessageFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnMessage: fn is nil")
			return
		}
		c.message = append(c.message, messageHandler{channel: channel, fn: fn})
	}
}

// OnInputRequested calls fn when an intent the agent follows is suspended awaiting a human's
// input (RFC-0025): route the question to a person.
func OnInputRequested(fn SuspensionFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnInputRequested: fn is nil")
			return
		}
		c.inputRequested = append(c.inputRequested, fn)
	}
}

// OnInputReceived calls fn when a human answers a suspension of an intent the agent follows.
func OnInputReceived(fn InputFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnInputReceived: fn is nil")
			return
		}
		c.inputReceived = append(c.inputReceived, fn)
	}
}

// OnSuspensionExpired calls fn when a suspension of an intent the agent follows times out
// without an answer (its fallback policy has been applied).
func OnSuspensionExpired(fn SuspensionFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnSuspensionExpired: fn is nil")
			return
		}
		c.suspensionExpired = append(c.suspensionExpired, fn)
	}
}

// OnAccessRequested asks fn to decide requests for access to the intents the agent follows
// (RFC-0011): Approve grants the requested permission, Deny refuses, Defer leaves the request to
// someone else. The agent needs admin permission on the intent to decide.
func OnAccessRequested(fn AccessFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnAccessRequested: fn is nil")
			return
		}
		c.accessRequested = append(c.accessRequested, fn)
	}
}

// OnEscalation calls fn when an intent the agent follows is escalated.
func OnEscalation(fn EscalationFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnEscalation: fn is nil")
			return
		}
		c.escalation = append(c.escalation, fn)
	}
}

// OnApprovalGranted calls fn when an approval request on an intent the agent follows is granted
// (RFC-0013): resume what waited for it.
func OnApprovalGranted(fn ApprovalFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnApprovalGranted: fn is nil")
			return
		}
		c.approvalGranted = append(c.approvalGranted, fn)
	}
}

// OnApprovalDenied calls fn when an approval request on an intent the agent follows is denied.
func OnApprovalDenied(fn ApprovalFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnApprovalDenied: fn is nil")
			return
		}
		c.approvalDenied = append(c.approvalDenied, fn)
	}
}

// OnComplete calls fn when an intent the agent follows is completed.
func OnComplete(fn Handler) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnComplete: fn is nil")
			return
		}
		c.complete = append(c.complete, fn)
	}
}

// OnDrain calls fn when the agent starts draining, before it waits for its running handlers.
func OnDrain(fn DrainFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnDrain: fn is nil")
			return
		}
		c.drain = append(c.drain, fn)
	}
}

// InputGuardrail checks every intent before a work handler runs on it; an error refuses the work
// and is recorded on the intent as a failure whose message is the reason (error type
// "guardrail_refused"). Guardrails run in the order given.
func InputGuardrail(fn InputGuardrailFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("InputGuardrail: fn is nil")
			return
		}
		c.inputGuardrails = append(c.inputGuardrails, fn)
	}
}

// OutputGuardrail checks every result of a work handler before it is written; an error refuses
// the result (nothing is written, the intent is not completed) and is recorded as with
// InputGuardrail.
func OutputGuardrail(fn OutputGuardrailFunc) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OutputGuardrail: fn is nil")
			return
		}
		c.outputGuardrails = append(c.outputGuardrails, fn)
	}
}
