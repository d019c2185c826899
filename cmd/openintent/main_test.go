package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/agent"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/workflow"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line against srv (nil: no server) with a clean environment.
func cli(t *testing.T, srv *openintenttest.Server, args ...string) result {
	t.Helper()
	return cliCtx(t, context.Background(), srv, nil, args...)
}

func cliCtx(t *testing.T, ctx context.Context, srv *openintenttest.Server, stdout *syncBuffer, args ...string) result {
	t.Helper()
	env := map[string]string{}
	if srv != nil {
		env["OPENINTENT_URL"], env["OPENINTENT_API_KEY"] = srv.URL, srv.APIKey
	}
	if stdout == nil {
		stdout = &syncBuffer{}
	}
	var stderr syncBuffer
	code := execute(ctx, args, strings.NewReader(""), stdout, &stderr, func(k string) string { return env[k] })
	return result{code, stdout.String(), stderr.String()}
}

func (r result) must(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	r := cli(t, nil, "validate", "../../examples/workflows/hello_world.yaml", "research_pipeline").must(t)
	if !strings.Contains(r.stdout, `hello_world.yaml: valid: workflow "Hello World", 2 phases, 2 agents`) ||
		!strings.Contains(r.stdout, `research_pipeline: valid: workflow "Research Pipeline", 3 phases`) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	bad := writeFile(t, "bad.yaml", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    inputs:\n      v: b.k\n")
	r = cli(t, nil, "validate", bad)
	if r.code != 1 || !strings.Contains(r.stdout, "bad.yaml:7: workflow.a.inputs: InputWiringError") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	r = cli(t, nil, "validate", "-o", "json", bad)
	var reports []struct {
		Valid  bool
		Errors []struct {
			Line  int
			Phase string
			Field string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil || len(reports) != 1 || reports[0].Valid ||
		reports[0].Errors[0].Line != 7 || reports[0].Errors[0].Phase != "a" || reports[0].Errors[0].Field != "inputs" {
		t.Errorf("json: %s (%v)", r.stdout, err)
	}
	warn := writeFile(t, "warn.yaml", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a: {assign: x}\n")
	cli(t, nil, "validate", warn).must(t)
	if r := cli(t, nil, "validate", "--strict", warn); r.code != 1 {
		t.Errorf("--strict with warnings: exit %d", r.code)
	}
	if r := cli(t, nil, "validate"); r.code != 2 {
		t.Errorf("validate without files: exit %d, want 2 (usage)", r.code)
	}
}

func TestNewAndList(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, nil, "new", "Quarterly Report", "--dir", dir).must(t)
	file := filepath.Join(dir, "quarterly_report.yaml")
	if !strings.Contains(r.stdout, "Created "+file) {
		t.Errorf("stdout: %s", r.stdout)
	}
	w, err := workflow.ParseFile(file)
	if err != nil || w.Info.Name != "Quarterly Report" || len(w.Phases) != 2 {
		t.Fatalf("starter: %v, %v", w, err)
	}
	if r := cli(t, nil, "new", "Quarterly Report", "--dir", dir); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second new: exit %d, %s", r.code, r.stderr)
	}
	cli(t, nil, "new", "copy", "--dir", dir, "--from", "compliance_review").must(t)
	if _, err := workflow.ParseFile(filepath.Join(dir, "copy.yaml")); err != nil {
		t.Error(err)
	}
	r = cli(t, nil, "list", "-o", "json").must(t)
	var samples []struct{ Sample, Name string }
	if err := json.Unmarshal([]byte(r.stdout), &samples); err != nil || len(samples) < 5 {
		t.Fatalf("list: %s, %v", r.stdout, err)
	}
}

// serveAgent runs a workflow agent until the test ends.
func serveAgent(t *testing.T, srv *openintenttest.Server, agent string, h workflow.PhaseHandler) {
	c := srv.Client(t, agent)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = workflow.ServePhases(ctx, c, h) }()
	t.Cleanup(func() { cancel(); <-done })
}

const twoPhase = `openintent: "1.0"
info: {name: Two agents, description: a two-phase workflow}
agents:
  writer: {description: writes}
  editor: {description: edits}
workflow:
  draft:
    description: write a draft
    assign: writer
    inputs: {subject: $trigger.subject}
    outputs: {text: string}
  edit:
    description: edit it
    assign: editor
    depends_on: [draft]
    inputs: {text: draft.text}
    outputs: {final: string, words: integer}
`

func TestRunTwoPhaseWorkflowWithTwoAgents(t *testing.T) {
	srv := newServer(t)
	serveAgent(t, srv, "writer", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		return openintent.Object{"text": "a draft about " + task.Input["subject"].(string)}, nil
	})
	serveAgent(t, srv, "editor", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		text := task.Input["text"].(string)
		return openintent.Object{"final": strings.ToUpper(text), "words": len(strings.Fields(text))}, nil
	})
	file := writeFile(t, "two.yaml", twoPhase)
	resultFile := filepath.Join(t.TempDir(), "result.json")
	r := cli(t, srv, "run", file, "--input", "subject=leases", "--result", resultFile, "--timeout", "60s").must(t)
	// Which stages a phase is seen in depends on how fast its agent is (a fast one goes from
	// pending to completed between two looks), so only the outcome is checked here; the lines
	// of each stage are TestStatusViewLines'.
	for _, want := range []string{"draft", "edit", "completed", `Workflow "Two agents" completed`, `"final":"A DRAFT ABOUT LEASES"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	var res runResult
	data, _ := os.ReadFile(resultFile)
	if err := json.Unmarshal(data, &res); err != nil || res.Status != "completed" || res.Outputs["edit"]["words"] != 4.0 {
		t.Fatalf("result file: %s (%v)", data, err)
	}
	// The portfolio and its intents are on the server.
	c := srv.Client(t, "reader")
	intents, _, err := c.GetPortfolioIntents(context.Background(), res.PortfolioID)
	if err != nil || len(intents) != 2 || intents[0].Status != openintent.StatusCompleted || intents[1].Status != openintent.StatusCompleted {
		t.Errorf("portfolio intents: %+v, %v", intents, err)
	}

	// --output json prints the result, progress goes nowhere.
	r = cli(t, srv, "run", file, "-i", "subject=x", "-o", "json", "-q").must(t)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Status != "completed" {
		t.Errorf("json: %s (%v)", r.stdout, err)
	}
}

func TestRunFailsNonZero(t *testing.T) {
	srv := newServer(t)
	serveAgent(t, srv, "writer", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		return openintent.Object{"text": 42}, nil // text is declared a string
	})
	file := writeFile(t, "two.yaml", twoPhase)
	r := cli(t, srv, "run", file, "-i", "subject=x", "--timeout", "60s")
	if r.code != 1 || !strings.Contains(r.stderr, "OutputTypeMismatchError") || !strings.Contains(r.stdout, "failed") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// A trigger value the workflow reads is missing: the first phase cannot be claimed.
	r = cli(t, srv, "run", file, "--timeout", "60s")
	if r.code != 1 || !strings.Contains(r.stderr, "UnresolvableInputError") {
		t.Errorf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	// A broken workflow never reaches the server.
	bad := writeFile(t, "bad.yaml", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a: {assign: x, depends_on: [b]}\n")
	r = cli(t, srv, "run", bad)
	if r.code != 1 || !strings.Contains(r.stderr, `bad.yaml:4: workflow.a.depends_on: phase "a" depends on unknown phase "b"`) {
		t.Errorf("exit %d\nstderr: %s", r.code, r.stderr)
	}
}

func TestRunDryRun(t *testing.T) {
	r := cli(t, nil, "run", "research_pipeline", "--dry-run", "-i", "topic=x").must(t)
	if !strings.Contains(r.stdout, "2. analysis (\"Analyze Findings\") -> analyst after research") ||
		!strings.Contains(r.stdout, "input finding <- research.top_finding") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = cli(t, nil, "run", "research_pipeline", "--dry-run", "-o", "json", "-i", "topic=x").must(t)
	var plan struct {
		Intents []struct {
			Phase string
			State map[string]any
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || len(plan.Intents) != 3 || plan.Intents[0].State["topic"] != "x" {
		t.Errorf("json plan: %s (%v)", r.stdout, err)
	}
}

func TestReadCommands(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	c := srv.Client(t, "alice")
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "Read me", Description: "for the CLI", State: openintent.Object{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssignAgent(ctx, in.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, in.ID, "analysis", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"note": "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterAgent(ctx, openintent.AgentRegistration{Capabilities: []string{"reading"}}); err != nil {
		t.Fatal(err)
	}

	r := cli(t, srv, "intents", "list").must(t)
	if !strings.Contains(r.stdout, in.ID) || !strings.Contains(r.stdout, "Read me") || !strings.HasPrefix(r.stdout, "ID") {
		t.Errorf("intents list:\n%s", r.stdout)
	}
	r = cli(t, srv, "intents", "list", "-o", "json", "--status", "draft").must(t)
	var list []openintent.Intent
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].ID != in.ID {
		t.Errorf("intents list json: %s (%v)", r.stdout, err)
	}
	r = cli(t, srv, "intents", "list", "-o", "json", "--status", "completed").must(t)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("no completed intents: %s", r.stdout)
	}
	r = cli(t, srv, "intents", "get", in.ID).must(t)
	if !strings.Contains(r.stdout, "status:      draft") || !strings.Contains(r.stdout, "agents:      alice") || !strings.Contains(r.stdout, `"k": "v"`) {
		t.Errorf("intents get:\n%s", r.stdout)
	}
	r = cli(t, srv, "intents", "get", in.ID, "-o", "json").must(t)
	var got struct {
		ID     string
		Agents []openintent.AgentAssignment
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ID != in.ID || len(got.Agents) != 1 {
		t.Errorf("intents get json: %s (%v)", r.stdout, err)
	}
	if r := cli(t, srv, "intents", "get", "01a00000-0000-7000-8000-000000000000"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("missing intent: exit %d, %s", r.code, r.stderr)
	}
	r = cli(t, srv, "events", "tail", in.ID, "--follow=false").must(t)
	if !strings.Contains(r.stdout, "intent_created") || !strings.Contains(r.stdout, "lease_acquired") || !strings.Contains(r.stdout, `{"note":"hello"}`) {
		t.Errorf("events:\n%s", r.stdout)
	}
	r = cli(t, srv, "events", "tail", in.ID, "--follow=false", "--type", "comment", "-o", "json").must(t)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"event_type":"comment"`) {
		t.Errorf("events json:\n%s", r.stdout)
	}
	r = cli(t, srv, "leases", in.ID).must(t)
	if !strings.Contains(r.stdout, "analysis") || !strings.Contains(r.stdout, "alice") || !strings.Contains(r.stdout, "active") {
		t.Errorf("leases:\n%s", r.stdout)
	}
	r = cli(t, srv, "leases", in.ID, "-o", "json").must(t)
	var leases []openintent.Lease
	if err := json.Unmarshal([]byte(r.stdout), &leases); err != nil || len(leases) != 1 || leases[0].Scope != "analysis" {
		t.Errorf("leases json: %s (%v)", r.stdout, err)
	}
	r = cli(t, srv, "agents").must(t)
	if !strings.Contains(r.stdout, "alice") || !strings.Contains(r.stdout, "reading") {
		t.Errorf("agents:\n%s", r.stdout)
	}
	r = cli(t, srv, "agents", "-o", "json", "--capability", "reading").must(t)
	var agents []openintent.AgentRecord
	if err := json.Unmarshal([]byte(r.stdout), &agents); err != nil || len(agents) != 1 || agents[0].AgentID != "alice" {
		t.Errorf("agents json: %s (%v)", r.stdout, err)
	}
	// A wrong key is reported, not a crash.
	r = cliCtx(t, ctx, srv, nil, "intents", "list", "--api-key", "wrong")
	if r.code != 1 || r.stderr == "" {
		t.Errorf("wrong key: exit %d, %s", r.code, r.stderr)
	}
}

