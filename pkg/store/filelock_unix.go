//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// fileLock is a file store's claim on its database file: an exclusive flock on the side file
// <path>.lock, which holds the owner's process id. The kernel drops it when the process ends,
// however it ends. Stores of one process share the lock of a file (tests open a second store on
// a file to read what the first wrote); another process is refused.
type fileLock struct{ held *heldLock }

// heldLock is a lock this process holds, shared by the stores that opened its file.
type heldLock struct {
	f    *os.File
	key  [2]uint64 // device and inode of the lock file
	refs int       // guarded by heldLocks.mu
}

var heldLocks = struct {
	mu sync.Mutex
	m  map[[2]uint64]*heldLock
}{m: map[[2]uint64]*heldLock{}}

// lockFile takes the lock of the store file at path, or reports who holds it.
func lockFile(path string) (*fileLock, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", name, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: lock %s: %w", name, err)
	}
	key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
	heldLocks.mu.Lock()
	defer heldLocks.mu.Unlock()
	if h, ok := heldLocks.m[key]; ok {
		f.Close()
		h.refs++
		return &fileLock{held: h}, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(name)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = "process " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("store: %s is in use by %s (lock file %s); a file store is opened by one process at a time: use PostgreSQL for several", path, holder, name)
		}
		return nil, fmt.Errorf("store: lock %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	h := &heldLock{f: f, key: key, refs: 1}
	heldLocks.m[key] = h
	return &fileLock{held: h}, nil
}

// release gives the lock up when no other store of the process holds it. The side file stays:
// removing it would let a process that opened it just before lock a file nobody else locks.
func (l *fileLock) release() error {
	if l == nil || l.held == nil {
		return nil
	}
	h := l.held
	l.held = nil
	heldLocks.mu.Lock()
	defer heldLocks.mu.Unlock()
	if h.refs--; h.refs > 0 {
		return nil
	}
	delete(heldLocks.m, h.key)
	return h.f.Close() // closing the descriptor drops the flock
}
