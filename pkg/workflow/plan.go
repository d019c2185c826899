package workflow

import (
	"maps"
	"slices"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/openintent"
)

// Plan is a workflow turned into a portfolio plan: the portfolio to create and one intent per
// phase, in an order where every phase comes after the phases it depends on. An executor (Run,
// or pkg/agent's coordinator) creates it and drives it.
type Plan struct {
	// Name and Description are the portfolio's.
	Name, Description string
	// GovernancePolicy is the portfolio's governance policy: the workflow's governance section,
	// with the Python SDK's keys (max_cost_usd, timeout_hours, require_approval, escalation,
	// access_review, audit_access_events).
	GovernancePolicy openintent.Object
	// Metadata is the portfolio's metadata: the workflow's name, version and source.
	Metadata openintent.Object
	// Intents are the phases' intents, dependencies first.
	Intents []*PlannedIntent
	// Channels are the workflow's channels, created on the first intent that uses them.
	Channels []*Channel
}

// PlannedIntent is the intent of one phase.
type PlannedIntent struct {
	// Phase is the phase's name.
	Phase string
	// Title and Description are the intent's.
	Title, Description string
	// Assign is the agent the phase is assigned to.
	Assign string
	// DependsOn are the names of the phases this one depends on.
	DependsOn []string
	// Constraints are the intent's constraints: the phase's rules under "rules".
	Constraints openintent.Object
	// State is the intent's initial state: the phase's initial_state, the projected trigger
	// values its inputs read, the I/O contract (StateInputs, ...) and the phase's RFC
	// configuration under the Python SDK's keys (retry_policy, leasing_config, cost_tracking,
	// permissions, attachments, skip_when).
	State openintent.Object
	// GovernancePolicy is what the server enforces on the intent (RFC-0013): max_cost from the
	// phase's budget, write_scope assigned_only for private phases, allowed_agents for
	// restricted ones. Nil when the phase asks for none of these.
	GovernancePolicy *openintent.GovernancePolicy
	// RetryPolicy is the phase's retry policy as RFC-0010 stores it, or nil.
	RetryPolicy *openintent.RetryPolicySet
	// Retry is the phase's retry section as written, or nil.
	Retry *Retry
	// Contract is the phase's I/O contract.
	Contract *Contract
}

// PlanOptions configure Workflow.Plan.
type PlanOptions struct {
	// Trigger is the run's trigger payload: the values `$trigger.key` inputs read, projected
	// into the initial state of the phases that read them.
	Trigger openintent.Object
	// Coordinator is the agent that will drive the plan; it is added to the allowed_agents of
	// restricted phases so that it can still move their status.
	Coordinator string
}

