package openintent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// The reference implementation's recorded responses (openintent 0.17.0), one per route it
// serves, and its error bodies: testdata/reference/responses.json, written from the facts of the
// protocol notes (../shared/protocol). The tests below serve them from a fake reference server
// and check that the SDK decodes every one into its types and errors, and that every request
// body the SDK sends has the fields the reference server requires (its 422 otherwise).

type refFixture struct {
	Operation           string   `json:"operation"`
	Method              string   `json:"method"`
	Path                string   `json:"path"`
	Status              int      `json:"status"`
	Body                any      `json:"body"`
	OptionalKeys        []string `json:"optional_keys"`
	RequestRequired     []string `json:"request_required"`
	RequestBodyRequired bool     `json:"request_body_required"`
	re                  *regexp.Regexp
}

type refError struct {
	Name        string     `json:"name"`
	Status      int        `json:"status"`
	ContentType string     `json:"content_type"`
	Body        any        `json:"body"`
	SDKError    string     `json:"sdk_error"`
	Detail      string     `json:"detail"`
	Fields      [][]string `json:"fields"`
}

func loadReference(t *testing.T) ([]*refFixture, []refError) {
	t.Helper()
	b, err := os.ReadFile("testdata/reference/responses.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Responses []*refFixture `json:"responses"`
		Errors    []refError    `json:"errors"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, f := range doc.Responses {
		f.re = regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(f.Path), `[^/]+`) + "$")
	}
	return doc.Responses, doc.Errors
}

// recorded is a request the fake reference server received.
type recorded struct {
	fixture *refFixture
	body    []byte
}

// fakeReference answers every route of the reference with its recorded response, and records
// the requests.
type fakeReference struct {
	fixtures []*refFixture
	mu       sync.Mutex
	got      []recorded
}

func (f *fakeReference) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	for _, fx := range f.fixtures {
		if fx.Method != r.Method || !fx.re.MatchString(r.URL.Path) {
			continue
		}
		f.mu.Lock()
		f.got = append(f.got, recorded{fx, body})
		f.mu.Unlock()
		if fx.Status == http.StatusNoContent {
			w.WriteHeader(fx.Status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fx.Status)
		json.NewEncoder(w).Encode(fx.Body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`{"detail":"Not Found"}`))
}

func (f *fakeReference) take() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.got
	f.got = nil
	return out
}

// sdkCall is one SDK method called against the fake reference server: ops are the operations it
// reaches, call returns what the method returned (nil when it returns only an error).
type sdkCall struct {
	name string
	ops  []string
	call func(ctx context.Context, c *openintent.Client) (any, error)
}

func one[T any](v T, err error) (any, error) { return v, err }
func none(err error) (any, error)            { return nil, err }

// referenceCalls calls every SDK method that reaches a route of the reference server.
func referenceCalls() []sdkCall {
	const in, other = "5f1d7c3e-8a2b-4c6d-9e0f-1a2b3c4d5e6f", "0b9e8d7c-6a5f-4e3d-2c1b-0a9f8e7d6c5b"
	return []sdkCall{
		{"Discover", []string{"getDiscoveryDocument"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.Discover(ctx)) }},
		{"GetCompatibility", []string{"getCompatibilityDocument"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetCompatibility(ctx)) }},
		{"GetServerConfig", []string{"getServerConfig"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetServerConfig(ctx)) }},
		{"CreateIntent", []string{"createIntent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateIntent(ctx, openintent.IntentCreate{Title: "Research market trends"}))
		}},
		{"GetIntent", []string{"getIntent"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetIntent(ctx, in)) }},
		{"CreateChildIntent", []string{"createChildIntent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateChildIntent(ctx, in, openintent.ChildIntentCreate{Title: "Child"}))
		}},
		{"GetChildren", []string{"listChildIntents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetChildren(ctx, in)) }},
		{"GetDescendants", []string{"listDescendantIntents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetDescendants(ctx, in)) }},
		{"GetAncestors", []string{"listAncestorIntents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetAncestors(ctx, in)) }},
		{"GetDependencies", []string{"listIntentDependencies"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetDependencies(ctx, in)) }},
		{"GetDependents", []string{"listIntentDependents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetDependents(ctx, in)) }},
		{"GetReadyIntents", []string{"listReadyChildIntents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetReadyIntents(ctx, in)) }},
		{"GetBlockedIntents", []string{"listBlockedChildIntents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetBlockedIntents(ctx, in)) }},
		{"AddDependency", []string{"addIntentDependency"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.AddDependency(ctx, in, 3, other))
		}},
		{"RemoveDependency", []string{"removeIntentDependency"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RemoveDependency(ctx, in, 4, other))
		}},
		{"GetIntentGraph", []string{"getIntentGraph"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetIntentGraph(ctx, in)) }},
		{"UpdateState", []string{"patchIntentState"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.UpdateState(ctx, in, 3, openintent.Object{"progress": 0.75}))
		}},
		{"PatchState", []string{"patchIntentState"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.PatchState(ctx, in, 3, []openintent.StatePatch{{Op: openintent.PatchSet, Path: "/progress", Value: 0.75}}))
		}},
		{"SetStatus", []string{"setIntentStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.SetStatus(ctx, in, 3, openintent.StatusCompleted))
		}},
		{"SetStatusWithReason", []string{"setIntentStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.SetStatusWithReason(ctx, in, 3, openintent.StatusCompleted, "done"))
		}},
		{"RespondToSuspension", []string{"respondToSuspension"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RespondToSuspension(ctx, in, openintent.SuspensionAnswer{SuspensionID: "s-1", Value: "approve"}))
		}},
		{"GetEvents", []string{"listIntentEvents"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetEvents(ctx, in, openintent.GetEventsParams{}))
		}},
		{"LogEvent", []string{"createIntentEvent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.LogEvent(ctx, in, openintent.EventComment, openintent.Object{"note": "hello"}))
		}},
		{"LogLLMRequestStarted", []string{"createIntentEvent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.LogLLMRequestStarted(ctx, in, openintent.LLMRequestPayload{RequestID: "r", Provider: "p", Model: "m"}))
		}},
		{"LogToolCallStarted", []string{"createIntentEvent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.LogToolCallStarted(ctx, in, openintent.ToolCallPayload{ToolName: "t", ToolID: "1"}))
		}},
		{"ListIntentAgents", []string{"listIntentAgents"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListIntentAgents(ctx, in)) }},
		{"AssignAgent", []string{"assignIntentAgent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.AssignAgent(ctx, in, "synth-agent"))
		}},
		{"GetLeases", []string{"listIntentLeases"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetLeases(ctx, in)) }},
		{"AcquireLease", []string{"acquireIntentLease"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.AcquireLease(ctx, in, "analysis", time.Minute))
		}},
		{"RenewLease", []string{"renewIntentLease"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RenewLease(ctx, in, "l-1", time.Minute))
		}},
		{"ReleaseLease", []string{"releaseIntentLease"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return none(c.ReleaseLease(ctx, in, "l-1"))
		}},
		{"ListAttachments", []string{"listIntentAttachments"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListAttachments(ctx, in)) }},
		{"CreateAttachment", []string{"createIntentAttachment"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateAttachment(ctx, in, openintent.AttachmentCreate{Filename: "report.pdf", MimeType: "application/pdf", Size: 1024,
				StorageURL: "https://storage.example.com/report.pdf"}))
		}},
		{"DeleteAttachment", []string{"deleteIntentAttachment"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return none(c.DeleteAttachment(ctx, in, "a-1"))
		}},
		{"ListIntentPortfolios", []string{"listIntentPortfolios"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListIntentPortfolios(ctx, in))
		}},
		{"ListCosts", []string{"listIntentCosts"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListCosts(ctx, in)) }},
		{"RecordCost", []string{"recordIntentCost"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RecordCost(ctx, in, openintent.CostCreate{CostType: "tokens", Amount: 1500, Unit: "tokens"}))
		}},
		{"GetRetryPolicy", []string{"getIntentRetryPolicy"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetRetryPolicy(ctx, in)) }},
		{"SetRetryPolicy", []string{"putIntentRetryPolicy"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.SetRetryPolicy(ctx, in, openintent.RetryPolicySet{Strategy: "exponential"}))
		}},
		{"ListFailures", []string{"listIntentFailures"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListFailures(ctx, in)) }},
		{"RecordFailure", []string{"recordIntentFailure"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RecordFailure(ctx, in, openintent.FailureCreate{ErrorMessage: "upstream timed out", AttemptNumber: 1}))
		}},
		{"GetACL", []string{"getIntentAcl"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetACL(ctx, in)) }},
		{"SetACL", []string{"putIntentAcl"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.SetACL(ctx, in, openintent.ACLSet{DefaultPolicy: openintent.AccessClosed,
				Entries: []openintent.ACLEntryCreate{{PrincipalID: "synth-agent", Permission: openintent.PermissionWrite}}}))
		}},
		{"GrantAccess", []string{"createIntentAclEntry"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GrantAccess(ctx, in, openintent.ACLEntryCreate{PrincipalID: "synth-agent", Permission: openintent.PermissionWrite}))
		}},
		{"RevokeAccess", []string{"deleteIntentAclEntry"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return none(c.RevokeAccess(ctx, in, "e-1"))
		}},
		{"RequestAccess", []string{"createAccessRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RequestAccess(ctx, in, openintent.AccessRequestCreate{Reason: "need it"}))
		}},
		{"ListAccessRequests", []string{"listAccessRequests"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListAccessRequests(ctx, in))
		}},
		{"ApproveAccessRequest", []string{"approveAccessRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ApproveAccessRequest(ctx, in, "r-1", openintent.AccessRequestDecision{Reason: "ok"}))
		}},
		{"DenyAccessRequest", []string{"denyAccessRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.DenyAccessRequest(ctx, in, "r-1", openintent.AccessRequestDecision{Reason: "no"}))
		}},
		{"CreatePortfolio", []string{"createPortfolio"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: "Q4 research"}))
		}},
		{"ListPortfolios", []string{"listPortfolios"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListPortfolios(ctx, "")) }},
		{"GetPortfolio", []string{"getPortfolio"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetPortfolio(ctx, "p-1")) }},
		{"UpdatePortfolioStatus", []string{"updatePortfolioStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.UpdatePortfolioStatus(ctx, "p-1", "completed"))
		}},
		{"GetPortfolioIntents", []string{"listPortfolioIntents"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			intents, _, err := c.GetPortfolioIntents(ctx, "p-1")
			return intents, err
		}},
		{"AddIntentToPortfolio", []string{"addPortfolioIntent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.AddIntentToPortfolio(ctx, "p-1", in, "member", 0))
		}},
		{"RemoveIntentFromPortfolio", []string{"removePortfolioIntent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return none(c.RemoveIntentFromPortfolio(ctx, "p-1", in))
		}},
		{"RequestArbitration", []string{"requestArbitration"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RequestArbitration(ctx, in, "stuck", nil))
		}},
		{"RecordDecision", []string{"recordDecision"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RecordDecision(ctx, in, "approval", "approve", "looks right"))
		}},
		{"GetDecisions", []string{"listIntentDecisions"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetDecisions(ctx, in)) }},
		{"ListDecisionRecords", []string{"listIntentDecisions"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListDecisionRecords(ctx, in))
		}},
		{"InvokeTool", []string{"invokeTool"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.InvokeTool(ctx, "search", "", openintent.Object{"q": "go"}))
		}},
		{"CreateTask", []string{"createTask"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateTask(ctx, openintent.TaskCreate{IntentID: in, Name: "collect data"}))
		}},
		{"GetTask", []string{"getTask"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetTask(ctx, "t-1")) }},
		{"ListTasks", []string{"listIntentTasks"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListTasks(ctx, in, openintent.ListTasksParams{}))
		}},
		{"UpdateTask", []string{"updateTaskStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.UpdateTask(ctx, "t-1", 1, openintent.TaskUpdate{Status: "running", AssignedAgent: "synth-agent"}))
		}},
		{"CreatePlan", []string{"createPlan"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreatePlan(ctx, openintent.PlanCreate{IntentID: in}))
		}},
		{"GetPlan", []string{"getPlan"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetPlan(ctx, "p-1")) }},
		{"ListPlans", []string{"listIntentPlans"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListPlans(ctx, in)) }},
		{"UpdatePlan", []string{"updatePlan"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.UpdatePlan(ctx, "p-1", 1, openintent.PlanUpdate{State: "active"}))
		}},
		{"CreateCoordinatorLease", []string{"createCoordinatorLease"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateCoordinatorLease(ctx, openintent.CoordinatorLeaseCreate{IntentID: in}))
		}},
		{"GetCoordinatorLease", []string{"getCoordinatorLease"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetCoordinatorLease(ctx, "c-1"))
		}},
		{"ListCoordinatorLeases", []string{"listIntentCoordinatorLeases"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListCoordinatorLeases(ctx, openintent.ListCoordinatorLeasesParams{IntentID: in}))
		}},
		{"CoordinatorHeartbeat", []string{"coordinatorHeartbeat"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CoordinatorHeartbeat(ctx, "c-1"))
		}},
		{"CreateDecisionRecord", []string{"createDecisionRecord"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateDecisionRecord(ctx, openintent.DecisionRecordCreate{CoordinatorID: "c-1", IntentID: in, DecisionType: "task_assignment",
				Summary: "assign synth", Rationale: "best fit"}))
		}},
		{"CreateEscalation", []string{"createEscalation"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateEscalation(ctx, in, openintent.EscalationCreate{Reason: "stuck"}))
		}},
		{"ListEscalations", []string{"listEscalations"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListEscalations(ctx, openintent.ListEscalationsParams{}))
		}},
		{"ResolveEscalation", []string{"resolveEscalation"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ResolveEscalation(ctx, "x-1", openintent.EscalationResolve{Resolution: "unblocked"}))
		}},
		{"CreateApprovalRequest", []string{"createApprovalRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateApprovalRequest(ctx, in, openintent.ApprovalRequestCreate{Action: "complete"}))
		}},
		{"GetApprovalRequest", []string{"getApprovalRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetApprovalRequest(ctx, in, "a-1"))
		}},
		{"ApproveApprovalRequest", []string{"approveApprovalRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ApproveApprovalRequest(ctx, in, "a-1", ""))
		}},
		{"DenyApprovalRequest", []string{"denyApprovalRequest"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.DenyApprovalRequest(ctx, in, "a-1", ""))
		}},
		{"SetGovernancePolicy", []string{"setGovernancePolicy"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.SetGovernancePolicy(ctx, in, 3, openintent.GovernancePolicy{CompletionMode: "require_approval"}))
		}},
		{"GetGovernancePolicy", []string{"getGovernancePolicy"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetGovernancePolicy(ctx, in))
		}},
		{"DeleteGovernancePolicy", []string{"deleteGovernancePolicy"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.DeleteGovernancePolicy(ctx, in, 4))
		}},
		{"CreateVault", []string{"createVault"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateVault(ctx, openintent.VaultCreate{Name: "main"}))
		}},
		{"GetVault", []string{"getVault"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetVault(ctx, "v-1")) }},
		{"CreateCredential", []string{"createCredential"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateCredential(ctx, openintent.CredentialCreate{VaultID: "v-1", Service: "search", Label: "search key"}))
		}},
		{"GetCredential", []string{"getCredential"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetCredential(ctx, "cr-1")) }},
		{"CreateToolGrant", []string{"createToolGrant"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateToolGrant(ctx, openintent.ToolGrantCreate{CredentialID: "cr-1", AgentID: "research-agent", Scopes: []string{"search"}}))
		}},
		{"GetToolGrant", []string{"getToolGrant"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetToolGrant(ctx, "g-1")) }},
		{"ListAgentGrants", []string{"listAgentToolGrants"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListAgentGrants(ctx, "research-agent"))
		}},
		{"RevokeGrant", []string{"revokeToolGrant"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.RevokeGrant(ctx, "g-1")) }},
		{"RecordInvocation", []string{"createToolInvocation"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RecordInvocation(ctx, openintent.ToolInvocationCreate{GrantID: "g-1", Service: "search", Tool: "search"}))
		}},
		{"ListInvocations", []string{"listGrantInvocations"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListInvocations(ctx, "g-1", 0))
		}},
		{"CreateMemory", []string{"createMemoryEntry"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateMemory(ctx, openintent.MemoryEntryCreate{Namespace: "notes", Key: "k1", Value: openintent.Object{"text": "hi"}}))
		}},
		{"GetMemory", []string{"getMemoryEntry"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetMemory(ctx, "m-1")) }},
		{"ListMemory", []string{"listAgentMemory"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListMemory(ctx, "research-agent", openintent.ListMemoryParams{}))
		}},
		{"UpdateMemory", []string{"updateMemoryEntry"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.UpdateMemory(ctx, "m-1", 1, openintent.MemoryEntryUpdate{Value: openintent.Object{"text": "bye"}}))
		}},
		{"DeleteMemory", []string{"deleteMemoryEntry"}, func(ctx context.Context, c *openintent.Client) (any, error) { return none(c.DeleteMemory(ctx, "m-1")) }},
		{"RegisterAgent", []string{"registerAgent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RegisterAgent(ctx, openintent.AgentRegistration{Capabilities: []string{"search"}}))
		}},
		{"GetAgentRecord", []string{"getAgentRecord"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetAgentRecord(ctx, "research-agent"))
		}},
		{"ListAgents", []string{"listAgents"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListAgents(ctx, openintent.ListAgentsParams{}))
		}},
		{"AgentHeartbeat", []string{"agentHeartbeat"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.AgentHeartbeat(ctx, "", openintent.AgentHeartbeatCreate{}))
		}},
		{"UpdateAgentStatus", []string{"updateAgentStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.UpdateAgentStatus(ctx, "research-agent", "draining"))
		}},
		{"CreateTrigger", []string{"createTrigger"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateTrigger(ctx, openintent.TriggerCreate{Name: "nightly", Type: "schedule"}))
		}},
		{"GetTrigger", []string{"getTrigger"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetTrigger(ctx, "tr-1")) }},
		{"ListTriggers", []string{"listTriggers"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListTriggers(ctx, openintent.ListTriggersParams{}))
		}},
		{"UpdateTrigger", []string{"updateTrigger"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			disabled := false
			return one(c.UpdateTrigger(ctx, "tr-1", 1, openintent.TriggerUpdate{Enabled: &disabled}))
		}},
		{"FireTrigger", []string{"fireTrigger"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.FireTrigger(ctx, "tr-1")) }},
		{"DeleteTrigger", []string{"deleteTrigger"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return none(c.DeleteTrigger(ctx, "tr-1"))
		}},
		{"BeginIdentityRegistration", []string{"registerAgentIdentity"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.BeginIdentityRegistration(ctx, "research-agent", openintent.IdentityRegistration{PublicKey: "MCowBQYDK2VwAyEA"}))
		}},
		{"CompleteIdentityChallenge", []string{"completeIdentityChallenge"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CompleteIdentityChallenge(ctx, "research-agent", "ch", "sig"))
		}},
		{"GetIdentity", []string{"getAgentIdentity"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetIdentity(ctx, "research-agent"))
		}},
		{"VerifySignature", []string{"verifyAgentSignature"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.VerifySignature(ctx, "research-agent", openintent.Object{"a": 1}, "sig"))
		}},
		{"RotateKey", []string{"rotateAgentKey"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.RotateKey(ctx, "research-agent", "MCowBQYDK2VwAyEB", "MCowBQYDK2VwAyEA", "sig"))
		}},
		{"VerifyEventChain", []string{"verifyEventChain"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.VerifyEventChain(ctx, in)) }},
		{"ListCheckpoints", []string{"listCheckpoints"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListCheckpoints(ctx, openintent.ListCheckpointsParams{}))
		}},
		{"GetCheckpoint", []string{"getCheckpoint"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetCheckpoint(ctx, "chk_0123456789abcdef"))
		}},
		{"GetMerkleProof", []string{"getMerkleProof"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetMerkleProof(ctx, "chk_0123456789abcdef", "e-1"))
		}},
		{"VerifyConsistency", []string{"verifyCheckpointConsistency"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.VerifyConsistency(ctx, "chk_a", "chk_b"))
		}},
		{"CreateCheckpoint", []string{"createCheckpoint"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateCheckpoint(ctx, openintent.CheckpointCreate{IntentID: in}))
		}},
		{"AnchorCheckpoint", []string{"anchorCheckpoint"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.AnchorCheckpoint(ctx, "chk_0123456789abcdef", openintent.AnchorCreate{Provider: "opentimestamps"}))
		}},
		{"GetServerDIDDocument", []string{"getServerDidDocument"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetServerDIDDocument(ctx)) }},
		{"CreateChannel", []string{"createChannel"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.CreateChannel(ctx, in, openintent.ChannelCreate{Name: "coord"}))
		}},
		{"ListChannels", []string{"listIntentChannels"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.ListChannels(ctx, in)) }},
		{"GetChannel", []string{"getChannel"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.GetChannel(ctx, "ch-1")) }},
		{"UpdateChannel", []string{"updateChannel"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			members := []string{"research-agent", "synth-agent"}
			return one(c.UpdateChannel(ctx, "ch-1", openintent.ChannelUpdate{Members: &members}))
		}},
		{"CloseChannel", []string{"closeChannel"}, func(ctx context.Context, c *openintent.Client) (any, error) { return none(c.CloseChannel(ctx, "ch-1")) }},
		{"SendMessage", []string{"sendChannelMessage"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.SendMessage(ctx, "ch-1", openintent.ChannelMessageCreate{Payload: openintent.Object{"text": "hi"}}))
		}},
		{"ListMessages", []string{"listChannelMessages"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListMessages(ctx, "ch-1", openintent.ListMessagesParams{}))
		}},
		{"GetMessage", []string{"getChannelMessage"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.GetMessage(ctx, "ch-1", "m-1"))
		}},
		{"ReplyTo", []string{"replyToChannelMessage"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ReplyTo(ctx, "ch-1", "m-1", openintent.ChannelReply{Payload: openintent.Object{"text": "hi"}}))
		}},
		{"MarkRead", []string{"updateChannelMessageStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.MarkRead(ctx, "ch-1", "m-1"))
		}},
		{"FederationDiscover", []string{"getFederationManifest"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.FederationDiscover(ctx)) }},
		{"FederationStatus", []string{"getFederationStatus"}, func(ctx context.Context, c *openintent.Client) (any, error) { return one(c.FederationStatus(ctx)) }},
		{"ListFederatedAgents", []string{"listFederatedAgents"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.ListFederatedAgents(ctx, ""))
		}},
		{"FederationDispatch", []string{"dispatchFederatedIntent"}, func(ctx context.Context, c *openintent.Client) (any, error) {
			return one(c.FederationDispatch(ctx, openintent.FederationDispatchRequest{IntentID: in, TargetServer: "https://peer.example.com"}))
		}},
	}
}

// sdkLacks are the reference's routes no SDK method calls, with the reason.
var sdkLacks = map[string]string{
	"receiveFederatedIntent": "server to server: a federation peer's server calls it, not an SDK client",
}

// TestSDKDecodesEveryReferenceResponse calls every SDK method that reaches a route of the
// reference server against its recorded response: the call succeeds, every key the reference
// sends comes through the SDK's type with its value (timestamps as the same instant), and the
// request body has every field the reference server requires.
func TestSDKDecodesEveryReferenceResponse(t *testing.T) {
	fixtures, _ := loadReference(t)
	fake := &fakeReference{fixtures: fixtures}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := openintent.NewClient(srv.URL, openintent.WithAPIKey("dev-user-key"), openintent.WithAgentID("research-agent"),
		openintent.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	byOp := map[string]*refFixture{}
	for _, f := range fixtures {
		byOp[f.Operation] = f
	}
	covered := map[string]bool{}
	ctx := context.Background()
	for _, sc := range referenceCalls() {
		got, err := sc.call(ctx, c)
		reqs := fake.take()
		if err != nil {
			t.Errorf("%s: %v", sc.name, err)
			continue
		}
		reached := map[string]bool{}
		for _, r := range reqs {
			reached[r.fixture.Operation] = true
			covered[r.fixture.Operation] = true
			checkRequestBody(t, sc.name, r)
		}
		for _, op := range sc.ops {
			if !reached[op] {
				t.Errorf("%s did not reach %s (reached %v)", sc.name, op, reached)
			}
		}
		if got == nil || len(sc.ops) != 1 {
			continue
		}
		f := byOp[sc.ops[0]]
		var diffs []string
		compareDecoded(sc.name, f.Body, toGeneric(t, got), &diffs)
		for _, d := range diffs {
			t.Error(d)
		}
	}
	for _, f := range fixtures {
		if !covered[f.Operation] && sdkLacks[f.Operation] == "" {
			t.Errorf("no SDK call reaches the reference's %s %s (%s): add one to referenceCalls or say why in sdkLacks", f.Method, f.Path, f.Operation)
		}
	}
}

// checkRequestBody checks that a request has the fields the reference server requires.
func checkRequestBody(t *testing.T, method string, r recorded) {
	t.Helper()
	f := r.fixture
	if len(f.RequestRequired) == 0 && !f.RequestBodyRequired {
		return
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Errorf("%s -> %s: the body is not a JSON object (%v): %q; the reference server answers 422", method, f.Operation, err, r.body)
		return
	}
	for _, k := range f.RequestRequired {
		if v, ok := body[k]; !ok || v == nil {
			t.Errorf("%s -> %s %s: the body lacks %q, which the reference server requires (422 without it): %s", method, f.Method, f.Path, k, r.body)
		}
	}
}

func toGeneric(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareDecoded appends where got (an SDK result, as JSON) lost or changed what want (the
// reference's response) says.
func compareDecoded(at string, want, got any, diffs *[]string) {
	if w, ok := want.(map[string]any); ok && len(w) == 1 {
		if _, isList := got.([]any); isList {
			for _, inner := range w {
				want = inner // an envelope ({"children": [...]}) the SDK unwraps
			}
		}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want an object, the SDK gives %T", at, got))
			return
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				if !isEmpty(w[k]) {
					*diffs = append(*diffs, fmt.Sprintf("%s.%s: the reference sends %v; the SDK's type drops it", at, k, w[k]))
				}
				continue
			}
			compareDecoded(at+"."+k, w[k], gv, diffs)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %d items, the SDK gives %v", at, len(w), got))
			return
		}
		for i := range w {
			compareDecoded(fmt.Sprintf("%s[%d]", at, i), w[i], g[i], diffs)
		}
	case string:
		g, _ := got.(string)
		if g == w {
			return
		}
		wt, err1 := timestamp.Parse(w)
		gt, err2 := timestamp.Parse(g)
		if err1 == nil && err2 == nil && wt.Equal(gt.Time) {
			return
		}
		*diffs = append(*diffs, fmt.Sprintf("%s: the reference sends %q, the SDK gives %v", at, w, got))
	case nil:
		if !isEmpty(got) {
			*diffs = append(*diffs, fmt.Sprintf("%s: the reference sends null, the SDK gives %v", at, got))
		}
	default:
		if fmt.Sprint(w) != fmt.Sprint(got) {
			*diffs = append(*diffs, fmt.Sprintf("%s: the reference sends %v, the SDK gives %v", at, w, got))
		}
	}
}

// isEmpty reports whether v is JSON's null or an empty value (which omitempty leaves out).
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// TestSDKMapsEveryReferenceError: each error body the reference server sends (FastAPI's
// {"detail": "..."}, its object details, its validation lists, plain-text 500s) becomes the
// SDK's typed error with the server's message and fields.
func TestSDKMapsEveryReferenceError(t *testing.T) {
	_, errs := loadReference(t)
	for _, e := range errs {
		t.Run(e.Name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", e.ContentType)
				w.WriteHeader(e.Status)
				if s, ok := e.Body.(string); ok {
					io.WriteString(w, s)
					return
				}
				json.NewEncoder(w).Encode(e.Body)
			}))
			defer srv.Close()
			c, err := openintent.NewClient(srv.URL, openintent.WithAPIKey("dev-user-key"), openintent.WithAgentID("research-agent"),
				openintent.WithMaxRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.UpdateState(context.Background(), "i-1", 3, openintent.Object{"a": 1})
			var api *openintent.APIError
			if !errors.As(err, &api) {
				t.Fatalf("%v: not an *APIError", err)
			}
			if api.StatusCode != e.Status || api.Detail != e.Detail {
				t.Errorf("status %d detail %q, want %d %q", api.StatusCode, api.Detail, e.Status, e.Detail)
			}
			if got := typeName(err); got != e.SDKError {
				t.Errorf("error type %s, want %s (%v)", got, e.SDKError, err)
			}
			var fields [][]string
			for _, f := range api.FieldErrors {
				fields = append(fields, []string{f.Field, f.Message})
			}
			if fmt.Sprint(fields) != fmt.Sprint(e.Fields) {
				t.Errorf("field errors %v, want %v", fields, e.Fields)
			}
			if len(api.Body) == 0 {
				t.Errorf("APIError.Body is empty")
			}
		})
	}
}

// typeName names the SDK's error type of err.
func typeName(err error) string {
	switch err.(type) {
	case *openintent.NotFoundError:
		return "NotFoundError"
	case *openintent.VersionConflictError:
		return "VersionConflictError"
	case *openintent.LeaseConflictError:
		return "LeaseConflictError"
	case *openintent.ConflictError:
		return "ConflictError"
	case *openintent.ValidationError:
		return "ValidationError"
	case *openintent.AuthenticationError:
		return "AuthenticationError"
	case *openintent.PermissionError:
		return "PermissionError"
	case *openintent.RateLimitError:
		return "RateLimitError"
	case *openintent.ServerError:
		return "ServerError"
	case *openintent.APIError:
		return "APIError"
	}
	return fmt.Sprintf("%T", err)
}
