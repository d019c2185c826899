package mcp_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openintent-go/openintent/pkg/mcp"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// connect serves cfg over the SDK's in-memory transport and returns a connected client session.
func connect(t *testing.T, cfg mcp.Config) (*mcp.Server, *sdk.ClientSession) {
	t.Helper()
	srv, err := mcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, ct := sdk.NewInMemoryTransports()
	ss, err := srv.MCP().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close(); cancel() })
	return srv, cs
}

func call(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	return res, text.String()
}

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func TestRolesDecideTheTools(t *testing.T) {
	srv := newServer(t)
	counts := map[mcp.Role]int{}
	for _, role := range []mcp.Role{mcp.RoleReader, mcp.RoleOperator, mcp.RoleAdmin} {
		s, cs := connect(t, mcp.Config{URL: srv.URL, APIKey: srv.APIKey, AgentID: "assistant", Role: role})
		names := toolNames(t, cs)
		counts[role] = len(names)
		if len(names) != len(s.Tools()) {
			t.Errorf("%s: the client lists %d tools, the server offers %d", role, len(names), len(s.Tools()))
		}
		has := func(n string) bool { return slices.Contains(names, n) }
		switch role {
		case mcp.RoleReader:
			if !has("openintent_get_intent") || has("openintent_create_intent") || has("openintent_set_status") {
				t.Errorf("reader's tools: %v", names)
			}
		case mcp.RoleOperator:
			if !has("openintent_create_intent") || !has("openintent_update_state") || has("openintent_set_status") || has("openintent_acquire_lease") {
				t.Errorf("operator's tools: %v", names)
			}
		case mcp.RoleAdmin:
			if !has("openintent_set_status") || !has("openintent_acquire_lease") || has("openintent_receive_federated_intent") || has("openintent_stream_intent_events") {
				t.Errorf("admin's tools: %v", names)
			}
		}
	}
	if !(counts[mcp.RoleReader] < counts[mcp.RoleOperator] && counts[mcp.RoleOperator] < counts[mcp.RoleAdmin]) {
		t.Errorf("tool counts by role: %v", counts)
	}
	_, cs := connect(t, mcp.Config{URL: srv.URL, APIKey: srv.APIKey, Role: mcp.RoleOperator,
		AllowedTools: []string{"openintent_get_intent", "openintent_set_status"}})
	if names := toolNames(t, cs); len(names) != 1 || names[0] != "openintent_get_intent" {
		t.Errorf("allow-list within the operator role: %v", names)
	}
	if _, err := mcp.New(mcp.Config{URL: srv.URL, AllowedTools: []string{"nope"}}); err == nil {
		t.Error("an unknown allowed tool is accepted")
	}
	if _, err := mcp.New(mcp.Config{URL: srv.URL, Role: "root"}); err == nil {
		t.Error("an unknown role is accepted")
	}
}

// Every operation of the spec is a tool (but streams and what peers send) with an object
// schema, and every tool's tier is one of the three.
func TestToolsComeFromTheSpec(t *testing.T) {
	tools, err := mcp.AllTools()
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) < 130 {
		t.Errorf("only %d tools", len(tools))
	}
	for _, tool := range tools {
		if tool.Tier != mcp.TierRead && tool.Tier != mcp.TierWrite && tool.Tier != mcp.TierAdmin || tool.OperationID == "" {
			t.Errorf("%+v", tool)
		}
		if tool.Method == "GET" && tool.Tier == mcp.TierWrite {
			t.Errorf("%s reads but is of the write tier", tool.Name)
		}
	}
	srv := newServer(t)
	_, cs := connect(t, mcp.Config{URL: srv.URL, APIKey: srv.APIKey, Role: mcp.RoleAdmin})
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		s, _ := tool.InputSchema.(map[string]any)
		if s["type"] != "object" {
			t.Errorf("%s: schema %v", tool.Name, s)
		}
		if tool.Name == "openintent_update_state" {
			props, _ := s["properties"].(map[string]any)
			if props["intent_id"] == nil || props["if_match"] == nil || props["patches"] == nil && props["body"] == nil {
				t.Errorf("update_state's schema lacks the spec's parameters: %v", props)
			}
		}
	}
}

