package h1_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/hookbus/hookbus/internal/h1"
)

// bothTransports gives h1's transport and net/http's, for behaviour both
// must share.
func bothTransports(t *testing.T) map[string]func(t *testing.T) http.RoundTripper {
	return map[string]func(t *testing.T) http.RoundTripper{
		"h1": func(t *testing.T) http.RoundTripper {
			tr := h1.New(h1.Config{Timeout: 5 * time.Second, CheckIdleAfter: -1})
			t.Cleanup(tr.CloseIdleConnections)
			return tr
		},
		"net/http": func(t *testing.T) http.RoundTripper {
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			return tr
		},
	}
}

// A server that, like some servers and load balancers, sends "408 Request
// Timeout" on a keep-alive connection it closes for idleness: the next
// request must not take that 408 for its answer (golang/go#32310).
func Test408OnIdleConnection(t *testing.T) {
	for name, mk := range bothTransports(t) {
		t.Run(name, func(t *testing.T) {
			var conns atomic.Int32
			u := rawServer(t, func(c net.Conn) {
				first := conns.Add(1) == 1
				c.SetDeadline(time.Now().Add(2 * time.Second))
				eachRequest(c, func([]byte) bool {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					if first {
						time.Sleep(50 * time.Millisecond)
						io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
						return false
					}
					return true
				})
			})
			client := &http.Client{Transport: mk(t)}
			post := func() int {
				resp, err := client.Post(u, "text/plain", bytes.NewReader([]byte("x")))
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			post()
			time.Sleep(200 * time.Millisecond)
			if code := post(); code != 200 {
				t.Errorf("second delivery got %d from the idle connection's 408; want 200 on a fresh connection", code)
			}
		})
	}
}

// The receiver read the whole POST and then dropped the connection without
// answering (a handler panic, a crash, a load balancer's reset after the
// work): the POST, written whole, is not sent again within the round trip;
// retrying is the retry policy's decision.
func TestPOSTReplayedAfterServerReadIt(t *testing.T) {
	for name, mk := range bothTransports(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				seen[string(b)]++
				mu.Unlock()
				if string(b) == "poison" {
					time.Sleep(300 * time.Millisecond) // it worked on it for a while
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "ok")
			})
			client := &http.Client{Transport: mk(t)}
			resp, err := client.Post(srv.URL, "text/plain", bytes.NewReader([]byte("warm")))
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte("poison")))
			resp, err = client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			mu.Lock()
			n := seen["poison"]
			mu.Unlock()
			if n != 1 {
				t.Errorf("receiver processed the POST %d times in one round trip (err=%v); want 1", n, err)
			}
		})
	}
}

// A pooled connection must not keep the context of a finished round trip
// alive (context.AfterFunc stores its parent): in the Sender that context
// holds the delivery, payload included.
func TestIdleConnRetainsFirstRequestContext(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := h1.New(h1.Config{})
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	service, stop := context.WithCancel(context.Background())
	defer stop()
	type key struct{}
	payload := new([1 << 20]byte) // a 1 MB delivery payload
	wp := weak.Make(payload)
	func() {
		ctx := context.WithValue(service, key{}, payload)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader(payload[:10]))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}()
	payload = nil
	// Many later deliveries on the same connection, same service context.
	for range 10 {
		req, _ := http.NewRequestWithContext(service, http.MethodPost, srv.URL, bytes.NewReader([]byte("x")))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	runtime.GC()
	runtime.GC()
	if wp.Value() != nil {
		t.Errorf("the first request's context value (1 MB) is still reachable from the idle connection")
	}
}

// A connection idle for less than CheckIdleAfter is used without a look at
// its socket; one idle longer is looked at first, and a closed one is
// replaced.
func TestCheckIdleAfter(t *testing.T) {
	leakCheck(t)
	const after = 200 * time.Millisecond
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	client := &http.Client{Transport: newTransport(t, h1.Config{CheckIdleAfter: after})}
	get(t, client, srv.URL)
	srv.CloseClientConnections()
	waitFor(t, "the server to close the idle connection", func() bool { return srv.closedConns.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // the close reaches the client's socket
	if resp, err := client.Get(srv.URL); err == nil {
		resp.Body.Close()
		if srv.newConns.Load() == 1 {
			t.Fatal("a request went through on a connection the server had closed")
		}
		t.Fatal("a connection idle for less than CheckIdleAfter was looked at and replaced")
	}

	get(t, client, srv.URL) // on a new connection
	srv.CloseClientConnections()
	waitFor(t, "the server to close the idle connection", func() bool { return srv.closedConns.Load() == 2 })
	time.Sleep(after)
	if _, body := get(t, client, srv.URL); body != "ok" {
		t.Errorf("body %q", body)
	}
	if n := srv.newConns.Load(); n != 3 {
		t.Errorf("server saw %d connections, want 3", n)
	}
}
