package workflow

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// ParseFile reads, parses and validates a workflow file. The error is a ValidationErrors
// listing every problem, each naming the file, line, phase and field; an unreadable file is an
// *os.PathError.
func ParseFile(path string) (*Workflow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse parses and validates a workflow; name is used in errors (a file name). The error is a
// ValidationErrors listing every problem.
func Parse(data []byte, name string) (*Workflow, error) {
	p := &parser{file: name}
	w := p.parse(data)
	if len(p.errs)+len(p.wires) > 0 {
		return nil, p.errors()
	}
	w.Warnings = p.warns
	return w, nil
}

type parser struct {
	file  string
	errs  []*ValidationError
	wires []*InputWiringError
	warns []*Warning
}

func (p *parser) errors() error {
	all := make([]error, 0, len(p.errs)+len(p.wires))
	type located struct {
		line int
		err  error
	}
	var l []located
	for _, e := range p.errs {
		l = append(l, located{e.Line, e})
	}
	for _, e := range p.wires {
		l = append(l, located{e.Line, e})
	}
	sort.SliceStable(l, func(i, j int) bool { return l[i].line < l[j].line })
	for _, e := range l {
		all = append(all, e.err)
	}
	return ValidationErrors(all)
}

// at describes where a value is: its node, its path and the phase it belongs to.
type at struct {
	n     *yaml.Node
	path  string
	phase string
	line  int // used when n is nil
}

func (a at) child(n *yaml.Node, key string) at {
	return at{n: n, path: joinPath(a.path, key), phase: a.phase}
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

func lastField(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (p *parser) fail(a at, hint, format string, args ...any) {
	e := &ValidationError{File: p.file, Path: a.path, Phase: a.phase, Field: lastField(a.path),
		Message: fmt.Sprintf(format, args...), Hint: hint}
	if a.phase != "" && a.path == "workflow."+a.phase {
		e.Field = a.phase
	}
	if a.n != nil {
		e.Line, e.Column = a.n.Line, a.n.Column
	} else {
		e.Line = a.line
	}
	p.errs = append(p.errs, e)
}

func (p *parser) warn(a at, format string, args ...any) {
	w := &Warning{File: p.file, Path: a.path, Message: fmt.Sprintf(format, args...)}
	if a.n != nil {
		w.Line = a.n.Line
	} else {
		w.Line = a.line
	}
	p.warns = append(p.warns, w)
}

// mapping is a YAML mapping with its keys in order.
type mapping struct {
	node   *yaml.Node
	keys   []string
	vals   map[string]*yaml.Node
	keyPos map[string]*yaml.Node
}

func (m *mapping) get(key string) *yaml.Node {
	if m == nil {
		return nil
	}
	return m.vals[key]
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// asMapping reads a mapping; nil (with an error) when the node is something else. A null node
// is an empty mapping.
func (p *parser) asMapping(a at, what string) *mapping {
	n := resolve(a.n)
	m := &mapping{node: n, vals: map[string]*yaml.Node{}, keyPos: map[string]*yaml.Node{}}
	if isNull(n) {
		return m
	}
	if n.Kind != yaml.MappingNode {
		p.fail(a, "", "%s must be a mapping (key: value lines), not %s", what, kindName(n))
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			// `<<: *anchor` merges another mapping's keys (those written here win).
			if src := resolve(v); src != nil && src.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(src.Content); j += 2 {
					mk := resolve(src.Content[j])
					if _, dup := m.vals[mk.Value]; !dup && mk.Kind == yaml.ScalarNode {
						m.keys = append(m.keys, mk.Value)
						m.vals[mk.Value], m.keyPos[mk.Value] = src.Content[j+1], mk
					}
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.fail(at{n: k, path: a.path, phase: a.phase}, "", "keys of %s must be plain names", what)
			continue
		}
		if prev, dup := m.keyPos[k.Value]; dup {
			phase := a.phase
			if a.path == "workflow" {
				phase = k.Value
			}
			p.fail(at{n: k, path: joinPath(a.path, k.Value), phase: phase}, "remove one of them",
				"duplicate key %q (first written on line %d)", k.Value, prev.Line)
			continue
		}
		m.keys = append(m.keys, k.Value)
		m.vals[k.Value], m.keyPos[k.Value] = v, k
	}
	return m
}

func kindName(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "null"
	case n.Tag == "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// unknown warns about keys this package does not read, suggesting the nearest known one.
func (p *parser) unknown(m *mapping, a at, known ...string) {
	if m == nil {
		return
	}
	for _, k := range m.keys {
		if slices.Contains(known, k) {
			continue
		}
		hint := ""
		if s := nearest(k, known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.warn(at{n: m.keyPos[k], path: joinPath(a.path, k), phase: a.phase},
			"unknown field %q is ignored%s", k, hint)
	}
}

// str reads a scalar as a string ("" when absent or null).
func (p *parser) str(m *mapping, a at, key string) string {
	n := m.get(key)
	if isNull(n) {
		return ""
	}
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(a.child(n, key), "", "%s must be a string, not %s", key, kindName(n))
		return ""
	}
	return n.Value
}

// oneOf reads a string that must be one of allowed (or absent).
func (p *parser) oneOf(m *mapping, a at, key string, allowed ...string) string {
	s := p.str(m, a, key)
	if s != "" && !slices.Contains(allowed, s) {
		p.fail(a.child(m.get(key), key), "use one of: "+strings.Join(allowed, ", "), "%s %q is not allowed", key, s)
		return ""
	}
	return s
}

// strList reads a list of scalars; a single scalar is a one-element list.
func (p *parser) strList(m *mapping, a at, key string) []string {
	n := m.get(key)
	if isNull(n) {
		return nil
	}
	return p.strListNode(a.child(n, key), key)
}

func (p *parser) strListNode(a at, what string) []string {
	n := resolve(a.n)
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for i, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				p.fail(at{n: item, path: fmt.Sprintf("%s[%d]", a.path, i), phase: a.phase}, "quote the entry to make it a string",
					"entries of %s must be strings, not %s", what, kindName(item))
				continue
			}
			out = append(out, item.Value)
		}
		return out
	}
	p.fail(a, "write a list: [a, b]", "%s must be a list of strings, not %s", what, kindName(n))
	return nil
}

func (p *parser) number(m *mapping, a at, key string, min float64) float64 {
	n := m.get(key)
	if isNull(n) {
		return 0
	}
	n = resolve(n)
	f, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(a.child(n, key), "", "%s must be a number, not %s", key, kindName(n))
		return 0
	}
	if f < min {
		p.fail(a.child(n, key), "", "%s must be at least %v", key, min)
		return 0
	}
	return f
}

func (p *parser) integer(m *mapping, a at, key string, min int64) int64 {
	n := m.get(key)
	if isNull(n) {
		return 0
	}
	n = resolve(n)
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
		p.fail(a.child(n, key), "", "%s must be a whole number, not %s", key, kindName(n))
		return 0
	}
	if v < min {
		p.fail(a.child(n, key), "", "%s must be at least %d", key, min)
		return 0
	}
	return v
}

