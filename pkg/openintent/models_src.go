//go:build ignore

// The SDK's names for the protocol's data types, which are generated from api/openapi.yaml into
// gen/models. internal/gensdktypes (make generate) copies these aliases into models.gen.go,
// adding to each doc comment the model's fields and their descriptions from the spec, so that
// `go doc` shows them here. Edit this file, not models.gen.go.

package openintent

import "github.com/openintent-go/openintent/gen/models"

// From access.go.

type (
	// ACL is an intent's access control list ([RFC-0011]).
	//
	// [RFC-0011]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0011-access-control.md
	ACL = models.ACL
	// ACLSet is the body of SetACL: the default policy and every entry.
	ACLSet = models.ACLSet
	// ACLEntry grants a permission on an intent to a principal.
	ACLEntry = models.ACLEntry
	// ACLEntryCreate is a grant to add.
	ACLEntryCreate = models.ACLEntryCreate
	// AccessPolicy is what principals without an entry may do: open or closed.
	AccessPolicy = models.AccessPolicy
	// Permission is read, write or admin; each includes the ones before it.
	Permission = models.Permission
	// AccessRequest is a principal's request for access to an intent.
	AccessRequest = models.AccessRequest
	// AccessRequestCreate is the body of RequestAccess.
	AccessRequestCreate = models.AccessRequestCreate
	// AccessRequestDecision is the body of ApproveAccessRequest and DenyAccessRequest.
	AccessRequestDecision = models.AccessRequestDecision
)

// From agentrecords.go.

type (
	// AgentRecord is a registered agent ([RFC-0016]); its Status is derived from heartbeats.
	//
	// [RFC-0016]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0016-agent-lifecycle-health.md
	AgentRecord = models.AgentRecord
	// AgentRegistration is the body of RegisterAgent.
	AgentRegistration = models.AgentRegistration
	// AgentHeartbeatCreate is the body of AgentHeartbeat: the agent's load.
	AgentHeartbeatCreate = models.AgentHeartbeatCreate
	// AgentHeartbeat is the answer to a heartbeat.
	AgentHeartbeat = models.AgentHeartbeat
	// AgentStatus is an agent's lifecycle status.
	AgentStatus = models.AgentStatus
)

// From channels.go.

type (
	// Channel is a message channel between agents working on an intent ([RFC-0021]).
	//
	// [RFC-0021]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0021-agent-to-agent-messaging.md
	Channel = models.Channel
	// ChannelCreate is the body of CreateChannel; Name is required.
	ChannelCreate = models.ChannelCreate
	// ChannelUpdate is the body of UpdateChannel; empty fields are left unchanged.
	ChannelUpdate = models.ChannelUpdate
	// ChannelOptions are a channel's options: audit, ttl_seconds, max_messages.
	ChannelOptions = models.ChannelOptions
	// ChannelStatus is a channel's status: ChannelOpen or ChannelClosed.
	ChannelStatus = models.ChannelStatus
	// MemberPolicy says who takes part in a channel: MemberExplicit or MemberIntent.
	MemberPolicy = models.MemberPolicy
	// ChannelMessage is a message on a channel.
	ChannelMessage = models.ChannelMessage
	// ChannelMessageCreate is the body of SendMessage. Sender, when set, must be the client's
	// agent (the server's default).
	ChannelMessageCreate = models.ChannelMessageCreate
	// ChannelReply is the body of ReplyTo.
	ChannelReply = models.ChannelReplyCreate
	// MessageType is the kind of a channel message.
	MessageType = models.MessageType
	// MessageStatus is a channel message's status.
	MessageStatus = models.MessageStatus
)

// From coordinators.go.

type (
	// CoordinatorLease is an agent's lease on the coordinator role of an intent or portfolio
	// ([RFC-0013]). It turns `unresponsive` unless heartbeated (see KeepCoordinatorAlive).
	//
	// [RFC-0013]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0013-coordinator-governance.md
	CoordinatorLease = models.CoordinatorLease
	// CoordinatorLeaseCreate is the body of CreateCoordinatorLease.
	CoordinatorLeaseCreate = models.CoordinatorLeaseCreate
	// CoordinatorHeartbeat is the answer to a coordinator heartbeat.
	CoordinatorHeartbeat = models.CoordinatorHeartbeat
	// DecisionRecordCreate is the body of CreateDecisionRecord.
	DecisionRecordCreate = models.DecisionRecordCreate
)

