package openintent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// headerRecorder is a server answering every request 200 `{}` (or the status its first answers are
// told to fail with), recording the requests' headers.
type headerRecorder struct {
	mu      sync.Mutex
	headers []http.Header
	fail    []int
}

func newHeaderRecorder(t *testing.T) (*headerRecorder, *httptest.Server) {
	r := &headerRecorder{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		status := http.StatusOK
		if len(r.fail) > 0 {
			status, r.fail = r.fail[0], r.fail[1:]
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(hs.Close)
	return r, hs
}

func (r *headerRecorder) last() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers[len(r.headers)-1]
}

// TestWithMiddleware: the client's middleware and the call's compose in order around each
// attempt (a retried call passes through them once per attempt), may change the request, and
// see the response; a middleware's error is the call's, naming the method.
func TestWithMiddleware(t *testing.T) {
	rec, hs := newHeaderRecorder(t)
	var mu sync.Mutex
	var trail []string
	mark := func(name string) openintent.Middleware {
		return func(req *http.Request, next openintent.MiddlewareNext) (*http.Response, error) {
			mu.Lock()
			trail = append(trail, name+">")
			mu.Unlock()
			req.Header.Add("X-Trail", name)
			resp, err := next(req)
			mu.Lock()
			trail = append(trail, "<"+name)
			mu.Unlock()
			if resp != nil {
				resp.Header.Set("X-Seen-By-"+name, "yes")
			}
			return resp, err
		}
	}
	c, err := openintent.NewClient(hs.URL, openintent.WithMiddleware(mark("a"), mark("b")),
		openintent.WithRetryBackoff(1e6, 2e6))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := c.GetServerConfig(ctx, openintent.WithMiddleware(mark("c"))); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trail, " "); got != "a> b> c> <c <b <a" {
		t.Errorf("order: %s", got)
	}
	if got := rec.last().Values("X-Trail"); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("server saw X-Trail %v", got)
	}
	// The call's middleware does not stay on the client.
	trail = nil
	if _, err := c.GetServerConfig(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trail, " "); got != "a> b> <b <a" {
		t.Errorf("order without the call's: %s", got)
	}
	// Each attempt of a retried call passes through.
	trail = nil
	rec.mu.Lock()
	rec.fail = []int{http.StatusServiceUnavailable}
	rec.mu.Unlock()
	if _, err := c.GetServerConfig(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trail, " "); got != "a> b> <b <a a> b> <b <a" {
		t.Errorf("retried: %s", got)
	}
	// A middleware's error is the call's.
	refuse := func(req *http.Request, next openintent.MiddlewareNext) (*http.Response, error) {
		return nil, errors.New("refused by policy")
	}
	_, err = c.GetIntent(ctx, "i1", openintent.WithMiddleware(refuse), openintent.WithMaxRetries(0))
	if err == nil || !strings.Contains(err.Error(), "refused by policy") || !strings.HasPrefix(err.Error(), "openintent: GetIntent: GET /api/v1/intents/i1: ") {
		t.Errorf("err = %v", err)
	}
	// Neither a response nor an error: an error.
	silent := func(*http.Request, openintent.MiddlewareNext) (*http.Response, error) { return nil, nil }
	if _, err := c.GetServerConfig(ctx, openintent.WithMiddleware(silent), openintent.WithMaxRetries(0)); err == nil {
		t.Error("no error from a middleware returning nothing")
	}
	if _, err := openintent.NewClient(hs.URL, openintent.WithMiddleware(nil)); !errors.Is(err, openintent.ErrValidation) {
		t.Errorf("nil middleware: %v", err)
	}
}

