package openintent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Verify an intent's event log offline (RFC-0019): recompute every event's hash and link from
// the events themselves, check a checkpoint's signature, and check that one event is in the
// checkpoint with its inclusion proof, trusting nothing the server says but the bytes and its
// DID. The client here uses a service key, so it may also make the checkpoint.
func ExampleVerifyChain() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()

	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Audit me"})
	if err != nil {
		log.Fatal(err)
	}
	for _, note := range []string{"collected data", "ran the analysis"} {
		if _, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": note}); err != nil {
			log.Fatal(err)
		}
	}
	checkpoint, err := client.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: intent.ID})
	if err != nil {
		log.Fatal(err)
	}

	// The whole log, oldest first, and the server's DID.
	events, err := client.GetEvents(ctx, intent.ID, openintent.GetEventsParams{Limit: 1000})
	if err != nil {
		log.Fatal(err)
	}
	slices.Reverse(events)
	did, err := client.GetServerDIDDocument(ctx)
	if err != nil {
		log.Fatal(err)
	}

	report, err := openintent.VerifyChain(events, openintent.ChainCheck{
		Checkpoints: []openintent.LogCheckpoint{*checkpoint},
		Signer:      did.ID,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("events:", report.EventCount, "valid:", report.Valid, "checkpoints checked:", report.CheckpointsChecked)

	// One event's inclusion proof, as a third party would check it.
	proof, err := client.GetMerkleProof(ctx, checkpoint.ID, events[1].ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("proof:", openintent.VerifyInclusion(*proof, *checkpoint, &events[1]))

	// A rewritten event no longer verifies, at that event.
	events[1].Payload = openintent.Object{"note": "did nothing"}
	_, err = openintent.VerifyChain(events, openintent.ChainCheck{})
	var broken *openintent.ChainError
	if errors.As(err, &broken) {
		fmt.Println("rewritten event found:", broken.Breaks[0].EventID == events[1].ID, broken.Breaks[0].Reason)
	}
	// Output:
	// events: 3 valid: true checkpoints checked: 1
	// proof: <nil>
	// rewritten event found: true hash_mismatch
}
