package openintent_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// env is the server a test talks to: an in-process one by default, or the running server named
// by OPENINTENT_TEST_URL (with OPENINTENT_TEST_API_KEY), so the same suite checks any
// implementation.
type env struct {
	url    string
	apiKey string
	srv    *openintenttest.Server // nil for an external server
	clock  *clock                 // nil for an external server
	logs   *logCapture            // the server's and the clients' logs; nil for an external server
}

// logCapture collects log output of a test's server and clients; at the end of the test it is
// searched for the API key, which must never be logged.
type logCapture struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	logger *slog.Logger
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func captureLogs(t *testing.T) *logCapture {
	l := &logCapture{}
	l.logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if strings.Contains(l.buf.String(), openintenttest.DefaultAPIKey) {
			t.Errorf("the API key appears in the logs:\n%s", l.buf.String())
		}
	})
	return l
}

// newEnv returns the test's server. Tests that need to control time call newClockEnv.
func newEnv(t *testing.T, opts ...openintenttest.Option) *env {
	t.Helper()
	if url := os.Getenv("OPENINTENT_TEST_URL"); url != "" {
		return &env{url: url, apiKey: os.Getenv("OPENINTENT_TEST_API_KEY")}
	}
	logs := captureLogs(t)
	srv := openintenttest.NewServer(t, append([]openintenttest.Option{openintenttest.WithLogger(logs.logger)}, opts...)...)
	return &env{url: srv.URL, apiKey: srv.APIKey, srv: srv, logs: logs}
}

// newClockEnv returns an in-process server whose clock the test moves; it skips the test against
// an external server.
func newClockEnv(t *testing.T, opts ...openintenttest.Option) *env {
	t.Helper()
	if os.Getenv("OPENINTENT_TEST_URL") != "" {
		t.Skip("needs a controllable clock: in-process server only")
	}
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	logs := captureLogs(t)
	srv := openintenttest.NewServer(t, append([]openintenttest.Option{openintenttest.WithClock(c.Now), openintenttest.WithLogger(logs.logger)}, opts...)...)
	return &env{url: srv.URL, apiKey: srv.APIKey, srv: srv, clock: c, logs: logs}
}

// client returns a client acting as agent.
func (e *env) client(t testing.TB, agent string, opts ...openintent.Option) *openintent.Client {
	t.Helper()
	all := []openintent.Option{openintent.WithAPIKey(e.apiKey), openintent.WithAgentID(agent)}
	if e.logs != nil {
		all = append(all, openintent.WithLogger(e.logs.logger))
	}
	all = append(all, opts...)
	c, err := openintent.NewClient(e.url, all...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustCreate creates an intent titled title or fails the test.
func mustCreate(t *testing.T, c *openintent.Client, params openintent.IntentCreate) *openintent.Intent {
	t.Helper()
	in, err := c.CreateIntent(ctxT(t), params)
	if err != nil {
		t.Fatalf("CreateIntent(%q): %v", params.Title, err)
	}
	return in
}

// String returns what was logged so far.
func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }
