package main

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	workflows "github.com/openintent-go/openintent/examples/workflows"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
	"github.com/openintent-go/openintent/pkg/workflow"
)

func demoCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the hello_world sample on an in-process server with two built-in agents",
		Long: `demo starts a server in this process (in memory, on a loopback port), starts two agents (a
researcher and a summarizer that answer with canned text), runs the hello_world sample through
them and shows the result. Nothing is left behind.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			srv, err := openintenttest.Start()
			if err != nil {
				return err
			}
			defer srv.Close()
			if !e.json() {
				fmt.Fprintf(e.stdout, "Server running at %s (in memory)\nAgents: researcher, summarizer\n\n", srv.URL)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			for agent, h := range demoAgents() {
				c, err := srv.NewClient(agent)
				if err != nil {
					return err
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = workflow.ServePhases(ctx, c, h)
				}()
			}
			data, err := fs.ReadFile(workflows.FS, "hello_world.yaml")
			if err != nil {
				return err
			}
			w, err := workflow.Parse(data, "hello_world.yaml")
			if err != nil {
				return err
			}
			c, err := srv.NewClient("demo-coordinator")
			if err != nil {
				return err
			}
			res, runErr := runWorkflow(ctx, c, w, nil, newStatusView(e.stdout, w.Info.Name, e.json()).update)
			return finishRun(e, res, runErr, "")
		},
	}
}

// demoAgents are the demo's two agents: deterministic stand-ins for LLM-backed ones.
func demoAgents() map[string]workflow.PhaseHandler {
	return map[string]workflow.PhaseHandler{
		"researcher": func(ctx context.Context, t *workflow.Task) (openintent.Object, error) {
			topic, _ := t.Input["topic"].(string)
			return openintent.Object{"findings": fmt.Sprintf("%s works when agents share intents: versioned state, "+
				"an append-only event log, exclusive leases on scopes, and explicit dependencies between pieces of work.", strings.ToUpper(topic[:1])+topic[1:])}, nil
		},
		"summarizer": func(ctx context.Context, t *workflow.Task) (openintent.Object, error) {
			findings, _ := t.Input["findings"].(string)
			words := strings.Fields(findings)
			if len(words) > 12 {
				words = append(words[:12], "…")
			}
			return openintent.Object{"summary": "In short: " + strings.Join(words, " ")}, nil
		},
	}
}
