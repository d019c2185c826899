package agent

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Agent is an OpenIntent agent run by the runtime: see the package documentation. Create it with
// New and start it with Run. Its methods are safe for concurrent use.
type Agent struct {
	client *openintent.Client
	id     string
	cfg    config
	log    *slog.Logger
	sem    chan struct{}

	running  atomic.Bool
	draining atomic.Bool
	cursor   atomic.Int64 // the last event of the agent's stream handled (-1: none yet)
	active   atomic.Int32 // work handlers running

	ready      chan struct{}
	readyLeft  atomic.Int32
	readyClose sync.Once

	mu        sync.Mutex
	workCtx   context.Context // parent of every work handler's context; cancelled at the drain deadline
	streamCtx context.Context // parent of every stream; ended after the drain
	jobs      map[string]*job
	watches   map[string]*watch
	seen      map[string]int64  // intent -> last event dispatched from a complete stream
	channels  map[string]string // intent + "\x00" + channel name -> channel id
	followed  map[string]bool   // channels whose messages are followed
	tasks     map[string]bool   // tasks being run by a Worker

	drainSig   drainSignal // closed when draining starts
	drainClose sync.Once

	jobsWG   sync.WaitGroup // work handlers
	streamWG sync.WaitGroup // stream readers
}

// New returns an agent acting as id through client, which must act as that agent
// (openintent.WithAgentID(id)). Options that are invalid make Run fail.
func New(client *openintent.Client, id string, opts ...Option) *Agent {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	a := &Agent{client: client, id: id, cfg: cfg, log: cfg.logger.With("agent_id", id),
		ready: make(chan struct{}), jobs: map[string]*job{}, watches: map[string]*watch{}, seen: map[string]int64{},
		channels: map[string]string{}, followed: map[string]bool{}, tasks: map[string]bool{}}
	a.sem = make(chan struct{}, max(cfg.maxConcurrency, 1))
	a.cursor.Store(-1)
	if cfg.resumeAfter != "" {
		n, _ := strconv.ParseInt(cfg.resumeAfter, 10, 64)
		a.cursor.Store(n)
	}
	if cfg.memoryNamespace == "" {
		a.cfg.memoryNamespace = id
	}
	return a
}

// ID returns the agent's id.
func (a *Agent) ID() string { return a.id }

// Client returns the client the agent acts through.
func (a *Agent) Client() *openintent.Client { return a.client }

// Ready is closed once Run has registered the agent and its event streams are open (those of
// Watch and WatchPortfolio included): from then on every assignment reaches it. It is never
// closed if Run fails before.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// LastEventID returns the id of the last event of the agent's stream the runtime has handled
// ("" before the first): pass it to ResumeAfter when the agent starts again to pick up where it
// left.
func (a *Agent) LastEventID() string {
	if n := a.cursor.Load(); n >= 0 {
		return strconv.FormatInt(n, 10)
	}
	return ""
}

// Memory returns the agent's memory (RFC-0015) in its namespace (MemoryNamespace).
func (a *Agent) Memory() *Memory {
	return &Memory{client: a.client, namespace: a.cfg.memoryNamespace}
}

func (a *Agent) validate() error {
	err := a.cfg.err()
	switch {
	case a.client == nil:
		err = errors.Join(err, errors.New("agent: client is nil"))
	case a.id == "":
		err = errors.Join(err, errors.New("agent: id is empty"))
	case a.client.AgentID() != a.id:
		err = errors.Join(err, fmt.Errorf("agent: the client acts as %q, not %q: create it with openintent.WithAgentID(%q)", a.client.AgentID(), a.id, a.id))
	}
	return err
}

