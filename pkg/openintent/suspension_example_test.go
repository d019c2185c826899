package openintent_test

import (
	"context"
	"fmt"
	"log"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// An agent suspends an intent to ask a human (RFC-0025) and waits for the answer; an operator's
// client answers it, and the agent carries on with the chosen value.
func ExampleClient_RespondToSuspension() {
	srv, agent := startServer()
	defer srv.Close()
	operator, err := openintent.NewClient(srv.URL, openintent.WithAPIKey(srv.APIKey), openintent.WithAgentID("operator"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	intent, err := agent.CreateIntent(ctx, openintent.IntentCreate{Title: "Refund order 12345", Status: openintent.StatusActive})
	if err != nil {
		log.Fatal(err)
	}
	_, suspension, err := agent.Suspend(ctx, intent.ID, openintent.SuspensionCreate{
		Question: "Refund order 12345 (499.99 EUR)?",
		Choices: []openintent.SuspensionChoice{
			{Value: "approve", Label: "Approve refund", Description: "Full refund to the original payment method"},
			{Value: "deny", Label: "Deny refund"},
		},
		TimeoutSeconds: 3600,
		FallbackPolicy: openintent.FallbackCompleteWithFallback,
		FallbackValue:  "deny",
	})
	if err != nil {
		log.Fatal(err)
	}
	answered := make(chan *openintent.InputResponse)
	go func() {
		res, err := agent.WaitForInput(ctx, intent.ID, suspension.ID)
		if err != nil {
			log.Fatal(err)
		}
		answered <- res
	}()

	// The operator reads the question from the intent and answers it.
	pending, err := operator.GetIntent(ctx, intent.ID)
	if err != nil {
		log.Fatal(err)
	}
	question, _ := openintent.SuspensionOf(pending)
	fmt.Println(pending.Status, "-", question.Question)
	resolution, err := operator.RespondToSuspension(ctx, intent.ID, openintent.SuspensionAnswer{SuspensionID: question.ID, Value: "approve"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resolution.Resolution, "by", resolution.RespondedBy+":", resolution.ChoiceLabel)

	res := <-answered
	resumed, err := agent.GetIntent(ctx, intent.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the agent got", res.Value, "and the intent is", resumed.Status)
	// Output:
	// suspended_awaiting_input - Refund order 12345 (499.99 EUR)?
	// responded by operator: Approve refund
	// the agent got approve and the intent is active
}
