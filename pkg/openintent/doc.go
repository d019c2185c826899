// Package openintent is the Go SDK of the OpenIntent Coordination Protocol: humans and AI agents
// coordinating through shared intents with versioned state, append-only event logs, scoped
// leases and intent graphs.
//
// One Client covers the protocol; every method takes a context.Context first and accepts
// per-call Options after its parameters (the same Option type NewClient takes):
//
//	client, err := openintent.NewClient("http://localhost:8000",
//		openintent.WithAPIKey(os.Getenv("OPENINTENT_API_KEY")),
//		openintent.WithAgentID("research-agent"))
//	intent, err := client.CreateIntent(ctx, openintent.IntentCreate{Title: "Research market trends"})
//	intent, err = client.UpdateState(ctx, intent.ID, intent.Version, openintent.Object{"progress": 0.5})
//
// Errors the server answers are typed: *NotFoundError, *VersionConflictError,
// *LeaseConflictError, *ValidationError, *AuthenticationError, *PermissionError,
// *RateLimitError, *ServerError and *ConflictError, all wrapping *APIError for errors.As, and
// matching the sentinels ErrNotFound, ErrVersionConflict, ... for errors.Is.
//
// Method names follow the Python SDK's (create_intent is CreateIntent, lease is WithLease).
// The data types are generated from the protocol's OpenAPI spec (package gen/models) and
// aliased here. They speak one vocabulary:
//   - a concept with a set of values has its enum type everywhere it appears (EventType,
//     IntentStatus, TriggerType, ...), in requests, responses and parameters alike; a Go string
//     type holds any string, so values a newer server sends still decode;
//   - every resource's own id is its ID field (the wire key may be trigger_id, checkpoint_id, ...);
//   - one field per concept: an intent's parent is ParentIntentID (ParentID, the wire alias
//     parent_id, holds the same value and is deprecated);
//   - every free-form JSON object is an Object (a nil Object encodes as null), and any JSON value
//     is an interface{};
//   - times are Timestamp (a time.Time that encodes its zero value as null), and the hand-written
//     methods take time.Time and time.Duration;
//   - an optional field is a value, omitted when it is the zero value. A field is a pointer only
//     where the protocol tells null or absent apart from the zero value: a nullable string,
//     number or boolean the server always sends (nil is null: Task.AssignedAgent, Intent.ParentIntentID),
//     a nullable or optional nested object with fixed fields (Channel.Options), and the request
//     fields whose zero value means something of its own (TriggerUpdate.Enabled false,
//     ChannelUpdate.Members empty, LLMRequestPayload.Temperature 0). Objects, arrays and times
//     need no pointer: their zero value is null or omitted already.
package openintent