func (p *parser) boolean(m *mapping, a at, key string, def bool) bool {
	n := m.get(key)
	if isNull(n) {
		return def
	}
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.fail(a.child(n, key), "write true or false", "%s must be true or false, not %s", key, kindName(n))
		return def
	}
	var b bool
	_ = n.Decode(&b)
	return b
}

// value decodes any YAML value into JSON-compatible Go values (map[string]any, []any, string,
// int64, float64, bool, nil).
func (p *parser) value(a at) any {
	n := resolve(a.n)
	if n == nil {
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		p.fail(a, "", "cannot read value: %v", err)
		return nil
	}
	return jsonable(v)
}

func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case int:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

func (p *parser) object(m *mapping, a at, key string) map[string]any {
	n := m.get(key)
	if isNull(n) {
		return nil
	}
	r := resolve(n)
	if r.Kind != yaml.MappingNode {
		p.fail(a.child(n, key), "", "%s must be a mapping, not %s", key, kindName(r))
		return nil
	}
	v, _ := p.value(a.child(n, key)).(map[string]any)
	return v
}

func (p *parser) parse(data []byte) *Workflow {
	w := &Workflow{Source: p.file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		e := &ValidationError{File: p.file, Message: "invalid YAML: " + yamlMessage(err), Hint: "check the file's indentation and syntax"}
		e.Line = yamlLine(err)
		if err.Error() == "EOF" {
			e.Message, e.Hint = "the file is empty", `start it with openintent: "1.0"`
		}
		p.errs = append(p.errs, e)
		return w
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.fail(at{n: &extra}, "keep one workflow per file", "the file holds more than one YAML document")
	}
	root := at{n: resolve(&doc)}
	if root.n == nil || root.n.Kind != yaml.MappingNode {
		p.fail(root, `start the file with openintent: "1.0"`, "a workflow must be a YAML mapping, not %s", kindName(root.n))
		return w
	}
	top := p.asMapping(root, "the workflow")
	if top == nil {
		return w
	}
	p.unknown(top, root, "openintent", "info", "governance", "agents", "llm", "workflow", "types",
		"identity", "verification", "mcp", "channels")

	// openintent
	if n := top.get("openintent"); isNull(n) {
		p.fail(at{n: root.n, path: "openintent"}, `add openintent: "1.0" at the top of the file`, "missing the 'openintent' version field")
	} else if v := p.str(top, root, "openintent"); v != "" {
		w.OpenIntent = v
		if v != Version && v != "1" {
			p.fail(root.child(n, "openintent"), `this version of the SDK reads openintent: "1.0"`, "unsupported workflow format version %q", v)
		}
		w.OpenIntent = Version
	}

	// info
	infoAt := root.child(top.get("info"), "info")
	if isNull(top.get("info")) {
		p.fail(at{n: root.n, path: "info.name"}, `add info: {name: "My workflow"}`, "missing the workflow's name (info.name)")
	} else if info := p.asMapping(infoAt, "info"); info != nil {
		p.unknown(info, infoAt, "name", "version", "description")
		w.Info.Name = p.str(info, infoAt, "name")
		if w.Info.Name == "" && isNull(info.get("name")) {
			p.fail(infoAt, `add name: "My workflow" under info`, "missing the workflow's name (info.name)")
		}
		w.Info.Version = p.str(info, infoAt, "version")
		w.Info.Description = p.str(info, infoAt, "description")
	}
	if w.Info.Version == "" {
		w.Info.Version = "1.0.0"
	}

	w.Governance = p.governance(top, root)
	w.Agents = p.agents(top, root)
	w.LLM = p.llm(top, root)
	w.Identity = p.identity(top, root)
	w.Verification = p.verification(top, root)
	w.MCP = p.mcp(top, root)
	w.Channels = p.channels(top, root)
	w.Types = p.types(top, root)

	// workflow
	wfNode := top.get("workflow")
	wfAt := root.child(wfNode, "workflow")
	if isNull(wfNode) {
		p.fail(at{n: root.n, path: "workflow"}, "add a workflow: section with your phases", "missing the 'workflow' section")
		return w
	}
	phases := p.asMapping(wfAt, "workflow")
	if phases == nil {
		return w
	}
	if len(phases.keys) == 0 {
		p.fail(wfAt, "add at least one phase", "the 'workflow' section has no phases")
	}
	for _, name := range phases.keys {
		if ph := p.phase(name, phases.vals[name], phases.keyPos[name], wfAt); ph != nil {
			w.Phases = append(w.Phases, ph)
		}
	}
	p.check(w)
	return w
}

func yamlMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i+2:]
	}
	return msg
}

func yamlLine(err error) int {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if !strings.HasPrefix(msg, "line ") {
		return 0
	}
	rest := msg[len("line "):]
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

var levels = []string{"read", "write", "admin"}

func (p *parser) governance(top *mapping, root at) *Governance {
	n := top.get("governance")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "governance")
	m := p.asMapping(a, "governance")
	if m == nil {
		return nil
	}
	p.unknown(m, a, "require_approval", "max_cost_usd", "timeout_hours", "escalation", "access_review", "audit_access_events")
	g := &Governance{Line: resolve(n).Line}
	g.MaxCostUSD = p.number(m, a, "max_cost_usd", 0)
	g.Timeout = hours(p.number(m, a, "timeout_hours", 0))
	g.AuditAccessEvents = p.boolean(m, a, "audit_access_events", true)
	if rn := m.get("require_approval"); !isNull(rn) {
		ra := a.child(rn, "require_approval")
		if rm := p.asMapping(ra, "require_approval"); rm != nil {
			p.unknown(rm, ra, "when", "approvers", "timeout_hours", "on_timeout")
			g.RequireApproval = &ApprovalGate{Line: resolve(rn).Line,
				When:      p.str(rm, ra, "when"),
				Approvers: p.strList(rm, ra, "approvers"),
				Timeout:   hours(p.number(rm, ra, "timeout_hours", 0)),
				OnTimeout: p.oneOf(rm, ra, "on_timeout", "escalate", "abort", "proceed"),
			}
			if len(g.RequireApproval.Approvers) == 0 {
				p.warn(ra, "require_approval names no approvers")
			}
		}
	}
	if en := m.get("escalation"); !isNull(en) {
		ea := a.child(en, "escalation")
		if em := p.asMapping(ea, "escalation"); em != nil {
			p.unknown(em, ea, "contact", "after_hours")
			g.Escalation = &Escalation{Contact: p.str(em, ea, "contact"), After: hours(p.number(em, ea, "after_hours", 0))}
		}
	}
	if an := m.get("access_review"); !isNull(an) {
		aa := a.child(an, "access_review")
		if am := p.asMapping(aa, "access_review"); am != nil {
			p.unknown(am, aa, "on_request", "approvers", "timeout_hours")
			g.AccessReview = &AccessReview{OnRequest: p.oneOf(am, aa, "on_request", "approve", "deny", "defer"),
				Approvers: p.strList(am, aa, "approvers"), Timeout: hours(p.number(am, aa, "timeout_hours", 0))}
		}
	}
	return g
}

func (p *parser) agents(top *mapping, root at) []*Agent {
	n := top.get("agents")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "agents")
	m := p.asMapping(a, "agents")
	if m == nil {
		return nil
	}
	var out []*Agent
	for _, id := range m.keys {
		aa := a.child(m.vals[id], id)
		ag := &Agent{ID: id, Line: m.keyPos[id].Line}
		out = append(out, ag)
		am := p.asMapping(aa, "agent "+strconv.Quote(id))
		if am == nil {
			continue
		}
		p.unknown(am, aa, "description", "capabilities", "default_permission", "approval_required", "tools", "on_message")
		ag.Description = p.str(am, aa, "description")
		ag.Capabilities = p.strList(am, aa, "capabilities")
		ag.DefaultPermission = p.oneOf(am, aa, "default_permission", levels...)
		ag.ApprovalRequired = p.boolean(am, aa, "approval_required", false)
		if tn := am.get("tools"); !isNull(tn) {
			ta := aa.child(tn, "tools")
			seq := resolve(tn)
			if seq.Kind != yaml.SequenceNode {
				p.fail(ta, "write a list: [mcp:server/tool, ...]", "tools must be a list, not %s", kindName(seq))
			} else {
				for i, item := range seq.Content {
					item = resolve(item)
					ia := at{n: item, path: fmt.Sprintf("%s[%d]", ta.path, i)}
					if item.Kind != yaml.ScalarNode || item.Value == "" {
						p.fail(ia, "", "a tool must be a name or an mcp:server/tool reference, not %s", kindName(item))
						continue
					}
					ref := ToolRef{Ref: item.Value, Line: item.Line}
					switch {
					case strings.HasPrefix(item.Value, "mcp://"):
					case strings.HasPrefix(item.Value, "mcp:"):
						server, tool, ok := strings.Cut(item.Value[len("mcp:"):], "/")
						if !ok || server == "" || tool == "" || strings.Contains(tool, "/") {
							p.fail(ia, "write mcp:SERVER/TOOL", "malformed MCP tool reference %q", item.Value)
							continue
						}
						ref.Server, ref.Tool = server, tool
					default:
						ref.Tool = item.Value
					}
					ag.Tools = append(ag.Tools, ref)
				}
			}
		}
		if on := am.get("on_message"); !isNull(on) {
			oa := aa.child(on, "on_message")
			seq := resolve(on)
			if seq.Kind != yaml.SequenceNode {
				p.fail(oa, "write a list of {channel, handler}", "on_message must be a list, not %s", kindName(seq))
			} else {
				for i, item := range seq.Content {
					ia := at{n: item, path: fmt.Sprintf("%s[%d]", oa.path, i)}
					if im := p.asMapping(ia, "an on_message entry"); im != nil {
						p.unknown(im, ia, "channel", "handler")
						h := MessageHandler{Channel: p.str(im, ia, "channel"), Handler: p.str(im, ia, "handler")}
						if h.Channel == "" {
							p.fail(ia, "", "an on_message entry needs a channel")
						}
						ag.OnMessage = append(ag.OnMessage, h)
					}
				}
			}
		}
	}
	return out
}

