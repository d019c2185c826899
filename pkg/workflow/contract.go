package workflow

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Keys of an intent's state under which the executor keeps a phase's I/O contract (RFC-0024),
// the same keys the Python SDK uses, so that agents of either SDK can serve either's
// workflows.
const (
	// StateInputs holds the phase's input mapping (local key -> reference).
	StateInputs = "_io_inputs"
	// StateOutputs holds the declared outputs (key -> type, or {type, required}).
	StateOutputs = "_io_outputs"
	// StateTypes holds the workflow's types block.
	StateTypes = "_io_types"
	// StateDepTitleToName maps the titles of the phase's dependencies to their phase names.
	StateDepTitleToName = "_io_dep_title_to_name"
	// StatePhase holds the phase's name (this SDK's addition: the Python SDK reports titles).
	StatePhase = "_io_phase"
)

// Contract is a phase's I/O contract: what it reads and what it must return. The executor
// stores it in the intent's state (StateInputs, ...); ContractOf reads it back.
type Contract struct {
	// Phase is the phase's name.
	Phase string
	// Inputs are the phase's input mappings, by key order.
	Inputs []Input
	// Outputs are the declared outputs.
	Outputs []Output
	// DepTitleToName maps the titles of upstream intents to their phase names.
	DepTitleToName map[string]string

	types map[string]*TypeDef
}

// Contract returns the phase's I/O contract, or nil when there is no such phase.
func (w *Workflow) Contract(phase string) *Contract {
	ph := w.Phase(phase)
	if ph == nil {
		return nil
	}
	c := &Contract{Phase: ph.Name, Inputs: ph.Inputs, Outputs: ph.Outputs, DepTitleToName: map[string]string{}, types: map[string]*TypeDef{}}
	for _, d := range ph.DependsOn {
		if up := w.Phase(d); up != nil {
			c.DepTitleToName[up.Title] = up.Name
		}
	}
	for _, t := range w.Types {
		c.types[t.Name] = t
	}
	return c
}

// HasIO reports whether the contract declares inputs or outputs.
func (c *Contract) HasIO() bool { return c != nil && (len(c.Inputs) > 0 || len(c.Outputs) > 0) }

