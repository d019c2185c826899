package openintent_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestNewClientValidatesOptions(t *testing.T) {
	cases := []struct {
		name, url string
		opt       openintent.Option
		want      string
	}{
		{"relative url", "localhost:8000", nil, "absolute http(s) URL"},
		{"bad scheme", "ftp://x", nil, "absolute http(s) URL"},
		{"credentials in url", "http://u:p@x", nil, "credentials"},
		{"empty key", "http://x", openintent.WithAPIKey(""), "WithAPIKey"},
		{"key with newline", "http://x", openintent.WithAPIKey("a\nb"), "WithAPIKey"},
		{"empty agent", "http://x", openintent.WithAgentID(""), "WithAgentID"},
		{"long agent", "http://x", openintent.WithAgentID(strings.Repeat("a", 201)), "WithAgentID"},
		{"nil http client", "http://x", openintent.WithHTTPClient(nil), "WithHTTPClient"},
		{"zero timeout", "http://x", openintent.WithTimeout(0), "WithTimeout"},
		{"too many retries", "http://x", openintent.WithMaxRetries(11), "WithMaxRetries"},
		{"negative retries", "http://x", openintent.WithMaxRetries(-1), "WithMaxRetries"},
		{"backoff inverted", "http://x", openintent.WithRetryBackoff(time.Second, time.Millisecond), "WithRetryBackoff"},
		{"nil logger", "http://x", openintent.WithLogger(nil), "WithLogger"},
		{"reserved header", "http://x", openintent.WithHeader("X-API-Key", "k"), "WithAPIKey"},
		{"bad header name", "http://x", openintent.WithHeader("a b", "k"), "WithHeader"},
		{"empty idempotency key", "http://x", openintent.WithIdempotencyKey(""), "WithIdempotencyKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openintent.NewClient(tc.url, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewClient error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	c, err := openintent.NewClient("http://localhost:8000/api/v1/", openintent.WithAgentID("a"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != "http://localhost:8000" || c.AgentID() != "a" {
		t.Fatalf("BaseURL %q AgentID %q", c.BaseURL(), c.AgentID())
	}
}

func TestCreateAndGetIntent(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "planner")
	ctx := ctxT(t)
	dep := mustCreate(t, c, openintent.IntentCreate{Title: "Collect data"})
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{
		Title:       "Research market trends",
		Description: "Analyze Q4 data",
		Constraints: openintent.Object{"budget": 100.0},
		State:       openintent.Object{"progress": 0.0, "notes": []any{"start"}},
		DependsOn:   []string{dep.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if in.ID == "" || in.Version != 1 || in.Status != openintent.StatusDraft || in.CreatedBy != "planner" {
		t.Fatalf("created intent = %+v", in)
	}
	got, err := c.GetIntent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Research market trends" || got.Description != "Analyze Q4 data" ||
		got.Constraints["budget"] != 100.0 || got.State["progress"] != 0.0 ||
		len(got.DependsOn) != 1 || got.DependsOn[0] != dep.ID || got.ParentID != nil {
		t.Fatalf("GetIntent = %+v", got)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Fatalf("timestamps missing: %+v", got)
	}

	if _, err := c.CreateIntent(ctx, openintent.IntentCreate{}); err == nil || !strings.Contains(err.Error(), "title") {
		t.Fatalf("CreateIntent without title: %v", err)
	}
	_, err = c.GetIntent(ctx, "no-such-intent")
	var nf *openintent.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, openintent.ErrNotFound) || nf.StatusCode != 404 {
		t.Fatalf("GetIntent(unknown) = %v, want NotFoundError", err)
	}
	var apiErr *openintent.APIError
	if !errors.As(err, &apiErr) || apiErr.RequestID == "" || apiErr.Detail == "" {
		t.Fatalf("APIError = %+v", apiErr)
	}
}

func TestCreateChildIntent(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "planner")
	ctx := ctxT(t)
	parent := mustCreate(t, c, openintent.IntentCreate{Title: "Parent"})
	child, err := c.CreateChildIntent(ctx, parent.ID, openintent.ChildIntentCreate{Title: "Child", State: openintent.Object{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if child.ParentID == nil || *child.ParentID != parent.ID || child.ParentIntentID == nil || *child.ParentIntentID != parent.ID {
		t.Fatalf("child parent = %v / %v, want %s", child.ParentID, child.ParentIntentID, parent.ID)
	}
	if child.State["k"] != "v" {
		t.Fatalf("child state = %v", child.State)
	}
	if _, err := c.CreateChildIntent(ctx, "missing", openintent.ChildIntentCreate{Title: "x"}); !errors.Is(err, openintent.ErrNotFound) {
		t.Fatalf("child of unknown parent: %v", err)
	}
}

func TestListIntentsAndIterate(t *testing.T) {
	e := newClockEnv(t) // needs an empty server: counts are exact
	c := e.client(t, "lister")
	ctx := ctxT(t)
	var ids []string
	for i := range 7 {
		in := mustCreate(t, c, openintent.IntentCreate{Title: fmt.Sprintf("intent %d", i)})
		ids = append(ids, in.ID)
		e.clock.Advance(time.Second)
	}
	active := mustCreate(t, c, openintent.IntentCreate{Title: "active one", Status: openintent.StatusActive})

	page, err := c.ListIntents(ctx, openintent.ListIntentsParams{Limit: 3, Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 {
		t.Fatalf("page has %d intents, want 3", len(page))
	}
	onlyActive, err := c.ListIntents(ctx, openintent.ListIntentsParams{Status: openintent.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if len(onlyActive) != 1 || onlyActive[0].ID != active.ID {
		t.Fatalf("active filter = %v", onlyActive)
	}
	seen := map[string]bool{}
	for in, err := range c.Intents(ctx, openintent.ListIntentsParams{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[in.ID] {
			t.Fatalf("intent %s yielded twice", in.ID)
		}
		seen[in.ID] = true
	}
	if len(seen) != 8 {
		t.Fatalf("iterated %d intents, want 8", len(seen))
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("intent %s not iterated", id)
		}
	}
	// Breaking out of the loop stops fetching.
	n := 0
	for range c.Intents(ctx, openintent.ListIntentsParams{Limit: 2}) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("break after %d", n)
	}
	_, err = c.ListIntents(ctx, openintent.ListIntentsParams{Limit: 5000})
	var ve *openintent.ValidationError
	if !errors.As(err, &ve) || len(ve.FieldErrors) == 0 || ve.FieldErrors[0].Field != "limit" {
		t.Fatalf("limit 5000: %v", err)
	}
}

func TestUpdateStateAndVersionConflict(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "writer")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Stateful", State: openintent.Object{"a": 1.0, "keep": true}})
	up, err := c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"a": 2.0, "b/c": "slash"})
	if err != nil {
		t.Fatal(err)
	}
	if up.Version != in.Version+1 || up.State["a"] != 2.0 || up.State["keep"] != true || up.State["b/c"] != "slash" {
		t.Fatalf("after UpdateState: %+v", up)
	}
	got, err := c.GetIntent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["a"] != 2.0 || got.State["b/c"] != "slash" {
		t.Fatalf("state not persisted: %v", got.State)
	}

	_, err = c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"a": 3.0})
	var vc *openintent.VersionConflictError
	if !errors.As(err, &vc) {
		t.Fatalf("stale UpdateState = %v, want VersionConflictError", err)
	}
	if vc.CurrentVersion != up.Version || !errors.Is(err, openintent.ErrVersionConflict) || !errors.Is(err, openintent.ErrConflict) {
		t.Fatalf("conflict = %+v", vc.APIError)
	}
	if errors.Is(err, openintent.ErrLeaseConflict) {
		t.Fatal("version conflict matches ErrLeaseConflict")
	}
	if _, err := c.UpdateState(ctx, in.ID, 0, nil); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("version 0: %v", err)
	}
}

