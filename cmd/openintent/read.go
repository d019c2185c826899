package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openintent-go/openintent/pkg/openintent"
)

func intentsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "intents",
		Short: "List, show and watch intents",
		Args:  args(cobra.NoArgs),
	}
	var (
		status string
		limit  int
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List intents (newest pages first, as the server returns them)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var out []openintent.Intent
			for in, err := range c.Intents(cmd.Context(), openintent.ListIntentsParams{Status: openintent.IntentStatus(status)}) {
				if err != nil {
					return err
				}
				out = append(out, in)
				if limit > 0 && len(out) >= limit {
					break
				}
			}
			if e.json() {
				if out == nil {
					out = []openintent.Intent{}
				}
				return e.printJSON(out)
			}
			rows := [][]string{}
			for _, in := range out {
				rows = append(rows, []string{in.ID, string(in.Status), fmt.Sprint(in.Version), truncate(in.Title, 50), since(in.CreatedAt.Time)})
			}
			e.table([]string{"ID", "STATUS", "VERSION", "TITLE", "CREATED"}, rows)
			return nil
		},
	}
	list.Flags().StringVar(&status, "status", "", "only intents with this status (draft, active, blocked, completed, abandoned, suspended_awaiting_input)")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	_ = list.RegisterFlagCompletionFunc("status", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"draft", "active", "blocked", "completed", "abandoned", "suspended_awaiting_input"}, cobra.ShellCompDirectiveNoFileComp
	})

	get := &cobra.Command{
		Use:   "get INTENT_ID",
		Short: "Show an intent: status, state, dependencies, assigned agents",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			in, err := c.GetIntent(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			agents, err := c.ListIntentAgents(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(struct {
					*openintent.Intent
					Agents []openintent.AgentAssignment `json:"agents"`
				}{in, agents})
			}
			printIntent(e, in, agents)
			return nil
		},
	}

	watch := &cobra.Command{
		Use:   "watch INTENT_ID",
		Short: "Follow an intent live: its status and state after every event, until it completes or is abandoned",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			in, err := c.GetIntent(ctx, a[0])
			if err != nil {
				return err
			}
			show := func(in *openintent.Intent, ev *openintent.IntentEvent) error {
				if e.json() {
					return e.printJSONLine(struct {
						Event  *openintent.IntentEvent `json:"event,omitempty"`
						Intent *openintent.Intent      `json:"intent"`
					}{ev, in})
				}
				what := "now"
				if ev != nil {
					what = string(ev.EventType) + " by " + ev.Actor
				}
				st, _ := json.Marshal(in.State)
				fmt.Fprintf(e.stdout, "v%d %s (%s) state %s\n", in.Version, in.Status, what, truncate(string(st), 160))
				return nil
			}
			if err := show(in, nil); err != nil {
				return err
			}
			if terminal(in.Status) {
				return nil
			}
			for ev, err := range c.StreamIntentEvents(ctx, a[0]) {
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if in, err = c.GetIntent(ctx, a[0]); err != nil {
					return err
				}
				if err := show(in, &ev); err != nil {
					return err
				}
				if terminal(in.Status) {
					return nil
				}
			}
			return nil
		},
	}
	cmd.AddCommand(list, get, watch)
	return cmd
}

func terminal(s openintent.IntentStatus) bool {
	return s == openintent.StatusCompleted || s == openintent.StatusAbandoned
}