// ContractOf reads the I/O contract the executor stored in an intent's state; ok is false when
// the intent has none (it is not a phase of a workflow, or its phase declares no I/O).
func ContractOf(intent *openintent.Intent) (c *Contract, ok bool) {
	if intent == nil {
		return nil, false
	}
	st := intent.State
	_, hasIn := st[StateInputs]
	_, hasOut := st[StateOutputs]
	if !hasIn && !hasOut {
		return nil, false
	}
	c = &Contract{Phase: intent.Title, DepTitleToName: map[string]string{}, types: map[string]*TypeDef{}}
	if s, _ := st[StatePhase].(string); s != "" {
		c.Phase = s
	}
	if m, _ := st[StateInputs].(map[string]any); m != nil {
		for _, k := range sortedKeys(m) {
			ref, ok := m[k].(string)
			if !ok {
				ref = "\x00" + fmt.Sprint(m[k])
			}
			c.Inputs = append(c.Inputs, Input{Key: k, Ref: ref})
		}
	}
	if m, _ := st[StateOutputs].(map[string]any); m != nil {
		for _, k := range sortedKeys(m) {
			o := Output{Key: k, Type: "any", Required: true}
			switch d := m[k].(type) {
			case string:
				o.Type = d
			case map[string]any:
				if t, _ := d["type"].(string); t != "" {
					o.Type = t
				}
				if r, ok := d["required"].(bool); ok {
					o.Required = r
				}
			}
			c.Outputs = append(c.Outputs, o)
		}
	} else if l, _ := st[StateOutputs].([]any); l != nil {
		for _, k := range l {
			if s, ok := k.(string); ok {
				c.Outputs = append(c.Outputs, Output{Key: s, Type: "any", Required: true})
			}
		}
	}
	if m, _ := st[StateDepTitleToName].(map[string]any); m != nil {
		for k, v := range m {
			if s, ok := v.(string); ok {
				c.DepTitleToName[k] = s
			}
		}
	}
	if m, _ := st[StateTypes].(map[string]any); m != nil {
		for name, def := range m {
			c.types[name] = typeFromRaw(name, def)
		}
	}
	return c, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func typeFromRaw(name string, def any) *TypeDef {
	t := &TypeDef{Name: name}
	m, _ := def.(map[string]any)
	if e, ok := m["enum"].([]any); ok {
		t.Enum = e
		return t
	}
	for _, f := range sortedKeys(m) {
		switch d := m[f].(type) {
		case string:
			t.Fields = append(t.Fields, TypeField{Name: f, Type: d})
		case map[string]any:
			if e, ok := d["enum"].([]any); ok {
				t.Fields = append(t.Fields, TypeField{Name: f, Enum: e})
			} else if s, _ := d["type"].(string); s != "" {
				t.Fields = append(t.Fields, TypeField{Name: f, Type: s})
			}
		}
	}
	return t
}

// rawTypes is the types block as stored in StateTypes.
func (w *Workflow) rawTypes() map[string]any {
	if len(w.Types) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, t := range w.Types {
		if t.Enum != nil {
			out[t.Name] = map[string]any{"enum": t.Enum}
			continue
		}
		fields := map[string]any{}
		for _, f := range t.Fields {
			if f.Enum != nil {
				fields[f.Name] = map[string]any{"enum": f.Enum}
			} else {
				fields[f.Name] = f.Type
			}
		}
		out[t.Name] = fields
	}
	return out
}

// Sources are what a phase's inputs are resolved from.
type Sources struct {
	// Upstream maps upstream phase names to their recorded outputs.
	Upstream map[string]openintent.Object
	// Trigger is the run's trigger payload (`$trigger.key`).
	Trigger openintent.Object
	// InitialState is the phase's initial state (`$initial_state.key`).
	InitialState openintent.Object
	// Statuses maps upstream phase names to their intents' status, for the RFC-0026 check
	// (optional).
	Statuses map[string]UpstreamStatus
}

// UpstreamStatus is the state of an upstream phase's intent.
type UpstreamStatus struct {
	// IntentID is the upstream intent.
	IntentID string
	// Status is its status.
	Status openintent.IntentStatus
	// ExpectedResumeAt estimates when a suspended intent resumes, or is empty.
	ExpectedResumeAt string
}

// ResolveInputs builds the agent's input (ctx.input) from the phase's input mappings (RFC-0024
// §3.2). taskID names the task in errors. Every declared input is present in the result, or
// the error is an *UnresolvableInputError listing the references that could not be resolved;
// a phase without inputs gets an empty object.
func (c *Contract) ResolveInputs(taskID string, src Sources) (openintent.Object, error) {
	out := openintent.Object{}
	if c == nil {
		return out, nil
	}
	var missing []string
	for _, in := range c.Inputs {
		kind, phase, key := ParseRef(in.Ref)
		var (
			v  any
			ok bool
		)
		switch kind {
		case RefTrigger:
			v, ok = src.Trigger[key]
			ok = ok && v != nil
		case RefInitialState:
			v, ok = src.InitialState[key]
			ok = ok && v != nil
		case RefPhase:
			v, ok = src.Upstream[phase][key]
		}
		if !ok {
			ref := in.Ref
			if len(ref) > 0 && ref[0] == 0 {
				ref = in.Key + ": " + ref[1:]
			}
			missing = append(missing, ref)
			continue
		}
		out[in.Key] = v
	}
	if len(missing) > 0 {
		return nil, &UnresolvableInputError{TaskID: taskID, PhaseName: c.Phase, UnresolvableRefs: missing}
	}
	return out, nil
}

// CheckClaim is the claim-time check (RFC-0024 §3.1, with RFC-0026's patch): it fails with an
// *UpstreamIntentSuspendedError when an upstream phase the inputs read from is suspended
// awaiting input (checked first), and with an *UnresolvableInputError when inputs cannot be
// resolved. On success it returns the resolved input.
func (c *Contract) CheckClaim(taskID string, src Sources) (openintent.Object, error) {
	if c == nil {
		return openintent.Object{}, nil
	}
	for _, in := range c.Inputs {
		kind, phase, _ := ParseRef(in.Ref)
		if kind != RefPhase {
			continue
		}
		if st, ok := src.Statuses[phase]; ok && st.Status == openintent.StatusSuspendedAwaitingInput {
			return nil, &UpstreamIntentSuspendedError{TaskID: taskID, PhaseName: c.Phase, UpstreamPhase: phase,
				SuspendedIntentID: st.IntentID, ExpectedResumeAt: st.ExpectedResumeAt}
		}
	}
	return c.ResolveInputs(taskID, src)
}

// CheckOutputs is the completion-time check (RFC-0024 §3.3): every required declared output is
// present (else *MissingOutputError) and every present declared output has its declared type
// (else *OutputTypeMismatchError; values are never coerced). Keys beyond the declared ones are
// accepted.
func (c *Contract) CheckOutputs(taskID string, output map[string]any) error {
	if c == nil {
		return nil
	}
	var missing []string
	for _, o := range c.Outputs {
		v, present := output[o.Key]
		if !present {
			if o.Required {
				missing = append(missing, o.Key)
			}
			continue
		}
		if expected, actual, ok := c.checkType(o.Type, v, 0); !ok {
			return &OutputTypeMismatchError{TaskID: taskID, PhaseName: c.Phase, Key: o.Key, ExpectedType: expected, ActualType: actual}
		}
	}
	if len(missing) > 0 {
		return &MissingOutputError{TaskID: taskID, PhaseName: c.Phase, MissingKeys: missing}
	}
	return nil
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return "number"
	case map[string]any, openintent.Object:
		return "object"
	case []any:
		return "array"
	default:
		return fmt.Sprintf("%T", x)
	}
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// checkType reports whether v has type t: a primitive, a declared record or enum type, or an
// unknown name (accepted, as the Python SDK accepts it, for incremental adoption). On mismatch
// it returns the expected type as written and what v is.
func (c *Contract) checkType(t string, v any, depth int) (expected, actual string, ok bool) {
	switch t {
	case "", "any":
		return t, "", true
	case "string", "boolean", "object", "array", "number":
		if jt := jsonType(v); jt != t {
			return t, jt, false
		}
		return t, "", true
	case "integer":
		f, isNum := asFloat(v)
		if !isNum || f != math.Trunc(f) {
			return t, jsonType(v), false
		}
		return t, "", true
	}
	def := c.types[t]
	if def == nil {
		return t, "", true
	}
	if def.Enum != nil {
		if !inEnum(def.Enum, v) {
			return fmt.Sprintf("%s(enum:%s)", t, enumString(def.Enum)), fmt.Sprintf("%s %s", jsonType(v), short(v)), false
		}
		return t, "", true
	}
	obj, isObj := asObject(v)
	if !isObj {
		return t, jsonType(v), false
	}
	if depth > 8 { // types referring to themselves: stop checking deeper
		return t, "", true
	}
	for _, f := range def.Fields {
		fv, present := obj[f.Name]
		if !present {
			return t, fmt.Sprintf("object missing required field %q", f.Name), false
		}
		if f.Enum != nil {
			if !inEnum(f.Enum, fv) {
				return t, fmt.Sprintf("object whose field %q is %s, not one of %s", f.Name, short(fv), enumString(f.Enum)), false
			}
			continue
		}
		if _, act, ok := c.checkType(f.Type, fv, depth+1); !ok {
			return t, fmt.Sprintf("object whose field %q is %s, not %s", f.Name, act, f.Type), false
		}
	}
	return t, "", true
}

func asObject(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case openintent.Object:
		return x, true
	}
	return nil, false
}

func inEnum(values []any, v any) bool {
	return slices.ContainsFunc(values, func(e any) bool {
		if a, ok := asFloat(e); ok {
			b, ok := asFloat(v)
			return ok && a == b
		}
		return e == v
	})
}

func enumString(values []any) string {
	b, _ := json.Marshal(values)
	return string(b)
}

func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// Outputs returns the part of an intent's state that is the phase's recorded output: every
// key except the executor's own (the _io_* keys and the configuration the executor stores).
func Outputs(state map[string]any) openintent.Object {
	out := openintent.Object{}
	for k, v := range state {
		if len(k) > 4 && k[:4] == "_io_" {
			continue
		}
		out[k] = v
	}
	return out
}