// From federation.go.

type (
	// FederationManifest is a server's /.well-known/openintent-federation.json: its DID, URL,
	// public key, endpoints and peers.
	FederationManifest = models.FederationManifest
	// FederationStatus is whether federation is on, and its counters.
	FederationStatus = models.FederationStatus
	// FederatedAgent is an agent a server offers to its peers.
	FederatedAgent = models.FederatedAgent
	// FederationDispatchRequest is the body of FederationDispatch (the Python SDK's
	// federation_dispatch arguments).
	FederationDispatchRequest = models.FederationDispatch
	// FederationDispatchResult is what became of a dispatch: Status "accepted" (RemoteIntentID
	// is the peer's intent), "rejected" or "failed", with a Message.
	FederationDispatchResult = models.FederationDispatchResult
	// FederationEnvelope is an intent delegated by one server to another, signed by the sender.
	FederationEnvelope = models.FederationEnvelope
	// FederationReceiveResult is a server's answer to an envelope.
	FederationReceiveResult = models.FederationReceiveResult
	// FederationCallback is a peer's signed report on an intent dispatched to it.
	FederationCallback = models.FederationCallback
)

// From governance.go.

type (
	// ArbitrationRequest is a request for human arbitration on an intent.
	ArbitrationRequest = models.ArbitrationRequest
	// Decision is a recorded governance decision (the Python SDK's Decision).
	Decision = models.GovernanceDecision
	// DecisionRecord is an entry of an intent's decision log (GetDecisions).
	DecisionRecord = models.DecisionRecord
	// Escalation is an intent escalated for attention ([RFC-0013]).
	//
	// [RFC-0013]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0013-coordinator-governance.md
	Escalation = models.Escalation
	// EscalationCreate is the body of CreateEscalation.
	EscalationCreate = models.EscalationCreate
	// EscalationResolve is the body of ResolveEscalation.
	EscalationResolve = models.EscalationResolve
	// ListEscalationsParams filters ListEscalations by intent and status.
	ListEscalationsParams = models.ListEscalationsParams
	// ApprovalRequest asks for approval of an action on an intent, e.g. "complete".
	ApprovalRequest = models.ApprovalRequest
	// ApprovalRequestCreate is the body of CreateApprovalRequest.
	ApprovalRequestCreate = models.ApprovalRequestCreate
	// GovernancePolicy is an intent's governance policy ([RFC-0013]), enforced on writes.
	//
	// [RFC-0013]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0013-coordinator-governance.md
	GovernancePolicy = models.GovernancePolicy
	// GovernancePolicyDocument is an intent's policy as stored and with defaults applied.
	GovernancePolicyDocument = models.GovernancePolicyDocument
	// CompletionMode says how an intent may be completed.
	CompletionMode = models.CompletionMode
	// WriteScope says who may write an intent.
	WriteScope = models.WriteScope
)

// From identity.go.

type (
	// AgentIdentity is an agent's registered key: its public key (`ed25519:<base64url>`), the
	// key's did:key DID, when it was registered, when it expires and the keys it replaced
	// (most recent first).
	AgentIdentity = models.AgentIdentity
	// IdentityChallenge is what BeginIdentityRegistration returns: 32 random bytes to sign
	// before ChallengeExpiresAt.
	IdentityChallenge = models.IdentityChallenge
	// IdentityRegistration is the body of BeginIdentityRegistration.
	IdentityRegistration = models.IdentityRegistration
	// IdentityVerification is the server's verdict on a signature (VerifySignature).
	IdentityVerification = models.SignatureVerificationResult
	// EventProof is the signature an event carries (IntentEvent.Proof).
	EventProof = models.EventProof
	// DIDDocument is a DID document, such as the server's (GetServerDIDDocument).
	DIDDocument = models.DidDocument
)

