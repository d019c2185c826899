// Package agentkey holds the wire forms of RFC-0018 cryptographic identity, shared by the server
// (which verifies) and the SDK (which signs and verifies offline): Ed25519 public keys as
// `ed25519:<base64url>`, their `did:key` DIDs, signatures, and the exact bytes each signature
// covers (a challenge, a key rotation, a payload, an event).
package agentkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/openintent-go/openintent/internal/canonical"
)

const (
	// Algorithm is the one key algorithm of RFC-0018.
	Algorithm = "Ed25519"
	// Prefix starts a public key's wire form.
	Prefix = "ed25519:"
	// ProofType is the `type` of an event's proof.
	ProofType = "Ed25519Signature2026"
	// DIDPrefix starts a did:key DID.
	DIDPrefix = "did:key:"
	// VerificationKeyType is the type of an Ed25519 key in a DID document.
	VerificationKeyType = "Ed25519VerificationKey2020"
)

// multicodec is the varint of the ed25519-pub multicodec (0xed) that prefixes the key bytes in
// a did:key.
var multicodec = []byte{0xed, 0x01}

// spkiPrefix starts the DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410); the 32 key
// bytes follow.
var spkiPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

// Format returns the wire form of a public key: "ed25519:" and its 32 bytes in base64url
// without padding.
func Format(pub ed25519.PublicKey) string {
	return Prefix + base64.RawURLEncoding.EncodeToString(pub)
}

