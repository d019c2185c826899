package openintent_test

import (
	"context"
	"fmt"
	"log"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// Dispatch an intent to a peer server (RFC-0022). Two in-process servers are each other's
// federation peers: server A signs an envelope with its key and delivers it to server B, which
// checks the signature against A's published key and creates an intent of its own, assigned to
// its agent. When the agent completes it, B posts a signed callback, recorded on A's intent.
func ExampleClient_FederationDispatch() {
	servers, err := openintenttest.StartFederation(2)
	if err != nil {
		log.Fatal(err)
	}
	a, b := servers[0], servers[1]
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	alice, err := a.NewClient("alice")
	if err != nil {
		log.Fatal(err)
	}
	worker, err := b.NewClient("worker")
	if err != nil {
		log.Fatal(err)
	}

	// On B, the worker offers itself to federated peers.
	if _, err := worker.RegisterAgent(ctx, openintent.AgentRegistration{Capabilities: []string{"summaries"},
		Metadata: openintent.Object{"federation_visibility": "public"}}); err != nil {
		log.Fatal(err)
	}
	// On A, alice delegates her intent to B's worker.
	in, err := alice.CreateIntent(ctx, openintent.IntentCreate{Title: "Summarise the Q3 report", State: openintent.Object{"pages": 2}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := alice.FederationDispatch(ctx, openintent.FederationDispatchRequest{IntentID: in.ID, TargetServer: b.URL, AgentID: "worker"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("dispatch:", res.Status)

	// On B, the worker finds the intent and completes it.
	remote, err := worker.GetIntent(ctx, res.RemoteIntentID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("on B:", remote.Title, "-", remote.Status)
	if _, err := worker.SetStatus(ctx, remote.ID, remote.Version, openintent.StatusCompleted); err != nil {
		log.Fatal(err)
	}

	// On A, B's signed callback arrives as an event of alice's intent.
	for ev, err := range alice.StreamIntentEvents(ctx, in.ID, openintent.WithLastEventID("0")) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.EventType == openintent.EventFederationCompleted {
			delta, _ := ev.Payload["state_delta"].(map[string]any)
			fmt.Println("on A:", ev.EventType, "by B:", ev.Actor == b.Identity().DID(), "- status", delta["status"])
			break
		}
	}
	// Output:
	// dispatch: accepted
	// on B: Summarise the Q3 report - active
	// on A: federation.completed by B: true - status completed
}
