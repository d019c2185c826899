package workflow

import (
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// The model of a workflow file, as the Python SDK's workflow format (version "1.0") and
// RFC-0024 define it. Every value keeps the line it was written on, so that later checks
// (and the executor's errors) can point at the file.

// Version is the workflow format version this package reads (the `openintent:` field).
const Version = "1.0"

// Workflow is a parsed and validated workflow file.
type Workflow struct {
	// OpenIntent is the format version (`openintent: "1.0"`).
	OpenIntent string
	// Info is the workflow's name, version and description.
	Info Info
	// Governance holds the workflow-wide approval gates, budget and timeout, or nil.
	Governance *Governance
	// Agents are the declared agents, in file order.
	Agents []*Agent
	// LLM is the provider configuration for LLM-powered agents, or nil.
	LLM *LLM
	// Identity configures cryptographic agent identity (RFC-0018), or nil.
	Identity *Identity
	// Verification configures verifiable event logs (RFC-0019), or nil.
	Verification *Verification
	// MCP declares MCP tool servers agents may use, or nil.
	MCP *MCP
	// Channels are agent-to-agent messaging channels (RFC-0021), in file order.
	Channels []*Channel
	// Types are named types for outputs (RFC-0024), in file order.
	Types []*TypeDef
	// Phases are the workflow's phases, in file order.
	Phases []*Phase
	// Source is the file the workflow was read from (or the name given to Parse).
	Source string
	// Warnings are problems that do not make the workflow invalid (an undeclared agent, a field
	// this package does not know, a phase without description, ...).
	Warnings []*Warning
}

// Info is the `info` section.
type Info struct {
	// Name is the workflow's name (required).
	Name string
	// Version is the workflow's own version ("1.0.0" when absent).
	Version string
	// Description says what the workflow does.
	Description string
}

// Governance is the `governance` section.
type Governance struct {
	// RequireApproval is the approval gate, or nil.
	RequireApproval *ApprovalGate
	// MaxCostUSD is the workflow's budget in US dollars (0: none).
	MaxCostUSD float64
	// Timeout is the longest the workflow may run (timeout_hours; 0: no limit); `openintent
	// run` stops following it then and fails.
	Timeout time.Duration
	// Escalation says whom to escalate to, or nil.
	Escalation *Escalation
	// AccessReview says how access requests are handled (RFC-0011), or nil.
	AccessReview *AccessReview
	// AuditAccessEvents records access decisions as events (default true).
	AuditAccessEvents bool
	// Line is where the section starts.
	Line int
}

// ApprovalGate is `governance.require_approval`.
type ApprovalGate struct {
	// When is the condition under which approval is required (empty: always).
	When string
	// Approvers are the ids of who may approve.
	Approvers []string
	// Timeout is how long to wait for a decision (timeout_hours).
	Timeout time.Duration
	// OnTimeout is what happens then: escalate, abort or proceed.
	OnTimeout string
	// Line is where the gate is declared.
	Line int
}

// Escalation is `governance.escalation`.
type Escalation struct {
	// Contact is whom to escalate to.
	Contact string
	// After is when to escalate (after_hours).
	After time.Duration
}

// AccessReview is `governance.access_review`.
type AccessReview struct {
	// OnRequest is approve, deny or defer.
	OnRequest string
	// Approvers may decide deferred requests.
	Approvers []string
	// Timeout is how long a request may wait (timeout_hours).
	Timeout time.Duration
}

// Agent is one entry of the `agents` section.
type Agent struct {
	// ID is the agent's id (the key).
	ID string
	// Description says what the agent does.
	Description string
	// Capabilities are the agent's declared capabilities.
	Capabilities []string
	// DefaultPermission is read, write or admin (empty: unset).
	DefaultPermission string
	// ApprovalRequired says the agent must request access approval.
	ApprovalRequired bool
	// Tools are the tools the agent may use: MCP tool references (`mcp:server/tool`), MCP
	// server URIs (`mcp://...`) or names of tools granted through the protocol (RFC-0014).
	Tools []ToolRef
	// OnMessage maps channels to message handlers.
	OnMessage []MessageHandler
	// Line is where the agent is declared.
	Line int
}

// ToolRef is a tool an agent may use.
type ToolRef struct {
	// Ref is the reference as written.
	Ref string
	// Server is the MCP server's name for `mcp:server/tool` references (empty otherwise).
	Server string
	// Tool is the tool's name (for `mcp:server/tool` and plain names).
	Tool string
	// Line is where the reference is written.
	Line int
}

// IsMCP reports whether the reference names a tool of an MCP server (`mcp:` or `mcp://`).
func (t ToolRef) IsMCP() bool { return t.Server != "" || len(t.Ref) > 6 && t.Ref[:6] == "mcp://" }

// MessageHandler is one entry of an agent's `on_message`.
type MessageHandler struct {
	// Channel is the channel's name.
	Channel string
	// Handler is the handler's name.
	Handler string
}

// LLM is the `llm` section.
type LLM struct {
	// Provider is openai, anthropic or env ("openai" when absent).
	Provider string
	// Model is the model name (empty: the provider's default).
	Model string
	// Temperature is the sampling temperature (0.7 when absent).
	Temperature float64
	// MaxTokens limits a response (4096 when absent).
	MaxTokens int
	// SystemPrompt is the global system prompt.
	SystemPrompt string
}

// Identity is the `identity` section (RFC-0018).
type Identity struct {
	// Enabled turns signing on.
	Enabled bool
	// KeyPath is where the agents' keys are kept.
	KeyPath string
	// AutoRegister registers keys with the server.
	AutoRegister bool
	// AutoSign signs every event.
	AutoSign bool
	// KeyAlgorithm is the key algorithm ("Ed25519").
	KeyAlgorithm string
	// KeyExpires is when keys expire.
	KeyExpires string
}

// Verification is the `verification` section (RFC-0019).
type Verification struct {
	// Enabled turns verification on.
	Enabled bool
	// RequireSignedEvents refuses unsigned events.
	RequireSignedEvents bool
	// VerifyChain checks the hash chain.
	VerifyChain bool
	// CheckpointInterval is the number of events between checkpoints.
	CheckpointInterval int
	// CheckpointTime is the time between checkpoints (checkpoint_time_minutes).
	CheckpointTime time.Duration
	// AnchorProvider is where checkpoints are anchored.
	AnchorProvider string
}

// MCP is the `mcp` section: MCP tool servers agents may use.
type MCP struct {
	// Servers are the declared servers, in file order.
	Servers []*MCPServer
}

// MCPServer is one entry of `mcp.servers`.
type MCPServer struct {
	// Name is the server's name (the key), used in `mcp:NAME/tool` references.
	Name string
	// Command starts a stdio server.
	Command string
	// Args are the command's arguments.
	Args []string
	// URL is the address of a server reached over HTTP.
	URL string
	// Env is the environment given to the command.
	Env map[string]string
	// Timeout is the connection timeout (timeout, in seconds).
	Timeout time.Duration
	// AllowedTools limits which of the server's tools agents may use (empty: all).
	AllowedTools []string
	// Security holds the connection's security settings.
	Security map[string]any
	// Line is where the server is declared.
	Line int
}

// Channel is one entry of the `channels` section (RFC-0021).
type Channel struct {
	// Name is the channel's name.
	Name string
	// Members are the agents permitted on the channel.
	Members []string
	// MemberPolicy is explicit or intent ("intent" when absent).
	MemberPolicy openintent.MemberPolicy
	// Audit copies messages to the event log.
	Audit bool
	// TTL closes the channel after that much inactivity (ttl_seconds; 0: never).
	TTL time.Duration
	// MaxMessages is how many messages are kept (0: the default).
	MaxMessages int
	// Line is where the channel is declared.
	Line int
}

// Create is the body that creates the channel (CreateChannel) on the workflow's first intent.
func (ch *Channel) Create() openintent.ChannelCreate {
	cc := openintent.ChannelCreate{Name: ch.Name, Members: ch.Members, MemberPolicy: ch.MemberPolicy,
		Options: &openintent.ChannelOptions{Audit: ch.Audit, MaxMessages: int64(ch.MaxMessages)}}
	if ch.TTL > 0 {
		ttl := int64(ch.TTL / time.Second)
		cc.Options.TTLSeconds = &ttl
	}
	return cc
}

// TypeDef is one entry of the `types` section: a record type (field name to type) or an enum.
type TypeDef struct {
	// Name is the type's name.
	Name string
	// Fields are the record's fields, in file order (nil for an enum).
	Fields []TypeField
	// Enum is the enum's values (nil for a record).
	Enum []any
	// Line is where the type is declared.
	Line int
}

// TypeField is a field of a record type.
type TypeField struct {
	// Name is the field's name.
	Name string
	// Type is the field's type name; empty when Enum is set.
	Type string
	// Enum holds the values of an inline enum (`severity: {enum: [...]}`).
	Enum []any
}

// Phase is one entry of the `workflow` section: a unit of work assigned to an agent, which
// becomes an intent of the workflow's portfolio.
type Phase struct {
	// Name is the phase's name (its key), used by depends_on and input references.
	Name string
	// Title is the intent's title (the name, title-cased, when absent).
	Title string
	// Description says what the phase should accomplish.
	Description string
	// Assign is the agent the phase is assigned to (required).
	Assign string
	// DependsOn are the names of the phases that must complete first (titles are accepted in
	// the file, as the Python SDK accepts them, and resolved to names).
	DependsOn []string
	// Constraints are rules for the agent.
	Constraints []string
	// InitialState is the intent's initial state.
	InitialState map[string]any
	// Inputs wire values into the agent's input (RFC-0024), in file order.
	Inputs []Input
	// Outputs declare what the agent must return (RFC-0024), in file order.
	Outputs []Output
	// SkipWhen is a condition under which the phase is skipped (recorded, not evaluated).
	SkipWhen string
	// Retry is the retry policy (RFC-0010), or nil.
	Retry *Retry
	// Leasing is the scope leasing configuration (RFC-0003), or nil.
	Leasing *Leasing
	// CostTracking is the phase's budget (RFC-0009), or nil.
	CostTracking *CostTracking
	// Attachments are the attachments the phase is expected to produce (RFC-0005).
	Attachments []Attachment
	// Permissions is the phase's access control (RFC-0011), or nil for the default (open).
	Permissions *Permissions
	// Line is where the phase is declared.
	Line int

	lines map[string]int // field -> line
}

// FieldLine returns the line a field of the phase is written on (the phase's line when the
// field is absent).
func (p *Phase) FieldLine(field string) int {
	if l, ok := p.lines[field]; ok {
		return l
	}
	return p.Line
}

// Input is one entry of a phase's `inputs`: the local key the agent reads and where its value
// comes from.
type Input struct {
	// Key is the name the agent reads the value under.
	Key string
	// Ref is the reference: `phase.key`, `$trigger.key` or `$initial_state.key`.
	Ref string
	// Line is where the input is written.
	Line int
}

// RefKind is the kind of an input reference.
type RefKind int

// Kinds of input references.
const (
	// RefInvalid is a malformed reference.
	RefInvalid RefKind = iota
	// RefPhase is `phase.key`: an output of an upstream phase.
	RefPhase
	// RefTrigger is `$trigger.key`: a value of the run's trigger payload.
	RefTrigger
	// RefInitialState is `$initial_state.key`: a value of the phase's initial state.
	RefInitialState
)

// ParseRef splits an input reference into its kind, the phase it names (for RefPhase) and the
// key.
func ParseRef(ref string) (kind RefKind, phase, key string) {
	switch {
	case len(ref) > len("$trigger.") && ref[:len("$trigger.")] == "$trigger.":
		return RefTrigger, "", ref[len("$trigger."):]
	case len(ref) > len("$initial_state.") && ref[:len("$initial_state.")] == "$initial_state.":
		return RefInitialState, "", ref[len("$initial_state."):]
	case ref == "" || ref[0] == '$':
		return RefInvalid, "", ""
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] == '.' {
			if i == 0 || i == len(ref)-1 {
				return RefInvalid, "", ""
			}
			return RefPhase, ref[:i], ref[i+1:]
		}
	}
	return RefInvalid, "", ""
}

