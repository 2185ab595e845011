package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hookbus/hookbus/internal/h1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// leakCheck fails t if goroutines started during the test outlive its
// cleanups. Call it first, so that its cleanup runs last.
func leakCheck(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// testServer is an httptest.Server that counts the connections it accepts
// and the ones that end.
type testServer struct {
	*httptest.Server
	newConns    atomic.Int32
	closedConns atomic.Int32
}

// withTLS makes newServer start a TLS server that offers h2 by ALPN.
func withTLS(s *httptest.Server) {
	s.TLS = &tls.Config{}
	s.EnableHTTP2 = true
}

// newServer starts a loopback server for h, after applying opts to it, and
// closes it when t ends.
func newServer(t *testing.T, h http.HandlerFunc, opts ...func(*httptest.Server)) *testServer {
	t.Helper()
	ts := &testServer{Server: httptest.NewUnstartedServer(h)}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			ts.newConns.Add(1)
		case http.StateClosed, http.StateHijacked:
			ts.closedConns.Add(1)
		}
	}
	for _, o := range opts {
		o(ts.Server)
	}
	if ts.TLS != nil {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// stallingServer answers every request with the start of a body ("start",
// flushed; of contentLength bytes if set) and then stalls until the test
// ends.
func stallingServer(t *testing.T, contentLength string) *testServer {
	t.Helper()
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if contentLength != "" {
			w.Header().Set("Content-Length", contentLength)
		}
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

// mustFail makes a request that must fail, and returns how long it took
// and its error.
func mustFail(t *testing.T, do func() (*http.Response, error)) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	resp, err := do()
	elapsed := time.Since(start)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error")
	}
	return elapsed, err
}

// assertNotSent checks that a refused request dialed nothing and had its
// body closed.
func assertNotSent(t *testing.T, d *countingDialer, body *closeTracker) {
	t.Helper()
	if n := d.calls.Load(); n != 0 {
		t.Errorf("dialed %d times, want 0", n)
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
}

// newTransport returns a Transport whose idle connections close when t ends
// (before the servers started earlier in the test).
//
// Unless cfg says otherwise, idle connections are looked at before every
// reuse, so that tests closing them need not wait for CheckIdleAfter.
func newTransport(t *testing.T, cfg h1.Config) *h1.Transport {
	t.Helper()
	if cfg.CheckIdleAfter == 0 {
		cfg.CheckIdleAfter = -1
	}
	tr := h1.New(cfg)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// waitFor polls cond until it holds, failing t after two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// get sends a GET to u with c and returns the status and the whole body.
func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, body := getResponse(t, c, u)
	return resp.StatusCode, body
}

// getResponse is get, returning the response (its body closed).
func getResponse(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", u, err)
	}
	return resp, string(b)
}

// countingDialer dials TCP, counting calls and the writes on each
// connection; with err set it fails instead.
type countingDialer struct {
	err   error
	calls atomic.Int32
	mu    sync.Mutex
	addrs []string
	conns []*countingConn
}

type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// SyscallConn gives the TCP connection's, so that the transport can look at
// the socket of an idle connection as it does without the wrapper.
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.calls.Add(1)
	d.mu.Lock()
	d.addrs = append(d.addrs, network+" "+addr)
	d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &countingConn{Conn: raw}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *countingDialer) conn(i int) *countingConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns[i]
}

// closeTracker is a request body that records whether it was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error {
	c.closed.Store(true)
	return nil
}

type seenRequest struct {
	method, uri, host, header string
	contentLength             int64
	transferEncoding          []string
	body                      []byte
}

