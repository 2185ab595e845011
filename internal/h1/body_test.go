package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/internal/h1"
)

// A request without a body (GET, or POST with a nil body) has no GetBody,
// and nothing to rewind: it is replayed after the server closed the idle
// connection, as net/http's Transport does.
func TestReplayBodilessRequest(t *testing.T) {
	leakCheck(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	client := &http.Client{Transport: newTransport(t, h1.Config{})}
	get(t, client, srv.URL)
	srv.CloseClientConnections()
	waitFor(t, "close", func() bool { return srv.closedConns.Load() == 1 })
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET on a connection closed while idle: %v", err)
	}
	resp.Body.Close()
}

// Reading a body after Close, or after a read error, must not report
// io.EOF, which would make a truncated body look complete: like net/http,
// Close gives "read on closed response body" and an error repeats.
func TestReadAfterClose(t *testing.T) {
	leakCheck(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 100000)) })
	client := &http.Client{Transport: newTransport(t, h1.Config{})}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	if _, err := resp.Body.Read(buf); err == io.EOF {
		t.Errorf("Read after Close returned io.EOF before the end of the body")
	}
}

func TestReadAfterTimeoutRepeatsError(t *testing.T) {
	leakCheck(t)
	srv := stallingServer(t, "100")
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 100 * time.Millisecond})}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err == io.EOF {
		t.Errorf("Read after a timeout returned io.EOF: the 5 bytes of a 100-byte body look complete")
	}
}

// Close ends a Read blocked in another goroutine at once, rather than
// waiting for the Read's deadline.
func TestCloseInterruptsBlockedRead(t *testing.T) {
	leakCheck(t)
	srv := stallingServer(t, "")
	client := &http.Client{Transport: newTransport(t, h1.Config{Timeout: 2 * time.Second})}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	resp.Body.Close()
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Close took %v: it waited for the blocked Read", el)
	}
	t.Log("read error:", <-done)
}

// When the request context's earlier deadline runs out, the error is the
// context's, not a TimeoutError naming Config.Timeout.
func TestContextDeadlineIsNotTimeoutError(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) })
	tr := newTransport(t, h1.Config{Timeout: 10 * time.Second})
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := tr.RoundTrip(req)
		cancel()
		var te *h1.TimeoutError
		if errors.As(err, &te) {
			t.Errorf("%v", err)
			return
		}
	}
}

// eachRequest reads the requests on c and calls answer with each one's
// body, until reading fails or answer returns false.
func eachRequest(c net.Conn, answer func(body []byte) bool) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		if !answer(b) {
			return
		}
	}
}

// rawServer serves each connection with handle on a plain listener, for
// answers net/http's server would not give.
func rawServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, handle)
	return "http://" + ln.Addr().String()
}

// serveConns serves each connection ln accepts with handle, until the test
// ends.
func serveConns(t *testing.T, ln net.Listener, handle func(c net.Conn)) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// A server that answers before reading the body and then closes the
// connection: the client gets its answer, or an error, promptly; never a
// hang until the timeout.
func TestEarlyAnswerToLargeBody(t *testing.T) {
	leakCheck(t)
	url := rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil { // the body stays unread
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	tr := newTransport(t, h1.Config{Timeout: 10 * time.Second})
	for _, size := range []int{1 << 10, 32 << 20} {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(make([]byte, size)))
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		elapsed := time.Since(start)
		switch {
		case err == nil:
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("%d bytes: status %d, want 413", size, resp.StatusCode)
			}
		case size == 1<<10:
			t.Errorf("%d bytes: %v, want the 413 (the body fits in the socket buffers)", size, err)
		default:
			t.Logf("%d bytes: %v", size, err)
		}
		if elapsed > 3*time.Second {
			t.Errorf("%d bytes: took %v", size, elapsed)
		}
	}
}

// Any number of informational responses may precede the final one (102
// Processing as a heartbeat, say), but their heads and the final one's
// share one budget of MaxResponseHeaderBytes.
func TestInformationalResponsesShareTheHeaderBudget(t *testing.T) {
	leakCheck(t)
	link := "Link: </" + strings.Repeat("a", 10<<10) + ".css>; rel=preload\r\n"
	for _, tc := range []struct {
		name, info string
		n          int
		tooLarge   bool
	}{
		{"50 heartbeats", "HTTP/1.1 102 Processing\r\n\r\n", 50, false},
		{"early hints under 1 MB", "HTTP/1.1 103 Early Hints\r\n" + link + "\r\n", 90, false},
		{"early hints over 1 MB in all", "HTTP/1.1 103 Early Hints\r\n" + link + "\r\n", 110, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, func(c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, strings.Repeat(tc.info, tc.n)+"HTTP/1.1 204 No Content\r\n\r\n")
			})
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			resp, err := newTransport(t, h1.Config{}).RoundTrip(req)
			switch {
			case tc.tooLarge && (err == nil || !strings.Contains(err.Error(), "exceed 1 MB")):
				t.Errorf("RoundTrip = %v, want headers too large", err)
			case !tc.tooLarge && err != nil:
				t.Errorf("RoundTrip = %v", err)
			case !tc.tooLarge && resp.StatusCode != http.StatusNoContent:
				t.Errorf("status %d, want 204", resp.StatusCode)
			}
			if resp != nil {
				resp.Body.Close()
			}
		})
	}
}

// opaqueConn hides its socket (no SyscallConn), so the transport cannot look
// at it while it is idle, as on systems without MSG_PEEK.
type opaqueConn struct{ net.Conn }

// When a pooled connection turns out to be broken as the request is
// written (here: reset by the server, on a connection whose socket the
// transport could not look at), the request is sent again on a new one, and
// the server sees it once.
func TestReplayAfterWriteFailure(t *testing.T) {
	leakCheck(t)
	var (
		conns  atomic.Int32
		mu     sync.Mutex
		bodies []string
	)
	reset := make(chan struct{})
	url := rawServer(t, func(c net.Conn) {
		n := conns.Add(1)
		eachRequest(c, func(b []byte) bool {
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			if n == 1 {
				<-reset
				c.(*net.TCPConn).SetLinger(0) // Close sends a reset
				return false
			}
			return true
		})
	})
	closeReset := sync.OnceFunc(func() { close(reset) })
	t.Cleanup(closeReset) // before the server's cleanup waits for its handlers
	var dials atomic.Int32
	tr := newTransport(t, h1.Config{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return opaqueConn{c}, nil
	}})
	post := func(body string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		return tr.RoundTrip(req)
	}
	resp, err := post("first")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	closeReset()
	time.Sleep(50 * time.Millisecond) // the reset reaches the client's socket

	resp, err = post(strings.Repeat("second", 2000)) // larger than the write buffer
	if err != nil {
		t.Fatalf("request on a reset connection: %v", err)
	}
	resp.Body.Close()
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] != "first" || len(bodies[1]) != 12000 {
		t.Errorf("server saw %d bodies, want first and the 12000-byte one once", len(bodies))
	}
}