// Output is one entry of a phase's `outputs`.
type Output struct {
	// Key is the output's key in the agent's result.
	Key string
	// Type is a primitive type (string, number, integer, boolean, object, array, any) or the
	// name of a type of the `types` section.
	Type string
	// Required says the key must be present (the default).
	Required bool
	// Line is where the output is declared.
	Line int
}

// Retry is a phase's `retry` policy (RFC-0010).
type Retry struct {
	// MaxAttempts is how many times the phase may be attempted in all (at least 1).
	MaxAttempts int
	// Backoff is constant, linear or exponential.
	Backoff string
	// InitialDelay is the first delay between attempts (initial_delay_ms).
	InitialDelay time.Duration
	// MaxDelay caps the delay (max_delay_ms; 0: no cap).
	MaxDelay time.Duration
	// RetryableErrors are the error types worth retrying (empty: every error).
	RetryableErrors []string
	// FallbackAgent takes over when the attempts are used up.
	FallbackAgent string
	// Line is where the policy is declared.
	Line int
}

// Leasing is a phase's `leasing` configuration (RFC-0003).
type Leasing struct {
	// Strategy is global, per_section or custom.
	Strategy string
	// Scope is the scope pattern.
	Scope string
	// TTL is the lease's time to live (ttl_seconds).
	TTL time.Duration
	// WaitForLock waits for a held lease instead of failing.
	WaitForLock bool
}