// waitFor waits until cond holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEventsTailFollowsTheStream(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	c := srv.Client(t, "alice")
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "Tail me"})
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithCancel(ctx)
	out := &syncBuffer{}
	done := make(chan result, 1)
	go func() { done <- cliCtx(t, tctx, srv, out, "events", "tail", in.ID, "--from-start", "-o", "json") }()
	waitFor(t, "the replayed intent_created", func() bool { return strings.Contains(out.String(), "intent_created") })
	if _, err := c.LogEvent(ctx, in.ID, openintent.EventComment, openintent.Object{"n": 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new comment", func() bool { return strings.Contains(out.String(), `"event_type":"comment"`) })
	cancel()
	if r := <-done; r.code != 0 {
		t.Errorf("tail: exit %d, %s", r.code, r.stderr)
	}
}

func TestIntentsWatchEndsWhenTheIntentCompletes(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	c := srv.Client(t, "alice")
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "Watch me"})
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	done := make(chan result, 1)
	go func() { done <- cliCtx(t, ctx, srv, out, "intents", "watch", in.ID) }()
	waitFor(t, "the first line", func() bool { return strings.Contains(out.String(), "v1 draft (now)") })
	if in, err = c.SetStatus(ctx, in.ID, in.Version, openintent.StatusActive); err != nil {
		t.Fatal(err)
	}
	if _, err = c.SetStatus(ctx, in.ID, in.Version, openintent.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.stdout, "completed (status_changed by alice)") {
		t.Errorf("watch: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestMCPListTools(t *testing.T) {
	r := cli(t, nil, "mcp", "--list-tools", "--role", "reader", "-o", "json").must(t)
	var tools []struct{ Name, Tier string }
	if err := json.Unmarshal([]byte(r.stdout), &tools); err != nil || len(tools) < 20 {
		t.Fatalf("tools: %s (%v)", r.stdout, err)
	}
	for _, tool := range tools {
		if tool.Tier != "read" {
			t.Errorf("reader sees %s (%s)", tool.Name, tool.Tier)
		}
	}
	r = cli(t, nil, "mcp", "--list-tools", "--role", "admin", "--allow", "openintent_get_intent,openintent_set_status").must(t)
	if !strings.Contains(r.stdout, "openintent_set_status") || strings.Count(r.stdout, "openintent_") != 2 {
		t.Errorf("allow-list:\n%s", r.stdout)
	}
	if r := cli(t, nil, "mcp", "--role", "root"); r.code != 2 {
		t.Errorf("bad role: exit %d", r.code)
	}
	if r := cli(t, nil, "mcp", "--allow", "openintent_nothing"); r.code != 2 || !strings.Contains(r.stderr, "openintent_nothing") {
		t.Errorf("bad allow-list: exit %d %s", r.code, r.stderr)
	}
}

func TestUsageAndCompletion(t *testing.T) {
	if r := cli(t, nil, "intents", "get"); r.code != 2 {
		t.Errorf("missing argument: exit %d", r.code)
	}
	if r := cli(t, nil, "list", "--nope"); r.code != 2 {
		t.Errorf("unknown flag: exit %d", r.code)
	}
	if r := cli(t, nil, "list", "-o", "yaml"); r.code != 2 {
		t.Errorf("bad output: exit %d", r.code)
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := cli(t, nil, "completion", shell).must(t)
		if !strings.Contains(r.stdout, "openintent") {
			t.Errorf("%s completion: %.200s", shell, r.stdout)
		}
	}
}

// The same workflow run by agents of pkg/agent's runtime: their handlers read the phase's input
// with workflow.ClaimInputs and return its output, which the runtime merges into the intent's
// state before completing it.
func TestRunWithPkgAgentAgents(t *testing.T) {
	srv := newServer(t)
	start := func(id string, h func(in openintent.Object) openintent.Object) {
		c := srv.Client(t, id)
		a := agent.New(c, id, agent.AutoComplete(), agent.Logger(slog.New(slog.DiscardHandler)),
			agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
				in, err := workflow.ClaimInputs(ctx, c, w.Intent)
				if err != nil {
					return nil, err
				}
				return h(in), nil
			}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	start("writer", func(in openintent.Object) openintent.Object {
		return openintent.Object{"text": "notes on " + in["subject"].(string)}
	})
	start("editor", func(in openintent.Object) openintent.Object {
		return openintent.Object{"final": strings.ToUpper(in["text"].(string)), "words": 3}
	})
	file := writeFile(t, "two.yaml", twoPhase)
	r := cli(t, srv, "run", file, "-i", "subject=leases", "-o", "json", "--timeout", "60s").must(t)
	var res runResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Status != "completed" || res.Outputs["edit"]["final"] != "NOTES ON LEASES" {
		t.Fatalf("result: %s (%v)", r.stdout, err)
	}
	// The coordinator recorded its assignments as decisions (RFC-0013).
	c := srv.Client(t, "reader")
	recs, err := c.GetDecisions(context.Background(), res.IntentIDs["edit"])
	if err != nil || len(recs) == 0 {
		t.Errorf("decisions: %+v, %v", recs, err)
	}
}

func TestRunFailsWhenAttemptsAreUsedUp(t *testing.T) {
	srv := newServer(t)
	serveAgent(t, srv, "writer", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		return nil, errors.New("TIMEOUT: the model did not answer")
	})
	file := writeFile(t, "retry.yaml", `openintent: "1.0"
info: {name: Retry}
workflow:
  draft:
    description: d
    assign: writer
    retry: {max_attempts: 2, initial_delay_ms: 1, retryable_errors: [handler_error]}
`)
	r := cli(t, srv, "run", file, "--timeout", "60s")
	if r.code != 1 || !strings.Contains(r.stderr, "TIMEOUT: the model did not answer") || !strings.Contains(r.stderr, "after 2 failed attempt") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// newServer starts a test server: on the in-memory store, or on a SQLite file store when
// OPENINTENT_TEST_STORE=file (as the server's own tests).
func newServer(t *testing.T) *openintenttest.Server {
	t.Helper()
	if os.Getenv("OPENINTENT_TEST_STORE") == "file" {
		return openintenttest.NewServer(t, openintenttest.WithStoreFile(filepath.Join(t.TempDir(), "openintent.db")))
	}
	return openintenttest.NewServer(t)
}
