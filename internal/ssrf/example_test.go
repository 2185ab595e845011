package ssrf_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/hookbus/hookbus/internal/ssrf"
)

func ExamplePolicy_Check() {
	for _, s := range []string{
		"1.1.1.1",
		"2606:4700:4700::1111",
		"127.0.0.1",
		"10.0.0.1",
		"169.254.169.254",
		"100.64.0.1",
		"::ffff:192.168.1.1",
		"64:ff9b::a9fe:a9fe",
		"fe80::1%eth0",
		"ff02::1",
		"203.0.113.7",
	} {
		err := ssrf.Policy{}.Check(netip.MustParseAddr(s))
		var blocked *ssrf.BlockedError
		if errors.As(err, &blocked) {
			fmt.Printf("%-22s %s\n", s, blocked.Rule)
		} else {
			fmt.Printf("%-22s allowed\n", s)
		}
	}
	// Output:
	// 1.1.1.1                allowed
	// 2606:4700:4700::1111   allowed
	// 127.0.0.1              loopback
	// 10.0.0.1               private
	// 169.254.169.254        cloud-metadata
	// 100.64.0.1             cgnat
	// ::ffff:192.168.1.1     private
	// 64:ff9b::a9fe:a9fe     cloud-metadata
	// fe80::1%eth0           link-local
	// ff02::1                multicast
	// 203.0.113.7            reserved
}

func ExamplePolicy_Check_allowPrefixes() {
	p := ssrf.Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	fmt.Println(p.Check(netip.MustParseAddr("127.0.0.1")))
	fmt.Println(p.Check(netip.MustParseAddr("10.0.0.1")))
	// Output:
	// <nil>
	// ssrf: refused to dial 10.0.0.1 (private address)
}

// A webhook client that cannot be pointed at internal services. The
// transport must not use a proxy: the dialer would only see the proxy.
func ExampleDialer() {
	d := &ssrf.Dialer{Policy: ssrf.Policy{AllowHosts: []string{"hooks.internal.example"}}}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	_, err := client.Get("http://169.254.169.254/latest/meta-data/")
	fmt.Println(errors.Is(err, ssrf.ErrBlocked))
	// Output:
	// true
}
