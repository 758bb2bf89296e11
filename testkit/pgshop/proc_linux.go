//go:build linux

package pgshop

import "syscall"

// sysProcAttr runs a PostgreSQL program with cred (nil: as ourselves) and
// has the kernel end it with SIGQUIT (the postmaster's immediate shutdown)
// should the test process die without stopping it.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
