package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/openintent-go/openintent/pkg/workflow"
)

// statusView shows a run's progress: on a terminal, a compact block of one line per phase
// redrawn in place; elsewhere (a pipe, a log file), one line per change of a phase.
type statusView struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	quiet  bool
	name   string
	start  time.Time
	drawn  int
	stages map[string]string
}

func newStatusView(w io.Writer, name string, quiet bool) *statusView {
	return &statusView{w: w, tty: isTerminal(w), quiet: quiet, name: name, start: time.Now(), stages: map[string]string{}}
}

var stageMarks = map[workflow.Stage]string{
	workflow.StagePending: "·", workflow.StageWaiting: "…", workflow.StageRunning: "▶", workflow.StageRetrying: "↻",
	workflow.StageSuspended: "⏸", workflow.StageBlocked: "■", workflow.StageCompleted: "✓", workflow.StageFailed: "✗",
}

func (v *statusView) update(p workflow.Progress) {
	if v.quiet {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty {
		v.redraw(p)
		return
	}
	if len(v.stages) == 0 {
		fmt.Fprintf(v.w, "Running workflow %q (portfolio %s), %d phases\n", v.name, p.PortfolioID, len(p.Phases))
	}
	for _, ph := range p.Phases {
		line := describe(ph)
		if v.stages[ph.Phase] == line {
			continue
		}
		v.stages[ph.Phase] = line
		fmt.Fprintf(v.w, "%6s  %-16s %s\n", elapsed(v.start), ph.Phase, line)
	}
}

// describe is a phase's state in a few words.
func describe(ph workflow.PhaseStatus) string {
	s := string(ph.Stage)
	switch ph.Stage {
	case workflow.StageRunning, workflow.StageRetrying:
		s += " on " + ph.Agent
		if ph.Attempt > 1 {
			s += fmt.Sprintf(" (attempt %d)", ph.Attempt)
		}
	case workflow.StagePending:
		s += " (waiting for its dependencies)"
	}
	if ph.Err != nil && ph.Stage != workflow.StageCompleted {
		s += ": " + truncate(ph.Err.Error(), 160)
	}
	return s
}

func elapsed(start time.Time) string {
	d := time.Since(start)
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// redraw replaces the block drawn last time (cursor up, clear line) with the current state.
func (v *statusView) redraw(p workflow.Progress) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn)
	}
	done := 0
	for _, ph := range p.Phases {
		if ph.Stage == workflow.StageCompleted {
			done++
		}
	}
	state := "running"
	if p.Done {
		state = "completed"
		if p.Err != nil {
			state = "failed"
		}
	}
	lines := []string{fmt.Sprintf("%s  %d/%d phases  %s  %s", v.name, done, len(p.Phases), state, elapsed(v.start))}
	for _, ph := range p.Phases {
		lines = append(lines, fmt.Sprintf("  %s %-16s %s", stageMarks[ph.Stage], ph.Phase, describe(ph)))
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	v.drawn = len(lines)
	io.WriteString(v.w, b.String())
}