// Run runs the agent until ctx ends, then drains it (see DrainTimeout) and returns nil; or until
// it fails for good (its options are invalid, the server refuses to register it, or its
// heartbeats are refused), returning why. An agent runs once.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.validate(); err != nil {
		return err
	}
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called more than once")
	}
	base := context.WithoutCancel(ctx)
	workCtx, cancelWork := context.WithCancelCause(base)
	defer cancelWork(nil)
	streamCtx, stopStreams := context.WithCancel(base)
	defer stopStreams()
	a.mu.Lock()
	a.workCtx, a.streamCtx = workCtx, streamCtx
	a.mu.Unlock()

	if err := a.register(ctx); err != nil {
		return err
	}
	hb := a.client.KeepAgentAlive(streamCtx, a.id, a.cfg.heartbeatInterval, a.load)
	fatal := make(chan error, 2)
	go func() {
		<-hb.Done()
		if err := hb.Err(); err != nil {
			fatal <- err
		}
	}()

	// The agent's stream stops first when draining: no new work is taken.
	agentCtx, stopAgentStream := context.WithCancel(streamCtx)
	defer stopAgentStream()
	a.readyLeft.Store(int32(1 + len(a.cfg.watchIntents) + len(a.cfg.watchPortfolios)))
	a.streamWG.Add(1)
	go func() {
		defer a.streamWG.Done()
		a.followAgent(agentCtx)
	}()
	for _, id := range a.cfg.watchIntents {
		a.startWatch(id, false, -1, a.opened)
	}
	for _, id := range a.cfg.watchPortfolios {
		a.startWatch(id, true, -1, a.opened)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-fatal:
		runErr = err
	}
	a.drain(base, stopAgentStream, cancelWork)
	stopStreams()
	hb.Stop()
	a.streamWG.Wait()
	offCtx, cancel := context.WithTimeout(base, 10*time.Second)
	defer cancel()
	if _, err := a.client.UpdateAgentStatus(offCtx, a.id, openintent.AgentDeregistered); err != nil {
		a.log.Warn("agent: mark deregistered", "error", err)
	}
	return runErr
}

// register registers the agent's record, or reactivates it when it exists.
func (a *Agent) register(ctx context.Context) error {
	r := a.cfg.registration
	r.AgentID = a.id
	r.Capabilities = append(r.Capabilities, a.cfg.capabilities...)
	if r.DrainTimeoutSeconds == 0 {
		r.DrainTimeoutSeconds = int32(max(a.cfg.drainTimeout/time.Second, 1))
	}
	_, err := a.client.RegisterAgent(ctx, r)
	var conflict *openintent.ConflictError
	if errors.As(err, &conflict) {
		_, err = a.client.UpdateAgentStatus(ctx, a.id, openintent.AgentActive)
	}
	if err != nil {
		return fmt.Errorf("agent: register %s: %w", a.id, err)
	}
	return nil
}

// load is what each heartbeat reports.
func (a *Agent) load() openintent.AgentHeartbeatCreate {
	a.mu.Lock()
	defer a.mu.Unlock()
	hb := openintent.AgentHeartbeatCreate{CurrentLoad: a.active.Load()}
	for t := range a.tasks {
		hb.TasksInProgress = append(hb.TasksInProgress, t)
	}
	if a.draining.Load() {
		hb.Status = string(openintent.AgentDraining)
	}
	return hb
}

// opened counts a stream as open for Ready.
func (a *Agent) opened() {
	if a.readyLeft.Add(-1) <= 0 {
		a.readyClose.Do(func() { close(a.ready) })
	}
}

// drain stops taking work, calls the OnDrain handlers and waits for running work until the
// drain deadline, then cancels it.
func (a *Agent) drain(base context.Context, stopAgentStream context.CancelFunc, cancelWork context.CancelCauseFunc) {
	a.mu.Lock() // startJob checks draining under mu: no job starts once jobsWG is waited for
	a.draining.Store(true)
	a.mu.Unlock()
	a.signalDrain()
	stopAgentStream()
	dctx, cancel := context.WithTimeout(base, a.cfg.drainTimeout)
	defer cancel()
	if _, err := a.client.UpdateAgentStatus(dctx, a.id, openintent.AgentDraining); err != nil {
		a.log.Warn("agent: mark draining", "error", err)
	}
	for _, fn := range a.cfg.drain {
		if err := callSafely(func() error { return fn(dctx) }); err != nil {
			a.log.Error("agent: OnDrain handler failed", "error", err)
		}
	}
	done := make(chan struct{})
	go func() {
		a.jobsWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-dctx.Done():
	}
	// Hand back what is still held: the handlers' contexts end, their leases are released.
	cancelWork(ErrDraining)
	grace := time.NewTimer(min(a.cfg.drainTimeout, 5*time.Second))
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		a.log.Error("agent: handlers still running after the drain deadline; giving up on them")
	}
}

