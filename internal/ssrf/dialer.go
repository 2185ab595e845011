package ssrf

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Defaults of a [Dialer] whose Dialer field is nil.
const (
	// DefaultDialTimeout bounds the whole dial, shared between the resolved
	// addresses as [net.Dialer] shares its Timeout.
	DefaultDialTimeout = 10 * time.Second
	// DefaultKeepAlive is the TCP keep-alive probe interval of dialed
	// connections.
	DefaultKeepAlive = 30 * time.Second
)

// Resolver looks up the addresses of a host name. [*net.Resolver] satisfies it.
// Implementations must be safe for concurrent use and should return promptly
// with ctx's error once ctx is done. network is "ip", "ip4" or "ip6".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Dialer dials only addresses its Policy allows. It resolves host names
// itself, checks every resolved address, and dials the allowed ones one after
// the other in the order the resolver returned them, sharing the dial timeout
// between them.
//
// The zero value is ready to use: it applies the zero [Policy], resolves with
// [net.DefaultResolver] and dials with a [net.Dialer] whose Timeout is
// [DefaultDialTimeout] and KeepAlive [DefaultKeepAlive].
//
// A Dialer is safe for concurrent use; its fields must not change once it is
// in use.
type Dialer struct {
	// Policy decides which addresses may be dialed.
	Policy Policy

	// Resolver looks up host names. If nil, the Resolver of the Dialer
	// field is used when set, else net.DefaultResolver.
	Resolver Resolver

	// Dialer makes the connections. If nil, a net.Dialer with the documented
	// defaults is used. Its Timeout, Deadline, LocalAddr and keep-alive
	// settings apply; its own Control or ControlContext runs after the
	// policy check of the socket address; its Resolver is used only as the
	// default of the Resolver field, since only IP addresses are dialed.
	Dialer *net.Dialer
}

// DialContext connects to address on network, which must be "tcp", "tcp4",
// "tcp6", "udp", "udp4" or "udp6". It fits the DialContext field of
// [net/http.Transport].
//
// An IP-literal host is checked and dialed. A host name listed in
// Policy.AllowHosts is resolved and dialed without checks. Any other host name
// is resolved and every address checked; the allowed ones are dialed in order
// until one connects. If every address is refused the error is the
// [*BlockedError] of the first; if some were allowed but none connected it is
// the first dial error. Whatever the resolver said, the socket address is
// checked again just before connecting, so no connection to a refused address
// is ever attempted unless its host name is allow-listed.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	lookupNetwork, err := ipNetwork(network)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if host == "" {
		// The system would pick a local address for an empty host.
		return nil, &BlockedError{Rule: RuleUnspecified}
	}

	if addr, err := netip.ParseAddr(host); err == nil {
		if blocked := d.Policy.check("", addr); blocked != nil {
			return nil, blocked
		}
		return d.dialSerial(ctx, network, d.netDialer("", true), []netip.Addr{addr}, port)
	}

	addrs, err := d.resolver().LookupNetIP(ctx, lookupNetwork, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if d.Policy.allowsHost(host) {
		return d.dialSerial(ctx, network, d.netDialer(host, false), addrs, port)
	}

	allowed := make([]netip.Addr, 0, len(addrs))
	var firstBlocked *BlockedError
	for _, addr := range addrs {
		blocked := d.Policy.check(host, addr)
		switch {
		case blocked == nil:
			allowed = append(allowed, addr)
		case firstBlocked == nil:
			firstBlocked = blocked
		}
	}
	if len(allowed) == 0 {
		return nil, firstBlocked
	}
	return d.dialSerial(ctx, network, d.netDialer(host, true), allowed, port)
}

// checkSocket applies the policy to the "ip:port" address a socket is about
// to connect to. An address it cannot parse is refused.
func (p Policy) checkSocket(host, address string) error {
	addrPort, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check socket address %q: %w", ErrBlocked, address, err)
	}
	if blocked := p.check(host, addrPort.Addr()); blocked != nil {
		return blocked
	}
	return nil
}

func (d *Dialer) resolver() Resolver {
	switch {
	case d.Resolver != nil:
		return d.Resolver
	case d.Dialer != nil && d.Dialer.Resolver != nil:
		return d.Dialer.Resolver
	default:
		return net.DefaultResolver
	}
}

// netDialer returns a copy of the configured net.Dialer. With checkSocket set
// its ControlContext refuses any socket address the policy refuses, then runs
// the configured Control or ControlContext.
func (d *Dialer) netDialer(host string, checkSocket bool) *net.Dialer {
	nd := net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: DefaultKeepAlive}
	if d.Dialer != nil {
		nd = *d.Dialer
	}
	if !checkSocket {
		return &nd
	}
	next := nd.ControlContext
	if next == nil && nd.Control != nil {
		control := nd.Control
		next = func(_ context.Context, network, address string, c syscall.RawConn) error {
			return control(network, address, c)
		}
	}
	policy := d.Policy
	nd.Control = nil
	nd.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := policy.checkSocket(host, address); err != nil {
			return err
		}
		if next != nil {
			return next(ctx, network, address, c)
		}
		return nil
	}
	return &nd
}

// dialSerial dials addrs in order until one connects and returns the first
// error if none does. Like net.Dialer, it gives each remaining address an
// equal share of the time left, but at least a couple of seconds.
func (d *Dialer) dialSerial(ctx context.Context, network string, nd *net.Dialer, addrs []netip.Addr, port string) (net.Conn, error) {
	deadline := dialDeadline(ctx, time.Now(), nd)
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	// The deadline now travels in ctx; per-address shares shorten it.
	nd.Timeout, nd.Deadline = 0, time.Time{}

	var firstErr error
	for i, addr := range addrs {
		conn, err := dialOne(ctx, nd, network, net.JoinHostPort(addr.Unmap().String(), port), deadline, len(addrs)-i)
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

func dialOne(ctx context.Context, nd *net.Dialer, network, hostPort string, deadline time.Time, remaining int) (net.Conn, error) {
	if !deadline.IsZero() && remaining > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, partialDeadline(time.Now(), deadline, remaining))
		defer cancel()
	}
	return nd.DialContext(ctx, network, hostPort)
}

// dialDeadline is the earliest of ctx's deadline, now+nd.Timeout and
// nd.Deadline, or zero if none is set.
func dialDeadline(ctx context.Context, now time.Time, nd *net.Dialer) time.Time {
	var earliest time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	if nd.Timeout > 0 {
		consider(now.Add(nd.Timeout))
	}
	consider(nd.Deadline)
	if d, ok := ctx.Deadline(); ok {
		consider(d)
	}
	return earliest
}

// partialDeadline gives one of remaining addresses its share of the time
// until deadline: an equal share, but no less than minimumShare unless less
// than that is left.
func partialDeadline(now, deadline time.Time, remaining int) time.Time {
	const minimumShare = 2 * time.Second
	left := deadline.Sub(now)
	share := left / time.Duration(remaining)
	if share < minimumShare {
		share = min(minimumShare, left)
	}
	return now.Add(share)
}

// ipNetwork maps a dial network to the lookup network of its addresses.
func ipNetwork(network string) (string, error) {
	switch network {
	case "tcp", "udp":
		return "ip", nil
	case "tcp4", "udp4":
		return "ip4", nil
	case "tcp6", "udp6":
		return "ip6", nil
	}
	return "", net.UnknownNetworkError(network)
}