// Parse reads a public key in any form a client may send: `ed25519:<base64url>` (the wire form),
// the 32 bytes in bare base64 or base64url (padded or not), a base64 DER SubjectPublicKeyInfo,
// a did:key DID or its multibase value (`z6Mk...`).
func Parse(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, DIDPrefix):
		return ParseDID(s)
	case strings.HasPrefix(s, "z6Mk"):
		return parseMultibase(s)
	}
	if len(s) > len(Prefix) && strings.EqualFold(s[:len(Prefix)], Prefix) {
		s = s[len(Prefix):]
	}
	raw, err := decodeBase64(s)
	if err != nil {
		return nil, errors.New("not an Ed25519 public key: expected ed25519:<base64url of 32 bytes>")
	}
	if len(raw) == len(spkiPrefix)+ed25519.PublicKeySize && bytes.HasPrefix(raw, spkiPrefix) {
		raw = raw[len(spkiPrefix):]
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not an Ed25519 public key: %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// Normalize returns the wire form of a key given in any form Parse reads.
func Normalize(s string) (string, error) {
	pub, err := Parse(s)
	if err != nil {
		return "", err
	}
	return Format(pub), nil
}

// DID returns the did:key DID of a public key: "did:key:z" and base58btc of 0xed 0x01 followed
// by the 32 key bytes (every such DID starts with did:key:z6Mk).
func DID(pub ed25519.PublicKey) string { return DIDPrefix + Multibase(pub) }

// Multibase returns the key's multibase value as a did:key embeds it ("z6Mk...").
func Multibase(pub ed25519.PublicKey) string {
	return "z" + base58Encode(append(bytes.Clone(multicodec), pub...))
}

// ParseDID returns the public key a did:key DID embeds; a DID URL's fragment ("#...") and any
// path or query are ignored.
func ParseDID(did string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(did, DIDPrefix)
	if !ok {
		return nil, fmt.Errorf("%q is not a did:key DID", did)
	}
	if i := strings.IndexAny(rest, "#/?"); i >= 0 {
		rest = rest[:i]
	}
	return parseMultibase(rest)
}

// BaseDID strips a DID URL's fragment, path and query.
func BaseDID(did string) string {
	if i := strings.IndexAny(did, "#/?"); i >= 0 && strings.HasPrefix(did, "did:") {
		return did[:i]
	}
	return did
}

func parseMultibase(mb string) (ed25519.PublicKey, error) {
	enc, ok := strings.CutPrefix(mb, "z")
	if !ok {
		return nil, errors.New("did:key: only base58btc (prefix z) is supported")
	}
	raw, err := base58Decode(enc)
	if err != nil {
		return nil, fmt.Errorf("did:key: %w", err)
	}
	if len(raw) != len(multicodec)+ed25519.PublicKeySize || !bytes.HasPrefix(raw, multicodec) {
		return nil, errors.New("did:key: not an Ed25519 key (multicodec 0xed01 and 32 bytes)")
	}
	return ed25519.PublicKey(raw[len(multicodec):]), nil
}

// EncodeSignature returns a signature's wire form, base64url without padding.
func EncodeSignature(sig []byte) string { return base64.RawURLEncoding.EncodeToString(sig) }

// DecodeSignature reads a signature in base64url or base64, padded or not; it must be 64 bytes.
func DecodeSignature(s string) ([]byte, error) {
	sig, err := decodeBase64(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("signature is not base64url")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

// Verify reports whether sig (in a form DecodeSignature reads) is pub's signature of msg.
func Verify(pub ed25519.PublicKey, msg []byte, sig string) bool {
	raw, err := DecodeSignature(sig)
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, raw)
}

// decodeBase64 reads base64 or base64url, with or without padding.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// ChallengeBytes returns what a challenge's signature covers: its 32 decoded bytes.
func ChallengeBytes(challenge string) ([]byte, error) {
	raw, err := decodeBase64(challenge)
	if err != nil {
		return nil, errors.New("challenge is not base64url")
	}
	return raw, nil
}

// RotationInput returns what a key rotation's signature (by the old key) covers: the canonical
// JSON of {"action":"rotate","new_public_key":...,"old_public_key":...}, the keys as sent.
func RotationInput(newKey, oldKey string) ([]byte, error) {
	return canonical.Marshal(map[string]any{"action": "rotate", "new_public_key": newKey, "old_public_key": oldKey})
}

// Event is what an event's proof covers: the fields its author gives, and Created, the proof's
// `created`, signed as the event's created_at (the server's own created_at, id and sequence
// are assigned after signing).
type Event struct {
	IntentID, EventType, Actor string
	Payload                    any // a JSON object; nil is {}
	Created                    string
	TraceID, ParentEventID     string
}

// EventInput returns the bytes an event's proof signs: the canonical JSON of its intent_id,
// event_type, actor, payload and created_at, with trace_id and parent_event_id when not empty.
func EventInput(e Event) ([]byte, error) {
	payload := e.Payload
	if payload == nil || isNilMap(payload) {
		payload = map[string]any{}
	}
	m := map[string]any{"intent_id": e.IntentID, "event_type": e.EventType, "actor": e.Actor,
		"payload": payload, "created_at": e.Created}
	if e.TraceID != "" {
		m["trace_id"] = e.TraceID
	}
	if e.ParentEventID != "" {
		m["parent_event_id"] = e.ParentEventID
	}
	return canonical.Marshal(m)
}

// isNilMap reports whether v is a nil map of any map type (a nil Object): the server stores
// such a payload as {}.
func isNilMap(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Map && rv.IsNil()
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode writes b in base58btc (the Bitcoin alphabet): each leading zero byte is a '1',
// the rest is the number b represents, in base 58.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	digits := make([]byte, 0, len(b)*138/100+1) // log(256)/log(58) < 1.38
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros+len(digits))
	for i := range zeros {
		out[i] = '1'
	}
	for i, d := range digits { // digits are little-endian
		out[len(out)-1-i] = base58Alphabet[d]
	}
	return string(out)
}

// base58Decode reads what base58Encode writes.
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	bs := make([]byte, 0, len(s)*733/1000+1) // log(58)/log(256) < 0.733
	for i := zeros; i < len(s); i++ {
		carry := strings.IndexByte(base58Alphabet, s[i])
		if carry < 0 {
			return nil, fmt.Errorf("%q is not a base58btc character", s[i])
		}
		for j := range bs {
			carry += int(bs[j]) * 58
			bs[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			bs = append(bs, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(bs))
	for i, c := range bs { // bs is little-endian
		out[len(out)-1-i] = c
	}
	return out, nil
}