// EventCreate is the body of an event as LogEvent sends it, and what SignEvent signs.
type EventCreate = models.EventCreate

// From intentdata.go.

type (
	// Attachment is a file attached to an intent ([RFC-0005]).
	//
	// [RFC-0005]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0005-attachments.md
	Attachment = models.Attachment
	// AttachmentCreate is the body of CreateAttachment.
	AttachmentCreate = models.AttachmentCreate
	// Cost is a cost recorded against an intent ([RFC-0009]).
	//
	// [RFC-0009]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0009-cost-tracking.md
	Cost = models.Cost
	// CostCreate is the body of RecordCost.
	CostCreate = models.CostCreate
	// CostSummary totals costs overall, per agent and per type.
	CostSummary = models.CostSummary
	// RetryPolicy is an intent's retry policy ([RFC-0010]).
	//
	// [RFC-0010]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0010-retry-policies.md
	RetryPolicy = models.RetryPolicy
	// RetryPolicySet is the body of SetRetryPolicy.
	RetryPolicySet = models.RetryPolicySet
	// Failure is a failed attempt recorded on an intent ([RFC-0010]).
	//
	// [RFC-0010]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0010-retry-policies.md
	Failure = models.Failure
	// FailureCreate is the body of RecordFailure.
	FailureCreate = models.FailureCreate
)

// From llm.go.

type (
	// LLMRequestPayload is the payload of llm_request_* events.
	LLMRequestPayload = models.LLMRequestPayload
	// ToolCallPayload is the payload of tool_call_* events.
	ToolCallPayload = models.ToolCallPayload
)

// From llmstreams.go.

type (
	// StreamStatePayload is the payload of stream_started, stream_completed and
	// stream_cancelled events.
	StreamStatePayload = models.StreamStatePayload
	// StreamChunkPayload is the payload of stream_chunk events.
	StreamChunkPayload = models.StreamChunkPayload
)

// From memory.go.

type (
	// MemoryEntry is a value an agent remembers under a namespace and key ([RFC-0015]).
	//
	// [RFC-0015]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0015-agent-memory-persistent-state.md
	MemoryEntry = models.MemoryEntry
	// MemoryEntryCreate is the body of CreateMemory.
	MemoryEntryCreate = models.MemoryEntryCreate
	// MemoryEntryUpdate is the body of UpdateMemory; nil fields are left unchanged.
	MemoryEntryUpdate = models.MemoryEntryUpdate
	// MemoryType is `working`, `episodic` or `semantic`.
	MemoryType = models.MemoryType
)

// From portfolios.go.

type (
	// Portfolio groups intents for coordination ([RFC-0004]); GetPortfolio fills its Intents and
	// AggregateStatus.
	//
	// [RFC-0004]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0004-governance-arbitration.md
	Portfolio = models.Portfolio
	// PortfolioCreate is the body of CreatePortfolio.
	PortfolioCreate = models.PortfolioCreate
	// PortfolioUpdate is the body of UpdatePortfolio; empty fields are left unchanged.
	PortfolioUpdate = models.PortfolioUpdate
	// PortfolioStatus is a portfolio's status.
	PortfolioStatus = models.PortfolioStatus
	// PortfolioMembership is an intent's membership of a portfolio.
	PortfolioMembership = models.PortfolioMembership
	// MembershipRole is an intent's role in a portfolio.
	MembershipRole = models.MembershipRole
	// PortfolioCostSummary is every cost of a portfolio's intents with totals.
	PortfolioCostSummary = models.PortfolioCostSummary
)

// From subscriptions.go.

type (
	// Subscription delivers an intent's, a portfolio's or an agent's events to a webhook
	// ([RFC-0006]).
	//
	// [RFC-0006]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0006-subscriptions.md
	Subscription = models.Subscription
	// SubscriptionCreate is the body of Subscribe.
	SubscriptionCreate = models.SubscriptionCreate
)

// ToolInvokeResult is the outcome of InvokeTool.
type ToolInvokeResult = models.ToolInvokeResult

// From suspension.go.

