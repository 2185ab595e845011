package ssrf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Every connection these tests make goes to a loopback server. Non-loopback
// addresses only ever come from fake resolvers, and each test that uses one
// asserts that the dialer refused it before a socket was connected.

func TestDialerRefusesLoopbackByDefault(t *testing.T) {
	srv, accepted := newServer(t)

	_, err := get(t, &Dialer{}, srv.URL)

	assertBlocked(t, err, "", netip.MustParseAddr("127.0.0.1"), RuleLoopback)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("server accepted %d connections, want 0", n)
	}
}

func TestDialerAllowPrefixes(t *testing.T) {
	srv, accepted := newServer(t)
	d := &Dialer{Policy: Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}

	body, err := get(t, d, srv.URL)

	if err != nil {
		t.Fatalf("GET %s: %v", srv.URL, err)
	}
	if body != "ok" {
		t.Fatalf("body = %q, want %q", body, "ok")
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1", n)
	}
}

func TestDialerLocalhost(t *testing.T) {
	srv, accepted := newServer(t)
	url := "http://" + net.JoinHostPort("localhost", serverPort(t, srv)) + "/"

	t.Run("refused by default", func(t *testing.T) {
		_, err := get(t, &Dialer{}, url)

		var blocked *BlockedError
		if !errors.As(err, &blocked) {
			t.Fatalf("GET %s: err = %v, want *BlockedError", url, err)
		}
		if blocked.Rule != RuleLoopback || blocked.Host != "localhost" {
			t.Fatalf("BlockedError = %+v, want loopback for localhost", blocked)
		}
		if n := accepted.Load(); n != 0 {
			t.Fatalf("server accepted %d connections, want 0", n)
		}
	})

	t.Run("allowed by AllowHosts", func(t *testing.T) {
		d := &Dialer{Policy: Policy{AllowHosts: []string{"LOCALHOST"}}}

		body, err := get(t, d, url)

		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if body != "ok" {
			t.Fatalf("body = %q, want %q", body, "ok")
		}
	})
}

func TestDialerRefusesRebindingBeforeConnecting(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		addr    string
		rule    Rule
	}{
		{"private", []string{"10.0.0.1"}, "10.0.0.1", RulePrivate},
		{"metadata", []string{"169.254.169.254"}, "169.254.169.254", RuleMetadata},
		{"IPv4-mapped private", []string{"::ffff:192.168.1.1"}, "::ffff:192.168.1.1", RulePrivate},
		{"NAT64 metadata", []string{"64:ff9b::a9fe:a9fe"}, "64:ff9b::a9fe:a9fe", RuleMetadata},
		{"6to4 private", []string{"2002:a00:1::1"}, "2002:a00:1::1", RulePrivate},
		{"unique local", []string{"fd12:3456::1"}, "fd12:3456::1", RulePrivate},
		{"link-local with zone", []string{"fe80::1%lo"}, "fe80::1%lo", RuleLinkLocal},
		{"first refusal reported", []string{"fd00:ec2::254", "10.0.0.1", "100.64.0.1"}, "fd00:ec2::254", RuleMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sockets atomic.Int64
			d := &Dialer{
				Resolver: staticResolver(tt.answers...),
				Dialer: &net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error {
					sockets.Add(1)
					return errors.New("no socket may be connected in this test")
				}},
			}

			conn, err := d.DialContext(t.Context(), "tcp", "rebind.example:443")

			if conn != nil {
				conn.Close()
			}
			assertBlocked(t, err, "rebind.example", netip.MustParseAddr(tt.addr), tt.rule)
			if n := sockets.Load(); n != 0 {
				t.Fatalf("%d sockets reached connect, want 0", n)
			}
		})
	}
}

