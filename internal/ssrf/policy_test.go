package ssrf

import (
	"errors"
	"net/netip"
	"testing"
)

// allowed marks an address the zero Policy lets through.
const allowed Rule = ""

func TestPolicyCheckZeroValue(t *testing.T) {
	tests := []struct {
		addr string
		want Rule
	}{
		// Public.
		{"1.1.1.1", allowed},
		{"8.8.8.8", allowed},
		{"2606:4700:4700::1111", allowed},
		{"2001:4860:4860::8888", allowed},
		{"::ffff:1.1.1.1", allowed},
		{"::1.1.1.1", allowed},
		{"64:ff9b::101:101", allowed},
		{"2002:101:101::1", allowed},
		{"2001:db9::1", allowed},
		{"2001:200::1", allowed},

		// Cloud metadata, named before the broader ranges that contain it.
		{"169.254.169.254", RuleMetadata},
		{"169.254.170.2", RuleMetadata},
		{"169.254.170.23", RuleMetadata},
		{"100.100.100.200", RuleMetadata},
		{"168.63.129.16", RuleMetadata},
		{"fd00:ec2::254", RuleMetadata},
		{"fd00:ec2::23", RuleMetadata},
		{"::ffff:169.254.169.254", RuleMetadata},
		{"64:ff9b::a9fe:a9fe", RuleMetadata},
		{"2002:a9fe:a9fe::", RuleMetadata},
		{"169.254.169.253", RuleLinkLocal},
		{"100.100.100.199", RuleCGNAT},
		{"168.63.129.15", allowed},
		{"168.63.129.17", allowed},
		{"fd00:ec2::253", RulePrivate},

		// Unspecified: 0.0.0.0/8 and ::.
		{"0.0.0.0", RuleUnspecified},
		{"0.255.255.255", RuleUnspecified},
		{"1.0.0.0", allowed},
		{"::", RuleUnspecified},
		{"::ffff:0.0.0.0", RuleUnspecified},
		{"::2", RuleUnspecified},

		// Loopback.
		{"126.255.255.255", allowed},
		{"127.0.0.0", RuleLoopback},
		{"127.0.0.1", RuleLoopback},
		{"127.255.255.255", RuleLoopback},
		{"128.0.0.0", allowed},
		{"::1", RuleLoopback},
		{"::ffff:127.0.0.1", RuleLoopback},
		{"::127.0.0.1", RuleLoopback},
		{"64:ff9b::7f00:1", RuleLoopback},
		{"2002:7f00:1::1", RuleLoopback},

		// Private.
		{"9.255.255.255", allowed},
		{"10.0.0.0", RulePrivate},
		{"10.255.255.255", RulePrivate},
		{"11.0.0.0", allowed},
		{"172.15.255.255", allowed},
		{"172.16.0.0", RulePrivate},
		{"172.31.255.255", RulePrivate},
		{"172.32.0.0", allowed},
		{"192.167.255.255", allowed},
		{"192.168.0.0", RulePrivate},
		{"192.168.255.255", RulePrivate},
		{"192.169.0.0", allowed},
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RuleReserved},
		{"fc00::", RulePrivate},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RulePrivate},
		{"fec0::1", RulePrivate},
		{"::ffff:10.0.0.1", RulePrivate},
		{"::ffff:192.168.1.1", RulePrivate},
		{"64:ff9b::a00:1", RulePrivate},
		{"2002:a00:1::1", RulePrivate},
		{"2002:c0a8:101::1", RulePrivate},

		// Carrier-grade NAT.
		{"100.63.255.255", allowed},
		{"100.64.0.0", RuleCGNAT},
		{"100.127.255.255", RuleCGNAT},
		{"100.128.0.0", allowed},
		{"::ffff:100.64.0.1", RuleCGNAT},

		// Link-local.
		{"169.253.255.255", allowed},
		{"169.254.0.0", RuleLinkLocal},
		{"169.254.255.255", RuleLinkLocal},
		{"169.255.0.0", allowed},
		{"fe80::", RuleLinkLocal},
		{"fe80::1%eth0", RuleLinkLocal},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RuleLinkLocal},
		{"64:ff9b::a9fe:1", RuleLinkLocal},

		// Multicast.
		{"223.255.255.255", allowed},
		{"224.0.0.0", RuleMulticast},
		{"239.255.255.255", RuleMulticast},
		{"ff00::", RuleMulticast},
		{"ff02::1", RuleMulticast},
		{"ff0e::1", RuleMulticast},
		{"::ffff:224.0.0.1", RuleMulticast},

		// Reserved.
		{"240.0.0.0", RuleReserved},
		{"255.255.255.254", RuleReserved},
		{"255.255.255.255", RuleReserved},
		{"191.255.255.255", allowed},
		{"192.0.0.0", RuleReserved},
		{"192.0.0.255", RuleReserved},
		{"192.0.1.0", allowed},
		{"192.0.2.0", RuleReserved},
		{"192.0.2.255", RuleReserved},
		{"192.0.3.0", allowed},
		{"192.88.99.1", RuleReserved},
		{"198.17.255.255", allowed},
		{"198.18.0.0", RuleReserved},
		{"198.19.255.255", RuleReserved},
		{"198.20.0.0", allowed},
		{"198.51.100.0", RuleReserved},
		{"198.51.100.255", RuleReserved},
		{"203.0.113.0", RuleReserved},
		{"203.0.113.255", RuleReserved},
		{"2001:db8::", RuleReserved},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", RuleReserved},
		{"3fff::1", RuleReserved},
		{"100::", RuleReserved},
		{"100::ffff:ffff:ffff:ffff", RuleReserved},
		{"64:ff9b:1::1", RuleReserved},
		{"2001::1", RuleReserved},
		{"2001:2::1", RuleReserved},
		{"2001:10::1", RuleReserved},
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RuleReserved},
		{"4000::1", RuleReserved},
		{"5f00::1", RuleReserved},
		{"::ffff:0:a00:1", RuleReserved},
		{"::ffff:255.255.255.255", RuleReserved},
		{"64:ff9b::c000:201", RuleReserved},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			err := Policy{}.Check(addr)
			if tt.want == allowed {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", addr, err)
				}
				return
			}
			assertBlocked(t, err, "", addr, tt.want)
		})
	}
}