func (p *parser) llm(top *mapping, root at) *LLM {
	n := top.get("llm")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "llm")
	m := p.asMapping(a, "llm")
	if m == nil {
		return nil
	}
	p.unknown(m, a, "provider", "model", "temperature", "max_tokens", "system_prompt")
	l := &LLM{Provider: p.str(m, a, "provider"), Model: p.str(m, a, "model"), Temperature: 0.7, MaxTokens: 4096,
		SystemPrompt: p.str(m, a, "system_prompt")}
	if l.Provider == "" {
		l.Provider = "openai"
	} else if !slices.Contains([]string{"openai", "anthropic", "env"}, l.Provider) {
		p.warn(a.child(m.get("provider"), "provider"), "provider %q is not one the Python SDK knows (openai, anthropic, env)", l.Provider)
	}
	if !isNull(m.get("temperature")) {
		l.Temperature = p.number(m, a, "temperature", 0)
	}
	if !isNull(m.get("max_tokens")) {
		l.MaxTokens = int(p.integer(m, a, "max_tokens", 1))
	}
	return l
}

func (p *parser) identity(top *mapping, root at) *Identity {
	n := top.get("identity")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "identity")
	if r := resolve(n); r.Kind == yaml.ScalarNode {
		var b bool
		if r.Tag != "!!bool" || r.Decode(&b) != nil {
			p.fail(a, "write true, false or a mapping", "identity must be true, false or a mapping, not %s", kindName(r))
			return nil
		}
		return &Identity{Enabled: b, AutoRegister: true, AutoSign: true, KeyAlgorithm: "Ed25519"}
	}
	m := p.asMapping(a, "identity")
	if m == nil {
		return nil
	}
	p.unknown(m, a, "enabled", "key_path", "auto_register", "auto_sign", "key_algorithm", "key_expires")
	id := &Identity{Enabled: p.boolean(m, a, "enabled", true), KeyPath: p.str(m, a, "key_path"),
		AutoRegister: p.boolean(m, a, "auto_register", true), AutoSign: p.boolean(m, a, "auto_sign", true),
		KeyAlgorithm: p.str(m, a, "key_algorithm"), KeyExpires: p.str(m, a, "key_expires")}
	if id.KeyAlgorithm == "" {
		id.KeyAlgorithm = "Ed25519"
	} else if id.KeyAlgorithm != "Ed25519" {
		p.fail(a.child(m.get("key_algorithm"), "key_algorithm"), "use Ed25519", "key_algorithm %q is not supported", id.KeyAlgorithm)
	}
	return id
}

func (p *parser) verification(top *mapping, root at) *Verification {
	n := top.get("verification")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "verification")
	if r := resolve(n); r.Kind == yaml.ScalarNode {
		var b bool
		if r.Tag != "!!bool" || r.Decode(&b) != nil {
			p.fail(a, "write true, false or a mapping", "verification must be true, false or a mapping, not %s", kindName(r))
			return nil
		}
		return &Verification{Enabled: b, VerifyChain: true, CheckpointInterval: 100, CheckpointTime: 5 * time.Minute}
	}
	m := p.asMapping(a, "verification")
	if m == nil {
		return nil
	}
	p.unknown(m, a, "enabled", "require_signed_events", "verify_chain", "checkpoint_interval", "checkpoint_time_minutes", "anchor_provider")
	v := &Verification{Enabled: p.boolean(m, a, "enabled", true), RequireSignedEvents: p.boolean(m, a, "require_signed_events", false),
		VerifyChain: p.boolean(m, a, "verify_chain", true), CheckpointInterval: 100, CheckpointTime: 5 * time.Minute,
		AnchorProvider: p.str(m, a, "anchor_provider")}
	if !isNull(m.get("checkpoint_interval")) {
		v.CheckpointInterval = int(p.integer(m, a, "checkpoint_interval", 1))
	}
	if !isNull(m.get("checkpoint_time_minutes")) {
		v.CheckpointTime = time.Duration(p.integer(m, a, "checkpoint_time_minutes", 1)) * time.Minute
	}
	return v
}

