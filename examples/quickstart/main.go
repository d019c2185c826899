// Command quickstart walks through the protocol's core against a running server: it creates an
// intent, works on it under a lease, updates its state with optimistic concurrency, logs events
// and completes it.
//
//	OPENINTENT_URL=http://localhost:8000 OPENINTENT_API_KEY=dev-user-key go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := openintent.NewClient(env("OPENINTENT_URL", "http://localhost:8000"),
		openintent.WithAPIKey(env("OPENINTENT_API_KEY", "dev-user-key")),
		openintent.WithAgentID("quickstart-agent"))
	if err != nil {
		return err
	}
	defer client.Close()

	doc, err := client.Discover(ctx)
	if err != nil {
		return fmt.Errorf("is the server running? %w", err)
	}
	fmt.Printf("server speaks %s %s\n", doc.Protocol, doc.Version)

	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{
		Title:       "Research market trends",
		Description: "Analyze Q4 market data and identify patterns",
		State:       openintent.Object{"progress": 0.0},
	})
	if err != nil {
		return err
	}
	fmt.Printf("created intent %s (version %d, %s)\n", intent.ID, intent.Version, intent.Status)

	if intent, err = client.SetStatus(ctx, intent.ID, intent.Version, openintent.StatusActive); err != nil {
		return err
	}

	// Work on the "analysis" scope under a lease: renewed in the background, always released.
	err = client.WithLease(ctx, intent.ID, "analysis", 30*time.Second, func(ctx context.Context, lease *openintent.Lease) error {
		fmt.Printf("holding lease %s on %q until %s\n", lease.ID, lease.Scope, lease.ExpiresAt.Format(time.RFC3339))
		if _, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": "Starting analysis"}); err != nil {
			return err
		}
		intent, err = client.UpdateState(ctx, intent.ID, intent.Version, openintent.Object{"progress": 0.5, "findings": []string{"demand is up"}})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("state at version %d: %v\n", intent.Version, intent.State)

	// A stale version is refused with a typed error.
	_, err = client.UpdateState(ctx, intent.ID, 1, openintent.Object{"progress": 0.9})
	var conflict *openintent.VersionConflictError
	if errors.As(err, &conflict) {
		fmt.Printf("stale write refused: current version is %d\n", conflict.CurrentVersion)
	} else if err != nil {
		return err
	}

	if intent, err = client.SetStatus(ctx, intent.ID, intent.Version, openintent.StatusCompleted); err != nil {
		return err
	}
	events, err := client.GetEvents(ctx, intent.ID, openintent.GetEventsParams{})
	if err != nil {
		return err
	}
	fmt.Printf("intent %s is %s after %d events:\n", intent.ID, intent.Status, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		fmt.Printf("  %s by %s\n", events[i].EventType, events[i].Actor)
	}
	return nil
}
