package agent

import "errors"

// Causes of a handler's context ending (context.Cause), besides openintent.ErrLeaseLost.
var (
	// ErrDraining: the agent drained and its deadline passed before the handler finished.
	ErrDraining = errors.New("agent: draining")
	// ErrUnassigned: the agent was unassigned from the intent.
	ErrUnassigned = errors.New("agent: unassigned from the intent")
	// ErrIntentEnded: another agent completed or abandoned the intent.
	ErrIntentEnded = errors.New("agent: the intent was completed or abandoned by someone else")
)

// permanentError marks an error that must not be retried (Permanent, Work.Fail).
type permanentError struct {
	err      error
	recorded bool // Work.Fail recorded it already
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks a handler's error as one that retrying will not cure: the runtime records the
// failure and does not retry, whatever the intent's retry policy says.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent (or returned by Work.Fail).
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
