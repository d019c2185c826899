package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	workflows "github.com/openintent-go/openintent/examples/workflows"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/workflow"
)

// loadWorkflow reads a workflow file, or a sample by name ("hello_world" or "hello_world.yaml")
// when no such file exists.
func loadWorkflow(path string) (*workflow.Workflow, error) {
	w, err := workflow.ParseFile(path)
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) && !strings.ContainsRune(path, filepath.Separator) {
		name := strings.TrimSuffix(path, ".yaml") + ".yaml"
		if data, rerr := fs.ReadFile(workflows.FS, name); rerr == nil {
			return workflow.Parse(data, "sample:"+name)
		}
	}
	return w, err
}

func runCmd(e *env) *cobra.Command {
	var (
		inputs     []string
		inputsFile string
		timeout    time.Duration
		resultFile string
		dryRun     bool
		quiet      bool
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a workflow: create its portfolio and intents, and follow them live",
		Long: `run reads a workflow file, creates its portfolio and one intent per phase on the server, and
hands each phase to its agent once the phases it depends on have completed, checking inputs when
a phase starts and outputs when it completes (RFC-0024). The phases' progress is shown live. The
agents are yours: run them (for example with pkg/agent or workflow.ServePhases) against the same
server.

run exits 0 when every phase completed, 1 when the workflow failed (a phase failed for good, an
I/O contract was broken, the timeout passed) and 2 on a usage error. FILE may also name a sample
(see openintent list).`,
		Example: `  openintent run examples/workflows/research_pipeline.yaml --input topic="agent coordination"
  openintent run hello_world --dry-run`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: yamlFiles,
		RunE: func(cmd *cobra.Command, a []string) error {
			w, err := loadWorkflow(a[0])
			if err != nil {
				return reportParse(e, err)
			}
			trigger, err := parseInputs(inputs, inputsFile)
			if err != nil {
				return usageError(err)
			}
			if dryRun {
				return printPlan(e, w, trigger)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			view := newStatusView(e.stderr, w.Info.Name, quiet || e.json())
			if !e.json() {
				view = newStatusView(e.stdout, w.Info.Name, quiet)
			}
			res, runErr := runWorkflow(ctx, c, w, trigger, view.update)
			return finishRun(e, res, runErr, resultFile)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&inputs, "input", "i", nil, "trigger value KEY=VALUE for $trigger.KEY inputs (VALUE is JSON or a string); repeatable")
	f.StringVar(&inputsFile, "inputs-file", "", "JSON object of trigger values")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (default: the workflow's governance timeout, else none)")
	f.StringVar(&resultFile, "result", "", "also write the result (outputs of every phase) to this JSON file")
	f.BoolVar(&dryRun, "dry-run", false, "validate and print the portfolio plan without running it")
	f.BoolVarP(&quiet, "quiet", "q", false, "no live status view, only the result")
	return cmd
}

// runResult is what run prints (and writes with --result).
type runResult struct {
	Workflow    string                       `json:"workflow"`
	PortfolioID string                       `json:"portfolio_id,omitempty"`
	Status      string                       `json:"status"`
	Error       string                       `json:"error,omitempty"`
	IntentIDs   map[string]string            `json:"intent_ids,omitempty"`
	Outputs     map[string]openintent.Object `json:"outputs,omitempty"`
}

func finishRun(e *env, res *workflow.Result, runErr error, resultFile string) error {
	out := runResult{Status: "completed"}
	if res != nil {
		out.Workflow, out.PortfolioID, out.IntentIDs, out.Outputs = res.Name, res.PortfolioID, res.IntentIDs, res.Outputs
	}
	if runErr != nil {
		out.Status, out.Error = "failed", runErr.Error()
	}
	if resultFile != "" {
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(resultFile, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if e.json() {
		if err := e.printJSON(out); err != nil {
			return err
		}
	} else if runErr == nil {
		fmt.Fprintf(e.stdout, "\nWorkflow %q completed (portfolio %s).\n", out.Workflow, out.PortfolioID)
		names := make([]string, 0, len(out.Outputs))
		for n := range out.Outputs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b, _ := json.Marshal(out.Outputs[n])
			fmt.Fprintf(e.stdout, "  %s: %s\n", n, truncate(string(b), 200))
		}
	}
	if runErr != nil {
		return &exitError{code: 1, err: fmt.Errorf("workflow failed: %w", runErr)}
	}
	return nil
}

func parseInputs(pairs []string, file string) (openintent.Object, error) {
	trigger := openintent.Object{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &trigger); err != nil {
			return nil, fmt.Errorf("--inputs-file %s: not a JSON object: %v", file, err)
		}
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--input %q: write KEY=VALUE", p)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		trigger[k] = val
	}
	return trigger, nil
}

func printPlan(e *env, w *workflow.Workflow, trigger openintent.Object) error {
	plan := w.Plan(workflow.PlanOptions{Trigger: trigger, Coordinator: e.agentID})
	if e.json() {
		type planned struct {
			Phase            string                       `json:"phase"`
			Title            string                       `json:"title"`
			Assign           string                       `json:"assign"`
			DependsOn        []string                     `json:"depends_on"`
			Constraints      openintent.Object            `json:"constraints,omitempty"`
			State            openintent.Object            `json:"state"`
			GovernancePolicy *openintent.GovernancePolicy `json:"governance_policy,omitempty"`
			RetryPolicy      *openintent.RetryPolicySet   `json:"retry_policy,omitempty"`
		}
		out := struct {
			Name             string            `json:"name"`
			Description      string            `json:"description,omitempty"`
			GovernancePolicy openintent.Object `json:"governance_policy,omitempty"`
			Metadata         openintent.Object `json:"metadata"`
			Intents          []planned         `json:"intents"`
		}{Name: plan.Name, Description: plan.Description, GovernancePolicy: plan.GovernancePolicy, Metadata: plan.Metadata}
		for _, pi := range plan.Intents {
			out.Intents = append(out.Intents, planned{pi.Phase, pi.Title, pi.Assign, append([]string{}, pi.DependsOn...),
				pi.Constraints, pi.State, pi.GovernancePolicy, pi.RetryPolicy})
		}
		return e.printJSON(out)
	}
	fmt.Fprintf(e.stdout, "Workflow %q (%s): %d phases; dry run, nothing created.\n", plan.Name, w.Source, len(plan.Intents))
	for i, pi := range plan.Intents {
		deps := ""
		if len(pi.DependsOn) > 0 {
			deps = " after " + strings.Join(pi.DependsOn, ", ")
		}
		fmt.Fprintf(e.stdout, "  %d. %s (%q) -> %s%s\n", i+1, pi.Phase, pi.Title, pi.Assign, deps)
		for _, in := range w.Phase(pi.Phase).Inputs {
			fmt.Fprintf(e.stdout, "       input %s <- %s\n", in.Key, in.Ref)
		}
		for _, o := range w.Phase(pi.Phase).Outputs {
			opt := ""
			if !o.Required {
				opt = " (optional)"
			}
			fmt.Fprintf(e.stdout, "       output %s: %s%s\n", o.Key, o.Type, opt)
		}
	}
	return nil
}

// reportParse prints a workflow's validation errors, one a line, and fails with exit code 1.
func reportParse(e *env, err error) error {
	var all workflow.ValidationErrors
	if errors.As(err, &all) {
		for _, x := range all {
			fmt.Fprintln(e.stderr, x)
		}
		return &exitError{code: 1, err: fmt.Errorf("%d problem(s) in the workflow", len(all))}
	}
	return &exitError{code: 1, err: err}
}

func validateCmd(e *env) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check workflow files",
		Long: `validate parses each workflow file and checks it as run would: required fields, dependencies
and cycles, the I/O wiring of RFC-0024 (InputWiringError), types, permissions, retry policies,
governance, channels and MCP tool references. Every problem names the file, line, phase and
field. Warnings (an undeclared agent, an unknown field, ...) do not fail the file unless
--strict. Exit code 1 when a file is invalid.`,
		Args:              args(cobra.MinimumNArgs(1)),
		ValidArgsFunction: yamlFiles,
		RunE: func(cmd *cobra.Command, files []string) error {
			type problem struct {
				Line    int    `json:"line,omitempty"`
				Column  int    `json:"column,omitempty"`
				Path    string `json:"path,omitempty"`
				Phase   string `json:"phase,omitempty"`
				Field   string `json:"field,omitempty"`
				Message string `json:"message"`
				Hint    string `json:"hint,omitempty"`
			}
			type report struct {
				File     string    `json:"file"`
				Valid    bool      `json:"valid"`
				Name     string    `json:"name,omitempty"`
				Phases   int       `json:"phases,omitempty"`
				Agents   int       `json:"agents,omitempty"`
				Errors   []problem `json:"errors,omitempty"`
				Warnings []problem `json:"warnings,omitempty"`
			}
			var reports []report
			invalid := 0
			for _, f := range files {
				r := report{File: f}
				w, err := loadWorkflow(f)
				if err != nil {
					var all workflow.ValidationErrors
					if errors.As(err, &all) {
						for _, x := range all {
							var v *workflow.ValidationError
							if errors.As(x, &v) {
								r.Errors = append(r.Errors, problem{v.Line, v.Column, v.Path, v.Phase, v.Field, v.Message, v.Hint})
							}
						}
					} else {
						r.Errors = append(r.Errors, problem{Message: err.Error()})
					}
				} else {
					r.Valid, r.Name, r.Phases, r.Agents = true, w.Info.Name, len(w.Phases), len(w.Agents)
					for _, x := range w.Warnings {
						r.Warnings = append(r.Warnings, problem{Line: x.Line, Path: x.Path, Message: x.Message})
					}
					if strict && len(w.Warnings) > 0 {
						r.Valid = false
					}
				}
				if !r.Valid {
					invalid++
				}
				reports = append(reports, r)
				if e.json() {
					continue
				}
				if err != nil {
					fmt.Fprintf(e.stdout, "%s: invalid\n", f)
					var all workflow.ValidationErrors
					if errors.As(err, &all) {
						for _, x := range all {
							fmt.Fprintf(e.stdout, "  %s\n", x)
						}
					} else {
						fmt.Fprintf(e.stdout, "  %s\n", err)
					}
					continue
				}
				verdict := "valid"
				if !r.Valid {
					verdict = "invalid (--strict: warnings count)"
				}
				fmt.Fprintf(e.stdout, "%s: %s: workflow %q, %d phases, %d agents\n", f, verdict, w.Info.Name, len(w.Phases), len(w.Agents))
				for _, x := range w.Warnings {
					fmt.Fprintf(e.stdout, "  warning: %s\n", x)
				}
			}
			if e.json() {
				if err := e.printJSON(reports); err != nil {
					return err
				}
			}
			if invalid > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d file(s) invalid", invalid, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	return cmd
}

func yamlFiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// starter is the workflow `openintent new` writes.
const starter = `openintent: "1.0"

info:
  name: %q
  version: "0.1.0"
  description: "Describe what the workflow achieves"

agents:
  worker:
    description: "Does the main work"
  reviewer:
    description: "Checks the result"

workflow:
  work:
    title: "Do the work"
    description: "Describe the first phase"
    assign: worker
    inputs:
      subject: $trigger.subject        # openintent run FILE --input subject=...
    outputs:
      result: string

  review:
    title: "Review the result"
    description: "Describe the second phase"
    assign: reviewer
    depends_on: [work]
    inputs:
      result: work.result
    outputs:
      approved: boolean
      notes:
        type: string
        required: false
`

func newCmd(e *env) *cobra.Command {
	var (
		force bool
		from  string
		dir   string
	)
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Write a starter workflow file",
		Long: `new writes NAME's workflow file (name.yaml, lower case with underscores) in the current directory
(or --dir): a two-phase starter with an I/O contract, or a copy of a sample with --from.`,
		Example: `  openintent new "Quarterly report"
  openintent new triage --from research_pipeline`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			name := a[0]
			file := filepath.Join(dir, fileName(name)+".yaml")
			content := fmt.Sprintf(starter, name)
			if from != "" {
				data, err := fs.ReadFile(workflows.FS, strings.TrimSuffix(from, ".yaml")+".yaml")
				if err != nil {
					return usageError(fmt.Errorf("--from %q: no such sample (see openintent list)", from))
				}
				content = string(data)
			}
			if _, err := workflow.Parse([]byte(content), file); err != nil {
				return fmt.Errorf("the starter does not validate: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(file, flags, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return &exitError{code: 1, err: fmt.Errorf("%s exists (--force overwrites it)", file)}
			}
			if err != nil {
				return err
			}
			if _, err := io.WriteString(f, content); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(map[string]string{"file": file})
			}
			fmt.Fprintf(e.stdout, "Created %s\n\nNext:\n  1. edit it (openintent validate %s checks it)\n  2. start your agents\n  3. openintent run %s\n", file, file, file)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	cmd.Flags().StringVar(&from, "from", "", "copy this sample instead (see openintent list)")
	cmd.Flags().StringVarP(&dir, "dir", "d", ".", "directory to write the file in")
	_ = cmd.RegisterFlagCompletionFunc("from", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, s := range samples() {
			names = append(names, s.file[:len(s.file)-len(".yaml")])
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func fileName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "workflow"
	}
	return b.String()
}

type sample struct {
	file string
	w    *workflow.Workflow
}

func samples() []sample {
	files, _ := fs.Glob(workflows.FS, "*.yaml")
	var out []sample
	for _, f := range files {
		data, _ := fs.ReadFile(workflows.FS, f)
		if w, err := workflow.Parse(data, f); err == nil {
			out = append(out, sample{f, w})
		}
	}
	return out
}

func listCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the sample workflows",
		Long:  "list shows the sample workflows built into openintent; run, validate and new --from take their names.",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			type item struct {
				Sample      string `json:"sample"`
				Name        string `json:"name"`
				Description string `json:"description"`
				Phases      int    `json:"phases"`
			}
			var items []item
			for _, s := range samples() {
				items = append(items, item{strings.TrimSuffix(s.file, ".yaml"), s.w.Info.Name, s.w.Info.Description, len(s.w.Phases)})
			}
			if e.json() {
				return e.printJSON(items)
			}
			rows := [][]string{}
			for _, it := range items {
				rows = append(rows, []string{it.Sample, it.Name, fmt.Sprint(it.Phases), truncate(it.Description, 60)})
			}
			e.table([]string{"SAMPLE", "NAME", "PHASES", "DESCRIPTION"}, rows)
			fmt.Fprintln(e.stdout, "\nopenintent new NAME --from SAMPLE copies one; openintent run SAMPLE runs it.")
			return nil
		},
	}
}
