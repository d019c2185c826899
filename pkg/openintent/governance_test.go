package openintent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func TestPortfolios(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "planner")
	ctx := ctxT(t)
	p, err := c.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: "launch", Description: "Q4"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != openintent.PortfolioActive || p.CreatedBy != "planner" || p.AggregateStatus.Total != 0 {
		t.Fatalf("created %+v", p)
	}
	a := mustCreate(t, c, openintent.IntentCreate{Title: "a"})
	b := mustCreate(t, c, openintent.IntentCreate{Title: "b"})
	if _, err := c.AddIntentToPortfolio(ctx, p.ID, a.ID, openintent.RolePrimary, 5); err != nil {
		t.Fatal(err)
	}
	m, err := c.AddIntentToPortfolio(ctx, p.ID, b.ID, "", 0)
	if err != nil || m.Role != openintent.RoleMember || m.MembershipID == "" {
		t.Fatalf("membership %+v, %v", m, err)
	}
	var ce *openintent.ConflictError
	if _, err := c.AddIntentToPortfolio(ctx, p.ID, b.ID, "", 0); !errors.As(err, &ce) {
		t.Fatalf("adding twice: %v, want a ConflictError", err)
	}
	if _, err := c.SetStatus(ctx, b.ID, b.Version, openintent.StatusActive); err != nil {
		t.Fatal(err)
	}
	b2, _ := c.GetIntent(ctx, b.ID)
	if _, err := c.SetStatus(ctx, b.ID, b2.Version, openintent.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	intents, agg, err := c.GetPortfolioIntents(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(intents) != 2 || intents[0].ID != a.ID { // priority 5 first
		t.Fatalf("intents %v", intents)
	}
	if agg.Total != 2 || agg.ByStatus["completed"] != 1 || agg.ByStatus["draft"] != 1 || agg.CompletionPercentage != 50 {
		t.Fatalf("aggregate %+v", agg)
	}
	ps, err := c.ListIntentPortfolios(ctx, a.ID)
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
		t.Fatalf("intent portfolios %v, %v", ps, err)
	}
	if mine, err := c.ListPortfolios(ctx, "planner"); err != nil || len(mine) != 1 {
		t.Fatalf("list mine: %v, %v", mine, err)
	}
	if others, err := c.ListPortfolios(ctx, "nobody"); err != nil || len(others) != 0 {
		t.Fatalf("list others: %v, %v", others, err)
	}
	if up, err := c.UpdatePortfolioStatus(ctx, p.ID, openintent.PortfolioCompleted); err != nil || up.Status != openintent.PortfolioCompleted {
		t.Fatalf("status: %+v, %v", up, err)
	}
	if err := c.RemoveIntentFromPortfolio(ctx, p.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	var nf *openintent.NotFoundError
	if err := c.RemoveIntentFromPortfolio(ctx, p.ID, b.ID); !errors.As(err, &nf) {
		t.Fatalf("removing twice: %v", err)
	}
	if _, err := c.GetPortfolio(ctx, "missing"); !errors.As(err, &nf) {
		t.Fatalf("missing portfolio: %v", err)
	}
	// Costs of members roll up.
	if _, err := c.RecordCost(ctx, a.ID, openintent.CostCreate{CostType: "tokens", Amount: 120, Unit: "tokens"}); err != nil {
		t.Fatal(err)
	}
	sum, err := c.GetPortfolioCosts(ctx, p.ID)
	if err != nil || sum.Summary.Total != 120 || len(sum.Costs) != 1 {
		t.Fatalf("portfolio costs %+v, %v", sum, err)
	}
	// Membership changes are on the intents' logs.
	evs, err := c.GetEvents(ctx, b.ID, openintent.GetEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].EventType != "removed_from_portfolio" {
		t.Fatalf("latest event of b = %s", evs[0].EventType)
	}
}

func TestGovernanceArbitrationAndDecisions(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "agent-a")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "g"})
	arb, err := c.RequestArbitration(ctx, in.ID, "agents disagree", openintent.Object{"options": []any{"x", "y"}})
	if err != nil || arb.Status != "pending" || arb.ID == "" || arb.RequesterID != "agent-a" {
		t.Fatalf("arbitration %+v, %v", arb, err)
	}
	var ve *openintent.ValidationError
	if _, err := c.RequestArbitration(ctx, in.ID, " ", nil); err == nil {
		t.Fatal("empty reason accepted")
	} else if !errors.As(err, &ve) && !errors.Is(err, err) {
		t.Fatal(err)
	}
	d1, err := c.RecordDecision(ctx, in.ID, "arbitration", "x", "cheaper")
	if err != nil || d1.DecisionID == "" || d1.Outcome != "x" {
		t.Fatalf("decision %+v, %v", d1, err)
	}
	d2, err := c.RecordDecision(ctx, in.ID, "review", "approved", "looks right")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.GetDecisions(ctx, in.ID)
	if err != nil || len(ds) != 2 || ds[0].ID != d2.DecisionID || ds[1].ID != d1.DecisionID || ds[1].Rationale != "cheaper" || ds[1].CoordinatorID != "agent-a" {
		t.Fatalf("decisions %+v, %v", ds, err)
	}
	evs, _ := c.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: "decision_recorded"})
	if len(evs) != 2 {
		t.Fatalf("decision events %d", len(evs))
	}
	// Escalations.
	esc, err := c.CreateEscalation(ctx, in.ID, openintent.EscalationCreate{Reason: "stuck", Priority: "high"})
	if err != nil || esc.Status != "pending" {
		t.Fatalf("escalation %+v, %v", esc, err)
	}
	pending, err := c.ListEscalations(ctx, openintent.ListEscalationsParams{IntentID: in.ID, Status: "pending"})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %v, %v", pending, err)
	}
	res, err := c.ResolveEscalation(ctx, esc.ID, openintent.EscalationResolve{Resolution: "unblocked"})
	if err != nil || res.Status != "resolved" || res.ResolvedBy != "agent-a" {
		t.Fatalf("resolved %+v, %v", res, err)
	}
	var ce *openintent.ConflictError
	if _, err := c.ResolveEscalation(ctx, esc.ID, openintent.EscalationResolve{Resolution: "again"}); !errors.As(err, &ce) {
		t.Fatalf("resolving twice: %v", err)
	}
	if pending, _ := c.ListEscalations(ctx, openintent.ListEscalationsParams{IntentID: in.ID, Status: "pending"}); len(pending) != 0 {
		t.Fatalf("still pending: %v", pending)
	}
}

