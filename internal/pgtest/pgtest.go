// Package pgtest gives tests a PostgreSQL database of their own.
//
// [URL] returns the connection string of a new, empty database, created for the calling test and
// dropped when it ends:
//
//	dsn := pgtest.URL(t) // "postgres:///oi_t_1234_1?host=/tmp/oipg123&user=postgres&sslmode=disable"
//	st, err := store.Open(ctx, dsn, store.Options{})
//
// Where the databases come from:
//
//   - With OPENINTENT_TEST_POSTGRES set to a connection string (postgres://user:pass@host/db), each
//     call creates a database on that server (the role needs CREATEDB) and drops it afterwards.
//   - Otherwise, when PostgreSQL's initdb and pg_ctl are on PATH or under /usr/lib/postgresql/*/bin,
//     the first call starts a throwaway cluster for the whole test binary: a fresh data directory
//     in a temporary directory, listening only on a unix socket in that directory (no TCP port),
//     fsync and autovacuum off (no transaction runs but the tests' own: a store's knowledge of its
//     own writes, which other transactions of the cluster make stale, is what some tests check).
//     When the process runs as root the cluster runs as the user "postgres" (PostgreSQL
//     refuses root), through setpriv.
//   - Otherwise the test is skipped with a message saying how to enable it; with
//     OPENINTENT_TEST_POSTGRES_REQUIRED=1 (CI sets it) it fails instead.
//
// Stopping the throwaway cluster: a small watchdog process started with the cluster holds the read
// end of a pipe whose write end only this process has; when the test binary exits, however it
// exits (even killed), the pipe closes and the watchdog stops the cluster and removes its
// directory. A package may also stop it explicitly at the end of its tests with [Main]:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the connection string of a PostgreSQL server to
// create test databases on instead of starting a throwaway cluster.
const EnvURL = "OPENINTENT_TEST_POSTGRES"

// EnvRequired names the environment variable that, set to 1, turns "PostgreSQL is not available"
// from a skip into a failure (CI sets it, so the PostgreSQL tests cannot silently stop running).
const EnvRequired = "OPENINTENT_TEST_POSTGRES_REQUIRED"

// startTimeout bounds initdb and the cluster's start: generous, for a loaded 2-core machine
// running tests under -race.
const startTimeout = 3 * time.Minute

var (
	mu      sync.Mutex
	started bool
	cl      *cluster
	startE  error
	seq     atomic.Int64
)

// cluster is the throwaway server of this test binary, or the server named by EnvURL.
type cluster struct {
	admin    string // DSN of the maintenance database, to create and drop databases on
	dir      string // temporary directory (throwaway cluster only)
	watchdog *exec.Cmd
	pipe     io.WriteCloser // closing it makes the watchdog stop the cluster
}

