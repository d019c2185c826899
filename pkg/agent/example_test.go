package agent_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// runAgent runs a in the background until the returned stop is called, once it is ready.
func runAgent(a interface {
	Run(context.Context) error
	Ready() <-chan struct{}
}) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		log.Fatal(err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Fatal(err)
		}
	}
}

// waitCompleted waits until the intent is completed.
func waitCompleted(ctx context.Context, c *openintent.Client, intentID string) {
	for ev, err := range c.StreamIntentEvents(ctx, intentID, openintent.WithLastEventID("0")) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.EventType == openintent.EventStatusChanged && ev.Payload["status"] == string(openintent.StatusCompleted) {
			return
		}
	}
}

// An agent whose assignment handler summarises the intent it is given: the runtime registers it,
// takes a lease on each intent it is assigned, writes the handler's result into the intent's
// state and completes it.
func ExampleNew() {
	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	client, err := srv.NewClient("summariser")
	if err != nil {
		log.Fatal(err)
	}
	summariser := agent.New(client, "summariser",
		agent.Capabilities("summarise"),
		agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			words := strings.Fields(w.Intent.Description)
			return openintent.Object{"summary": strings.Join(words[:3], " ") + "..."}, nil
		}))
	stop := runAgent(summariser)
	defer stop()

	boss, err := srv.NewClient("boss")
	if err != nil {
		log.Fatal(err)
	}
	in, err := boss.CreateIntent(ctx, openintent.IntentCreate{Title: "Summarise the report", Status: openintent.StatusActive,
		Description: "Sales grew in every region except the north, where a new competitor opened."})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := boss.AssignAgent(ctx, in.ID, "summariser"); err != nil {
		log.Fatal(err)
	}
	waitCompleted(ctx, boss, in.ID)
	in, err = boss.GetIntent(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.Status, in.State["summary"])
	// Output: completed Sales grew in...
}

// A coordinator runs a plan of two intents, the second depending on the first, over two agents:
// the summariser starts once the research is complete and reads its result.
func ExampleCoordinator_Execute() {
	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newClient := func(id string) *openintent.Client {
		c, err := srv.NewClient(id)
		if err != nil {
			log.Fatal(err)
		}
		return c
	}

	researcher := agent.New(newClient("researcher"), "researcher", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			return openintent.Object{"findings": []any{"prices rose 3%", "demand fell 1%"}}, nil
		}))
	summariser := agent.New(newClient("summariser"), "summariser", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			research, err := w.Client().GetIntent(ctx, w.Intent.DependsOn[0])
			if err != nil {
				return nil, err
			}
			findings := research.State["findings"].([]any)
			return openintent.Object{"summary": fmt.Sprintf("%d findings, first: %v", len(findings), findings[0])}, nil
		}))
	defer runAgent(researcher)()
	defer runAgent(summariser)()

	coord := agent.NewCoordinator(newClient("lead"), "lead")
	res, err := coord.Execute(ctx, agent.PortfolioSpec{Name: "Market brief", Intents: []agent.IntentSpec{
		{Title: "Research", Assign: "researcher"},
		{Title: "Summarise", Assign: "summariser", DependsOn: []string{"Research"}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Portfolio.Status)
	fmt.Println(res.Intents["Summarise"].State["summary"])
	// Output:
	// completed
	// 2 findings, first: prices rose 3%
}

// A worker claims the tasks of the intents it is assigned to and reports their output.
func ExampleNewWorker() {
	srv, err := openintenttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	client, err := srv.NewClient("ocr-worker")
	if err != nil {
		log.Fatal(err)
	}
	worker := agent.NewWorker(client, "ocr-worker", func(ctx context.Context, w *agent.Work, task openintent.Task) (openintent.Object, error) {
		return openintent.Object{"text": fmt.Sprintf("text of %v", task.Input["page"])}, nil
	}, agent.Capabilities("ocr"))
	defer runAgent(worker)()

	boss, err := srv.NewClient("boss")
	if err != nil {
		log.Fatal(err)
	}
	in, err := boss.CreateIntent(ctx, openintent.IntentCreate{Title: "Digitise the archive", Status: openintent.StatusActive})
	if err != nil {
		log.Fatal(err)
	}
	task, err := boss.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "page 1", CapabilitiesRequired: []string{"ocr"},
		Input: openintent.Object{"page": 1}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := boss.AssignAgent(ctx, in.ID, "ocr-worker"); err != nil {
		log.Fatal(err)
	}
	for ev, err := range boss.StreamIntentEvents(ctx, in.ID, openintent.WithLastEventID("0")) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.EventType == "task.status_changed" && ev.Payload["to"] == "completed" {
			break
		}
	}
	task, err = boss.GetTask(ctx, task.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Status, *task.AssignedAgent, task.Output["text"])
	// Output: completed ocr-worker text of 1
}
