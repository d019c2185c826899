package server_test

// Several replicas of the server on one PostgreSQL database (issue #17): each test starts
// in-process servers, each on a store of its own (its own connections) to one database, sharing
// a clock, behind HTTP listeners, and spreads its clients across them. They run with
// OPENINTENT_TEST_STORE=postgres (make test's PostgreSQL run, so once per make test), and are
// skipped when PostgreSQL is not available (internal/pgtest says how to enable it).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// replicaSet is n servers sharing one PostgreSQL database.
type replicaSet struct {
	t       *testing.T
	urls    []string
	stores  []*store.Store
	servers []*server.Server
	logs    []*lockedBuffer
}

// replicaOptions configure startReplicas; zero values take defaults.
type replicaOptions struct {
	n int // 3
	// now is the clock every replica's store reads (nil: the database's).
	now func() time.Time
	// storeOptions of replica i (its Now is set from now).
	storeOptions func(i int) store.Options
	// configure changes the configuration of replica i.
	configure func(i int, c *server.Config)
}

// replicaSecret is the secret key every replica shares (as they must: the key principals of
// service keys and the sealing of credentials depend on it).
var replicaSecret = []byte("0123456789abcdef0123456789abcdef")

func startReplicas(t *testing.T, o replicaOptions) *replicaSet {
	t.Helper()
	if os.Getenv("OPENINTENT_TEST_STORE") != "postgres" {
		t.Skip("replica tests run with OPENINTENT_TEST_STORE=postgres")
	}
	if o.n == 0 {
		o.n = 3
	}
	dsn := pgtest.URL(t)
	r := &replicaSet{t: t}
	for i := range o.n {
		var opts store.Options
		if o.storeOptions != nil {
			opts = o.storeOptions(i)
		}
		opts.Now = o.now
		st, err := store.Open(context.Background(), dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		logs := &lockedBuffer{}
		cfg := server.Config{Store: st, APIKeys: []string{testKey, "alice-key=alice", "bob-key=bob"}, Logger: newLogger(logs),
			SecretKey: replicaSecret, AuthFailureLimit: server.RateLimit{PerSecond: 1000, Burst: 1000}}
		if o.configure != nil {
			o.configure(i, &cfg)
		}
		srv, err := server.New(cfg)
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() {
			hs.Close()
			srv.Close()
			st.Close()
			if t.Failed() {
				t.Logf("replica %d log:\n%s", i, logs.String())
			}
		})
		r.urls, r.stores, r.servers, r.logs = append(r.urls, hs.URL), append(r.stores, st), append(r.servers, srv), append(r.logs, logs)
	}
	return r
}

