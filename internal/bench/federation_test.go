package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// BenchmarkFederationDispatch: RFC-0022/0023 between two servers on loopback, each with its own
// in-memory store, each reading the other's key from its manifest (once, then cached).
//
// dispatch: one federation dispatch round trip through the SDK: server A reads the intent, signs
// the envelope (canonical JSON, Ed25519), stores the dispatch and posts the envelope to B, which
// verifies the signature, checks the replay window and the dispatch id, creates and assigns an
// intent and answers; A records the outcome. Interleaved with creating an intent on one server
// through the SDK (the baseline). Reported.
//
// callback: from B's agent completing its intent to A's intent stream delivering the
// federation.completed event: B's callback loop reads the status change, stores the callback,
// signs it and posts it; A verifies it and appends the event. Reported as callback-ms.
func BenchmarkFederationDispatch(b *testing.B) {
	servers, err := openintenttest.StartFederation(2, openintenttest.WithAPIKeys(key))
	if err != nil {
		b.Fatal(err)
	}
	a, peer := servers[0], servers[1]
	b.Cleanup(func() { a.Close(); peer.Close() })
	ctx := context.Background()
	alice, worker := sdk(b, a.URL, "alice"), sdk(b, peer.URL, "worker")
	if _, err := worker.RegisterAgent(ctx, openintent.AgentRegistration{Metadata: openintent.Object{"federation_visibility": "public"}}); err != nil {
		b.Fatal(err)
	}
	in, err := alice.CreateIntent(ctx, openintent.IntentCreate{Title: "federated", State: openintent.Object{"pages": 2}})
	if err != nil {
		b.Fatal(err)
	}
	dispatch := func(intentID string) *openintent.FederationDispatchResult {
		res, err := alice.FederationDispatch(ctx, openintent.FederationDispatchRequest{IntentID: intentID, TargetServer: peer.URL, AgentID: "worker"})
		if err != nil || res.Status != "accepted" {
			b.Fatal(res, err)
		}
		return res
	}
	dispatch(in.ID) // A reads B's key once, before measuring
	b.Run("dispatch", func(b *testing.B) {
		interleaved(b, func() {
			if _, err := alice.CreateIntent(ctx, openintent.IntentCreate{Title: "local", State: openintent.Object{"pages": 2}}); err != nil {
				b.Fatal(err)
			}
		}, func() { dispatch(in.ID) })
	})
	b.Run("callback", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			origin, err := alice.CreateIntent(ctx, openintent.IntentCreate{Title: "round trip"})
			if err != nil {
				b.Fatal(err)
			}
			res := dispatch(origin.ID)
			remote, err := worker.GetIntent(ctx, res.RemoteIntentID)
			if err != nil {
				b.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			events := alice.StreamIntentEvents(sctx, origin.ID, openintent.WithLastEventID("0"))
			t0 := time.Now()
			if _, err := worker.SetStatus(ctx, remote.ID, remote.Version, openintent.StatusCompleted); err != nil {
				b.Fatal(err)
			}
			for ev, err := range events {
				if err != nil {
					b.Fatal(err)
				}
				if ev.EventType == openintent.EventFederationCompleted {
					break
				}
			}
			total += time.Since(t0)
			cancel()
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "callback-ms")
	})
}
