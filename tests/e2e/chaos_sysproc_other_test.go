//go:build !linux

package e2e

import "syscall"

// procSysProcAttr puts a service process in a process group of its own.
func procSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
