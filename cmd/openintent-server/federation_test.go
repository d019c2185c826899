package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/internal/agentkey"
)

// TestFederationSettings: -federation-url, -federation-peers and -federation-allow-private
// become the server's federation configuration; bad values are errors naming the setting.
func TestFederationSettings(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) (config, bool) {
		fs, c, _ := newFlags(io.Discard)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		allow, err := c.boolean("federation-allow-private")
		if err != nil {
			t.Fatal(err)
		}
		return c, allow
	}
	c, allow := parse("-federation-url", "https://a.example.com", "-federation-allow-private",
		"-federation-peers", " https://b.example.com , https://c.example.com="+agentkey.DID(pub)+",")
	f, err := federationConfig(c, allow)
	if err != nil {
		t.Fatal(err)
	}
	if f.URL != "https://a.example.com" || !f.AllowPrivateNetworks || len(f.Peers) != 2 || f.Peers[0].URL != "https://b.example.com" ||
		f.Peers[0].PublicKey != "" || f.Peers[1].URL != "https://c.example.com" || f.Peers[1].PublicKey != agentkey.DID(pub) {
		t.Errorf("federation: %+v", f)
	}
	if f, err := federationConfig(parse()); err != nil || f.URL != "" || len(f.Peers) != 0 {
		t.Errorf("no federation settings: %+v %v", f, err)
	}
	for _, args := range [][]string{
		{"-federation-peers", "https://b.example.com"},
		{"-federation-url", "https://a.example.com", "-federation-peers", "b.example.com"},
		{"-federation-url", "https://a.example.com", "-federation-peers", "https://b.example.com=not-a-key"},
	} {
		if _, err := federationConfig(parse(args...)); err == nil || !strings.Contains(err.Error(), "-federation-") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
