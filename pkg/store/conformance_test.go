package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// The in-memory store (Go maps), the file store (SQLite) and the PostgreSQL store must behave
// alike: the same random operations, on the same clock, get the same answers from each, down to
// every field, error and order (ids aside: they are random, so each is named by where it first
// appears). PostgreSQL's run is skipped, saying how to enable it, where there is none
// (internal/pgtest).
func TestStoreKindsAgree(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			mem := runScenario(t, store.Memory, seed)
			file := runScenario(t, filepath.Join(t.TempDir(), "s.db"), seed)
			agree(t, "file", mem, file)
			t.Run("postgres", func(t *testing.T) {
				agree(t, "postgres", mem, runScenario(t, pgtest.URL(t), seed))
			})
		})
	}
}

// agree fails t at the first answer of the kind of store named that differs from the in-memory
// store's.
func agree(t *testing.T, kind string, mem, other []string) {
	t.Helper()
	for i := range min(len(mem), len(other)) {
		if mem[i] != other[i] {
			t.Fatalf("answer %d differs:\nmemory: %s\n%-8s%s", i, mem[i], kind+":", other[i])
		}
	}
	if len(mem) != len(other) {
		t.Fatalf("%d answers from the in-memory store, %d from the %s store", len(mem), len(other), kind)
	}
}

var (
	uuidPattern       = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	hashPattern       = regexp.MustCompile(`sha256:[A-Za-z0-9_-]{43}`)
	checkpointPattern = regexp.MustCompile(`chk_[0-9a-f]{32}`)
)

// scenario drives one store with operations drawn from a seeded generator.
type scenario struct {
	t       *testing.T
	s       *store.Store
	r       *rand.Rand
	ctx     context.Context
	now     time.Time
	mu      sync.Mutex
	intents []models.Intent // every intent created, as last seen
	leases  []models.Lease
	records []store.Record
	log     []string
	names   map[string]string // id -> its name in the log
}

func (sc *scenario) clock() time.Time {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.now
}

// note logs an operation's answer, with ids replaced by their names.
func (sc *scenario) note(op string, v any, err error) {
	b, jerr := json.Marshal(v)
	if jerr != nil {
		sc.t.Fatal(jerr)
	}
	line := op + " " + string(b)
	if err != nil {
		var dup *store.DuplicateError
		var conflict *store.VersionConflictError
		var lease *store.LeaseConflictError
		kind := "other"
		switch {
		case errors.As(err, &dup):
			kind = "duplicate"
		case errors.As(err, &conflict):
			kind = "version conflict"
		case errors.As(err, &lease):
			kind = "lease conflict"
			b, _ := json.Marshal(lease.Existing)
			kind += " " + string(b)
		case errors.Is(err, store.ErrNotFound):
			kind = "not found"
		}
		line += fmt.Sprintf(" error(%s): %v", kind, err)
	}
	line = uuidPattern.ReplaceAllStringFunc(line, func(id string) string {
		if n, ok := sc.names[id]; ok {
			return n
		}
		n := fmt.Sprintf("#%d", len(sc.names))
		sc.names[id] = n
		return n
	})
	// Hashes cover the random ids, so they too are named where they first appear: both stores
	// must give the same hash wherever the same hash is due (the chain's links, the roots).
	line = hashPattern.ReplaceAllStringFunc(line, func(h string) string {
		if n, ok := sc.names[h]; ok {
			return n
		}
		n := fmt.Sprintf("h%d", len(sc.names))
		sc.names[h] = n
		return n
	})
	line = checkpointPattern.ReplaceAllStringFunc(line, func(id string) string {
		if n, ok := sc.names[id]; ok {
			return n
		}
		n := fmt.Sprintf("chk%d", len(sc.names))
		sc.names[id] = n
		return n
	})
	sc.log = append(sc.log, line)
}

