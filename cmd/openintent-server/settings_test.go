package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestREADMESettingsTable holds README's table of flags to the settings list (run with
// OPENINTENT_UPDATE_README=1 to rewrite it).
func TestREADMESettingsTable(t *testing.T) {
	const begin, end = "<!-- settings: begin (generated from cmd/openintent-server settings) -->\n", "<!-- settings: end -->"
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q ... %q", begin, end)
	}
	want := settingsTable()
	if got := text[i+len(begin) : j]; got != want {
		if os.Getenv("OPENINTENT_UPDATE_README") == "1" {
			if err := os.WriteFile("../../README.md", []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README's settings table is stale (OPENINTENT_UPDATE_README=1 go test ./cmd/openintent-server/ rewrites it):\n%s", want)
	}
}

// TestEverySettingHasAnEnvironmentVariable: flags and variables are in parity, -h lists both
// and succeeds, and a bad value names the flag and its variable.
func TestEverySettingHasAnEnvironmentVariable(t *testing.T) {
	var out bytes.Buffer
	fs, _, _ := newFlags(&out)
	fs.Usage()
	seen := map[string]bool{}
	for _, s := range settings {
		if !strings.HasPrefix(s.env, "OPENINTENT_") || seen[s.env] || s.usage == "" {
			t.Errorf("setting %s: variable %q", s.name, s.env)
		}
		seen[s.env] = true
		if !strings.Contains(out.String(), "-"+s.name+"  ("+s.env) {
			t.Errorf("usage omits -%s and %s", s.name, s.env)
		}
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n != len(settings)+1 {
		t.Errorf("%d flags, %d settings (+ -version)", n, len(settings))
	}
	if err := run(t.Context(), []string{"-h"}); err != nil {
		t.Errorf("-h: %v", err)
	}
	t.Setenv("OPENINTENT_SHUTDOWN_TIMEOUT", "soon")
	if err := run(t.Context(), []string{"-db", ":memory:"}); err == nil || !strings.Contains(err.Error(), "OPENINTENT_SHUTDOWN_TIMEOUT") || !strings.Contains(err.Error(), "-shutdown-timeout") {
		t.Errorf("bad OPENINTENT_SHUTDOWN_TIMEOUT: %v", err)
	}
}

// TestHealthcheckCommand: the container's health check probes /healthz.
func TestHealthcheckCommand(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer ok.Close()
	if err := run(t.Context(), []string{"healthcheck", ok.URL + "/healthz"}); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := run(t.Context(), []string{"healthcheck", ok.URL + "/other"}); err == nil {
		t.Error("a 404 passed the health check")
	}
}

// TestBooleanFlagsStandAlone: `-fsync` alone means true, as with the flag package's booleans.
func TestBooleanFlagsStandAlone(t *testing.T) {
	fs, c, _ := newFlags(io.Discard)
	if err := fs.Parse([]string{"-allow-private-webhooks", "-fsync=false", "-addr", ":1"}); err != nil {
		t.Fatal(err)
	}
	if b, err := c.boolean("allow-private-webhooks"); err != nil || !b {
		t.Errorf("-allow-private-webhooks alone: %v %v", b, err)
	}
	if b, err := c.boolean("fsync"); err != nil || b {
		t.Errorf("-fsync=false: %v %v", b, err)
	}
	if c.str("addr") != ":1" {
		t.Errorf("-addr :1 gave %q", c.str("addr"))
	}
}

// TestVersion: -version succeeds and names the program and the Go version it was built with.
func TestVersion(t *testing.T) {
	if err := run(t.Context(), []string{"-version"}); err != nil {
		t.Fatal(err)
	}
	if v := versionString(); !strings.HasPrefix(v, "openintent-server ") || !strings.Contains(v, "go1.") {
		t.Errorf("version %q", v)
	}
}

// TestMetricsListener: -metrics-addr serves Prometheus metrics on its own listener, where the
// requests the main listener served show up by operation id.
func TestMetricsListener(t *testing.T) {
	metrics := freeLocalAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	main := freeLocalAddr(t)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", main, "-db", ":memory:", "-api-keys", "k", "-metrics-addr", metrics})
	}()
	defer func() { cancel(); <-done }()
	var body string
	for i := 0; i < 300; i++ {
		http.Get("http://" + main + "/healthz")
		if res, err := http.Get("http://" + metrics + "/metrics"); err == nil {
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if body = string(raw); strings.Contains(body, `operation="getHealth"`) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("metrics never showed getHealth:\n%.2000s", body)
}

func freeLocalAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
