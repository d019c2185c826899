package openintent

// WithStreamOpened calls fn each time an event stream (StreamIntentEvents, StreamAgentEvents,
// StreamPortfolioEvents, StreamChannelMessages, CreateEventQueue) is accepted by the server,
// before its first event: from then on every event appended that the stream carries is
// delivered, even one appended before the consumer reads. A stream without WithLastEventID
// starts with the events appended after it opened, so a program that must not miss an event it
// causes itself (an agent runtime being assigned work, a test) waits for this call first. fn
// runs on the stream's goroutine and must not block; it is called again after each
// reconnection (WithStreamReady is called only the first time).
func WithStreamOpened(fn func()) Option {
	return func(s *settings) error {
		if fn == nil {
			return invalidArg("WithStreamOpened", "fn", "fn is nil")
		}
		s.streamOpened = fn
		return nil
	}
}

// WithStreamReady calls fn once, when a stream (StreamIntentEvents, StreamAgentEvents,
// StreamPortfolioEvents, StreamChannelMessages, CreateEventQueue) is live: the server answered
// 200 and delivers, from then on, every event or message appended that the stream carries. A
// program that produces the events it then reads starts producing after this call rather than
// after a sleep:
//
//	ready := make(chan struct{})
//	go func() {
//		for ev, err := range client.StreamIntentEvents(ctx, id, openintent.WithStreamReady(func() { close(ready) })) {
//			...
//		}
//	}()
//	<-ready
//	client.LogEvent(ctx, id, openintent.EventComment, nil) // the stream delivers it
//
// fn is not called when the server refuses the stream, nor again after a reconnection (the
// stream resumes where it was, so nothing is lost: see WithStreamOpened to hear of every
// connection). It runs on the stream's goroutine and must not block.
func WithStreamReady(fn func()) Option {
	return func(s *settings) error {
		if fn == nil {
			return invalidArg("WithStreamReady", "fn", "fn is nil")
		}
		s.streamReady = fn
		return nil
	}
}

// streamLive runs the hooks of a stream the server has just accepted. s is the stream's own copy
// of the settings, so WithStreamReady's fn runs once per stream.
func (s *settings) streamLive() {
	if s.streamOpened != nil {
		s.streamOpened()
	}
	if fn := s.streamReady; fn != nil {
		s.streamReady = nil
		fn()
	}
}
