package openintent

import "github.com/openintent-go/openintent/gen/models"

// The protocol's data types are the ones generated from api/openapi.yaml (package gen/models);
// these aliases give them their SDK names so callers need a single import.

type (
	// Intent is a shared goal with versioned state ([RFC-0001]).
	//
	// [RFC-0001]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0001-intent-objects.md
	Intent = models.Intent
	// IntentStatus is an intent's lifecycle status.
	IntentStatus = models.IntentStatus
	// IntentCreate is the body of CreateIntent. State is the Python SDK's initial_state.
	IntentCreate = models.IntentCreate
	// ChildIntentCreate is the body of CreateChildIntent.
	ChildIntentCreate = models.ChildIntentCreate
	// ListIntentsParams filters ListIntents (status, limit default 50, offset).
	ListIntentsParams = models.ListIntentsParams
	// IntentEvent is an entry of an intent's append-only event log.
	IntentEvent = models.IntentEvent
	// EventType is an event's type; the log accepts types beyond the known constants.
	EventType = models.EventType
	// GetEventsParams filters GetEvents (event_type, since, limit default 100, offset).
	GetEventsParams = models.ListIntentEventsParams
	// StatePatch is one operation of PatchState.
	StatePatch = models.StatePatch
	// PatchOp is a state patch operation: set, append or remove.
	PatchOp = models.PatchOp
	// Lease is an exclusive, expiring claim on a scope of an intent ([RFC-0003]).
	//
	// [RFC-0003]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0003-agent-leasing.md
	Lease = models.Lease
	// LeaseStatus is a lease's status.
	LeaseStatus = models.LeaseStatus
	// AgentAssignment is an agent assigned to an intent.
	AgentAssignment = models.AgentAssignment
	// IntentGraph is an intent's hierarchy and dependency graph ([RFC-0002]).
	//
	// [RFC-0002]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0002-intent-graphs.md
	IntentGraph = models.IntentGraph
	// GraphNode is a node of an IntentGraph.
	GraphNode = models.GraphNode
	// GraphEdge is an edge of an IntentGraph.
	GraphEdge = models.GraphEdge
	// AggregateStatus summarises the statuses of a set of intents.
	AggregateStatus = models.AggregateStatus
	// DiscoveryDocument is the server's /.well-known/openintent.json.
	DiscoveryDocument = models.DiscoveryDocument
	// CompatibilityDocument is the server's /.well-known/openintent-compat.json.
	CompatibilityDocument = models.CompatibilityDocument
	// ServerConfig is the server's public configuration.
	ServerConfig = models.ServerConfig
	// FieldError names an invalid field of a request.
	FieldError = models.FieldError
	// Object is free-form JSON.
	Object = models.Object
	// Timestamp is an instant on the wire (RFC 3339 in UTC); the zero Timestamp is null.
	Timestamp = models.Timestamp
)

// Intent statuses ([RFC-0001] lifecycle).
//
// [RFC-0001]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0001-intent-objects.md
const (
	StatusDraft                  = models.IntentStatusDraft
	StatusActive                 = models.IntentStatusActive
	StatusBlocked                = models.IntentStatusBlocked
	StatusCompleted              = models.IntentStatusCompleted
	StatusAbandoned              = models.IntentStatusAbandoned
	StatusSuspendedAwaitingInput = models.IntentStatusSuspendedAwaitingInput
)

// Lease statuses.
const (
	LeaseActive   = models.LeaseStatusActive
	LeaseExpired  = models.LeaseStatusExpired
	LeaseReleased = models.LeaseStatusReleased
	LeaseRevoked  = models.LeaseStatusRevoked
)

// State patch operations.
const (
	PatchSet    = models.PatchOpSet
	PatchAppend = models.PatchOpAppend
	PatchRemove = models.PatchOpRemove
)

// Known event types.
const (
	EventAddedToPortfolio     = models.EventTypeAddedToPortfolio
	EventAgentAssigned        = models.EventTypeAgentAssigned
	EventAgentUnassigned      = models.EventTypeAgentUnassigned
	EventArbitrationRequested = models.EventTypeArbitrationRequested
	EventAttachmentAdded      = models.EventTypeAttachmentAdded
	EventComment              = models.EventTypeComment
	EventConstraintAdded      = models.EventTypeConstraintAdded
	EventConstraintRemoved    = models.EventTypeConstraintRemoved
	EventDecisionRecorded     = models.EventTypeDecisionRecorded
	EventDependencyAdded      = models.EventTypeDependencyAdded
	EventDependencyRemoved    = models.EventTypeDependencyRemoved
	EventFailureRecorded      = models.EventTypeFailureRecorded
	EventIntentCreated        = models.EventTypeIntentCreated
	EventLeaseAcquired        = models.EventTypeLeaseAcquired
	EventLeaseReleased        = models.EventTypeLeaseReleased
	EventLeaseRenewed         = models.EventTypeLeaseRenewed
	EventLLMRequestCompleted  = models.EventTypeLlmRequestCompleted
	EventLLMRequestFailed     = models.EventTypeLlmRequestFailed
	EventLLMRequestStarted    = models.EventTypeLlmRequestStarted
	EventPortfolioCreated     = models.EventTypePortfolioCreated
	EventRemovedFromPortfolio = models.EventTypeRemovedFromPortfolio
	EventStatePatched         = models.EventTypeStatePatched
	EventStatusChanged        = models.EventTypeStatusChanged
	EventStreamCancelled      = models.EventTypeStreamCancelled
	EventStreamChunk          = models.EventTypeStreamChunk
	EventStreamCompleted      = models.EventTypeStreamCompleted
	EventStreamStarted        = models.EventTypeStreamStarted
	EventToolCallCompleted    = models.EventTypeToolCallCompleted
	EventToolCallFailed       = models.EventTypeToolCallFailed
	EventToolCallStarted      = models.EventTypeToolCallStarted
)
