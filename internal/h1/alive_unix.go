//go:build unix

package h1

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection can take a request: its socket
// has nothing to read and has not been closed by the server. A server that
// closed the connection while it sat idle, or sent something nobody asked
// for (a 408, say), makes it unusable. It looks without reading, and without
// waiting: MSG_PEEK|MSG_DONTWAIT.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	ok = false
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, open. No error: unsolicited bytes, or
		// zero of them, the server's close. Any other error: broken.
		ok = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // done: never wait for readability
	})
	return err == nil && ok
}
