package agent_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// testTimeout bounds every wait of these tests: generous, for a loaded machine under -race.
const testTimeout = 60 * time.Second

// newServer starts a test server on the store OPENINTENT_TEST_STORE names (memory by default,
// "file" for a SQLite file).
func newServer(t *testing.T, opts ...openintenttest.Option) *openintenttest.Server {
	t.Helper()
	if os.Getenv("OPENINTENT_TEST_STORE") == "file" {
		opts = append(opts, openintenttest.WithStoreFile(filepath.Join(t.TempDir(), "agent.db")))
	}
	return openintenttest.NewServer(t, opts...)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// running is an agent running in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stop ends the agent's context and returns Run's error once it has drained.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(testTimeout):
		t.Fatal("the agent did not stop")
		return nil
	}
}

// start runs a in the background until the test ends, and waits until it is ready.
func start(t *testing.T, a *agent.Agent) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case <-a.Ready():
	case <-r.done:
		t.Fatalf("agent %s stopped before it was ready: %v", a.ID(), r.err)
	case <-time.After(testTimeout):
		t.Fatalf("agent %s not ready", a.ID())
	}
	return r
}

// waitEvent follows an intent's log from its start until pred holds for an event, and returns
// that event.
func waitEvent(t *testing.T, c *openintent.Client, intentID string, pred func(openintent.IntentEvent) bool) openintent.IntentEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for ev, err := range c.StreamIntentEvents(ctx, intentID, openintent.WithLastEventID("0")) {
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("intent %s: no matching event: %v", intentID, err)
			}
			continue
		}
		if pred(ev) {
			return ev
		}
	}
	t.Fatalf("intent %s: stream ended", intentID)
	return openintent.IntentEvent{}
}

// completed matches the event completing an intent.
func completed(ev openintent.IntentEvent) bool {
	return ev.EventType == openintent.EventStatusChanged && ev.Payload["status"] == string(openintent.StatusCompleted)
}

// ofType matches events of a type.
func ofType(typ string) func(openintent.IntentEvent) bool {
	return func(ev openintent.IntentEvent) bool { return string(ev.EventType) == typ }
}

// newIntent creates an active intent.
func newIntent(t *testing.T, c *openintent.Client, title string) *openintent.Intent {
	t.Helper()
	in, err := c.CreateIntent(testContext(t), openintent.IntentCreate{Title: title, Status: openintent.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func assign(t *testing.T, c *openintent.Client, intentID, agentID string) {
	t.Helper()
	if _, err := c.AssignAgent(testContext(t), intentID, agentID); err != nil {
		t.Fatal(err)
	}
}

// counter counts calls by key.
type counter struct {
	mu sync.Mutex
	n  map[string]int
	ch chan struct{} // signalled on every call
}

func newCounter() *counter { return &counter{n: map[string]int{}, ch: make(chan struct{}, 1024)} }

func (c *counter) add(key string) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// waitTotal waits until the counts add up to at least n.
func (c *counter) waitTotal(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		c.mu.Lock()
		total := 0
		for _, v := range c.n {
			total += v
		}
		c.mu.Unlock()
		if total >= n {
			return
		}
		select {
		case <-c.ch:
		case <-deadline:
			c.mu.Lock()
			t.Fatalf("waited for %d calls, got %d: %v", n, total, c.n)
		}
	}
}

// cutter is an HTTP transport whose event streams (and, once down, every request) the test can
// cut: cut closes the streams open now, as a dropped connection would; down makes every request
// fail, as for an agent whose host died.
type cutter struct {
	base      http.RoundTripper
	mu        sync.Mutex
	streams   []stream
	down      atomic.Bool
	agents    atomic.Int32 // agent streams opened
	agentsCut atomic.Int32 // agent streams cut
}

type stream struct {
	body  io.Closer
	agent bool
}

func newCutter() *cutter { return &cutter{base: http.DefaultTransport} }

func (c *cutter) client() *http.Client { return &http.Client{Transport: c} }

var errDown = errors.New("cutter: host is down")

func (c *cutter) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.down.Load() {
		return nil, errDown
	}
	resp, err := c.base.RoundTrip(r)
	if err == nil && strings.Contains(r.URL.Path, "/subscribe/") {
		agent := strings.Contains(r.URL.Path, "/subscribe/agents/")
		if agent {
			c.agents.Add(1)
		}
		c.mu.Lock()
		c.streams = append(c.streams, stream{resp.Body, agent})
		c.mu.Unlock()
	}
	return resp, err
}

// cut closes every stream open now.
func (c *cutter) cut() {
	c.mu.Lock()
	streams := c.streams
	c.streams = nil
	c.mu.Unlock()
	for _, s := range streams {
		s.body.Close()
		if s.agent {
			c.agentsCut.Add(1)
		}
	}
}

// kill makes every request fail from now on and cuts the streams.
func (c *cutter) kill() {
	c.down.Store(true)
	c.cut()
}