func TestToolCallsActAsTheConfiguredAgent(t *testing.T) {
	srv := newServer(t)
	_, cs := connect(t, mcp.Config{URL: srv.URL, APIKey: srv.APIKey, AgentID: "assistant", Role: mcp.RoleAdmin})
	res, text := call(t, cs, "openintent_create_intent", map[string]any{"title": "From MCP", "description": "made by a tool", "state": map[string]any{"step": 1}})
	if res.IsError {
		t.Fatalf("create: %s", text)
	}
	var in openintent.Intent
	if err := json.Unmarshal([]byte(text), &in); err != nil || in.CreatedBy != "assistant" || in.Title != "From MCP" {
		t.Fatalf("created %s (%v)", text, err)
	}
	if res.StructuredContent == nil {
		t.Error("no structured content")
	}
	// If-Match from if_match; the server's version check applies.
	res, text = call(t, cs, "openintent_set_status", map[string]any{"intent_id": in.ID, "if_match": in.Version, "status": "active"})
	if res.IsError {
		t.Fatalf("set status: %s", text)
	}
	res, text = call(t, cs, "openintent_set_status", map[string]any{"intent_id": in.ID, "if_match": in.Version, "status": "completed"})
	if !res.IsError || !strings.Contains(text, "409") {
		t.Errorf("stale version: %v %s", res.IsError, text)
	}
	res, text = call(t, cs, "openintent_get_events", map[string]any{"intent_id": in.ID})
	if res.IsError || !strings.Contains(text, "intent_created") || !strings.Contains(text, `"actor": "assistant"`) {
		t.Errorf("events: %s", text)
	}
	res, text = call(t, cs, "openintent_list_intents", map[string]any{"status": "active", "limit": 5})
	if res.IsError || !strings.Contains(text, in.ID) {
		t.Errorf("list: %s", text)
	}
	// Bad input is reported to the model, naming the problem, never dropped.
	res, text = call(t, cs, "openintent_get_intent", map[string]any{"intent_id": in.ID, "verbose": true})
	if !res.IsError || !strings.Contains(text, "verbose") {
		t.Errorf("unknown argument: %s", text)
	}
	res, text = call(t, cs, "openintent_get_intent", map[string]any{})
	if !res.IsError || !strings.Contains(text, "intent_id") {
		t.Errorf("missing argument: %s", text)
	}
	res, text = call(t, cs, "openintent_create_intent", map[string]any{"description": "no title"})
	if !res.IsError || !strings.Contains(text, "422") || !strings.Contains(text, `"field": "title"`) {
		t.Errorf("invalid body: %s", text)
	}
	// The key never shows.
	if strings.Contains(text, srv.APIKey) {
		t.Error("the API key appears in a tool's output")
	}
}

func TestCallsCarryTheKey(t *testing.T) {
	srv := newServer(t)
	_, cs := connect(t, mcp.Config{URL: srv.URL, APIKey: "wrong-key", AgentID: "assistant"})
	res, text := call(t, cs, "openintent_list_intents", nil)
	if !res.IsError || !strings.Contains(text, "401") {
		t.Errorf("wrong key: %s", text)
	}
	if strings.Contains(text, "wrong-key") {
		t.Error("the key is echoed")
	}
}

func TestResources(t *testing.T) {
	srv := newServer(t)
	c := srv.Client(t, "assistant")
	ctx := context.Background()
	in, err := c.CreateIntent(ctx, openintent.IntentCreate{Title: "Resource", State: openintent.Object{"answer": 42}})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := c.CreatePortfolio(ctx, openintent.PortfolioCreate{Name: "P"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddIntentToPortfolio(ctx, pf.ID, in.ID, "member", 0); err != nil {
		t.Fatal(err)
	}
	_, cs := connect(t, mcp.Config{URL: srv.URL, APIKey: srv.APIKey, AgentID: "assistant"})
	read := func(uri string) (string, error) {
		r, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
		if err != nil {
			return "", err
		}
		return r.Contents[0].Text, nil
	}
	for uri, want := range map[string]string{
		"openintent://intents":                      in.ID,
		"openintent://intents/" + in.ID:             `"title": "Resource"`,
		"openintent://intents/" + in.ID + "/state":  `"answer": 42`,
		"openintent://intents/" + in.ID + "/events": "intent_created",
		"openintent://portfolios":                   pf.ID,
		"openintent://portfolios/" + pf.ID:          in.ID,
	} {
		text, err := read(uri)
		if err != nil || !strings.Contains(text, want) {
			t.Errorf("%s: %v\n%s", uri, err, text)
		}
	}
	if _, err := read("openintent://intents/01a00000-0000-7000-8000-000000000000"); err == nil {
		t.Error("a missing intent is found")
	}
	tpl, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(tpl.ResourceTemplates) != 5 {
		t.Errorf("templates: %v, %v", tpl, err)
	}
}

// The streamable HTTP transport serves the same server.
func TestStreamableHTTP(t *testing.T) {
	srv := newServer(t)
	s, err := mcp.New(mcp.Config{URL: srv.URL, APIKey: srv.APIKey, AgentID: "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.HTTPHandler())
	defer hs.Close()
	ctx := context.Background()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "openintent_get_health"})
	if err != nil || res.IsError {
		t.Fatalf("health over HTTP: %v %+v", err, res)
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
