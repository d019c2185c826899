// Command openintent-server runs the OpenIntent reference server on an embedded SQLite store.
//
//	openintent-server [-addr :8000] [-db openintent.db | -db :memory:] [-api-keys k1,k2]
//
// `openintent-server -h` lists every flag with its environment variable (the settings list
// below; README's table is held to it). API keys come from -api-keys or OPENINTENT_API_KEYS
// (comma-separated), and from -api-keys-file.
// Each is KEY (a service key, trusted to act as any agent) or KEY=AGENT[|AGENT...] (a key that
// may act only as those agents). Without any, the
// server accepts the development key "dev-user-key" and says so loudly: never expose such a
// server beyond your machine.
//
// Credential secrets are encrypted at rest with a 32-byte key: OPENINTENT_SECRET_KEY (64 hex
// digits), or else the file given by -secret-key-file (default: the store file plus ".key",
// created with mode 0600 on first start). A ":memory:" store uses a random key.
//
// With -db postgres://... several servers (replicas) share one PostgreSQL database. Each needs
// the same secret key, from OPENINTENT_SECRET_KEY or -secret-key-file (never generated: a key of
// its own would make one replica unable to open what another sealed), and the same API keys.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
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

// setting is one setting of the server: a flag, the environment variable that gives its default,
// and the default when neither is set. The usage text and README's table come from this list.
type setting struct {
	name, env, def, usage string
}