// Plan turns the workflow into a portfolio plan.
func (w *Workflow) Plan(opts PlanOptions) *Plan {
	pl := &Plan{Name: w.Info.Name, Description: w.Info.Description, Channels: w.Channels,
		Metadata: openintent.Object{"workflow": w.Info.Name, "workflow_version": w.Info.Version, "openintent": w.OpenIntent}}
	if w.Source != "" {
		pl.Metadata["source"] = w.Source
	}
	if g := w.Governance; g != nil {
		gp := openintent.Object{}
		if g.MaxCostUSD > 0 {
			gp["max_cost_usd"] = g.MaxCostUSD
		}
		if g.Timeout > 0 {
			gp["timeout_hours"] = g.Timeout.Hours()
		}
		if r := g.RequireApproval; r != nil {
			ra := openintent.Object{"approvers": toAny(r.Approvers)}
			setIf(ra, "when", r.When)
			setIf(ra, "on_timeout", r.OnTimeout)
			if r.Timeout > 0 {
				ra["timeout_hours"] = r.Timeout.Hours()
			}
			gp["require_approval"] = ra
		}
		if e := g.Escalation; e != nil {
			eo := openintent.Object{}
			setIf(eo, "contact", e.Contact)
			if e.After > 0 {
				eo["after_hours"] = e.After.Hours()
			}
			gp["escalation"] = eo
		}
		if a := g.AccessReview; a != nil {
			ao := openintent.Object{"approvers": toAny(a.Approvers)}
			setIf(ao, "on_request", a.OnRequest)
			if a.Timeout > 0 {
				ao["timeout_hours"] = a.Timeout.Hours()
			}
			gp["access_review"] = ao
		}
		if !g.AuditAccessEvents {
			gp["audit_access_events"] = false
		}
		if len(gp) > 0 {
			pl.GovernancePolicy = gp
		}
	}
	types := w.rawTypes()
	for _, ph := range w.order() {
		pi := &PlannedIntent{Phase: ph.Name, Title: ph.Title, Description: ph.Description, Assign: ph.Assign,
			DependsOn: slices.Clone(ph.DependsOn), Retry: ph.Retry, Contract: w.Contract(ph.Name)}
		if len(ph.Constraints) > 0 {
			pi.Constraints = openintent.Object{"rules": toAny(ph.Constraints)}
		}
		st := openintent.Object{}
		maps.Copy(st, ph.InitialState)
		for _, in := range ph.Inputs {
			if kind, _, key := ParseRef(in.Ref); kind == RefTrigger {
				if v, ok := opts.Trigger[key]; ok {
					st[key] = v
				}
			}
		}
		if len(ph.Inputs) > 0 {
			m := map[string]any{}
			for _, in := range ph.Inputs {
				m[in.Key] = in.Ref
			}
			st[StateInputs] = m
		}
		if len(ph.Outputs) > 0 {
			m := map[string]any{}
			for _, o := range ph.Outputs {
				if o.Required {
					m[o.Key] = o.Type
				} else {
					m[o.Key] = map[string]any{"type": o.Type, "required": false}
				}
			}
			st[StateOutputs] = m
		}
		if (len(ph.Inputs) > 0 || len(ph.Outputs) > 0) && types != nil {
			st[StateTypes] = types
		}
		if len(ph.DependsOn) > 0 {
			m := map[string]any{}
			for _, d := range ph.DependsOn {
				m[w.Phase(d).Title] = d
			}
			st[StateDepTitleToName] = m
		}
		st[StatePhase] = ph.Name
		if r := ph.Retry; r != nil {
			ro := openintent.Object{"max_attempts": int64(r.MaxAttempts), "backoff": r.Backoff}
			if r.InitialDelay > 0 {
				ro["initial_delay_ms"] = r.InitialDelay.Milliseconds()
			}
			if r.MaxDelay > 0 {
				ro["max_delay_ms"] = r.MaxDelay.Milliseconds()
			}
			if len(r.RetryableErrors) > 0 {
				ro["retryable_errors"] = toAny(r.RetryableErrors)
			}
			setIf(ro, "fallback_agent", r.FallbackAgent)
			st["retry_policy"] = ro
			strategy := models.RetryStrategy(r.Backoff)
			if r.Backoff == "constant" {
				strategy = "fixed"
			}
			pi.RetryPolicy = &openintent.RetryPolicySet{Strategy: strategy, MaxRetries: int32(max(r.MaxAttempts-1, 0)),
				BaseDelayMs: r.InitialDelay.Milliseconds(), MaxDelayMs: r.MaxDelay.Milliseconds(), FallbackAgentID: r.FallbackAgent}
			if r.FallbackAgent != "" {
				pi.RetryPolicy.FailureThreshold = int32(r.MaxAttempts)
			}
		}
		if l := ph.Leasing; l != nil {
			lo := openintent.Object{"strategy": l.Strategy, "wait_for_lock": l.WaitForLock}
			setIf(lo, "scope", l.Scope)
			if l.TTL > 0 {
				lo["ttl_seconds"] = int64(l.TTL / time.Second)
			}
			st["leasing_config"] = lo
		}
		gov := &openintent.GovernancePolicy{}
		hasGov := false
		if c := ph.CostTracking; c != nil {
			co := openintent.Object{"enabled": c.Enabled}
			if c.BudgetUSD > 0 {
				co["budget_usd"] = c.BudgetUSD
				if c.Enabled {
					gov.MaxCost, hasGov = c.BudgetUSD, true
				}
			}
			if c.AlertAtPercent > 0 {
				co["alert_at_percent"] = int64(c.AlertAtPercent)
			}
			st["cost_tracking"] = co
		}
		if len(ph.Attachments) > 0 {
			var l []any
			for _, a := range ph.Attachments {
				ao := openintent.Object{"filename": a.Filename}
				setIf(ao, "content_type", a.ContentType)
				l = append(l, ao)
			}
			st["attachments"] = l
		}
		setIf(st, "skip_when", ph.SkipWhen)
		if p := ph.Permissions; p != nil {
			po := openintent.Object{"policy": p.Policy, "default": p.Default}
			if len(p.Allow) > 0 {
				var l []any
				for _, e := range p.Allow {
					eo := openintent.Object{"agent": e.Agent, "level": e.Level}
					setIf(eo, "expires", e.Expires)
					l = append(l, eo)
				}
				po["allow"] = l
			}
			if d := p.Delegate; d != nil {
				po["delegate"] = openintent.Object{"to": toAny(d.To), "level": d.Level}
			}
			if !(len(p.Context) == 1 && p.Context[0] == "auto") {
				if len(p.Context) == 1 && p.Context[0] == "none" {
					po["context"] = "none"
				} else {
					po["context"] = toAny(p.Context)
				}
			}
			st["permissions"] = po
			switch p.Policy {
			case "private":
				gov.WriteScope, hasGov = models.WriteScopeAssignedOnly, true
			case "restricted":
				allowed := []string{ph.Assign}
				add := func(a string) {
					if a != "" && !slices.Contains(allowed, a) {
						allowed = append(allowed, a)
					}
				}
				for _, e := range p.Allow {
					if e.Level == "write" || e.Level == "admin" {
						add(e.Agent)
					}
				}
				if d := p.Delegate; d != nil && (d.Level == "write" || d.Level == "admin") {
					for _, a := range d.To {
						add(a)
					}
				}
				if ph.Retry != nil {
					add(ph.Retry.FallbackAgent)
				}
				add(opts.Coordinator)
				gov.AllowedAgents, hasGov = allowed, true
			}
		}
		if hasGov {
			pi.GovernancePolicy = gov
		}
		pi.State = st
		pl.Intents = append(pl.Intents, pi)
	}
	return pl
}

func setIf(o openintent.Object, key, v string) {
	if v != "" {
		o[key] = v
	}
}

// order returns the phases in dependency order, keeping file order where dependencies allow.
func (w *Workflow) order() []*Phase {
	done := map[string]bool{}
	var out []*Phase
	var visit func(ph *Phase)
	visit = func(ph *Phase) {
		if done[ph.Name] {
			return
		}
		done[ph.Name] = true
		for _, d := range ph.DependsOn {
			if up := w.Phase(d); up != nil {
				visit(up)
			}
		}
		out = append(out, ph)
	}
	for _, ph := range w.Phases {
		visit(ph)
	}
	return out
}

// Intent returns the planned intent of a phase, or nil.
func (pl *Plan) Intent(phase string) *PlannedIntent {
	for _, pi := range pl.Intents {
		if pi.Phase == phase {
			return pi
		}
	}
	return nil
}
