package server

import "net/http"

// speculating serves r (an operation of claimedBeforeEffects, on a store shared by replicas)
// letting its reads (the access decision's) be answered from what a PostgreSQL store knows of
// its own writes, on condition that the request's first write transaction confirms that
// knowledge (store.Speculation; issue #17: an update of an intent this replica just wrote costs
// one round trip instead of three). The answer is held until then; when the knowledge was stale,
// the request wrote nothing and is served again without it. Nothing the operations of
// claimedBeforeEffects do before their first write transaction outlives it.
func (a *authenticator) speculating(w http.ResponseWriter, r *http.Request, c authorized) {
	ctx, sp := a.access.store.Speculate(r.Context())
	if sp == nil {
		a.serveAuthorized(w, r, c)
		return
	}
	if _, err := bufferBody(r); err != nil { // read again when the request is served again
		writeError(w, r, a.log, badBody(err))
		return
	}
	held := holdResponse(w)
	a.serveAuthorized(held, r.WithContext(ctx), c)
	if sp.Failed() {
		bufferBody(r) // from its start
		a.serveAuthorized(w, r, c)
		return
	}
	held.send(w)
}