// acquire takes a handler slot, waiting until one is free or ctx ends.
func (a *Agent) acquire(ctx context.Context) bool {
	select {
	case a.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (a *Agent) release() { <-a.sem }

// followAgent follows the agent's own stream: its assignments.
func (a *Agent) followAgent(ctx context.Context) {
	start := a.cursor.Load()
	a.follow(ctx, "agent "+a.id, func(ctx context.Context, opts ...openintent.Option) iter.Seq2[openintent.IntentEvent, error] {
		return a.client.StreamAgentEvents(ctx, a.id, opts...)
	}, start, a.opened, func(ev openintent.IntentEvent) bool {
		a.onAgentEvent(ctx, ev)
		if ev.Sequence > 0 {
			a.cursor.Store(ev.Sequence)
		}
		return false
	})
}

// follow reads a stream until ctx ends or handle says to stop, starting after the event after
// (-1: from when it opens) and resuming from the last event it handled whenever the stream ends
// early (the SDK resumes dropped connections itself; this covers a stream it gave up on).
func (a *Agent) follow(ctx context.Context, name string, open func(ctx context.Context, opts ...openintent.Option) iter.Seq2[openintent.IntentEvent, error],
	after int64, opened func(), handle func(openintent.IntentEvent) bool) {
	cursor := after
	var once sync.Once
	hook := openintent.WithStreamOpened(func() {
		if opened != nil {
			once.Do(opened)
		}
	})
	for failures := 0; ; failures++ {
		opts := []openintent.Option{hook}
		if cursor >= 0 {
			opts = append(opts, openintent.WithLastEventID(strconv.FormatInt(cursor, 10)))
		}
		refused := false
		for ev, err := range open(ctx, opts...) {
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				var apiErr *openintent.APIError
				refused = errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && apiErr.StatusCode != 429
				a.log.Warn("agent: event stream", "stream", name, "error", err)
				continue
			}
			if ev.Sequence > 0 {
				if ev.Sequence <= cursor {
					continue // already handled
				}
				cursor = ev.Sequence
			}
			failures = 0
			if handle(ev) {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		if refused {
			a.log.Error("agent: the server refuses the event stream; not following it", "stream", name)
			if opened != nil {
				once.Do(opened) // Ready does not wait for a stream that will never open
			}
			return
		}
		if !sleep(ctx, min(time.Duration(failures+1)*500*time.Millisecond, 10*time.Second)) {
			return
		}
	}
}

// onAgentEvent handles an event of the agent's own stream.
func (a *Agent) onAgentEvent(ctx context.Context, ev openintent.IntentEvent) {
	if str(ev.Payload["agent_id"]) != a.id {
		return
	}
	switch openintent.EventType(ev.EventType) {
	case openintent.EventAgentAssigned:
		if a.draining.Load() {
			return
		}
		if a.cfg.needsIntentStreams() {
			a.startWatch(ev.IntentID, false, ev.Sequence, nil)
		}
		if len(a.cfg.assignment) > 0 || len(a.cfg.trigger) > 0 {
			a.startJob(ev.IntentID, a.cfg.leaseScope, ev, nil)
		}
	case openintent.EventAgentUnassigned:
		a.cancelJobs(ev.IntentID, ErrUnassigned)
		a.stopWatch(ev.IntentID)
	default:
		return
	}
	for _, h := range a.cfg.events[string(ev.EventType)] {
		a.notify(ctx, ev, nil, h)
	}
}

// sleep waits for d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// callSafely calls fn, turning a panic into an error.
func callSafely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("agent: handler panicked: %v", p)
		}
	}()
	return fn()
}

// str returns v if it is a string.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// terminal reports whether an intent's status is final.
func terminal(s openintent.IntentStatus) bool {
	return s == openintent.StatusCompleted || s == openintent.StatusAbandoned
}
