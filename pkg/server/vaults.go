package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// Record kinds of RFC-0014 vaults and credentials (a credential's parent is its vault).
const (
	kindVault      = "vault"
	kindCredential = "credential"
)

// SecretKeySize is the length of Config.SecretKey (AES-256).
const SecretKeySize = 32

// secretKeyName matches metadata keys whose values are secret material; they are moved out of
// credential_metadata into the sealed secret.
var secretKeyName = regexp.MustCompile(`(?i)(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential|bearer)`)

// sealer encrypts credential secrets at rest with the server's key (AES-256-GCM).
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		key = make([]byte, SecretKeySize)
		rand.Read(key)
	}
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("server: Config.SecretKey is %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts the JSON of secret, bound to the credential id.
func (s *sealer) seal(credentialID string, secret map[string]any) (string, error) {
	plain, err := json.Marshal(secret)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(credentialID))), nil
}

// open decrypts what seal returned.
func (s *sealer) open(credentialID, sealed string) (map[string]any, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, errors.New("server: sealed secret is malformed")
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(credentialID))
	if err != nil {
		return nil, errors.New("server: sealed secret does not open with this server's key")
	}
	var secret map[string]any
	return secret, json.Unmarshal(plain, &secret)
}

// storedCredential is a credential as stored: its wire model plus the sealed secret, which no
// response carries.
type storedCredential struct {
	models.Credential
	Sealed string `json:"sealed_secret,omitempty"`
}

func (h *handlers) CreateVault(ctx context.Context, req genserver.CreateVaultRequestObject) (genserver.CreateVaultResponseObject, error) {
	b := req.Body
	if strings.TrimSpace(b.Name) == "" {
		return nil, validationFailed("name", "must not be empty")
	}
	ownerID, err := actorField(ctx, "owner_id", b.OwnerID)
	if err != nil {
		return nil, err
	}
	v := models.Vault{Name: b.Name, OwnerID: ownerID}
	err = h.store.Write(ctx, func(w *store.Writer) error {
		v.ID, v.CreatedAt = store.NewID(), w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindVault, ID: v.ID, Ref: v.OwnerID}, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateVault200JSONResponse(v), nil
}

// checkOwner refuses (403) a caller that does not own the vault.
func checkOwner(ctx context.Context, v models.Vault) error {
	if caller := agentFrom(ctx); caller != v.OwnerID {
		return forbidden("forbidden", fmt.Sprintf("Vault %s belongs to %s, not %s", v.ID, v.OwnerID, caller))
	}
	return nil
}

// ownVault reads a vault in a write transaction and checks that the caller owns it.
func ownVault(ctx context.Context, w *store.Writer, vaultID string) error {
	var v models.Vault
	if _, err := w.GetInto(kindVault, vaultID, &v); err != nil {
		return err
	}
	return checkOwner(ctx, v)
}

// readOwnVault reads a vault and checks that the caller owns it.
func (h *handlers) readOwnVault(ctx context.Context, vaultID string) (models.Vault, error) {
	v, err := store.Get[models.Vault](ctx, h.store, kindVault, vaultID)
	if err != nil {
		return v, err
	}
	return v, checkOwner(ctx, v)
}

func (h *handlers) GetVault(ctx context.Context, req genserver.GetVaultRequestObject) (genserver.GetVaultResponseObject, error) {
	v, err := h.readOwnVault(ctx, req.VaultID)
	if err != nil {
		return nil, err
	}
	return genserver.GetVault200JSONResponse(v), nil
}

// CreateCredential stores a credential in a vault of the caller. Secret material, given in
// `secret` or under secret-looking keys of `metadata`, is sealed with the server key; the answer
// carries only the non-secret metadata.
func (h *handlers) CreateCredential(ctx context.Context, req genserver.CreateCredentialRequestObject) (genserver.CreateCredentialResponseObject, error) {
	b := req.Body
	for name, v := range map[string]string{"vault_id": b.VaultID, "service": b.Service, "label": b.Label} {
		if strings.TrimSpace(v) == "" {
			return nil, validationFailed(name, "must not be empty")
		}
	}
	c := storedCredential{Credential: models.Credential{VaultID: b.VaultID, Service: b.Service, Label: b.Label, AuthType: b.AuthType,
		ScopesAvailable: nonNil(b.ScopesAvailable), Status: "active", CredentialMetadata: models.Object{}}}
	if c.AuthType == "" {
		c.AuthType = "api_key"
	}
	secret := map[string]any{}
	for k, v := range b.Secret {
		secret[k] = v
	}
	for k, v := range b.Metadata {
		if secretKeyName.MatchString(k) {
			secret[k] = v
		} else {
			c.CredentialMetadata[k] = v
		}
	}
	c.ID = store.NewID()
	if len(secret) > 0 {
		sealed, err := h.sealer.seal(c.ID, secret)
		if err != nil {
			return nil, err
		}
		c.Sealed, c.HasSecret = sealed, true
	}
	err := h.store.Write(ctx, func(w *store.Writer) error {
		if err := ownVault(ctx, w, c.VaultID); err != nil {
			return err
		}
		c.CreatedAt = w.Timestamp()
		_, err := w.Insert(store.Record{Kind: kindCredential, ID: c.ID, Parent: c.VaultID, Ref: c.Service}, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return genserver.CreateCredential200JSONResponse(c.Credential), nil
}

func (h *handlers) GetCredential(ctx context.Context, req genserver.GetCredentialRequestObject) (genserver.GetCredentialResponseObject, error) {
	c, err := store.Get[storedCredential](ctx, h.store, kindCredential, req.CredentialID)
	if err != nil {
		return nil, err
	}
	if _, err := h.readOwnVault(ctx, c.VaultID); err != nil {
		return nil, err
	}
	return genserver.GetCredential200JSONResponse(c.Credential), nil
}

// redactor replaces every secret value (at any depth, and inside strings) with [REDACTED]: as
// it is, and in the forms an upstream may echo it in (secretForms).
type redactor []string

// secretForms returns s and its encodings: standard and URL base64, padded and not, and URL
// query and path escaping.
func secretForms(s string) []string {
	b := []byte(s)
	return []string{s,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(s), url.PathEscape(s)}
}

func newRedactor(secret map[string]any) redactor {
	var r redactor
	add := func(s string) {
		for _, f := range secretForms(s) {
			if !slices.Contains(r, f) {
				r = append(r, f)
			}
		}
	}
	// The HTTP Basic credentials authenticate sends, user:password (and so its base64, the
	// Authorization header's value).
	user, _ := secret["username"].(string)
	pass, _ := secret["password"].(string)
	if user != "" || pass != "" {
		if pair := user + ":" + pass; len(pair) >= 4 {
			add(pair)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if len(x) >= 4 {
				add(x)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(secret)
	slices.SortFunc(r, func(a, b string) int { return len(b) - len(a) })
	return r
}

func (r redactor) value(v any) any {
	switch x := v.(type) {
	case string:
		for _, s := range r {
			x = strings.ReplaceAll(x, s, "[REDACTED]")
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.value(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e)
		}
		return out
	}
	return v
}

func (r redactor) object(o map[string]any) map[string]any {
	if o == nil {
		return nil
	}
	return r.value(o).(map[string]any)
}
