package emulator

import (
	"fmt"
	"net"
)

// FreePort returns a TCP port on 127.0.0.1 that was free when checked. Another program can take
// it before the caller binds it, so callers retry on "address already in use".
func FreePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	if err := listener.Close(); err != nil {
		return 0, fmt.Errorf("release port %d: %w", port, err)
	}
	return port, nil
}

// LoopbackListener listens on a free TCP port on 127.0.0.1. Use it for servers that a child
// process must reach while it starts, such as the versitygw event webhook receiver, because it
// has no window in which another program can take the port.
func LoopbackListener() (net.Listener, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on a free port on 127.0.0.1: %w", err)
	}
	return listener, nil
}
