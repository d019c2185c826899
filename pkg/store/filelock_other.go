//go:build !unix

package store

// fileLock is a no-op where flock is not available: one process at a time stays the rule, but
// it is not enforced.
type fileLock struct{}

func lockFile(string) (*fileLock, error) { return &fileLock{}, nil }

func (*fileLock) release() error { return nil }
