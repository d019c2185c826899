package store

import (
	"context"
	"strconv"
	"testing"

	"github.com/openintent-go/openintent/gen/models"
)

func BenchmarkStoreCycleIdem(b *testing.B) {
	s, err := Open(context.Background(), Memory, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bg := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c1 := &IdempotencyClaim{Principal: "p", Key: "a" + strconv.Itoa(i), Method: "POST", Path: "/x", BodyHash: "h"}
		s.GetIdempotentResponse(bg, "p", c1.Key)
		in, err := s.CreateIntent(WithIdempotencyClaim(bg, c1), models.Intent{Title: "cycle", State: models.Object{"n": 0}}, "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		s.RecordIdempotentResponse(c1, 200, "application/json", make([]byte, 300))
		c2 := &IdempotencyClaim{Principal: "p", Key: "b" + strconv.Itoa(i), Method: "POST", Path: "/x", BodyHash: "h"}
		s.GetIdempotentResponse(bg, "p", c2.Key)
		if _, err := s.UpdateIntent(WithIdempotencyClaim(bg, c2), in.ID, in.Version, "bench", func(_ *Tx, in *models.Intent) (Change, error) {
			in.State["n"] = 1
			return Change{EventType: "state_patched"}, nil
		}); err != nil {
			b.Fatal(err)
		}
		s.RecordIdempotentResponse(c2, 200, "application/json", make([]byte, 300))
		if _, err := s.GetIntent(bg, in.ID); err != nil {
			b.Fatal(err)
		}
	}
}
