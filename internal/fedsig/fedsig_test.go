package fedsig

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(msg []byte) []byte { return ed25519.Sign(priv, msg) }
	body := []byte(`{"b": 1.50, "a": "é<>", "unknown": {"z": [1, 2]}, "signature": "old"}`)
	signed, err := Sign(body, sign)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(pub, signed); err != nil {
		t.Fatalf("verify: %v (%s)", err, signed)
	}
	// What is signed: the canonical JSON without the signature, whatever the body's form.
	in, _ := Input(body)
	if string(in) != `{"a":"é<>","b":1.5,"unknown":{"z":[1,2]}}` {
		t.Errorf("input: %s", in)
	}
	reformatted := strings.Replace(string(signed), `"b":1.5`, `"b" : 1.50`, 1)
	if err := Verify(pub, []byte(reformatted)); err != nil {
		t.Errorf("the same content reformatted: %v", err)
	}
	for name, b := range map[string]string{
		"a member changed": strings.Replace(string(signed), `"z":[1,2]`, `"z":[1,3]`, 1),
		"a member added":   strings.Replace(string(signed), `{"a"`, `{"x":1,"a"`, 1),
	} {
		if err := Verify(pub, []byte(b)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Verify(other, signed); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another key: %v", err)
	}
	if err := Verify(pub, []byte(`{"a":1}`)); !errors.Is(err, ErrNoSignature) {
		t.Errorf("no signature: %v", err)
	}
	if _, err := Input([]byte(`{"a":1,"a":2}`)); err == nil {
		t.Error("a duplicated member was accepted")
	}
	if _, err := Input([]byte(`[1]`)); err == nil {
		t.Error("an array was accepted")
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://A.Example.com/":        "https://a.example.com",
		"https://a.example.com:443":     "https://a.example.com",
		"http://127.0.0.1:8000/":        "http://127.0.0.1:8000",
		"http://a.example.com:80/x/y/":  "http://a.example.com/x/y",
		"http://[::1]:9000":             "http://[::1]:9000",
		" https://a.example.com/base  ": "https://a.example.com/base",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a.example.com", "ftp://a.example.com", "https://u:p@a.example.com", "https://a.example.com/?q=1", "https://a.example.com/#f"} {
		if got, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", bad, got)
		}
	}
	if o := Origin("https://a.example.com/x/y"); o != "https://a.example.com" {
		t.Errorf("Origin: %q", o)
	}
	if o := Origin("http://127.0.0.1:8000"); o != "http://127.0.0.1:8000" {
		t.Errorf("Origin: %q", o)
	}
}
