package openintent_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// faultyProxy sits in front of the real server and fails requests as its fault function says.
type faultyProxy struct {
	mu    sync.Mutex
	seen  []*http.Request // every request received, faulty or not
	fault func(n int, r *http.Request) (status int, retryAfter string, drop bool)
	url   string
	hs    *httptest.Server
}

func newFaultyProxy(t *testing.T, e *env, fault func(n int, r *http.Request) (int, string, bool)) *faultyProxy {
	t.Helper()
	target, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultyProxy{fault: fault}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // dropped client connections are part of these tests
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Clone(context.Background()))
		n := len(p.seen)
		p.mu.Unlock()
		status, retryAfter, drop := p.fault(n, r)
		switch {
		case drop && status == forwardThenDrop:
			rp.ServeHTTP(httptest.NewRecorder(), r) // the server does the work; the answer is lost
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case drop:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case status != 0:
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"detail":"injected fault"}`))
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	p.url, p.hs = hs.URL, hs
	return p
}

// forwardThenDrop, returned with drop, forwards the request and then drops the connection.
const forwardThenDrop = -1

func (p *faultyProxy) requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.seen...)
}

func (p *faultyProxy) client(t *testing.T, e *env, opts ...openintent.Option) *openintent.Client {
	t.Helper()
	all := append([]openintent.Option{openintent.WithAPIKey(e.apiKey), openintent.WithAgentID("retrier"),
		openintent.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := openintent.NewClient(p.url, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesIdempotentRequests(t *testing.T) {
	e := newEnv(t)
	in := mustCreate(t, e.client(t, "setup"), openintent.IntentCreate{Title: "Flaky reads"})
	p := newFaultyProxy(t, e, func(n int, r *http.Request) (int, string, bool) {
		switch n {
		case 1:
			return http.StatusServiceUnavailable, "0", false
		case 2:
			return 0, "", true // connection reset
		case 3:
			return http.StatusBadGateway, "", false
		}
		return 0, "", false
	})
	c := p.client(t, e, openintent.WithMaxRetries(3))
	got, err := c.GetIntent(ctxT(t), in.ID)
	if err != nil || got.ID != in.ID {
		t.Fatalf("GetIntent through faults = %v, %v", got, err)
	}
	if n := len(p.requests()); n != 4 {
		t.Fatalf("attempts = %d, want 4", n)
	}
}

func TestRetryBudgetIsBounded(t *testing.T) {
	e := newEnv(t)
	p := newFaultyProxy(t, e, func(int, *http.Request) (int, string, bool) { return http.StatusServiceUnavailable, "", false })
	c := p.client(t, e, openintent.WithMaxRetries(2))
	_, err := c.GetIntent(ctxT(t), "x")
	var se *openintent.ServerError
	if !errors.As(err, &se) || se.StatusCode != 503 || !errors.Is(err, openintent.ErrServer) {
		t.Fatalf("err = %v", err)
	}
	if n := len(p.requests()); n != 3 {
		t.Fatalf("attempts = %d, want 3", n)
	}
}

func TestPostsRetryWithOneIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	p := newFaultyProxy(t, e, func(n int, r *http.Request) (int, string, bool) {
		if n <= 2 {
			return http.StatusBadGateway, "", false
		}
		return 0, "", false
	})
	c := p.client(t, e)
	in, err := c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "Created once"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()
	if len(reqs) != 3 {
		t.Fatalf("attempts = %d, want 3", len(reqs))
	}
	key := reqs[0].Header.Get("Idempotency-Key")
	if key == "" || reqs[1].Header.Get("Idempotency-Key") != key || reqs[2].Header.Get("Idempotency-Key") != key {
		t.Fatalf("idempotency keys: %q %q %q", key, reqs[1].Header.Get("Idempotency-Key"), reqs[2].Header.Get("Idempotency-Key"))
	}
	if in.Title != "Created once" {
		t.Fatalf("intent = %+v", in)
	}
	// A second create gets a fresh key.
	if _, err := c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "Another"}); err != nil {
		t.Fatal(err)
	}
	if k := p.requests()[3].Header.Get("Idempotency-Key"); k == "" || k == key {
		t.Fatalf("second create reused key %q", k)
	}
	// A caller-chosen key is sent as is.
	if _, err := c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "Keyed"}, openintent.WithIdempotencyKey("my-key-1")); err != nil {
		t.Fatal(err)
	}
	if k := p.requests()[4].Header.Get("Idempotency-Key"); k != "my-key-1" {
		t.Fatalf("explicit key = %q", k)
	}
}

func TestNonIdempotentRequestsAreNotRetriedWithoutKey(t *testing.T) {
	e := newEnv(t)
	p := newFaultyProxy(t, e, func(int, *http.Request) (int, string, bool) { return http.StatusServiceUnavailable, "", false })
	c := p.client(t, e, openintent.WithMaxRetries(0))
	_, err := c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "Once"})
	if !errors.Is(err, openintent.ErrServer) {
		t.Fatalf("err = %v", err)
	}
	reqs := p.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Idempotency-Key") != "" {
		t.Fatalf("attempts = %d (key %q), want 1 without key", len(reqs), reqs[0].Header.Get("Idempotency-Key"))
	}
}

func TestConflictsAreNeverRetried(t *testing.T) {
	e := newEnv(t)
	p := newFaultyProxy(t, e, func(int, *http.Request) (int, string, bool) { return 0, "", false })
	c := p.client(t, e, openintent.WithMaxRetries(5))
	in, err := c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "Conflicted"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateState(ctxT(t), in.ID, in.Version+7, openintent.Object{"x": 1}); !errors.Is(err, openintent.ErrVersionConflict) {
		t.Fatalf("err = %v", err)
	}
	if n := len(p.requests()); n != 2 {
		t.Fatalf("requests = %d, want 2 (create + one state update)", n)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t)
	p := newFaultyProxy(t, e, func(n int, r *http.Request) (int, string, bool) {
		if n == 1 {
			return http.StatusTooManyRequests, "1", false
		}
		return 0, "", false
	})
	c := p.client(t, e)
	start := time.Now()
	if _, err := c.ListIntents(ctxT(t), openintent.ListIntentsParams{}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("retried after %v, before the server's Retry-After of 1s", waited)
	}
	// Without retries the 429 surfaces as a RateLimitError carrying Retry-After.
	p2 := newFaultyProxy(t, e, func(int, *http.Request) (int, string, bool) { return http.StatusTooManyRequests, "7", false })
	_, err := p2.client(t, e, openintent.WithMaxRetries(0)).ListIntents(ctxT(t), openintent.ListIntentsParams{})
	var rl *openintent.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Fatalf("err = %v", err)
	}
}

func TestDeadlinesAndTimeouts(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	p := newFaultyProxy(t, e, func(int, *http.Request) (int, string, bool) {
		<-release // a server that hangs
		return 0, "", false
	})
	t.Cleanup(func() { close(release) }) // runs before the proxy's Close
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.client(t, e).GetIntent(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// The per-attempt timeout bounds each try; the retries run out.
	c := p.client(t, e, openintent.WithTimeout(50*time.Millisecond), openintent.WithMaxRetries(1))
	if _, err := c.GetIntent(ctxT(t), "x"); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want per-attempt timeout", err)
	}
}

func TestCreateRetriedAfterLostResponseMakesOneIntent(t *testing.T) {
	e := newClockEnv(t) // counts intents: needs its own server
	p := newFaultyProxy(t, e, func(n int, r *http.Request) (int, string, bool) {
		if n == 1 {
			return forwardThenDrop, "", true
		}
		return 0, "", false
	})
	c := p.client(t, e)
	in, err := c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "Exactly one"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.ListIntents(ctxT(t), openintent.ListIntentsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != in.ID {
		t.Fatalf("intents = %d, want exactly the one created", len(all))
	}
}

// TestNoGoroutineLeaksAfterFaults runs the client through resets, 5xx bursts, a hanging server
// and cancellations, then checks that every goroutine it started has ended.
func TestNoGoroutineLeaksAfterFaults(t *testing.T) {
	e := newEnv(t)
	in := mustCreate(t, e.client(t, "setup"), openintent.IntentCreate{Title: "Leak check"})
	base := settledGoroutines()
	func() {
		release := make(chan struct{})
		p := newFaultyProxy(t, e, func(n int, r *http.Request) (int, string, bool) {
			switch n % 4 {
			case 0:
				return 0, "", true // reset
			case 1:
				return http.StatusServiceUnavailable, "", false
			case 2:
				if r.Header.Get("X-Hang") != "" {
					<-release
				}
			}
			return 0, "", false
		})
		c := p.client(t, e, openintent.WithMaxRetries(3))
		for range 5 {
			if _, err := c.GetIntent(ctxT(t), in.ID); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, _ = c.ListIntents(ctx, openintent.ListIntentsParams{Status: "draft"}, openintent.WithHeader("X-Hang", "1"))
		cancel()
		err := c.WithLease(ctxT(t), in.ID, "leak", time.Second, func(ctx context.Context, _ *openintent.Lease) error {
			time.Sleep(700 * time.Millisecond) // one background renewal
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		close(release)
		c.Close()
		p.hs.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		openintent.CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", base, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines closes idle connections and returns the goroutine count once it stops falling.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		openintent.CloseIdleConnections()
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

func TestSlowResponses(t *testing.T) {
	e := newEnv(t)
	in := mustCreate(t, e.client(t, "setup"), openintent.IntentCreate{Title: "Slow"})
	p := newFaultyProxy(t, e, func(n int, r *http.Request) (int, string, bool) {
		time.Sleep(150 * time.Millisecond) // every answer is slow
		return 0, "", false
	})
	// A timeout above the latency succeeds.
	if _, err := p.client(t, e, openintent.WithTimeout(2*time.Second)).GetIntent(ctxT(t), in.ID); err != nil {
		t.Fatal(err)
	}
	// A per-attempt timeout below it is retried, then fails with the deadline.
	before := len(p.requests())
	_, err := p.client(t, e, openintent.WithTimeout(30*time.Millisecond), openintent.WithMaxRetries(2)).GetIntent(ctxT(t), in.ID)
	if !errors.Is(err, context.DeadlineExceeded) || len(p.requests())-before != 3 {
		t.Fatalf("err = %v after %d attempts", err, len(p.requests())-before)
	}
	// A non-idempotent request that times out is not re-sent without a key.
	before = len(p.requests())
	_, err = p.client(t, e, openintent.WithTimeout(30*time.Millisecond), openintent.WithMaxRetries(0)).CreateIntent(ctxT(t), openintent.IntentCreate{Title: "once"})
	if err == nil || len(p.requests())-before != 1 {
		t.Fatalf("create: err %v after %d attempts", err, len(p.requests())-before)
	}
}