// settings lists every setting; a test holds README's table to it.
var settings = []setting{
	{"addr", "OPENINTENT_ADDR", ":8000", "listen address"},
	{"db", "OPENINTENT_DB", "openintent.db", "store file, `:memory:` for an in-memory store, or the URL of a PostgreSQL database (`postgres://user:password@host:5432/db`) that several servers may share"},
	{"api-keys", "OPENINTENT_API_KEYS", "", "comma-separated API keys, each `KEY` (a service key: may act as any agent) or `KEY=AGENT[|AGENT...]` (bound to those agents); none: the development key `dev-user-key`, with a warning"},
	{"api-keys-file", "OPENINTENT_API_KEYS_FILE", "", "file of API keys, one per line as in -api-keys, `#` comments; must not be readable by group or others (mode 0600)"},
	{"secret-key-file", "OPENINTENT_SECRET_KEY_FILE", "", "file holding the key that encrypts credential secrets (default: the store file + `.key`, created with mode 0600; `OPENINTENT_SECRET_KEY` may hold the key itself, 64 hex digits); with PostgreSQL one of the two is required, the same for every server"},
	{"fsync", "OPENINTENT_FSYNC", "false", "flush the store file to disk on every commit (survives power loss; slower); without it, acknowledged writes survive a crash of the server process"},
	{"rate-limit", "OPENINTENT_RATE_LIMIT", "0", "requests per second allowed per API key; 0 disables limiting"},
	{"rate-burst", "OPENINTENT_RATE_BURST", "0", "burst of requests allowed per API key (0: the rate, at least 1)"},
	{"body-read-timeout", "OPENINTENT_BODY_READ_TIMEOUT", server.DefaultBodyReadTimeout.String(), "time a client has to send a request body, 408 beyond; event streams are not affected"},
	{"idle-timeout", "OPENINTENT_IDLE_TIMEOUT", DefaultIdleTimeout.String(), "how long a keep-alive connection may wait for its next request"},
	{"shutdown-timeout", "OPENINTENT_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout.String(), "on SIGTERM or SIGINT, how long requests in flight may take to finish (streams end at once); a second signal exits at once"},
	{"allow-private-webhooks", "OPENINTENT_ALLOW_PRIVATE_WEBHOOKS", "false", "let webhooks and the tool proxy reach loopback, private and link-local addresses (local development only)"},
	{"require-event-proofs", "OPENINTENT_REQUIRE_EVENT_PROOFS", "false", "refuse unsigned events from agents that registered a key (RFC-0018)"},
	{"federation-url", "OPENINTENT_FEDERATION_URL", "", "this server's public base URL as its federation peers reach it (e.g. `https://a.example.com`); none: federation is off (RFC-0022)"},
	{"federation-peers", "OPENINTENT_FEDERATION_PEERS", "", "comma-separated federation peers, the only servers this server dispatches to and accepts signed envelopes and callbacks from, each `URL` (its key read from its manifest) or `URL=KEY` (its Ed25519 key, `ed25519:...` or a did:key)"},
	{"federation-allow-private", "OPENINTENT_FEDERATION_ALLOW_PRIVATE", "false", "let federation requests reach peers on loopback, private and link-local addresses (a federation inside one network, local development)"},
	{"metrics-addr", "OPENINTENT_METRICS_ADDR", "", "listen address of the Prometheus metrics (`/metrics`, no key: keep it where only monitoring reaches); none: no metrics listener. Traces go to OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set"},
	{"log-format", "OPENINTENT_LOG_FORMAT", "text", "log format: `text` or `json`"},
	{"log-level", "OPENINTENT_LOG_LEVEL", "info", "least level logged: `debug`, `info`, `warn` or `error`"},
}

// DefaultShutdownTimeout is how long requests in flight may take to finish on shutdown.
const DefaultShutdownTimeout = 10 * time.Second

// config holds the parsed settings by name.
type config map[string]*string

func (c config) str(name string) string { return *c[name] }

// bad names a setting whose value does not parse.
func (c config) bad(name, want string) error {
	for _, s := range settings {
		if s.name == name {
			return fmt.Errorf("-%s (or %s) must be %s: %q", name, s.env, want, *c[name])
		}
	}
	return fmt.Errorf("-%s must be %s", name, want)
}

func (c config) boolean(name string) (bool, error) {
	b, err := strconv.ParseBool(*c[name])
	if err != nil {
		return false, c.bad(name, "true or false")
	}
	return b, nil
}

func (c config) duration(name string) (time.Duration, error) {
	d, err := time.ParseDuration(*c[name])
	if err != nil || d <= 0 {
		return 0, c.bad(name, "a positive duration such as 30s")
	}
	return d, nil
}

func (c config) number(name string) (float64, error) {
	f, err := strconv.ParseFloat(*c[name], 64)
	if err != nil || f < 0 {
		return 0, c.bad(name, "a number, not negative")
	}
	return f, nil
}

// newFlags declares every setting on a flag set whose usage lists flags and variables.
func newFlags(out io.Writer) (*flag.FlagSet, config, *bool) {
	fs := flag.NewFlagSet("openintent-server", flag.ContinueOnError)
	fs.SetOutput(out)
	c := config{}
	for _, s := range settings {
		v := envOr(s.env, s.def)
		c[s.name] = &v
		if s.def == "true" || s.def == "false" {
			fs.Var(boolSetting{&v}, s.name, s.usage) // -flag alone means true, as for flag.Bool
		} else {
			fs.Var(stringSetting{&v}, s.name, s.usage)
		}
	}
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: openintent-server [flags]\n\nRuns the OpenIntent reference server. Every flag can also be set by its environment variable.\n\n")
		for _, s := range settings {
			def := s.def
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(out, "  -%s  (%s; default %s)\n      %s\n", s.name, s.env, def, strings.ReplaceAll(s.usage, "`", ""))
		}
		fmt.Fprintf(out, "  -version\n      print the version and exit\n")
	}
	return fs, c, version
}

// stringSetting and boolSetting hold a setting's text as given; run parses it (so a bad value
// from the environment and from the command line get the same message).
type stringSetting struct{ v *string }

func (s stringSetting) String() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}
func (s stringSetting) Set(v string) error { *s.v = v; return nil }

type boolSetting struct{ v *string }

func (s boolSetting) String() string     { return stringSetting(s).String() }
func (s boolSetting) Set(v string) error { *s.v = v; return nil }
func (s boolSetting) IsBoolFlag() bool   { return true }

