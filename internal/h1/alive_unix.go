//go:build unix

package h1

import (
	"net"
	"syscall"
)

// initAlive prepares alive: the socket of raw, c's TCP connection (under
// TLS for https), if it gives access to it, and the look at it as a func
// made once.
func (c *conn) initAlive(raw net.Conn) {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		c.rawConn, c.peek = rc, c.peekSocket
	}
}

// alive reports whether an idle connection can take a request: its socket
// has nothing to read and has not been closed by the server. A server that
// closed the connection while it sat idle, or sent something nobody asked
// for (a 408, say), makes it unusable. It looks without reading and without
// waiting (MSG_PEEK|MSG_DONTWAIT), and trusts a connection whose socket it
// cannot reach (a dialer's wrapper that hides it).
func (c *conn) alive() bool {
	if c.rawConn == nil {
		return true
	}
	c.peekOK = false
	if err := c.rawConn.Read(c.peek); err != nil {
		return false
	}
	return c.peekOK
}

// peekSocket is alive's look at the socket fd.
func (c *conn) peekSocket(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// EAGAIN: nothing to read, open. No error: unsolicited bytes, or zero
	// of them, the server's close. Any other error: broken.
	c.peekOK = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true // done: never wait for readability
}
