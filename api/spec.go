// Package api holds api/openapi.yaml, the hand-written OpenAPI description of the OpenIntent
// protocol: the contract SDKs in every language are generated from (see README.md).
package api

import _ "embed"

// OpenAPIYAML is api/openapi.yaml as written. The Go code in gen/ is generated from it through
// api/codegen-overlay.yaml, which hides what the Go server handles outside its generated
// handlers; servers serve this document itself at GET /openapi.json.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