// versionString is the module version and VCS revision the binary was built from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "openintent-server (unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	out := "openintent-server " + v + " " + bi.GoVersion
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			out += " revision " + kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				out += " (modified)"
			}
		}
	}
	return out
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:])
	}
	fs, c, version := newFlags(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h: the usage is printed, and asking for it is no failure
		}
		return err
	}
	if *version {
		fmt.Println(versionString())
		return nil
	}
	rate, err := c.number("rate-limit")
	if err != nil {
		return err
	}
	burst, err := c.number("rate-burst")
	if err != nil {
		return err
	}
	var durations [3]time.Duration
	for i, name := range []string{"body-read-timeout", "idle-timeout", "shutdown-timeout"} {
		if durations[i], err = c.duration(name); err != nil {
			return err
		}
	}
	bodyTimeout, idleTimeout, shutdownTimeout := durations[0], durations[1], durations[2]
	var flags [4]bool
	for i, name := range []string{"fsync", "allow-private-webhooks", "require-event-proofs", "federation-allow-private"} {
		if flags[i], err = c.boolean(name); err != nil {
			return err
		}
	}
	fsync, allowPrivate, requireProofs := flags[0], flags[1], flags[2]
	federation, err := federationConfig(c, flags[3])
	if err != nil {
		return err
	}
	log, err := newLogger(os.Stderr, c.str("log-format"), c.str("log-level"))
	if err != nil {
		return err
	}
	apiKeys := splitKeys(c.str("api-keys"))
	if f := c.str("api-keys-file"); f != "" {
		fromFile, err := readKeysFile(f)
		if err != nil {
			return err
		}
		apiKeys = append(apiKeys, fromFile...)
	}
	if len(apiKeys) == 0 {
		apiKeys = []string{DevelopmentKey}
		log.Warn("no API keys configured: accepting the DEVELOPMENT key only; set -api-keys or OPENINTENT_API_KEYS before exposing this server", "development_key", DevelopmentKey)
	}
	db := c.str("db")
	var secretKey []byte
	if isDatabaseURL(db) { // checked before connecting: a shared store needs the key given
		if secretKey, err = loadSecretKey(db, c.str("secret-key-file")); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, db, store.Options{FsyncEveryCommit: fsync})
	if err != nil {
		return scrubPassword(err, db)
	}
	defer st.Close()
	if !isDatabaseURL(db) {
		if secretKey, err = loadSecretKey(db, c.str("secret-key-file")); err != nil {
			return err
		}
	}
	if allowPrivate {
		log.Warn("webhooks and the tool proxy may reach loopback and private addresses (-allow-private-webhooks): use it for local development only")
	}
	tracer, stopTracing, err := server.TracerProviderFromEnv(ctx)
	if err != nil {
		return err
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(tctx); err != nil {
			log.Warn("flushing traces", "error", err)
		}
	}()
	srv, err := server.New(server.Config{Store: st, APIKeys: apiKeys, Logger: log, SecretKey: secretKey, TracerProvider: tracer,
		RateLimit:          server.RateLimit{PerSecond: rate, Burst: int(burst)},
		BodyReadTimeout:    bodyTimeout,
		RequireEventProofs: requireProofs,
		Webhooks:           server.Webhooks{AllowPrivateNetworks: allowPrivate},
		ToolProxy:          server.ToolProxy{AllowPrivateNetworks: allowPrivate},
		Federation:         federation})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", c.str("addr"))
	if err != nil {
		return err
	}
	hs := newHTTPServer(srv, idleTimeout)
	if addr := c.str("metrics-addr"); addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		ms := newHTTPServer(mux, idleTimeout)
		go ms.Serve(mln)
		defer ms.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	log.Info("openintent-server listening", "addr", ln.Addr().String(), "store", redactedStore(db), "api_keys", len(apiKeys), "version", versionString())

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case sig := <-signals:
		log.Info("signal received: shutting down", "signal", sig.String(), "timeout", shutdownTimeout)
	}
	return shutdown(srv, hs, shutdownTimeout, signals, log)
}