func (p *parser) mcp(top *mapping, root at) *MCP {
	n := top.get("mcp")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "mcp")
	m := p.asMapping(a, "mcp")
	if m == nil {
		return nil
	}
	p.unknown(m, a, "servers")
	out := &MCP{}
	sn := m.get("servers")
	if isNull(sn) {
		p.warn(a, "mcp declares no servers")
		return out
	}
	sa := a.child(sn, "servers")
	servers := p.asMapping(sa, "mcp.servers")
	if servers == nil {
		return out
	}
	for _, name := range servers.keys {
		xa := sa.child(servers.vals[name], name)
		s := &MCPServer{Name: name, Line: servers.keyPos[name].Line}
		out.Servers = append(out.Servers, s)
		xm := p.asMapping(xa, "MCP server "+strconv.Quote(name))
		if xm == nil {
			continue
		}
		p.unknown(xm, xa, "command", "args", "url", "env", "timeout", "allowed_tools", "security", "transport")
		s.Command = p.str(xm, xa, "command")
		s.Args = p.strList(xm, xa, "args")
		s.URL = p.str(xm, xa, "url")
		s.Timeout = time.Duration(p.number(xm, xa, "timeout", 0) * float64(time.Second))
		s.AllowedTools = p.strList(xm, xa, "allowed_tools")
		if env := p.object(xm, xa, "env"); env != nil {
			s.Env = map[string]string{}
			for k, v := range env {
				s.Env[k] = fmt.Sprint(v)
			}
		}
		s.Security = p.object(xm, xa, "security")
		if s.Command == "" && s.URL == "" {
			p.fail(xa, "add command: (a stdio server) or url: (a server over HTTP)", "MCP server %q has neither a command nor a url", name)
		}
	}
	return out
}

func (p *parser) channels(top *mapping, root at) []*Channel {
	n := top.get("channels")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "channels")
	m := p.asMapping(a, "channels")
	if m == nil {
		return nil
	}
	var out []*Channel
	for _, name := range m.keys {
		ca := a.child(m.vals[name], name)
		c := &Channel{Name: name, Line: m.keyPos[name].Line, MemberPolicy: "intent"}
		out = append(out, c)
		cm := p.asMapping(ca, "channel "+strconv.Quote(name))
		if cm == nil {
			continue
		}
		p.unknown(cm, ca, "members", "member_policy", "audit", "ttl_seconds", "max_messages")
		c.Members = p.strList(cm, ca, "members")
		if mp := p.oneOf(cm, ca, "member_policy", "explicit", "intent"); mp != "" {
			c.MemberPolicy = openintent.MemberPolicy(mp)
		}
		c.Audit = p.boolean(cm, ca, "audit", false)
		c.TTL = time.Duration(p.integer(cm, ca, "ttl_seconds", 1)) * time.Second
		c.MaxMessages = int(p.integer(cm, ca, "max_messages", 1))
		if c.MemberPolicy == "explicit" && len(c.Members) == 0 {
			p.fail(ca, "list the members, or use member_policy: intent", "channel %q is explicit but has no members", name)
		}
	}
	return out
}

// primitives are the type names outputs and type fields may use besides declared types.
var primitives = []string{"string", "number", "integer", "boolean", "object", "array", "any"}

func (p *parser) types(top *mapping, root at) []*TypeDef {
	n := top.get("types")
	if isNull(n) {
		return nil
	}
	a := root.child(n, "types")
	m := p.asMapping(a, "types")
	if m == nil {
		return nil
	}
	var out []*TypeDef
	for _, name := range m.keys {
		ta := a.child(m.vals[name], name)
		t := &TypeDef{Name: name, Line: m.keyPos[name].Line}
		out = append(out, t)
		if slices.Contains(primitives, name) {
			p.fail(ta, "choose another name", "type %q has the name of a primitive type", name)
		}
		tm := p.asMapping(ta, "type "+strconv.Quote(name))
		if tm == nil {
			continue
		}
		if en := tm.get("enum"); en != nil {
			t.Enum = p.enumValues(ta.child(en, "enum"))
			if len(tm.keys) > 1 {
				p.fail(ta, "an enum type holds only enum: [...]", "type %q mixes enum with fields", name)
			}
			continue
		}
		for _, f := range tm.keys {
			fa := ta.child(tm.vals[f], f)
			fn := resolve(tm.vals[f])
			switch {
			case fn.Kind == yaml.ScalarNode && fn.Tag != "!!null":
				t.Fields = append(t.Fields, TypeField{Name: f, Type: fn.Value})
			case fn.Kind == yaml.MappingNode:
				fm := p.asMapping(fa, "field "+strconv.Quote(f))
				if fm == nil {
					continue
				}
				if en := fm.get("enum"); en != nil {
					t.Fields = append(t.Fields, TypeField{Name: f, Enum: p.enumValues(fa.child(en, "enum"))})
				} else if tn := p.str(fm, fa, "type"); tn != "" {
					t.Fields = append(t.Fields, TypeField{Name: f, Type: tn})
				} else {
					p.fail(fa, "write a type name or {enum: [...]}", "field %q of type %q has no type", f, name)
				}
			default:
				p.fail(fa, "write a type name or {enum: [...]}", "field %q of type %q must name a type, not %s", f, name, kindName(fn))
			}
		}
	}
	return out
}

func (p *parser) enumValues(a at) []any {
	n := resolve(a.n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.fail(a, "write enum: [a, b, c]", "enum must be a non-empty list")
		return nil
	}
	v, _ := p.value(a).([]any)
	return v
}

var phaseFields = []string{"title", "description", "assign", "depends_on", "constraints", "initial_state", "inputs", "outputs",
	"skip_when", "retry", "leasing", "cost_tracking", "attachments", "permissions", "access", "delegation", "context"}