// TestTraceparent: a call carrying an RFC-0020 trace sends the W3C traceparent of that trace
// (on reads too); its parent-id is derived from the parent event; a traceparent set with
// WithHeader is kept; a trace id that is no W3C trace-id sends none.
func TestTraceparent(t *testing.T) {
	rec, hs := newHeaderRecorder(t)
	c, err := openintent.NewClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	form := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)
	traceID := openintent.NewTraceID()
	ctx := openintent.ContextWithTrace(ctxT(t), openintent.Trace{TraceID: traceID, ParentEventID: "evt-1"})
	var parents []string
	for range 2 {
		if _, err := c.GetServerConfig(ctx); err != nil {
			t.Fatal(err)
		}
		m := form.FindStringSubmatch(rec.last().Get("traceparent"))
		if m == nil || m[1] != traceID {
			t.Fatalf("traceparent %q for trace %s", rec.last().Get("traceparent"), traceID)
		}
		parents = append(parents, m[2])
	}
	if parents[0] != parents[1] {
		t.Errorf("parent-ids %v differ for one parent event", parents)
	}
	// WithTrace wins over the context; without a parent event the parent-id is random.
	other := openintent.NewTraceID()
	if _, err := c.GetServerConfig(ctx, openintent.WithTrace(other, "")); err != nil {
		t.Fatal(err)
	}
	if m := form.FindStringSubmatch(rec.last().Get("traceparent")); m == nil || m[1] != other {
		t.Errorf("WithTrace: traceparent %q", rec.last().Get("traceparent"))
	}
	// A UUID trace id is a W3C trace-id without its dashes.
	if _, err := c.GetServerConfig(openintent.ContextWithTrace(ctxT(t), openintent.Trace{TraceID: "0AF7651916CD43DD8448EB211C80319C"})); err != nil {
		t.Fatal(err)
	}
	if m := form.FindStringSubmatch(rec.last().Get("traceparent")); m == nil || m[1] != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("upper case: traceparent %q", rec.last().Get("traceparent"))
	}
	mine := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	if _, err := c.GetServerConfig(ctx, openintent.WithHeader("traceparent", mine)); err != nil {
		t.Fatal(err)
	}
	if got := rec.last().Get("traceparent"); got != mine {
		t.Errorf("WithHeader's traceparent replaced by %q", got)
	}
	for _, tr := range []openintent.Trace{{}, {TraceID: "my-trace"}, {TraceID: strings.Repeat("0", 32)}} {
		if _, err := c.GetServerConfig(openintent.ContextWithTrace(ctxT(t), tr)); err != nil {
			t.Fatal(err)
		}
		if got := rec.last().Get("traceparent"); got != "" {
			t.Errorf("trace %q: traceparent %q", tr.TraceID, got)
		}
	}
	if _, err := c.GetServerConfig(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.last().Get("traceparent"); got != "" {
		t.Errorf("no trace: traceparent %q", got)
	}
}

// TestTraceparentLinksEvents: against the server, an event appended by a request carrying only
// a traceparent records its trace id, and TraceFromTraceparent reads it back.
func TestTraceparentLinksEvents(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "agent-a")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Traced"})
	header := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tr, ok := openintent.TraceFromTraceparent(header)
	if !ok || tr.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || tr.ParentEventID != "" {
		t.Fatalf("TraceFromTraceparent = %+v, %v", tr, ok)
	}
	ev, err := c.LogEvent(ctxT(t), in.ID, openintent.EventComment, nil, openintent.WithHeader("traceparent", header))
	if err != nil {
		t.Fatal(err)
	}
	if ev.TraceID != tr.TraceID {
		t.Errorf("event trace %q, want %q", ev.TraceID, tr.TraceID)
	}
	// The same trace through the context: body and traceparent agree.
	ev, err = c.LogEvent(openintent.ContextWithTrace(ctxT(t), tr), in.ID, openintent.EventComment, nil)
	if err != nil || ev.TraceID != tr.TraceID {
		t.Errorf("event %+v, %v", ev, err)
	}
	for _, bad := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		if tr, ok := openintent.TraceFromTraceparent(bad); ok {
			t.Errorf("TraceFromTraceparent(%q) = %+v", bad, tr)
		}
	}
	// A later version may append fields.
	if _, ok := openintent.TraceFromTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what"); !ok {
		t.Error("a later version's traceparent refused")
	}
}

// TestCloseAffectsOnlyItsOwnConnections: closing a client closes its own idle connections and
// no other client's, whether the other was created without WithHTTPClient or with one.
func TestCloseAffectsOnlyItsOwnConnections(t *testing.T) {
	_, hs := newHeaderRecorder(t)
	shared := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(shared.CloseIdleConnections)
	newClient := func(opts ...openintent.Option) *openintent.Client {
		c, err := openintent.NewClient(hs.URL, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b, own, alsoOwn := newClient(), newClient(), newClient(openintent.WithHTTPClient(shared)), newClient(openintent.WithHTTPClient(shared))
	// reused reports whether a call of c went over a connection opened earlier.
	reused := func(c *openintent.Client) bool {
		t.Helper()
		var got bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { got = info.Reused },
		})
		if _, err := c.GetServerConfig(ctx); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, c := range []*openintent.Client{a, b, own} {
		reused(c) // each opens a connection, idle once the answer is read
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !reused(b) {
		t.Error("closing a closed b's idle connection")
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	if !reused(alsoOwn) {
		t.Error("Close closed the idle connections of the caller's HTTP client")
	}
	if reused(a) {
		t.Error("a's idle connection survived Close")
	}
	// CloseIdleConnections closes those of every client created without WithHTTPClient.
	openintent.CloseIdleConnections()
	if reused(b) {
		t.Error("b's idle connection survived CloseIdleConnections")
	}
}
