// Command agents is a small multi-agent program built on pkg/agent: a coordinator runs a plan of
// two intents, research then summarise, over three agents.
//
//   - The researcher researches a topic (an LLM call, logged on the intent; here a canned
//     answer, so that the example runs offline).
//   - The summariser starts once the research is complete (the coordinator releases it), brings
//     the fact-checker onto its intent, asks it on the intent's channel which finding to lead
//     with, and writes the summary.
//   - The fact-checker has no work of its own: it answers questions on the channels of the
//     intents it is assigned to.
//
// Every step is recorded on the intents' logs, in one trace per intent. Run it with `make
// example-agents`: against the server at OPENINTENT_URL (with OPENINTENT_API_KEY, a service key
// that may act as any agent), or, without it, against an embedded server on a temporary SQLite
// file.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// notes stands in for a model: what the researcher "finds" about a topic.
var notes = map[string][]string{
	"solar power": {
		"panel prices fell 90% in a decade",
		"storage is now the bottleneck",
		"installations doubled in two years",
	},
}

func main() {
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, key := os.Getenv("OPENINTENT_URL"), os.Getenv("OPENINTENT_API_KEY")
	if url == "" {
		dir, err := os.MkdirTemp("", "openintent-agents")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		srv, err := openintenttest.Start(openintenttest.WithStoreFile(filepath.Join(dir, "openintent.db")))
		if err != nil {
			return err
		}
		defer srv.Close()
		url, key = srv.URL, srv.APIKey
		fmt.Printf("embedded server at %s (store %s)\n", url, filepath.Join(dir, "openintent.db"))
	}
	client := func(id string) (*openintent.Client, error) {
		return openintent.NewClient(url, openintent.WithAPIKey(key), openintent.WithAgentID(id))
	}

	researcherClient, err := client("researcher")
	if err != nil {
		return err
	}
	researcher := agent.New(researcherClient, "researcher",
		agent.Capabilities("research"),
		agent.AutoComplete(),
		agent.OnAssignment(research))
	summariserClient, err := client("summariser")
	if err != nil {
		return err
	}
	summariser := agent.New(summariserClient, "summariser",
		agent.Capabilities("summarise"),
		agent.AutoComplete(),
		agent.OnAssignment(summarise))
	checkerClient, err := client("fact-checker")
	if err != nil {
		return err
	}
	checker := agent.New(checkerClient, "fact-checker",
		agent.Capabilities("fact-check"),
		agent.OnMessage("questions", answer))

	stopAll := []func() error{}
	defer func() {
		for _, stop := range slices.Backward(stopAll) {
			if err := stop(); err != nil {
				log.Print(err)
			}
		}
	}()
	for _, a := range []*agent.Agent{researcher, summariser, checker} {
		stop, err := start(a)
		if err != nil {
			return err
		}
		stopAll = append(stopAll, stop)
	}

	leadClient, err := client("lead")
	if err != nil {
		return err
	}
	lead := agent.NewCoordinator(leadClient, "lead",
		agent.OnAllComplete(func(ctx context.Context, r *agent.PortfolioResult) error {
			fmt.Printf("lead: all %d intents complete\n", len(r.Intents))
			return nil
		}))
	fmt.Println("lead: executing the plan research -> summarise")
	res, err := lead.Execute(ctx, agent.PortfolioSpec{Name: "Brief on solar power", Intents: []agent.IntentSpec{
		{Title: "Research", Assign: "researcher", Description: "solar power"},
		{Title: "Summarise", Assign: "summariser", DependsOn: []string{"Research"}},
	}})
	if err != nil {
		return err
	}

	fmt.Printf("\nsummary: %s\n", res.Intents["Summarise"].State["summary"])
	for _, title := range []string{"Research", "Summarise"} {
		in := res.Intents[title]
		evs, err := leadClient.GetEvents(ctx, in.ID, openintent.GetEventsParams{})
		if err != nil {
			return err
		}
		fmt.Printf("\n%s's log (oldest first):\n", title)
		for _, ev := range slices.Backward(evs) {
			fmt.Printf("  %-24s by %-10s trace %.8s\n", ev.EventType, ev.Actor, ev.TraceID)
		}
	}
	return nil
}

// start runs an agent until the returned stop is called (which drains it).
func start(a *agent.Agent) (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
		fmt.Printf("%s: running\n", a.ID())
	case err := <-done:
		cancel()
		return nil, err
	}
	return func() error {
		cancel()
		err := <-done
		fmt.Printf("%s: drained and deregistered\n", a.ID())
		return err
	}, nil
}

// research is the researcher's assignment handler: one (simulated) LLM call, logged on the
// intent, whose findings become the intent's state.
func research(ctx context.Context, w *agent.Work) (openintent.Object, error) {
	topic := w.Intent.Description
	fmt.Printf("researcher: researching %q\n", topic)
	call, err := w.StartLLMRequest(ctx, openintent.LLMRequestPayload{Provider: "offline", Model: "notes-1", MessagesCount: 1})
	if err != nil {
		return nil, err
	}
	found, ok := notes[topic]
	if !ok {
		_, _ = call.Fail(ctx, errors.New("no notes on the topic"))
		return nil, agent.Permanent(fmt.Errorf("nothing known about %q", topic))
	}
	if _, err := call.Complete(ctx, openintent.LLMResult{ResponseContent: strings.Join(found, "; "), PromptTokens: 12, CompletionTokens: 30}); err != nil {
		return nil, err
	}
	findings := make([]any, len(found))
	for i, f := range found {
		findings[i] = f
	}
	return openintent.Object{"topic": topic, "findings": findings}, nil
}

// summarise is the summariser's assignment handler: it reads the research it depends on, asks
// the fact-checker which finding to lead with, and writes the summary.
func summarise(ctx context.Context, w *agent.Work) (openintent.Object, error) {
	if len(w.Intent.DependsOn) == 0 {
		return nil, agent.Permanent(errors.New("nothing to summarise"))
	}
	research, err := w.Client().GetIntent(ctx, w.Intent.DependsOn[0])
	if err != nil {
		return nil, err
	}
	findings, _ := research.State["findings"].([]any)
	fmt.Printf("summariser: summarising %d findings\n", len(findings))
	if _, err := w.Client().AssignAgent(ctx, w.Intent.ID, "fact-checker"); err != nil {
		return nil, err
	}
	askCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reply, err := w.Channel("questions").Ask(askCtx, "fact-checker", openintent.Object{"question": "which finding should lead?", "findings": findings})
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("%s: %d findings; above all, %v.", research.State["topic"], len(findings), reply.Payload["lead"])
	return openintent.Object{"summary": summary}, nil
}

// answer is the fact-checker's OnMessage handler: the finding that holds up best.
func answer(ctx context.Context, w *agent.Work, m openintent.ChannelMessage) (openintent.Object, error) {
	fmt.Printf("fact-checker: asked %q by %s on %q\n", m.Payload["question"], m.Sender, w.Intent.Title)
	findings, _ := m.Payload["findings"].([]any)
	if len(findings) < 2 {
		return openintent.Object{"lead": "nothing checks out"}, nil
	}
	return openintent.Object{"lead": findings[1]}, nil
}