func TestPostAndReuse(t *testing.T) {
	leakCheck(t)
	seen := make(chan seenRequest, 10)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server: reading body: %v", err)
		}
		seen <- seenRequest{
			method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Get("X-Hook"),
			contentLength: r.ContentLength, transferEncoding: r.TransferEncoding, body: b,
		}
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "got %d bytes", len(b))
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 5 * time.Second})}
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	u, _ := url.Parse(srv.URL)

	post := func(path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Hook", "h-"+path)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		s := <-seen
		if s.method != http.MethodPost || s.uri != path || s.host != u.Host || s.header != "h-"+path {
			t.Errorf("server saw %s %s Host %q X-Hook %q, want POST %s Host %q X-Hook %q",
				s.method, s.uri, s.host, s.header, path, u.Host, "h-"+path)
		}
		if s.contentLength != int64(len(payload)) || len(s.transferEncoding) != 0 {
			t.Errorf("server saw Content-Length %d, Transfer-Encoding %q; want %d, none",
				s.contentLength, s.transferEncoding, len(payload))
		}
		if !bytes.Equal(s.body, payload) {
			t.Errorf("server saw a body of %d bytes that differs from the %d sent", len(s.body), len(payload))
		}
		return resp
	}

	for i, path := range []string{"/hook?attempt=1", "/empty?attempt=2", "/hook?attempt=3", "/hook?attempt=4"} {
		resp := post(path)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: reading body: %v", i, err)
		}
		if strings.HasPrefix(path, "/empty") {
			if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
				t.Errorf("request %d: got %d with body %q, want 204 and no body", i, resp.StatusCode, b)
			}
		} else if resp.StatusCode != http.StatusAccepted || string(b) != "got 1024 bytes" || resp.Header.Get("X-Reply") != "yes" {
			t.Errorf("request %d: got %d, X-Reply %q, body %q; want 202, yes, %q",
				i, resp.StatusCode, resp.Header.Get("X-Reply"), b, "got 1024 bytes")
		}
		if resp.Proto != "HTTP/1.1" {
			t.Errorf("request %d: response protocol %q", i, resp.Proto)
		}
	}
	// One connection served a request after a 204 and after bodies read to
	// their end.
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

func TestChunkedResponseReusesConnection(t *testing.T) {
	leakCheck(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part;")
		w.(http.Flusher).Flush()
		io.WriteString(w, "second part")
		w.(http.Flusher).Flush()
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{})}
	for i := range 3 {
		resp, b := getResponse(t, client, srv.URL)
		if b != "first part;second part" {
			t.Errorf("request %d: body %q", i, b)
		}
		if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("request %d: Content-Length %d, Transfer-Encoding %q; want a chunked body",
				i, resp.ContentLength, resp.TransferEncoding)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

func TestResponseConnectionCloseNotReused(t *testing.T) {
	leakCheck(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{})}

	resp, err := client.Get(srv.URL + "/close")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Close || string(b) != "ok" {
		t.Errorf("got Close %v, body %q; want true, ok", resp.Close, b)
	}
	if _, body := get(t, client, srv.URL+"/keep"); body != "ok" {
		t.Errorf("second body %q", body)
	}
	if _, body := get(t, client, srv.URL+"/keep"); body != "ok" {
		t.Errorf("third body %q", body)
	}
	// The first connection was not reused; the second was.
	if n := srv.newConns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
	waitFor(t, "the first connection to close", func() bool { return srv.closedConns.Load() == 1 })
}

func TestBodyClosedEarlyClosesConnection(t *testing.T) {
	leakCheck(t)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(16*len(chunk)))
		for range 16 { // 1 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 5 * time.Second})}

	resp, err := client.Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading the start of the body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Errorf("closing the body: %v", err)
	}
	waitFor(t, "the server to see the connection close", func() bool { return srv.closedConns.Load() == 1 })

	if _, body := get(t, client, srv.URL+"/small"); body != "small" {
		t.Errorf("body %q", body)
	}
	if n := srv.newConns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2 (no reuse after an early Close)", n)
	}
}

