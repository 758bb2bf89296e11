//go:build linux

package dynalite

import "syscall"

// sysProcAttr starts node as the leader of a new process group, so Stop can
// kill it and anything it spawns, and asks the kernel to kill it should the
// test binary die without calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
