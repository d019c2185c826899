package openintent

import "errors"

// WithStreamOpened calls fn each time an event stream (StreamIntentEvents, StreamAgentEvents,
// StreamPortfolioEvents, CreateEventQueue) is accepted by the server, before its first event:
// from then on every event appended that the stream carries is delivered, even one appended
// before the consumer reads. A stream without WithLastEventID starts with the events appended
// after it opened, so a program that must not miss an event it causes itself (an agent runtime
// being assigned work, a test) waits for this call first. fn runs on the stream's goroutine and
// must not block; it is called again after each reconnection.
func WithStreamOpened(fn func()) Option {
	return func(s *settings) error {
		if fn == nil {
			return errors.New("openintent: WithStreamOpened: fn is nil")
		}
		s.streamOpened = fn
		return nil
	}
}
