package mcp

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/openintent-go/openintent/api"
)

// Tier is the permission tier of a tool: a role grants its tier and those below.
type Tier string

// Tiers, from least to most powerful.
const (
	// TierRead tools observe the protocol's state without side effects.
	TierRead Tier = "read"
	// TierWrite tools progress work (create intents, patch state, log events, send messages).
	TierWrite Tier = "write"
	// TierAdmin tools control lifecycle and coordination (status, leases, assignments,
	// governance, access control, credentials, triggers, identity, federation).
	TierAdmin Tier = "admin"
)

// Role is what an MCP client may do: a reader reads, an operator also writes, an admin may do
// everything. The Python SDK's MCP server has the same three.
type Role string

// Roles.
const (
	RoleReader   Role = "reader"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

// Grants reports whether the role may use tools of tier t.
func (r Role) Grants(t Tier) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleOperator:
		return t == TierRead || t == TierWrite
	case RoleReader:
		return t == TierRead
	}
	return false
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleReader, RoleOperator, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("mcp: unknown role %q (reader, operator or admin)", s)
}

// ToolInfo describes a tool: one operation of the protocol.
type ToolInfo struct {
	// Name is the tool's name.
	Name string
	// OperationID is the spec's operation.
	OperationID string
	// Method and Path are the HTTP route.
	Method, Path string
	// Tier is the tool's permission tier.
	Tier Tier
	// Description is the operation's summary and description.
	Description string
}

// compatNames name the tools of operations the Python SDK's MCP server also exposes, with its
// names, so that workflows and prompts written for it (`mcp:openintent/openintent_get_intent`)
// work unchanged. Every other operation's tool is `openintent_` and its operationId in
// snake_case.
var compatNames = map[string]string{
	"getIntent": "openintent_get_intent", "listIntents": "openintent_list_intents", "createIntent": "openintent_create_intent",
	"patchIntentState": "openintent_update_state", "setIntentStatus": "openintent_set_status", "createIntentEvent": "openintent_log_event",
	"listIntentEvents": "openintent_get_events", "acquireIntentLease": "openintent_acquire_lease", "releaseIntentLease": "openintent_release_lease",
	"assignIntentAgent": "openintent_assign_agent", "unassignIntentAgent": "openintent_unassign_agent", "createChannel": "openintent_create_channel",
	"sendChannelMessage": "openintent_send_message", "listChannelMessages": "openintent_get_messages", "createPlan": "openintent_create_plan",
	"getPlan": "openintent_get_plan", "recordDecision": "openintent_record_decision", "createEscalation": "openintent_escalate_to_human",
	"listEscalations": "openintent_list_escalations", "resolveEscalation": "openintent_resolve_escalation",
	"createApprovalRequest": "openintent_request_approval", "getApprovalRequest": "openintent_get_approval_status",
	"approveApprovalRequest": "openintent_approve_approval", "denyApprovalRequest": "openintent_deny_approval",
	"setGovernancePolicy": "openintent_set_governance_policy", "getGovernancePolicy": "openintent_get_governance_policy",
	"createPortfolio": "openintent_create_portfolio", "addPortfolioIntent": "openintent_add_to_portfolio", "getPortfolio": "openintent_get_portfolio",
	"getIntentAcl": "openintent_get_permissions", "putIntentAcl": "openintent_set_permissions", "createIntentAclEntry": "openintent_grant_access",
	"createCredential": "openintent_store_credential", "getCredential": "openintent_get_credential", "createToolGrant": "openintent_grant_tool",
	"createMemoryEntry": "openintent_memory_set", "getMemoryEntry": "openintent_memory_get", "listAgentMemory": "openintent_memory_list",
	"agentHeartbeat": "openintent_agent_heartbeat", "registerAgent": "openintent_register_agent", "getAgentRecord": "openintent_get_agent_record",
	"listAgents": "openintent_list_registered_agents", "updateAgentStatus": "openintent_update_agent_status",
	"createTrigger": "openintent_create_trigger", "listTriggers": "openintent_list_triggers", "deleteTrigger": "openintent_delete_trigger",
	"registerAgentIdentity": "openintent_register_identity", "completeIdentityChallenge": "openintent_verify_challenge",
	"rotateAgentKey": "openintent_rotate_key", "getCheckpoint": "openintent_get_checkpoint",
	"putIntentRetryPolicy": "openintent_set_retry_policy", "getIntentRetryPolicy": "openintent_get_retry_policy",
	"recordIntentFailure": "openintent_record_failure", "listIntentFailures": "openintent_get_failures",
	"getFederationStatus": "openintent_federation_status", "listFederatedAgents": "openintent_list_federated_agents",
	"dispatchFederatedIntent": "openintent_federation_dispatch",
}

