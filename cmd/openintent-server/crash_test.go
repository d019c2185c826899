package main_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// TestSIGKILLLosesNoAcknowledgedWrite kills the server in the middle of a write load on the file
// store, restarts it on the same file, and checks that every write a client saw acknowledged is
// there.
func TestSIGKILLLosesNoAcknowledgedWrite(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "openintent-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "crash.db")
	addr := freeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-addr", addr, "-db", db, "-api-keys", "crash-key")
		cmd.Stderr = os.Stderr
		if !testing.Verbose() {
			cmd.Stderr = nil
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, "http://"+addr)
		return cmd
	}
	srv := start()
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	c, err := openintent.NewClient("http://"+addr, openintent.WithAPIKey("crash-key"), openintent.WithAgentID("writer"),
		openintent.WithMaxRetries(0), openintent.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	type ack struct {
		id      string
		version int64
		count   float64
	}
	var mu sync.Mutex
	acked := map[string]ack{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: fmt.Sprintf("w%d-%d", w, i), State: openintent.Object{"count": 0}})
				if err != nil {
					return // the server died
				}
				mu.Lock()
				acked[in.ID] = ack{in.ID, in.Version, 0}
				mu.Unlock()
				for n := 1.0; n <= 3; n++ {
					up, err := c.UpdateState(ctx, in.ID, in.Version, openintent.Object{"count": n})
					if err != nil {
						return
					}
					in = up
					mu.Lock()
					acked[in.ID] = ack{in.ID, in.Version, n}
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}

	srv = start()
	for _, a := range acked {
		got, err := c.GetIntent(context.Background(), a.id)
		if err != nil {
			t.Fatalf("acknowledged intent %s lost: %v", a.id, err)
		}
		// A write may have been applied without its acknowledgement arriving: never behind.
		if got.Version < a.version || got.State["count"].(float64) < a.count {
			t.Fatalf("intent %s: version %d count %v, acknowledged %d / %v", a.id, got.Version, got.State["count"], a.version, a.count)
		}
	}
	// The restarted server takes writes again.
	if _, err := c.CreateIntent(context.Background(), openintent.IntentCreate{Title: "after restart"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged intents survived the kill", n)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	c, _ := openintent.NewClient(url, openintent.WithMaxRetries(0))
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Discover(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v", errors.Unwrap(err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
