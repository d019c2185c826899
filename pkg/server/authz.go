package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// need is what an operation requires of the caller on the object its path names.
type need int

const (
	// anyAgent: any authenticated agent; what the operation returns is filtered to what the
	// caller may read, and what it writes is checked in the handler.
	anyAgent need = iota
	// intentRead, intentWrite and intentAdmin: the caller's permission on the intent the object
	// belongs to (RFC-0011; see accessControl.allows).
	intentRead
	intentWrite
	intentAdmin
	// owner: the agent that owns the object (its subscriber, creator, owner, grantor or
	// grantee, or the agent itself).
	owner
	// serviceKey: a request made with a service key (an operator's; see verifiable.go).
	serviceKey
)

// object is a kind of resource a path parameter names.
type object int

const (
	objIntent object = iota
	objTask
	objPlan
	objCoordinator
	objEscalation
	objPortfolio
	objSubscription
	objGrant
	objVault
	objCredential
	objMemory
	objTrigger
	objAgent
	objChannel
)

// check is one requirement of an operation: need on the object named by path parameter param.
type check struct {
	param string
	obj   object
	need  need
}

func on(param string, obj object, n need) check { return check{param, obj, n} }

// Shorthands for the rules table.
var (
	intentR   = on("intent_id", objIntent, intentRead)
	intentW   = on("intent_id", objIntent, intentWrite)
	intentA   = on("intent_id", objIntent, intentAdmin)
	channelR  = on("channel_id", objChannel, intentRead)
	channelW  = on("channel_id", objChannel, intentWrite)
	openToAll = []check{}
	// operators names no object: a service key is needed, whatever the path.
	operators = []check{{need: serviceKey}}
)

