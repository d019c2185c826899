package openintent

import "github.com/openintent-go/openintent/gen/models"

// The protocol's data types are the ones generated from api/openapi.yaml (package gen/models);
// these aliases give them their SDK names so callers need a single import.

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
