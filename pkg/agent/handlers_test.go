package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/server"
)

// The handlers of an agent assigned to an intent see what happens on it: comments (OnEvent),
// state changes, tasks, escalations, approvals granted and denied, access requests (decided by
// the handler), a released lease (taken and worked under), and the intent's completion.
func TestHandlersFollowTheAssignedIntent(t *testing.T) {
	srv := newServer(t)
	boss, approver, outsider := srv.Client(t, "boss"), srv.Client(t, "approver"), srv.Client(t, "outsider")
	seen := newCounter()
	var mu sync.Mutex
	notes := map[string]string{}
	note := func(k, v string) {
		mu.Lock()
		notes[k] = v
		mu.Unlock()
		seen.add(k)
	}
	a := agent.New(srv.Client(t, "observer"), "observer",
		agent.OnEvent(openintent.EventComment, func(ctx context.Context, w *agent.Work) error {
			note("comment", fmt.Sprint(w.Event.Payload["message"]))
			return nil
		}),
		agent.OnStateChange([]string{"progress"}, func(ctx context.Context, w *agent.Work) error {
			note("progress", fmt.Sprint(w.Intent.State["progress"]))
			return nil
		}),
		agent.OnStateChange([]string{"unrelated"}, func(ctx context.Context, w *agent.Work) error {
			note("unrelated", "called")
			return nil
		}),
		agent.OnTask(openintent.TaskPending, func(ctx context.Context, w *agent.Work, task openintent.Task) error {
			note("task", task.Name)
			return nil
		}),
		agent.OnEscalation(func(ctx context.Context, w *agent.Work, e openintent.Escalation) error {
			note("escalation", e.Reason)
			return nil
		}),
		agent.OnApprovalGranted(func(ctx context.Context, w *agent.Work, ap openintent.ApprovalRequest) error {
			note("granted", ap.Action)
			return nil
		}),
		agent.OnApprovalDenied(func(ctx context.Context, w *agent.Work, ap openintent.ApprovalRequest) error {
			note("denied", ap.Action)
			return nil
		}),
		agent.OnAccessRequested(func(ctx context.Context, w *agent.Work, req openintent.AccessRequest) (agent.AccessDecision, error) {
			note("access", req.PrincipalID)
			if strings.Contains(req.Reason, "please") {
				return agent.Approve, nil
			}
			return agent.Deny, nil
		}),
		agent.OnLeaseAvailable("review", func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			note("lease", w.Lease.Scope)
			return openintent.Object{"reviewed_by": "observer"}, nil
		}),
		agent.OnComplete(func(ctx context.Context, w *agent.Work) error {
			note("complete", string(w.Intent.Status))
			return nil
		}))
	start(t, a)
	ctx := testContext(t)
	in := newIntent(t, boss, "watched")
	// Deciding access requests takes admin permission on the intent.
	if _, err := boss.GrantAccess(ctx, in.ID, openintent.ACLEntryCreate{PrincipalID: "observer", Permission: openintent.PermissionAdmin}); err != nil {
		t.Fatal(err)
	}
	assign(t, boss, in.ID, "observer")

	if _, err := boss.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"message": "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := boss.UpdateState(ctx, in.ID, in.Version, openintent.Object{"progress": 0.5}); err != nil {
		t.Fatal(err)
	}
	if _, err := boss.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "collect"}); err != nil {
		t.Fatal(err)
	}
	if _, err := boss.CreateEscalation(ctx, in.ID, openintent.EscalationCreate{Reason: "stuck"}); err != nil {
		t.Fatal(err)
	}
	for _, grant := range []bool{true, false} {
		ap, err := boss.CreateApprovalRequest(ctx, in.ID, openintent.ApprovalRequestCreate{Action: fmt.Sprintf("deploy-%v", grant)})
		if err != nil {
			t.Fatal(err)
		}
		if grant {
			_, err = approver.ApproveApprovalRequest(ctx, in.ID, ap.ID, "ok")
		} else {
			_, err = approver.DenyApprovalRequest(ctx, in.ID, ap.ID, "no")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	req, err := outsider.RequestAccess(ctx, in.ID, openintent.AccessRequestCreate{RequestedPermission: "read", Reason: "please"})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := boss.AcquireLease(ctx, in.ID, "review", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := boss.ReleaseLease(ctx, in.ID, lease.ID); err != nil {
		t.Fatal(err)
	}
	seen.waitTotal(t, 8)
	waitEvent(t, boss, in.ID, func(ev openintent.IntentEvent) bool {
		return ev.EventType == openintent.EventStatePatched && ev.Actor == "observer"
	})
	cur, err := boss.GetIntent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boss.SetStatus(ctx, in.ID, cur.Version, openintent.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	seen.waitTotal(t, 9)

	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"comment": "hello", "progress": "0.5", "task": "collect", "escalation": "stuck", "granted": "deploy-true",
		"denied": "deploy-false", "access": "outsider", "lease": "review", "complete": "completed"}
	for k, v := range want {
		if notes[k] != v {
			t.Errorf("%s: got %q, want %q", k, notes[k], v)
		}
	}
	if _, ok := notes["unrelated"]; ok {
		t.Error("a state change handler was called for keys it does not watch")
	}
	reqs, err := boss.ListAccessRequests(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].ID != req.ID || reqs[0].Status != "approved" {
		t.Errorf("access requests %+v", reqs)
	}
	if cur.State["reviewed_by"] != "observer" {
		t.Errorf("the lease handler's result: %v", cur.State)
	}
}

// Workers claim the tasks they can do (capabilities, dependencies), each task runs once, a
// failed task is retried, and outputs are reported.
func TestWorkersClaimTasks(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	runs := newCounter()
	var mu sync.Mutex
	by := map[string]string{}
	work := func(id string) agent.TaskWorkFunc {
		return func(ctx context.Context, w *agent.Work, task openintent.Task) (openintent.Object, error) {
			runs.add(task.Name)
			mu.Lock()
			by[task.Name] = id
			mu.Unlock()
			if task.Name == "flaky" && task.Attempt == 1 {
				return nil, errors.New("first attempt fails")
			}
			return openintent.Object{"result": task.Name + " done", "input": task.Input["x"]}, nil
		}
	}
	in := newIntent(t, boss, "tasks")
	ctx := testContext(t)
	fetch, err := boss.CreateTask(ctx, openintent.TaskCreate{IntentID: in.ID, Name: "fetch", Input: openintent.Object{"x": 1}})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []*openintent.Task
	for _, tc := range []openintent.TaskCreate{
		{IntentID: in.ID, Name: "scan", CapabilitiesRequired: []string{"ocr"}},
		{IntentID: in.ID, Name: "summarise", DependsOn: []string{fetch.ID}},
		{IntentID: in.ID, Name: "flaky"},
	} {
		task, err := boss.CreateTask(ctx, tc)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	tasks = append(tasks, fetch)
	start(t, agent.NewWorker(srv.Client(t, "plain"), "plain", work("plain"), agent.Capabilities("text")).Agent)
	start(t, agent.NewWorker(srv.Client(t, "seer"), "seer", work("seer"), agent.Capabilities("text", "ocr")).Agent)
	assign(t, boss, in.ID, "plain")
	assign(t, boss, in.ID, "seer")
	for _, task := range tasks {
		waitEvent(t, boss, in.ID, func(ev openintent.IntentEvent) bool {
			return ev.EventType == "task.status_changed" && ev.Payload["task_id"] == task.ID && ev.Payload["to"] == "completed"
		})
	}
	for _, task := range tasks {
		got, err := boss.GetTask(testContext(t), task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != openintent.TaskCompleted || got.Output == nil || got.Output["result"] != task.Name+" done" {
			t.Errorf("%s: %s %v", task.Name, got.Status, got.Output)
		}
		want := 1
		if task.Name == "flaky" {
			want = 2
			if got.Attempt != 2 {
				t.Errorf("flaky: attempt %d", got.Attempt)
			}
		}
		if n := runs.get(task.Name); n != want {
			t.Errorf("%s ran %d times, want %d", task.Name, n, want)
		}
	}
	mu.Lock()
	if by["scan"] != "seer" {
		t.Errorf("scan was run by %s, not the worker with ocr", by["scan"])
	}
	mu.Unlock()
}

// A handler asks a human for input: the intent is suspended, OnInputRequested routes the
// question (here, answers it), OnInputReceived sees the answer, and the handler resumes with
// it — with one handler slot, which the waiting handler gives up.
func TestRequestInput(t *testing.T) {
	srv := newServer(t)
	boss, human := srv.Client(t, "boss"), srv.Client(t, "human")
	received := make(chan any, 1)
	a := agent.New(srv.Client(t, "asker"), "asker", agent.MaxConcurrency(1), agent.AutoComplete(),
		agent.OnInputRequested(func(ctx context.Context, w *agent.Work, s openintent.SuspensionRecord) error {
			if s.Question != "ship it?" {
				return fmt.Errorf("question %q", s.Question)
			}
			_, err := human.RespondToSuspension(ctx, w.Intent.ID, openintent.SuspensionAnswer{SuspensionID: s.ID, Value: "yes"})
			return err
		}),
		agent.OnInputReceived(func(ctx context.Context, w *agent.Work, answer openintent.InputResponse) error {
			received <- answer.Value
			return nil
		}),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			v, err := w.RequestInput(ctx, openintent.SuspensionCreate{Question: "ship it?", ResponseType: openintent.ResponseConfirm})
			if err != nil {
				return nil, err
			}
			return openintent.Object{"answer": v}, nil
		}))
	start(t, a)
	in := newIntent(t, boss, "release")
	assign(t, boss, in.ID, "asker")
	waitEvent(t, boss, in.ID, completed)
	got, err := boss.GetIntent(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["answer"] != "yes" {
		t.Fatalf("state %v", got.State)
	}
	select {
	case v := <-received:
		if v != "yes" {
			t.Errorf("OnInputReceived got %v", v)
		}
	case <-time.After(testTimeout):
		t.Fatal("OnInputReceived not called")
	}
}

// Agents talk on an intent's channel: one asks, the other's OnMessage handler answers.
func TestChannelAskAndOnMessage(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	start(t, agent.New(srv.Client(t, "oracle"), "oracle",
		agent.OnMessage("chat", func(ctx context.Context, w *agent.Work, m openintent.ChannelMessage) (openintent.Object, error) {
			return openintent.Object{"a": fmt.Sprintf("%v is 4", m.Payload["q"])}, nil
		})))
	start(t, agent.New(srv.Client(t, "asker"), "asker", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			actx, cancel := context.WithTimeout(ctx, testTimeout)
			defer cancel()
			reply, err := w.Channel("chat").Ask(actx, "oracle", openintent.Object{"q": "2+2"})
			if err != nil {
				return nil, err
			}
			return openintent.Object{"answer": reply.Payload["a"]}, nil
		})))
	in := newIntent(t, boss, "question")
	assign(t, boss, in.ID, "oracle")
	assign(t, boss, in.ID, "asker")
	waitEvent(t, boss, in.ID, completed)
	got, err := boss.GetIntent(testContext(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["answer"] != "2+2 is 4" {
		t.Fatalf("state %v", got.State)
	}
}

// An intent created by a trigger goes to the OnTrigger handler; a handler delegates to another
// agent, which takes over once the lease is released; memory persists across intents.
func TestTriggerDelegationAndMemory(t *testing.T) {
	srv := newServer(t)
	boss := srv.Client(t, "boss")
	start(t, agent.New(srv.Client(t, "lead"), "lead", agent.AutoComplete(),
		agent.OnTrigger("nightly", func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			n := 0
			if err := w.Memory().Get(ctx, "runs", &n); err != nil && !errors.Is(err, openintent.ErrNotFound) {
				return nil, err
			}
			n++
			if err := w.Memory().Put(ctx, "runs", n); err != nil {
				return nil, err
			}
			return openintent.Object{"run": n}, nil
		}),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			return openintent.Object{"handed_over": true}, w.Delegate(ctx, "helper", openintent.Object{"why": "busy"})
		})))
	start(t, agent.New(srv.Client(t, "helper"), "helper", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			return openintent.Object{"done_by": "helper"}, nil
		})))
	ctx := testContext(t)
	// The agent's own trigger: an agent reads the names of the triggers it owns.
	owner := srv.Client(t, "lead")
	trig, err := owner.CreateTrigger(ctx, openintent.TriggerCreate{Name: "nightly", Type: openintent.TriggerWebhook})
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		f, err := owner.FireTrigger(ctx, trig.ID)
		if err != nil {
			t.Fatal(err)
		}
		assign(t, boss, f.IntentID, "lead")
		waitEvent(t, boss, f.IntentID, completed)
		got, err := boss.GetIntent(ctx, f.IntentID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State["run"] != float64(run) || got.State["handed_over"] != nil {
			t.Fatalf("run %d: state %v", run, got.State)
		}
	}

	in := newIntent(t, boss, "busywork")
	assign(t, boss, in.ID, "lead")
	waitEvent(t, boss, in.ID, completed)
	got, err := boss.GetIntent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["done_by"] != "helper" || got.State["handed_over"] != true {
		t.Fatalf("state %v", got.State)
	}
	evs, err := boss.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventStatusChanged})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Actor != "helper" {
		t.Errorf("the intent was completed by %v", evs)
	}
}

