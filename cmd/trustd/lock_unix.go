//go:build unix

package main

import (
	"os"
	"syscall"
)

// errWouldBlock is what flock answers when another process holds the lock.
var errWouldBlock error = syscall.EWOULDBLOCK

// flock takes an exclusive lock on f without waiting.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}
