//go:build !linux

package main

import "syscall"

// childProcAttr has no parent-death signal to offer outside Linux; the
// trustd child is stopped by the normal exit paths only.
func childProcAttr() *syscall.SysProcAttr { return nil }