func TestPolicyCheckInvalidAddr(t *testing.T) {
	err := Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}.Check(netip.Addr{})
	assertBlocked(t, err, "", netip.Addr{}, RuleUnspecified)
}

func TestPolicyCheckAllowPrefixes(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	tests := []struct {
		name   string
		prefix netip.Prefix
		addr   string
		want   Rule
	}{
		{"prefix allows its address", loopback, "127.0.0.1", allowed},
		{"prefix allows its last address", loopback, "127.255.255.255", allowed},
		{"IPv4 prefix allows the mapped form", loopback, "::ffff:127.0.0.1", allowed},
		{"other loopback family stays refused", loopback, "::1", RuleLoopback},
		{"NAT64 form stays refused", loopback, "64:ff9b::7f00:1", RuleLoopback},
		{"other range stays refused", loopback, "10.0.0.1", RulePrivate},
		{"metadata stays refused", loopback, "169.254.169.254", RuleMetadata},
		{"IPv6 loopback prefix", netip.MustParsePrefix("::1/128"), "::1", allowed},
		{"zone ignored", netip.MustParsePrefix("fe80::/10"), "fe80::1%eth0", allowed},
		{"internal subnet", netip.MustParsePrefix("10.1.2.0/24"), "10.1.2.3", allowed},
		{"outside internal subnet", netip.MustParsePrefix("10.1.2.0/24"), "10.1.3.1", RulePrivate},
		{"unmasked prefix", netip.MustParsePrefix("10.1.2.3/24"), "10.1.2.200", allowed},
		{"everything", netip.MustParsePrefix("0.0.0.0/0"), "169.254.169.254", allowed},
		{"zero prefix matches nothing", netip.Prefix{}, "127.0.0.1", RuleLoopback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{AllowPrefixes: []netip.Prefix{tt.prefix}}
			addr := netip.MustParseAddr(tt.addr)
			err := p.Check(addr)
			if tt.want == allowed {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", addr, err)
				}
				return
			}
			assertBlocked(t, err, "", addr, tt.want)
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	valid := func() Policy {
		return Policy{
			AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
			AllowHosts:    []string{"localhost", "Hooks.Internal.", "*.svc.cluster.local", "my_service", "xn--bcher-kva.example"},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	if err := (Policy{}).Validate(); err != nil {
		t.Fatalf("zero Policy: Validate() = %v, want nil", err)
	}

	tests := []struct {
		name   string
		modify func(*Policy)
	}{
		{"zero prefix", func(p *Policy) { p.AllowPrefixes[1] = netip.Prefix{} }},
		{"empty host", func(p *Policy) { p.AllowHosts[1] = "" }},
		{"lone dot", func(p *Policy) { p.AllowHosts[1] = "." }},
		{"IPv4 literal", func(p *Policy) { p.AllowHosts[1] = "127.0.0.1" }},
		{"IPv6 literal", func(p *Policy) { p.AllowHosts[1] = "::1" }},
		{"bracketed IPv6 literal", func(p *Policy) { p.AllowHosts[1] = "[::1]" }},
		{"port", func(p *Policy) { p.AllowHosts[1] = "hooks.internal:8080" }},
		{"bare wildcard", func(p *Policy) { p.AllowHosts[1] = "*" }},
		{"wildcard without suffix", func(p *Policy) { p.AllowHosts[1] = "*." }},
		{"inner wildcard", func(p *Policy) { p.AllowHosts[1] = "a.*.internal" }},
		{"partial wildcard label", func(p *Policy) { p.AllowHosts[1] = "*hooks.internal" }},
		{"double wildcard", func(p *Policy) { p.AllowHosts[1] = "*.*.internal" }},
		{"empty label", func(p *Policy) { p.AllowHosts[1] = "hooks..internal" }},
		{"space", func(p *Policy) { p.AllowHosts[1] = "hooks internal" }},
		{"URL", func(p *Policy) { p.AllowHosts[1] = "https://hooks.internal/" }},
		{"non-ASCII", func(p *Policy) { p.AllowHosts[1] = "bücher.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.modify(&p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Validate() = %v, want ErrInvalidPolicy", err)
			}
		})
	}
}

func TestPolicyValidateReportsEveryProblem(t *testing.T) {
	p := Policy{AllowPrefixes: []netip.Prefix{{}}, AllowHosts: []string{"", "ok.example", "*"}}
	err := p.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v (%T), want joined errors", err, err)
	}
	if got := len(joined.Unwrap()); got != 3 {
		t.Fatalf("Validate() reported %d problems, want 3: %v", got, err)
	}
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, ErrInvalidPolicy) {
			t.Errorf("problem %v does not wrap ErrInvalidPolicy", e)
		}
	}
}

