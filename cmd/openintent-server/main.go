// Command openintent-server runs the OpenIntent reference server on an embedded SQLite store.
//
//	openintent-server [-addr :8000] [-db openintent.db | -db :memory:] [-api-keys k1,k2]
//
// API keys come from -api-keys or OPENINTENT_API_KEYS (comma-separated), and from -api-keys-file.
// Each is KEY (a service key, trusted to act as any agent) or KEY=AGENT[|AGENT...] (a key that
// may act only as those agents). Without any, the
// server accepts the development key "dev-user-key" and says so loudly: never expose such a
// server beyond your machine.
//
// Credential secrets are encrypted at rest with a 32-byte key: OPENINTENT_SECRET_KEY (64 hex
// digits), or else the file given by -secret-key-file (default: the store file plus ".key",
// created with mode 0600 on first start). A ":memory:" store uses a random key.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// DevelopmentKey is accepted when no key is configured.
const DevelopmentKey = "dev-user-key"

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "openintent-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("openintent-server", flag.ContinueOnError)
	addr := fs.String("addr", envOr("OPENINTENT_ADDR", ":8000"), "listen address")
	db := fs.String("db", envOr("OPENINTENT_DB", "openintent.db"), `store file, or ":memory:"`)
	keys := fs.String("api-keys", "", "comma-separated API keys, each KEY (a service key: may act as any agent) or KEY=AGENT[|AGENT...] (bound to those agents) (default: $OPENINTENT_API_KEYS)")
	keysFile := fs.String("api-keys-file", os.Getenv("OPENINTENT_API_KEYS_FILE"), "file of API keys, one KEY or KEY=AGENT[|AGENT...] per line (# comments); must not be readable by group or others ($OPENINTENT_API_KEYS_FILE)")
	rate := fs.Float64("rate-limit", 0, "requests per second allowed per API key; 0 disables limiting")
	burst := fs.Int("rate-burst", 0, "burst of requests allowed per API key (default: the rate, at least 1)")
	fsync := fs.Bool("fsync", false, "flush the store file to disk on every commit (survives power loss; slower). Without it, acknowledged writes survive a crash of the server process")
	keyFile := fs.String("secret-key-file", "", `file holding the key that encrypts credential secrets (default: the store file + ".key")`)
	allowPrivateDef, err := envBool("OPENINTENT_ALLOW_PRIVATE_WEBHOOKS", false)
	if err != nil {
		return err
	}
	allowPrivate := fs.Bool("allow-private-webhooks", allowPrivateDef, "let webhooks and the tool proxy reach loopback, private and link-local addresses (local development only; $OPENINTENT_ALLOW_PRIVATE_WEBHOOKS)")
	bodyTimeoutDef, err := envDuration("OPENINTENT_BODY_READ_TIMEOUT", server.DefaultBodyReadTimeout)
	if err != nil {
		return err
	}
	bodyTimeout := fs.Duration("body-read-timeout", bodyTimeoutDef, "time a client has to send a request body, 408 beyond; event streams are not affected ($OPENINTENT_BODY_READ_TIMEOUT)")
	idleTimeoutDef, err := envDuration("OPENINTENT_IDLE_TIMEOUT", DefaultIdleTimeout)
	if err != nil {
		return err
	}
	idleTimeout := fs.Duration("idle-timeout", idleTimeoutDef, "how long a keep-alive connection may wait for its next request ($OPENINTENT_IDLE_TIMEOUT)")
	requireProofsDef, err := envBool("OPENINTENT_REQUIRE_EVENT_PROOFS", false)
	if err != nil {
		return err
	}
	requireProofs := fs.Bool("require-event-proofs", requireProofsDef, "refuse unsigned events from agents that registered a key (RFC-0018) ($OPENINTENT_REQUIRE_EVENT_PROOFS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate < 0 || *burst < 0 {
		return fmt.Errorf("-rate-limit and -rate-burst must not be negative")
	}
	if *bodyTimeout <= 0 || *idleTimeout <= 0 {
		return fmt.Errorf("-body-read-timeout and -idle-timeout must be positive")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	apiKeys := splitKeys(*keys)
	if len(apiKeys) == 0 {
		apiKeys = splitKeys(os.Getenv("OPENINTENT_API_KEYS"))
	}
	if *keysFile != "" {
		fromFile, err := readKeysFile(*keysFile)
		if err != nil {
			return err
		}
		apiKeys = append(apiKeys, fromFile...)
	}
	if len(apiKeys) == 0 {
		apiKeys = []string{DevelopmentKey}
		log.Warn("no API keys configured: accepting the DEVELOPMENT key only; set -api-keys or OPENINTENT_API_KEYS before exposing this server", "development_key", DevelopmentKey)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := store.Open(ctx, *db, store.Options{FsyncEveryCommit: *fsync})
	if err != nil {
		return err
	}
	defer st.Close()
	secretKey, err := loadSecretKey(*db, *keyFile)
	if err != nil {
		return err
	}
	if *allowPrivate {
		log.Warn("webhooks and the tool proxy may reach loopback and private addresses (-allow-private-webhooks): use it for local development only")
	}
	srv, err := server.New(server.Config{Store: st, APIKeys: apiKeys, Logger: log, SecretKey: secretKey,
		RateLimit:          server.RateLimit{PerSecond: *rate, Burst: *burst},
		BodyReadTimeout:    *bodyTimeout,
		RequireEventProofs: *requireProofs,
		Webhooks:           server.Webhooks{AllowPrivateNetworks: *allowPrivate},
		ToolProxy:          server.ToolProxy{AllowPrivateNetworks: *allowPrivate}})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := newHTTPServer(srv, *idleTimeout)
	log.Info("openintent-server listening", "addr", ln.Addr().String(), "store", *db, "api_keys", len(apiKeys))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadSecretKey returns the key that seals credential secrets: OPENINTENT_SECRET_KEY, or the key
// file (created on first use), or nil (a random key) for an in-memory store.
func loadSecretKey(db, file string) ([]byte, error) {
	if v := os.Getenv("OPENINTENT_SECRET_KEY"); v != "" {
		return parseSecretKey(v, "OPENINTENT_SECRET_KEY must be")
	}
	if file == "" {
		if db == ":memory:" || db == "" {
			return nil, nil
		}
		file = db + ".key"
	}
	if b, err := os.ReadFile(file); err == nil {
		return parseSecretKey(string(b), "secret key file "+file+" must hold")
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, server.SecretKeySize)
	rand.Read(k)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return k, f.Close()
}

// parseSecretKey decodes a key written as hex digits; must names where it came from.
func parseSecretKey(v, must string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(k) != server.SecretKeySize {
		return nil, fmt.Errorf("%s %d hex digits", must, 2*server.SecretKeySize)
	}
	return k, nil
}

// DefaultIdleTimeout is how long a keep-alive connection may wait for its next request.
const DefaultIdleTimeout = 120 * time.Second

// newHTTPServer is the server's http.Server. It bounds the request headers (10s) and idle
// connections; request bodies are bounded by server.Config.BodyReadTimeout (408, connection
// closed), and nothing bounds a whole request, so event streams last as long as their clients.
func newHTTPServer(h http.Handler, idle time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idle}
}

// envDuration reads a duration (such as 30s) from the environment variable k, def when unset.
func envDuration(k string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(k)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s must be a duration such as 30s: %q", k, v)
	}
	return d, nil
}

// envBool reads a boolean (1, true, 0, false, ...) from the environment variable k, def when
// unset.
func envBool(k string, def bool) (bool, error) {
	v := os.Getenv(k)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false: %q", k, v)
	}
	return b, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// readKeysFile reads API keys, one per line, from a file only its owner may read (keys must not
// sit where other users of the machine can see them). Errors never quote a key.
func readKeysFile(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("-api-keys-file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("-api-keys-file %s has mode %04o: it must not be readable or writable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-api-keys-file: %w", err)
	}
	var keys []string
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, err := server.ParseAPIKey(line); err != nil {
			return nil, fmt.Errorf("-api-keys-file %s line %d: %v", path, i+1, err)
		}
		keys = append(keys, line)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("-api-keys-file %s holds no key", path)
	}
	return keys, nil
}

func splitKeys(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
