package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/internal/outbound"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0014 tool grants (parent = credential, ref = the grantee agent) and
// invocations (parent = grant).
const (
	kindToolGrant  = "tool_grant"
	kindInvocation = "tool_invocation"
)

// ToolProxy configures how POST /tools/invoke reaches the services behind credentials.
type ToolProxy struct {
	// Client makes the upstream calls; nil means an outbound.NewClient: it refuses redirects
	// and, unless AllowPrivateNetworks, connections to addresses that are not public (loopback,
	// private, link-local, carrier-grade NAT, multicast, ...; checked on the resolved address,
	// so DNS names cannot smuggle them in).
	Client *http.Client
	// AllowPrivateNetworks lets tools live on loopback or private addresses (tests, local
	// development).
	AllowPrivateNetworks bool
}

// maxToolResponse bounds an upstream answer.
const maxToolResponse = 1 << 20

func (p ToolProxy) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	// No overall timeout: each call has its own (the credential's timeout_ms).
	return outbound.NewClient(outbound.Options{AllowPrivate: p.AllowPrivateNetworks})
}

// grantView derives a grant's status at now: an active grant past expires_at is expired.
func grantView(g models.ToolGrant, now time.Time) models.ToolGrant {
	if g.Status == "active" && !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt.Time) {
		g.Status = "expired"
	}
	return g
}

func (h *handlers) CreateToolGrant(ctx context.Context, req genserver.CreateToolGrantRequestObject) (genserver.CreateToolGrantResponseObject, error) {
	b := req.Body
	grantor, err := actorField(ctx, "granted_by", b.GrantedBy)
	if err != nil {
		return nil, err
	}
	g := models.ToolGrant{CredentialID: b.CredentialID, AgentID: b.AgentID, GrantedBy: grantor, Scopes: nonNil(b.Scopes),
		Source: "direct", Delegatable: b.Delegatable, Context: orEmpty(b.Context), Status: "active", ExpiresAt: b.ExpiresAt}
	if b.Constraints != nil {
		c := b.Constraints
		if v, ok := c["max_invocations_per_hour"]; ok {
			if n, ok := v.(float64); !ok || n < 1 || n != float64(int64(n)) {
				return nil, validationFailed("constraints/max_invocations_per_hour", "must be a positive integer")
			}
		}
		g.Constraints = c
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		var c storedCredential
		if _, err := w.GetInto(kindCredential, g.CredentialID, &c); err != nil {
			return err
		}
		if err := ownVault(ctx, w, c.VaultID); err != nil {
			return err
		}
		if !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(w.Now()) {
			return validationFailed("expires_at", "must be in the future")
		}
		g.ID, g.CreatedAt = store.NewID(), w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindToolGrant, ID: g.ID, Parent: g.CredentialID, Ref: g.AgentID}, g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateToolGrant200JSONResponse(g), nil
}

func (h *handlers) GetToolGrant(ctx context.Context, req genserver.GetToolGrantRequestObject) (genserver.GetToolGrantResponseObject, error) {
	g, err := store.Get[models.ToolGrant](ctx, h.store, kindToolGrant, req.GrantID)
	if err != nil {
		return nil, err
	}
	return genserver.GetToolGrant200JSONResponse(grantView(g, h.store.Now())), nil
}

func (h *handlers) ListAgentToolGrants(ctx context.Context, req genserver.ListAgentToolGrantsRequestObject) (genserver.ListAgentToolGrantsResponseObject, error) {
	gs, err := store.List[models.ToolGrant](ctx, h.store, store.Query{Kind: kindToolGrant, Ref: req.AgentID})
	if err != nil {
		return nil, err
	}
	// An agent sees all its grants; another agent only those it granted.
	caller := agentFrom(ctx)
	now := h.store.Now()
	out := gs[:0]
	for _, g := range gs {
		if caller == req.AgentID || caller == g.GrantedBy {
			out = append(out, grantView(g, now))
		}
	}
	return genserver.ListAgentToolGrants200JSONResponse(out), nil
}

