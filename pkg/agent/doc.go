// Package agent is a runtime that turns plain Go functions into a working OpenIntent agent: the
// loop every agent otherwise writes by hand around an *openintent.Client.
//
// An agent is built from a client and an id, with its handlers given as options, and run until
// its context ends:
//
//	a := agent.New(client, "summariser",
//		agent.Capabilities("summarise"),
//		agent.AutoComplete(),
//		agent.OnAssignment(func(ctx context.Context, w *agent.Work) (openintent.Object, error) {
//			return openintent.Object{"summary": summarise(w.Intent.Description)}, nil
//		}),
//	)
//	err := a.Run(ctx) // until ctx ends; then it drains
//
// Run registers the agent record with its capabilities (RFC-0016), heartbeats it with its load,
// follows the agent's event stream (resuming with Last-Event-ID after a dropped connection, so
// that no event is lost or handled twice) and dispatches handlers with bounded concurrency
// (MaxConcurrency). When the agent is assigned to an intent, the assignment handler runs while
// the runtime holds a lease on the intent (LeaseScope): renewed in the background, released when
// the handler returns, and cancelling the handler's context if it is lost. The object the handler
// returns is merged into the intent's state with optimistic concurrency (retried on a version
// conflict); an error is recorded as a failure and retried as the intent's retry policy says
// (RFC-0010), handing the intent to the policy's fallback agent when retries run out. Every call
// made through the handler's Work carries the trace of the event that caused it (RFC-0020). When
// Run's context ends the agent drains: it stops taking work, lets running handlers finish until
// DrainTimeout (then cancels them, releasing their leases), calls the OnDrain handlers, and marks
// itself deregistered.
//
// Handlers other than the assignment handler react to what happens on the intents the agent is
// assigned to (OnStateChange, OnComplete, OnEvent, OnInputRequested, ...): while it is assigned,
// the runtime follows each intent's event stream from the assignment on. Watch and WatchPortfolio
// follow other intents too.
//
// A Coordinator (NewCoordinator) runs a portfolio from a plan of intents with dependencies
// (PortfolioSpec, IntentSpec): it creates them, assigns each to its agent once its dependencies
// have completed, records its decisions (RFC-0013), applies quorum rules, and holds the
// portfolio's coordinator lease while it works. A Worker (NewWorker) claims the tasks (RFC-0012)
// of the intents it is assigned to that it is able to do, runs them and reports their output.
//
// Handlers are plain functions: no reflection, no names with meaning. They run on goroutines of
// the runtime, concurrently with each other, and must respect their context.
package agent
