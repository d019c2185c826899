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
// aliased here.
package openintent