// TestReplayOnConnectionClosedWhileIdle checks a request sent after the
// server closed the idle connection it would have used: it goes on a new
// connection, whether or not GetBody can rewind its body, as the closed
// connection is found out before it is used.
func TestReplayOnConnectionClosedWhileIdle(t *testing.T) {
	closers := []struct {
		name      string
		closeIdle func(*testServer)
	}{
		{"CloseClientConnections", func(srv *testServer) { srv.CloseClientConnections() }},
		{"IdleTimeout", func(*testServer) {}}, // the server's IdleTimeout does it
	}
	for _, cl := range closers {
		name, closeIdle := cl.name, cl.closeIdle
		for _, rewindable := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/GetBody=%v", name, rewindable), func(t *testing.T) {
				leakCheck(t)
				var mu sync.Mutex
				var bodies []string
				srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					bodies = append(bodies, string(b))
					mu.Unlock()
					io.WriteString(w, "ok")
				}, func(s *httptest.Server) {
					if name == "IdleTimeout" {
						s.Config.IdleTimeout = 50 * time.Millisecond
					}
				})
				d := &countingDialer{}
				client := &http.Client{Transport: newTransport(t, h1.Config{DialContext: d.DialContext, Timeout: 5 * time.Second})}

				resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("first"))
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				closeIdle(srv)
				waitFor(t, "the server to close the idle connection", func() bool { return srv.closedConns.Load() == 1 })

				req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte("second")))
				if err != nil {
					t.Fatal(err)
				}
				if req.GetBody == nil {
					t.Fatal("http.NewRequest set no GetBody")
				}
				if !rewindable {
					req.GetBody = nil
				}
				start := time.Now()
				resp, err = client.Do(req)
				elapsed := time.Since(start)
				if elapsed > time.Second {
					t.Errorf("the request took %v", elapsed)
				}
				if err != nil {
					t.Fatalf("request after the server closed the idle connection: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" {
					t.Errorf("body %q", b)
				}
				// The closed connection was seen to be closed, not tried.
				if n := d.conn(0).writes.Load(); n != 1 {
					t.Errorf("%d writes on the first connection, want 1", n)
				}
				mu.Lock()
				got := strings.Join(bodies, ",")
				mu.Unlock()
				if got != "first,second" {
					t.Errorf("server saw bodies %q, want first,second", got)
				}
				if n, calls := srv.newConns.Load(), d.calls.Load(); n != 2 || calls != 2 {
					t.Errorf("server saw %d connections, dialer %d calls; want 2, 2", n, calls)
				}
			})
		}
	}
}

func TestTimeout(t *testing.T) {
	const timeout = 150 * time.Millisecond

	t.Run("headers", func(t *testing.T) {
		leakCheck(t)
		release := make(chan struct{})
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		t.Cleanup(func() { close(release) })
		tr := newTransport(t, h1.Config{Timeout: timeout})
		client := &http.Client{Transport: tr}

		elapsed, err := mustFail(t, func() (*http.Response, error) { return client.Get(srv.URL) })
		if elapsed < timeout-10*time.Millisecond || elapsed > time.Second {
			t.Errorf("failed after %v, want about %v", elapsed, timeout)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not match context.DeadlineExceeded", err)
		}
		var te *h1.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("error %v (%T) holds no *h1.TimeoutError", err, err)
		}
		if te.After != timeout {
			t.Errorf("TimeoutError.After = %v, want %v", te.After, timeout)
		}
		var ue *url.Error
		if !errors.As(err, &ue) || !ue.Timeout() {
			t.Errorf("error %v is not a *url.Error reporting a timeout", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("error %v holds no net.Error with Timeout() true", err)
		}
		if ue != nil {
			var inner net.Error
			if !errors.As(ue.Err, &inner) || !inner.Timeout() {
				t.Errorf("the transport's error %v (%T) is no timing out net.Error", ue.Err, ue.Err)
			}
		}
	})

	t.Run("body", func(t *testing.T) {
		leakCheck(t)
		srv := stallingServer(t, "")
		client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: timeout})}

		start := time.Now()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		elapsed := time.Since(start)
		if string(b) != "start" {
			t.Errorf("read %q before the stall, want start", b)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("body read error %v does not match context.DeadlineExceeded", err)
		}
		var te *h1.TimeoutError
		if !errors.As(err, &te) {
			t.Errorf("body read error %v (%T) holds no *h1.TimeoutError", err, err)
		}
		if elapsed < timeout-10*time.Millisecond || elapsed > time.Second {
			t.Errorf("failed after %v, want about %v", elapsed, timeout)
		}
	})
}

