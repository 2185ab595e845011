package h1_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/internal/h1"
)

// defaultTransport is a Transport configured as the webhooks sender
// configures it: CheckIdleAfter left at its zero value.
func defaultTransport(t *testing.T) *h1.Transport {
	tr := h1.New(h1.Config{Timeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second})
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// postN posts n bodies "0", "1", ... one after another, calling between
// after each but the last, and returns the statuses (0 for a failed
// request) and the errors.
func postN(t *testing.T, rt http.RoundTripper, u string, n int, between func()) ([]int, []error) {
	client := &http.Client{Transport: rt}
	var statuses []int
	var errs []error
	for i := range n {
		resp, err := client.Post(u, "application/json", strings.NewReader(fmt.Sprint(i)))
		if err != nil {
			statuses, errs = append(statuses, 0), append(errs, err)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses = append(statuses, resp.StatusCode)
		}
		if i < n-1 {
			between()
		}
	}
	return statuses, errs
}

// afterReceiver returns a channel for a receiver to signal on once it has
// done what it does after a response, and the wait postN makes between two
// requests: for that signal, then a millisecond, so the next request goes
// out after the receiver's doing, as a delivery milliseconds later would.
// (Sleeping alone races with a receiver delayed on a loaded machine.)
func afterReceiver(t *testing.T, n int) (chan<- struct{}, func()) {
	done := make(chan struct{}, n)
	return done, func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the receiver did not finish its answer")
		}
		time.Sleep(time.Millisecond)
	}
}

// A receiver that sends its answer twice leaves a second response on the
// connection. The next request, sent milliseconds later, gets its own
// answer (the 503 the receiver gave it), not the stale copy: a stale 200
// would have a refused delivery recorded as delivered.
func TestStaleSecondResponseIsNotTheNextAnswer(t *testing.T) {
	leakCheck(t)
	done, between := afterReceiver(t, 2)
	u := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		eachRequest(c, func(b []byte) bool {
			answer := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			if string(b) != "0" {
				answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
			}
			io.WriteString(c, answer)
			time.Sleep(500 * time.Microsecond)
			io.WriteString(c, answer) // the receiver's bug: the answer again
			done <- struct{}{}
			return true
		})
	})
	statuses, errs := postN(t, defaultTransport(t), u, 2, between)
	if statuses[0] != 200 || statuses[1] != 503 {
		t.Errorf("statuses %v (errors %v), want [200 503]: the second request was answered 503", statuses, errs)
	}
}

// A receiver that writes a stray byte after a response's body: the
// connection is not used again, so the next request, sent milliseconds
// later, neither fails after the receiver processed it nor is sent twice.
func TestStrayByteAfterBodyRetiresTheConnection(t *testing.T) {
	leakCheck(t)
	var handled atomic.Int32
	done, between := afterReceiver(t, 10)
	u := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		eachRequest(c, func([]byte) bool {
			handled.Add(1)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			time.Sleep(500 * time.Microsecond)
			io.WriteString(c, "\n")
			done <- struct{}{}
			return true
		})
	})
	statuses, errs := postN(t, defaultTransport(t), u, 10, between)
	if len(errs) > 0 || handled.Load() != 10 {
		t.Errorf("statuses %v, %d requests handled for 10 sent; errors: %v", statuses, handled.Load(), errs)
	}
}

// A receiver that closes each connection after its response without
// saying so: the next request, sent milliseconds later, goes on a new
// connection instead of failing on the closed one.
func TestConnectionClosedAfterResponseIsNotReused(t *testing.T) {
	leakCheck(t)
	done, between := afterReceiver(t, 20)
	u := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		done <- struct{}{}
	})
	if _, errs := postN(t, defaultTransport(t), u, 20, between); len(errs) > 0 {
		t.Errorf("%d of 20 requests failed; first: %v", len(errs), errs[0])
	}
}

// A URL with an empty port ("http://host:/") means the scheme's port, as
// for net/http: 80 for http, 443 for https.
func TestEmptyPortIsTheSchemesPort(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://127.0.0.2:/hook", "127.0.0.2:80"},
		{"https://127.0.0.2:/hook", "127.0.0.2:443"},
		{"http://[::1]:/hook", "[::1]:80"},
		{"http://127.0.0.2/hook", "127.0.0.2:80"},
		{"http://127.0.0.2:8080/hook", "127.0.0.2:8080"},
	} {
		dialed := make(chan string, 1)
		tr := h1.New(h1.Config{Timeout: 2 * time.Second, DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			dialed <- addr
			return nil, fmt.Errorf("not dialing %s", addr)
		}})
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		// As the sender builds its requests: from the parsed URL, not
		// http.NewRequest, which drops an empty port.
		req := &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}, Body: http.NoBody,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		if _, err := tr.RoundTrip(req); err == nil {
			t.Fatalf("%s: no error from a dialer that refuses", tc.url)
		}
		if got := <-dialed; got != tc.want {
			t.Errorf("%s: dialed %q, want %q", tc.url, got, tc.want)
		}
	}
}
