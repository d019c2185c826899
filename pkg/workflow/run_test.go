package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/workflow"
)

// serve runs ServePhases for agent until the test ends.
func serve(t *testing.T, srv *openintenttest.Server, agent string, h workflow.PhaseHandler) {
	t.Helper()
	c := srv.Client(t, agent)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = workflow.ServePhases(ctx, c, h)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func mustParse(t *testing.T, src string) *workflow.Workflow {
	t.Helper()
	w, err := workflow.Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return w
}

func runCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const twoPhases = `
openintent: "1.0"
info: {name: Two phases, description: research then summarize}
workflow:
  research:
    description: research
    assign: researcher
    inputs:
      topic: $trigger.topic
    outputs:
      findings: string
      count: integer
  summarize:
    description: summarize
    assign: summarizer
    depends_on: [research]
    inputs:
      text: research.findings
    outputs:
      summary: string
`

func TestRunTwoPhasesWithTwoAgents(t *testing.T) {
	srv := newServer(t)
	serve(t, srv, "researcher", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		return openintent.Object{"findings": "notes on " + task.Input["topic"].(string), "count": 3}, nil
	})
	var got openintent.Object
	var mu sync.Mutex
	serve(t, srv, "summarizer", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		mu.Lock()
		got = task.Input
		mu.Unlock()
		return openintent.Object{"summary": "short: " + task.Input["text"].(string)}, nil
	})
	w := mustParse(t, twoPhases)
	var stages []string
	res, err := w.Run(runCtx(t), srv.Client(t, "coordinator"), workflow.RunOptions{
		Trigger: openintent.Object{"topic": "leases"},
		Progress: func(p workflow.Progress) {
			var s []string
			for _, ph := range p.Phases {
				s = append(s, ph.Phase+"="+string(ph.Stage))
			}
			stages = append(stages, strings.Join(s, ","))
		},
	})
	if err != nil {
		t.Fatalf("run: %v (progress %q)", err, stages)
	}
	if s := res.Outputs["summarize"]["summary"]; s != "short: notes on leases" {
		t.Fatalf("summary = %v; outputs %v", s, res.Outputs)
	}
	mu.Lock()
	if got["text"] != "notes on leases" || len(got) != 1 {
		t.Errorf("summarizer's input = %v, want exactly {text: notes on leases}", got)
	}
	mu.Unlock()
	if last := stages[len(stages)-1]; last != "research=completed,summarize=completed" {
		t.Errorf("last progress = %q", last)
	}
	pf, err := srv.Client(t, "coordinator").GetPortfolio(context.Background(), res.PortfolioID)
	if err != nil || pf.Status != "completed" {
		t.Errorf("portfolio = %+v, %v; want completed", pf, err)
	}
}

func TestRunFailsWithMissingOutput(t *testing.T) {
	srv := newServer(t)
	serve(t, srv, "researcher", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		return openintent.Object{"findings": "no count"}, nil // count is declared and missing
	})
	serve(t, srv, "summarizer", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		t.Error("summarize must not start")
		return nil, nil
	})
	w := mustParse(t, twoPhases)
	c := srv.Client(t, "coordinator")
	res, err := w.Run(runCtx(t), c, workflow.RunOptions{Trigger: openintent.Object{"topic": "x"}})
	var missing *workflow.MissingOutputError
	if !errors.As(err, &missing) || missing.PhaseName != "research" || fmt.Sprint(missing.MissingKeys) != "[count]" {
		t.Fatalf("err = %v, want MissingOutputError for research.count", err)
	}
	// The rejection is on the intent's log, with the RFC's payload.
	fs, err := c.ListFailures(context.Background(), res.IntentIDs["research"])
	if err != nil || len(fs) == 0 || fs[0].ErrorType != "MissingOutputError" || fs[0].Metadata["missing_keys"] == nil {
		t.Fatalf("failures = %+v, %v", fs, err)
	}
	in, _ := c.GetIntent(context.Background(), res.IntentIDs["research"])
	if in.Status == openintent.StatusCompleted {
		t.Errorf("research completed despite breaking its contract")
	}
}

func TestRunFailsWithUnresolvableTrigger(t *testing.T) {
	srv := newServer(t)
	w := mustParse(t, twoPhases)
	_, err := w.Run(runCtx(t), srv.Client(t, "coordinator"), workflow.RunOptions{}) // no topic
	var unres *workflow.UnresolvableInputError
	if !errors.As(err, &unres) || fmt.Sprint(unres.UnresolvableRefs) != "[$trigger.topic]" {
		t.Fatalf("err = %v, want UnresolvableInputError for $trigger.topic", err)
	}
}

func TestRunRetriesThenFallsBack(t *testing.T) {
	srv := newServer(t)
	var mu sync.Mutex
	attempts := map[string][]int{}
	serve(t, srv, "flaky", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		mu.Lock()
		attempts["flaky"] = append(attempts["flaky"], task.Attempt)
		mu.Unlock()
		return nil, errors.New("TIMEOUT: upstream did not answer")
	})
	serve(t, srv, "backup", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		mu.Lock()
		attempts["backup"] = append(attempts["backup"], task.Attempt)
		mu.Unlock()
		return openintent.Object{"done": true}, nil
	})
	w := mustParse(t, `
openintent: "1.0"
info: {name: Retry}
workflow:
  work:
    description: work
    assign: flaky
    retry: {max_attempts: 2, backoff: constant, initial_delay_ms: 1, fallback_agent: backup}
    outputs: {done: boolean}
`)
	res, err := w.Run(runCtx(t), srv.Client(t, "coordinator"), workflow.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(attempts["flaky"]) != "[1 2]" || fmt.Sprint(attempts["backup"]) != "[3]" {
		t.Errorf("attempts = %v, want flaky [1 2] then backup [3]", attempts)
	}
	if res.Outputs["work"]["done"] != true {
		t.Errorf("outputs = %v", res.Outputs)
	}
}

func TestRunFailsWhenAttemptsRunOut(t *testing.T) {
	srv := newServer(t)
	serve(t, srv, "flaky", func(ctx context.Context, task *workflow.Task) (openintent.Object, error) {
		return nil, errors.New("broken")
	})
	w := mustParse(t, `
openintent: "1.0"
info: {name: Retry}
workflow:
  work:
    description: work
    assign: flaky
    retry: {max_attempts: 2, initial_delay_ms: 1}
`)
	_, err := w.Run(runCtx(t), srv.Client(t, "coordinator"), workflow.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "2 failed attempt") {
		t.Fatalf("err = %v, want the phase's failure after 2 attempts", err)
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