// A handler calls a tool through the server's proxy under the agent's grant; the call is logged on
// the intent in the handler's trace.
func TestInvokeToolThroughGrant(t *testing.T) {
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var params map[string]any
		_ = json.NewDecoder(r.Body).Decode(&params)
		_ = json.NewEncoder(w).Encode(map[string]any{"hits": 2, "query": params["q"]})
	}))
	defer tool.Close()
	srv := newServer(t, openintenttest.WithToolProxy(server.ToolProxy{AllowPrivateNetworks: true}))
	boss := srv.Client(t, "boss")
	ctx := testContext(t)
	v, err := boss.CreateVault(ctx, openintent.VaultCreate{Name: "tools"})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := boss.CreateCredential(ctx, openintent.CredentialCreate{VaultID: v.ID, Service: "search", Label: "search",
		ScopesAvailable: []string{"web_search"}, Secret: map[string]any{"api_key": "k"}, Metadata: openintent.Object{"base_url": tool.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boss.CreateToolGrant(ctx, openintent.ToolGrantCreate{CredentialID: cred.ID, AgentID: "searcher", Scopes: []string{"web_search"}}); err != nil {
		t.Fatal(err)
	}
	start(t, agent.New(srv.Client(t, "searcher"), "searcher", agent.AutoComplete(),
		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
			res, err := w.InvokeTool(ctx, "web_search", openintent.Object{"q": w.Intent.Title})
			if err != nil {
				return nil, err
			}
			return openintent.Object{"hits": res.Result["hits"]}, nil
		})))
	in := newIntent(t, boss, "market trends")
	assign(t, boss, in.ID, "searcher")
	waitEvent(t, boss, in.ID, completed)
	got, err := boss.GetIntent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State["hits"] != float64(2) {
		t.Fatalf("state %v", got.State)
	}
	calls, err := boss.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventToolCallCompleted})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := boss.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: openintent.EventLeaseAcquired})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].Payload["tool_name"] != "web_search" || calls[0].TraceID == "" || calls[0].TraceID != leases[0].TraceID {
		t.Fatalf("tool call events %+v (the handler's trace %q)", calls, leases[0].TraceID)
	}
}
