package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/pkg/store"
)

// idempotency makes POST and PATCH requests carrying an Idempotency-Key safe to retry: the first
// response (any status below 500) is stored per principal and key, and a retry with the same
// key, method, path and body gets it again, marked with Idempotent-Replayed: true, without the
// operation running twice. Reusing a key for a different request is refused with 422. Requests
// with the same key are serialised, so a retry racing the original waits for its response. The
// key is claimed in the operation's own transaction, so a retry after a crash that lost the
// response gets 409 idempotency_response_lost instead of running the operation again.
type idempotency struct {
	store *store.Store
	log   *slog.Logger
	locks sync.Map // principal+key -> *keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int // guarded by idempotency.refMu
}

var refMu sync.Mutex

func (d *idempotency) lock(id string) func() {
	refMu.Lock()
	v, _ := d.locks.LoadOrStore(id, &keyLock{})
	l := v.(*keyLock)
	l.refs++
	refMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		refMu.Lock()
		if l.refs--; l.refs == 0 {
			d.locks.Delete(id)
		}
		refMu.Unlock()
	}
}

// serve runs next for r, applying the Idempotency-Key protocol when the request has one.
//
// On a store shared by replicas, the operations of claimedBeforeEffects (claimedFirst) skip the
// database lookup of the key before they run (a round trip): see store.OwnIdempotentResponse.
func (d *idempotency) serve(w http.ResponseWriter, r *http.Request, principal string, claimedFirst bool, next http.Handler) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || (r.Method != http.MethodPost && r.Method != http.MethodPatch) {
		next.ServeHTTP(w, r)
		return
	}
	if len(key) > 255 || checkAgentID(key) != "" {
		e := badRequest("invalid_idempotency_key", "Idempotency-Key must be 1..255 printable characters")
		e.fields = []models.FieldError{{Field: "Idempotency-Key", Message: "must be 1..255 printable characters"}}
		writeError(w, r, d.log, e)
		return
	}
	body, err := bufferBody(r)
	if err != nil {
		writeError(w, r, d.log, badBody(err))
		return
	}
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])

	unlock := d.lock(principal + "\x00" + key)
	defer unlock()
	var prev store.IdempotentResponse
	var found bool
	if d.store.Shared() && claimedFirst {
		prev, found, _ = d.store.OwnIdempotentResponse(principal, key)
	} else {
		prev, found, err = d.store.GetIdempotentResponse(r.Context(), principal, key)
	}
	if found && prev.Status == 0 && err == nil && d.store.Shared() {
		// Claimed and not answered yet: on a store shared by replicas, another one may be
		// carrying the request out right now (here the lock above ruled that out).
		prev, found, err = d.store.AwaitIdempotentResponse(r.Context(), principal, key, otherReplicaWait)
	}
	if err != nil {
		writeError(w, r, d.log, err)
		return
	}
	if found {
		d.replay(w, r, prev, bodyHash)
		return
	}
	// The operation's first write transaction records the claim with its own changes; the
	// response follows it to the database without a commit of its own.
	claim := &store.IdempotencyClaim{Principal: principal, Key: key, Method: r.Method, Path: r.URL.Path, BodyHash: bodyHash}
	rec := holdResponse(w)
	taken := new(atomic.Bool)
	ctx := context.WithValue(store.WithIdempotencyClaim(r.Context(), claim), keyTakenKey{}, taken)
	next.ServeHTTP(rec, r.WithContext(ctx))
	if store.SpeculationFailed(ctx) {
		return // it wrote nothing, and is served again (speculate.go)
	}
	if taken.Load() || (!claim.Written() && d.store.Shared()) {
		// Another replica sharing the store claimed the key first (the same request, sent to
		// both): it carried the request out, and its answer is this one's. Without the claim
		// having failed, this request wrote nothing; it may still have run after the other
		// carried it out and seen its effects (a 409 for an If-Match the other moved on): if the
		// key is claimed now, the other's answer is this one's too.
		prev, found, err := d.store.GetIdempotentResponse(r.Context(), principal, key)
		if err == nil && found && prev.Status == 0 {
			prev, found, err = d.store.AwaitIdempotentResponse(r.Context(), principal, key, otherReplicaWait)
		}
		switch {
		case err != nil && taken.Load():
			writeError(w, r, d.log, err)
			return
		case err != nil: // this request's own answer stands
		case found:
			d.replay(w, r, prev, bodyHash)
			return
		case taken.Load(): // it failed and gave the key up: a retry runs the request
			writeError(w, r, d.log, &apiError{status: http.StatusServiceUnavailable, code: "canceled", retryAfter: time.Second,
				detail: "Another server was carrying out the request with this Idempotency-Key and failed; retry it"})
			return
		}
	}
	rec.send(w)
	if rec.status >= 500 {
		if claim.Written() {
			d.store.ForgetIdempotencyKey(claim) // a failed attempt may be retried for real
		}
		return
	}
	d.store.RecordIdempotentResponse(claim, rec.status, rec.header.Get("Content-Type"), rec.body.Bytes())
}

