package openintent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Register an agent's Ed25519 key: the client asks for a challenge, signs it with the private
// key (which never leaves the process) and completes the registration. The key's did:key DID
// is then the agent's portable identity.
func ExampleClient_RegisterIdentity() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()

	id, err := openintent.NewEd25519Identity() // keep id.Seed() to load it again
	if err != nil {
		log.Fatal(err)
	}
	registered, err := client.RegisterIdentity(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("agent:", registered.AgentID)
	fmt.Println("DID is the key's:", registered.Did == id.DID(), strings.HasPrefix(registered.Did, "did:key:z6Mk"))

	// Anyone can look the agent up by its key.
	rec, err := client.FindAgentByDID(ctx, id.DID())
	var nf *openintent.NotFoundError
	switch {
	case errors.As(err, &nf):
		fmt.Println("no agent record yet") // discovery returns agent records (RegisterAgent)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("found", rec.AgentID)
	}
	// Output:
	// agent: research-agent
	// DID is the key's: true true
	// no agent record yet
}

// Sign every event the client logs, then verify the log offline with the agent's identity as
// the server publishes it: a tampered event fails.
func ExampleWithEventSigner() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()

	id, err := openintent.NewEd25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.RegisterIdentity(ctx, id); err != nil {
		log.Fatal(err)
	}
	signing, err := openintent.NewClient(srv.URL, openintent.WithAPIKey(srv.APIKey),
		openintent.WithAgentID("research-agent"), openintent.WithEventSigner(id))
	if err != nil {
		log.Fatal(err)
	}
	intent, err := signing.CreateIntent(ctx, openintent.IntentCreate{Title: "Audited research"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := signing.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"finding": "Q4 up 12%"}); err != nil {
		log.Fatal(err)
	}

	// A third party: fetch the agent's identity and the log, check each signed event.
	who, err := client.GetIdentity(ctx, "research-agent")
	if err != nil {
		log.Fatal(err)
	}
	events, err := client.GetEvents(ctx, intent.ID, openintent.GetEventsParams{})
	if err != nil {
		log.Fatal(err)
	}
	for _, ev := range events {
		_, err := openintent.VerifyEvent(ev, who)
		fmt.Printf("%s: signed by the agent: %v\n", ev.EventType, err == nil)
		if err == nil {
			ev.Payload = openintent.Object{"finding": "Q4 down 12%"}
			_, err = openintent.VerifyEvent(ev, who)
			fmt.Println("tampered copy verifies:", err == nil)
		}
	}
	// Output:
	// comment: signed by the agent: true
	// tampered copy verifies: false
	// intent_created: signed by the agent: false
}

// Rotate to a new key: the old key signs the change, and stays in PreviousKeys so that what it
// signed remains verifiable.
func ExampleClient_RotateIdentity() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()

	old, _ := openintent.NewEd25519Identity()
	next, _ := openintent.NewEd25519Identity()
	if _, err := client.RegisterIdentity(ctx, old); err != nil {
		log.Fatal(err)
	}
	rotated, err := client.RotateIdentity(ctx, old, next)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("current key is the new one:", rotated.PublicKey == next.PublicKeyString())
	fmt.Println("previous keys:", len(rotated.PreviousKeys), rotated.PreviousKeys[0] == old.PublicKeyString())
	// Output:
	// current key is the new one: true
	// previous keys: 1 true
}
