//go:build !unix

package dynalite

import (
	"errors"
	"os"
	"syscall"
)

const supported = false

type sysSignal = os.Signal

var (
	sigStop sysSignal = os.Kill
	sigCont sysSignal = os.Kill
	sigKill sysSignal = os.Kill
)

var errUnsupported = errors.New("dynalite: process groups are not supported on this system")

func killGroup(int, sysSignal) error    { return errUnsupported }
func lockFile(string) (func(), error)   { return nil, errUnsupported }
func sysProcAttr() *syscall.SysProcAttr { return nil }
