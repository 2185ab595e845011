package h1_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/internal/h1"
)

// A second response that arrives after the first was read, while the
// connection sits idle, is not taken for the next request's: with the
// CheckIdleAfter of 5 ms the connection is looked at and replaced.
func TestLateUnsolicitedResponseDiscardsConnection(t *testing.T) {
	leakCheck(t)
	var accepted atomic.Int32
	u := rawServer(t, func(c net.Conn) {
		n := accepted.Add(1)
		c.SetDeadline(time.Now().Add(3 * time.Second))
		first := true
		eachRequest(c, func([]byte) bool {
			if n > 1 {
				_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
				return err == nil
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			if first {
				first = false
				time.Sleep(30 * time.Millisecond)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
			}
			return true
		})
	})
	client := &http.Client{Transport: newTransport(t, h1.Config{CheckIdleAfter: 5 * time.Millisecond})}
	if _, body := get(t, client, u); body != "ok" {
		t.Fatalf("first body %q", body)
	}
	time.Sleep(100 * time.Millisecond)
	if _, body := get(t, client, u); body != "fresh" {
		t.Errorf("second body %q, want fresh (from a new connection)", body)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections accepted, want 2", n)
	}
}

// Bytes after a response in the same TLS record stay in tls.Conn's buffer,
// out of sight of the socket; the connection is still not used again. A
// connection with nothing pending is.
func TestUnsolicitedBytesInTLSRecordDiscardConnection(t *testing.T) {
	for _, check := range []time.Duration{-1, 5 * time.Millisecond} {
		t.Run(check.String(), func(t *testing.T) {
			leakCheck(t)
			ref := httptest.NewTLSServer(http.NotFoundHandler())
			defer ref.Close()
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: ref.TLS.Certificates, DynamicRecordSizingDisabled: true})
			if err != nil {
				t.Fatal(err)
			}
			var accepted atomic.Int32
			serveConns(t, ln, func(c net.Conn) {
				n := accepted.Add(1)
				c.SetDeadline(time.Now().Add(3 * time.Second))
				i := 0
				eachRequest(c, func([]byte) bool {
					i++
					if n == 1 && i == 2 {
						// The body's end and an unasked response share
						// the second write, one TLS record.
						body := bytes.Repeat([]byte("a"), 20000)
						c.Write(append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n"), body[:12000]...))
						c.Write(append(body[12000:], "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"...))
						return true
					}
					_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
					return err == nil
				})
			})
			tr := newTransport(t, h1.Config{CheckIdleAfter: check, TLSConfig: ref.Client().Transport.(*http.Transport).TLSClientConfig})
			client := &http.Client{Transport: tr}
			u := "https://" + ln.Addr().String()
			post := func() string {
				resp, err := client.Post(u, "text/plain", strings.NewReader("event"))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				// Reads as large as the body, as io.Copy's: bufio passes
				// them to tls.Conn, which keeps the record's rest.
				var all []byte
				buf := make([]byte, 1<<20)
				for {
					n, err := resp.Body.Read(buf)
					all = append(all, buf[:n]...)
					if err != nil {
						break
					}
				}
				return string(all)
			}
			if got := post(); got != "fresh" {
				t.Fatalf("first body %q", got)
			}
			if got := post(); len(got) != 20000 {
				t.Fatalf("second body %d bytes", len(got))
			}
			if got := post(); got != "fresh" {
				t.Errorf("third body %q, want fresh (from a new connection)", got)
			}
			if n := accepted.Load(); n != 2 {
				t.Errorf("%d connections accepted, want 2: the first reused once, then replaced", n)
			}
			tr.CloseIdleConnections()
		})
	}
}
