package openintent_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// startServer runs an in-process server for the examples; real programs connect to theirs.
func startServer() (*openintenttest.Server, *openintent.Client) {
	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	client, err := openintent.NewClient(srv.URL,
		openintent.WithAPIKey(srv.APIKey),
		openintent.WithAgentID("research-agent"))
	if err != nil {
		log.Fatal(err)
	}
	return srv, client
}

// Create an intent, update its state with optimistic concurrency, log an event and read the log.
func Example() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()

	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{
		Title:       "Research market trends",
		Description: "Analyze Q4 market data and identify patterns",
	})
	if err != nil {
		log.Fatal(err)
	}
	intent, err = client.UpdateState(ctx, intent.ID, intent.Version, openintent.Object{"progress": 0.5})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": "Starting analysis"}); err != nil {
		log.Fatal(err)
	}
	events, err := client.GetEvents(ctx, intent.ID, openintent.GetEventsParams{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version:", intent.Version, "progress:", intent.State["progress"])
	for _, e := range events {
		fmt.Println(e.EventType)
	}
	// Output:
	// version: 2 progress: 0.5
	// comment
	// state_patched
	// intent_created
}

// Hold a lease on a scope while working; it is renewed in the background and always released.
func ExampleClient_WithLease() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Write the report"})
	if err != nil {
		log.Fatal(err)
	}
	err = client.WithLease(ctx, intent.ID, "analysis", 0, func(ctx context.Context, lease *openintent.Lease) error {
		fmt.Println("holding", lease.Scope, "as", lease.AgentID)
		_, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": "analysing"})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	leases, err := client.GetLeases(ctx, intent.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("afterwards:", leases[0].Status)
	// Output:
	// holding analysis as research-agent
	// afterwards: released
}

// A version conflict is a typed error carrying the current version.
func ExampleVersionConflictError() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Shared"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.UpdateState(ctx, intent.ID, intent.Version, openintent.Object{"a": 1}); err != nil {
		log.Fatal(err)
	}
	_, err = client.UpdateState(ctx, intent.ID, intent.Version, openintent.Object{"a": 2}) // stale
	var conflict *openintent.VersionConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict; current version is", conflict.CurrentVersion)
	}
	// Output:
	// conflict; current version is 2
}

// Increment a counter safely while other agents write the same intent.
func ExampleClient_ModifyState() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Counter", State: openintent.Object{"count": 0}})
	if err != nil {
		log.Fatal(err)
	}
	updated, err := client.ModifyState(ctx, intent.ID, openintent.ConflictBackoff{}, func(cur *openintent.Intent) ([]openintent.StatePatch, error) {
		n, _ := cur.State["count"].(float64)
		return []openintent.StatePatch{{Op: openintent.PatchSet, Path: "/count", Value: n + 1}}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("count:", updated.State["count"])
	// Output:
	// count: 1
}

// Iterate over every intent, page by page.
func ExampleClient_Intents() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	for _, title := range []string{"one", "two", "three"} {
		if _, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: title}); err != nil {
			log.Fatal(err)
		}
	}
	n := 0
	for _, err := range client.Intents(ctx, openintent.ListIntentsParams{Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "intents")
	// Output:
	// 3 intents
}
