package openintenttest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// Run a real server in the process, on a loopback port with an in-memory store, and talk to it
// with the SDK. In a test, NewServer(t) does the same, closes it when the test ends, and fails
// the test on any answer that does not match the protocol's spec.
func ExampleStart() {
	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.NewClient("research-agent")
	if err != nil {
		log.Fatal(err)
	}
	intent, err := client.CreateIntent(context.Background(), openintent.IntentCreate{Title: "Try the server"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(intent.Title, "created by", intent.CreatedBy, "at version", intent.Version)
	// Output:
	// Try the server created by research-agent at version 1
}

// Bind API keys to agents to check that one agent cannot act as another: a client with Alice's
// key naming Bob is refused.
func ExampleWithAPIKeys() {
	srv, err := openintenttest.Start(openintenttest.WithAPIKeys("alice-key=alice", "bob-key=bob"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	alice, err := srv.NewClient("alice") // srv.APIKey is the first key, Alice's
	if err != nil {
		log.Fatal(err)
	}
	if _, err := alice.CreateIntent(ctx, openintent.IntentCreate{Title: "Alice's"}); err != nil {
		log.Fatal(err)
	}
	impostor, err := srv.NewClient("bob")
	if err != nil {
		log.Fatal(err)
	}
	_, err = impostor.CreateIntent(ctx, openintent.IntentCreate{Title: "Bob's?"})
	var denied *openintent.PermissionError
	fmt.Println("refused:", errors.As(err, &denied), denied.Code)
	// Output:
	// refused: true agent_not_allowed
}

// clock is a time source the example moves forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Control the server's clock to test what depends on time, such as a lease expiring, without
// waiting for it.
func ExampleWithClock() {
	c := &clock{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	srv, err := openintenttest.Start(openintenttest.WithClock(c.Now))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	writer, err := srv.NewClient("writer")
	if err != nil {
		log.Fatal(err)
	}
	reviewer, err := srv.NewClient("reviewer")
	if err != nil {
		log.Fatal(err)
	}
	intent, err := writer.CreateIntent(ctx, openintent.IntentCreate{Title: "Draft"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := writer.AcquireLease(ctx, intent.ID, "text", time.Minute); err != nil {
		log.Fatal(err)
	}
	_, err = reviewer.AcquireLease(ctx, intent.ID, "text", time.Minute)
	fmt.Println("held by the writer:", errors.Is(err, openintent.ErrLeaseConflict))

	c.Advance(2 * time.Minute) // the writer's lease expires unrenewed
	lease, err := reviewer.AcquireLease(ctx, intent.ID, "text", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("now held by", lease.AgentID)
	// Output:
	// held by the writer: true
	// now held by reviewer
}
