// Package fedsig holds the wire form of RFC-0023 federation signatures, shared by the server
// (which signs and verifies) and the SDK (which signs and verifies offline): a server signs the
// canonical JSON (RFC 8785, package canonical) of a request body, a JSON object, without its
// "signature" member, with its Ed25519 key, and sends the body with "signature" set to that
// signature in base64url without padding. Every other member is covered, including ones the
// receiver does not know, because the receiver verifies the body as it was sent, not as it
// decoded it.
package fedsig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/openintent-go/openintent/internal/agentkey"
	"github.com/openintent-go/openintent/internal/canonical"
)

// Member is the name of the body member that holds the signature.
const Member = "signature"

// ErrNoSignature reports a body without a signature member (or with an empty one).
var ErrNoSignature = errors.New("the body has no signature")

// ErrBadSignature reports a signature that does not verify with the key.
var ErrBadSignature = errors.New("the signature does not verify")

// decodeObject reads one JSON object, numbers kept exact.
func decodeObject(body []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("fedsig: the body is not a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("fedsig: the body is not a JSON object")
	}
	return m, nil
}

// Input returns the bytes a body's signature covers: the canonical JSON of the JSON object body
// without its signature member. A body with a duplicated member name is refused (two parsers
// could read it differently).
func Input(body []byte) ([]byte, error) {
	// Transform refuses duplicate names; the object is then read again to drop the signature.
	if _, err := canonical.Transform(body); err != nil {
		return nil, err
	}
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	delete(m, Member)
	return canonical.Marshal(m)
}

// Sign returns body (a JSON object) in canonical JSON with its signature member set to sign's
// signature of Input(body), in base64url without padding. sign is an Ed25519 signer (a server's
// or an SDK identity's).
func Sign(body []byte, sign func(msg []byte) []byte) ([]byte, error) {
	msg, err := Input(body)
	if err != nil {
		return nil, err
	}
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	m[Member] = agentkey.EncodeSignature(sign(msg))
	return canonical.Marshal(m)
}

// Signature returns the signature member of body ("" when absent or not a string).
func Signature(body []byte) string {
	var m struct {
		Signature any `json:"signature"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	s, _ := m.Signature.(string)
	return s
}

// Verify checks that body's signature member is pub's signature of Input(body): ErrNoSignature
// when it has none, ErrBadSignature when it does not verify.
func Verify(pub ed25519.PublicKey, body []byte) error {
	sig := Signature(body)
	if sig == "" {
		return ErrNoSignature
	}
	msg, err := Input(body)
	if err != nil {
		return err
	}
	if !agentkey.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// NormalizeURL returns a server's base URL in the form federation compares: scheme and host in
// lower case, no default port, no trailing slash, no query, fragment or user information. It
// refuses what is not an absolute http or https URL.
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("must be an absolute http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must have no user information, query or fragment")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// Origin returns the scheme, host and port of a normalized URL (what NormalizeURL returns).
func Origin(normalized string) string {
	rest := normalized[strings.Index(normalized, "://")+3:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return normalized[:len(normalized)-len(rest)+i]
	}
	return normalized
}