func TestPatchStateNested(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "writer")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Nested"})
	up, err := c.PatchState(ctx, in.ID, in.Version, []openintent.StatePatch{
		{Op: openintent.PatchSet, Path: "/research/sources", Value: []any{"a"}},
		{Op: openintent.PatchAppend, Path: "/research/sources", Value: "b"},
		{Op: openintent.PatchSet, Path: "/research/done", Value: false},
		{Op: openintent.PatchRemove, Path: "/research/done"},
	})
	if err != nil {
		t.Fatal(err)
	}
	research, _ := up.State["research"].(map[string]any)
	if sources, _ := research["sources"].([]any); len(sources) != 2 || sources[1] != "b" {
		t.Fatalf("state = %v", up.State)
	}
	if _, ok := research["done"]; ok {
		t.Fatalf("removed key still present: %v", up.State)
	}
	_, err = c.PatchState(ctx, in.ID, up.Version, []openintent.StatePatch{{Op: openintent.PatchAppend, Path: "/research", Value: 1}})
	var ve *openintent.ValidationError
	if !errors.As(err, &ve) || len(ve.FieldErrors) == 0 || !strings.Contains(ve.FieldErrors[0].Field, "patches") {
		t.Fatalf("append to object: %v", err)
	}
	if _, err := c.PatchState(ctx, in.ID, up.Version, []openintent.StatePatch{{Op: "merge", Path: "/x"}}); err == nil || !strings.Contains(err.Error(), "patches[0].op") {
		t.Fatalf("bad op: %v", err)
	}
}

func TestSetStatusLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "worker")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Lifecycle"})
	act, err := c.SetStatus(ctx, in.ID, in.Version, openintent.StatusActive)
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.SetStatusWithReason(ctx, in.ID, act.Version, openintent.StatusCompleted, "all done")
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != openintent.StatusCompleted || done.Version != in.Version+2 {
		t.Fatalf("after SetStatus: %+v", done)
	}
	_, err = c.SetStatus(ctx, in.ID, done.Version, openintent.StatusDraft)
	var ce *openintent.ConflictError
	if !errors.As(err, &ce) || !strings.Contains(ce.Detail, "completed") || !strings.Contains(ce.Detail, "draft") {
		t.Fatalf("completed -> draft = %v, want ConflictError naming both states", err)
	}
	events, err := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventStatusChanged})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("status_changed events = %d, want 2", len(events))
	}
}

func TestModifyStateUnderContention(t *testing.T) {
	e := newEnv(t)
	setup := e.client(t, "setup")
	in := mustCreate(t, setup, openintent.IntentCreate{Title: "Counter", State: openintent.Object{"n": 0.0}})
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		c := e.client(t, fmt.Sprintf("worker-%d", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := c.ModifyState(ctxT(t), in.ID, openintent.ConflictBackoff{Steps: 200, Initial: time.Millisecond, Max: 20 * time.Millisecond},
					func(cur *openintent.Intent) ([]openintent.StatePatch, error) {
						n, _ := cur.State["n"].(float64)
						return []openintent.StatePatch{{Op: openintent.PatchSet, Path: "/n", Value: n + 1}}, nil
					})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := setup.GetIntent(ctxT(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["n"] != float64(workers*each) || got.Version != in.Version+workers*each {
		t.Fatalf("n = %v version = %d, want %d and %d", got.State["n"], got.Version, workers*each, in.Version+workers*each)
	}
}

func TestModifyStateWithoutPatchesWritesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "reader")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Unchanged"})
	got, err := c.ModifyState(ctxT(t), in.ID, openintent.ConflictBackoff{}, func(*openintent.Intent) ([]openintent.StatePatch, error) { return nil, nil })
	if err != nil || got.Version != in.Version {
		t.Fatalf("ModifyState = %+v, %v", got, err)
	}
	boom := errors.New("boom")
	_, err = c.ModifyState(ctxT(t), in.ID, openintent.ConflictBackoff{}, func(*openintent.Intent) ([]openintent.StatePatch, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("mutate error = %v", err)
	}
}
