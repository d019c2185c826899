package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openintent-go/openintent/gen/models"
)

// apiKey is one accepted X-API-Key: its digest, and the agents it may act as (none for a
// service key, which may act as any agent).
type apiKey struct {
	digest keyDigest
	agents []string
	// principal is the agent of a service key's requests without X-Agent-ID: derived from the
	// key with a server secret, so it reveals nothing about the key.
	principal string
}

type keyDigest [sha256.Size]byte

// ParseAPIKey splits one entry of Config.APIKeys, `KEY` or `KEY=AGENT[|AGENT...]`, into the key
// and the agents it is bound to. The split is at the last '=' followed by text, so base64 keys
// ending in '=' padding stay whole.
func ParseAPIKey(entry string) (key string, agents []string, err error) {
	key = entry
	if i := strings.LastIndexByte(entry, '='); i >= 0 && i+1 < len(entry) {
		key = entry[:i]
		for a := range strings.SplitSeq(entry[i+1:], "|") {
			a = strings.TrimSpace(a)
			if msg := checkAgentID(a); a == "" || msg != "" {
				if a == "" {
					msg = "is empty"
				}
				return "", nil, fmt.Errorf("agent %q %s", a, msg)
			}
			if !slices.Contains(agents, a) {
				agents = append(agents, a)
			}
		}
	}
	if key == "" {
		return "", nil, fmt.Errorf("the key is empty")
	}
	return key, agents, nil
}

// keyring is the set of accepted keys.
type keyring struct {
	keys []apiKey
}

// newKeyring parses entries (see ParseAPIKey); secret keys the derivation of service keys'
// default principals (nil: a random secret).
func newKeyring(entries []string, secret []byte) (*keyring, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("server: at least one API key is required")
	}
	if secret == nil {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	mac := hmac.New(sha256.New, append([]byte("openintent principal\x00"), secret...))
	kr := &keyring{}
	for i, e := range entries {
		key, agents, err := ParseAPIKey(e)
		if err != nil {
			return nil, fmt.Errorf("server: API key %d: %v", i+1, err) // never the key itself
		}
		k := apiKey{digest: sha256.Sum256([]byte(key)), agents: agents}
		mac.Reset()
		mac.Write([]byte(key))
		k.principal = "key-" + hex.EncodeToString(mac.Sum(nil)[:12])
		for _, o := range kr.keys {
			if o.digest == k.digest {
				return nil, fmt.Errorf("server: API key %d repeats an earlier key", i+1)
			}
		}
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// match returns the key equal to key, comparing against every key in constant time.
func (kr *keyring) match(key string) (*apiKey, bool) {
	d := sha256.Sum256([]byte(key))
	var found *apiKey
	for i := range kr.keys {
		if subtle.ConstantTimeCompare(d[:], kr.keys[i].digest[:]) == 1 {
			found = &kr.keys[i]
		}
	}
	return found, key != "" && found != nil
}

// actingAgent returns the agent a request made with k acts as, given its X-Agent-ID header:
// a bound key acts as its first agent by default and only as its agents; a service key as
// the header says, or as its principal.
func (k *apiKey) actingAgent(header string) (string, *apiError) {
	if header != "" {
		if msg := checkAgentID(header); msg != "" {
			e := &apiError{status: 401, code: "unauthorized", detail: "Invalid X-Agent-ID: " + msg}
			e.fields = []models.FieldError{{Field: "X-Agent-ID", Message: msg}}
			return "", e
		}
	}
	switch {
	case len(k.agents) == 0 && header == "":
		return k.principal, nil
	case len(k.agents) == 0:
		return header, nil
	case header == "":
		return k.agents[0], nil
	case slices.Contains(k.agents, header):
		return header, nil
	}
	e := &apiError{status: 403, code: "agent_not_allowed",
		detail: fmt.Sprintf("This API key may not act as agent %q (X-Agent-ID); it is bound to other agents", header)}
	e.fields = []models.FieldError{{Field: "X-Agent-ID", Message: "not an agent of this API key"}}
	return "", e
}

// checkAgentID returns why id is not a valid agent id, or "".
func checkAgentID(id string) string {
	if len(id) > 200 {
		return "must be at most 200 bytes"
	}
	if !utf8.ValidString(id) {
		return "must be valid UTF-8"
	}
	for _, c := range id {
		if !unicode.IsPrint(c) {
			return "must contain printable characters only"
		}
	}
	return ""
}
