package server

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/openintent-go/openintent/api"
)

// servedSpec is api/openapi.yaml as written, in JSON, made on the first GET /openapi.json. The
// embedded copy the server validates with is generated through api/codegen-overlay.yaml and
// lacks what the overlay hides (the Idempotency-Key declarations); clients get the whole
// contract.
var servedSpec = sync.OnceValues(func() ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("server: load api/openapi.yaml: %w", err)
	}
	return doc.MarshalJSON()
})

// serveSpec answers GET /openapi.json.
func serveSpec(w http.ResponseWriter, r *http.Request) {
	b, err := servedSpec()
	if err != nil {
		writeError(w, r, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