// rules is the one authorization decision of every operation of the spec, by operationId:
// the checks the caller must pass before the handler runs (none: any authenticated agent).
// Handlers add the checks that depend on the body (an intent named by intent_id, a field naming
// the acting agent) through the same decision (handlers.authorize, actorField), and lists leave
// out what the caller may not read. New refuses to start when an operation has no rule, so a new
// operation cannot escape the decision. README "Access rules" is this table in words.
var rules = map[string][]check{
	// Discovery, public.
	"getDiscoveryDocument": openToAll, "getCompatibilityDocument": openToAll, "getServerConfig": openToAll,
	"getFederationManifest": openToAll, "getServerDidDocument": openToAll, "getHealth": openToAll, "getReadiness": openToAll,

	// Intents and their data (RFC-0001..0003, 0005, 0009..0012).
	"createIntent": openToAll, "listIntents": openToAll,
	"getIntent": {intentR}, "patchIntentState": {intentW}, "setIntentStatus": {intentW},
	"listIntentEvents": {intentR}, "createIntentEvent": {intentW},
	"listIntentAgents": {intentR}, "assignIntentAgent": {intentW}, "unassignIntentAgent": {intentW},
	"createChildIntent": {intentW}, "listChildIntents": {intentR}, "listDescendantIntents": {intentR},
	"listAncestorIntents": {intentR}, "listIntentDependencies": {intentR}, "addIntentDependency": {intentW},
	"removeIntentDependency": {intentW}, "listIntentDependents": {intentR}, "listReadyChildIntents": {intentR},
	"listBlockedChildIntents": {intentR}, "getIntentGraph": {intentR},
	"listIntentLeases": {intentR}, "acquireIntentLease": {intentW}, "renewIntentLease": {intentW}, "releaseIntentLease": {intentW},
	"listIntentAttachments": {intentR}, "createIntentAttachment": {intentW}, "deleteIntentAttachment": {intentW},
	"listIntentCosts": {intentR}, "recordIntentCost": {intentW},
	"getIntentRetryPolicy": {intentR}, "putIntentRetryPolicy": {intentW},
	"listIntentFailures": {intentR}, "recordIntentFailure": {intentW},
	"streamIntentEvents": {intentR}, "streamIntentEventsClientPath": {intentR},
	"listIntentTasks": {intentR}, "listIntentPlans": {intentR}, "listIntentCoordinatorLeases": {intentR},
	"verifyEventChain": {intentR}, "respondToSuspension": {intentW}, "suspendIntent": {intentW},

	// Governance (RFC-0003, 0013): decisions and approvals belong to the intent.
	"requestArbitration": {intentW}, "recordDecision": {intentW}, "listIntentDecisions": {intentR},
	"listIntentCoordinatorDecisions": {intentR}, "createEscalation": {intentW},
	"listEscalations": openToAll, "resolveEscalation": {on("escalation_id", objEscalation, intentWrite)},
	"createApprovalRequest": {intentW}, "getApprovalRequest": {intentR},
	"approveApprovalRequest": {intentW}, "denyApprovalRequest": {intentW},
	"getGovernancePolicy": {intentR}, "setGovernancePolicy": {intentA}, "deleteGovernancePolicy": {intentA},

	// Access control (RFC-0011): changing an ACL needs admin, asking for access nothing.
	"getIntentAcl": {intentR}, "putIntentAcl": {intentA}, "createIntentAclEntry": {intentA},
	"deleteIntentAclEntry": {intentA}, "listAccessRequests": {intentA}, "createAccessRequest": openToAll,
	"approveAccessRequest": {intentA}, "denyAccessRequest": {intentA},

	// Tasks, plans, coordinators and decision records (RFC-0012, 0013) belong to their intent.
	"createTask": openToAll, "getTask": {on("task_id", objTask, intentRead)}, "updateTaskStatus": {on("task_id", objTask, intentWrite)},
	"createPlan": openToAll, "getPlan": {on("plan_id", objPlan, intentRead)}, "updatePlan": {on("plan_id", objPlan, intentWrite)},
	"createCoordinatorLease": openToAll, "listCoordinatorLeases": openToAll,
	"getCoordinatorLease": {on("lease_id", objCoordinator, intentRead)}, "coordinatorHeartbeat": {on("lease_id", objCoordinator, owner)},
	"createDecisionRecord": openToAll,

	// Portfolios (RFC-0004): anyone may read one (its intents filtered), its creator changes it.
	"listPortfolios": openToAll, "createPortfolio": openToAll, "getPortfolio": openToAll,
	"updatePortfolio": {on("portfolio_id", objPortfolio, owner)}, "updatePortfolioStatus": {on("portfolio_id", objPortfolio, owner)},
	"listPortfolioIntents": openToAll, "addPortfolioIntent": {on("portfolio_id", objPortfolio, owner)},
	"removePortfolioIntent": {on("portfolio_id", objPortfolio, owner), intentW},
	"getPortfolioCosts":     openToAll, "listIntentPortfolios": {intentR},
	"streamPortfolioEvents": openToAll, "streamPortfolioEventsClientPath": openToAll,

	// Subscriptions (RFC-0006) belong to their subscriber, the caller who made them.
	"listSubscriptions": openToAll, "createSubscription": openToAll,
	"deleteSubscription": {on("subscription_id", objSubscription, owner)},
	"streamAgentEvents":  openToAll, "streamAgentEventsClientPath": openToAll,

	// Vaults, credentials and tool grants (RFC-0014) belong to the vault's owner; a grant also
	// to its grantee.
	"createVault": openToAll, "getVault": {on("vault_id", objVault, owner)},
	"createCredential": openToAll, "getCredential": {on("credential_id", objCredential, owner)},
	"createToolGrant": openToAll, "getToolGrant": {on("grant_id", objGrant, owner)},
	"revokeToolGrant": {on("grant_id", objGrant, owner)}, "listAgentToolGrants": openToAll,
	"createToolInvocation": openToAll, "listGrantInvocations": {on("grant_id", objGrant, owner)}, "invokeTool": openToAll,

	// Memory (RFC-0015) belongs to its agent.
	"createMemoryEntry": openToAll, "getMemoryEntry": {on("entry_id", objMemory, owner)},
	"updateMemoryEntry": {on("entry_id", objMemory, owner)}, "deleteMemoryEntry": {on("entry_id", objMemory, owner)},
	"listAgentMemory": {on("agent_id", objAgent, owner)},

	// Agent records (RFC-0016): a shared registry; an agent changes only its own record.
	"registerAgent": openToAll, "listAgents": openToAll, "getAgentRecord": openToAll,
	"agentHeartbeat": {on("agent_id", objAgent, owner)}, "updateAgentStatus": {on("agent_id", objAgent, owner)},

	// Triggers (RFC-0017) belong to their creator.
	"createTrigger": openToAll, "listTriggers": openToAll, "getTrigger": {on("trigger_id", objTrigger, owner)},
	"updateTrigger": {on("trigger_id", objTrigger, owner)}, "deleteTrigger": {on("trigger_id", objTrigger, owner)},
	"fireTrigger": {on("trigger_id", objTrigger, owner)},

	// Identity (RFC-0018): anyone may read and verify; an agent changes only its own keys.
	"getAgentIdentity": openToAll, "registerAgentIdentity": {on("agent_id", objAgent, owner)},
	"completeIdentityChallenge": {on("agent_id", objAgent, owner)}, "rotateAgentKey": {on("agent_id", objAgent, owner)},
	"verifyAgentSignature": openToAll,

	// Verifiable logs (RFC-0019): checkpoints and proofs cover every intent's hashes, not their
	// content; making and anchoring checkpoints is an operator's (service keys).
	"listCheckpoints": openToAll, "getCheckpoint": openToAll, "getMerkleProof": openToAll,
	"verifyCheckpointConsistency": openToAll, "createCheckpoint": operators, "anchorCheckpoint": operators,

	// Channels (RFC-0021) belong to their intent; handlers narrow an `explicit` channel to its
	// creator and members, and changing or deleting one to its creator or an intent admin.
	"createChannel": {intentW}, "listIntentChannels": {intentR},
	"getChannel": {channelR}, "updateChannel": {channelW}, "closeChannel": {channelW}, "listChannelMessages": {channelR},
	"sendChannelMessage": {channelW}, "getChannelMessage": {channelR}, "updateChannelMessageStatus": {channelW},
	"replyToChannelMessage": {channelW}, "streamChannelMessages": {channelR},

	// Federation (RFC-0022, 0023): status and agents are any agent's; a dispatch needs write on
	// the intent its body names (the handler checks it); peers' envelopes and callbacks carry no
	// API key (public in the spec): their handlers authenticate the peer's signature.
	"getFederationStatus": openToAll, "listFederatedAgents": openToAll, "dispatchFederatedIntent": openToAll,
	"receiveFederatedIntent": openToAll, "receiveFederationCallback": openToAll,
}