func TestGovernancePolicyRefusals(t *testing.T) {
	e := newEnv(t)
	owner := e.client(t, "owner")
	worker := e.client(t, "worker")
	outsider := e.client(t, "outsider")
	reviewer := e.client(t, "reviewer")
	ctx := ctxT(t)
	in := mustCreate(t, owner, openintent.IntentCreate{Title: "governed"})
	in, err := owner.SetGovernancePolicy(ctx, in.ID, in.Version, openintent.GovernancePolicy{
		WriteScope: openintent.WriteScopeAssignedOnly, RequireStatusReason: true,
		CompletionMode: openintent.CompletionRequireApproval, MaxCost: 10})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := owner.GetGovernancePolicy(ctx, in.ID)
	if err != nil || doc.EffectivePolicy.WriteScope != openintent.WriteScopeAssignedOnly || doc.EffectivePolicy.QuorumThreshold != 0.6 {
		t.Fatalf("policy doc %+v, %v", doc, err)
	}
	if _, err := owner.AssignAgent(ctx, in.ID, "worker"); err != nil {
		t.Fatal(err)
	}
	in, _ = owner.GetIntent(ctx, in.ID)
	var pe *openintent.PermissionError
	// write_scope: an unassigned agent cannot write.
	if _, err := outsider.UpdateState(ctx, in.ID, in.Version, openintent.Object{"x": 1}); !errors.As(err, &pe) {
		t.Fatalf("outsider write: %v, want a PermissionError", err)
	}
	in, err = worker.UpdateState(ctx, in.ID, in.Version, openintent.Object{"x": 1})
	if err != nil {
		t.Fatalf("assigned worker write: %v", err)
	}
	// require_status_reason.
	if _, err := worker.SetStatus(ctx, in.ID, in.Version, openintent.StatusActive); !errors.As(err, &pe) {
		t.Fatalf("status without reason: %v", err)
	}
	in, err = worker.SetStatusWithReason(ctx, in.ID, in.Version, openintent.StatusActive, "starting")
	if err != nil {
		t.Fatal(err)
	}
	// max_cost.
	if _, err := worker.RecordCost(ctx, in.ID, openintent.CostCreate{CostType: "custom", Amount: 8, Unit: "usd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.RecordCost(ctx, in.ID, openintent.CostCreate{CostType: "custom", Amount: 3, Unit: "usd"}); !errors.As(err, &pe) {
		t.Fatalf("cost beyond max_cost: %v", err)
	}
	// completion_mode require_approval: refused until an approval with action complete.
	if _, err := worker.SetStatusWithReason(ctx, in.ID, in.Version, openintent.StatusCompleted, "done"); !errors.As(err, &pe) {
		t.Fatalf("completion without approval: %v", err)
	}
	ap, err := worker.CreateApprovalRequest(ctx, in.ID, openintent.ApprovalRequestCreate{Action: "complete", Reason: "done"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.ApproveApprovalRequest(ctx, in.ID, ap.ID, "self"); !errors.As(err, &pe) {
		t.Fatalf("self-approval: %v", err)
	}
	if got, err := reviewer.ApproveApprovalRequest(ctx, in.ID, ap.ID, "ok"); err != nil || got.Status != "approved" || got.DecidedBy != "reviewer" {
		t.Fatalf("approve: %+v, %v", got, err)
	}
	var ce *openintent.ConflictError
	if _, err := reviewer.DenyApprovalRequest(ctx, in.ID, ap.ID, "late"); !errors.As(err, &ce) {
		t.Fatalf("deciding twice: %v", err)
	}
	if done, err := worker.SetStatusWithReason(ctx, in.ID, in.Version, openintent.StatusCompleted, "done"); err != nil || done.Status != openintent.StatusCompleted {
		t.Fatalf("completion after approval: %v", err)
	}
	// Each logged refusal is on the intent's log.
	evs, err := owner.GetEvents(ctx, in.ID, openintent.GetEventsParams{EventType: "governance.violation", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]int{}
	for _, ev := range evs {
		rules[ev.Payload["rule"].(string)]++
	}
	if rules["write_scope"] != 1 || rules["max_cost"] != 1 || rules["completion_mode"] != 1 || rules["require_status_reason"] != 0 {
		t.Fatalf("violations logged: %v", rules)
	}
	// Removing the policy lifts the rules.
	cur, _ := owner.GetIntent(ctx, in.ID)
	if _, err := owner.DeleteGovernancePolicy(ctx, in.ID, cur.Version); err != nil {
		t.Fatal(err)
	}
	cur, _ = owner.GetIntent(ctx, in.ID)
	if _, err := outsider.UpdateState(ctx, in.ID, cur.Version, openintent.Object{"y": 2}); err != nil {
		t.Fatalf("write after the policy is removed: %v", err)
	}
}

func TestIntentDataAttachmentsCostsRetriesFailures(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "agent-a")
	ctx := ctxT(t)
	in := mustCreate(t, c, openintent.IntentCreate{Title: "data"})
	att, err := c.CreateAttachment(ctx, in.ID, openintent.AttachmentCreate{Filename: "r.pdf", MimeType: "application/pdf", Size: 10, StorageURL: "s3://b/r.pdf"})
	if err != nil || att.CreatedBy != "agent-a" {
		t.Fatalf("attachment %+v, %v", att, err)
	}
	if as, err := c.ListAttachments(ctx, in.ID); err != nil || len(as) != 1 {
		t.Fatalf("attachments %v, %v", as, err)
	}
	if err := c.DeleteAttachment(ctx, in.ID, att.ID); err != nil {
		t.Fatal(err)
	}
	if as, _ := c.ListAttachments(ctx, in.ID); len(as) != 0 {
		t.Fatalf("attachment not deleted: %v", as)
	}
	var ve *openintent.ValidationError
	if _, err := c.CreateAttachment(ctx, in.ID, openintent.AttachmentCreate{Filename: "x", MimeType: "a/b", Size: -1, StorageURL: "u"}); !errors.As(err, &ve) {
		t.Fatalf("negative size: %v", err)
	}
	for _, k := range []openintent.CostCreate{{CostType: "tokens", Amount: 100, Unit: "tokens"}, {CostType: "custom", Amount: 0.5, Unit: "usd", AgentID: "agent-b"}} {
		if _, err := c.RecordCost(ctx, in.ID, k); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := c.GetCostSummary(ctx, in.ID)
	if err != nil || sum.Count != 2 || sum.Total != 100.5 || sum.ByAgent["agent-b"] != 0.5 || sum.ByType["tokens"] != 100.0 || sum.ByType["custom"] != 0.5 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	var nf *openintent.NotFoundError
	if _, err := c.GetRetryPolicy(ctx, in.ID); !errors.As(err, &nf) {
		t.Fatalf("no policy yet: %v", err)
	}
	p, err := c.SetRetryPolicy(ctx, in.ID, openintent.RetryPolicySet{Strategy: "exponential", MaxRetries: 5})
	if err != nil || p.MaxRetries != 5 || p.BaseDelayMs != 1000 {
		t.Fatalf("policy %+v, %v", p, err)
	}
	p2, err := c.SetRetryPolicy(ctx, in.ID, openintent.RetryPolicySet{Strategy: "fixed", BaseDelayMs: 200})
	if err != nil || p2.ID != p.ID || p2.Strategy != "fixed" || p2.MaxRetries != 3 {
		t.Fatalf("replaced policy %+v, %v", p2, err)
	}
	if _, err := c.SetRetryPolicy(ctx, in.ID, openintent.RetryPolicySet{Strategy: "fixed", BaseDelayMs: 500, MaxDelayMs: 100}); !errors.As(err, &ve) {
		t.Fatalf("max below base: %v", err)
	}
	f, err := c.RecordFailure(ctx, in.ID, openintent.FailureCreate{ErrorType: "timeout", ErrorMessage: "model timed out", AttemptNumber: 1})
	if err != nil || f.AgentID == nil || *f.AgentID != "agent-a" {
		t.Fatalf("failure %+v, %v", f, err)
	}
	if fs, err := c.ListFailures(ctx, in.ID); err != nil || len(fs) != 1 {
		t.Fatalf("failures %v, %v", fs, err)
	}
}

func TestACLDeniesThenAllows(t *testing.T) {
	e := newEnv(t)
	owner := e.client(t, "owner")
	other := e.client(t, "other")
	ctx := ctxT(t)
	in := mustCreate(t, owner, openintent.IntentCreate{Title: "private"})
	// Open by default: anyone reads.
	if _, err := other.GetIntent(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	acl, err := owner.SetACL(ctx, in.ID, openintent.ACLSet{DefaultPolicy: openintent.AccessClosed})
	if err != nil || acl.DefaultPolicy != "closed" {
		t.Fatalf("acl %+v, %v", acl, err)
	}
	var pe *openintent.PermissionError
	if _, err := other.GetIntent(ctx, in.ID); !errors.As(err, &pe) {
		t.Fatalf("closed intent read: %v, want a PermissionError", err)
	} else if pe.StatusCode != 403 {
		t.Fatalf("status %d", pe.StatusCode)
	}
	// The owner still acts.
	if _, err := owner.UpdateState(ctx, in.ID, in.Version, openintent.Object{"k": 1}); err != nil {
		t.Fatal(err)
	}
	// Asking for access is allowed; deciding it needs admin.
	req, err := other.RequestAccess(ctx, in.ID, openintent.AccessRequestCreate{RequestedPermission: openintent.PermissionRead, Reason: "review"})
	if err != nil || req.Status != "pending" || req.PrincipalID != "other" {
		t.Fatalf("request %+v, %v", req, err)
	}
	if _, err := other.ApproveAccessRequest(ctx, in.ID, req.ID, openintent.AccessRequestDecision{}); !errors.As(err, &pe) {
		t.Fatalf("self-approval without admin: %v", err)
	}
	got, err := owner.ApproveAccessRequest(ctx, in.ID, req.ID, openintent.AccessRequestDecision{})
	if err != nil || got.Status != "approved" {
		t.Fatalf("approve %+v, %v", got, err)
	}
	// read granted: reads work, writes do not.
	cur, err := other.GetIntent(ctx, in.ID)
	if err != nil {
		t.Fatalf("read after approval: %v", err)
	}
	if _, err := other.UpdateState(ctx, in.ID, cur.Version, openintent.Object{"k": 2}); !errors.As(err, &pe) {
		t.Fatalf("write with read only: %v", err)
	}
	entry, err := owner.GrantAccess(ctx, in.ID, openintent.ACLEntryCreate{PrincipalID: "other", Permission: openintent.PermissionWrite})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpdateState(ctx, in.ID, cur.Version, openintent.Object{"k": 2}); err != nil {
		t.Fatalf("write with write permission: %v", err)
	}
	full, err := owner.GetACL(ctx, in.ID)
	if err != nil || len(full.Entries) != 2 {
		t.Fatalf("entries %+v, %v", full, err)
	}
	if err := owner.RevokeAccess(ctx, in.ID, entry.ID); err != nil {
		t.Fatal(err)
	}
	cur, _ = owner.GetIntent(ctx, in.ID)
	if _, err := other.UpdateState(ctx, in.ID, cur.Version, openintent.Object{"k": 3}); !errors.As(err, &pe) {
		t.Fatalf("write after revoke: %v", err)
	}
	// Deny path.
	req2, _ := other.RequestAccess(ctx, in.ID, openintent.AccessRequestCreate{})
	if d, err := owner.DenyAccessRequest(ctx, in.ID, req2.ID, openintent.AccessRequestDecision{Reason: "no"}); err != nil || d.Status != "denied" {
		t.Fatalf("deny %+v, %v", d, err)
	}
	if rs, err := owner.ListAccessRequests(ctx, in.ID); err != nil || len(rs) != 2 {
		t.Fatalf("requests %v, %v", rs, err)
	}
}

func TestInvokeToolWithoutGrantIsRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "agent-a")
	ctx := ctxT(t)
	var pe *openintent.PermissionError
	_, err := c.InvokeTool(ctx, "web_search", "", openintent.Object{"q": "go"})
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "agent-a") || !strings.Contains(pe.Error(), "web_search") {
		t.Fatalf("invoke without grant: %v, want a PermissionError naming agent and tool", err)
	}
	if _, err := c.InvokeTool(ctx, "web_search", "agent-b", nil); !errors.As(err, &pe) {
		t.Fatalf("invoking as another agent: %v", err)
	}
}

// Lists never show an intent whose ACL is closed to the caller (RFC-0011: reads need read):
// not the list of intents (nor its total), children, descendants, ancestors, dependencies,
// dependents, ready and blocked children, the graph, or a portfolio's intents. The creator and
// principals granted read still see it.
func TestListsHideIntentsClosedToTheCaller(t *testing.T) {
	e := newEnv(t)
	if e.srv == nil {
		t.Skip("counts every intent of the server, and the reference server does not enforce ACLs: in-process server only")
	}
	owner := e.client(t, "owner")
	other := e.client(t, "other")
	reader := e.client(t, "reader")
	ctx := ctxT(t)
	root := mustCreate(t, owner, openintent.IntentCreate{Title: "root"})
	secret := mustCreate(t, owner, openintent.IntentCreate{Title: "secret", ParentID: root.ID, DependsOn: []string{root.ID}})
	open := mustCreate(t, owner, openintent.IntentCreate{Title: "open", ParentID: root.ID, DependsOn: []string{secret.ID}})
	grandchild := mustCreate(t, owner, openintent.IntentCreate{Title: "grandchild", ParentID: secret.ID})
	if _, err := owner.SetACL(ctx, secret.ID, openintent.ACLSet{DefaultPolicy: openintent.AccessClosed}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.GrantAccess(ctx, secret.ID, openintent.ACLEntryCreate{PrincipalID: "reader", Permission: openintent.PermissionRead}); err != nil {
		t.Fatal(err)
	}
	p, err := owner.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*openintent.Intent{secret, open} {
		if _, err := owner.AddIntentToPortfolio(ctx, p.ID, in.ID, openintent.RoleMember, 0); err != nil {
			t.Fatal(err)
		}
	}
	titles := func(ins []openintent.Intent, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, in := range ins {
			out = append(out, in.Title)
		}
		slices.Sort(out)
		return out
	}
	lists := map[string]func(c *openintent.Client) []string{
		"intents":      func(c *openintent.Client) []string { return titles(c.ListIntents(ctx, openintent.ListIntentsParams{})) },
		"children":     func(c *openintent.Client) []string { return titles(c.GetChildren(ctx, root.ID)) },
		"descendants":  func(c *openintent.Client) []string { return titles(c.GetDescendants(ctx, root.ID)) },
		"ancestors":    func(c *openintent.Client) []string { return titles(c.GetAncestors(ctx, grandchild.ID)) },
		"dependencies": func(c *openintent.Client) []string { return titles(c.GetDependencies(ctx, open.ID)) },
		"dependents":   func(c *openintent.Client) []string { return titles(c.GetDependents(ctx, root.ID)) },
		"ready+blocked": func(c *openintent.Client) []string {
			ready := titles(c.GetReadyIntents(ctx, root.ID))
			return append(ready, titles(c.GetBlockedIntents(ctx, root.ID))...)
		},
		"graph": func(c *openintent.Client) []string {
			g, err := c.GetIntentGraph(ctx, root.ID)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, n := range g.Nodes {
				out = append(out, n.Title)
			}
			for _, edge := range g.Edges {
				if edge.From == secret.ID || edge.To == secret.ID {
					out = append(out, "edge of secret")
				}
			}
			slices.Sort(out)
			return out
		},
		"portfolio": func(c *openintent.Client) []string {
			ins, _, err := c.GetPortfolioIntents(ctx, p.ID)
			return titles(ins, err)
		},
	}
	for name, list := range lists {
		for _, c := range []*openintent.Client{owner, reader} {
			if got := list(c); !slices.Contains(got, "secret") {
				t.Errorf("%s: a principal who may read it does not see the closed intent: %v", name, got)
			}
		}
		if got := list(other); slices.Contains(got, "secret") || slices.Contains(got, "edge of secret") {
			t.Errorf("%s: shows the intent closed to the caller: %v", name, got)
		}
	}
	// The page's total counts only what the caller may see.
	var page struct{ Total int }
	for agent, want := range map[string]int{"owner": 4, "other": 3} {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/intents?limit=1", nil)
		req.Header.Set("X-API-Key", e.apiKey)
		req.Header.Set("X-Agent-ID", agent)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if page.Total != want {
			t.Errorf("%s: total %d, want %d", agent, page.Total, want)
		}
	}
}

// completion_mode quorum: completing needs approvals from at least quorum_threshold of the
// assigned agents, rounded up (3 agents at 0.6 need 2; 5 need 3, although 5 × 0.6 is a hair
// above 3 in floating point).
func TestQuorumCompletion(t *testing.T) {
	e := newEnv(t)
	owner := e.client(t, "owner")
	reviewer := e.client(t, "reviewer")
	ctx := ctxT(t)
	var pe *openintent.PermissionError
	for _, tc := range []struct{ agents, need int }{{3, 2}, {5, 3}, {1, 1}} {
		in := mustCreate(t, owner, openintent.IntentCreate{Title: "quorum", Status: openintent.StatusActive})
		in, err := owner.SetGovernancePolicy(ctx, in.ID, in.Version, openintent.GovernancePolicy{CompletionMode: openintent.CompletionQuorum, QuorumThreshold: 0.6})
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.agents {
			if _, err := owner.AssignAgent(ctx, in.ID, fmt.Sprint("agent-", i)); err != nil {
				t.Fatal(err)
			}
		}
		for approved := 0; approved <= tc.need; approved++ {
			cur, err := owner.GetIntent(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = owner.SetStatus(ctx, in.ID, cur.Version, openintent.StatusCompleted)
			if approved < tc.need {
				if !errors.As(err, &pe) {
					t.Fatalf("%d agents, %d approvals: completion %v, want a PermissionError", tc.agents, approved, err)
				}
				ap, err := owner.CreateApprovalRequest(ctx, in.ID, openintent.ApprovalRequestCreate{Action: "complete"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := reviewer.ApproveApprovalRequest(ctx, in.ID, ap.ID, "ok"); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%d agents, %d approvals: completion refused: %v", tc.agents, approved, err)
			}
		}
	}
}
