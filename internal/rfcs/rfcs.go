// Package rfcs names the texts of the OpenIntent RFCs, published in the reference
// implementation's repository (openintent-ai/openintent, docs/rfcs/), so that documentation and
// the server's discovery document link to them.
package rfcs

import (
	"slices"
	"strings"
)

// Base is the address of the directory holding the RFC texts.
const Base = "https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/"

// files are the RFC texts of docs/rfcs/, by number.
var files = map[string]string{
	"0001": "0001-intent-objects.md",
	"0002": "0002-intent-graphs.md",
	"0003": "0003-agent-leasing.md",
	"0004": "0004-governance-arbitration.md",
	"0005": "0005-attachments.md",
	"0006": "0006-subscriptions.md",
	"0007": "0007-intent-portfolios.md",
	"0008": "0008-llm-integration.md",
	"0009": "0009-cost-tracking.md",
	"0010": "0010-retry-policies.md",
	"0011": "0011-access-control.md",
	"0012": "0012-task-decomposition-planning.md",
	"0013": "0013-coordinator-governance.md",
	"0014": "0014-credential-vaults-tool-scoping.md",
	"0015": "0015-agent-memory-persistent-state.md",
	"0016": "0016-agent-lifecycle-health.md",
	"0017": "0017-triggers-reactive-scheduling.md",
	"0018": "0018-cryptographic-agent-identity.md",
	"0019": "0019-verifiable-event-logs.md",
	"0020": "0020-distributed-tracing.md",
	"0021": "0021-agent-to-agent-messaging.md",
	"0022": "0022-federation-protocol.md",
	"0023": "0023-federation-security.md",
	"0024": "0024-workflow-io-contracts.md",
	"0025": "0025-human-in-the-loop.md",
	"0026": "0026-suspension-container-interaction.md",
}

// URL returns the address of the text of RFC number id ("0019"; "RFC-0019" is accepted too), and
// whether there is such an RFC.
func URL(id string) (string, bool) {
	f, ok := files[strings.TrimPrefix(id, "RFC-")]
	if !ok {
		return "", false
	}
	return Base + f, true
}

// Files returns the file names of the RFC texts, in order.
func Files() []string {
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// IsURL reports whether u is the address of an RFC text: Base followed by one of Files.
func IsURL(u string) bool {
	f, ok := strings.CutPrefix(u, Base)
	return ok && slices.Contains(Files(), f)
}
