package server_test

import (
	"regexp"
	"testing"

	rfctexts "github.com/openintent-go/openintent/internal/rfcs"
)

// TestDiscoveryLinksTheRFCTexts: every rfcUrls entry of the discovery document is the address of
// an RFC text published in the reference implementation's repository (docs/rfcs/NNNN-title.md;
// nothing is fetched), one for each RFC the compatibility document names.
func TestDiscoveryLinksTheRFCTexts(t *testing.T) {
	e := newEnv(t)
	urls, _ := e.must(200, "GET", "/.well-known/openintent.json", nil).body["rfcUrls"].([]any)
	compliance, _ := e.must(200, "GET", "/.well-known/openintent-compat.json", nil).body["rfcCompliance"].(map[string]any)
	if len(urls) == 0 || len(urls) != len(compliance) {
		t.Fatalf("rfcUrls %v for the RFCs %v", urls, compliance)
	}
	form := regexp.MustCompile(`^https://github\.com/openintent-ai/openintent/blob/main/docs/rfcs/([0-9]{4})-[a-z0-9-]+\.md$`)
	for _, u := range urls {
		s, _ := u.(string)
		m := form.FindStringSubmatch(s)
		if m == nil || !rfctexts.IsURL(s) {
			t.Errorf("rfcUrls entry %q is not the address of an RFC text", s)
			continue
		}
		if _, ok := compliance["RFC-"+m[1]]; !ok {
			t.Errorf("rfcUrls names RFC-%s, which the compatibility document does not", m[1])
		}
	}
}
