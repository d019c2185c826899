// Package webhooksig computes the signature of a webhook delivery, shared by the server that
// signs deliveries and the SDK that verifies them.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
)

// Sum returns the HMAC-SHA256, keyed by secret, of "<timestamp>.<body>" (timestamp in Unix
// seconds, as sent in X-OpenIntent-Timestamp).
func Sum(secret string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