func printIntent(e *env, in *openintent.Intent, agents []openintent.AgentAssignment) {
	w := e.stdout
	fmt.Fprintf(w, "%s  %s\n", in.ID, in.Title)
	fmt.Fprintf(w, "  status:      %s (version %d)\n", in.Status, in.Version)
	if in.Description != "" {
		fmt.Fprintf(w, "  description: %s\n", in.Description)
	}
	fmt.Fprintf(w, "  created:     %s by %s\n", in.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), in.CreatedBy)
	if len(in.DependsOn) > 0 {
		fmt.Fprintf(w, "  depends on:  %s\n", strings.Join(in.DependsOn, ", "))
	}
	if len(agents) > 0 {
		var ids []string
		for _, a := range agents {
			ids = append(ids, a.AgentID)
		}
		fmt.Fprintf(w, "  agents:      %s\n", strings.Join(ids, ", "))
	}
	st, _ := json.MarshalIndent(in.State, "  ", "  ")
	fmt.Fprintf(w, "  state:       %s\n", st)
}

func eventsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Read an intent's event log",
		Args:  args(cobra.NoArgs),
	}
	var (
		fromStart bool
		types     []string
		follow    bool
	)
	tail := &cobra.Command{
		Use:   "tail INTENT_ID",
		Short: "Follow an intent's event stream (server-sent events), resuming after dropped connections",
		Long: `tail prints an intent's events as they are appended, until interrupted (--follow=false prints the
log so far and stops). --from-start replays the whole log first.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			keep := func(ev openintent.IntentEvent) bool {
				if len(types) == 0 {
					return true
				}
				for _, t := range types {
					if t == string(ev.EventType) {
						return true
					}
				}
				return false
			}
			print := func(ev openintent.IntentEvent) error {
				if !keep(ev) {
					return nil
				}
				if e.json() {
					return e.printJSONLine(ev)
				}
				p, _ := json.Marshal(ev.Payload)
				fmt.Fprintf(e.stdout, "%s  %-22s %-16s %s\n", ev.CreatedAt.UTC().Format("15:04:05.000"), ev.EventType, ev.Actor, truncate(string(p), 160))
				return nil
			}
			if !follow {
				for ev, err := range c.Events(ctx, a[0], openintent.GetEventsParams{}) {
					if err != nil {
						return err
					}
					if err := print(ev); err != nil {
						return err
					}
				}
				return nil
			}
			var opts []openintent.Option
			if fromStart {
				opts = append(opts, openintent.WithLastEventID("0"))
			}
			for ev, err := range c.StreamIntentEvents(ctx, a[0], opts...) {
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if err := print(ev); err != nil {
					return err
				}
			}
			return nil
		},
	}
	tail.Flags().BoolVar(&fromStart, "from-start", false, "replay the whole log before following")
	tail.Flags().StringSliceVar(&types, "type", nil, "only events of these types (comma-separated or repeated)")
	tail.Flags().BoolVarP(&follow, "follow", "f", true, "keep following the stream (false: print the log and stop)")
	cmd.AddCommand(tail)
	return cmd
}

func leasesCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "leases INTENT_ID",
		Short: "List an intent's leases (RFC-0003)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ls, err := c.GetLeases(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(ls)
			}
			rows := [][]string{}
			for _, l := range ls {
				rows = append(rows, []string{l.ID, l.Scope, l.AgentID, string(l.Status), since(l.AcquiredAt.Time), since(l.ExpiresAt.Time)})
			}
			e.table([]string{"ID", "SCOPE", "AGENT", "STATUS", "ACQUIRED", "EXPIRES"}, rows)
			return nil
		},
	}
}

func agentsCmd(e *env) *cobra.Command {
	var status, capability string
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "List registered agents (RFC-0016)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			as, err := c.ListAgents(cmd.Context(), openintent.ListAgentsParams{Status: openintent.AgentStatus(status), Capability: capability})
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(as)
			}
			rows := [][]string{}
			for _, a := range as {
				rows = append(rows, []string{a.AgentID, string(a.Status), strings.Join(a.Capabilities, ","), since(a.LastHeartbeatAt.Time)})
			}
			e.table([]string{"AGENT", "STATUS", "CAPABILITIES", "LAST HEARTBEAT"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only agents with this status")
	cmd.Flags().StringVar(&capability, "capability", "", "only agents with this capability")
	return cmd
}