type (
	// SuspensionCreate is the body of Suspend: the question, the kind of answer expected, the
	// choices, the timeout and what happens when nobody answers.
	SuspensionCreate = models.SuspensionCreate
	// SuspensionChoice is one option offered to the human.
	SuspensionChoice = models.SuspensionChoice
	// SuspensionRecord is an intent's suspension as kept in its state under `_suspension`
	// (SuspensionOf reads it).
	SuspensionRecord = models.SuspensionRecord
	// SuspensionAnswer is the body of RespondToSuspension.
	SuspensionAnswer = models.SuspensionResponse
	// SuspensionResolution is the server's record of an answer.
	SuspensionResolution = models.SuspensionResolution
	// SuspensionResponseType is the kind of answer a suspension expects.
	SuspensionResponseType = models.SuspensionResponseType
	// FallbackPolicy is what happens when a suspension times out.
	FallbackPolicy = models.FallbackPolicy
	// HumanRetryPolicy re-notifies and escalates while nobody answers ([RFC-0026]).
	//
	// [RFC-0026]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0026-suspension-container-interaction.md
	HumanRetryPolicy = models.HumanRetryPolicy
	// EscalationStep is a step of a HumanRetryPolicy's escalation ladder.
	EscalationStep = models.EscalationStep
	// EngagementSignals are what an agent weighs before asking a human.
	EngagementSignals = models.EngagementSignals
	// EngagementDecision is whether to ask a human (ShouldRequestInput).
	EngagementDecision = models.EngagementDecision
	// EngagementMode is an EngagementDecision's mode.
	EngagementMode = models.EngagementDecisionMode
)

// From tasks.go.

type (
	// Task is a unit of work of an intent ([RFC-0012]).
	//
	// [RFC-0012]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0012-task-decomposition-planning.md
	Task = models.Task
	// TaskCreate is the body of CreateTask.
	TaskCreate = models.TaskCreate
	// TaskUpdate is the body of UpdateTask; Status is required.
	TaskUpdate = models.TaskUpdate
	// TaskStatus is a task's status; the server enforces its transitions (see the spec).
	TaskStatus = models.TaskStatus
	// Plan orders an intent's tasks ([RFC-0012]).
	//
	// [RFC-0012]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0012-task-decomposition-planning.md
	Plan = models.Plan
	// PlanCreate is the body of CreatePlan.
	PlanCreate = models.PlanCreate
	// PlanUpdate is the body of UpdatePlan; empty fields are left unchanged.
	PlanUpdate = models.PlanUpdate
	// PlanState is a plan's state.
	PlanState = models.PlanState
)

// From triggers.go.

type (
	// Trigger creates intents on a schedule or when events happen ([RFC-0017]).
	//
	// [RFC-0017]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0017-triggers-reactive-scheduling.md
	Trigger = models.Trigger
	// TriggerCreate is the body of CreateTrigger.
	TriggerCreate = models.TriggerCreate
	// TriggerUpdate is the body of UpdateTrigger; nil fields are left unchanged.
	TriggerUpdate = models.TriggerUpdate
	// TriggerFiring is the answer to FireTrigger.
	TriggerFiring = models.TriggerFiring
	// TriggerType is `schedule`, `event` or `webhook`.
	TriggerType = models.TriggerType
	// DeduplicationMode says what a firing does while the trigger's last intent is open.
	DeduplicationMode = models.DeduplicationMode
)

// From types.go.

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

// From vaults.go.

type (
	// Vault holds an owner's credentials ([RFC-0014]).
	//
	// [RFC-0014]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0014-credential-vaults-tool-scoping.md
	Vault = models.Vault
	// VaultCreate is the body of CreateVault.
	VaultCreate = models.VaultCreate
	// Credential is a credential's non-secret metadata; its secret is never returned.
	Credential = models.Credential
	// CredentialCreate is the body of CreateCredential: secret material goes in Secret
	// (write-only); the server also moves secret-looking keys out of Metadata.
	CredentialCreate = models.CredentialCreate
	// ToolGrant lets an agent use a credential's tools.
	ToolGrant = models.ToolGrant
	// ToolGrantCreate is the body of CreateToolGrant.
	ToolGrantCreate = models.ToolGrantCreate
	// GrantRevocation is the answer to RevokeGrant.
	GrantRevocation = models.GrantRevocation
	// ToolInvocation is a recorded use of a tool.
	ToolInvocation = models.ToolInvocation
	// ToolInvocationCreate is the body of RecordInvocation.
	ToolInvocationCreate = models.ToolInvocationCreate
)