// shutdown stops gracefully: readiness turns false and streams end at once with a reconnect
// frame (Drain), no new connection is accepted, and requests in flight get timeout to finish. A
// second signal exits at once.
func shutdown(srv *server.Server, hs *http.Server, timeout time.Duration, signals <-chan os.Signal, log *slog.Logger) error {
	srv.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hs.Shutdown(ctx) }()
	select {
	case err := <-done:
		if errors.Is(err, context.DeadlineExceeded) {
			hs.Close()
			return fmt.Errorf("requests still in flight after -shutdown-timeout %s were cut", timeout)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		log.Info("shut down cleanly")
		return nil
	case sig := <-signals:
		hs.Close()
		return fmt.Errorf("second signal (%s): stopped without waiting for requests in flight", sig)
	}
}

// healthcheck probes a running server's /healthz (the container image's HEALTHCHECK: its base
// has no shell or curl): `openintent-server healthcheck [URL]`, exit 0 when it answers 200.
func healthcheck(args []string) error {
	url := "http://127.0.0.1:8000/healthz"
	if len(args) > 0 {
		url = args[0]
	}
	client := &http.Client{Timeout: 3 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, res.StatusCode)
	}
	return nil
}

// newLogger builds the server's logger from -log-format and -log-level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level (or OPENINTENT_LOG_LEVEL) must be debug, info, warn or error: %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format (or OPENINTENT_LOG_FORMAT) must be text or json: %q", format)
}

// isDatabaseURL reports whether -db names a PostgreSQL database (shared by replicas) rather than
// a store file.
func isDatabaseURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// redactedStore is -db as logged: a database URL without its password.
func redactedStore(db string) string {
	if !isDatabaseURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// scrubPassword keeps a database URL's password out of an error about it.
func scrubPassword(err error, db string) error {
	if !isDatabaseURL(db) {
		return err
	}
	u, perr := url.Parse(db)
	if perr != nil {
		return errors.New("-db: cannot open the database (its URL does not parse)")
	}
	msg := err.Error()
	secrets := []string{u.Query().Get("password")}
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p, url.PathEscape(p), url.QueryEscape(p))
	}
	for _, p := range secrets {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return errors.New(strings.ReplaceAll(msg, db, redactedStore(db)))
}

// loadSecretKey returns the key that seals credential secrets: OPENINTENT_SECRET_KEY, or the key
// file (created on first use), or nil (a random key) for an in-memory store. A database URL
// needs the key given: replicas sharing the database must share it, so none may make its own.
func loadSecretKey(db, file string) ([]byte, error) {
	if v := os.Getenv("OPENINTENT_SECRET_KEY"); v != "" {
		return parseSecretKey(v, "OPENINTENT_SECRET_KEY must be")
	}
	if isDatabaseURL(db) {
		if file == "" {
			return nil, errors.New("a PostgreSQL store (-db postgres://...) needs the secret key given, the same to every server sharing the database: " +
				"set OPENINTENT_SECRET_KEY to 64 hex digits (`openssl rand -hex 32`) or -secret-key-file (OPENINTENT_SECRET_KEY_FILE) to a file holding them")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-secret-key-file: %w (with a PostgreSQL store the key file is read, never created: every server needs the same key)", err)
		}
		return parseSecretKey(string(b), "secret key file "+file+" must hold")
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

// settingsTable is README's table of settings, written from the settings list.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range settings {
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "none"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", s.name, s.env, def, strings.ReplaceAll(s.usage, "|", "\\|"))
	}
	b.WriteString("| `-version` | | | print the version (module version, VCS revision) and exit |\n")
	return b.String()
}

// federationConfig reads -federation-url, -federation-peers and -federation-allow-private.
func federationConfig(c config, allowPrivate bool) (server.Federation, error) {
	f := server.Federation{URL: strings.TrimSpace(c.str("federation-url")), AllowPrivateNetworks: allowPrivate}
	for _, s := range strings.Split(c.str("federation-peers"), ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := server.ParsePeer(s)
		if err != nil {
			return f, fmt.Errorf("-federation-peers (or OPENINTENT_FEDERATION_PEERS): %w", err)
		}
		f.Peers = append(f.Peers, p)
	}
	if f.URL == "" && len(f.Peers) > 0 {
		return f, errors.New("-federation-peers needs -federation-url (this server's public URL, as its peers reach it)")
	}
	return f, nil
}