// adminOps are the operations of the admin tier: lifecycle, coordination and structure. Other
// reads are of the read tier and other writes of the write tier.
var adminOps = []string{
	"setIntentStatus", "acquireIntentLease", "renewIntentLease", "releaseIntentLease", "assignIntentAgent", "unassignIntentAgent",
	"createChannel", "updateChannel", "closeChannel", "recordDecision", "createDecisionRecord", "createCoordinatorLease",
	"coordinatorHeartbeat", "setGovernancePolicy", "deleteGovernancePolicy", "approveApprovalRequest", "denyApprovalRequest",
	"resolveEscalation", "putIntentAcl", "createIntentAclEntry", "deleteIntentAclEntry", "approveAccessRequest", "denyAccessRequest",
	"createVault", "getVault", "createCredential", "getCredential", "createToolGrant", "revokeToolGrant", "updateAgentStatus",
	"createTrigger", "updateTrigger", "deleteTrigger", "fireTrigger", "registerAgentIdentity", "completeIdentityChallenge",
	"rotateAgentKey", "createCheckpoint", "anchorCheckpoint", "putIntentRetryPolicy", "dispatchFederatedIntent",
	"updatePortfolioStatus", "removePortfolioIntent",
}

// readOps are operations sent with POST that change nothing (they verify what they are given).
var readOps = []string{"verifyAgentSignature", "verifyEventChain", "verifyCheckpointConsistency"}

// skippedOps are operations no MCP client should call: what a peer server or a webhook sender
// sends. Event streams (text/event-stream answers) are skipped too: their data is offered as
// resources and through the list tools.
var skippedOps = []string{"receiveWebhookDelivery", "receiveFederatedIntent", "receiveFederationCallback"}

// operation is a tool's route and how its arguments map onto the request.
type operation struct {
	info       ToolInfo
	pathParams []string
	query      []*openapi3.Parameter
	ifMatch    bool
	flatBody   bool     // the body's properties are top-level arguments
	bodyProps  []string // names of the body's properties when flat
	hasBody    bool
	bodyReq    bool
	schema     map[string]any
	readOnly   bool
}

// catalog is every operation of the protocol's spec as a tool, built once and shared read-only.
var catalog = sync.OnceValues(buildCatalog)

// buildCatalog reads every operation of the protocol's spec (api/openapi.yaml as written) as a
// tool, sorted by name.
func buildCatalog() ([]*operation, error) {
	spec, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("mcp: load the spec: %w", err)
	}
	var ops []*operation
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || slices.Contains(skippedOps, op.OperationID) || streams(op) {
				continue
			}
			params := append(openapi3.Parameters{}, item.Parameters...)
			params = append(params, op.Parameters...)
			o, err := newOperation(path, method, op, params)
			if err != nil {
				return nil, fmt.Errorf("mcp: %s: %w", op.OperationID, err)
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].info.Name < ops[j].info.Name })
	for i := 1; i < len(ops); i++ {
		if ops[i].info.Name == ops[i-1].info.Name {
			return nil, fmt.Errorf("mcp: operations %s and %s have the same tool name %s", ops[i-1].info.OperationID, ops[i].info.OperationID, ops[i].info.Name)
		}
	}
	return ops, nil
}

func streams(op *openapi3.Operation) bool {
	if op.Responses == nil {
		return false
	}
	for _, r := range op.Responses.Map() {
		if r.Value != nil && r.Value.Content.Get("text/event-stream") != nil {
			return true
		}
	}
	return false
}

// toolName is the tool of an operation.
func toolName(operationID string) string {
	if n, ok := compatNames[operationID]; ok {
		return n
	}
	var b strings.Builder
	b.WriteString("openintent_")
	for i, r := range operationID {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func tierOf(method, operationID string) Tier {
	switch {
	case slices.Contains(adminOps, operationID):
		return TierAdmin
	case slices.Contains(readOps, operationID), method == http.MethodGet || method == http.MethodHead:
		return TierRead
	}
	return TierWrite
}

func newOperation(path, method string, op *openapi3.Operation, params openapi3.Parameters) (*operation, error) {
	o := &operation{info: ToolInfo{Name: toolName(op.OperationID), OperationID: op.OperationID, Method: method, Path: path,
		Tier: tierOf(method, op.OperationID)}, readOnly: method == http.MethodGet}
	desc := strings.TrimSpace(op.Summary)
	if d := strings.TrimSpace(op.Description); d != "" {
		if desc != "" {
			desc += "\n\n"
		}
		desc += d
	}
	if len(desc) > 1500 {
		desc = desc[:1497] + "..."
	}
	o.info.Description = fmt.Sprintf("%s\n\n(%s %s; operation %s)", desc, method, path, op.OperationID)
	props := map[string]any{}
	var required []string
	for _, pr := range params {
		p := pr.Value
		if p == nil {
			continue
		}
		switch p.In {
		case openapi3.ParameterInPath:
			o.pathParams = append(o.pathParams, p.Name)
			s := jsonSchema(p.Schema, 0, true)
			if p.Description != "" {
				s["description"] = p.Description
			}
			props[p.Name] = s
			required = append(required, p.Name)
		case openapi3.ParameterInQuery:
			o.query = append(o.query, p)
			s := jsonSchema(p.Schema, 0, true)
			if p.Description != "" {
				s["description"] = p.Description
			}
			props[p.Name] = s
			if p.Required {
				required = append(required, p.Name)
			}
		case openapi3.ParameterInHeader:
			if strings.EqualFold(p.Name, "If-Match") {
				o.ifMatch = true
				props["if_match"] = map[string]any{"type": "integer",
					"description": "the version of the resource the change is based on (If-Match); the server refuses the change with 409 if it moved on"}
				if p.Required {
					required = append(required, "if_match")
				}
			}
			// Other headers (Idempotency-Key, Last-Event-ID, ...) are the client's business.
		}
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			o.hasBody, o.bodyReq = true, rb.Value.Required
			body := jsonSchema(mt.Schema, 0, true)
			bp, _ := body["properties"].(map[string]any)
			clash := false
			for name := range bp {
				if _, taken := props[name]; taken {
					clash = true
				}
			}
			if t, _ := body["type"].(string); t == "object" && len(bp) > 0 && !clash {
				o.flatBody = true
				for name, s := range bp {
					props[name] = s
					o.bodyProps = append(o.bodyProps, name)
				}
				sort.Strings(o.bodyProps)
				if req, ok := body["required"].([]string); ok && rb.Value.Required {
					required = append(required, req...)
				}
			} else {
				props["body"] = body
				if rb.Value.Required {
					required = append(required, "body")
				}
			}
		}
	}
	o.schema = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		o.schema["required"] = slices.Compact(required)
	}
	return o, nil
}

