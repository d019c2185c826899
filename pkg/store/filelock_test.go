package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/store"
)

// envOpener makes the test binary a process that opens the store file it names
// (TestFileStoreRefusesASecondProcess).
const envOpener = "OPENINTENT_TEST_STORE_OPEN"

// A file store is opened by one process at a time: a second process is refused, with the pid of
// the one holding it; once that one closes it, the second opens it.
func TestFileStoreRefusesASecondProcess(t *testing.T) {
	if path := os.Getenv(envOpener); path != "" {
		s, err := store.Open(context.Background(), path, store.Options{})
		if err != nil {
			fmt.Println("REFUSED:", err)
			return
		}
		s.Close()
		fmt.Println("OPENED")
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("no flock on windows")
	}
	path := filepath.Join(t.TempDir(), "s.db")
	second := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreRefusesASecondProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envOpener+"="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("second process: %v\n%s", err, out)
		}
		return string(out)
	}
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Another store of this process shares the lock (tests read through a second store).
	again, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("a second store of the same process: %v", err)
	}
	again.Close()
	out := second()
	if !strings.Contains(out, "REFUSED:") || !strings.Contains(out, fmt.Sprintf("in use by process %d", os.Getpid())) {
		t.Fatalf("a second process, while this one has the store open:\n%s", out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out := second(); !strings.Contains(out, "OPENED") {
		t.Fatalf("a second process, once this one closed the store:\n%s", out)
	}
	// And this one may open it again.
	s, err = store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
