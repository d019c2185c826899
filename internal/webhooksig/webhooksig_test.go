package webhooksig_test

import (
	"encoding/hex"
	"testing"

	"github.com/openintent-go/openintent/internal/webhooksig"
)

// The signature is the wire contract with every receiver: a vector computed independently
// (Python's hmac module) pins it.
func TestSumMatchesAnIndependentHMAC(t *testing.T) {
	got := hex.EncodeToString(webhooksig.Sum("whsec-example", 1700000000, []byte(`{"event":{}}`)))
	if want := "cfe3cff1e4bce0fbb94a323e30b3ad9eb7a57f7837c5412fb68843e185338cc3"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}
