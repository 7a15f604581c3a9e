//go:build unix && !linux

package emulator

import "syscall"

// childProcAttr puts the child in its own process group, so Stop can signal everything it
// started.
//
// NOTE: Outside Linux there is no Pdeathsig, so a child outlives a parent that is killed
// without running Stop (for example by SIGKILL or a test timeout).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
