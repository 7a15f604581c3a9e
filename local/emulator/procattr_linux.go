package emulator

import "syscall"

// childProcAttr puts the child in its own process group, so Stop can signal everything it
// started. It also sets Pdeathsig, so the kernel sends SIGKILL to the child when the parent
// dies and a crashed or killed test binary leaves no emulator behind.
//
// NOTE: Linux sends Pdeathsig when the parent thread that forked the child exits, not only when
// the whole process exits. The Go runtime does not end its threads during normal operation,
// except a thread whose goroutine called runtime.LockOSThread and returned without unlocking,
// so do not start emulators from such a goroutine.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
