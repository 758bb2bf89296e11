//go:build !linux

package pgshop

import "syscall"

// sysProcAttr runs a PostgreSQL program with cred (nil: as ourselves).
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