func (p *parser) phase(name string, n, key *yaml.Node, wfAt at) *Phase {
	a := at{n: n, path: joinPath(wfAt.path, name), phase: name}
	if isNull(n) {
		a.n = key
	}
	ph := &Phase{Name: name, Line: key.Line, lines: map[string]int{}}
	switch {
	case name == "":
		p.fail(at{n: key, path: wfAt.path}, "", "a phase needs a name")
	case strings.ContainsAny(name, ".$ \t"):
		p.fail(at{n: key, path: a.path, phase: name}, "use letters, digits, '_' and '-'",
			"phase name %q may not contain '.', '$' or spaces (input references are written phase.key)", name)
	}
	m := p.asMapping(a, "phase "+strconv.Quote(name))
	if m == nil {
		return ph
	}
	for _, k := range m.keys {
		ph.lines[k] = m.keyPos[k].Line
	}
	p.unknown(m, a, phaseFields...)
	ph.Title = p.str(m, a, "title")
	if ph.Title == "" {
		ph.Title = titleCase(name)
	}
	ph.Description = p.str(m, a, "description")
	ph.Assign = p.str(m, a, "assign")
	if ph.Assign == "" {
		p.fail(at{n: key, path: joinPath(a.path, "assign"), phase: name}, "add assign: AGENT_ID to say which agent handles the phase",
			"phase %q is missing 'assign'", name)
	}
	ph.DependsOn = p.strList(m, a, "depends_on")
	ph.Constraints = p.constraints(m, a)
	ph.InitialState = p.object(m, a, "initial_state")
	ph.SkipWhen = p.str(m, a, "skip_when")
	if ph.SkipWhen != "" {
		p.warn(a.child(m.get("skip_when"), "skip_when"), "skip_when is recorded in the intent's state but not evaluated by `openintent run`")
	}
	ph.Inputs = p.inputs(m, a)
	ph.Outputs = p.outputs(m, a)
	ph.Retry = p.retry(m, a)
	ph.Leasing = p.leasing(m, a)
	ph.CostTracking = p.costTracking(m, a)
	ph.Attachments = p.attachments(m, a)
	ph.Permissions = p.permissions(m, a)
	return ph
}

func titleCase(name string) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' })
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

func (p *parser) constraints(m *mapping, a at) []string {
	n := m.get("constraints")
	if isNull(n) {
		return nil
	}
	ca := a.child(n, "constraints")
	seq := resolve(n)
	if seq.Kind == yaml.ScalarNode {
		return []string{seq.Value}
	}
	if seq.Kind != yaml.SequenceNode {
		p.fail(ca, `write a list of rules: ["Be concise", "max_sources: 5"]`, "constraints must be a list, not %s", kindName(seq))
		return nil
	}
	var out []string
	for i, item := range seq.Content {
		item = resolve(item)
		switch item.Kind {
		case yaml.ScalarNode:
			out = append(out, item.Value)
		case yaml.MappingNode:
			// An unquoted "key: value" rule is a one-entry mapping to YAML: keep it as written.
			for j := 0; j+1 < len(item.Content); j += 2 {
				v := resolve(item.Content[j+1])
				s := resolve(item.Content[j]).Value + ": "
				if v.Kind == yaml.ScalarNode {
					s += v.Value
				} else {
					b, _ := yaml.Marshal(v)
					s += strings.TrimSpace(string(b))
				}
				out = append(out, s)
			}
		default:
			p.fail(at{n: item, path: fmt.Sprintf("%s[%d]", ca.path, i), phase: a.phase}, "quote the rule", "a constraint must be a string, not %s", kindName(item))
		}
	}
	return out
}

func (p *parser) inputs(m *mapping, a at) []Input {
	n := m.get("inputs")
	if isNull(n) {
		return nil
	}
	ia := a.child(n, "inputs")
	im := p.asMapping(ia, "inputs")
	if im == nil {
		return nil
	}
	var out []Input
	for _, k := range im.keys {
		v := resolve(im.vals[k])
		in := Input{Key: k, Line: im.keyPos[k].Line}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			in.Ref = "\x00" + kindName(v) // reported by the wiring check
		} else {
			in.Ref = v.Value
		}
		out = append(out, in)
	}
	return out
}

func (p *parser) outputs(m *mapping, a at) []Output {
	n := m.get("outputs")
	if isNull(n) {
		return nil
	}
	oa := a.child(n, "outputs")
	r := resolve(n)
	var out []Output
	switch r.Kind {
	case yaml.SequenceNode:
		// The legacy form: a list of keys, of any type.
		for i, item := range r.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || item.Value == "" {
				p.fail(at{n: item, path: fmt.Sprintf("%s[%d]", oa.path, i), phase: a.phase}, "", "an output key must be a name, not %s", kindName(item))
				continue
			}
			out = append(out, Output{Key: item.Value, Type: "any", Required: true, Line: item.Line})
		}
	case yaml.MappingNode:
		om := p.asMapping(oa, "outputs")
		if om == nil {
			return nil
		}
		for _, k := range om.keys {
			v := resolve(om.vals[k])
			o := Output{Key: k, Type: "any", Required: true, Line: om.keyPos[k].Line}
			ka := oa.child(om.vals[k], k)
			switch {
			case isNull(v):
			case v.Kind == yaml.ScalarNode:
				o.Type = v.Value
			case v.Kind == yaml.MappingNode:
				dm := p.asMapping(ka, "output "+strconv.Quote(k))
				if dm == nil {
					continue
				}
				p.unknown(dm, ka, "type", "required", "description")
				if t := p.str(dm, ka, "type"); t != "" {
					o.Type = t
				}
				o.Required = p.boolean(dm, ka, "required", true)
			default:
				p.fail(ka, "write a type name, or {type: T, required: false}", "output %q must declare a type, not %s", k, kindName(v))
				continue
			}
			out = append(out, o)
		}
	default:
		p.fail(oa, "write outputs: {key: type, ...}", "outputs must be a mapping of keys to types, not %s", kindName(r))
	}
	return out
}