func TestPolicyAllowsHost(t *testing.T) {
	p := Policy{AllowHosts: []string{"Hooks.Internal", "*.svc.test", "*", "", "*.", "127.0.0.1", "bad host"}}
	tests := []struct {
		host string
		want bool
	}{
		{"hooks.internal", true},
		{"HOOKS.internal.", true},
		{"x.hooks.internal", false},
		{"hooks.internal.evil.example", false},
		{"svc.test", false},
		{"a.svc.test", true},
		{"A.B.SVC.TEST.", true},
		{".svc.test", false},
		{"asvc.test", false},
		{"a.svc.test.evil.example", false},
		{"*", false},
		{"x", false},
		{"", false},
		{"127.0.0.1", false},
		{"bad host", false},
	}
	for _, tt := range tests {
		if got := p.allowsHost(tt.host); got != tt.want {
			t.Errorf("allowsHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	// The message is for people; this pins its shape, callers use the fields.
	withHost := &BlockedError{Host: "internal.example", Addr: netip.MustParseAddr("10.0.0.1"), Rule: RulePrivate}
	if got, want := withHost.Error(), `ssrf: refused to dial 10.0.0.1 for "internal.example" (private address)`; got != want {
		t.Errorf("Error() = %s, want %s", got, want)
	}
	literal := &BlockedError{Addr: netip.MustParseAddr("169.254.169.254"), Rule: RuleMetadata}
	if got, want := literal.Error(), `ssrf: refused to dial 169.254.169.254 (cloud-metadata address)`; got != want {
		t.Errorf("Error() = %s, want %s", got, want)
	}
}

func assertBlocked(t *testing.T, err error, host string, addr netip.Addr, rule Rule) {
	t.Helper()
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want ErrBlocked", err)
	}
	var blocked *BlockedError
	if !errors.As(err, &blocked) {
		t.Fatalf("err = %v (%T), want *BlockedError", err, err)
	}
	if blocked.Rule != rule || blocked.Addr != addr || blocked.Host != host {
		t.Fatalf("BlockedError = {Host: %q, Addr: %s, Rule: %s}, want {Host: %q, Addr: %s, Rule: %s}",
			blocked.Host, blocked.Addr, blocked.Rule, host, addr, rule)
	}
}

func TestCheckHost(t *testing.T) {
	loop4 := Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for _, tc := range []struct {
		p       Policy
		host    string
		blocked Rule // "" for nil
	}{
		{Policy{}, "127.0.0.1", "loopback"},
		{Policy{}, "10.1.2.3", "private"},
		{Policy{}, "::1", "loopback"},
		{Policy{}, "fe80::1%eth0", "link-local"},
		{Policy{}, "93.184.216.34", ""},
		{Policy{}, "example.com", ""},
		{Policy{}, "internal.example", ""}, // judged when dialed
		{Policy{}, "localhost", "loopback"},
		{Policy{}, "LocalHost.", "loopback"},
		{Policy{}, "api.localhost", "loopback"},
		{Policy{}, "localhost.example.com", ""},
		{loop4, "127.0.0.1", ""},
		{loop4, "localhost", ""}, // 127.0.0.1 is allowed
		{loop4, "::1", "loopback"},
		{Policy{AllowHosts: []string{"localhost"}}, "localhost", ""},
		{Policy{AllowHosts: []string{"localhost"}}, "127.0.0.1", "loopback"}, // IP literals are not host names
	} {
		err := tc.p.CheckHost(tc.host)
		if tc.blocked == "" {
			if err != nil {
				t.Errorf("%+v.CheckHost(%q) = %v, want nil", tc.p, tc.host, err)
			}
			continue
		}
		var be *BlockedError
		host := tc.host // the name dialed; none for an IP literal
		if _, err := netip.ParseAddr(tc.host); err == nil {
			host = ""
		}
		if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) || be.Rule != tc.blocked || be.Host != host {
			t.Errorf("%+v.CheckHost(%q) = %v, want a BlockedError for %q (%s)", tc.p, tc.host, err, tc.host, tc.blocked)
		}
	}
}
