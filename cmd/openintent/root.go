package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// env is what a command reads and writes besides its flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	url, apiKey, agentID string
	output               string
	timeout              time.Duration
}

// Defaults of the connection settings.
const (
	defaultURL   = "http://localhost:8000"
	defaultAgent = "openintent-cli"
)

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "openintent",
		Short: "Run OpenIntent workflows and read the state of a server",
		Long: `openintent runs workflows described in YAML (the Python SDK's format, version "1.0", with the
I/O contracts of RFC-0024) against an OpenIntent server, and reads the server's intents, events,
leases and agents.

The server, API key and acting agent come from --url, --api-key and --agent-id, or from the
environment: OPENINTENT_URL, OPENINTENT_API_KEY, OPENINTENT_AGENT_ID.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch e.output {
			case "text", "json":
			default:
				return usageError(fmt.Errorf("--output must be text or json, not %q", e.output))
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.url, "url", envOr(e.getenv, "OPENINTENT_URL", defaultURL), "server URL (OPENINTENT_URL)")
	pf.StringVar(&e.apiKey, "api-key", e.getenv("OPENINTENT_API_KEY"), "API key (OPENINTENT_API_KEY)")
	pf.StringVar(&e.agentID, "agent-id", envOr(e.getenv, "OPENINTENT_AGENT_ID", defaultAgent), "acting agent (OPENINTENT_AGENT_ID)")
	pf.StringVarP(&e.output, "output", "o", "text", "output format: text or json")
	pf.DurationVar(&e.timeout, "request-timeout", 30*time.Second, "timeout of each request to the server")
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(err) })

	root.AddGroup(&cobra.Group{ID: "workflow", Title: "Workflows:"}, &cobra.Group{ID: "read", Title: "Reading a server:"},
		&cobra.Group{ID: "serve", Title: "Serving:"})
	for _, c := range []*cobra.Command{runCmd(e), validateCmd(e), newCmd(e), listCmd(e), demoCmd(e)} {
		c.GroupID = "workflow"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{intentsCmd(e), eventsCmd(e), leasesCmd(e), agentsCmd(e)} {
		c.GroupID = "read"
		root.AddCommand(c)
	}
	m := mcpCmd(e)
	m.GroupID = "serve"
	root.AddCommand(m)
	return root
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func usageError(err error) error { return &exitError{code: 2, err: err} }

// args checks the number of positional arguments, as a usage error.
func args(n func(cmd *cobra.Command, args []string) error) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := n(cmd, a); err != nil {
			return usageError(err)
		}
		return nil
	}
}

// client connects to the configured server as the configured agent.
func (e *env) client() (*openintent.Client, error) {
	opts := []openintent.Option{openintent.WithTimeout(e.timeout), openintent.WithUserAgent("openintent-cli/" + openintent.Version)}
	if e.apiKey != "" {
		opts = append(opts, openintent.WithAPIKey(e.apiKey))
	}
	if e.agentID != "" {
		opts = append(opts, openintent.WithAgentID(e.agentID))
	}
	c, err := openintent.NewClient(e.url, opts...)
	if err != nil {
		return nil, usageError(err)
	}
	return c, nil
}

// json reports whether --output json was asked for.
func (e *env) json() bool { return e.output == "json" }

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLine writes v as one line of JSON (for streams).
func (e *env) printJSONLine(v any) error {
	return json.NewEncoder(e.stdout).Encode(v)
}

// table writes rows under a header, aligned.
func (e *env) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// isTerminal reports whether w is a terminal (a character device), for the live status view.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// since formats how long ago t was.
func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + (-d).Round(time.Second).String()
	case d < time.Minute:
		return d.Round(time.Second).String() + " ago"
	case d < 48*time.Hour:
		return d.Round(time.Minute).String() + " ago"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
