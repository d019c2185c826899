package workflow_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	workflows "github.com/openintent-go/openintent/examples/workflows"
	"github.com/openintent-go/openintent/pkg/workflow"
)

// Every sample parses and validates, and together they use every part of the format.
func TestSamplesParse(t *testing.T) {
	files, err := fs.Glob(workflows.FS, "*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("samples: %v, %v", files, err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		data, _ := fs.ReadFile(workflows.FS, f)
		w, err := workflow.Parse(data, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		mark := func(feature string, ok bool) {
			if ok {
				seen[feature] = true
			}
		}
		mark("governance gate", w.Governance != nil && w.Governance.RequireApproval != nil)
		mark("access review", w.Governance != nil && w.Governance.AccessReview != nil)
		mark("identity", w.Identity != nil)
		mark("verification", w.Verification != nil)
		mark("llm", w.LLM != nil)
		mark("channels", len(w.Channels) > 0)
		mark("types", len(w.Types) > 0)
		for _, a := range w.Agents {
			for _, tr := range a.Tools {
				mark("mcp tool reference", tr.Server != "")
			}
			mark("on_message", len(a.OnMessage) > 0)
		}
		for _, p := range w.Phases {
			mark("depends_on", len(p.DependsOn) > 0)
			mark("parallel", len(p.DependsOn) > 1)
			mark("retry", p.Retry != nil)
			mark("fallback", p.Retry != nil && p.Retry.FallbackAgent != "")
			mark("leasing", p.Leasing != nil)
			mark("cost_tracking", p.CostTracking != nil)
			mark("attachments", len(p.Attachments) > 0)
			mark("constraints", len(p.Constraints) > 0)
			mark("initial_state", len(p.InitialState) > 0)
			if p.Permissions != nil {
				mark("permissions "+p.Permissions.Policy, true)
				mark("permissions delegate", p.Permissions.Delegate != nil)
			}
			for _, in := range p.Inputs {
				kind, _, _ := workflow.ParseRef(in.Ref)
				mark([]string{"", "phase input", "trigger input", "initial_state input"}[kind], true)
			}
			for _, o := range p.Outputs {
				mark("optional output", !o.Required)
				mark("named output type", w.Type(o.Type) != nil)
			}
		}
	}
	for _, f := range []string{"governance gate", "access review", "identity", "verification", "llm", "channels", "types",
		"mcp tool reference", "on_message", "depends_on", "parallel", "retry", "fallback", "leasing", "cost_tracking",
		"attachments", "constraints", "initial_state", "permissions open", "permissions restricted", "permissions private",
		"permissions delegate", "phase input", "trigger input", "initial_state input", "optional output", "named output type"} {
		if !seen[f] {
			t.Errorf("no sample uses %s", f)
		}
	}
}

func TestParseReadsEveryField(t *testing.T) {
	data, _ := fs.ReadFile(workflows.FS, "compliance_review.yaml")
	w, err := workflow.Parse(data, "compliance_review.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := w.Governance
	if g.MaxCostUSD != 10 || g.Timeout != 48*time.Hour || g.RequireApproval.OnTimeout != "escalate" ||
		len(g.RequireApproval.Approvers) != 2 || g.Escalation.After != 4*time.Hour || g.AccessReview.OnRequest != "defer" {
		t.Errorf("governance = %+v", g)
	}
	ex := w.Phase("extraction")
	if r := ex.Retry; r.MaxAttempts != 3 || r.Backoff != "exponential" || r.InitialDelay != time.Second || r.MaxDelay != 30*time.Second ||
		strings.Join(r.RetryableErrors, ",") != "TIMEOUT,OCR_FAILURE" || r.FallbackAgent != "ocr-backup" {
		t.Errorf("retry = %+v", r)
	}
	if p := ex.Permissions; p.Policy != "restricted" || len(p.Allow) != 2 || p.Allow[0].Level != "admin" || p.Delegate.Level != "write" {
		t.Errorf("permissions = %+v", p)
	}
	if p := w.Phase("report").Permissions; p.Policy != "restricted" || len(p.Allow) != 2 || p.Allow[1].Level != "write" {
		t.Errorf("list shorthand = %+v", p)
	}
	if p := w.Phase("risk").Permissions; p.Policy != "private" {
		t.Errorf("private shorthand = %+v", p)
	}
	if l := w.Phase("analysis").Leasing; l.Strategy != "per_section" || l.TTL != time.Minute || !l.WaitForLock {
		t.Errorf("leasing = %+v", l)
	}
	if d := w.Phase("report").DependsOn; strings.Join(d, ",") != "risk,analysis" {
		t.Errorf("depends_on = %v", d)
	}
	if w.Phase("risk").Line != 111 || w.Phase("risk").FieldLine("permissions") != 120 {
		t.Errorf("risk's lines = %d, %d", w.Phase("risk").Line, w.Phase("risk").FieldLine("permissions"))
	}
}

func TestParseErrorsNamePhaseFieldAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		phase     string
		field     string
		contains  string
		wiring    bool
	}{
		{"missing version", "info: {name: x}\nworkflow: {a: {assign: b}}\n", 1, "", "openintent", "missing the 'openintent' version field", false},
		{"bad version", "openintent: \"2.0\"\ninfo: {name: x}\nworkflow: {a: {assign: b}}\n", 1, "", "openintent", `unsupported workflow format version "2.0"`, false},
		{"missing name", "openintent: \"1.0\"\ninfo:\n  version: \"1\"\nworkflow: {a: {assign: b}}\n", 3, "", "info", "missing the workflow's name", false},
		{"missing workflow", "openintent: \"1.0\"\ninfo: {name: x}\n", 1, "", "workflow", "missing the 'workflow' section", false},
		{"missing assign", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    title: A\n", 4, "a", "assign", `phase "a" is missing 'assign'`, false},
		{"unknown dependency", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  research: {assign: a}\n  b:\n    assign: a\n    depends_on: [resarch]\n", 7, "b", "depends_on", `did you mean "research"?`, false},
		{"cycle", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    depends_on: [b]\n  b:\n    assign: x\n    depends_on: [a]\n", 9, "b", "depends_on", "circular dependency: a -> b -> a", false},
		{"self dependency", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    depends_on: [a]\n", 6, "a", "depends_on", "depends on itself", false},
		{"bad backoff", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    retry:\n      backoff: sometimes\n", 7, "a", "backoff", `backoff "sometimes" is not allowed`, false},
		{"bad attempts", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    retry:\n      max_attempts: 0\n", 7, "a", "max_attempts", "max_attempts must be at least 1", false},
		{"bad permission level", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    permissions:\n      allow:\n        - agent: y\n          level: owner\n", 9, "a", "level", `level "owner" is not allowed`, false},
		{"bad permission policy", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    permissions: everyone\n", 6, "a", "permissions", `permissions "everyone" is not a policy`, false},
		{"bad expires", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    permissions:\n      allow: [{agent: y, level: read, expires: tomorrow}]\n", 7, "a", "expires", "not a date-time", false},
		{"bad gate", "openintent: \"1.0\"\ninfo: {name: x}\ngovernance:\n  require_approval:\n    on_timeout: ignore\nworkflow: {a: {assign: x}}\n", 5, "", "on_timeout", `on_timeout "ignore" is not allowed`, false},
		{"negative budget", "openintent: \"1.0\"\ninfo: {name: x}\ngovernance:\n  max_cost_usd: -1\nworkflow: {a: {assign: x}}\n", 4, "", "max_cost_usd", "at least 0", false},
		{"unknown mcp server", "openintent: \"1.0\"\ninfo: {name: x}\nagents:\n  x:\n    tools:\n      - mcp:files/read\nworkflow: {a: {assign: x}}\n", 6, "", "tools", `names MCP server "files"`, false},
		{"tool not allowed", "openintent: \"1.0\"\ninfo: {name: x}\nmcp:\n  servers:\n    files: {command: fs, allowed_tools: [read]}\nagents:\n  x:\n    tools: [mcp:files/write]\nworkflow: {a: {assign: x}}\n", 8, "", "tools", `not in the allowed_tools of MCP server "files"`, false},
		{"malformed tool ref", "openintent: \"1.0\"\ninfo: {name: x}\nagents:\n  x:\n    tools: [\"mcp:files\"]\nworkflow: {a: {assign: x}}\n", 5, "", "tools[0]", "malformed MCP tool reference", false},
		{"unknown channel", "openintent: \"1.0\"\ninfo: {name: x}\nagents:\n  x:\n    on_message: [{channel: news, handler: h}]\nworkflow: {a: {assign: x}}\n", 4, "", "channel", `channel "news"`, false},
		{"bad yaml", "openintent: \"1.0\"\ninfo: {name: x\nworkflow: {}\n", 1, "", "", "invalid YAML", false},
		{"duplicate key", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a: {assign: x}\n  a: {assign: y}\n", 5, "a", "a", "duplicate key", false},
		{"dotted phase name", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a.b: {assign: x}\n", 4, "a.b", "a.b", "may not contain '.'", false},
		{"wiring: unknown phase", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    inputs:\n      v: nowhere.key\n", 7, "a", "inputs", `phase "nowhere" does not exist`, true},
		{"wiring: not a dependency", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  up: {assign: x, outputs: {k: string}}\n  a:\n    assign: x\n    inputs:\n      v: up.k\n", 8, "a", "inputs", `phase "up" is not in depends_on`, true},
		{"wiring: undeclared output", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  up: {assign: x, outputs: {k: string}}\n  a:\n    assign: x\n    depends_on: [up]\n    inputs:\n      v: up.other\n", 9, "a", "inputs", `does not declare output "other"`, true},
		{"wiring: malformed", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    inputs:\n      v: $env.HOME\n", 7, "a", "inputs", "invalid syntax", true},
		{"wiring: not a string", "openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a:\n    assign: x\n    inputs:\n      v: [1, 2]\n", 7, "a", "inputs", "must be a string", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.Parse([]byte(tc.src), "wf.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			var verr *workflow.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err %T %v is no ValidationError", err, err)
			}
			if tc.wiring {
				var wire *workflow.InputWiringError
				if !errors.As(err, &wire) || wire.PhaseName != tc.phase || len(wire.InvalidRefs) != 1 {
					t.Fatalf("err = %v, want an InputWiringError of phase %s", err, tc.phase)
				}
				verr = &wire.ValidationError
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err = %q, want it to contain %q", err, tc.contains)
			}
			if verr.Line != tc.line || verr.Phase != tc.phase || verr.Field != tc.field || verr.File != "wf.yaml" {
				t.Errorf("located at line %d, phase %q, field %q (%s); want line %d, phase %q, field %q", verr.Line, verr.Phase, verr.Field, err, tc.line, tc.phase, tc.field)
			}
			if !strings.HasPrefix(err.Error(), "wf.yaml:") {
				t.Errorf("err = %q does not start with the file name", err)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := workflow.Parse([]byte("openintent: \"1.0\"\ninfo: {name: x}\nworkflow:\n  a: {title: A}\n  b: {assign: x, depends_on: [zz]}\n"), "wf.yaml")
	var all workflow.ValidationErrors
	if !errors.As(err, &all) || len(all) != 2 {
		t.Fatalf("err = %v, want 2 problems", err)
	}
}

func TestWarnings(t *testing.T) {
	w, err := workflow.Parse([]byte(`openintent: "1.0"
info: {name: x}
agents:
  known: {description: d}
workflow:
  a:
    asign: typo
    assign: stranger
    description: d
    outputs: {k: Strng}
`), "wf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, wa := range w.Warnings {
		msgs = append(msgs, wa.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`wf.yaml:7: workflow.a.asign: unknown field "asign" is ignored (did you mean "assign"?)`,
		`wf.yaml:8: workflow.a.assign: phase "a" is assigned to agent "stranger", which the agents section does not declare`,
		`wf.yaml:10: workflow.a.outputs.k: output "k" has unknown type "Strng"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

func TestTitlesAsDependencies(t *testing.T) {
	w, err := workflow.Parse([]byte(`openintent: "1.0"
info: {name: x}
workflow:
  research: {title: Gather Research, assign: a}
  write: {assign: b, depends_on: [Gather Research]}
`), "wf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := w.Phase("write").DependsOn; len(d) != 1 || d[0] != "research" {
		t.Errorf("depends_on = %v, want the title resolved to [research]", d)
	}
	if w.Phase("research").Title != "Gather Research" || w.Phase("write").Title != "Write" {
		t.Errorf("titles %q %q", w.Phase("research").Title, w.Phase("write").Title)
	}
}
