package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	genserver "github.com/openintent-go/openintent/gen/server"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0011 access control.
const (
	kindACL           = "acl"       // id = intent id; body: aclPolicy
	kindACLEntry      = "acl_entry" // parent = intent id
	kindAccessRequest = "access_request"
)

// aclPolicy is the stored default policy of an intent's ACL.
type aclPolicy struct {
	DefaultPolicy models.AccessPolicy `json:"default_policy"`
}

// permissionLevel orders permissions: each includes the ones before it.
func permissionLevel(p string) int {
	switch models.Permission(p) {
	case models.PermissionRead:
		return 1
	case models.PermissionWrite:
		return 2
	case models.PermissionAdmin:
		return 3
	}
	return 0
}

// accessControl enforces intents' ACLs (RFC-0011) on every intent route. It keeps nothing in
// memory: whether an intent's ACL is closed is read from the store on each decision (one record
// read), so that replicas of the server sharing a store all see an ACL change at once.
type accessControl struct {
	store *store.Store
}

func newAccessControl(st *store.Store) *accessControl { return &accessControl{store: st} }

// isClosed reports whether an intent's ACL is closed.
func (ac *accessControl) isClosed(ctx context.Context, intentID string) (bool, error) {
	p, err := store.Get[aclPolicy](ctx, ac.store, kindACL, intentID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return p.DefaultPolicy == models.AccessPolicyClosed, err
}

// closedSet returns the ids of the intents whose ACL is closed (one read of the store), for
// decisions on many intents at once.
func (ac *accessControl) closedSet(ctx context.Context) (map[string]bool, error) {
	rs, err := ac.store.ListRecords(ctx, store.Query{Kind: kindACL})
	if err != nil {
		return nil, err
	}
	closed := map[string]bool{}
	for _, r := range rs {
		var p aclPolicy
		if err := r.Decode(&p); err != nil {
			return nil, err
		}
		if p.DefaultPolicy == models.AccessPolicyClosed {
			closed[r.ID] = true
		}
	}
	return closed, nil
}

// check returns a 403 error when agent may not make a request needing need on intentID.
func (ac *accessControl) check(ctx context.Context, intentID, agent string, need models.Permission) error {
	ok, err := ac.allows(ctx, intentID, agent, need)
	if err != nil || ok {
		return err
	}
	why := "its ACL is closed"
	if need == models.PermissionAdmin {
		why = "admin is its creator's or an admin entry's"
	}
	return forbidden("forbidden", fmt.Sprintf("Agent %s lacks %s permission on intent %s (%s); request access with POST /api/v1/intents/%s/access-requests", agent, need, intentID, why, intentID))
}

// permits reports whether agent may do what needs need on intent in: when agent created it,
// when its ACL is open and need is read or write, else when agent holds an unexpired entry
// granting need or more. Admin (changing the ACL or the governance policy) is never implied by
// an open ACL.
func (ac *accessControl) permits(ctx context.Context, in models.Intent, agent string, need models.Permission) (bool, error) {
	if in.CreatedBy == agent {
		return true, nil
	}
	closed := true
	if need != models.PermissionAdmin {
		var err error
		if closed, err = ac.isClosed(ctx, in.ID); err != nil {
			return false, err
		}
	}
	return ac.permitsKnowing(ctx, in, agent, need, closed)
}

// permitsKnowing is permits for an intent whose ACL is known to be closed or not.
func (ac *accessControl) permitsKnowing(ctx context.Context, in models.Intent, agent string, need models.Permission, closed bool) (bool, error) {
	if in.CreatedBy == agent || (need != models.PermissionAdmin && !closed) {
		return true, nil
	}
	entries, err := store.List[models.ACLEntry](ctx, ac.store, store.Query{Kind: kindACLEntry, Parent: in.ID})
	if err != nil {
		return false, err
	}
	now := ac.store.Now()
	for _, e := range entries {
		if e.PrincipalID == agent && permissionLevel(string(e.Permission)) >= permissionLevel(string(need)) &&
			(e.ExpiresAt.IsZero() || e.ExpiresAt.After(now)) {
			return true, nil
		}
	}
	return false, nil
}

// allows is the one access decision on intents: whether agent may do what needs need on
// intent intentID (see permits). It is true when nothing is needed, and for an intent that does
// not exist (its route answers 404; a list has nothing to hide).
func (ac *accessControl) allows(ctx context.Context, intentID, agent string, need models.Permission) (bool, error) {
	if need == "" {
		return true, nil
	}
	closed := true
	if need != models.PermissionAdmin {
		var err error
		if closed, err = ac.isClosed(ctx, intentID); err != nil || !closed {
			return err == nil, err
		}
	}
	in, err := ac.store.GetIntent(ctx, intentID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return ac.permitsKnowing(ctx, in, agent, need, closed)
}

// hidden returns the ids of the closed intents agent may not read, which lists leave out.
func (ac *accessControl) hidden(ctx context.Context, agent string) ([]string, error) {
	closed, err := ac.closedSet(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for id := range closed {
		in, err := ac.store.GetIntent(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ok, err := ac.permitsKnowing(ctx, in, agent, models.PermissionRead, true)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readable keeps the intents of ins the caller may read (RFC-0011): lists never show an
// intent whose ACL is closed to the caller.
func (h *handlers) readable(ctx context.Context, ins []models.Intent) ([]models.Intent, error) {
	out := make([]models.Intent, 0, len(ins))
	if len(ins) == 0 {
		return out, nil
	}
	closed, err := h.access.closedSet(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		ok, err := h.access.permitsKnowing(ctx, in, agentFrom(ctx), models.PermissionRead, closed[in.ID])
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, in)
		}
	}
	return out, nil
}

func (h *handlers) GetIntentACL(ctx context.Context, req genserver.GetIntentACLRequestObject) (genserver.GetIntentACLResponseObject, error) {
	acl, err := h.readACL(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.GetIntentACL200JSONResponse(acl), nil
}

func (h *handlers) readACL(ctx context.Context, intentID string) (models.ACL, error) {
	acl := models.ACL{IntentID: intentID, DefaultPolicy: models.AccessPolicyOpen}
	if _, err := h.store.GetIntent(ctx, intentID); err != nil {
		return acl, err
	}
	p, err := store.Get[aclPolicy](ctx, h.store, kindACL, intentID)
	switch {
	case err == nil:
		acl.DefaultPolicy = p.DefaultPolicy
	case !errors.Is(err, store.ErrNotFound):
		return acl, err
	}
	acl.Entries, err = store.List[models.ACLEntry](ctx, h.store, store.Query{Kind: kindACLEntry, Parent: intentID})
	return acl, err
}

// newEntry validates an entry to grant and fills its defaults.
func newEntry(field string, intentID, grantedBy string, c models.ACLEntryCreate, now models.Timestamp) (models.ACLEntry, error) {
	if strings.TrimSpace(c.PrincipalID) == "" {
		return models.ACLEntry{}, validationFailed(field+"principal_id", "must not be empty")
	}
	e := models.ACLEntry{ID: store.NewID(), IntentID: intentID, PrincipalID: c.PrincipalID, PrincipalType: c.PrincipalType,
		Permission: c.Permission, GrantedBy: grantedBy, GrantedAt: now, ExpiresAt: c.ExpiresAt}
	if e.PrincipalType == "" {
		e.PrincipalType = "agent"
	}
	if e.Permission == "" {
		e.Permission = models.PermissionRead
	}
	if permissionLevel(string(e.Permission)) == 0 {
		return e, validationFailed(field+"permission", "must be read, write or admin")
	}
	if c.Reason != "" {
		r := c.Reason
		e.Reason = &r
	}
	return e, nil
}

func (h *handlers) PutIntentACL(ctx context.Context, req genserver.PutIntentACLRequestObject) (genserver.PutIntentACLResponseObject, error) {
	b := req.Body
	pol := b.DefaultPolicy
	if pol == "" {
		pol = models.AccessPolicyOpen
	}
	if pol != models.AccessPolicyOpen && pol != models.AccessPolicyClosed {
		return nil, validationFailed("default_policy", "must be open or closed")
	}
	agent := agentFrom(ctx)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		old, err := w.List(store.Query{Kind: kindACLEntry, Parent: req.IntentID})
		if err != nil {
			return err
		}
		for _, r := range old {
			if err := w.Delete(kindACLEntry, r.ID); err != nil {
				return err
			}
		}
		for i, c := range b.Entries {
			e, err := newEntry(fmt.Sprintf("entries/%d/", i), req.IntentID, agent, c, w.Timestamp())
			if err != nil {
				return err
			}
			if _, err := w.Insert(store.Record{Kind: kindACLEntry, ID: e.ID, Parent: req.IntentID, Ref: e.PrincipalID}, e); err != nil {
				return err
			}
		}
		if err := w.Delete(kindACL, req.IntentID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := w.Insert(store.Record{Kind: kindACL, ID: req.IntentID, Parent: req.IntentID}, aclPolicy{DefaultPolicy: pol}); err != nil {
			return err
		}
		_, err = w.AppendEvent(req.IntentID, "access_granted", agent, models.Object{"action": "acl_set", "default_policy": string(pol), "entries": len(b.Entries)})
		return err
	})
	if err != nil {
		return nil, err
	}
	acl, err := h.readACL(ctx, req.IntentID)
	if err != nil {
		return nil, err
	}
	return genserver.PutIntentACL200JSONResponse(acl), nil
}

func (h *handlers) CreateIntentACLEntry(ctx context.Context, req genserver.CreateIntentACLEntryRequestObject) (genserver.CreateIntentACLEntryResponseObject, error) {
	var e models.ACLEntry
	agent := agentFrom(ctx)
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		var err error
		if e, err = newEntry("", req.IntentID, agent, *req.Body, w.Timestamp()); err != nil {
			return err
		}
		if _, err := w.Insert(store.Record{Kind: kindACLEntry, ID: e.ID, Parent: req.IntentID, Ref: e.PrincipalID}, e); err != nil {
			return err
		}
		_, err = w.AppendEvent(req.IntentID, "access_granted", agent, models.Object{"entry_id": e.ID, "principal_id": e.PrincipalID, "permission": string(e.Permission)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateIntentACLEntry200JSONResponse(e), nil
}

func (h *handlers) DeleteIntentACLEntry(ctx context.Context, req genserver.DeleteIntentACLEntryRequestObject) (genserver.DeleteIntentACLEntryResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindACLEntry, req.EntryID)
		if err != nil {
			return err
		}
		if r.Parent != req.IntentID {
			return &store.NotFoundError{Detail: "ACL entry not found"}
		}
		if err := w.Delete(kindACLEntry, r.ID); err != nil {
			return err
		}
		_, err = w.AppendEvent(req.IntentID, "access_revoked", agentFrom(ctx), models.Object{"entry_id": r.ID, "principal_id": r.Ref})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.DeleteIntentACLEntry204Response{}, nil
}

func (h *handlers) CreateAccessRequest(ctx context.Context, req genserver.CreateAccessRequestRequestObject) (genserver.CreateAccessRequestResponseObject, error) {
	b := req.Body
	a := models.AccessRequest{IntentID: req.IntentID, PrincipalID: b.PrincipalID, PrincipalType: b.PrincipalType,
		RequestedPermission: b.RequestedPermission, Reason: b.Reason, Capabilities: b.Capabilities, Status: models.AccessRequestStatusPending}
	var err error
	if a.PrincipalID, err = actorField(ctx, "principal_id", b.PrincipalID); err != nil {
		return nil, err
	}
	if a.PrincipalType == "" {
		a.PrincipalType = "agent"
	}
	if a.RequestedPermission == "" {
		a.RequestedPermission = models.PermissionWrite
	}
	if permissionLevel(string(a.RequestedPermission)) == 0 {
		return nil, validationFailed("requested_permission", "must be read, write or admin")
	}
	a.Capabilities = nonNil(a.Capabilities)
	err = h.store.Write(ctx, func(w *store.Writer) error {
		if _, err := w.Intent(req.IntentID); err != nil {
			return err
		}
		a.ID, a.CreatedAt = store.NewID(), w.Timestamp()
		if _, err := w.Insert(store.Record{Kind: kindAccessRequest, ID: a.ID, Parent: a.IntentID}, a); err != nil {
			return err
		}
		_, err := w.AppendEvent(a.IntentID, "access_requested", a.PrincipalID,
			models.Object{"request_id": a.ID, "requested_permission": string(a.RequestedPermission), "capabilities": a.Capabilities})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateAccessRequest200JSONResponse(a), nil
}

func (h *handlers) ListAccessRequests(ctx context.Context, req genserver.ListAccessRequestsRequestObject) (genserver.ListAccessRequestsResponseObject, error) {
	if _, err := h.store.GetIntent(ctx, req.IntentID); err != nil {
		return nil, err
	}
	as, err := store.List[models.AccessRequest](ctx, h.store, store.Query{Kind: kindAccessRequest, Parent: req.IntentID})
	if err != nil {
		return nil, err
	}
	return genserver.ListAccessRequests200JSONResponse{AccessRequests: as}, nil
}

func (h *handlers) ApproveAccessRequest(ctx context.Context, req genserver.ApproveAccessRequestRequestObject) (genserver.ApproveAccessRequestResponseObject, error) {
	a, err := h.decideAccess(ctx, req.IntentID, req.RequestID, true, req.Body)
	if err != nil {
		return nil, err
	}
	return genserver.ApproveAccessRequest200JSONResponse(a), nil
}

func (h *handlers) DenyAccessRequest(ctx context.Context, req genserver.DenyAccessRequestRequestObject) (genserver.DenyAccessRequestResponseObject, error) {
	a, err := h.decideAccess(ctx, req.IntentID, req.RequestID, false, req.Body)
	if err != nil {
		return nil, err
	}
	return genserver.DenyAccessRequest200JSONResponse(a), nil
}

// decideAccess approves (granting an ACL entry) or denies a pending access request.
// The body is optional: without one, the request is decided as asked.
func (h *handlers) decideAccess(ctx context.Context, intentID, id string, approve bool, body *models.AccessRequestDecision) (models.AccessRequest, error) {
	var a models.AccessRequest
	var d models.AccessRequestDecision
	if body != nil {
		d = *body
	}
	decider, err := actorField(ctx, "decided_by", d.DecidedBy)
	if err != nil {
		return a, err
	}
	if d.Permission != "" && permissionLevel(string(d.Permission)) == 0 {
		return a, validationFailed("permission", "must be read, write or admin")
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		r, err := w.Get(kindAccessRequest, id)
		if err != nil {
			return err
		}
		if err := r.Decode(&a); err != nil {
			return err
		}
		if a.IntentID != intentID {
			return &store.NotFoundError{Detail: "Access request not found"}
		}
		if a.Status != models.AccessRequestStatusPending {
			return conflict("already_decided", "Access request is already "+string(a.Status))
		}
		now := w.Timestamp()
		a.DecidedBy, a.DecidedAt = &decider, now
		if d.Reason != "" {
			reason := d.Reason
			a.DecisionReason = &reason
		}
		ev := models.Object{"request_id": a.ID, "principal_id": a.PrincipalID}
		if approve {
			a.Status = models.AccessRequestStatusApproved
			perm := d.Permission
			if perm == "" {
				perm = models.Permission(a.RequestedPermission)
			}
			e, err := newEntry("", intentID, decider, models.ACLEntryCreate{PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType,
				Permission: perm, ExpiresAt: d.ExpiresAt, Reason: d.Reason}, now)
			if err != nil {
				return err
			}
			if _, err := w.Insert(store.Record{Kind: kindACLEntry, ID: e.ID, Parent: intentID, Ref: e.PrincipalID}, e); err != nil {
				return err
			}
			ev["permission"], ev["entry_id"] = string(perm), e.ID
		} else {
			a.Status = models.AccessRequestStatusDenied
			ev["reason"] = d.Reason
		}
		if _, err := w.Update(r, a); err != nil {
			return err
		}
		typ := "access_request_denied"
		if approve {
			typ = "access_request_approved"
		}
		_, err = w.AppendEvent(intentID, typ, decider, ev)
		return err
	})
	return a, err
}
