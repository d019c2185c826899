package main_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openintent-go/openintent/internal/pgtest"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// TestReplicaSIGKILLLosesNoAcknowledgedWrite runs three server processes on one PostgreSQL
// database, kills one with SIGKILL in the middle of a write load, and checks that the clients of
// the killed one carry on against the others (retrying what was in flight with the same
// Idempotency-Key: nothing is applied twice), and that every write a client saw acknowledged is
// there afterwards.
func TestReplicaSIGKILLLosesNoAcknowledgedWrite(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	dsn := pgtest.URL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "openintent-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	secret := hex.EncodeToString([]byte("replicas share this secret key!!"))
	const replicas = 3
	var urls []string
	var procs []*exec.Cmd
	for i := range replicas {
		addr := freeAddr(t)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("replica-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-addr", addr, "-db", dsn, "-api-keys", "replica-key")
		cmd.Env = append(os.Environ(), "OPENINTENT_SECRET_KEY="+secret)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("replica %d log:\n%s", i, b)
			}
		})
		waitReady(t, "http://"+addr)
		urls, procs = append(urls, "http://"+addr), append(procs, cmd)
	}
	clients := make([]*openintent.Client, replicas)
	for i, u := range urls {
		c, err := openintent.NewClient(u, openintent.WithAPIKey("replica-key"), openintent.WithAgentID("writer"),
			openintent.WithMaxRetries(0), openintent.WithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}

	type ack struct {
		version int64
		count   float64
	}
	var mu sync.Mutex
	acked := map[string]ack{} // intent id -> its last acknowledged write
	var total, resent, lost atomic.Int64
	killed := make(chan struct{})
	var afterKill [replicas * 4]atomic.Int64 // acknowledged writes of each worker after the kill
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range replicas * 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			home := w % replicas
			// do runs one request with its own Idempotency-Key, moving to the next replica (and
			// sending it again, with the same key) when this one does not answer.
			do := func(op func(c *openintent.Client, key openintent.Option) error) error {
				key := openintent.WithIdempotencyKey(fmt.Sprintf("w%d-%d", w, time.Now().UnixNano()))
				for tries := 0; ; tries++ {
					err := op(clients[home], key)
					var apiErr *openintent.APIError
					if err == nil || errors.As(err, &apiErr) || ctx.Err() != nil || tries == 2*replicas {
						return err
					}
					home = (home + 1) % replicas // no answer: the next replica
					resent.Add(1)
				}
			}
			note := func(id string, a ack) {
				mu.Lock()
				acked[id] = a
				mu.Unlock()
				total.Add(1)
				select {
				case <-killed:
					afterKill[w].Add(1)
				default:
				}
			}
			for i := 0; ctx.Err() == nil; i++ {
				var in *openintent.Intent
				err := do(func(c *openintent.Client, key openintent.Option) (err error) {
					in, err = c.CreateIntent(ctx, openintent.IntentCreate{Title: fmt.Sprintf("w%d-%d", w, i), State: openintent.Object{"count": 0}}, key)
					return err
				})
				if errors.Is(err, openintent.ErrConflict) {
					lost.Add(1)
					continue // the create committed but its response was lost with the replica: its id is unknown
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("worker %d: create: %v", w, err)
					}
					return
				}
				note(in.ID, ack{in.Version, 0})
				for n := 1.0; n <= 3 && ctx.Err() == nil; n++ {
					var up *openintent.Intent
					err := do(func(c *openintent.Client, key openintent.Option) (err error) {
						up, err = c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"count": n}, key)
						return err
					})
					if errors.Is(err, openintent.ErrConflict) {
						lost.Add(1)
						// Committed on the killed replica, its response lost: read what is there.
						err = do(func(c *openintent.Client, _ openintent.Option) (err error) {
							up, err = c.GetIntent(ctx, in.ID)
							return err
						})
					}
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("worker %d: update: %v", w, err)
						}
						return
					}
					in = up
					note(in.ID, ack{in.Version, in.State["count"].(float64)})
				}
			}
		}()
	}
	waitUntil(t, "writes before the kill", func() bool { return total.Load() >= 200 })
	if err := procs[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs[0].Wait()
	close(killed)
	// The killed replica's clients (workers 0, 3, 6, 9) go on against the others.
	waitUntil(t, "every worker writing after the kill", func() bool {
		for w := range afterKill {
			if afterKill[w].Load() < 20 {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()

	check := clients[1]
	mu.Lock()
	defer mu.Unlock()
	for id, a := range acked {
		got, err := check.GetIntent(context.Background(), id)
		if err != nil {
			t.Fatalf("acknowledged intent %s lost: %v", id, err)
		}
		// A write may have been applied without its acknowledgement arriving: never behind.
		if got.Version < a.version || got.State["count"].(float64) < a.count {
			t.Fatalf("intent %s: version %d count %v, acknowledged %d / %v", id, got.Version, got.State["count"], a.version, a.count)
		}
	}
	// A create sent again to another replica with its Idempotency-Key was not made twice.
	titles := map[string]int{}
	for in, err := range check.Intents(context.Background(), openintent.ListIntentsParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		if titles[in.Title]++; titles[in.Title] > 1 {
			t.Fatalf("intent %q was created twice", in.Title)
		}
	}
	t.Logf("%d acknowledged writes on %d intents survived the kill of one replica of %d; %d requests sent again to another replica, %d of them found done with their response lost",
		total.Load(), len(acked), replicas, resent.Load(), lost.Load())
}

// waitUntil polls cond, failing the test after a generous bound (a guard against a hang).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
