package openintent_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// Ask another agent a question on a channel (RFC-0021) and wait for its answer: the data agent
// follows the channel and replies to the requests addressed to it; the research agent's Ask
// sends a request and returns the reply as soon as it is sent (or fails at its context's
// deadline).
func ExampleClient_Ask() {
	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	newClient := func(agent string) *openintent.Client {
		c, err := openintent.NewClient(srv.URL, openintent.WithAPIKey(srv.APIKey), openintent.WithAgentID(agent))
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	researcher, dataAgent := newClient("research-agent"), newClient("data-agent")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	intent, err := researcher.CreateIntent(ctx, openintent.IntentCreate{Title: "Research Q1 financials"})
	if err != nil {
		log.Fatal(err)
	}
	ch, err := researcher.CreateChannel(ctx, intent.ID, openintent.ChannelCreate{Name: "data-clarification",
		Members: []string{"data-agent"}, MemberPolicy: openintent.MemberExplicit})
	if err != nil {
		log.Fatal(err)
	}

	// The data agent answers every request addressed to it.
	go func() {
		for m, err := range dataAgent.StreamChannelMessages(ctx, ch.ID, openintent.StreamChannelParams{After: "0"}) {
			if err != nil {
				return
			}
			if m.MessageType == openintent.MessageRequest && m.To != nil && *m.To == "data-agent" {
				dataAgent.ReplyTo(ctx, ch.ID, m.ID, openintent.ChannelReply{Payload: openintent.Object{"schema_version": "v2.3"}})
			}
		}
	}()

	askCtx, cancelAsk := context.WithTimeout(ctx, 30*time.Second)
	defer cancelAsk()
	reply, err := researcher.Ask(askCtx, ch.ID, "data-agent", openintent.Object{"question": "What schema version does the Q1 dataset use?"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Sender, "answered:", reply.Payload["schema_version"])

	request, err := researcher.GetMessage(ctx, ch.ID, *reply.CorrelationID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the request is", request.Status)
	// Output:
	// data-agent answered: v2.3
	// the request is replied
}
