package main

import "syscall"

// childProcAttr makes the kernel kill the trustd child should this process
// die without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
