package openintent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

const toolSecret = "sk-TOOL-SECRET-1234567890"

// recorder keeps every response body a client receives.
type recorder struct {
	mu     sync.Mutex
	bodies bytes.Buffer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.mu.Lock()
	r.bodies.Write(b)
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies.String()
}

func TestVaultsGrantsAndToolProxy(t *testing.T) {
	// The tool: checks the credential arrives as a bearer token and echoes it back (which the
	// proxy must redact).
	var calls int
	var mu sync.Mutex
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		var params map[string]any
		json.NewDecoder(r.Body).Decode(&params)
		if r.Header.Get("Authorization") != "Bearer "+toolSecret || r.URL.Path != "/web_search" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"hits": []any{"a", "b"}, "query": params["q"], "seen_auth": r.Header.Get("Authorization")})
	}))
	defer tool.Close()

	e := newClockEnv(t, openintenttest.WithToolProxy(server.ToolProxy{AllowPrivateNetworks: true}))
	rec := &recorder{}
	httpc := &http.Client{Transport: rec}
	owner := e.client(t, "owner", openintent.WithHTTPClient(httpc))
	worker := e.client(t, "worker", openintent.WithHTTPClient(httpc))
	other := e.client(t, "other", openintent.WithHTTPClient(httpc))
	ctx := ctxT(t)

	v, err := owner.CreateVault(ctx, openintent.VaultCreate{Name: "research tools"})
	if err != nil || v.OwnerID != "owner" {
		t.Fatalf("vault: %+v %v", v, err)
	}
	var pe *openintent.PermissionError
	if _, err := other.GetVault(ctx, v.ID); !errors.As(err, &pe) {
		t.Fatalf("another agent read the vault: %v", err)
	}
	// The secret is given once in `secret` and once, carelessly, inside metadata.
	cred, err := owner.CreateCredential(ctx, openintent.CredentialCreate{VaultID: v.ID, Service: "search", Label: "Search API",
		ScopesAvailable: []string{"web_search"}, Secret: map[string]any{"api_key": toolSecret},
		Metadata: openintent.Object{"base_url": tool.URL, "client_secret": toolSecret + "-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if !cred.HasSecret || cred.CredentialMetadata["base_url"] != tool.URL || cred.CredentialMetadata["client_secret"] != nil || cred.Status != "active" {
		t.Fatalf("credential: %+v", cred)
	}
	if got, err := owner.GetCredential(ctx, cred.ID); err != nil || got.Service != "search" || !got.HasSecret {
		t.Fatalf("get credential: %+v %v", got, err)
	}
	if _, err := other.GetCredential(ctx, cred.ID); !errors.As(err, &pe) {
		t.Fatalf("another agent read the credential: %v", err)
	}
	if _, err := other.CreateCredential(ctx, openintent.CredentialCreate{VaultID: v.ID, Service: "x", Label: "x"}); !errors.As(err, &pe) {
		t.Fatalf("another agent wrote into the vault: %v", err)
	}

	g, err := owner.CreateToolGrant(ctx, openintent.ToolGrantCreate{CredentialID: cred.ID, AgentID: "worker", Scopes: []string{"web_search"},
		Constraints: map[string]any{"max_invocations_per_hour": 2}})
	if err != nil || g.Status != "active" || g.GrantedBy != "owner" || g.Source != "direct" {
		t.Fatalf("grant: %+v %v", g, err)
	}
	if _, err := owner.CreateToolGrant(ctx, openintent.ToolGrantCreate{CredentialID: cred.ID, AgentID: "w",
		Constraints: map[string]any{"max_invocations_per_hour": -1}}); !isValidation(err, "constraints/max_invocations_per_hour") {
		t.Fatalf("bad limit: %v", err)
	}

	// The worker calls the tool through the proxy with the owner's credential.
	res, err := worker.InvokeTool(ctx, "web_search", "", openintent.Object{"q": "market trends"})
	if err != nil || res.Status != "success" || res.Result == nil || res.Result["query"] != "market trends" {
		t.Fatalf("invoke: %+v %v", res, err)
	}
	if res.Result["seen_auth"] != "Bearer [REDACTED]" {
		t.Fatalf("the echoed secret was not redacted: %v", res.Result["seen_auth"])
	}
	// Other agents cannot use the worker's grant, not even by naming it.
	if _, err := other.InvokeTool(ctx, "web_search", "", nil); !errors.As(err, &pe) || !strings.Contains(err.Error(), "no grant") {
		t.Fatalf("no grant: %v", err)
	}
	if _, err := other.InvokeTool(ctx, "web_search", "worker", nil); !errors.As(err, &pe) {
		t.Fatalf("impersonation: %v", err)
	}

	// Hourly limit: a call recorded outside the proxy counts too; the third is 429.
	inv, err := worker.RecordInvocation(ctx, openintent.ToolInvocationCreate{GrantID: g.ID, Service: "search", Tool: "web_search", IdempotencyKey: "k1"})
	if err != nil || inv.AgentID != "worker" || inv.Status != "success" {
		t.Fatalf("record: %+v %v", inv, err)
	}
	again, err := worker.RecordInvocation(ctx, openintent.ToolInvocationCreate{GrantID: g.ID, Service: "search", Tool: "web_search", IdempotencyKey: "k1"})
	if err != nil || again.ID != inv.ID {
		t.Fatalf("idempotent record: %+v %v", again, err)
	}
	var rl *openintent.RateLimitError
	if _, err := worker.InvokeTool(ctx, "web_search", "", nil); !errors.As(err, &rl) || rl.RetryAfter < 59*time.Minute {
		t.Fatalf("over the limit: %v", err)
	}
	e.clock.Advance(time.Hour + time.Second)
	if res, err := worker.InvokeTool(ctx, "web_search", "", openintent.Object{"q": "later"}); err != nil || res.Status != "success" {
		t.Fatalf("after an hour: %+v %v", res, err)
	}
	invs, err := owner.ListInvocations(ctx, g.ID, 0)
	if err != nil || len(invs) != 3 || invs[0].Parameters["q"] != "later" || invs[0].ID == "" {
		t.Fatalf("invocations: %+v %v", invs, err)
	}
	if invs[2].ID != res.InvocationID || invs[2].Status != "success" || invs[2].DurationMs == nil || *invs[2].DurationMs < 0 {
		t.Fatalf("the proxy's invocation_id is not its record: %s vs %+v", res.InvocationID, invs[2])
	}

	// Revocation: the proxy refuses, the grant says so, revoking twice is harmless.
	if r, err := owner.RevokeGrant(ctx, g.ID); err != nil || r.Status != "revoked" {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if _, err := owner.RevokeGrant(ctx, g.ID); err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	if _, err := worker.InvokeTool(ctx, "web_search", "", nil); !errors.As(err, &pe) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked grant used: %v", err)
	}
	// Expiry: a grant that runs out is refused and reported expired.
	exp := openintent.Timestamp{Time: e.clock.Now().Add(time.Hour)}
	g2, err := owner.CreateToolGrant(ctx, openintent.ToolGrantCreate{CredentialID: cred.ID, AgentID: "worker", Scopes: []string{"web_search"}, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := worker.InvokeTool(ctx, "web_search", "", nil); err != nil || res.Status != "success" {
		t.Fatalf("fresh grant: %+v %v", res, err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := worker.InvokeTool(ctx, "web_search", "", nil); !errors.As(err, &pe) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired grant used: %v", err)
	}
	if got, err := owner.GetToolGrant(ctx, g2.ID); err != nil || got.Status != "expired" {
		t.Fatalf("expired grant status: %+v %v", got, err)
	}
	grants, err := owner.ListAgentGrants(ctx, "worker")
	if err != nil || len(grants) != 2 || grants[0].Status != "revoked" || grants[1].Status != "expired" {
		t.Fatalf("agent grants: %+v %v", grants, err)
	}

	// The secret never appears in a response body, in the logs, or in the store.
	if strings.Contains(rec.String(), toolSecret) {
		t.Fatal("a response body carried the credential's secret")
	}
	if strings.Contains(e.logs.String(), toolSecret) {
		t.Fatal("the logs carry the credential's secret")
	}
	recs, err := e.srv.Store.ListRecords(ctx, store.Query{Kind: "credential"})
	if err != nil || len(recs) != 1 || strings.Contains(string(recs[0].Body), toolSecret) || !strings.Contains(string(recs[0].Body), "sealed_secret") {
		t.Fatalf("credential at rest: %s %v", recs[0].Body, err)
	}
	if calls != 3 {
		t.Fatalf("the tool was called %d times, want 3", calls)
	}
}

func TestToolProxyStubAndPrivateNetworks(t *testing.T) {
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer tool.Close()
	e := newEnv(t) // default proxy: private addresses refused
	owner, worker := e.client(t, "owner"), e.client(t, "worker")
	ctx := ctxT(t)
	v, _ := owner.CreateVault(ctx, openintent.VaultCreate{Name: "v"})
	local, _ := owner.CreateCredential(ctx, openintent.CredentialCreate{VaultID: v.ID, Service: "local", Label: "l",
		Metadata: openintent.Object{"base_url": tool.URL}})
	stub, _ := owner.CreateCredential(ctx, openintent.CredentialCreate{VaultID: v.ID, Service: "notes", Label: "n", AuthType: "bearer_token"})
	for _, c := range []*openintent.Credential{local, stub} {
		if _, err := owner.CreateToolGrant(ctx, openintent.ToolGrantCreate{CredentialID: c.ID, AgentID: "worker"}); err != nil {
			t.Fatal(err)
		}
	}
	// The grant covers the tool named like its credential's service.
	res, err := worker.InvokeTool(ctx, "local", "", nil)
	if err != nil || res.Status != "error" || res.Error == nil || !strings.Contains(*res.Error, "not public") {
		t.Fatalf("loopback tool: %+v %v", res, err)
	}
	res, err = worker.InvokeTool(ctx, "notes", "", openintent.Object{"text": "hi"})
	if err != nil || res.Status != "success" || res.Result["credential_auth_type"] != "bearer_token" {
		t.Fatalf("stub: %+v %v", res, err)
	}
}
