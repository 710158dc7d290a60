package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFileName is the file in an SQLite database's directory that one
// trustd holds locked while it runs.
const lockFileName = "trustd.lock"

// errDataDirInUse means another trustd holds the lock of the SQLite
// database's directory: two processes on one SQLite file would each keep
// their own log head and corrupt the log's order.
var errDataDirInUse = errors.New("is in use by another trustd")

// dirLock is a held lock on a data directory; release frees it.
type dirLock struct {
	f    *os.File
	path string
}

// lockDataDir takes an exclusive, non-blocking lock on DIR/trustd.lock and
// writes this process's pid into it. When another process holds it the
// error names the directory and, if it wrote one, the holder's pid. The
// lock is the kernel's (flock): it goes away with the process holding it,
// so a crash leaves no stale lock behind.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("data directory %s %w%s, which holds %s: stop it, or give this one another --data-dir or --db", dir, errDataDirInUse, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f, path: path}, nil
}

// release unlocks and closes the lock file; the file stays (removing it
// could let a third process lock a new file while a second waits on the
// old one).
func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
}