// claimedBeforeEffects are the operations (operationIds, in lower case: the spec embedded in
// gen/server spells them as Go names) whose handlers have no effect outside
// the store (no outbound request, nothing a rolled back transaction leaves behind) before their
// first write transaction: run for a key already claimed, that transaction fails on the claim
// and they answer with the recorded response, as if looked up first. Any other operation looks
// its key up before it runs.
var claimedBeforeEffects = map[string]bool{
	"createintent":       true,
	"createchildintent":  true,
	"patchintentstate":   true,
	"setintentstatus":    true,
	"createintentevent":  true,
	"assignintentagent":  true,
	"acquireintentlease": true,
	"renewintentlease":   true,
	"releaseintentlease": true,
}

// otherReplicaWait bounds the wait for the answer of another replica carrying out the same
// request (one with the same Idempotency-Key): requests are short.
const otherReplicaWait = 30 * time.Second

// keyTakenKey carries, in a request's context, the flag writeError raises when the request's
// Idempotency-Key was claimed by another replica (store.ErrIdempotencyKeyTaken).
type keyTakenKey struct{}

// noteKeyTaken raises the flag of r's context when err says another replica claimed its key.
func noteKeyTaken(r *http.Request, err error) {
	if errors.Is(err, store.ErrIdempotencyKeyTaken) {
		if f, ok := r.Context().Value(keyTakenKey{}).(*atomic.Bool); ok {
			f.Store(true)
		}
	}
}

// replay answers r with the response recorded for its key, or refuses: 422 when the key was
// used for another request, 409 when that request was carried out but its answer lost.
func (d *idempotency) replay(w http.ResponseWriter, r *http.Request, prev store.IdempotentResponse, bodyHash string) {
	if prev.Method != r.Method || prev.Path != r.URL.Path || prev.BodyHash != bodyHash {
		e := &apiError{status: http.StatusUnprocessableEntity, code: "idempotency_key_reused",
			detail: "Idempotency-Key was already used for a different request"}
		e.fields = []models.FieldError{{Field: "Idempotency-Key", Message: "already used for a different request"}}
		writeError(w, r, d.log, e)
		return
	}
	if prev.Status == 0 {
		writeError(w, r, d.log, &apiError{status: http.StatusConflict, code: "idempotency_response_lost",
			detail: "The request with this Idempotency-Key was carried out, but the server stopped before recording its response; read the resource instead of retrying"})
		return
	}
	w.Header().Set("Content-Type", prev.ContentType)
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(prev.Status)
	w.Write(prev.Body)
}

// heldResponse is a response held in memory (headers, status and body) until send passes it on,
// so that an answer may still be replaced: by another replica's (idempotency), or by the
// request served again (speculate.go).
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

// holdResponse returns a held response starting with w's headers.
func holdResponse(w http.ResponseWriter) *heldResponse {
	return &heldResponse{header: w.Header().Clone(), status: http.StatusOK}
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if !h.wrote {
		h.status, h.wrote = status, true
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.wrote = true
	return h.body.Write(b)
}

// send writes the held response to w, headers and all.
func (h *heldResponse) send(w http.ResponseWriter) {
	clear(w.Header())
	maps.Copy(w.Header(), h.header)
	w.WriteHeader(h.status)
	w.Write(h.body.Bytes())
}
