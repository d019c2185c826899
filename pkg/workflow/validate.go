package workflow

import (
	"fmt"
	"slices"
	"strings"
)

// check runs the checks across sections once every section is parsed: dependencies and
// cycles, the I/O wiring of RFC-0024 §8, types, agents, channels and MCP tool references.
func (p *parser) check(w *Workflow) {
	byName := map[string]*Phase{}
	byTitle := map[string]*Phase{}
	var names []string
	for _, ph := range w.Phases {
		byName[ph.Name] = ph
		names = append(names, ph.Name)
	}
	for _, ph := range w.Phases {
		if prev, dup := byTitle[ph.Title]; dup {
			p.warn(p.phaseAt(ph, "title"),
				"phase %q has the same title as phase %q (line %d); intents of the portfolio are told apart by title in the Python SDK", ph.Name, prev.Name, prev.Line)
			continue
		}
		byTitle[ph.Title] = ph
	}

	// depends_on: names (or, as the Python SDK allows, titles) of other phases.
	for _, ph := range w.Phases {
		var deps []string
		for _, d := range ph.DependsOn {
			target := byName[d]
			if target == nil {
				target = byTitle[d]
			}
			pos := p.phaseAt(ph, "depends_on")
			switch {
			case target == nil:
				hint := "available phases: " + strings.Join(names, ", ")
				if s := nearest(d, names); s != "" {
					hint = fmt.Sprintf("did you mean %q? ", s) + hint
				}
				p.fail(pos, hint, "phase %q depends on unknown phase %q", ph.Name, d)
			case target == ph:
				p.fail(pos, "remove it from depends_on", "phase %q depends on itself", ph.Name)
			case slices.Contains(deps, target.Name):
				p.warn(pos, "phase %q is listed twice in depends_on", target.Name)
			default:
				deps = append(deps, target.Name)
			}
		}
		ph.DependsOn = deps
	}
	p.checkCycles(w, byName)

	// RFC-0024 §8: inputs reference existing upstream phases the phase depends on, and keys
	// they declare.
	for _, ph := range w.Phases {
		p.checkWiring(ph, byName)
	}

	// Output types and type fields name primitives or declared types.
	known := func(t string) bool { return slices.Contains(primitives, t) || w.Type(t) != nil }
	for _, t := range w.Types {
		for _, f := range t.Fields {
			if f.Type != "" && !known(f.Type) {
				p.warn(at{path: "types." + t.Name + "." + f.Name, line: t.Line}, "field %q of type %q has unknown type %q (not validated)", f.Name, t.Name, f.Type)
			}
		}
	}
	for _, ph := range w.Phases {
		for _, o := range ph.Outputs {
			if !known(o.Type) {
				hint := ""
				var all []string
				for _, t := range w.Types {
					all = append(all, t.Name)
				}
				if s := nearest(o.Type, append(slices.Clone(primitives), all...)); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				p.warns = append(p.warns, &Warning{File: p.file, Line: o.Line, Path: "workflow." + ph.Name + ".outputs." + o.Key,
					Message: fmt.Sprintf("output %q has unknown type %q: values are accepted without a type check%s", o.Key, o.Type, hint)})
			}
		}
	}

	// Agents: assignees, fallbacks and channel members should be declared when agents are.
	declared := func(id string) bool { return len(w.Agents) == 0 || w.Agent(id) != nil }
	for _, ph := range w.Phases {
		if ph.Assign != "" && !declared(ph.Assign) {
			p.warn(p.phaseAt(ph, "assign"), "phase %q is assigned to agent %q, which the agents section does not declare", ph.Name, ph.Assign)
		}
		if ph.Retry != nil && ph.Retry.FallbackAgent != "" && !declared(ph.Retry.FallbackAgent) {
			p.warn(p.phaseAt(ph, "retry"), "fallback agent %q is not declared in the agents section", ph.Retry.FallbackAgent)
		}
		if ph.Description == "" {
			p.warn(at{path: "workflow." + ph.Name, phase: ph.Name, line: ph.Line}, "phase %q has no description", ph.Name)
		}
	}
	for _, a := range w.Agents {
		if a.Description == "" {
			p.warns = append(p.warns, &Warning{File: p.file, Line: a.Line, Path: "agents." + a.ID, Message: fmt.Sprintf("agent %q has no description", a.ID)})
		}
		for i, h := range a.OnMessage {
			if h.Channel != "" && !slices.ContainsFunc(w.Channels, func(c *Channel) bool { return c.Name == h.Channel }) {
				p.errs = append(p.errs, &ValidationError{File: p.file, Line: a.Line, Path: fmt.Sprintf("agents.%s.on_message[%d].channel", a.ID, i),
					Field: "channel", Message: fmt.Sprintf("agent %q handles messages of channel %q, which the channels section does not declare", a.ID, h.Channel),
					Hint: "declare it under channels:"})
			}
		}
		p.checkTools(w, a)
	}
	assignees := map[string]bool{}
	for _, ph := range w.Phases {
		assignees[ph.Assign] = true
	}
	for _, c := range w.Channels {
		for _, m := range c.Members {
			if w.Agent(m) == nil && !assignees[m] {
				p.warns = append(p.warns, &Warning{File: p.file, Line: c.Line, Path: "channels." + c.Name + ".members",
					Message: fmt.Sprintf("channel member %q is neither a declared agent nor assigned a phase", m)})
			}
		}
	}
	if g := w.Governance; g != nil && g.RequireApproval != nil && g.RequireApproval.When != "" {
		p.warns = append(p.warns, &Warning{File: p.file, Line: g.RequireApproval.Line, Path: "governance.require_approval.when",
			Message: "the condition is recorded in the portfolio's governance policy; `openintent run` does not evaluate it"})
	}
}