func (sc *scenario) intent() models.Intent {
	if len(sc.intents) == 0 || sc.r.IntN(20) == 0 {
		return models.Intent{ID: "00000000-0000-7000-8000-000000000000"} // unknown
	}
	if n := len(sc.intents); n > 6 && sc.r.IntN(4) != 0 {
		return sc.intents[n-6+sc.r.IntN(6)] // mostly the newest few, so that operations meet
	}
	return sc.intents[sc.r.IntN(len(sc.intents))]
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

var errAbort = errors.New("aborted by the test")

func runScenario(t *testing.T, path string, seed uint64) []string {
	sc := &scenario{t: t, r: rand.New(rand.NewPCG(seed, 42)), ctx: context.Background(),
		now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), names: map[string]string{}}
	s, err := store.Open(sc.ctx, path, store.Options{Now: sc.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sc.s = s
	statuses := []models.IntentStatus{models.IntentStatusDraft, models.IntentStatusActive, models.IntentStatusCompleted}
	var checkpoints []models.LogCheckpoint
	for range 1000 {
		switch op := sc.r.IntN(21); op {
		case 0, 1: // create, with a parent and dependencies (some unknown)
			in := models.Intent{Title: fmt.Sprint("t", sc.r.IntN(100)), Status: pick(sc.r, statuses...), State: models.Object{"n": float64(sc.r.IntN(5))}}
			if sc.r.IntN(3) == 0 {
				p := sc.intent().ID
				in.ParentID = &p
			}
			for range sc.r.IntN(3) {
				in.DependsOn = append(in.DependsOn, sc.intent().ID)
			}
			if sc.r.IntN(4) == 0 {
				in.GovernancePolicy = models.Object{"require_approval": true}
			}
			out, err := s.CreateIntent(sc.ctx, in, pick(sc.r, "alice", "bob"), map[string]any{"title": in.Title})
			if err == nil {
				sc.intents = append(sc.intents, out)
			}
			sc.note("create", out, err)
		case 2, 3: // update: state, status, dependencies; stale versions; failures that roll back
			in := sc.intent()
			expected := in.Version
			if sc.r.IntN(5) == 0 {
				expected--
			}
			fail := sc.r.IntN(6) == 0
			dep := sc.intent().ID
			out, err := s.UpdateIntent(sc.ctx, in.ID, expected, "alice", func(tx *store.Tx, in *models.Intent) (store.Change, error) {
				as, err := tx.Assignments(in.ID)
				sc.note("tx assignments", as, err)
				in.State["n"] = float64(sc.r.IntN(9))
				in.Status = pick(sc.r, statuses...)
				if sc.r.IntN(3) == 0 {
					in.DependsOn = append(in.DependsOn[:0:0], dep)
				}
				if fail {
					return store.Change{}, errAbort
				}
				return store.Change{EventType: "state_patched", Payload: map[string]any{"n": in.State["n"]}}, nil
			})
			if err == nil {
				for i := range sc.intents {
					if sc.intents[i].ID == out.ID {
						sc.intents[i] = out
					}
				}
			}
			sc.note("update", out, err)
		case 4: // reads of intents
			in := sc.intent()
			got, err := s.GetIntent(sc.ctx, in.ID)
			sc.note("get", got, err)
			q := store.IntentQuery{Status: string(pick(sc.r, append(statuses, "")...)), Limit: 1 + sc.r.IntN(6), Offset: sc.r.IntN(4)}
			for range sc.r.IntN(4) {
				q.Exclude = append(q.Exclude, sc.intent().ID) // some twice, some unknown
			}
			page, total, err := s.ListIntents(sc.ctx, q)
			sc.note("list", []any{page, total}, err)
			children, err := s.ListChildren(sc.ctx, in.ID)
			sc.note("children", children, err)
			dependents, err := s.ListDependents(sc.ctx, in.ID)
			sc.note("dependents", dependents, err)
			many, err := s.GetIntents(sc.ctx, []string{sc.intent().ID, in.ID, sc.intent().ID})
			sc.note("get many", many, err)
		case 5: // events
			in := sc.intent()
			ev := models.IntentEvent{IntentID: in.ID, EventType: models.EventType(pick(sc.r, "comment", "note", "checkpoint")), Actor: pick(sc.r, "alice", "bob"),
				Payload: pick(sc.r, models.Object{"agent_id": "carol"}, models.Object{"n": 1.5}, nil)}
			if sc.r.IntN(4) == 0 {
				ev.TraceID, ev.ParentEventID = "trace", "parent"
			}
			out, err := s.AppendEvent(sc.ctx, ev)
			sc.note("append", out, err)
		case 6: // event reads
			in := sc.intent()
			f := store.EventFilter{Type: pick(sc.r, "", "comment", "state_patched", "intent_created", "doomed"), Limit: 1 + sc.r.IntN(8), Offset: sc.r.IntN(3)}
			if sc.r.IntN(3) == 0 {
				f.Since = sc.clock().Add(-time.Duration(sc.r.IntN(60)) * time.Second)
			}
			evs, err := s.ListEvents(sc.ctx, in.ID, f)
			sc.note("events", evs, err)
			last, err := s.LastSeq(sc.ctx)
			sc.note("last seq", last, err)
			sf := store.StreamFilter{AfterSeq: int64(sc.r.IntN(int(last) + 1)), Limit: 1 + sc.r.IntN(10), Agent: pick(sc.r, "", "carol", "bob")}
			if sc.r.IntN(2) == 0 {
				sf.IntentIDs = []string{in.ID, sc.intent().ID}
			}
			after, err := s.EventsAfter(sc.ctx, sf)
			sc.note("events after", after, err)
		case 7, 17, 18: // assignments
			in := sc.intent()
			agent := pick(sc.r, "alice", "bob", "carol")
			if sc.r.IntN(3) == 0 {
				sc.note("unassign", nil, s.UnassignAgent(sc.ctx, in.ID, agent, "admin"))
			} else {
				a, err := s.AssignAgent(sc.ctx, in.ID, agent, pick(sc.r, "worker", "reviewer"), "admin")
				sc.note("assign", a, err)
			}
			as, err := s.ListAssignments(sc.ctx, in.ID)
			sc.note("assignments", as, err)
		case 8: // leases
			in := sc.intent()
			l, err := s.AcquireLease(sc.ctx, in.ID, pick(sc.r, "a", "b"), pick(sc.r, "alice", "bob"), time.Duration(1+sc.r.IntN(30))*time.Second)
			if err == nil {
				sc.leases = append(sc.leases, l)
			}
			sc.note("acquire", l, err)
		case 9:
			if len(sc.leases) == 0 {
				continue
			}
			l := sc.leases[sc.r.IntN(len(sc.leases))]
			agent := l.AgentID
			if sc.r.IntN(5) == 0 {
				agent = "mallory"
			}
			if sc.r.IntN(2) == 0 {
				out, err := s.RenewLease(sc.ctx, l.IntentID, l.ID, agent, 20*time.Second)
				sc.note("renew", out, err)
			} else {
				sc.note("release", nil, s.ReleaseLease(sc.ctx, l.IntentID, l.ID, agent))
			}
			ls, err := s.ListLeases(sc.ctx, l.IntentID)
			sc.note("leases", ls, err)
		case 10, 11: // records: insert (keys, duplicates, expiry)
			in := sc.intent()
			err := s.Write(sc.ctx, func(w *store.Writer) error {
				r := store.Record{Kind: pick(sc.r, "note", "memory"), ID: store.NewID(), Parent: in.ID, Ref: pick(sc.r, "", "x", "y"),
					Key: pick(sc.r, "", "", "k1", "k2")}
				if len(sc.records) > 0 && sc.r.IntN(8) == 0 {
					r.ID = sc.records[sc.r.IntN(len(sc.records))].ID // a taken id
				}
				if sc.r.IntN(3) == 0 {
					exp := w.Now().Add(time.Duration(1+sc.r.IntN(20)) * time.Second)
					r.ExpiresAt = &exp
				}
				out, err := w.Insert(r, map[string]any{"v": sc.r.IntN(100)})
				sc.note("insert", out, err)
				if err == nil {
					sc.records = append(sc.records, out)
				}
				return err
			})
			sc.note("insert committed", nil, err)
		case 12: // records: modify, rewrite, delete
			if len(sc.records) == 0 {
				continue
			}
			r := sc.records[sc.r.IntN(len(sc.records))]
			err := s.Write(sc.ctx, func(w *store.Writer) error {
				switch sc.r.IntN(3) {
				case 0:
					v, err := store.Modify(w, r.Kind, r.ID, int64(sc.r.IntN(3)), func(v *map[string]any, rec *store.Record) error {
						(*v)["v"] = sc.r.IntN(100)
						rec.Ref = pick(sc.r, "", "x", "z")
						if sc.r.IntN(3) == 0 {
							exp := w.Now().Add(time.Duration(1+sc.r.IntN(20)) * time.Second)
							rec.ExpiresAt = &exp
						}
						return nil
					})
					sc.note("modify", v, err)
					return err
				case 1:
					got, err := w.Get(r.Kind, r.ID)
					if err == nil {
						got, err = w.Rewrite(got, map[string]any{"rewritten": true})
					}
					sc.note("rewrite", got, err)
					return err
				default:
					err := w.Delete(r.Kind, r.ID)
					sc.note("delete", nil, err)
					return err
				}
			})
			sc.note("change committed", nil, err)
		case 13: // record reads
			in := sc.intent()
			q := store.Query{Kind: pick(sc.r, "note", "memory", "none"), Newest: sc.r.IntN(2) == 0, Limit: sc.r.IntN(4)}
			switch sc.r.IntN(3) {
			case 0:
				q.Parent = in.ID
			case 1:
				q.Ref = pick(sc.r, "x", "y", "z")
			}
			rs, err := s.ListRecords(sc.ctx, q)
			sc.note("records", rs, err)
			if len(sc.records) > 0 {
				r := sc.records[sc.r.IntN(len(sc.records))]
				got, err := s.GetRecord(sc.ctx, r.Kind, r.ID)
				sc.note("record", got, err)
			}
		case 14: // a transaction doing a bit of everything, then failing: it must leave no trace
			in := sc.intent()
			err := s.Write(sc.ctx, func(w *store.Writer) error {
				child, err := w.CreateIntent(models.Intent{Title: "doomed", Status: models.IntentStatusActive, ParentID: &in.ID, DependsOn: []string{in.ID}}, "alice", nil)
				sc.note("doomed create", child, err)
				pol, err := w.SetGovernancePolicy(in.ID, 0, models.Object{"doomed": true})
				sc.note("doomed policy", pol, err)
				ev, err := w.AppendEvent(in.ID, "doomed", "alice", nil)
				sc.note("doomed event", ev, err)
				if len(sc.records) > 0 {
					r := sc.records[sc.r.IntN(len(sc.records))]
					sc.note("doomed delete", nil, w.Delete(r.Kind, r.ID))
				}
				rec, err := w.Insert(store.Record{Kind: "note", ID: store.NewID(), Parent: in.ID, Key: "k1"}, map[string]any{"doomed": true})
				sc.note("doomed insert", rec, err)
				rs, err := w.List(store.Query{Kind: "note", Parent: in.ID})
				sc.note("doomed list", rs, err)
				return errAbort
			})
			sc.note("doomed", nil, err)
		case 15: // governance policy in a transaction that commits
			in := sc.intent()
			err := s.Write(sc.ctx, func(w *store.Writer) error {
				out, err := w.SetGovernancePolicy(in.ID, in.Version, pick(sc.r, models.Object{"quorum": 2.0}, nil))
				sc.note("policy", out, err)
				return err
			})
			sc.note("policy committed", nil, err)
		case 19, 20: // checkpoints of an intent's log or the server's, and proofs of their events
			in := sc.intent()
			id := pick(sc.r, in.ID, in.ID, "")
			cp, err := s.CreateLogCheckpoint(sc.ctx, id, nil)
			if err == nil {
				checkpoints = append(checkpoints, cp)
			}
			sc.note("checkpoint", cp, err)
			if len(checkpoints) == 0 {
				continue
			}
			cp = checkpoints[sc.r.IntN(len(checkpoints))]
			got, err := s.LogCheckpoint(sc.ctx, cp.ID)
			sc.note("get checkpoint", got, err)
			q := store.CheckpointQuery{Limit: 1 + sc.r.IntN(5), Offset: sc.r.IntN(3)}
			switch sc.r.IntN(3) {
			case 0:
				q.IntentID = in.ID
			case 1:
				q.Scope = pick(sc.r, store.ScopeIntent, store.ScopeServer)
			}
			list, err := s.ListLogCheckpoints(sc.ctx, q)
			sc.note("checkpoints", list, err)
			intent := ""
			if cp.IntentID != nil {
				intent = *cp.IntentID
			}
			evs, err := s.LogEvents(sc.ctx, intent, cp.FirstSequence, cp.LastSequence)
			sc.note("checkpoint events", len(evs), err)
			if len(evs) > 0 {
				ev := evs[sc.r.IntN(len(evs))]
				proof, err := s.InclusionProof(sc.ctx, cp.ID, pick(sc.r, ev.ID, ev.ID, sc.intent().ID))
				sc.note("proof", proof, err)
				if err == nil {
					if verr := eventlog.VerifyProof(proof, cp.MerkleRoot, cp.EventCount); verr != nil {
						sc.t.Errorf("proof of %s in %s: %v", ev.ID, cp.ID, verr)
					}
				}
			}
			if sc.r.IntN(3) == 0 {
				out, err := s.AnchorLogCheckpoint(sc.ctx, cp.ID, func(c models.LogCheckpoint) (models.TimestampAnchor, error) {
					if c.Anchor != nil {
						return models.TimestampAnchor{}, errAbort
					}
					return models.TimestampAnchor{Type: "external-timestamp", Provider: "test", MerkleRoot: c.MerkleRoot, AnchoredAt: timestamp.New(sc.clock())}, nil
				})
				sc.note("anchor", out, err)
			}
		case 16: // time passes
			sc.mu.Lock()
			sc.now = sc.now.Add(time.Duration(sc.r.IntN(15_000)) * time.Millisecond)
			sc.mu.Unlock()
		}
	}
	// Finally everything each intent holds.
	for _, in := range sc.intents {
		got, err := s.GetIntent(sc.ctx, in.ID)
		sc.note("final intent", got, err)
		evs, err := s.ListEvents(sc.ctx, in.ID, store.EventFilter{Limit: 1000})
		sc.note("final events", evs, err)
		// The chain holds, and every checkpoint of the intent matches it.
		log, err := s.LogEvents(sc.ctx, in.ID, 0, 1<<62)
		cps, cerr := s.ListLogCheckpoints(sc.ctx, store.CheckpointQuery{IntentID: in.ID, Limit: 1000})
		res := eventlog.CheckChain(log, "", cps)
		if len(res.Breaks) != 0 || res.Checkpoints != len(cps) {
			t.Errorf("intent %s: chain: %+v (%d of %d checkpoints checked)", in.ID, res.Breaks, res.Checkpoints, len(cps))
		}
		sc.note("final chain", res.Links(log), errors.Join(err, cerr))
	}
	all, err := s.EventsAfter(sc.ctx, store.StreamFilter{Limit: 100_000})
	sc.note("final log", len(all), err)
	return sc.log
}

// The scenario does reach the paths it means to: a sanity check of its own log.
func TestStoreScenarioCoversItsPaths(t *testing.T) {
	log := strings.Join(runScenario(t, store.Memory, 1), "\n")
	for _, want := range []string{"error(duplicate)", "error(version conflict)", "error(lease conflict", "error(not found)",
		"aborted by the test", `"status":"expired"`, `"status":"released"`, "insert committed null\n", "final log",
		`"scope":"intent"`, `"scope":"server"`, `proof {"checkpoint_id"`, `"anchor":{"anchored_at"`, "no event since the last checkpoint",
		`"previous_event_hash":"h`} {
		if !strings.Contains(log, want) {
			t.Errorf("the scenario never produced %q", want)
		}
	}
}