// RevokeToolGrant marks the grant revoked; revoking again keeps the first revocation time.
func (h *handlers) RevokeToolGrant(ctx context.Context, req genserver.RevokeToolGrantRequestObject) (genserver.RevokeToolGrantResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error {
		_, err := store.Modify(w, kindToolGrant, req.GrantID, 0, func(g *models.ToolGrant, _ *store.Record) error {
			if g.Status != "revoked" {
				g.Status, g.RevokedAt = "revoked", w.Timestamp()
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.RevokeToolGrant200JSONResponse{Status: "revoked", GrantID: req.GrantID}, nil
}

// CreateToolInvocation records a call made outside the proxy. A repeated idempotency_key on the
// same grant returns the first record.
func (h *handlers) CreateToolInvocation(ctx context.Context, req genserver.CreateToolInvocationRequestObject) (genserver.CreateToolInvocationResponseObject, error) {
	b := req.Body
	agent, err := actorField(ctx, "agent_id", b.AgentID)
	if err != nil {
		return nil, err
	}
	inv := models.ToolInvocation{GrantID: b.GrantID, Service: b.Service, Tool: b.Tool, AgentID: agent, Parameters: orEmpty(b.Parameters),
		Status: b.Status, Cost: b.Cost, DurationMs: orNull(b.DurationMs), IdempotencyKey: orNull(b.IdempotencyKey), Context: orEmpty(b.Context)}
	if inv.Status == "" {
		inv.Status = "success"
	}
	if b.Result != nil {
		inv.Result = b.Result
	}
	if b.Error != nil {
		inv.Error = b.Error
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		var g models.ToolGrant
		if _, err := w.GetInto(kindToolGrant, inv.GrantID, &g); err != nil {
			return err
		}
		// Invocations are recorded by the grant's grantee, under its own grant.
		if g.AgentID != agent {
			return forbidden("forbidden", fmt.Sprintf("Tool grant %s is %s's; agent %s may not record invocations under it", g.ID, g.AgentID, agent))
		}
		key, ref := "", valueOf(inv.IdempotencyKey)
		if ref != "" {
			key = inv.GrantID + "/" + ref
			if rs, err := w.List(store.Query{Kind: kindInvocation, Parent: inv.GrantID, Ref: ref}); err != nil {
				return err
			} else if len(rs) > 0 {
				return rs[0].Decode(&inv)
			}
		}
		inv.ID, inv.Timestamp = store.NewID(), w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindInvocation, ID: inv.ID, Parent: inv.GrantID, Ref: ref, Key: key}, inv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateToolInvocation200JSONResponse(inv), nil
}

func (h *handlers) ListGrantInvocations(ctx context.Context, req genserver.ListGrantInvocationsRequestObject) (genserver.ListGrantInvocationsResponseObject, error) {
	limit := int(req.Params.Limit)
	if limit == 0 {
		limit = 50
	}
	invs, err := store.List[models.ToolInvocation](ctx, h.store, store.Query{Kind: kindInvocation, Parent: req.GrantID, Newest: true, Limit: limit})
	if err != nil {
		return nil, err
	}
	return genserver.ListGrantInvocations200JSONResponse(invs), nil
}

// grantServes reports whether g covers tool: by scope, by context.tools, or by its credential's
// service.
func grantServes(g models.ToolGrant, service, tool string) bool {
	if slices.Contains(g.Scopes, tool) || service == tool {
		return true
	}
	tools, _ := g.Context["tools"].([]any)
	return slices.Contains(tools, any(tool))
}

// InvokeTool calls a tool with the credential of the calling agent's grant for it. The agent is
// the authenticated one, never the body's agent_id. The hourly limit is checked and the
// invocation reserved in one transaction, so concurrent calls cannot overshoot it.
func (h *handlers) InvokeTool(ctx context.Context, req genserver.InvokeToolRequestObject) (genserver.InvokeToolResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.ToolName) == "" {
		return nil, validationFailed("tool_name", "must not be empty")
	}
	agent := agentFrom(ctx)
	if b.AgentID != "" && b.AgentID != agent {
		return nil, forbidden("forbidden", fmt.Sprintf("agent_id %s is not the calling agent %s; tools are invoked under the caller's own grants", b.AgentID, agent))
	}
	var (
		grant models.ToolGrant
		cred  storedCredential
		inv   models.ToolInvocation
	)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		rs, err := w.List(store.Query{Kind: kindToolGrant, Ref: agent})
		if err != nil {
			return err
		}
		var refusal error
		for _, r := range rs {
			var g models.ToolGrant
			var c storedCredential
			if err := r.Decode(&g); err != nil {
				return err
			}
			if _, err := w.GetInto(kindCredential, g.CredentialID, &c); err != nil {
				continue
			}
			if !grantServes(g, c.Service, b.ToolName) {
				continue
			}
			switch g = grantView(g, w.Now()); {
			case g.Status != "active": // the newest unusable grant explains the refusal
				refusal = forbidden("grant_"+g.Status, fmt.Sprintf("Grant %s of agent %s for tool %s is %s", g.ID, agent, b.ToolName, g.Status))
				continue
			case c.Status != "active":
				refusal = forbidden("credential_"+c.Status, fmt.Sprintf("Credential for tool %s is %s", b.ToolName, c.Status))
				continue
			}
			grant, cred = g, c
			break
		}
		if grant.ID == "" {
			if refusal != nil {
				return refusal
			}
			return forbidden("no_grant", fmt.Sprintf("Agent %s has no grant for tool %s", agent, b.ToolName))
		}
		if err := checkHourlyLimit(w, grant); err != nil {
			return err
		}
		inv = models.ToolInvocation{ID: store.NewID(), GrantID: grant.ID, Service: cred.Service, Tool: b.ToolName, AgentID: agent,
			Parameters: orEmpty(b.Parameters), Status: "pending", IdempotencyKey: orNull(b.IdempotencyKey), Context: models.Object{}, Timestamp: w.Timestamp()}
		_, err = w.Insert(store.Record{Kind: kindInvocation, ID: inv.ID, Parent: grant.ID, Ref: b.IdempotencyKey}, inv)
		return err
	})
	if err != nil {
		return nil, err
	}
	secret := map[string]any{}
	if cred.Sealed != "" {
		if secret, err = h.sealer.open(cred.ID, cred.Sealed); err != nil {
			return nil, err
		}
	}
	red := newRedactor(secret)
	started := time.Now()
	tctx, called := h.tel.startTool(ctx, b.ToolName, cred.Service, grant.ID)
	call := h.callTool(tctx, cred, grant, b.ToolName, b.Parameters, secret)
	called(call)
	took := time.Since(started).Milliseconds()
	inv.DurationMs = &took
	inv.Status = call.status
	inv.Parameters = red.object(inv.Parameters)
	if call.result != nil {
		res := red.object(call.result)
		inv.Result = res
	}
	out := genserver.InvokeTool200JSONResponse{InvocationID: inv.ID, ToolName: b.ToolName, Status: "success", Result: inv.Result, DurationMs: &took}
	if call.err != "" {
		msg := red.value(call.err).(string)
		inv.Error = map[string]any{"message": msg}
		out.Status, out.Error = "error", &msg
	}
	inv.Context = models.Object{"request_fingerprint": fingerprint(b.ToolName, inv.Parameters)}
	if call.httpStatus != 0 {
		inv.Context["http_status"] = call.httpStatus
	}
	err = h.store.Write(context.WithoutCancel(ctx), func(w *store.Writer) error {
		r, err := w.Get(kindInvocation, inv.ID)
		if err != nil {
			return err
		}
		_, err = w.Update(r, inv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkHourlyLimit refuses (429) when the grant's max_invocations_per_hour is used up; every
// invocation recorded on the grant in the last hour counts.
func checkHourlyLimit(w *store.Writer, g models.ToolGrant) error {
	if g.Constraints == nil {
		return nil
	}
	limit, ok := g.Constraints["max_invocations_per_hour"].(float64)
	if !ok {
		return nil
	}
	invs, err := w.List(store.Query{Kind: kindInvocation, Parent: g.ID, Newest: true, Limit: int(limit)})
	if err != nil {
		return err
	}
	hourAgo := w.Now().Add(-time.Hour)
	used := 0
	for _, r := range invs {
		if r.CreatedAt.After(hourAgo) {
			used++
		}
	}
	if used < int(limit) {
		return nil
	}
	retry := invs[len(invs)-1].CreatedAt.Add(time.Hour).Sub(w.Now())
	return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: retry,
		detail: fmt.Sprintf("Rate limit exceeded: %d invocations per hour on grant %s", int(limit), g.ID)}
}

// fingerprint identifies a request without its content.
func fingerprint(tool string, params models.Object) string {
	b, _ := json.Marshal(params)
	sum := sha256.Sum256(append([]byte(tool+"\x00"), b...))
	return hex.EncodeToString(sum[:8])
}

// toolCall is the outcome of an upstream call.
type toolCall struct {
	status     string // success, error or timeout
	result     map[string]any
	err        string
	httpStatus int
}

// callTool runs the tool: with `base_url` in the credential's metadata it is an HTTP call
// authenticated with the secret; without, the proxy answers with what it would have sent.
func (h *handlers) callTool(ctx context.Context, cred storedCredential, grant models.ToolGrant, tool string, params models.Object, secret map[string]any) toolCall {
	meta := cred.CredentialMetadata
	base, _ := meta["base_url"].(string)
	if base == "" {
		return toolCall{status: "success", result: map[string]any{"tool_name": tool, "service": cred.Service, "parameters": orEmpty(params),
			"message":            fmt.Sprintf("Tool '%s' invoked via server proxy (no execution adapter configured)", tool),
			"credential_service": cred.Service, "credential_auth_type": cred.AuthType}}
	}
	method, path := http.MethodPost, "/"+url.PathEscape(tool)
	if eps, ok := meta["endpoints"].(map[string]any); ok {
		if ep, ok := eps[tool].(map[string]any); ok {
			if m, ok := ep["method"].(string); ok && m != "" {
				method = strings.ToUpper(m)
			}
			if p, ok := ep["path"].(string); ok && p != "" {
				path = p
			}
		}
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return toolCall{status: "error", err: "credential base_url is not an http(s) URL"}
	}
	if err := checkAllowedHost(u.Hostname(), grant, meta); err != nil {
		return toolCall{status: "error", err: err.Error()}
	}
	timeout := 30 * time.Second
	if ms, ok := meta["timeout_ms"].(float64); ok {
		timeout = min(max(time.Duration(ms)*time.Millisecond, time.Second), 2*time.Minute)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var body io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		q := u.Query()
		for k, v := range params {
			q.Set(k, fmt.Sprint(v))
		}
		u.RawQuery = q.Encode()
	} else {
		b, _ := json.Marshal(orEmpty(params))
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return toolCall{status: "error", err: err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	authenticate(req, meta, secret)
	h.tel.inject(ctx, req.Header) // W3C traceparent of the call's span, when tracing is on
	resp, err := h.tools.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return toolCall{status: "timeout", err: fmt.Sprintf("tool %s did not answer within %s", tool, timeout)}
		}
		return toolCall{status: "error", err: fmt.Sprintf("tool %s could not be reached: %v", tool, errors.Unwrap(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxToolResponse+1))
	if err != nil || len(raw) > maxToolResponse {
		return toolCall{status: "error", httpStatus: resp.StatusCode, err: fmt.Sprintf("tool %s answer is unreadable or larger than %d bytes", tool, maxToolResponse)}
	}
	out := toolCall{status: "success", httpStatus: resp.StatusCode, result: decodeResult(raw)}
	if resp.StatusCode >= 400 {
		out.status, out.err = "error", fmt.Sprintf("tool %s answered HTTP %d", tool, resp.StatusCode)
	}
	return out
}

// decodeResult keeps a JSON object as is and wraps anything else.
func decodeResult(raw []byte) map[string]any {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return map[string]any{"body": string(raw)}
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"value": v}
}

// checkAllowedHost applies the grant's (or else the credential's) allowed_hosts.
func checkAllowedHost(host string, grant models.ToolGrant, meta models.Object) error {
	var allowed []any
	if grant.Constraints != nil {
		allowed, _ = grant.Constraints["allowed_hosts"].([]any)
	}
	if allowed == nil {
		allowed, _ = meta["allowed_hosts"].([]any)
	}
	if allowed == nil || slices.Contains(allowed, any(host)) {
		return nil
	}
	return fmt.Errorf("host %s is not in the grant's allowed_hosts", host)
}

// authenticate adds the secret to an upstream request: basic auth from username/password,
// otherwise the first of api_key, token, access_token in the header named by
// metadata.auth.header_name (default Authorization, with prefix metadata.auth.header_prefix,
// default Bearer) or the query parameter metadata.auth.query_param.
func authenticate(req *http.Request, meta models.Object, secret map[string]any) {
	user, _ := secret["username"].(string)
	pass, _ := secret["password"].(string)
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
		return
	}
	var key string
	for _, name := range []string{"api_key", "token", "access_token"} {
		if s, ok := secret[name].(string); ok && s != "" {
			key = s
			break
		}
	}
	if key == "" {
		return
	}
	auth, _ := meta["auth"].(map[string]any)
	if qp, _ := auth["query_param"].(string); qp != "" {
		q := req.URL.Query()
		q.Set(qp, key)
		req.URL.RawQuery = q.Encode()
		return
	}
	header, _ := auth["header_name"].(string)
	prefix, hasPrefix := auth["header_prefix"].(string)
	if header == "" {
		header = "Authorization"
		if !hasPrefix {
			prefix = "Bearer"
		}
	}
	if prefix != "" {
		key = prefix + " " + key
	}
	req.Header.Set(header, key)
}