// jsonSchema converts an OpenAPI 3.0 schema to JSON Schema (2020-12): references inlined (to
// a depth), nullable as a "null" type, read-only properties left out of request schemas, and
// OpenAPI's own keywords (example, xml, discriminator, x-*) dropped.
func jsonSchema(ref *openapi3.SchemaRef, depth int, request bool) map[string]any {
	out := map[string]any{}
	if ref == nil || ref.Value == nil || depth > 8 {
		return out
	}
	s := ref.Value
	if types := s.Type.Slice(); len(types) > 0 {
		t := slices.Clone(types)
		if s.Nullable && !slices.Contains(t, "null") {
			t = append(t, "null")
		}
		if len(t) == 1 {
			out["type"] = t[0]
		} else {
			out["type"] = t
		}
	}
	if s.Title != "" {
		out["title"] = s.Title
	}
	if s.Description != "" {
		d := s.Description
		if len(d) > 600 {
			d = d[:597] + "..."
		}
		out["description"] = d
	}
	if s.Format != "" {
		out["format"] = s.Format
	}
	if len(s.Enum) > 0 {
		out["enum"] = s.Enum
	}
	if s.Default != nil {
		out["default"] = s.Default
	}
	if s.Min != nil {
		out["minimum"] = *s.Min
	}
	if s.Max != nil {
		out["maximum"] = *s.Max
	}
	if s.MinLength > 0 {
		out["minLength"] = s.MinLength
	}
	if s.MaxLength != nil {
		out["maxLength"] = *s.MaxLength
	}
	if s.Pattern != "" {
		out["pattern"] = s.Pattern
	}
	if s.MinItems > 0 {
		out["minItems"] = s.MinItems
	}
	if s.MaxItems != nil {
		out["maxItems"] = *s.MaxItems
	}
	if s.Items != nil {
		out["items"] = jsonSchema(s.Items, depth+1, request)
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		for name, p := range s.Properties {
			if request && p.Value != nil && p.Value.ReadOnly {
				continue
			}
			props[name] = jsonSchema(p, depth+1, request)
		}
		out["properties"] = props
		var req []string
		for _, r := range s.Required {
			if _, ok := props[r]; ok {
				req = append(req, r)
			}
		}
		if len(req) > 0 {
			out["required"] = req
		}
	}
	if ap := s.AdditionalProperties; ap.Has != nil {
		out["additionalProperties"] = *ap.Has
	} else if ap.Schema != nil {
		out["additionalProperties"] = jsonSchema(ap.Schema, depth+1, request)
	}
	for key, list := range map[string]openapi3.SchemaRefs{"allOf": s.AllOf, "oneOf": s.OneOf, "anyOf": s.AnyOf} {
		if len(list) == 0 {
			continue
		}
		var l []any
		for _, x := range list {
			l = append(l, jsonSchema(x, depth+1, request))
		}
		out[key] = l
	}
	if s.Not != nil {
		out["not"] = jsonSchema(s.Not, depth+1, request)
	}
	return out
}

// AllTools lists every tool the server can offer, whatever the role, sorted by name.
func AllTools() ([]ToolInfo, error) {
	ops, err := catalog()
	if err != nil {
		return nil, err
	}
	out := make([]ToolInfo, len(ops))
	for i, o := range ops {
		out[i] = o.info
	}
	return out, nil
}