// phaseAt locates a field of a phase for an error.
func (p *parser) phaseAt(ph *Phase, field string) at {
	return at{path: "workflow." + ph.Name + "." + field, phase: ph.Name, line: ph.FieldLine(field)}
}

func (p *parser) checkCycles(w *Workflow, byName map[string]*Phase) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	reported := false
	var visit func(ph *Phase)
	visit = func(ph *Phase) {
		color[ph.Name] = grey
		stack = append(stack, ph.Name)
		for _, d := range ph.DependsOn {
			switch color[d] {
			case grey:
				if !reported {
					i := slices.Index(stack, d)
					cycle := append(slices.Clone(stack[i:]), d)
					p.errs = append(p.errs, &ValidationError{File: p.file, Line: ph.FieldLine("depends_on"), Path: "workflow." + ph.Name + ".depends_on",
						Phase: ph.Name, Field: "depends_on", Message: "circular dependency: " + strings.Join(cycle, " -> "),
						Hint: "remove one of the dependencies to break the cycle"})
					reported = true
				}
			case white:
				visit(byName[d])
			}
		}
		stack = stack[:len(stack)-1]
		color[ph.Name] = black
	}
	for _, ph := range w.Phases {
		if color[ph.Name] == white {
			visit(ph)
		}
	}
}

func (p *parser) checkWiring(ph *Phase, byName map[string]*Phase) {
	var invalid []string
	line := 0
	for _, in := range ph.Inputs {
		bad := func(why string) {
			invalid = append(invalid, fmt.Sprintf("%s: %q (%s)", in.Key, in.Ref, why))
			if line == 0 {
				line = in.Line
			}
		}
		if strings.HasPrefix(in.Ref, "\x00") {
			invalid = append(invalid, fmt.Sprintf("%s: %s (must be a string)", in.Key, in.Ref[1:]))
			if line == 0 {
				line = in.Line
			}
			continue
		}
		kind, phase, key := ParseRef(in.Ref)
		switch kind {
		case RefInvalid:
			bad("invalid syntax; expected 'phase_name.key', '$trigger.key' or '$initial_state.key'")
		case RefTrigger, RefInitialState:
			_ = key
		case RefPhase:
			up := byName[phase]
			switch {
			case up == nil:
				bad(fmt.Sprintf("phase %q does not exist", phase))
			case !slices.Contains(ph.DependsOn, phase):
				bad(fmt.Sprintf("phase %q is not in depends_on", phase))
			case len(up.Outputs) > 0 && !slices.ContainsFunc(up.Outputs, func(o Output) bool { return o.Key == key }):
				bad(fmt.Sprintf("upstream phase %q does not declare output %q", phase, key))
			}
		}
	}
	if len(invalid) == 0 {
		return
	}
	hint := "input mappings are 'phase_name.key' with phase_name in depends_on, or '$trigger.key' / '$initial_state.key'"
	e := &InputWiringError{PhaseName: ph.Name, InvalidRefs: invalid, Suggestion: hint}
	e.ValidationError = ValidationError{File: p.file, Line: line, Path: "workflow." + ph.Name + ".inputs", Phase: ph.Name, Field: "inputs",
		Message: fmt.Sprintf("InputWiringError: phase %q has invalid input wiring: %s", ph.Name, strings.Join(invalid, "; ")), Hint: hint}
	p.wires = append(p.wires, e)
}

// checkTools checks an agent's MCP tool references against the mcp section.
func (p *parser) checkTools(w *Workflow, a *Agent) {
	for i, t := range a.Tools {
		if t.Server == "" {
			continue
		}
		path := fmt.Sprintf("agents.%s.tools[%d]", a.ID, i)
		var srv *MCPServer
		if w.MCP != nil {
			for _, s := range w.MCP.Servers {
				if s.Name == t.Server {
					srv = s
				}
			}
		}
		if srv == nil {
			var names []string
			if w.MCP != nil {
				for _, s := range w.MCP.Servers {
					names = append(names, s.Name)
				}
			}
			hint := "declare it under mcp.servers"
			if len(names) > 0 {
				hint += " (declared: " + strings.Join(names, ", ") + ")"
			}
			p.errs = append(p.errs, &ValidationError{File: p.file, Line: t.Line, Path: path, Field: "tools",
				Message: fmt.Sprintf("tool %q names MCP server %q, which the mcp section does not declare", t.Ref, t.Server), Hint: hint})
			continue
		}
		if len(srv.AllowedTools) > 0 && !slices.Contains(srv.AllowedTools, t.Tool) {
			p.errs = append(p.errs, &ValidationError{File: p.file, Line: t.Line, Path: path, Field: "tools",
				Message: fmt.Sprintf("tool %q is not in the allowed_tools of MCP server %q", t.Tool, t.Server),
				Hint:    "allowed: " + strings.Join(srv.AllowedTools, ", ")})
		}
	}
}
