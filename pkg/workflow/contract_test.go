package workflow_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	workflows "github.com/openintent-go/openintent/examples/workflows"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/workflow"
)

func researchPipeline(t *testing.T) *workflow.Workflow {
	t.Helper()
	data, _ := fs.ReadFile(workflows.FS, "research_pipeline.yaml")
	w, err := workflow.Parse(data, "research_pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCheckOutputs(t *testing.T) {
	w := researchPipeline(t)
	finding := map[string]any{"source": "s", "claim": "c", "confidence": 0.9}
	for _, tc := range []struct {
		phase   string
		out     map[string]any
		missing string // MissingOutputError keys
		key     string // OutputTypeMismatchError key
		actual  string
	}{
		{phase: "research", out: map[string]any{"sources": []any{}, "top_finding": finding}},
		{phase: "research", out: map[string]any{"sources": []any{}, "top_finding": finding, "notes": "optional", "extra": 1}},
		{phase: "research", out: map[string]any{"sources": []any{}}, missing: "[top_finding]"},
		{phase: "research", out: map[string]any{}, missing: "[sources top_finding]"},
		{phase: "research", out: map[string]any{"sources": "a,b", "top_finding": finding}, key: "sources", actual: "string"},
		{phase: "research", out: map[string]any{"sources": []any{}, "top_finding": "x"}, key: "top_finding", actual: "string"},
		{phase: "research", out: map[string]any{"sources": []any{}, "top_finding": map[string]any{"source": "s", "claim": "c"}},
			key: "top_finding", actual: `object missing required field "confidence"`},
		{phase: "research", out: map[string]any{"sources": []any{}, "top_finding": map[string]any{"source": "s", "claim": "c", "confidence": "high"}},
			key: "top_finding", actual: `object whose field "confidence" is string, not number`},
		{phase: "research", out: map[string]any{"sources": []any{}, "top_finding": finding, "notes": 3}, key: "notes", actual: "number"},
		{phase: "analysis", out: map[string]any{"insights": "i", "risk": "low", "source_count": float64(2)}},
		{phase: "analysis", out: map[string]any{"insights": "i", "risk": "extreme", "source_count": 2}, key: "risk", actual: `string "extreme"`},
		{phase: "analysis", out: map[string]any{"insights": "i", "risk": "low", "source_count": 2.5}, key: "source_count", actual: "number"},
		{phase: "analysis", out: map[string]any{"insights": nil, "risk": "low", "source_count": 1}, key: "insights", actual: "null"},
	} {
		err := w.Contract(tc.phase).CheckOutputs("task-1", tc.out)
		var miss *workflow.MissingOutputError
		var mism *workflow.OutputTypeMismatchError
		switch {
		case tc.missing != "":
			if !errors.As(err, &miss) || fmt.Sprint(miss.MissingKeys) != tc.missing || miss.TaskID != "task-1" || miss.PhaseName != tc.phase {
				t.Errorf("%v: err = %v, want MissingOutputError %s", tc.out, err, tc.missing)
			}
		case tc.key != "":
			if !errors.As(err, &mism) || mism.Key != tc.key || mism.ActualType != tc.actual {
				t.Errorf("%v: err = %#v, want OutputTypeMismatchError on %s (%s)", tc.out, err, tc.key, tc.actual)
			}
		default:
			if err != nil {
				t.Errorf("%v: err = %v", tc.out, err)
			}
		}
		if err != nil && !errors.Is(err, workflow.ErrIOContract) {
			t.Errorf("%v does not match ErrIOContract", err)
		}
	}
}

func TestCheckClaim(t *testing.T) {
	w := researchPipeline(t)
	c := w.Contract("analysis")
	up := map[string]openintent.Object{"research": {"top_finding": "f", "sources": []any{"a"}}}
	in, err := c.CheckClaim("t", workflow.Sources{Upstream: up})
	if err != nil || in["finding"] != "f" || len(in) != 2 {
		t.Fatalf("input = %v, %v", in, err)
	}
	_, err = c.CheckClaim("t", workflow.Sources{Upstream: map[string]openintent.Object{"research": {"sources": []any{}}}})
	var unres *workflow.UnresolvableInputError
	if !errors.As(err, &unres) || fmt.Sprint(unres.UnresolvableRefs) != "[research.top_finding]" {
		t.Fatalf("err = %v, want UnresolvableInputError", err)
	}
	// RFC-0026: an upstream phase suspended awaiting input defers the claim, before anything else.
	_, err = c.CheckClaim("t", workflow.Sources{Statuses: map[string]workflow.UpstreamStatus{
		"research": {IntentID: "up-1", Status: openintent.StatusSuspendedAwaitingInput, ExpectedResumeAt: "2026-12-01T00:00:00Z"}}})
	var susp *workflow.UpstreamIntentSuspendedError
	if !errors.As(err, &susp) || susp.SuspendedIntentID != "up-1" || susp.UpstreamPhase != "research" || susp.Payload()["expected_resume_at"] == nil {
		t.Fatalf("err = %v, want UpstreamIntentSuspendedError", err)
	}
	// Static inputs: $trigger and $initial_state values must be present and not null.
	_, err = w.Contract("research").CheckClaim("t", workflow.Sources{Trigger: openintent.Object{"topic": nil}})
	if !errors.As(err, &unres) || fmt.Sprint(unres.UnresolvableRefs) != "[$trigger.topic]" {
		t.Fatalf("err = %v", err)
	}
}

// The contract the plan stores in each intent's state reads back the same (the Python SDK's
// _io_* keys), so agents check what the workflow declared.
func TestContractRoundTripsThroughState(t *testing.T) {
	w := researchPipeline(t)
	plan := w.Plan(workflow.PlanOptions{Trigger: openintent.Object{"topic": "x", "unused": 1}})
	pi := plan.Intent("research")
	if pi.State["topic"] != "x" || pi.State["unused"] != nil {
		t.Errorf("trigger projection: state = %v", pi.State)
	}
	c, ok := workflow.ContractOf(&openintent.Intent{ID: "i", Title: pi.Title, State: roundTrip(t, pi.State)})
	if !ok || c.Phase != "research" || len(c.Outputs) != 3 {
		t.Fatalf("contract = %+v, %v", c, ok)
	}
	err := c.CheckOutputs("i", map[string]any{"sources": []any{}, "top_finding": map[string]any{"source": "s", "claim": "c"}})
	var mism *workflow.OutputTypeMismatchError
	if !errors.As(err, &mism) || mism.ExpectedType != "Finding" {
		t.Errorf("named types are lost in the state: %v", err)
	}
	an := plan.Intent("analysis")
	if m, _ := roundTrip(t, an.State)[workflow.StateDepTitleToName].(map[string]any); m["Gather Research"] != "research" {
		t.Errorf("dep titles = %v", an.State[workflow.StateDepTitleToName])
	}
	if plan.Intents[0].Phase != "research" || plan.Intents[2].Phase != "report" {
		t.Errorf("plan order: %v", plan.Intents)
	}
}

func roundTrip(t *testing.T, o openintent.Object) openintent.Object {
	t.Helper()
	var out openintent.Object
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPlanGovernance(t *testing.T) {
	data, _ := fs.ReadFile(workflows.FS, "compliance_review.yaml")
	w, err := workflow.Parse(data, "compliance_review.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan := w.Plan(workflow.PlanOptions{Coordinator: "coord"})
	if plan.GovernancePolicy["max_cost_usd"] != 10.0 || plan.GovernancePolicy["require_approval"] == nil {
		t.Errorf("portfolio policy = %v", plan.GovernancePolicy)
	}
	if g := plan.Intent("risk").GovernancePolicy; g == nil || g.MaxCost != 2 || g.WriteScope != "assigned_only" {
		t.Errorf("risk policy = %+v", g)
	}
	if g := plan.Intent("extraction").GovernancePolicy; g == nil || fmt.Sprint(g.AllowedAgents) != "[ocr-agent ocr-backup coord]" {
		t.Errorf("extraction policy = %+v", g)
	}
	if r := plan.Intent("extraction").RetryPolicy; r == nil || r.MaxRetries != 2 || r.FallbackAgentID != "ocr-backup" || r.Strategy != "exponential" {
		t.Errorf("retry policy = %+v", r)
	}
	if plan.Intent("extraction").State["retry_policy"] == nil || plan.Intent("analysis").State["leasing_config"] == nil ||
		plan.Intent("report").State["attachments"] == nil || plan.Intent("risk").State["permissions"] == nil {
		t.Errorf("the phases' RFC configuration is missing from their state")
	}
}