// CostTracking is a phase's `cost_tracking` (RFC-0009).
type CostTracking struct {
	// Enabled turns tracking on (true when the section is present without it).
	Enabled bool
	// BudgetUSD is the phase's budget in US dollars (0: none).
	BudgetUSD float64
	// AlertAtPercent is the share of the budget at which to alert.
	AlertAtPercent int
}

// Attachment is an attachment a phase is expected to produce (RFC-0005).
type Attachment struct {
	// Filename is the file's name.
	Filename string
	// ContentType is its MIME type.
	ContentType string
}

// Permissions is a phase's `permissions` (RFC-0011), in its full form; the shorthand forms
// (`open`, `private`, a list of agents) are expanded when parsed.
type Permissions struct {
	// Policy is open, restricted or private.
	Policy string
	// Default is the permission of agents not listed: read, write or admin.
	Default string
	// Allow are explicit grants.
	Allow []AllowEntry
	// Delegate configures delegation, or nil.
	Delegate *Delegate
	// Context lists the context fields to inject ("auto" and "none" are single entries).
	Context []string
	// Line is where the permissions are declared.
	Line int
}

// AllowEntry is an explicit grant of `permissions.allow`.
type AllowEntry struct {
	// Agent is the agent (or role) granted access.
	Agent string
	// Level is read, write or admin.
	Level string
	// Expires is when the grant ends (RFC 3339), or empty.
	Expires string
}

// Delegate is `permissions.delegate`.
type Delegate struct {
	// To are the agents work may be delegated to.
	To []string
	// Level is the permission delegates get.
	Level string
}

// Warning is a problem that does not make a workflow invalid.
type Warning struct {
	// File is the workflow file.
	File string
	// Line is where the problem is (0: unknown).
	Line int
	// Path is the field's path, e.g. `workflow.research.assign`.
	Path string
	// Message says what is wrong.
	Message string
}

// String formats the warning as `file:line: path: message`.
func (w *Warning) String() string {
	return location(w.File, w.Line, 0) + prefixPath(w.Path) + w.Message
}

// Phase returns the phase named name, or nil.
func (w *Workflow) Phase(name string) *Phase {
	for _, p := range w.Phases {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Agent returns the declared agent with the id, or nil.
func (w *Workflow) Agent(id string) *Agent {
	for _, a := range w.Agents {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// Type returns the declared type named name, or nil.
func (w *Workflow) Type(name string) *TypeDef {
	for _, t := range w.Types {
		if t.Name == name {
			return t
		}
	}
	return nil
}
