// Package ssrf keeps outgoing connections away from addresses that a
// server-side request should never reach: loopback, private, link-local,
// carrier-grade NAT, multicast, unspecified, reserved and cloud-metadata
// addresses.
//
// The check runs after DNS resolution, on the address that is actually
// dialed, so a name that resolves to a public address when a webhook is
// configured and to a private one at delivery time (DNS rebinding) is still
// refused. [Dialer.DialContext] resolves the host itself, checks every
// address with [Policy.Check], dials only the allowed ones, and checks the
// socket address once more in the ControlContext hook of [net.Dialer] just
// before the connection is made.
//
// A [Policy] is an allow-list: its zero value refuses every non-public
// address, [Policy.AllowPrefixes] lets chosen networks through (a test server
// on 127.0.0.1, an internal receiver on 10.1.2.0/24), and
// [Policy.AllowHosts] trusts chosen host names whatever they resolve to.
// A refusal is a [*BlockedError] naming the [Rule] that matched;
// errors.Is(err, [ErrBlocked]) reports any refusal.
//
// IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96 and 6to4 2002::/16) are
// judged by the IPv4 address they carry. Zones (fe80::1%eth0) are ignored
// when classifying.
//
// Use the dialer as the DialContext of a [net/http.Transport] whose Proxy
// is nil: through a proxy the dialer only ever sees the proxy's address,
// never the target's.
//
//	d := &ssrf.Dialer{}
//	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
package ssrf
