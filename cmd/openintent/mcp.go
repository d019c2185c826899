package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openintent-go/openintent/pkg/mcp"
)

func mcpCmd(e *env) *cobra.Command {
	var (
		transport string
		addr      string
		role      string
		allow     []string
		listTools bool
	)
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the protocol to MCP clients (stdio or streamable HTTP)",
		Long: `mcp runs a Model Context Protocol server in front of the OpenIntent server: every operation of
the protocol is a tool (with its JSON schema from the spec), intents and portfolios are
resources. Every call is made with the configured API key as the configured agent.

Roles decide which tools a client sees: reader (reads only), operator (also writes: create
intents, patch state, log events, send messages), admin (also lifecycle and coordination:
status, leases, assignments, governance, access control, credentials, triggers, identity).
--allow narrows the role's tools to a list. The role also comes from OPENINTENT_MCP_ROLE.

With --transport stdio (the default) a desktop assistant or IDE starts it, for example:

  {"mcpServers": {"openintent": {"command": "openintent", "args": ["mcp", "--role", "reader"],
    "env": {"OPENINTENT_URL": "http://localhost:8000", "OPENINTENT_API_KEY": "...",
            "OPENINTENT_AGENT_ID": "assistant"}}}}

With --transport http it serves MCP's streamable HTTP transport on --addr at /mcp.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := mcp.ParseRole(role)
			if err != nil {
				return usageError(err)
			}
			srv, err := mcp.New(mcp.Config{URL: e.url, APIKey: e.apiKey, AgentID: e.agentID, Role: r, AllowedTools: allow,
				HTTPClient: &http.Client{Timeout: e.timeout},
				Logger:     slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return usageError(err)
			}
			if listTools {
				tools := srv.Tools()
				if e.json() {
					type tool struct {
						Name        string `json:"name"`
						Tier        string `json:"tier"`
						OperationID string `json:"operation_id"`
						Method      string `json:"method"`
						Path        string `json:"path"`
					}
					out := []tool{}
					for _, t := range tools {
						out = append(out, tool{t.Name, string(t.Tier), t.OperationID, t.Method, t.Path})
					}
					return e.printJSON(out)
				}
				rows := [][]string{}
				for _, t := range tools {
					rows = append(rows, []string{t.Name, string(t.Tier), t.Method + " " + t.Path})
				}
				e.table([]string{"TOOL", "TIER", "ROUTE"}, rows)
				return nil
			}
			ctx := cmd.Context()
			switch transport {
			case "stdio":
				fmt.Fprintf(e.stderr, "openintent mcp: role %s, %d tools, server %s, agent %s (stdio)\n", r, len(srv.Tools()), e.url, e.agentID)
				err := srv.RunStdio(ctx)
				if ctx.Err() != nil {
					return nil
				}
				return err
			case "http":
				mux := http.NewServeMux()
				mux.Handle("/mcp", srv.HTTPHandler())
				hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "openintent mcp: role %s, %d tools, server %s, agent %s; MCP at http://%s/mcp\n", r, len(srv.Tools()), e.url, e.agentID, ln.Addr())
				errc := make(chan error, 1)
				go func() { errc <- hs.Serve(ln) }()
				select {
				case <-ctx.Done():
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					return hs.Shutdown(sctx)
				case err := <-errc:
					if errors.Is(err, http.ErrServerClosed) {
						return nil
					}
					return err
				}
			}
			return usageError(fmt.Errorf("--transport must be stdio or http, not %q", transport))
		},
	}
	f := cmd.Flags()
	f.StringVar(&transport, "transport", "stdio", "stdio or http (streamable HTTP)")
	f.StringVar(&addr, "addr", "127.0.0.1:8765", "listen address with --transport http")
	f.StringVar(&role, "role", envOr(e.getenv, "OPENINTENT_MCP_ROLE", "reader"), "reader, operator or admin (OPENINTENT_MCP_ROLE)")
	f.StringSliceVar(&allow, "allow", nil, "only these tools (comma-separated or repeated), within the role's")
	f.BoolVar(&listTools, "list-tools", false, "print the tools the role and allow-list give, and exit")
	_ = cmd.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"reader", "operator", "admin"}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("transport", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"stdio", "http"}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("allow", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		tools, _ := mcp.AllTools()
		var names []string
		for _, t := range tools {
			if strings.HasPrefix(t.Name, prefix) {
				names = append(names, t.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}
