package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAPIKeysFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	content := "# agents of the team\nalice-secret=alice\n\nbob-secret=bob|bob-ci\nservice-secret\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := readKeysFile(path)
	if err != nil || !slices.Equal(keys, []string{"alice-secret=alice", "bob-secret=bob|bob-ci", "service-secret"}) {
		t.Fatalf("keys %q, err %v", keys, err)
	}
	// A file others may read is refused, without quoting its keys.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readKeysFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "secret") {
		t.Errorf("world-readable keys file: %v", err)
	}
	// A bad line is named by its number, not its content.
	if err := os.WriteFile(path, []byte("ok-key\nbad-secret=\xff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readKeysFile(path); err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "bad-secret") {
		t.Errorf("bad line: %v", err)
	}
	if _, err := readKeysFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file is not an error")
	}
}