func TestDialerDialsOnlyAllowedAddresses(t *testing.T) {
	srv, accepted := newServer(t)
	var (
		mu        sync.Mutex
		connected []string
	)
	d := &Dialer{
		Policy:   Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Resolver: staticResolver("10.0.0.1", "169.254.169.254", "127.0.0.1"),
		Dialer: &net.Dialer{ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			mu.Lock()
			defer mu.Unlock()
			connected = append(connected, address)
			return nil
		}},
	}
	url := "http://" + net.JoinHostPort("mixed.example", serverPort(t, srv)) + "/"

	body, err := get(t, d, url)

	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if body != "ok" {
		t.Fatalf("body = %q, want %q", body, "ok")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{net.JoinHostPort("127.0.0.1", serverPort(t, srv))}; !slices.Equal(connected, want) {
		t.Fatalf("sockets connected to %v, want %v", connected, want)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1", n)
	}
}

func TestDialerReturnsDialErrorWhenAllowedAddressesFail(t *testing.T) {
	port := closedPort(t)
	d := &Dialer{
		Policy:   Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Resolver: staticResolver("10.0.0.1", "127.0.0.1"),
	}

	conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("mixed.example", port))

	if conn != nil {
		conn.Close()
		t.Fatal("DialContext connected to a closed port")
	}
	if errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want the dial error, not a refusal", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ECONNREFUSED", err)
	}
}

func TestDialerTriesAllowedAddressesInOrder(t *testing.T) {
	srv, _ := newServer(t)
	port := serverPort(t, srv)
	var (
		mu    sync.Mutex
		tried []string
	)
	d := &Dialer{
		Policy: Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		// Nothing listens on 127.0.0.2 at the server's port: the first
		// allowed address fails and the next one is tried.
		Resolver: staticResolver("127.0.0.2", "10.0.0.1", "127.0.0.1"),
		Dialer: &net.Dialer{ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			mu.Lock()
			defer mu.Unlock()
			tried = append(tried, address)
			return nil
		}},
	}

	conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("mixed.example", port))

	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	conn.Close()
	mu.Lock()
	defer mu.Unlock()
	want := []string{net.JoinHostPort("127.0.0.2", port), net.JoinHostPort("127.0.0.1", port)}
	if !slices.Equal(tried, want) {
		t.Fatalf("tried %v, want %v", tried, want)
	}
}

func TestDialerAllowHostsSkipsChecks(t *testing.T) {
	srv, _ := newServer(t)
	port := serverPort(t, srv)
	var sockets atomic.Int64
	d := &Dialer{
		Policy:   Policy{AllowHosts: []string{"*.svc.test"}},
		Resolver: staticResolver("127.0.0.1"),
		Dialer: &net.Dialer{Control: func(string, string, syscall.RawConn) error {
			sockets.Add(1)
			return nil
		}},
	}

	for _, host := range []string{"api.svc.test", "API.Svc.Test."} {
		conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(host, port))
		if err != nil {
			t.Fatalf("DialContext(%s): %v", host, err)
		}
		conn.Close()
	}
	if n := sockets.Load(); n != 2 {
		t.Fatalf("configured Control ran %d times, want 2", n)
	}

	_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("svc.test", port))
	assertBlocked(t, err, "svc.test", netip.MustParseAddr("127.0.0.1"), RuleLoopback)
}

