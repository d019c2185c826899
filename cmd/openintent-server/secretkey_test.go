package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A PostgreSQL store is shared by replicas, which must share the secret key: the server refuses
// to start without one given (it never makes one up, nor writes a key file), before connecting,
// and its message names both ways to give it and never the database password.
func TestDatabaseURLNeedsTheSecretKeyGiven(t *testing.T) {
	t.Setenv("OPENINTENT_SECRET_KEY", "")
	t.Setenv("OPENINTENT_SECRET_KEY_FILE", "")
	dir := t.TempDir()
	t.Chdir(dir)
	db := "postgres://oi:hunter2-password@127.0.0.1:1/openintent"
	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-db", db, "-api-keys", "k"})
	if err == nil || !strings.Contains(err.Error(), "OPENINTENT_SECRET_KEY") || !strings.Contains(err.Error(), "-secret-key-file") {
		t.Fatalf("no secret key: %v, want a refusal naming OPENINTENT_SECRET_KEY and -secret-key-file", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error shows the database password: %v", err)
	}

	missing := filepath.Join(dir, "replica.key")
	err = run(t.Context(), []string{"-addr", "127.0.0.1:0", "-db", db, "-api-keys", "k", "-secret-key-file", missing})
	if err == nil || !strings.Contains(err.Error(), "never created") {
		t.Fatalf("missing key file: %v, want a refusal saying it is not created", err)
	}
	if _, serr := os.Stat(missing); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("the key file was created for a PostgreSQL store (%v)", serr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files written in the working directory: %v", entries)
	}

	key := strings.Repeat("ab", 32)
	if err := os.WriteFile(missing, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := loadSecretKey(db, missing)
	if err != nil || len(k) != 32 || k[0] != 0xab {
		t.Fatalf("key file: %x, %v", k, err)
	}
	t.Setenv("OPENINTENT_SECRET_KEY", strings.Repeat("cd", 32))
	if k, err := loadSecretKey(db, ""); err != nil || len(k) != 32 || k[0] != 0xcd {
		t.Fatalf("OPENINTENT_SECRET_KEY: %x, %v", k, err)
	}
}

// The store named in the log, and errors about the database, never show its password.
func TestDatabasePasswordStaysOutOfLogsAndErrors(t *testing.T) {
	for db, want := range map[string]string{
		"postgres://oi:s3cret@db.internal:5432/openintent?sslmode=require": "postgres://oi:xxxxx@db.internal:5432/openintent?sslmode=require",
		"postgresql://db.internal/openintent?user=oi&password=s3cret":      "postgresql://db.internal/openintent?password=xxxxx&user=oi",
		"openintent.db": "openintent.db",
	} {
		if got := redactedStore(db); got != want {
			t.Errorf("redactedStore(%q) = %q, want %q", db, got, want)
		}
		err := scrubPassword(errors.New("connect to "+db+": password s3cret rejected"), db)
		if strings.Contains(db, "postgres") && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("scrubPassword left the password: %v", err)
		}
	}
}
