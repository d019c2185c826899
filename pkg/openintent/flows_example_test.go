package openintent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Follow an intent's events as they are appended. WithStreamReady says when the stream is live,
// so the program logs its events after that, without sleeping, and the stream delivers them all.
func ExampleClient_StreamIntentEvents() {
	srv, client := startServer()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Watched"})
	if err != nil {
		log.Fatal(err)
	}

	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range client.StreamIntentEvents(ctx, intent.ID, openintent.WithStreamReady(func() { close(ready) })) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(ev.EventType, ev.Payload["note"])
			if ev.EventType == openintent.EventComment && ev.Payload["note"] == "done" {
				return
			}
		}
	}()
	<-ready
	for _, note := range []string{"started", "done"} {
		if _, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": note}); err != nil {
			log.Fatal(err)
		}
	}
	<-done
	// Output:
	// comment started
	// comment done
}

// Pull events from a queue instead of ranging over a stream (the Python SDK's
// create_event_queue): Next waits for the next event, up to its context's deadline.
func ExampleClient_CreateEventQueue() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Queued"})
	if err != nil {
		log.Fatal(err)
	}
	ready := make(chan struct{})
	q, err := client.CreateEventQueue(ctx, openintent.EventSource{IntentID: intent.ID}, openintent.WithStreamReady(func() { close(ready) }))
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	<-ready
	if _, err := client.UpdateState(ctx, intent.ID, intent.Version, openintent.Object{"step": 1}); err != nil {
		log.Fatal(err)
	}
	next, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ev, err := q.Next(next)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.EventType)
	// Output:
	// state_patched
}