// client is an SDK client of replica i acting as agent (with the service key).
func (r *replicaSet) client(i int, agent string) *openintent.Client {
	r.t.Helper()
	c, err := openintent.NewClient(r.urls[i%len(r.urls)], openintent.WithAPIKey(testKey), openintent.WithAgentID(agent))
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// jitter waits a random time up to d (backing off after a conflict).
func jitter(d time.Duration) { time.Sleep(rand.N(d) + time.Microsecond) }

// 64 clients spread over 3 replicas increment counters with read + If-Match write, retrying on
// 409: every increment counts once, none is lost, and the version counts the writes.
func TestReplicasCountExactly(t *testing.T) {
	r := startReplicas(t, replicaOptions{})
	ctx := context.Background()
	const clients, increments, counters = 64, 50, 32 // a counter's 2 clients use 2 replicas
	ids := make([]string, counters)
	for k := range ids {
		in, err := r.client(k, "setup").CreateIntent(ctx, openintent.IntentCreate{Title: fmt.Sprintf("counter %d", k), State: openintent.Object{"count": 0}})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = in.ID
	}
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		cl, id := r.client(c, fmt.Sprintf("w%d", c)), ids[c%counters]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range increments {
				for {
					in, err := cl.GetIntent(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := in.State["count"].(float64)
					_, err = cl.UpdateState(ctx, id, in.Version, openintent.Object{"count": n + 1})
					if err == nil {
						break
					}
					if !errors.Is(err, openintent.ErrVersionConflict) {
						t.Error(err)
						return
					}
					conflicts.Add(1)
					jitter(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	want := float64(clients / counters * increments)
	for k, id := range ids {
		in, err := r.client(k+1, "check").GetIntent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if in.State["count"] != want || in.Version != int64(want)+1 {
			t.Errorf("counter %d: count %v version %d, want %v and %v", k, in.State["count"], in.Version, want, int64(want)+1)
		}
	}
	t.Logf("%d increments, %d conflicts retried", clients*increments, conflicts.Load())
	if conflicts.Load() == 0 {
		t.Error("no write conflicted: the test did not exercise concurrent writers")
	}
}

// Agents on every replica contend for one lease scope: at no moment do two of them hold it (each
// marks itself the holder after acquiring and unmarks itself before releasing), and the lease
// timeline the server keeps shows no overlap.
func TestReplicasLeaseHasOneHolderAtATime(t *testing.T) {
	r := startReplicas(t, replicaOptions{})
	ctx := context.Background()
	in, err := r.client(0, "setup").CreateIntent(ctx, openintent.IntentCreate{Title: "contended"})
	if err != nil {
		t.Fatal(err)
	}
	const agents, rounds = 12, 15
	var holder atomic.Value
	holder.Store("")
	var refused atomic.Int64
	var wg sync.WaitGroup
	for a := range agents {
		me := fmt.Sprintf("agent-%d", a)
		cl := r.client(a, me)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				var lease *openintent.Lease
				for {
					var err error
					lease, err = cl.AcquireLease(ctx, in.ID, "the-scope", time.Minute)
					if err == nil {
						break
					}
					if !errors.Is(err, openintent.ErrLeaseConflict) {
						t.Error(err)
						return
					}
					refused.Add(1)
					jitter(20 * time.Millisecond)
				}
				if !holder.CompareAndSwap("", me) {
					t.Errorf("%s acquired the lease while %v held it", me, holder.Load())
				}
				if !holder.CompareAndSwap(me, "") {
					t.Errorf("%s lost the lease to %v while holding it", me, holder.Load())
				}
				if err := cl.ReleaseLease(ctx, in.ID, lease.ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	leases, err := r.client(1, "check").GetLeases(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != agents*rounds {
		t.Fatalf("%d leases, want %d", len(leases), agents*rounds)
	}
	sort.Slice(leases, func(i, j int) bool { return leases[i].AcquiredAt.Before(leases[j].AcquiredAt.Time) })
	for i := 1; i < len(leases); i++ {
		prev, next := leases[i-1], leases[i]
		if prev.ReleasedAt.IsZero() || prev.ReleasedAt.After(next.AcquiredAt.Time) {
			t.Fatalf("lease %s (%s, %v to %v) overlaps lease %s (%s, from %v)", prev.ID, prev.AgentID, prev.AcquiredAt, prev.ReleasedAt,
				next.ID, next.AgentID, next.AcquiredAt)
		}
	}
	t.Logf("%d leases taken one after another, %d acquisitions refused while held", len(leases), refused.Load())
}

// An ACL closed through one replica closes the intent on every replica at once (no replica
// remembers ACLs).
func TestReplicasSeeACLChangesAtOnce(t *testing.T) {
	r := startReplicas(t, replicaOptions{n: 2})
	ctx := context.Background()
	owner, outsider := r.client(0, "owner"), r.client(1, "outsider")
	in, err := owner.CreateIntent(ctx, openintent.IntentCreate{Title: "private soon"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outsider.GetIntent(ctx, in.ID); err != nil {
		t.Fatalf("open intent on the other replica: %v", err)
	}
	if _, err := owner.SetACL(ctx, in.ID, openintent.ACLSet{DefaultPolicy: "closed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := outsider.GetIntent(ctx, in.ID); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Fatalf("closed intent read through the other replica: %v, want 403", err)
	}
	page, err := outsider.ListIntents(ctx, openintent.ListIntentsParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range page {
		if got.ID == in.ID {
			t.Fatal("the other replica lists the closed intent")
		}
	}
	if _, err := owner.SetACL(ctx, in.ID, openintent.ACLSet{DefaultPolicy: "open"}); err != nil {
		t.Fatal(err)
	}
	if _, err := outsider.GetIntent(ctx, in.ID); err != nil {
		t.Fatalf("reopened intent on the other replica: %v", err)
	}
}

// A replica answers a write on an intent it just wrote from what it knows of it, on condition
// that the write's transaction confirms nothing changed since (store.Speculation): an ACL closed
// and an update made through another replica in between are seen, as if it had read them.
func TestReplicasSpeculativeWritesSeeWritesElsewhere(t *testing.T) {
	r := startReplicas(t, replicaOptions{n: 2})
	ctx := context.Background()
	owner0, owner1, outsider0 := r.client(0, "owner"), r.client(1, "owner"), r.client(0, "outsider")
	in, err := owner0.CreateIntent(ctx, openintent.IntentCreate{Title: "closed elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner1.SetACL(ctx, in.ID, openintent.ACLSet{DefaultPolicy: "closed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := outsider0.UpdateState(ctx, in.ID, in.Version, openintent.Object{"x": 1}); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Fatalf("outsider's update of an intent closed through the other replica: %v, want 403", err)
	}
	if _, err := outsider0.LogEvent(ctx, in.ID, openintent.EventComment, nil); !errors.Is(err, openintent.ErrPermissionDenied) {
		t.Fatalf("outsider's event on an intent closed through the other replica: %v, want 403", err)
	}

	in, err = owner0.CreateIntent(ctx, openintent.IntentCreate{Title: "updated elsewhere", State: openintent.Object{"n": 0}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner1.UpdateState(ctx, in.ID, in.Version, openintent.Object{"other": 1}); err != nil {
		t.Fatal(err)
	}
	var vc *openintent.VersionConflictError
	if _, err := owner0.UpdateState(ctx, in.ID, in.Version, openintent.Object{"n": 1}); !errors.As(err, &vc) || vc.CurrentVersion != in.Version+1 {
		t.Fatalf("update with the version the other replica moved on: %v, want 409", err)
	}
	got, err := owner0.UpdateState(ctx, in.ID, in.Version+1, openintent.Object{"n": 1})
	if err != nil || got.State["other"] != float64(1) || got.State["n"] != float64(1) {
		t.Fatalf("update after the other replica's: %+v %v", got.State, err)
	}
	// And with nothing in between, its writes follow one another.
	for v := got.Version; v < got.Version+3; v++ {
		if _, err := owner0.UpdateState(ctx, in.ID, v, openintent.Object{"n": v}); err != nil {
			t.Fatalf("update %d: %v", v, err)
		}
	}
	events, err := owner1.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
	if err != nil || len(events) != 6 {
		t.Fatalf("events: %d %v, want 6", len(events), err)
	}

	// Served again after its speculation failed, a request with an Idempotency-Key is carried
	// out once, and its retry answered with its response.
	in, err = owner0.CreateIntent(ctx, openintent.IntentCreate{Title: "retried", State: openintent.Object{"n": 0}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner1.UpdateState(ctx, in.ID, in.Version, openintent.Object{"other": 1}); err != nil {
		t.Fatal(err)
	}
	key := openintent.WithIdempotencyKey("after-the-other-replica")
	last, err := owner0.UpdateState(ctx, in.ID, in.Version+1, openintent.Object{"n": 1}, key)
	if err != nil || last.State["other"] != float64(1) || last.Version != in.Version+2 {
		t.Fatalf("update after the other replica's: %+v %v", last, err)
	}
	again, err := owner0.UpdateState(ctx, in.ID, in.Version+1, openintent.Object{"n": 1}, key)
	if err != nil || again.Version != last.Version {
		t.Fatalf("retry with the same Idempotency-Key: version %d %v, want %d", again.Version, err, last.Version)
	}
}

// streamLatency opens a stream of an intent's events on replica `on`, then logs events through
// replica `via` one at a time and returns how long each took to reach the stream.
func streamLatency(t *testing.T, r *replicaSet, on, via, events int) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := r.client(via, "writer")
	in, err := writer.CreateIntent(ctx, openintent.IntentCreate{Title: "streamed"})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan openintent.IntentEvent, 16)
	go func() {
		for ev, err := range r.client(on, "reader").StreamIntentEvents(ctx, in.ID) {
			if err != nil {
				return
			}
			seen <- ev
		}
	}()
	// The stream is open once it delivers a first event (logged until it does).
	warm := time.NewTicker(50 * time.Millisecond)
	defer warm.Stop()
	for opened := false; !opened; {
		if _, err := writer.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"warm-up": true}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-seen:
			opened = true
		case <-warm.C:
		case <-time.After(20 * time.Second):
			t.Fatal("the stream delivered nothing")
		}
	}
	for drained := false; !drained; {
		select {
		case <-seen:
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	var out []time.Duration
	for i := range events {
		start := time.Now()
		ev, err := writer.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		for got := false; !got; {
			select {
			case e := <-seen:
				got = e.ID == ev.ID
			case <-time.After(20 * time.Second):
				t.Fatalf("event %d never reached the stream on the other replica", i)
			}
		}
		out = append(out, time.Since(start))
	}
	return out
}

// An event stream on one replica delivers an event written through another within a second
// (NOTIFY wakes it); with notifications off, within the polling interval.
func TestReplicasStreamEventsWrittenElsewhere(t *testing.T) {
	t.Run("notify", func(t *testing.T) {
		r := startReplicas(t, replicaOptions{n: 2})
		for i, d := range streamLatency(t, r, 0, 1, 5) {
			if d > time.Second {
				t.Errorf("event %d reached the other replica's stream after %v, want within 1s", i, d)
			}
		}
	})
	t.Run("polling", func(t *testing.T) {
		const poll = 300 * time.Millisecond
		r := startReplicas(t, replicaOptions{n: 2, storeOptions: func(i int) store.Options {
			if i == 0 {
				return store.Options{DisableNotify: true, PollInterval: poll}
			}
			return store.Options{}
		}})
		for i, d := range streamLatency(t, r, 0, 1, 5) {
			if d > poll+time.Second {
				t.Errorf("event %d reached the polling replica's stream after %v, want within the polling interval (%v, with 1s to spare)", i, d, poll)
			}
		}
	})
}

// tagReplica marks each webhook request with the replica that sends it.
type tagReplica struct{ i int }

func (tr tagReplica) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Replica", fmt.Sprint(tr.i))
	return http.DefaultTransport.RoundTrip(r)
}

// Three replicas deliver the webhooks of subscriptions made through each of them: every
// attempt is posted once, by one replica. The receiver fails the first attempt of every other
// event: those deliveries are posted exactly twice, the others exactly once.
func TestReplicasPostEachWebhookAttemptOnce(t *testing.T) {
	var mu sync.Mutex
	posts := map[string]int{}     // delivery id -> posts
	failAt := map[string]bool{}   // delivery id -> its first attempt is refused
	byReplica := map[string]int{} // replica -> posts
	delivered := make(chan struct{}, 1000)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b := decodeHook(t, req)
		id := req.Header.Get("X-OpenIntent-Delivery")
		mu.Lock()
		posts[id]++
		byReplica[req.Header.Get("X-Test-Replica")]++
		n, _ := b.Event.Payload["n"].(float64)
		fail := int(n)%2 == 0 && posts[id] == 1
		failAt[id] = failAt[id] || fail
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		delivered <- struct{}{}
	}))
	t.Cleanup(hook.Close)
	r := startReplicas(t, replicaOptions{configure: func(i int, c *server.Config) {
		c.Webhooks = server.Webhooks{AllowPrivateNetworks: true, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			Timeout: 30 * time.Second, Client: &http.Client{Transport: tagReplica{i}}}
		c.TriggerInterval = 20 * time.Millisecond
	}})
	ctx := context.Background()
	in, err := r.client(0, "setup").CreateIntent(ctx, openintent.IntentCreate{Title: "hooked"})
	if err != nil {
		t.Fatal(err)
	}
	subs := len(r.urls)
	for i := range subs { // one subscription through each replica: each starts delivering at once
		if _, err := r.client(i, "subscriber").Subscribe(ctx, openintent.SubscriptionCreate{IntentID: in.ID, WebhookURL: hook.URL,
			EventTypes: []openintent.EventType{"comment"}}); err != nil {
			t.Fatal(err)
		}
	}
	const events = 30
	var wg sync.WaitGroup
	for i := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.client(i, "writer").LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": i}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for range events * subs {
		waitFor(t, delivered, "the deliveries")
	}
	// Every delivery is recorded as done before anything more could be posted.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rs, err := r.stores[0].ListRecords(ctx, store.Query{Kind: "delivery"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending", len(rs))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != events*subs {
		t.Fatalf("%d deliveries posted, want %d", len(posts), events*subs)
	}
	for id, n := range posts {
		want := 1
		if failAt[id] {
			want = 2
		}
		if n != want {
			t.Errorf("delivery %s posted %d times, want %d", id, n, want)
		}
	}
	t.Logf("posts by replica: %v", byReplica)
}

// Three replicas run the same schedule triggers (one made through each, so every replica's
// engine runs): each tick of the shared clock fires each trigger once.
func TestReplicasFireScheduleTriggersOncePerTick(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	const interval = 10 * time.Millisecond
	r := startReplicas(t, replicaOptions{now: c.Now, configure: func(i int, cfg *server.Config) { cfg.TriggerInterval = interval }})
	ctx := context.Background()
	var ids []string
	for i := range r.urls {
		tr, err := r.client(i, "scheduler").CreateTrigger(ctx, openintent.TriggerCreate{Name: fmt.Sprintf("every minute %d", i),
			Type: openintent.TriggerSchedule, Condition: map[string]any{"cron": "* * * * *"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tr.ID)
	}
	reader := r.client(0, "scheduler")
	const ticks = 4
	for tick := 1; tick <= ticks; tick++ {
		c.Advance(time.Minute)
		for _, id := range ids {
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(interval) {
				tr, err := reader.GetTrigger(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if tr.FireCount >= int64(tick) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("tick %d: trigger %s fired %d times", tick, id, tr.FireCount)
				}
			}
		}
		// Every replica's engine looks again (many times) before the next tick: none fires it again.
		time.Sleep(20 * interval)
		for _, id := range ids {
			tr, err := reader.GetTrigger(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tr.FireCount != int64(tick) {
				t.Fatalf("after tick %d trigger %s fired %d times", tick, id, tr.FireCount)
			}
		}
	}
	firings := 0
	for in, err := range reader.Intents(ctx, openintent.ListIntentsParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(ids, strings.TrimPrefix(in.CreatedBy, "trigger:")) {
			firings++
		}
	}
	if firings != ticks*len(ids) {
		t.Fatalf("%d intents made by the triggers, want %d", firings, ticks*len(ids))
	}
}

// Three replicas run the same event trigger (made through one; the others' engines start when
// they find it): every matching event, whichever replica it is written through, fires it once.
func TestReplicasFireEventTriggersOncePerEvent(t *testing.T) {
	const interval = 10 * time.Millisecond
	r := startReplicas(t, replicaOptions{configure: func(i int, cfg *server.Config) { cfg.TriggerInterval = interval }})
	ctx := context.Background()
	var ids []string
	for i := range r.urls {
		tr, err := r.client(i, "reactor").CreateTrigger(ctx, openintent.TriggerCreate{Name: fmt.Sprintf("on ping %d", i),
			Type: openintent.TriggerEvent, Condition: map[string]any{"event": "comment", "filter": map[string]any{"kind": "ping"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tr.ID)
	}
	in, err := r.client(0, "writer").CreateIntent(ctx, openintent.IntentCreate{Title: "pinged"})
	if err != nil {
		t.Fatal(err)
	}
	const events = 20
	var wg sync.WaitGroup
	for i := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.client(i, "writer").LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"kind": "ping"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	reader := r.client(0, "reactor")
	for _, id := range ids {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(interval) {
			tr, err := reader.GetTrigger(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tr.FireCount >= events {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trigger %s fired %d times for %d events", id, tr.FireCount, events)
			}
		}
	}
	time.Sleep(20 * interval) // every engine has looked at every event again: none fires twice
	for _, id := range ids {
		tr, err := reader.GetTrigger(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tr.FireCount != events {
			t.Errorf("trigger %s fired %d times for %d events", id, tr.FireCount, events)
		}
	}
}

// The same request with the same Idempotency-Key, sent to every replica at once (a client
// retrying against another replica while the first still works on it): it is carried out once,
// and every replica answers with that one's response.
func TestReplicasCarryOutARequestOnceWhicheverGetsIt(t *testing.T) {
	r := startReplicas(t, replicaOptions{})
	ctx := context.Background()
	const rounds = 15
	for round := range rounds {
		key := fmt.Sprintf("once-%d-%d", round, time.Now().UnixNano())
		ids := make([]string, len(r.urls))
		var wg sync.WaitGroup
		for i := range r.urls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := openintent.NewClient(r.urls[i], openintent.WithAPIKey(testKey), openintent.WithAgentID("retrier"), openintent.WithMaxRetries(0))
				if err != nil {
					t.Error(err)
					return
				}
				in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: fmt.Sprintf("once %d", round)}, openintent.WithIdempotencyKey(key))
				if err != nil {
					t.Errorf("round %d, replica %d: %v", round, i, err)
					return
				}
				ids[i] = in.ID
			}()
		}
		wg.Wait()
		for i, id := range ids {
			if id != ids[0] {
				t.Fatalf("round %d: replica %d answered intent %s, replica 0 intent %s", round, i, id, ids[0])
			}
		}
	}
	titles := map[string]int{}
	for in, err := range r.client(0, "retrier").Intents(ctx, openintent.ListIntentsParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		titles[in.Title]++
	}
	for round := range rounds {
		if n := titles[fmt.Sprintf("once %d", round)]; n != 1 {
			t.Errorf("round %d: %d intents created, want 1", round, n)
		}
	}
}
