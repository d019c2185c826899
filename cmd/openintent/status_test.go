package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/workflow"
)

// The status view prints one line per change of a phase (not a terminal): the stage in a few
// words, the agent of a running phase and its attempt, why a phase waits or failed.
func TestStatusViewLines(t *testing.T) {
	var out bytes.Buffer
	v := newStatusView(&out, "Two agents", false)
	phases := func(draft, edit workflow.PhaseStatus) workflow.Progress {
		draft.Phase, edit.Phase = "draft", "edit"
		return workflow.Progress{PortfolioID: "p1", Phases: []workflow.PhaseStatus{draft, edit}}
	}
	v.update(phases(workflow.PhaseStatus{Stage: workflow.StageRunning, Agent: "writer", Attempt: 1},
		workflow.PhaseStatus{Stage: workflow.StagePending}))
	v.update(phases(workflow.PhaseStatus{Stage: workflow.StageRunning, Agent: "writer", Attempt: 1},
		workflow.PhaseStatus{Stage: workflow.StagePending})) // no change: no line
	v.update(phases(workflow.PhaseStatus{Stage: workflow.StageRetrying, Agent: "writer", Attempt: 2, Err: errors.New("boom")},
		workflow.PhaseStatus{Stage: workflow.StagePending}))
	v.update(phases(workflow.PhaseStatus{Stage: workflow.StageCompleted, Agent: "writer", Attempt: 2},
		workflow.PhaseStatus{Stage: workflow.StageFailed, Agent: "editor", Err: errors.New("bad output")}))
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		got = append(got, strings.Join(strings.Fields(l)[1:], " ")) // without the elapsed time
	}
	want := []string{
		`workflow "Two agents" (portfolio p1), 2 phases`,
		"draft running on writer",
		"edit pending (waiting for its dependencies)",
		"draft retrying on writer (attempt 2): boom",
		"draft completed",
		"edit failed: bad output",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
