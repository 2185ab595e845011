package ssrf

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Rule names the reason an address is refused. Its values are stable strings,
// suitable for errors, logs and metric attributes.
type Rule string

// The rules, checked in the order that makes the most specific one win: a
// cloud-metadata address is reported as [RuleMetadata] although it also lies
// in a link-local or carrier-grade NAT range.
const (
	// RuleLoopback refuses 127.0.0.0/8 and ::1.
	RuleLoopback Rule = "loopback"
	// RulePrivate refuses 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
	// the unique local fc00::/7 and the deprecated site-local fec0::/10.
	RulePrivate Rule = "private"
	// RuleLinkLocal refuses 169.254.0.0/16 and fe80::/10.
	RuleLinkLocal Rule = "link-local"
	// RuleCGNAT refuses the carrier-grade NAT range 100.64.0.0/10.
	RuleCGNAT Rule = "cgnat"
	// RuleMulticast refuses 224.0.0.0/4 and ff00::/8.
	RuleMulticast Rule = "multicast"
	// RuleUnspecified refuses 0.0.0.0/8, :: and the invalid zero netip.Addr.
	RuleUnspecified Rule = "unspecified"
	// RuleMetadata refuses the instance metadata and credential endpoints of
	// cloud providers: 169.254.169.254 (AWS, GCP, Azure, OpenStack and most
	// others), 169.254.170.2 (AWS ECS task credentials), 169.254.170.23 and
	// fd00:ec2::23 (AWS EKS Pod Identity), fd00:ec2::254 (AWS IMDS over IPv6),
	// 100.100.100.200 (Alibaba Cloud) and 168.63.129.16 (Azure WireServer).
	RuleMetadata Rule = "cloud-metadata"
	// RuleReserved refuses addresses that are not globally routable for other
	// reasons: 240.0.0.0/4 including the broadcast 255.255.255.255,
	// 192.0.0.0/24, the documentation ranges 192.0.2.0/24, 198.51.100.0/24,
	// 203.0.113.0/24, 2001:db8::/32 and 3fff::/20, benchmarking 198.18.0.0/15
	// and 2001:2::/48, the deprecated 6to4 relay 192.88.99.0/24, Teredo
	// 2001::/32, ORCHID 2001:10::/28, and every IPv6 address outside the
	// global unicast 2000::/3 not named by another rule (such as the discard
	// prefix 100::/64 and the local-use NAT64 prefix 64:ff9b:1::/48).
	RuleReserved Rule = "reserved"
)

// ErrBlocked is matched by every refusal: errors.Is(err, ErrBlocked) holds
// for a [*BlockedError] and for any error wrapping one.
var ErrBlocked = errors.New("ssrf: address blocked")

// ErrInvalidPolicy is wrapped by every problem [Policy.Validate] reports.
var ErrInvalidPolicy = errors.New("ssrf: invalid policy")

// BlockedError reports a refused address and the rule that refused it.
// errors.Is(err, ErrBlocked) holds for it.
type BlockedError struct {
	// Host is the host name being dialed, empty when the address was given
	// as an IP literal or checked directly with [Policy.Check].
	Host string
	// Addr is the refused address as resolved or given, zone included.
	Addr netip.Addr
	// Rule names the range Addr belongs to.
	Rule Rule
}

// Error returns a message such as
// `ssrf: refused to dial 10.0.0.1 for "internal.example" (private address)`.
func (e *BlockedError) Error() string {
	if e.Host == "" {
		return fmt.Sprintf("ssrf: refused to dial %s (%s address)", e.Addr, e.Rule)
	}
	return fmt.Sprintf("ssrf: refused to dial %s for %q (%s address)", e.Addr, e.Host, e.Rule)
}

// Is reports whether target is [ErrBlocked].
func (e *BlockedError) Is(target error) bool {
	return target == ErrBlocked
}

// Policy decides which addresses may be dialed. The zero value refuses every
// address that a [Rule] names and allows every other (public) address.
//
// A Policy is read-only once in use and is then safe for concurrent use.
// Entries that [Policy.Validate] would report match nothing, so a mistake in
// an allow-list never widens it.
type Policy struct {
	// AllowPrefixes lists networks whose addresses are allowed whatever rule
	// names them, for example 127.0.0.0/8 for a test server or 10.1.2.0/24
	// for an internal receiver. An IPv4 prefix also covers the IPv4-mapped
	// IPv6 form of its addresses (::ffff:127.0.0.1); NAT64 and 6to4 forms
	// must be listed as IPv6 prefixes. Zones are ignored.
	AllowPrefixes []netip.Prefix

	// AllowHosts lists host names whose resolved addresses are not checked.
	// Matching is case-insensitive and ignores a trailing dot. An entry is
	// either an exact name ("hooks.internal") or a leading wildcard label
	// ("*.svc.cluster.local") that matches any name with at least one more
	// label in front of the suffix, but not the suffix itself. Names must be
	// ASCII (punycode for internationalised names), as HTTP clients dial
	// them. IP literals are not host names: list them in AllowPrefixes.
	AllowHosts []string
}