func TestContextCancel(t *testing.T) {
	t.Run("mid-request", func(t *testing.T) {
		leakCheck(t)
		release := make(chan struct{})
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		t.Cleanup(func() { close(release) })
		client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 5 * time.Second})}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(50*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("x"))
		elapsed, err := mustFail(t, func() (*http.Response, error) { return client.Do(req) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not match context.Canceled", err)
		}
		if elapsed > time.Second {
			t.Errorf("cancellation took %v", elapsed)
		}
	})

	t.Run("mid-body", func(t *testing.T) {
		leakCheck(t)
		srv := stallingServer(t, "")
		client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 5 * time.Second})}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("body read error %v does not match context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("cancellation took %v", elapsed)
		}
	})

	t.Run("before", func(t *testing.T) {
		leakCheck(t)
		d := &countingDialer{}
		tr := newTransport(t, h1.Config{DialContext: d.DialContext})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		body := &closeTracker{Reader: strings.NewReader("x")}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/", body)
		_, err := mustFail(t, func() (*http.Response, error) { return tr.RoundTrip(req) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not match context.Canceled", err)
		}
		assertNotSent(t, d, body)
	})
}

func TestContextDeadlineBeforeTimeout(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) })
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 10 * time.Second})}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	elapsed, err := mustFail(t, func() (*http.Response, error) { return client.Do(req) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not match context.DeadlineExceeded", err)
	}
	if elapsed < 90*time.Millisecond || elapsed > time.Second {
		t.Errorf("failed after %v, want about 100ms", elapsed)
	}
}

func TestTLS(t *testing.T) {
	leakCheck(t)
	protos := make(chan int, 10)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		protos <- r.ProtoMajor
		io.WriteString(w, "secure")
	}, withTLS)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	// net/http's client gets h2 from this server.
	if _, body := get(t, srv.Client(), srv.URL); body != "secure" {
		t.Errorf("body %q", body)
	}
	if p := <-protos; p != 2 {
		t.Fatalf("net/http's client spoke HTTP/%d; the server does not offer h2", p)
	}
	srv.Client().CloseIdleConnections()
	newConns := srv.newConns.Load()

	tr := newTransport(t, h1.Config{TLSConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}}})
	client := &http.Client{Transport: tr}
	for i := range 2 {
		resp, b := getResponse(t, client, srv.URL)
		if b != "secure" || resp.Proto != "HTTP/1.1" {
			t.Errorf("request %d: %s, body %q", i, resp.Proto, b)
		}
		if resp.TLS == nil {
			t.Fatalf("request %d: resp.TLS is nil", i)
		}
		if !resp.TLS.HandshakeComplete || resp.TLS.NegotiatedProtocol != "" {
			t.Errorf("request %d: handshake complete %v, ALPN %q", i, resp.TLS.HandshakeComplete, resp.TLS.NegotiatedProtocol)
		}
		if p := <-protos; p != 1 {
			t.Errorf("request %d: server saw HTTP/%d", i, p)
		}
	}
	if n := srv.newConns.Load() - newConns; n != 1 {
		t.Errorf("h1 opened %d connections, want 1", n)
	}

	t.Run("unknown root", func(t *testing.T) {
		client := &http.Client{Transport: newTransport(t, h1.Config{})}
		_, err := mustFail(t, func() (*http.Response, error) { return client.Get(srv.URL) })
		var cve *tls.CertificateVerificationError
		if !errors.As(err, &cve) {
			t.Errorf("error %v (%T) holds no *tls.CertificateVerificationError", err, err)
		}
	})
}

func TestInformationalResponses(t *testing.T) {
	leakCheck(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("X-Final", "1")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "final body")
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{})}
	for i := range 2 {
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "final body" || resp.Header.Get("X-Final") != "1" {
			t.Errorf("request %d: got %d, X-Final %q, body %q; want 200, 1, final body",
				i, resp.StatusCode, resp.Header.Get("X-Final"), b)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

func TestRefusedRequests(t *testing.T) {
	leakCheck(t)
	tests := []struct {
		name    string
		url     string
		header  http.Header
		wantMsg string
		wantErr error
	}{
		{name: "header name", url: "http://127.0.0.1:1/", header: http.Header{"Bad Name": {"v"}}, wantMsg: "invalid header"},
		{name: "header value", url: "http://127.0.0.1:1/", header: http.Header{"X-Ok": {"a\r\nX-Injected: b"}}, wantMsg: "invalid header"},
		{name: "scheme", url: "ftp://127.0.0.1:1/file", wantErr: h1.ErrUnsupported},
		{name: "no host", url: "http:///path", wantErr: h1.ErrUnsupported},
		{name: "upgrade", url: "http://127.0.0.1:1/", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, wantErr: h1.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &countingDialer{}
			tr := newTransport(t, h1.Config{DialContext: d.DialContext})
			body := &closeTracker{Reader: strings.NewReader("x")}
			req, err := http.NewRequest(http.MethodPost, tt.url, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			_, err = mustFail(t, func() (*http.Response, error) { return tr.RoundTrip(req) })
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not match %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "X-Injected") {
				t.Errorf("error %q shows the header's value", err)
			}
			assertNotSent(t, d, body)
		})
	}
}

func TestMaxIdleConnsPerHost(t *testing.T) {
	leakCheck(t)
	const concurrent, maxIdle = 5, 2
	arrived := make(chan struct{}, concurrent)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{MaxIdleConnsPerHost: maxIdle})}

	var wg sync.WaitGroup
	for range concurrent {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/hold")
			if err != nil {
				t.Error(err)
				return
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
		})
	}
	// All five are in their handlers, each on a connection of its own.
	for range concurrent {
		<-arrived
	}
	close(release)
	wg.Wait()
	if n := srv.newConns.Load(); n != concurrent {
		t.Fatalf("server saw %d connections, want %d", n, concurrent)
	}
	waitFor(t, "the connections beyond the idle limit to close", func() bool {
		return srv.closedConns.Load() >= concurrent-maxIdle
	})

	for range concurrent {
		if _, body := get(t, client, srv.URL+"/"); body != "ok" {
			t.Errorf("body %q", body)
		}
	}
	if n, closed := srv.newConns.Load(), srv.closedConns.Load(); n != concurrent || closed != concurrent-maxIdle {
		t.Errorf("server saw %d connections, %d closed; want %d, %d", n, closed, concurrent, concurrent-maxIdle)
	}
}

func TestIdleConnTimeout(t *testing.T) {
	leakCheck(t)
	const idle = 100 * time.Millisecond
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	client := &http.Client{Transport: newTransport(t, h1.Config{IdleConnTimeout: idle})}

	get(t, client, srv.URL)
	start := time.Now()
	waitFor(t, "the idle connection to close", func() bool { return srv.closedConns.Load() == 1 })
	if elapsed := time.Since(start); elapsed < idle/2 || elapsed > time.Second {
		t.Errorf("closed after %v idle, want about %v", elapsed, idle)
	}
	get(t, client, srv.URL)
	if n := srv.newConns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
}

func TestCloseIdleConnections(t *testing.T) {
	leakCheck(t)
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{})}

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, body := get(t, client, srv.URL+"/hold"); body != "ok" {
				t.Errorf("body %q", body)
			}
		})
	}
	<-arrived
	<-arrived
	close(release)
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	if n := srv.closedConns.Load(); n != 0 {
		t.Fatalf("%d connections closed before CloseIdleConnections", n)
	}
	client.CloseIdleConnections() // the Transport's
	waitFor(t, "the idle connections to close", func() bool { return srv.closedConns.Load() == 2 })
	get(t, client, srv.URL)
	if n := srv.newConns.Load(); n != 3 {
		t.Errorf("server saw %d connections, want 3", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	leakCheck(t)
	const goroutines, requests = 32, 50
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 5 * time.Second})}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for g := range goroutines {
		wg.Go(func() {
			for i := range requests {
				want := fmt.Sprintf("goroutine %d request %d", g, i)
				resp, err := client.Post(srv.URL, "text/plain", strings.NewReader(want))
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					t.Errorf("got %q, %v; want %q", b, err, want)
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n != goroutines*requests {
		t.Errorf("%d requests succeeded, want %d", n, goroutines*requests)
	}
	if n := srv.newConns.Load(); n > goroutines {
		t.Errorf("server saw %d connections, want at most %d", n, goroutines)
	}
}

func TestServerClosesNewConnection(t *testing.T) {
	for _, readFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("readRequest=%v", readFirst), func(t *testing.T) {
			leakCheck(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var accepted atomic.Int32
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted.Add(1)
					if readFirst {
						c.SetReadDeadline(time.Now().Add(time.Second))
						http.ReadRequest(bufio.NewReader(c))
					}
					c.Close()
				}
			}()
			t.Cleanup(func() {
				ln.Close()
				<-done
			})
			d := &countingDialer{}
			client := &http.Client{Transport: newTransport(t, h1.Config{DialContext: d.DialContext, Timeout: 5 * time.Second})}

			req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/", strings.NewReader("payload"))
			elapsed, err := mustFail(t, func() (*http.Response, error) { return client.Do(req) })
			if elapsed > time.Second {
				t.Errorf("failed after %v", elapsed)
			}
			if readFirst && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v does not match io.ErrUnexpectedEOF", err)
			}
			if n, a := d.calls.Load(), accepted.Load(); n != 1 || a != 1 {
				t.Errorf("dialed %d times, %d accepted; want 1, 1", n, a)
			}
		})
	}
}

func TestDialContext(t *testing.T) {
	t.Run("used", func(t *testing.T) {
		leakCheck(t)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		d := &countingDialer{}
		client := &http.Client{Transport: newTransport(t, h1.Config{DialContext: d.DialContext})}
		for range 3 {
			if _, body := get(t, client, srv.URL); body != "ok" {
				t.Errorf("body %q", body)
			}
		}
		if n := d.calls.Load(); n != 1 {
			t.Errorf("dialer called %d times, want 1", n)
		}
		if want := "tcp " + srv.Listener.Addr().String(); d.addrs[0] != want {
			t.Errorf("dialed %q, want %q", d.addrs[0], want)
		}
	})

	t.Run("error", func(t *testing.T) {
		leakCheck(t)
		errDial := errors.New("dial refused by test")
		d := &countingDialer{err: errDial}
		client := &http.Client{Transport: newTransport(t, h1.Config{DialContext: d.DialContext})}
		body := &closeTracker{Reader: strings.NewReader("x")}
		for _, u := range []string{"http://hooks.example", "https://hooks.example", "http://[::1]:8080"} {
			req, _ := http.NewRequest(http.MethodPost, u+"/path", body)
			_, err := mustFail(t, func() (*http.Response, error) { return client.Do(req) })
			if !errors.Is(err, errDial) {
				t.Errorf("%s: error %v does not hold the dialer's", u, err)
			}
		}
		if !body.closed.Load() {
			t.Error("request body not closed")
		}
		want := "tcp hooks.example:80,tcp hooks.example:443,tcp [::1]:8080"
		if got := strings.Join(d.addrs, ","); got != want {
			t.Errorf("dialed %s, want %s", got, want)
		}
	})
}

// TestContextHookAcrossRequests checks the context of a round trip that
// ended: its cancellation leaves the pooled connection usable, and it does
// not interrupt a later round trip with another context, while a context
// sharing its Done channel with the earlier one still interrupts.
func TestContextHookAcrossRequests(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/block":
			<-release
		case "/slow":
			time.Sleep(150 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	})
	t.Cleanup(func() { close(release) })
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 5 * time.Second})}
	do := func(ctx context.Context, path string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	// Cancelled after the round trip, while its connection is idle.
	ctxA, cancelA := context.WithCancel(context.Background())
	if body, err := do(ctxA, "/"); err != nil || body != "ok" {
		t.Fatalf("first request: %q, %v", body, err)
	}
	cancelA()
	if body, err := do(context.Background(), "/"); err != nil || body != "ok" {
		t.Fatalf("request after the previous context ended: %q, %v", body, err)
	}
	if _, err := do(ctxA, "/"); !errors.Is(err, context.Canceled) {
		t.Errorf("request with the cancelled context: %v, want context.Canceled", err)
	}

	// Cancelled during the next round trip, which has a context of its own.
	ctxB, cancelB := context.WithCancel(context.Background())
	if body, err := do(ctxB, "/"); err != nil || body != "ok" {
		t.Fatalf("request with context B: %q, %v", body, err)
	}
	ctxC, cancelC := context.WithCancel(context.Background())
	defer cancelC()
	time.AfterFunc(50*time.Millisecond, cancelB)
	if body, err := do(ctxC, "/slow"); err != nil || body != "ok" {
		t.Errorf("request with context C, B cancelled meanwhile: %q, %v", body, err)
	}

	// Contexts sharing a Done channel: the later round trip is interrupted.
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	type key struct{}
	if body, err := do(context.WithValue(parent, key{}, 1), "/"); err != nil || body != "ok" {
		t.Fatalf("request with a child of parent: %q, %v", body, err)
	}
	time.AfterFunc(50*time.Millisecond, cancelParent)
	start := time.Now()
	if _, err := do(context.WithValue(parent, key{}, 2), "/block"); !errors.Is(err, context.Canceled) {
		t.Errorf("request with parent cancelled meanwhile: %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("cancellation took %v", elapsed)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

// TestRequestInOneWrite checks that a request whose body net/http cannot
// tell is in memory still leaves in a single write.
func TestRequestInOneWrite(t *testing.T) {
	leakCheck(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprint(w, len(b))
	})
	d := &countingDialer{}
	client := &http.Client{Transport: newTransport(t, h1.Config{DialContext: d.DialContext})}
	payload := strings.Repeat("p", 1000)
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, struct{ io.Reader }{strings.NewReader(payload)})
		req.ContentLength = int64(len(payload))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "1000" {
			t.Errorf("request %d: server read %s bytes", i, b)
		}
		if n := d.conn(0).writes.Load(); n != int32(i+1) {
			t.Errorf("%d writes after %d requests", n, i+1)
		}
	}
}

// TestUnsolicitedBytesDiscardConnection checks that a connection holding
// bytes that arrived after a response is not reused.
func TestUnsolicitedBytesDiscardConnection(t *testing.T) {
	leakCheck(t)
	var accepted atomic.Int32
	u := rawServer(t, func(c net.Conn) {
		n := accepted.Add(1)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		eachRequest(c, func([]byte) bool {
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"
			if n == 1 {
				// One write: the bytes after the response arrive with it.
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" +
					"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"
			}
			_, err := io.WriteString(c, resp)
			return err == nil
		})
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{})}
	if _, body := get(t, client, u); body != "ok" {
		t.Fatalf("first body %q", body)
	}
	if _, body := get(t, client, u); body != "fresh" {
		t.Errorf("second body %q, want fresh (from a new connection)", body)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections accepted, want 2", n)
	}
}