func (p *parser) retry(m *mapping, a at) *Retry {
	n := m.get("retry")
	if isNull(n) {
		return nil
	}
	ra := a.child(n, "retry")
	rm := p.asMapping(ra, "retry")
	if rm == nil {
		return nil
	}
	p.unknown(rm, ra, "max_attempts", "backoff", "initial_delay_ms", "max_delay_ms", "retryable_errors", "fallback_agent")
	r := &Retry{Line: resolve(n).Line, MaxAttempts: 3, Backoff: "exponential"}
	if !isNull(rm.get("max_attempts")) {
		r.MaxAttempts = int(p.integer(rm, ra, "max_attempts", 1))
	}
	if b := p.oneOf(rm, ra, "backoff", "constant", "fixed", "linear", "exponential", "none"); b != "" {
		r.Backoff = b
	}
	r.InitialDelay = time.Duration(p.integer(rm, ra, "initial_delay_ms", 0)) * time.Millisecond
	r.MaxDelay = time.Duration(p.integer(rm, ra, "max_delay_ms", 0)) * time.Millisecond
	if r.MaxDelay > 0 && r.InitialDelay > r.MaxDelay {
		p.fail(ra.child(rm.get("max_delay_ms"), "max_delay_ms"), "", "max_delay_ms (%d) is less than initial_delay_ms (%d)", r.MaxDelay.Milliseconds(), r.InitialDelay.Milliseconds())
	}
	r.RetryableErrors = p.strList(rm, ra, "retryable_errors")
	r.FallbackAgent = p.str(rm, ra, "fallback_agent")
	return r
}

func (p *parser) leasing(m *mapping, a at) *Leasing {
	n := m.get("leasing")
	if isNull(n) {
		return nil
	}
	la := a.child(n, "leasing")
	lm := p.asMapping(la, "leasing")
	if lm == nil {
		return nil
	}
	p.unknown(lm, la, "strategy", "scope", "ttl_seconds", "wait_for_lock")
	l := &Leasing{Strategy: p.oneOf(lm, la, "strategy", "global", "per_section", "custom"), Scope: p.str(lm, la, "scope"),
		TTL: time.Duration(p.integer(lm, la, "ttl_seconds", 1)) * time.Second, WaitForLock: p.boolean(lm, la, "wait_for_lock", false)}
	if l.Strategy == "" {
		l.Strategy = "global"
	}
	if l.Strategy == "custom" && l.Scope == "" {
		p.fail(la, "add scope: ...", "a custom leasing strategy needs a scope")
	}
	return l
}

func (p *parser) costTracking(m *mapping, a at) *CostTracking {
	n := m.get("cost_tracking")
	if isNull(n) {
		return nil
	}
	ca := a.child(n, "cost_tracking")
	cm := p.asMapping(ca, "cost_tracking")
	if cm == nil {
		return nil
	}
	p.unknown(cm, ca, "enabled", "budget_usd", "alert_at_percent")
	c := &CostTracking{Enabled: p.boolean(cm, ca, "enabled", true), BudgetUSD: p.number(cm, ca, "budget_usd", 0),
		AlertAtPercent: int(p.integer(cm, ca, "alert_at_percent", 0))}
	if c.AlertAtPercent > 100 {
		p.fail(ca.child(cm.get("alert_at_percent"), "alert_at_percent"), "", "alert_at_percent must be at most 100")
	}
	return c
}

func (p *parser) attachments(m *mapping, a at) []Attachment {
	n := m.get("attachments")
	if isNull(n) {
		return nil
	}
	aa := a.child(n, "attachments")
	seq := resolve(n)
	if seq.Kind != yaml.SequenceNode {
		p.fail(aa, "write a list of {filename, content_type}", "attachments must be a list, not %s", kindName(seq))
		return nil
	}
	var out []Attachment
	for i, item := range seq.Content {
		ia := at{n: item, path: fmt.Sprintf("%s[%d]", aa.path, i), phase: a.phase}
		im := p.asMapping(ia, "an attachment")
		if im == nil {
			continue
		}
		p.unknown(im, ia, "filename", "content_type")
		at := Attachment{Filename: p.str(im, ia, "filename"), ContentType: p.str(im, ia, "content_type")}
		if at.Filename == "" {
			p.fail(ia, "add filename: ...", "an attachment needs a filename")
		}
		out = append(out, at)
	}
	return out
}

var contextFields = []string{"dependencies", "peers", "parent", "events", "acl", "delegated_by"}

