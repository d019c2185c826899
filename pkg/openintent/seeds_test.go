package openintent_test

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// seedNames maps Python method names that Go's naming rules do not give directly.
var seedNames = map[string]string{
	"__init__": "", // NewClient
	"lease":    "WithLease",
	// Python names whose Go counterpart is named after the operation it calls (README's table).
	"add_attachment":           "CreateAttachment",
	"get_attachments":          "ListAttachments",
	"get_costs":                "ListCosts",
	"get_failures":             "ListFailures",
	"get_intent_portfolios":    "ListIntentPortfolios",
	"get_subscriptions":        "ListSubscriptions",
	"remove_governance_policy": "DeleteGovernancePolicy",
	"request_approval":         "CreateApprovalRequest",
	"get_approval_status":      "GetApprovalRequest",
	"approve_approval":         "ApproveApprovalRequest",
	"deny_approval":            "DenyApprovalRequest",
	"escalate_to_human":        "CreateEscalation",
	"subscribe_sse":            "StreamIntentEvents",
	"subscribe_portfolio":      "StreamPortfolioEvents",
	"subscribe_agent":          "StreamAgentEvents",
}

// goName applies Go's naming rules to a Python method name: CamelCase with initialisms
// upper-cased (log_llm_request_started -> LogLLMRequestStarted).
func goName(py string) string {
	if n, ok := seedNames[py]; ok {
		return n
	}
	var b strings.Builder
	for _, part := range strings.Split(py, "_") {
		switch part {
		case "llm", "id", "url", "api", "acl", "sse":
			b.WriteString(strings.ToUpper(part))
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// TestEverySeedMethodIsAClientMethod checks that every method of both Python SDK clients
// (testdata/seed_methods.txt, from the Python SDK's reference) has its Go counterpart on
// *Client under Go's name for it.
func TestEverySeedMethodIsAClientMethod(t *testing.T) {
	f, err := os.Open("testdata/seed_methods.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	client := reflect.TypeOf(&openintent.Client{})
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		py := strings.TrimSpace(sc.Text())
		if py == "" {
			continue
		}
		n++
		name := goName(py)
		if name == "" {
			continue
		}
		m, ok := client.MethodByName(name)
		if !ok {
			t.Errorf("seed method %s: (*Client).%s is missing", py, name)
			continue
		}
		if name != "Close" && (m.Type.NumIn() < 2 || m.Type.In(1).String() != "context.Context") { // Close is an io.Closer
			t.Errorf("(*Client).%s does not take a context.Context first", name)
		}
	}
	if n < 70 {
		t.Fatalf("read only %d seed methods", n)
	}
}