func TestDialerSocketCheck(t *testing.T) {
	var calls atomic.Int64
	userControl := func(string, string, syscall.RawConn) error {
		calls.Add(1)
		return nil
	}
	configured := &net.Dialer{Control: userControl}
	d := &Dialer{
		Policy: Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Dialer: configured,
	}
	control := d.netDialer("svc.example", true).ControlContext

	err := control(t.Context(), "tcp4", "10.0.0.1:80", nil)
	assertBlocked(t, err, "svc.example", netip.MustParseAddr("10.0.0.1"), RulePrivate)

	err = control(t.Context(), "tcp6", "[fe80::1%eth0]:443", nil)
	assertBlocked(t, err, "svc.example", netip.MustParseAddr("fe80::1%eth0"), RuleLinkLocal)

	err = control(t.Context(), "tcp6", "[64:ff9b::a9fe:a9fe]:80", nil)
	assertBlocked(t, err, "svc.example", netip.MustParseAddr("64:ff9b::a9fe:a9fe"), RuleMetadata)

	err = control(t.Context(), "unix", "/run/docker.sock", nil)
	var blocked *BlockedError
	if !errors.Is(err, ErrBlocked) || errors.As(err, &blocked) {
		t.Fatalf("unparsable address: err = %v, want ErrBlocked without a *BlockedError", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("configured Control ran %d times after refusals, want 0", n)
	}

	if err := control(t.Context(), "tcp4", "127.0.0.1:80", nil); err != nil {
		t.Fatalf("allowed address: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("configured Control ran %d times, want 1", n)
	}
	if configured.ControlContext != nil {
		t.Fatal("the configured net.Dialer was modified")
	}
}

func TestDialerZeroValueDefaults(t *testing.T) {
	var d Dialer
	nd := d.netDialer("", true)
	if nd.Timeout != DefaultDialTimeout || nd.KeepAlive != DefaultKeepAlive {
		t.Fatalf("net.Dialer{Timeout: %v, KeepAlive: %v}, want {%v, %v}", nd.Timeout, nd.KeepAlive, DefaultDialTimeout, DefaultKeepAlive)
	}
	if d.resolver() != net.DefaultResolver {
		t.Fatal("zero Dialer does not resolve with net.DefaultResolver")
	}
	if nd := d.netDialer("trusted.example", false); nd.ControlContext != nil || nd.Control != nil {
		t.Fatal("allow-listed host got a socket check")
	}
}

func TestDialerUsesNetDialerResolver(t *testing.T) {
	errNoDNS := errors.New("DNS is not reachable in this test")
	var lookups atomic.Int64
	d := &Dialer{Dialer: &net.Dialer{Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			lookups.Add(1)
			return nil, errNoDNS
		},
	}}}

	_, err := d.DialContext(t.Context(), "tcp", "unlisted.example:443")

	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Fatalf("err = %v, want *net.DNSError", err)
	}
	if lookups.Load() == 0 {
		t.Fatal("the net.Dialer's Resolver was not used")
	}
}

func TestDialerLookupNetwork(t *testing.T) {
	tests := []struct {
		network string
		want    string
	}{
		{"tcp", "ip"},
		{"tcp4", "ip4"},
		{"tcp6", "ip6"},
		{"udp", "ip"},
		{"udp4", "ip4"},
		{"udp6", "ip6"},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			var got string
			d := &Dialer{Resolver: resolverFunc(func(_ context.Context, network, _ string) ([]netip.Addr, error) {
				got = network
				return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
			})}

			_, err := d.DialContext(t.Context(), tt.network, "svc.example:53")

			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("err = %v, want ErrBlocked", err)
			}
			if got != tt.want {
				t.Fatalf("looked up %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDialerBadInput(t *testing.T) {
	d := &Dialer{Resolver: resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
		return nil, errors.New("the resolver must not be called")
	})}

	t.Run("unknown network", func(t *testing.T) {
		_, err := d.DialContext(t.Context(), "unix", "/run/docker.sock")
		var unknown net.UnknownNetworkError
		if !errors.As(err, &unknown) {
			t.Fatalf("err = %v, want net.UnknownNetworkError", err)
		}
	})
	t.Run("missing port", func(t *testing.T) {
		_, err := d.DialContext(t.Context(), "tcp", "svc.example")
		var addrErr *net.AddrError
		if !errors.As(err, &addrErr) {
			t.Fatalf("err = %v, want *net.AddrError", err)
		}
	})
	t.Run("empty host", func(t *testing.T) {
		_, err := d.DialContext(t.Context(), "tcp", ":80")
		assertBlocked(t, err, "", netip.Addr{}, RuleUnspecified)
	})
	t.Run("IP literal", func(t *testing.T) {
		_, err := d.DialContext(t.Context(), "tcp", "[::ffff:169.254.169.254]:80")
		assertBlocked(t, err, "", netip.MustParseAddr("::ffff:169.254.169.254"), RuleMetadata)
	})
}

func TestDialerResolverFailures(t *testing.T) {
	errResolver := errors.New("resolver failed")
	tests := []struct {
		name  string
		addrs []netip.Addr
		err   error
		check func(*testing.T, error)
	}{
		{"error", nil, errResolver, func(t *testing.T, err error) {
			if !errors.Is(err, errResolver) {
				t.Fatalf("err = %v, want the resolver's error", err)
			}
		}},
		{"no addresses", nil, nil, func(t *testing.T, err error) {
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound || dnsErr.Name != "svc.example" {
				t.Fatalf("err = %v, want a not-found *net.DNSError for svc.example", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Dialer{Resolver: resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
				return tt.addrs, tt.err
			})}
			conn, err := d.DialContext(t.Context(), "tcp", "svc.example:443")
			if conn != nil {
				conn.Close()
			}
			tt.check(t, err)
		})
	}
}

func TestDialerHonoursCanceledContext(t *testing.T) {
	srv, accepted := newServer(t)
	d := &Dialer{Policy: Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	conn, err := d.DialContext(ctx, "tcp", srv.Listener.Addr().String())

	if conn != nil {
		conn.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("server accepted %d connections, want 0", n)
	}
}

func TestDialerConcurrentUse(t *testing.T) {
	srv, _ := newServer(t)
	d := &Dialer{
		Policy:   Policy{AllowHosts: []string{"trusted.example"}, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Resolver: staticResolver("10.0.0.1", "127.0.0.1"),
	}
	port := serverPort(t, srv)
	urls := []string{
		srv.URL,
		"http://" + net.JoinHostPort("trusted.example", port) + "/",
		"http://" + net.JoinHostPort("mixed.example", port) + "/",
	}
	client := newClient(t, d)

	var wg sync.WaitGroup
	errs := make(chan error, 8*len(urls))
	for range 8 {
		for _, url := range urls {
			wg.Go(func() {
				if body, err := fetch(t.Context(), client, url); err != nil || body != "ok" {
					errs <- fmt.Errorf("GET %s = %q, %v", url, body, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDialDeadline(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctxDeadline := func(d time.Duration) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(d))
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name string
		ctx  context.Context
		nd   net.Dialer
		want time.Time
	}{
		{"none", context.Background(), net.Dialer{}, time.Time{}},
		{"timeout", context.Background(), net.Dialer{Timeout: 10 * time.Second}, now.Add(10 * time.Second)},
		{"context earlier", ctxDeadline(5 * time.Second), net.Dialer{Timeout: 10 * time.Second}, now.Add(5 * time.Second)},
		{"deadline earlier", ctxDeadline(5 * time.Second), net.Dialer{Timeout: 10 * time.Second, Deadline: now.Add(time.Second)}, now.Add(time.Second)},
		{"timeout earlier", ctxDeadline(time.Minute), net.Dialer{Timeout: 10 * time.Second}, now.Add(10 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dialDeadline(tt.ctx, now, &tt.nd); !got.Equal(tt.want) {
				t.Fatalf("dialDeadline = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPartialDeadline(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		left      time.Duration
		remaining int
		want      time.Duration
	}{
		{10 * time.Second, 1, 10 * time.Second},
		{10 * time.Second, 2, 5 * time.Second},
		{3 * time.Second, 3, 2 * time.Second},
		{time.Second, 3, time.Second},
	}
	for _, tt := range tests {
		if got := partialDeadline(now, now.Add(tt.left), tt.remaining); !got.Equal(now.Add(tt.want)) {
			t.Errorf("partialDeadline(%v left, %d remaining) = now+%v, want now+%v", tt.left, tt.remaining, got.Sub(now), tt.want)
		}
	}
}

// resolverFunc adapts a function to the Resolver interface.
type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// staticResolver answers every lookup with addrs.
func staticResolver(addrs ...string) Resolver {
	parsed := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		parsed[i] = netip.MustParseAddr(a)
	}
	return resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
		return slices.Clone(parsed), nil
	})
}

// newServer starts an HTTP server on 127.0.0.1 answering "ok" and counts the
// connections it accepts.
func newServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var accepted atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &accepted
}

func serverPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return port
}

func newClient(t *testing.T, d *Dialer) *http.Client {
	transport := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: 5 * time.Second}
}

// get fetches url through a transport dialing with d and returns the body.
func get(t *testing.T, d *Dialer, url string) (string, error) {
	t.Helper()
	return fetch(t.Context(), newClient(t, d), url)
}

func fetch(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("status %s", resp.Status)
	}
	return string(body), nil
}