func (p *parser) permissions(m *mapping, a at) *Permissions {
	n := m.get("permissions")
	legacy := !isNull(m.get("access")) || !isNull(m.get("delegation")) || !isNull(m.get("context"))
	if isNull(n) {
		if legacy {
			return p.legacyPermissions(m, a)
		}
		return nil
	}
	if legacy {
		p.warn(a, "access, delegation and context are ignored because permissions is set")
	}
	pa := a.child(n, "permissions")
	r := resolve(n)
	perm := &Permissions{Policy: "open", Default: "read", Context: []string{"auto"}, Line: r.Line}
	switch r.Kind {
	case yaml.ScalarNode:
		switch r.Value {
		case "open", "private", "restricted":
			perm.Policy = r.Value
		default:
			p.fail(pa, "use open, private, restricted, a list of agents or a mapping", "permissions %q is not a policy", r.Value)
		}
		return perm
	case yaml.SequenceNode:
		perm.Policy = "restricted"
		for _, ag := range p.strListNode(pa, "permissions") {
			perm.Allow = append(perm.Allow, AllowEntry{Agent: ag, Level: "write"})
		}
		return perm
	}
	pm := p.asMapping(pa, "permissions")
	if pm == nil {
		return nil
	}
	p.unknown(pm, pa, "policy", "default", "allow", "delegate", "context")
	if s := p.oneOf(pm, pa, "policy", "open", "restricted", "private"); s != "" {
		perm.Policy = s
	}
	if s := p.oneOf(pm, pa, "default", levels...); s != "" {
		perm.Default = s
	}
	if an := pm.get("allow"); !isNull(an) {
		aa := pa.child(an, "allow")
		seq := resolve(an)
		if seq.Kind != yaml.SequenceNode {
			p.fail(aa, "write a list of {agent, level}", "allow must be a list, not %s", kindName(seq))
		} else {
			for i, item := range seq.Content {
				ia := at{n: item, path: fmt.Sprintf("%s[%d]", aa.path, i), phase: a.phase}
				if r := resolve(item); r.Kind == yaml.ScalarNode {
					perm.Allow = append(perm.Allow, AllowEntry{Agent: r.Value, Level: "read"})
					continue
				}
				im := p.asMapping(ia, "an allow entry")
				if im == nil {
					continue
				}
				p.unknown(im, ia, "agent", "level", "expires")
				e := AllowEntry{Agent: p.str(im, ia, "agent"), Level: p.oneOf(im, ia, "level", levels...), Expires: p.str(im, ia, "expires")}
				if e.Agent == "" {
					p.fail(ia, "add agent: AGENT_ID", "an allow entry needs an agent")
				}
				if e.Level == "" {
					e.Level = "read"
				}
				if e.Expires != "" {
					if _, err := time.Parse(time.RFC3339, e.Expires); err != nil {
						p.fail(ia.child(im.get("expires"), "expires"), "write an RFC 3339 instant: 2026-12-31T00:00:00Z", "expires %q is not a date-time", e.Expires)
					}
				}
				perm.Allow = append(perm.Allow, e)
			}
		}
	}
	if dn := pm.get("delegate"); !isNull(dn) {
		da := pa.child(dn, "delegate")
		if dm := p.asMapping(da, "delegate"); dm != nil {
			p.unknown(dm, da, "to", "level")
			perm.Delegate = &Delegate{To: p.strList(dm, da, "to"), Level: p.oneOf(dm, da, "level", levels...)}
			if perm.Delegate.Level == "" {
				perm.Delegate.Level = "read"
			}
		}
	}
	if cn := pm.get("context"); !isNull(cn) {
		ca := pa.child(cn, "context")
		perm.Context = p.strListNode(ca, "context")
		p.checkContext(ca, perm.Context)
	}
	return perm
}

func (p *parser) checkContext(a at, ctx []string) {
	if len(ctx) == 1 && (ctx[0] == "auto" || ctx[0] == "none") {
		return
	}
	for _, c := range ctx {
		if !slices.Contains(contextFields, c) {
			p.fail(a, "use auto, none or a list of: "+strings.Join(contextFields, ", "), "unknown context field %q", c)
		}
	}
}

// legacyPermissions merges the Python SDK's earlier access, delegation and context fields.
func (p *parser) legacyPermissions(m *mapping, a at) *Permissions {
	perm := &Permissions{Policy: "open", Default: "read", Context: []string{"auto"}, Line: a.n.Line}
	p.warn(a, "access, delegation and context are deprecated: write them as permissions")
	if n := m.get("access"); !isNull(n) {
		aa := a.child(n, "access")
		if am := p.asMapping(aa, "access"); am != nil {
			p.unknown(am, aa, "policy", "default_permission", "acl")
			if s := p.oneOf(am, aa, "policy", "open", "restricted", "private"); s != "" {
				perm.Policy = s
			}
			if s := p.oneOf(am, aa, "default_permission", levels...); s != "" {
				perm.Default = s
			}
			if ln := am.get("acl"); !isNull(ln) {
				seq := resolve(ln)
				for i, item := range seq.Content {
					ia := at{n: item, path: fmt.Sprintf("%s.acl[%d]", aa.path, i), phase: a.phase}
					if im := p.asMapping(ia, "an acl entry"); im != nil {
						agent := p.str(im, ia, "principal_id")
						if agent == "" {
							agent = p.str(im, ia, "agent")
						}
						level := p.str(im, ia, "permission")
						if level == "" {
							level = p.str(im, ia, "level")
						}
						if level == "" {
							level = "read"
						}
						perm.Allow = append(perm.Allow, AllowEntry{Agent: agent, Level: level})
					}
				}
			}
		}
	}
	if n := m.get("delegation"); !isNull(n) {
		da := a.child(n, "delegation")
		if dm := p.asMapping(da, "delegation"); dm != nil {
			d := &Delegate{To: p.strList(dm, da, "targets"), Level: p.str(dm, da, "default_permission")}
			if d.To == nil {
				d.To = p.strList(dm, da, "to")
			}
			if d.Level == "" {
				d.Level = p.str(dm, da, "level")
			}
			if d.Level == "" {
				d.Level = "read"
			}
			perm.Delegate = d
		}
	}
	if n := m.get("context"); !isNull(n) {
		ca := a.child(n, "context")
		if r := resolve(n); r.Kind == yaml.MappingNode {
			if cm := p.asMapping(ca, "context"); cm != nil && !isNull(cm.get("inject")) {
				perm.Context = p.strList(cm, ca, "inject")
			}
		} else {
			perm.Context = p.strListNode(ca, "context")
		}
		p.checkContext(ca, perm.Context)
	}
	return perm
}

// nearest returns the known word closest to s when it is close enough to be a likely typo.
func nearest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// hours is a number of hours of a workflow file (timeout_hours, after_hours) as a Duration.
func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }
