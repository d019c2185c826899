// Package mcp exposes the OpenIntent protocol to MCP clients (desktop assistants, IDEs, other
// agents) as a Model Context Protocol server, built on the official Go MCP SDK.
//
// Every operation of the protocol's spec (api/openapi.yaml) is a tool whose input schema is
// taken from the spec: path and query parameters, If-Match as `if_match`, and the request
// body's properties (or a `body` argument). Intents, their state and events, portfolios and
// channel messages are resources (openintent://intents/{intent_id}, ...). Each client sees the
// tools of its role (reader, operator, admin), narrowed further by an allow-list, and every
// call is made to the OpenIntent server with the configured API key as the configured agent,
// so the server's own access rules apply on top.
//
//	srv, err := mcp.New(mcp.Config{URL: "http://localhost:8000", APIKey: key, AgentID: "assistant", Role: mcp.RoleReader})
//	err = srv.RunStdio(ctx)                     // for desktop clients that start it
//	http.Handle("/mcp", srv.HTTPHandler())      // streamable HTTP
package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Config configures a Server.
type Config struct {
	// URL is the OpenIntent server's base URL.
	URL string
	// APIKey is the key every call carries (X-API-Key). It never appears in a tool's output or
	// the log.
	APIKey string
	// AgentID is the agent every call acts as (X-Agent-ID).
	AgentID string
	// Role decides which tiers of tools clients see (RoleReader when empty).
	Role Role
	// AllowedTools, when not empty, narrows the role's tools to these names; a name that is no
	// tool is an error.
	AllowedTools []string
	// HTTPClient makes the calls (a client with a 60s timeout when nil).
	HTTPClient *http.Client
	// Logger receives one audit line per tool call (tool, status, duration; never arguments
	// or keys). Discarded when nil.
	Logger *slog.Logger
	// Version is reported to clients as the server's version (openintent.Version when empty).
	Version string
}

// Server is an MCP server for one OpenIntent server, key, agent and role.
type Server struct {
	cfg    Config
	base   *url.URL
	http   *http.Client
	log    *slog.Logger
	mcp    *sdk.Server
	client *openintent.Client
	tools  []ToolInfo
}

// New builds the server's tools and resources.
func New(cfg Config) (*Server, error) {
	if cfg.Role == "" {
		cfg.Role = RoleReader
	}
	if _, err := ParseRole(string(cfg.Role)); err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("mcp: URL %q is not an http(s) URL", cfg.URL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = openintent.Version
	}
	opts := []openintent.Option{openintent.WithHTTPClient(cfg.HTTPClient)}
	if cfg.APIKey != "" {
		opts = append(opts, openintent.WithAPIKey(cfg.APIKey))
	}
	if cfg.AgentID != "" {
		opts = append(opts, openintent.WithAgentID(cfg.AgentID))
	}
	client, err := openintent.NewClient(base.String(), opts...)
	if err != nil {
		return nil, fmt.Errorf("mcp: %w", err)
	}
	ops, err := catalog()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, o := range ops {
		known[o.info.Name] = true
	}
	for _, name := range cfg.AllowedTools {
		if !known[name] {
			return nil, fmt.Errorf("mcp: allowed tool %q is no tool of this server", name)
		}
	}
	s := &Server{cfg: cfg, base: base, http: cfg.HTTPClient, log: cfg.Logger, client: client}
	s.mcp = sdk.NewServer(&sdk.Implementation{Name: "openintent", Title: "OpenIntent", Version: cfg.Version}, &sdk.ServerOptions{
		Instructions: "Tools and resources of an OpenIntent server: intents with versioned state, event logs, leases, " +
			"portfolios, tasks, channels and governance. Writes that name a version (if_match) fail with 409 when the " +
			"resource moved on: read it again and retry. Role: " + string(cfg.Role) + ".",
	})
	for _, o := range ops {
		if !cfg.Role.Grants(o.info.Tier) || len(cfg.AllowedTools) > 0 && !slices.Contains(cfg.AllowedTools, o.info.Name) {
			continue
		}
		s.tools = append(s.tools, o.info)
		tool := &sdk.Tool{Name: o.info.Name, Description: o.info.Description, InputSchema: o.schema,
			Annotations: &sdk.ToolAnnotations{ReadOnlyHint: o.readOnly, Title: o.info.OperationID}}
		if !o.readOnly {
			destructive := o.info.Method == http.MethodDelete
			tool.Annotations.DestructiveHint = &destructive
			tool.Annotations.IdempotentHint = o.info.Method == http.MethodPut || o.info.Method == http.MethodDelete
		}
		s.mcp.AddTool(tool, s.handler(o))
	}
	s.addResources()
	return s, nil
}

// Tools lists the tools this server offers (those of its role and allow-list), by name.
func (s *Server) Tools() []ToolInfo { return slices.Clone(s.tools) }

// MCP returns the underlying MCP server, for transports of your own.
func (s *Server) MCP() *sdk.Server { return s.mcp }

// RunStdio serves one client over standard input and output until ctx ends or the client
// disconnects.
func (s *Server) RunStdio(ctx context.Context) error { return s.mcp.Run(ctx, &sdk.StdioTransport{}) }

// HTTPHandler serves clients over MCP's streamable HTTP transport.
func (s *Server) HTTPHandler() http.Handler {
	return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.mcp }, &sdk.StreamableHTTPOptions{Logger: s.log})
}

// handler makes the operation's HTTP request from the tool's arguments.
func (s *Server) handler(o *operation) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		start := time.Now()
		var args map[string]any
		if raw := req.Params.Arguments; len(raw) > 0 && string(raw) != "null" {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&args); err != nil {
				return toolError("arguments must be a JSON object: %v", err), nil
			}
		}
		res, status := s.call(ctx, o, args)
		s.log.LogAttrs(ctx, slog.LevelInfo, "mcp tool call", slog.String("tool", o.info.Name),
			slog.String("agent_id", s.cfg.AgentID), slog.Int("status", status), slog.Duration("duration", time.Since(start)))
		return res, nil
	}
}

func toolError(format string, args ...any) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// call sends the request; status is the HTTP status (0 when none was sent).
func (s *Server) call(ctx context.Context, o *operation, args map[string]any) (*sdk.CallToolResult, int) {
	used := map[string]bool{}
	path := o.info.Path
	for _, name := range o.pathParams {
		v, ok := args[name]
		if !ok || v == nil || fmt.Sprint(v) == "" {
			return toolError("missing required argument %q", name), 0
		}
		used[name] = true
		path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(scalar(v)))
	}
	q := url.Values{}
	for _, p := range o.query {
		v, ok := args[p.Name]
		if !ok || v == nil {
			continue
		}
		used[p.Name] = true
		if l, isList := v.([]any); isList {
			for _, e := range l {
				q.Add(p.Name, scalar(e))
			}
		} else {
			q.Set(p.Name, scalar(v))
		}
	}
	header := http.Header{}
	if o.ifMatch {
		if v, ok := args["if_match"]; ok && v != nil {
			used["if_match"] = true
			header.Set("If-Match", scalar(v))
		}
	}
	var body any
	switch {
	case o.flatBody:
		b := map[string]any{}
		for _, name := range o.bodyProps {
			if v, ok := args[name]; ok {
				b[name] = v
				used[name] = true
			}
		}
		if len(b) > 0 || o.bodyReq {
			body = b
		}
	case o.hasBody:
		if v, ok := args["body"]; ok {
			body = v
			used["body"] = true
		}
	}
	var unknown []string
	for k := range args {
		if !used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return toolError("unknown argument(s) %s for %s", strings.Join(unknown, ", "), o.info.Name), 0
	}
	u := *s.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return toolError("cannot encode the body: %v", err), 0
		}
		rd = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	}
	hr, err := http.NewRequestWithContext(ctx, o.info.Method, u.String(), rd)
	if err != nil {
		return toolError("cannot build the request: %v", err), 0
	}
	hr.Header = header
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "openintent-mcp/"+s.cfg.Version)
	if s.cfg.APIKey != "" {
		hr.Header.Set("X-API-Key", s.cfg.APIKey)
	}
	if s.cfg.AgentID != "" {
		hr.Header.Set("X-Agent-ID", s.cfg.AgentID)
	}
	if o.info.Method == http.MethodPost || o.info.Method == http.MethodPatch {
		var key [16]byte
		_, _ = rand.Read(key[:])
		hr.Header.Set("Idempotency-Key", hex.EncodeToString(key[:]))
	}
	resp, err := s.http.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known to the client; keep the cause
		}
		return toolError("request to the OpenIntent server failed: %v", err), 0
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return toolError("reading the answer failed: %v", err), resp.StatusCode
	}
	text := string(data)
	var v any
	if json.Unmarshal(data, &v) == nil {
		if b, err := json.MarshalIndent(v, "", "  "); err == nil {
			text = string(b)
		}
	}
	if resp.StatusCode >= 400 {
		return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{
			Text: fmt.Sprintf("%s answered %d %s:\n%s", o.info.OperationID, resp.StatusCode, http.StatusText(resp.StatusCode), text)}}}, resp.StatusCode
	}
	if len(data) == 0 {
		text = fmt.Sprintf("%s: %d %s", o.info.OperationID, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}
	if obj, ok := v.(map[string]any); ok {
		res.StructuredContent = obj
	}
	return res, resp.StatusCode
}

// scalar formats a parameter value as the spec's text form.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
