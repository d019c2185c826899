package workflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// ValidationError is a problem that makes a workflow file invalid. It names the file, the line
// and column, the field's path (`workflow.analysis.depends_on`), the phase (when the problem is
// in one) and the field.
type ValidationError struct {
	// File is the workflow file (or the name given to Parse).
	File string
	// Line and Column locate the problem (0: unknown).
	Line, Column int
	// Path is the field's path, e.g. `workflow.analysis.depends_on`.
	Path string
	// Phase is the phase the problem is in, or empty.
	Phase string
	// Field is the field at fault, e.g. `depends_on`.
	Field string
	// Message says what is wrong.
	Message string
	// Hint says how to fix it, or is empty.
	Hint string
}

// Error formats the error as `file:line:col: path: message (hint: ...)`.
func (e *ValidationError) Error() string {
	s := location(e.File, e.Line, e.Column) + prefixPath(e.Path) + e.Message
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

func location(file string, line, col int) string {
	if file == "" && line == 0 {
		return ""
	}
	s := file
	if line > 0 {
		s += ":" + strconv.Itoa(line)
		if col > 0 {
			s += ":" + strconv.Itoa(col)
		}
	}
	return s + ": "
}

func prefixPath(p string) string {
	if p == "" {
		return ""
	}
	return p + ": "
}

// ValidationErrors are all the problems found in a workflow file, in line order. errors.As
// finds each of them (*ValidationError, *InputWiringError).
type ValidationErrors []error

// Error lists the problems, one a line.
func (e ValidationErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e ValidationErrors) Unwrap() []error { return e }

// InputWiringError is RFC-0024's InputWiringError: a phase's `inputs` declaration is
// structurally invalid (a reference to a phase that does not exist or is not in depends_on, to
// an output the upstream phase does not declare, or a malformed reference). It is found when
// the workflow is validated, before anything runs.
type InputWiringError struct {
	ValidationError
	// PhaseName is the phase with the invalid inputs declaration.
	PhaseName string
	// InvalidRefs are the invalid mapping expressions, each with the reason.
	InvalidRefs []string
	// Suggestion is a fix hint.
	Suggestion string
}

// Error formats the error with its location and every invalid reference.
func (e *InputWiringError) Error() string { return e.ValidationError.Error() }

// Unwrap returns the embedded *ValidationError.
func (e *InputWiringError) Unwrap() error { return &e.ValidationError }

// Payload is the error as RFC-0024's event payload.
func (e *InputWiringError) Payload() openintent.Object {
	return openintent.Object{"error": "InputWiringError", "phase_name": e.PhaseName,
		"invalid_refs": toAny(e.InvalidRefs), "suggestion": e.Suggestion, "message": e.Error()}
}

// ErrIOContract is matched (errors.Is) by every RFC-0024 runtime error: MissingOutputError,
// OutputTypeMismatchError, UnresolvableInputError and UpstreamIntentSuspendedError.
var ErrIOContract = errors.New("workflow: I/O contract violated")

// MissingOutputError is RFC-0024's MissingOutputError: a completion was rejected because
// required declared outputs are absent from the agent's result.
type MissingOutputError struct {
	// TaskID is the task (intent) whose completion was rejected.
	TaskID string
	// PhaseName is the phase.
	PhaseName string
	// MissingKeys are the declared output keys that were not returned.
	MissingKeys []string
}

func (e *MissingOutputError) Error() string {
	return fmt.Sprintf("MissingOutputError: completion of task %q (phase %q) rejected: declared output key(s) %s not present in the agent's result",
		e.TaskID, e.PhaseName, quoteList(e.MissingKeys))
}

// Is matches ErrIOContract.
func (e *MissingOutputError) Is(target error) bool { return target == ErrIOContract }

// Payload is the error as RFC-0024's event payload.
func (e *MissingOutputError) Payload() openintent.Object {
	return openintent.Object{"error": "MissingOutputError", "task_id": e.TaskID, "phase_name": e.PhaseName,
		"missing_keys": toAny(e.MissingKeys), "message": e.Error()}
}

// OutputTypeMismatchError is RFC-0024's OutputTypeMismatchError: a returned output's value
// does not have the declared type. Values are never coerced.
type OutputTypeMismatchError struct {
	// TaskID is the task (intent) whose completion was rejected.
	TaskID string
	// PhaseName is the phase.
	PhaseName string
	// Key is the output key.
	Key string
	// ExpectedType is the declared type.
	ExpectedType string
	// ActualType is the JSON type of the returned value (or what is wrong with it).
	ActualType string
}

func (e *OutputTypeMismatchError) Error() string {
	return fmt.Sprintf("OutputTypeMismatchError: completion of task %q (phase %q) rejected: output %q should be %s, got %s",
		e.TaskID, e.PhaseName, e.Key, e.ExpectedType, e.ActualType)
}

// Is matches ErrIOContract.
func (e *OutputTypeMismatchError) Is(target error) bool { return target == ErrIOContract }

// Payload is the error as RFC-0024's event payload.
func (e *OutputTypeMismatchError) Payload() openintent.Object {
	return openintent.Object{"error": "OutputTypeMismatchError", "task_id": e.TaskID, "phase_name": e.PhaseName,
		"key": e.Key, "expected_type": e.ExpectedType, "actual_type": e.ActualType, "message": e.Error()}
}

// UnresolvableInputError is RFC-0024's UnresolvableInputError: a claim was rejected because
// declared inputs cannot be resolved from upstream outputs, the trigger or the initial state.
type UnresolvableInputError struct {
	// TaskID is the task (intent) whose claim was rejected.
	TaskID string
	// PhaseName is the phase.
	PhaseName string
	// UnresolvableRefs are the references that could not be resolved.
	UnresolvableRefs []string
}

func (e *UnresolvableInputError) Error() string {
	return fmt.Sprintf("UnresolvableInputError: claim of task %q (phase %q) rejected: input reference(s) %s could not be resolved",
		e.TaskID, e.PhaseName, quoteList(e.UnresolvableRefs))
}

// Is matches ErrIOContract.
func (e *UnresolvableInputError) Is(target error) bool { return target == ErrIOContract }

// Payload is the error as RFC-0024's event payload.
func (e *UnresolvableInputError) Payload() openintent.Object {
	return openintent.Object{"error": "UnresolvableInputError", "task_id": e.TaskID, "phase_name": e.PhaseName,
		"unresolvable_refs": toAny(e.UnresolvableRefs), "message": e.Error()}
}

// UpstreamIntentSuspendedError is RFC-0026's patch to RFC-0024: a claim is deferred because an
// upstream phase whose outputs the phase reads is suspended awaiting input. It is temporary:
// the claim may succeed once the upstream intent resumes.
type UpstreamIntentSuspendedError struct {
	// TaskID is the task (intent) whose claim was deferred.
	TaskID string
	// PhaseName is the phase.
	PhaseName string
	// UpstreamPhase is the suspended upstream phase.
	UpstreamPhase string
	// SuspendedIntentID is the upstream intent.
	SuspendedIntentID string
	// ExpectedResumeAt estimates when it resumes (RFC 3339), or is empty.
	ExpectedResumeAt string
}

func (e *UpstreamIntentSuspendedError) Error() string {
	s := fmt.Sprintf("UpstreamIntentSuspendedError: claim of task %q (phase %q) deferred: upstream intent %q (phase %q) is suspended_awaiting_input",
		e.TaskID, e.PhaseName, e.SuspendedIntentID, e.UpstreamPhase)
	if e.ExpectedResumeAt != "" {
		s += " (expected resume: " + e.ExpectedResumeAt + ")"
	}
	return s
}

// Is matches ErrIOContract.
func (e *UpstreamIntentSuspendedError) Is(target error) bool { return target == ErrIOContract }

// Payload is the error as an event payload.
func (e *UpstreamIntentSuspendedError) Payload() openintent.Object {
	p := openintent.Object{"error": "UpstreamIntentSuspendedError", "task_id": e.TaskID, "phase_name": e.PhaseName,
		"suspended_intent_id": e.SuspendedIntentID, "upstream_phase": e.UpstreamPhase, "message": e.Error()}
	if e.ExpectedResumeAt != "" {
		p["expected_resume_at"] = e.ExpectedResumeAt
	}
	return p
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
