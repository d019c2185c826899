package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	genserver "github.com/openintent-go/openintent/gen/server"

	"github.com/openintent-go/openintent/pkg/store"
)

// kindToolGrant is the record kind of RFC-0014 tool grants (ref = the grantee agent).
const kindToolGrant = "tool_grant"

// InvokeTool resolves the calling agent's grant for the tool. The agent is the authenticated
// one, never the body's agent_id. Tool grants are not built yet (issue #4), so every call is
// refused with 403 naming the agent and the tool.
func (h *handlers) InvokeTool(ctx context.Context, req genserver.InvokeToolRequestObject) (genserver.InvokeToolResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.ToolName) == "" {
		return nil, validationFailed("tool_name", "must not be empty")
	}
	agent := agentFrom(ctx)
	if b.AgentID != "" && b.AgentID != agent {
		return nil, &apiError{status: http.StatusForbidden, code: "forbidden",
			detail: fmt.Sprintf("agent_id %s is not the calling agent %s; tools are invoked under the caller's own grants", b.AgentID, agent)}
	}
	grants, err := h.store.ListRecords(ctx, store.Query{Kind: kindToolGrant, Ref: agent})
	if err != nil {
		return nil, err
	}
	if len(grants) == 0 {
		return nil, &apiError{status: http.StatusForbidden, code: "no_grant",
			detail: fmt.Sprintf("Agent %s has no grant for tool %s", agent, b.ToolName)}
	}
	return nil, genserver.ErrNotImplemented
}