// rulesByLowerID is rules keyed by lower-case operationId: the spec embedded in gen/server
// spells ids as Go names (getIntentAcl becomes GetIntentACL).
var rulesByLowerID = func() map[string][]check {
	m := make(map[string][]check, len(rules))
	for id, cs := range rules {
		m[strings.ToLower(id)] = cs
	}
	return m
}()

// checkRules gives every route of the table its rule; it fails when an operation has no rule,
// or a rule names a path parameter its operation does not have.
func checkRules(routes *routeTable) error {
	for pattern, rt := range routes.byPattern {
		if rt.Operation == nil {
			continue
		}
		cs, ok := rulesByLowerID[strings.ToLower(rt.Operation.OperationID)]
		if !ok {
			return fmt.Errorf("server: operation %s (%s) has no access rule", rt.Operation.OperationID, pattern)
		}
		for _, c := range cs {
			if c.param != "" && !slices.Contains(rt.pathParams, c.param) {
				return fmt.Errorf("server: the access rule of %s names {%s}, which its path lacks", rt.Operation.OperationID, c.param)
			}
		}
		rt.checks = cs
	}
	return nil
}

// authorizeRoute applies an operation's rule to a request of agent on path.
func (ac *accessControl) authorizeRoute(ctx context.Context, rt *route, pattern, path, agent string) error {
	for _, c := range rt.checks {
		if c.need == serviceKey {
			if err := authorizeServiceKey(ctx); err != nil {
				return err
			}
			continue
		}
		id := pathValue(pattern, path, c.param)
		if err := ac.authorizeObject(ctx, c.obj, id, agent, c.need); err != nil {
			return err
		}
	}
	return nil
}

// authorizeObject decides whether agent may do what needs n on the object obj with id. An
// object that does not exist passes: its handler answers 404.
func (ac *accessControl) authorizeObject(ctx context.Context, obj object, id, agent string, n need) error {
	if n == anyAgent {
		return nil
	}
	o, err := ac.resolve(ctx, obj, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch n {
	case owner:
		if slices.Contains(o.owners, agent) {
			return nil
		}
		return forbidden("forbidden", fmt.Sprintf("%s %s belongs to %s; agent %s may not use it", o.kind, id, strings.Join(o.owners, " and "), agent))
	case intentRead:
		return ac.checkIntent(ctx, o.intent, agent, models.PermissionRead)
	case intentWrite:
		return ac.checkIntent(ctx, o.intent, agent, models.PermissionWrite)
	case intentAdmin:
		return ac.checkIntent(ctx, o.intent, agent, models.PermissionAdmin)
	}
	return fmt.Errorf("server: unknown need %d", n)
}

// checkIntent is check for an object that may belong to no intent (a portfolio's coordinator).
func (ac *accessControl) checkIntent(ctx context.Context, intentID, agent string, p models.Permission) error {
	if intentID == "" {
		return nil
	}
	return ac.check(ctx, intentID, agent, p)
}

// resolved is what the decision needs to know of an object.
type resolved struct {
	kind   string
	intent string   // the intent it belongs to, if any
	owners []string // the agents that own it
}

// resolve reads the intent and owners of an object.
func (ac *accessControl) resolve(ctx context.Context, obj object, id string) (resolved, error) {
	switch obj {
	case objIntent:
		return resolved{kind: "Intent", intent: id}, nil
	case objAgent:
		return resolved{kind: "Agent", owners: []string{id}}, nil
	case objTask, objPlan, objEscalation:
		kind := map[object]string{objTask: kindTask, objPlan: kindPlan, objEscalation: kindEscalation}[obj]
		r, err := ac.store.GetRecord(ctx, kind, id)
		return resolved{kind: capitalize(kind), intent: r.Parent}, err
	case objCoordinator:
		l, err := store.Get[models.CoordinatorLease](ctx, ac.store, kindCoordinator, id)
		o := resolved{kind: "Coordinator lease", owners: []string{l.AgentID}}
		if l.IntentID != nil {
			o.intent = *l.IntentID
		}
		return o, err
	case objPortfolio:
		p, err := store.Get[models.Portfolio](ctx, ac.store, kindPortfolio, id)
		return resolved{kind: "Portfolio", owners: []string{p.CreatedBy}}, err
	case objSubscription:
		s, err := store.Get[models.Subscription](ctx, ac.store, kindSubscription, id)
		return resolved{kind: "Subscription", owners: []string{s.SubscriberID}}, err
	case objGrant:
		g, err := store.Get[models.ToolGrant](ctx, ac.store, kindToolGrant, id)
		return resolved{kind: "Tool grant", owners: slices.Compact([]string{g.GrantedBy, g.AgentID})}, err
	case objVault:
		v, err := store.Get[models.Vault](ctx, ac.store, kindVault, id)
		return resolved{kind: "Vault", owners: []string{v.OwnerID}}, err
	case objCredential:
		r, err := ac.store.GetRecord(ctx, kindCredential, id)
		if err != nil {
			return resolved{}, err
		}
		v, err := store.Get[models.Vault](ctx, ac.store, kindVault, r.Parent)
		return resolved{kind: "Credential", owners: []string{v.OwnerID}}, err
	case objMemory:
		r, err := ac.store.GetRecord(ctx, kindMemory, id)
		return resolved{kind: "Memory entry", owners: []string{r.Parent}}, err
	case objTrigger:
		t, err := store.Get[storedTrigger](ctx, ac.store, kindTrigger, id)
		return resolved{kind: "Trigger", owners: []string{t.Owner}}, err
	case objChannel:
		r, err := ac.store.GetRecord(ctx, kindChannel, id)
		return resolved{kind: "Channel", intent: r.Parent}, err
	}
	return resolved{}, fmt.Errorf("server: unknown object %d", obj)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pathValue returns the {param} segment of path for a route pattern like
// "POST /api/v1/intents/{intent_id}/state".
func pathValue(pattern, path, param string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if p == "{"+param+"}" && i < len(xs) {
			return xs[i]
		}
	}
	return ""
}

// authorize is the decision for an intent a request names outside its path (a body's
// intent_id, parent_intent_id or depends_on): the caller needs p on it.
func (h *handlers) authorize(ctx context.Context, intentID string, p models.Permission) error {
	if intentID == "" {
		return nil
	}
	return h.access.check(ctx, intentID, agentFrom(ctx), p)
}

// mayRead reports whether the caller may read intentID (lists leave out what it may not).
func (h *handlers) mayRead(ctx context.Context, intentID string) (bool, error) {
	return h.access.allows(ctx, intentID, agentFrom(ctx), models.PermissionRead)
}

// actorField returns the agent a body field names as the one acting (created_by, owner_id,
// decided_by, ...): the caller when the field is empty. Naming another agent is refused with
// 403 agent_not_allowed: an agent acts only as itself.
func actorField(ctx context.Context, field, named string) (string, error) {
	caller := agentFrom(ctx)
	if named == "" || named == caller {
		return caller, nil
	}
	e := forbidden("agent_not_allowed", fmt.Sprintf("%s: agent %s may not act as %s", field, caller, named))
	e.fields = []models.FieldError{{Field: field, Message: "must be the calling agent (X-Agent-ID) or empty"}}
	return "", e
}
