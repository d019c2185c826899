package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Commits reach the database file through background checkpoints, well before the WAL grows to
// the size at which the writer would checkpoint by itself.
func TestBackgroundCheckpointsCopyTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openFile(t, path)
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	before := size(path)
	for range 2 * store.CheckpointEvery {
		if _, err := s.CreateIntent(context.Background(), models.Intent{Title: "x"}, "agent", nil); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); size(path) <= before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes (WAL %d bytes): no checkpoint ran", size(path), size(path+"-wal"))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := openFile(t, path)
	if page, total, err := again.ListIntents(context.Background(), store.IntentQuery{Limit: 1}); err != nil || total != 2*store.CheckpointEvery || len(page) != 1 {
		t.Fatalf("after reopening: %d intents, %v", total, err)
	}
}
