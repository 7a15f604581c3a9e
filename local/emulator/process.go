// Package emulator starts and stops the local stand-ins for AWS services that ClinicPix uses
// in development and tests: DynamoDB Local (a Java program) and versitygw (an S3-compatible
// gateway that serves a directory tree). Each runs as a child process in its own process group.
//
// The tools are installed into <repo>/.tools by `make tools`. See README.md in this directory
// for what versitygw v1.8.0 does differently from Amazon S3.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStartTimeout is how long Start functions wait for a child process to accept requests
// when their context has no deadline.
const DefaultStartTimeout = 60 * time.Second

// stopGracePeriod is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGracePeriod = 5 * time.Second

// outputTailSize is how many bytes of a child's most recent output are kept for error messages.
const outputTailSize = 4096

// Process is a running emulator child process. Its methods are safe for concurrent use.
type Process struct {
	name     string
	endpoint string
	port     int
	cmd      *exec.Cmd
	output   *tailBuffer

	exited  chan struct{} // closed after cmd.Wait returns
	waitErr error         // result of cmd.Wait, readable once exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Endpoint returns the base URL of the emulator, for example "http://127.0.0.1:41234".
func (p *Process) Endpoint() string { return p.endpoint }

// Port returns the TCP port the emulator listens on.
func (p *Process) Port() int { return p.port }

// PID returns the process ID of the child, which is also its process group ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited returns a channel that is closed when the child process has exited, whether through
// Stop or on its own.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// OutputTail returns the last few kilobytes of the child's combined stdout and stderr.
func (p *Process) OutputTail() string { return p.output.String() }

// Stop sends SIGTERM to the child's process group, waits up to five seconds, then sends
// SIGKILL, and returns once the child has exited. It returns an error only when the child had
// already exited on its own with a failure before Stop was called. Calling Stop again returns
// the first result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			if p.waitErr != nil {
				p.stopErr = fmt.Errorf("%s exited before Stop: %w\n%s",
					p.name, p.waitErr, p.OutputTail())
			}
			return
		default:
		}

		// A negative PID signals the whole process group, which Setpgid made equal to the PID.
		// ESRCH only means the group is already gone.
		pgid := -p.cmd.Process.Pid
		if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
			p.stopErr = fmt.Errorf("send SIGTERM to %s (pid %d): %w", p.name, -pgid, err)
		}
		select {
		case <-p.exited:
		case <-time.After(stopGracePeriod):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.exited
		}
	})
	return p.stopErr
}

// startProcess starts the command in its own process group with output copied to log and to a
// tail buffer. The caller must call Stop on the returned Process.
func startProcess(name string, cmd *exec.Cmd, log io.Writer, endpoint string, port int) (
	*Process, error,
) {
	p := &Process{
		name:     name,
		endpoint: endpoint,
		port:     port,
		cmd:      cmd,
		output:   &tailBuffer{max: outputTailSize},
		exited:   make(chan struct{}),
	}
	var out io.Writer = p.output
	if log != nil {
		out = io.MultiWriter(p.output, log)
	}
	// With the same comparable writer in both fields, os/exec copies stdout and stderr through
	// one goroutine, so log never receives concurrent writes from this process.
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = childProcAttr()

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady calls probe every 100 ms until it succeeds, the process exits, or ctx ends. When
// ctx has no deadline, DefaultStartTimeout applies.
func (p *Process) waitReady(ctx context.Context, probe func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	start := time.Now()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()

	var lastErr error
	for {
		probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = probe(probeCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.exited:
			reason := "exited during start-up with status 0"
			if p.waitErr != nil {
				reason = fmt.Sprintf("exited during start-up (%v)", p.waitErr)
			}
			return &startError{name: p.name, reason: reason, output: p.OutputTail()}
		case <-ctx.Done():
			return &startError{
				name: p.name,
				reason: fmt.Sprintf("did not answer at %s within %s (last error: %v)",
					p.endpoint, time.Since(start).Round(time.Millisecond), lastErr),
				output: p.OutputTail(),
			}
		case <-ticker.C:
		}
	}
}

// startError reports a child process that failed to become ready, with the tail of its output.
type startError struct {
	name   string
	reason string
	output string
}

func (e *startError) Error() string {
	output := strings.TrimSpace(e.output)
	if output == "" {
		output = "(no output)"
	}
	return fmt.Sprintf("%s %s; last output:\n%s", e.name, e.reason, output)
}

// isAddressInUse reports whether a start-up failure was caused by the port being taken, which can
// happen when another program binds a port between FreePort and the child's own bind.
func isAddressInUse(err error) bool {
	var se *startError
	if !errors.As(err, &se) {
		return false
	}
	return strings.Contains(strings.ToLower(se.output), "address already in use")
}

// childEnv returns the parent's environment without the variables named by drop (exact names,
// or prefixes ending in "*"), plus the extra entries.
func childEnv(drop []string, extra ...string) []string {
	var env []string
	for _, entry := range os.Environ() {
		name, _, _ := strings.Cut(entry, "=")
		if !matchesAny(name, drop) {
			env = append(env, entry)
		}
	}
	return append(env, extra...)
}

func matchesAny(name string, patterns []string) bool {
	for _, pattern := range patterns {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == pattern {
			return true
		}
	}
	return false
}

// tailBuffer is an io.Writer that keeps only the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, data...)
	if excess := len(b.buf) - b.max; excess > 0 {
		b.buf = bytes.Clone(b.buf[excess:])
	}
	return len(data), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
