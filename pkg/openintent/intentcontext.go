package openintent

import "context"

type intentKey struct{}

// ContextWithIntent returns ctx naming the intent work done with it belongs to. Code that
// records on an intent without being told which, such as the LLM adapters (the modules under
// adapters/, which log every request of an LLM client as [RFC-0008] events), reads it with
// IntentFromContext.
//
// [RFC-0008]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0008-llm-integration.md
func ContextWithIntent(ctx context.Context, intentID string) context.Context {
	return context.WithValue(ctx, intentKey{}, intentID)
}

// IntentFromContext returns the intent ctx names (ContextWithIntent), or "".
func IntentFromContext(ctx context.Context) string {
	id, _ := ctx.Value(intentKey{}).(string)
	return id
}
