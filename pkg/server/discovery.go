package server

import (
	"context"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	rfctexts "github.com/openintent-go/openintent/internal/rfcs"
)

// ProtocolVersion is the protocol version the server announces.
const ProtocolVersion = "0.1"

// Version is the implementation version in the compatibility document.
const Version = "0.1.0"

// rfcs lists what this server implements, with its level of compliance.
var rfcs = []struct{ id, level string }{
	{"0001", "full"}, {"0002", "full"}, {"0003", "full"},
	{"0018", "partial"},
	{"0022", "partial"}, {"0023", "partial"}, // federation: allow-list trust only (federation.go)
}

func (h *handlers) GetDiscoveryDocument(context.Context, genserver.GetDiscoveryDocumentRequestObject) (genserver.GetDiscoveryDocumentResponseObject, error) {
	// The RFC texts themselves (the reference implementation's /rfc/NNNN paths are not served).
	urls := make([]string, 0, len(rfcs))
	for _, r := range rfcs {
		if u, ok := rfctexts.URL(r.id); ok {
			urls = append(urls, u)
		}
	}
	return genserver.GetDiscoveryDocument200JSONResponse(models.DiscoveryDocument{
		Protocol:     "OpenIntent Coordination Protocol",
		Version:      ProtocolVersion,
		RfcUrls:      urls,
		Capabilities: []string{"intents", "events", "agents", "state-patches", "optimistic-concurrency", "intent-graphs", "leasing"},
		OpenAPIURL:   "/openapi.json",
	}), nil
}

func (h *handlers) GetCompatibilityDocument(context.Context, genserver.GetCompatibilityDocumentRequestObject) (genserver.GetCompatibilityDocumentResponseObject, error) {
	compliance := map[string]string{}
	for _, r := range rfcs {
		compliance["RFC-"+r.id] = r.level
	}
	return genserver.GetCompatibilityDocument200JSONResponse(models.CompatibilityDocument{
		Implementation: "OpenIntent Go Server",
		Version:        Version,
		RfcCompliance:  compliance,
		Features: map[string]bool{"intents": true, "events": true, "agents": true, "statePatches": true,
			"optimisticConcurrency": true, "leasing": true, "intentGraphs": true},
	}), nil
}

func (h *handlers) GetServerConfig(context.Context, genserver.GetServerConfigRequestObject) (genserver.GetServerConfigResponseObject, error) {
	return genserver.GetServerConfig200JSONResponse(models.ServerConfig{ProtocolVersion: ProtocolVersion,
		Suspension: models.SuspensionConfig{DefaultRetryPolicy: h.suspensions.defaultPolicyObject()}}), nil
}