// Receive an intent's events by webhook: subscribe with a secret, and check each delivery's
// signature with VerifyWebhook before trusting it. A delivery that is not signed with the
// secret is refused.
func ExampleVerifyWebhook() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	const secret = "a secret shared with the server"

	deliveries := make(chan *openintent.Webhook, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook, err := openintent.VerifyWebhook(r, secret, 0)
		if err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		deliveries <- hook
	}))
	defer receiver.Close()

	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Notify me"})
	if err != nil {
		log.Fatal(err)
	}
	sub, err := client.Subscribe(ctx, openintent.SubscriptionCreate{IntentID: intent.ID,
		EventTypes: []openintent.EventType{openintent.EventComment}, WebhookURL: receiver.URL, Secret: secret})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.LogEvent(ctx, intent.ID, openintent.EventComment, openintent.Object{"note": "hello"}); err != nil {
		log.Fatal(err)
	}
	select {
	case hook := <-deliveries:
		fmt.Println("delivered:", hook.Event.EventType, hook.Event.Payload["note"], hook.SubscriptionID == sub.ID)
	case <-time.After(10 * time.Second):
		log.Fatal("no delivery")
	}

	forged := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"subscription_id":"x"}`))
	forged.Header.Set("X-OpenIntent-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	forged.Header.Set("X-OpenIntent-Signature", "sha256=00")
	_, err = openintent.VerifyWebhook(forged, secret, 0)
	fmt.Println("forged:", errors.Is(err, openintent.ErrInvalidSignature))
	// Output:
	// delivered: comment hello true
	// forged: true
}

// Log an LLM call and a tool call it makes (RFC-0008): StartLLMRequest and StartToolCall time
// them and link their events through one trace; the tool call, run in the request's context, is
// the request's child.
func ExampleClient_StartLLMRequest() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Answer a question"})
	if err != nil {
		log.Fatal(err)
	}

	req, err := client.StartLLMRequest(ctx, intent.ID, openintent.LLMRequestPayload{Provider: "openai", Model: "gpt-4o", MessagesCount: 2})
	if err != nil {
		log.Fatal(err)
	}
	tool, err := client.StartToolCall(req.Context(ctx), intent.ID, openintent.ToolCallPayload{ToolName: "web_search",
		Arguments: openintent.Object{"query": "Q4 market trends"}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tool.Complete(ctx, openintent.Object{"results": 3}); err != nil {
		log.Fatal(err)
	}
	done, err := req.Complete(ctx, openintent.LLMResult{ResponseContent: "Demand grew 4%.", FinishReason: "stop",
		PromptTokens: 120, CompletionTokens: 30})
	if err != nil {
		log.Fatal(err)
	}

	events, err := client.GetEvents(ctx, intent.ID, openintent.GetEventsParams{})
	if err != nil {
		log.Fatal(err)
	}
	slices.Reverse(events)          // oldest first
	for _, ev := range events[1:] { // after intent_created
		fmt.Println(ev.EventType, "same trace:", ev.TraceID == req.Started.TraceID)
	}
	fmt.Println("tool call's parent is the request:", tool.Started.ParentEventID == req.Started.ID)
	fmt.Println("total tokens:", done.Payload["total_tokens"])
	// Output:
	// llm_request_started same trace: true
	// tool_call_started same trace: true
	// tool_call_completed same trace: true
	// llm_request_completed same trace: true
	// tool call's parent is the request: true
	// total tokens: 150
}

// Break an intent into tasks and order them in a plan (RFC-0012); the server enforces each
// task's lifecycle and guards every change with its version.
func ExampleClient_CreatePlan() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Quarterly report"})
	if err != nil {
		log.Fatal(err)
	}
	collect, err := client.CreateTask(ctx, openintent.TaskCreate{IntentID: intent.ID, Name: "Collect sources"})
	if err != nil {
		log.Fatal(err)
	}
	write, err := client.CreateTask(ctx, openintent.TaskCreate{IntentID: intent.ID, Name: "Write", DependsOn: []string{collect.ID}})
	if err != nil {
		log.Fatal(err)
	}
	plan, err := client.CreatePlan(ctx, openintent.PlanCreate{IntentID: intent.ID, Tasks: []string{collect.ID, write.ID}})
	if err != nil {
		log.Fatal(err)
	}
	if plan, err = client.UpdatePlan(ctx, plan.ID, plan.Version, openintent.PlanUpdate{State: openintent.PlanActive}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("plan:", plan.State, len(plan.Tasks), "tasks")

	task := collect
	for _, status := range []openintent.TaskStatus{openintent.TaskClaimed, openintent.TaskRunning, openintent.TaskCompleted} {
		if task, err = client.UpdateTask(ctx, task.ID, task.Version, openintent.TaskUpdate{Status: status}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(task.Name+":", task.Status)
	_, err = client.UpdateTask(ctx, task.ID, task.Version, openintent.TaskUpdate{Status: openintent.TaskRunning})
	var conflict *openintent.ConflictError
	fmt.Println("a completed task stays completed:", errors.As(err, &conflict))
	// Output:
	// plan: active 2 tasks
	// Collect sources: completed
	// a completed task stays completed: true
}

// Remember typed values across runs (RFC-0015): PutMemoryValue creates or replaces the agent's
// entry under a namespace and key; GetMemoryValue decodes it.
func ExamplePutMemoryValue() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	type preferences struct {
		Format string   `json:"format"`
		Pages  int      `json:"pages"`
		Topics []string `json:"topics"`
	}
	if _, err := openintent.PutMemoryValue(ctx, client, "reports", "preferences", preferences{Format: "pdf", Pages: 4}); err != nil {
		log.Fatal(err)
	}
	if _, err := openintent.PutMemoryValue(ctx, client, "reports", "preferences", preferences{Format: "html", Pages: 6, Topics: []string{"q4"}}); err != nil {
		log.Fatal(err)
	}
	if _, err := openintent.PutMemoryValue(ctx, client, "reports", "runs", 3); err != nil {
		log.Fatal(err)
	}
	prefs, err := openintent.GetMemoryValue[preferences](ctx, client, "reports", "preferences")
	if err != nil {
		log.Fatal(err)
	}
	runs, err := openintent.GetMemoryValue[int](ctx, client, "reports", "runs")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v, %d runs\n", prefs, runs)
	_, err = openintent.GetMemoryValue[int](ctx, client, "reports", "missing")
	fmt.Println("missing:", errors.Is(err, openintent.ErrNotFound))
	// Output:
	// {Format:html Pages:6 Topics:[q4]}, 3 runs
	// missing: true
}

// Create intents from a trigger (RFC-0017): a webhook trigger fires when called (FireTrigger
// here), filling its intent template; with deduplication `skip`, a firing while the intent it
// created is still open is skipped.
func ExampleClient_FireTrigger() {
	srv, client := startServer()
	defer srv.Close()
	ctx := context.Background()
	trigger, err := client.CreateTrigger(ctx, openintent.TriggerCreate{Name: "incident", Type: openintent.TriggerWebhook,
		Deduplication:  openintent.DedupSkip,
		IntentTemplate: map[string]any{"title": "Incident {{ trigger.fire_count }}"}})
	if err != nil {
		log.Fatal(err)
	}
	first, err := client.FireTrigger(ctx, trigger.ID)
	if err != nil {
		log.Fatal(err)
	}
	intent, err := client.GetIntent(ctx, first.IntentID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.Status, intent.Title)
	again, err := client.FireTrigger(ctx, trigger.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("while it is open:", again.Status)
	// Output:
	// fired Incident 1
	// while it is open: skipped
}
