package agentkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
)

// Vectors are independent of this package: base58 strings of the Bitcoin alphabet's well-known
// examples, the did:key method's own example DID (decoded by hand with big-integer arithmetic),
// and RFC 8032's first Ed25519 test vector.

func TestBase58(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0}, "1"},
		{[]byte{0, 0, 1}, "112"},
		{[]byte{57}, "z"},
		{[]byte{58}, "21"},
		{[]byte("Hello World!"), "2NEpo7TZRRrLZSi2U"},
		{[]byte("The quick brown fox jumps over the lazy dog"), "7DdiPPYtxLjCD3wA1po2rvZHTDYjkZYiEtazrfiwJcwnKCizhGFhBGHeRdx"},
	} {
		if got := base58Encode(c.in); got != c.want {
			t.Errorf("encode %x: got %s, want %s", c.in, got, c.want)
		}
		if got, err := base58Decode(c.want); err != nil || !bytes.Equal(got, c.in) && len(c.in) > 0 {
			t.Errorf("decode %s: got %x, %v", c.want, got, err)
		}
	}
	if _, err := base58Decode("0OIl"); err == nil {
		t.Error("characters outside the alphabet: want an error")
	}
}

func TestDIDKey(t *testing.T) {
	// The did:key method's example, and the 32 bytes it embeds after 0xed 0x01.
	const did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	const key = "ed25519:Lm_M42cB3HkUiODQsXRcweM6TByfzEHGO9ND274JcOY"
	pub, err := ParseDID(did)
	if err != nil || Format(pub) != key {
		t.Fatalf("ParseDID: %s, %v; want %s", Format(pub), err, key)
	}
	if got := DID(pub); got != did {
		t.Errorf("DID: got %s, want %s", got, did)
	}
	if p, err := ParseDID(did + "#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"); err != nil || !p.Equal(pub) {
		t.Errorf("a DID URL with a fragment: %v", err)
	}
	// RFC-0018's example key (its example DID belongs to another key).
	pub, _ = Parse("ed25519:yKHfKtE9w5aBSvMhi0yrQg8x3bWmHqYE8RSxU6zT7Wo")
	if got := DID(pub); got != "did:key:z6MksxSkBC5s93jrr3E1gSfVkxCbYibGhYrJWjFcAUvnToy3" {
		t.Errorf("DID of RFC-0018's key: %s", got)
	}
	for _, bad := range []string{"did:web:example.com", "did:key:m6Mk", "did:key:z6Mk0", "did:key:z" + base58Encode([]byte{0xec, 0x01, 1, 2})} {
		if _, err := ParseDID(bad); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestParseForms(t *testing.T) {
	// RFC 8032, section 7.1, test 1.
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	raw, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), raw) {
		t.Fatal("RFC 8032 vector 1: public key differs")
	}
	const wire = "ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	if got := Format(raw); got != wire {
		t.Fatalf("Format: got %s, want %s", got, wire)
	}
	for _, form := range []string{
		wire,
		"ED25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",                 // standard base64
		"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", // DER SubjectPublicKeyInfo
		DID(raw), strings.TrimPrefix(DID(raw), DIDPrefix),
	} {
		if got, err := Normalize(form); err != nil || got != wire {
			t.Errorf("%s: got %s, %v", form, got, err)
		}
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:AAAA", "walk", "ed25519:" + strings.Repeat("A", 44)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	// RFC 8032's signature of the empty message, in base64url and in hex-checked bytes.
	sig, _ := hex.DecodeString("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	if !bytes.Equal(ed25519.Sign(priv, nil), sig) {
		t.Fatal("RFC 8032 vector 1: signature differs")
	}
	if !Verify(raw, nil, EncodeSignature(sig)) || Verify(raw, []byte("x"), EncodeSignature(sig)) || Verify(raw, nil, "AAAA") {
		t.Error("Verify")
	}
}

func TestSignedInputs(t *testing.T) {
	got, _ := RotationInput("ed25519:new", "ed25519:old")
	if want := `{"action":"rotate","new_public_key":"ed25519:new","old_public_key":"ed25519:old"}`; string(got) != want {
		t.Errorf("rotation: got %s, want %s", got, want)
	}
	got, _ = EventInput(Event{IntentID: "i-1", EventType: "state_change", Actor: "agent_billing_01",
		Payload: map[string]any{"op": "set", "path": "/status", "value": "completed"}, Created: "2026-02-12T10:15:00Z"})
	want := `{"actor":"agent_billing_01","created_at":"2026-02-12T10:15:00Z","event_type":"state_change","intent_id":"i-1","payload":{"op":"set","path":"/status","value":"completed"}}`
	if string(got) != want {
		t.Errorf("event: got  %s\nwant %s", got, want)
	}
	type object map[string]any
	got, _ = EventInput(Event{IntentID: "i", EventType: "comment", Actor: "a", Payload: object(nil), Created: "c", TraceID: "t", ParentEventID: "p"})
	if want := `{"actor":"a","created_at":"c","event_type":"comment","intent_id":"i","parent_event_id":"p","payload":{},"trace_id":"t"}`; string(got) != want {
		t.Errorf("event with trace and no payload: got %s, want %s", got, want)
	}
	if b, err := ChallengeBytes("AAECAw"); err != nil || !bytes.Equal(b, []byte{0, 1, 2, 3}) {
		t.Errorf("challenge: %x %v", b, err)
	}
}