// Available reports whether URL can provide a database: false with the reason when it would skip.
// It does not start a cluster.
func Available() (bool, string) {
	if os.Getenv(EnvURL) != "" {
		return true, ""
	}
	if _, _, err := findBinaries(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// URL returns the connection string (postgres://...) of a new, empty database for the calling test,
// dropped when the test ends (after the test's own cleanups registered later, such as closing a
// store, have run). It skips the test when PostgreSQL is not available (see the package doc) and
// fails it when the server cannot be started or reached. Safe for parallel tests.
func URL(t testing.TB) string {
	t.Helper()
	c, err := get()
	if err != nil {
		var na notAvailable
		if errors.As(err, &na) {
			msg := "PostgreSQL not available (" + na.reason + "): set " + EnvURL +
				"=postgres://user:password@host/db (a role allowed to create databases) or install PostgreSQL (initdb and pg_ctl on PATH; Debian: apt-get install postgresql)"
			if os.Getenv(EnvRequired) == "1" {
				t.Fatal(msg + "; failing because " + EnvRequired + "=1")
			}
			t.Skip(msg)
		}
		t.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("oi_t_%d_%d", os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends sessions a test leaked; a failure to drop only leaves a database behind.
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(c.admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Maybe is URL for tests that run on several kinds of store and take PostgreSQL when there is
// one: it returns ok false, logging why, where URL would skip (it fails as URL does with
// OPENINTENT_TEST_POSTGRES_REQUIRED=1, or when PostgreSQL is there but broken).
func Maybe(t testing.TB) (dsn string, ok bool) {
	t.Helper()
	if os.Getenv(EnvRequired) != "1" {
		if _, err := get(); err != nil {
			var na notAvailable
			if errors.As(err, &na) {
				t.Logf("pgtest: not on PostgreSQL: %s (set %s or install PostgreSQL)", na.reason, EnvURL)
				return "", false
			}
		}
	}
	return URL(t), true
}

// Main runs the tests of a package and then stops the throwaway cluster, if one was started:
// func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }. Without it the cluster is stopped by
// its watchdog when the process exits.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the throwaway cluster now and waits for it to be gone (a no-op when none runs or the
// databases come from OPENINTENT_TEST_POSTGRES). A later URL starts a new cluster.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if cl != nil && cl.pipe != nil {
		_ = cl.pipe.Close()
		_ = cl.watchdog.Wait()
	}
	cl, started, startE = nil, false, nil
}

type notAvailable struct{ reason string }

func (e notAvailable) Error() string { return "PostgreSQL not available: " + e.reason }

func get() (*cluster, error) {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		cl, startE = start()
	}
	return cl, startE
}

func start() (*cluster, error) {
	if env := os.Getenv(EnvURL); env != "" {
		if _, err := pgx.ParseConfig(env); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		return &cluster{admin: env}, nil
	}
	initdb, pgctl, err := findBinaries()
	if err != nil {
		return nil, notAvailable{err.Error()}
	}
	return startCluster(initdb, pgctl)
}

// findBinaries looks for initdb and pg_ctl on PATH, then in the newest /usr/lib/postgresql/*/bin
// (Debian installs them there without putting them on PATH).
func findBinaries() (initdb, pgctl string, err error) {
	if runtime.GOOS == "windows" {
		return "", "", errors.New("no throwaway cluster on windows")
	}
	i, err1 := exec.LookPath("initdb")
	p, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return i, p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(a, b int) bool { return version(dirs[a]) > version(dirs[b]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "pg_ctl")
		if isExec(i) && isExec(p) {
			return i, p, nil
		}
	}
	return "", "", errors.New("initdb and pg_ctl not found on PATH nor under /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startCluster runs initdb and pg_ctl start in a new temporary directory, and the watchdog that
// stops the cluster when this process ends.
func startCluster(initdb, pgctl string) (*cluster, error) {
	// The socket path (dir + "/.s.PGSQL.5432") must fit in 107 bytes: use a short directory,
	// which the cluster's owner must be able to reach when it is not this process's user.
	base := os.TempDir()
	if len(base) > 60 || (os.Geteuid() == 0 && !traversable(base)) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "oipg")
	if err != nil {
		return nil, err
	}
	var cred []string // prefix running a command as the cluster's owner
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, notAvailable{"running as root and there is no user \"postgres\" to run the cluster as"}
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			os.RemoveAll(dir)
			return nil, notAvailable{"running as root and setpriv (util-linux) is not on PATH"}
		}
		cred = []string{setpriv, "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}
		if !traversable(base) {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("temporary directory %s is not traversable by user postgres: set TMPDIR", base)
		}
	}
	data := filepath.Join(dir, "data")
	logf := filepath.Join(dir, "log")
	fail := func(step string, err error, out []byte) (*cluster, error) {
		tail, _ := os.ReadFile(logf)
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %v\n%s\n%s", step, err, out, tail)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	run := func(args ...string) ([]byte, error) {
		full := append(append([]string{}, cred...), args...)
		cmd := exec.CommandContext(ctx, full[0], full[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a ^C to the test leaves cleanup to the watchdog
		return cmd.CombinedOutput()
	}
	if out, err := run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return fail("initdb", err, out)
	}
	opts := strings.Join([]string{
		"-k " + dir,                   // the unix socket lives here
		"-c listen_addresses=''",      // and no TCP port at all
		"-c fsync=off",                // a throwaway cluster: no durability
		"-c synchronous_commit=off",   //
		"-c full_page_writes=off",     //
		"-c autovacuum=off",           // short-lived databases: no background transactions
		"-c max_connections=300",      // many stores (pools) per test binary
		"-c shared_buffers=32MB",      //
		"-c log_min_messages=warning", //
	}, " ")
	if out, err := run(pgctl, "-D", data, "-l", logf, "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-o", opts, "start"); err != nil {
		return fail("pg_ctl start", err, out)
	}

	// The watchdog: waits for EOF on its stdin (this process gone or Stop), then stops the cluster
	// and removes the directory. Its own process group, so a ^C reaches only the test binary.
	stop := strings.Join(append(append([]string{}, shellQuote(cred)...), shellQuote([]string{pgctl, "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"})...), " ")
	script := "cat >/dev/null; " + stop + " >/dev/null 2>&1; rm -rf " + shellQuote([]string{dir})[0]
	wd := exec.Command("/bin/sh", "-c", script)
	wd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := wd.StdinPipe()
	if err != nil {
		run(pgctl, "-D", data, "-m", "immediate", "stop")
		return fail("watchdog", err, nil)
	}
	if err := wd.Start(); err != nil {
		run(pgctl, "-D", data, "-m", "immediate", "stop")
		return fail("watchdog", err, nil)
	}
	admin := "postgres:///postgres?host=" + url.QueryEscape(dir) + "&user=postgres&sslmode=disable"
	c := &cluster{admin: admin, dir: dir, watchdog: wd, pipe: pipe}
	// pg_ctl -w has waited for the server to accept connections; check once more, patiently.
	deadline := time.Now().Add(startTimeout)
	for {
		err := c.exec(ctx, "SELECT 1")
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			pipe.Close()
			wd.Wait()
			return nil, fmt.Errorf("cluster in %s does not answer: %v", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return false
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func shellQuote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// exec runs one statement on the maintenance database.
func (c *cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn naming database name instead of its own.
func withDatabase(dsn, name string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return "", fmt.Errorf("%s must be a URL (postgres://...), not key=value pairs", EnvURL)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}
