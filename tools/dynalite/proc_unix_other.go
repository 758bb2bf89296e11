//go:build unix && !linux

package dynalite

import "syscall"

// sysProcAttr starts node as the leader of a new process group, so Stop can
// kill it and anything it spawns.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
