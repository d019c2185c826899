package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/pgtest"
)

// BenchmarkStoreCycle measures the store's share of the server's create + update + get cycle.
func BenchmarkStoreCycle(b *testing.B) {
	for _, name := range []string{"memory", "file", "postgres"} {
		b.Run(name, func(b *testing.B) {
			path := Memory
			switch name {
			case "file":
				path = filepath.Join(b.TempDir(), "s.db")
			case "postgres":
				path = pgtest.URL(b)
			}
			s, err := Open(context.Background(), path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				in, err := s.CreateIntent(ctx, models.Intent{Title: "cycle", State: models.Object{"n": 0}}, "bench", nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.UpdateIntent(ctx, in.ID, in.Version, "bench", func(_ *Tx, in *models.Intent) (Change, error) {
					in.State["n"] = 1
					return Change{EventType: "state_patched"}, nil
				}); err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetIntent(ctx, in.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
