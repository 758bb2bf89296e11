package e2e

import "syscall"

// procSysProcAttr puts a service process in a process group of its own and
// has the kernel kill it when the test process dies (a test timeout or a
// panic must not leave services running).
func procSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