// From verify.go.

type (
	// ChainVerification is the verdict on an intent's hash chain (VerifyEventChain, VerifyChain).
	ChainVerification = models.EventChainVerification
	// ChainBreak is one failure a chain verification found.
	ChainBreak = models.ChainBreak
	// ChainLink is an event's place in its intent's hash chain.
	ChainLink = models.ChainLink
	// LogCheckpoint is a Merkle root over a batch of events of a log.
	LogCheckpoint = models.LogCheckpoint
	// CheckpointScope is what a checkpoint covers: ScopeIntent or ScopeServer.
	CheckpointScope = models.CheckpointScope
	// CheckpointCreate is the body of CreateCheckpoint.
	CheckpointCreate = models.CheckpointCreate
	// ListCheckpointsParams filters ListCheckpoints (intent, scope; limit default 100, offset).
	ListCheckpointsParams = models.ListCheckpointsParams
	// TimestampAnchor records that a checkpoint's root was published to a timestamping service.
	TimestampAnchor = models.TimestampAnchor
	// AnchorCreate is the body of AnchorCheckpoint: the service and its receipt.
	AnchorCreate = models.CheckpointAnchorCreate
	// CheckpointAnchor is a checkpoint's anchor, as AnchorCheckpoint returns it.
	CheckpointAnchor = models.CheckpointAnchor
	// MerkleProof proves an event is a leaf of a checkpoint's tree.
	MerkleProof = models.MerkleProof
	// MerkleProofStep is one sibling hash of a MerkleProof.
	MerkleProofStep = models.MerkleProofStep
	// ConsistencyProof says whether a later checkpoint extends an earlier one, with its proofs.
	ConsistencyProof = models.ConsistencyProof
	// BoundaryEvent is the event where a later checkpoint meets the log after an earlier one.
	BoundaryEvent = models.BoundaryEvent
)

// Types the models above use in their fields.
type (
	// AccessRequestStatus is an access request's status (AccessRequest.Status).
	AccessRequestStatus = models.AccessRequestStatus
	// ApprovalStatus is an approval request's status; clients accept values they do not know.
	ApprovalStatus = models.ApprovalStatus
	// CoordinatorSuspensionPolicy is what a coordinator does when an intent it leads is suspended
	// ([RFC-0026]).
	//
	// [RFC-0026]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0026-suspension-container-interaction.md
	CoordinatorSuspensionPolicy = models.CoordinatorSuspensionPolicy
	// CostType is a kind of cost; clients accept values they do not know.
	CostType = models.CostType
	// EffectivePolicy is a governance policy with every default applied.
	EffectivePolicy = models.EffectivePolicy
	// EscalationPriority says how urgent an escalation is.
	EscalationPriority = models.EscalationPriority
	// EscalationStatus is an escalation's status.
	EscalationStatus = models.EscalationStatus
	// GraphEdgeType is the kind of a GraphEdge.
	GraphEdgeType = models.GraphEdgeType
	// HumanRetryPolicyStrategy is the cadence of a suspension's re-notifications (only fixed).
	HumanRetryPolicyStrategy = models.HumanRetryPolicyStrategy
	// RetryStrategy says how an intent's retries are spaced.
	RetryStrategy = models.RetryStrategy
	// SuspendedTask is a plan task blocked by its intent's suspension ([RFC-0026] rule 4).
	//
	// [RFC-0026]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0026-suspension-container-interaction.md
	SuspendedTask = models.SuspendedTask
	// SuspensionConfig holds a server's suspension defaults ([RFC-0026]).
	//
	// [RFC-0026]: https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/0026-suspension-container-interaction.md
	SuspensionConfig = models.SuspensionConfig
	// VerificationMethod is a key of a DIDDocument.
	VerificationMethod = models.VerificationMethod
)