// Check returns nil if addr may be dialed and otherwise a [*BlockedError]
// with an empty Host naming the rule that refused it.
// IPv4 addresses embedded in IPv6 (IPv4-mapped, IPv4-compatible, NAT64
// 64:ff9b::/96, 6to4 2002::/16) are judged as the IPv4 address they carry.
func (p Policy) Check(addr netip.Addr) error {
	if blocked := p.check("", addr); blocked != nil {
		return blocked
	}
	return nil
}

// CheckHost returns what dialing host would, when that is known without
// resolving it: for an IP literal, Check's answer; for
// localhost and the names under it, which always stand for loopback (RFC
// 6761), a [*BlockedError] unless AllowHosts lists the name or
// AllowPrefixes allows 127.0.0.1 or ::1. Any other name is nil: its
// addresses are judged when it is dialed.
func (p Policy) CheckHost(host string) error {
	if addr, err := netip.ParseAddr(host); err == nil {
		if blocked := p.check("", addr); blocked != nil {
			return blocked
		}
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name != "localhost" && !strings.HasSuffix(name, ".localhost") || p.allowsHost(host) {
		return nil
	}
	v4 := p.check(host, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	if v4 == nil || p.check(host, netip.IPv6Loopback()) == nil {
		return nil
	}
	return v4
}

// Validate reports every malformed entry, each wrapping [ErrInvalidPolicy],
// joined with errors.Join: zero-value prefixes and host names that are empty,
// IP literals, carry a port, contain characters other than ASCII letters,
// digits, '-', '_' and '.', or use '*' other than as a whole leading label.
func (p Policy) Validate() error {
	var errs []error
	for i, prefix := range p.AllowPrefixes {
		if !prefix.IsValid() {
			errs = append(errs, fmt.Errorf("%w: AllowPrefixes[%d] is not a valid prefix", ErrInvalidPolicy, i))
		}
	}
	for i, host := range p.AllowHosts {
		if problem := hostProblem(host); problem != "" {
			errs = append(errs, fmt.Errorf("%w: AllowHosts[%d] %q %s", ErrInvalidPolicy, i, host, problem))
		}
	}
	return errors.Join(errs...)
}

// check is Check for an address resolved from host, with a concrete result
// type so that callers never hold a non-nil error interface around a nil
// pointer.
func (p Policy) check(host string, addr netip.Addr) *BlockedError {
	rule, blocked := classify(addr)
	if !blocked || p.allowsAddr(addr) {
		return nil
	}
	return &BlockedError{Host: host, Addr: addr, Rule: rule}
}

// allowsAddr reports whether addr lies in one of p.AllowPrefixes.
func (p Policy) allowsAddr(addr netip.Addr) bool {
	addr = addr.WithZone("")
	for _, prefix := range p.AllowPrefixes {
		if prefix.Contains(addr) || (addr.Is4In6() && prefix.Contains(addr.Unmap())) {
			return true
		}
	}
	return false
}

// allowsHost reports whether host matches one of p.AllowHosts.
func (p Policy) allowsHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	for _, entry := range p.AllowHosts {
		if hostProblem(entry) != "" {
			continue
		}
		entry = strings.TrimSuffix(entry, ".")
		if suffix, ok := strings.CutPrefix(entry, "*."); ok {
			if matchesWildcard(host, suffix) {
				return true
			}
		} else if strings.EqualFold(host, entry) {
			return true
		}
	}
	return false
}

// matchesWildcard reports whether host is suffix preceded by at least one
// non-empty label.
func matchesWildcard(host, suffix string) bool {
	cut := len(host) - len(suffix)
	return cut >= 2 && host[cut-1] == '.' && strings.EqualFold(host[cut:], suffix)
}

// hostProblem describes what is wrong with an AllowHosts entry, or returns ""
// if nothing is.
func hostProblem(host string) string {
	name := strings.TrimSuffix(host, ".")
	if name == "" {
		return "is empty"
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return "is an IP address; list it in AllowPrefixes"
	}
	if strings.Contains(name, ":") {
		return "has a port or is not a host name"
	}
	name = strings.TrimPrefix(name, "*.")
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return "has an empty label"
		}
		if label == "*" {
			return "may use '*' only as the whole leading label"
		}
		for _, c := range []byte(label) {
			if !isHostByte(c) {
				return "contains characters not allowed in a host name"
			}
		}
	}
	return ""
}

func isHostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// classify returns the rule that refuses addr, or false if addr is public.
func classify(addr netip.Addr) (Rule, bool) {
	switch {
	case !addr.IsValid():
		return RuleUnspecified, true
	case addr.Is4():
		return classify4(addr.As4())
	default:
		return classify6(addr.As16())
	}
}

// classify4 applies the IPv4 rules. The IANA IPv4 Special-Purpose Address
// Registry is the reference; its globally reachable entries (AS112, AMT and
// the like) are left alone.
func classify4(a [4]byte) (Rule, bool) {
	switch {
	case isMetadata4(a):
		return RuleMetadata, true
	case a[0] == 0: // "this network", RFC 791
		return RuleUnspecified, true
	case a[0] == 127: // RFC 1122
		return RuleLoopback, true
	case a[0] == 10, a[0] == 172 && a[1]&0xf0 == 16, a[0] == 192 && a[1] == 168: // RFC 1918
		return RulePrivate, true
	case a[0] == 100 && a[1]&0xc0 == 64: // shared address space, RFC 6598
		return RuleCGNAT, true
	case a[0] == 169 && a[1] == 254: // RFC 3927
		return RuleLinkLocal, true
	case a[0]&0xf0 == 224: // RFC 5771
		return RuleMulticast, true
	case a[0]&0xf0 == 240: // RFC 1112, with the limited broadcast RFC 919
		return RuleReserved, true
	case a[0] == 192 && a[1] == 0 && a[2] == 0: // IETF protocol assignments, RFC 6890
		return RuleReserved, true
	case a[0] == 192 && a[1] == 0 && a[2] == 2, // TEST-NET-1, RFC 5737
		a[0] == 198 && a[1] == 51 && a[2] == 100, // TEST-NET-2
		a[0] == 203 && a[1] == 0 && a[2] == 113:  // TEST-NET-3
		return RuleReserved, true
	case a[0] == 198 && a[1]&0xfe == 18: // benchmarking, RFC 2544
		return RuleReserved, true
	case a[0] == 192 && a[1] == 88 && a[2] == 99: // 6to4 relay anycast, deprecated by RFC 7526
		return RuleReserved, true
	}
	return "", false
}

func isMetadata4(a [4]byte) bool {
	switch a {
	case [4]byte{169, 254, 169, 254}, // instance metadata of most clouds
		[4]byte{169, 254, 170, 2},   // AWS ECS task credentials
		[4]byte{169, 254, 170, 23},  // AWS EKS Pod Identity
		[4]byte{100, 100, 100, 200}, // Alibaba Cloud
		[4]byte{168, 63, 129, 16}:   // Azure WireServer, a public address
		return true
	}
	return false
}

// classify6 applies the IPv6 rules. Outside 2000::/3 IANA assigns no global
// unicast space, so anything there not named otherwise is reserved.
func classify6(a [16]byte) (Rule, bool) {
	if v4, ok := embeddedIPv4(a); ok {
		return classify4(v4)
	}
	switch {
	case isMetadata6(a):
		return RuleMetadata, true
	case a == [16]byte{}:
		return RuleUnspecified, true
	case a == [16]byte{15: 1}:
		return RuleLoopback, true
	case a[0] == 0xff: // RFC 4291
		return RuleMulticast, true
	case a[0] == 0xfe && a[1]&0xc0 == 0x80: // fe80::/10, RFC 4291
		return RuleLinkLocal, true
	case a[0] == 0xfe && a[1]&0xc0 == 0xc0: // site-local fec0::/10, deprecated by RFC 3879
		return RulePrivate, true
	case a[0]&0xfe == 0xfc: // unique local fc00::/7, RFC 4193
		return RulePrivate, true
	case a[0]&0xe0 != 0x20: // outside global unicast 2000::/3
		return RuleReserved, true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8: // documentation 2001:db8::/32, RFC 3849
		return RuleReserved, true
	case a[0] == 0x3f && a[1] == 0xff && a[2]&0xf0 == 0: // documentation 3fff::/20, RFC 9637
		return RuleReserved, true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0: // Teredo 2001::/32, RFC 4380
		return RuleReserved, true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0x02 && a[4] == 0 && a[5] == 0: // benchmarking 2001:2::/48, RFC 5180
		return RuleReserved, true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3]&0xf0 == 0x10: // ORCHID 2001:10::/28, deprecated by RFC 7343
		return RuleReserved, true
	}
	return "", false
}

func isMetadata6(a [16]byte) bool {
	switch a {
	case [16]byte{0: 0xfd, 2: 0x0e, 3: 0xc2, 14: 0x02, 15: 0x54}, // fd00:ec2::254, AWS IMDS
		[16]byte{0: 0xfd, 2: 0x0e, 3: 0xc2, 15: 0x23}: // fd00:ec2::23, AWS EKS Pod Identity
		return true
	}
	return false
}

// embeddedIPv4 returns the IPv4 address carried by an IPv4-mapped,
// IPv4-compatible, NAT64 (64:ff9b::/96, RFC 6052) or 6to4 (2002::/16,
// RFC 3056) address. The unspecified address and ::1 carry none.
func embeddedIPv4(a [16]byte) ([4]byte, bool) {
	v4 := [4]byte(a[12:16])
	switch {
	case [10]byte(a[:10]) == [10]byte{} && a[10] == 0xff && a[11] == 0xff: // ::ffff:0:0/96
		return v4, true
	case [12]byte(a[:12]) == [12]byte{}: // ::/96, deprecated by RFC 4291
		if v4 == [4]byte{} || v4 == [4]byte{3: 1} {
			return [4]byte{}, false
		}
		return v4, true
	case a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && [8]byte(a[4:12]) == [8]byte{}:
		return v4, true
	case a[0] == 0x20 && a[1] == 0x02:
		return [4]byte(a[2:6]), true
	}
	return [4]byte{}, false
}
