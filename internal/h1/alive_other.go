//go:build !unix

package h1

import "net"

// initAlive does nothing: see alive.
func (c *conn) initAlive(net.Conn) {}

// alive reports whether an idle connection can take a request. Without a
// way to look at the socket without reading it, it trusts the connection: a
// request on one the server closed fails, and is sent again when writing it
// is what failed.
func (c *conn) alive() bool { return true }
