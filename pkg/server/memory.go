package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
	"github.com/openintent-go/openintent/pkg/timestamp"
)

// kindMemory is the record kind of RFC-0015 memory entries (parent = the agent; unique key
// agent/namespace/key; an entry with a TTL expires with its record).
const kindMemory = "memory"

var isoDuration = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseTTL reads a time to live: whole seconds ("3600") or an ISO 8601 duration of weeks, days,
// hours, minutes and seconds ("PT1H", "P1DT12H").
func parseTTL(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, errors.New("must be positive")
		}
		return time.Duration(n) * time.Second, nil
	}
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("%q is neither seconds nor an ISO 8601 duration like PT1H", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[5] != "" {
		f, _ := strconv.ParseFloat(m[5], 64)
		d += time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// applyTTL sets an entry's ttl and expiry (on the entry and its record) counted from now.
func applyTTL(e *models.MemoryEntry, r *store.Record, ttl string, now time.Time) error {
	d, err := parseTTL(ttl)
	if err != nil {
		return validationFailed("ttl", err.Error())
	}
	at := now.Add(d)
	e.TTL, e.ExpiresAt, r.ExpiresAt = &ttl, timestamp.New(at), &at
	return nil
}

func (h *handlers) CreateMemoryEntry(ctx context.Context, req genserver.CreateMemoryEntryRequestObject) (genserver.CreateMemoryEntryResponseObject, error) {
	b := req.Body
	for name, v := range map[string]string{"namespace": b.Namespace, "key": b.Key} {
		if strings.TrimSpace(v) == "" {
			return nil, validationFailed(name, "must not be empty")
		}
	}
	if b.Value == nil {
		return nil, validationFailed("value", "is required")
	}
	agent, err := actorField(ctx, "agent_id", b.AgentID)
	if err != nil {
		return nil, err
	}
	e := models.MemoryEntry{AgentID: agent, Namespace: b.Namespace, Key: b.Key, Value: b.Value, MemoryType: b.MemoryType,
		Version: 1, Tags: nonNil(b.Tags), Pinned: b.Pinned, Priority: b.Priority}
	if e.MemoryType == "" {
		e.MemoryType = models.MemoryTypeWorking
	}
	if e.Priority == "" {
		e.Priority = "normal"
	}
	if b.Scope != nil {
		e.Scope = b.Scope
	}
	if b.Sensitivity != "" {
		e.Sensitivity = &b.Sensitivity
	}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		e.ID = store.NewID()
		e.CreatedAt, e.UpdatedAt = w.Timestamp(), w.Timestamp()
		r := store.Record{Kind: kindMemory, ID: e.ID, Parent: e.AgentID, Ref: e.Namespace, Key: memoryKey(e)}
		if b.TTL != "" {
			if err := applyTTL(&e, &r, b.TTL, w.Now()); err != nil {
				return err
			}
		}
		_, err := w.Insert(r, e)
		if errors.Is(err, store.ErrDuplicate) {
			return conflict("duplicate_key", fmt.Sprintf("Agent %s already has key %q in namespace %q; update it with PATCH", e.AgentID, e.Key, e.Namespace))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateMemoryEntry200JSONResponse(e), nil
}

// memoryKey is an entry's unique key: agent, namespace and key, each length-prefixed.
func memoryKey(e models.MemoryEntry) string {
	return fmt.Sprintf("%d:%s/%d:%s/%s", len(e.AgentID), e.AgentID, len(e.Namespace), e.Namespace, e.Key)
}

func (h *handlers) GetMemoryEntry(ctx context.Context, req genserver.GetMemoryEntryRequestObject) (genserver.GetMemoryEntryResponseObject, error) {
	e, err := store.Get[models.MemoryEntry](ctx, h.store, kindMemory, req.EntryID)
	if err != nil {
		return nil, err
	}
	return genserver.GetMemoryEntry200JSONResponse(e), nil
}

func (h *handlers) UpdateMemoryEntry(ctx context.Context, req genserver.UpdateMemoryEntryRequestObject) (genserver.UpdateMemoryEntryResponseObject, error) {
	b := req.Body
	var e models.MemoryEntry
	err := h.store.Write(ctx, func(w *store.Writer) error {
		var err error
		e, err = store.Modify(w, kindMemory, req.EntryID, req.Params.IfMatch, func(e *models.MemoryEntry, r *store.Record) error {
			if b.Value != nil {
				e.Value = b.Value
			}
			if b.Tags != nil {
				e.Tags = b.Tags
			}
			if b.Pinned != nil {
				e.Pinned = *b.Pinned
			}
			if b.Priority != "" {
				e.Priority = b.Priority
			}
			if b.TTL != nil {
				if err := applyTTL(e, r, *b.TTL, w.Now()); err != nil {
					return err
				}
			}
			e.Version, e.UpdatedAt = r.Version+1, w.Timestamp()
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.UpdateMemoryEntry200JSONResponse(e), nil
}

func (h *handlers) DeleteMemoryEntry(ctx context.Context, req genserver.DeleteMemoryEntryRequestObject) (genserver.DeleteMemoryEntryResponseObject, error) {
	err := h.store.Write(ctx, func(w *store.Writer) error { return w.Delete(kindMemory, req.EntryID) })
	if err != nil {
		return nil, err
	}
	return genserver.DeleteMemoryEntry200JSONResponse{Status: "deleted", EntryID: req.EntryID}, nil
}

func (h *handlers) ListAgentMemory(ctx context.Context, req genserver.ListAgentMemoryRequestObject) (genserver.ListAgentMemoryResponseObject, error) {
	p := req.Params
	es, err := store.List[models.MemoryEntry](ctx, h.store, store.Query{Kind: kindMemory, Parent: req.AgentID, Ref: p.Namespace})
	if err != nil {
		return nil, err
	}
	var tags []string
	for t := range strings.SplitSeq(p.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	out := make([]models.MemoryEntry, 0, len(es))
	for _, e := range es {
		if p.MemoryType != "" && string(e.MemoryType) != p.MemoryType {
			continue
		}
		if !slices.ContainsFunc(tags, func(t string) bool { return !slices.Contains(e.Tags, t) }) {
			out = append(out, e)
		}
	}
	return genserver.ListAgentMemory200JSONResponse(page(out, int(p.Limit), int(p.Offset), 100)), nil
}
