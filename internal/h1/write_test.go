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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookbus/hookbus/internal/h1"
)

// The replay with a payload larger than the 4 KB write buffer: the broken
// pipe surfaces inside Request.Write's body copy, which net/http reports as
// a body read error without the cause; h1 keeps the connection's own error,
// so it still replays, and a deadline still gives a TimeoutError.
func TestReplayLargeBody(t *testing.T) {
	for _, size := range []int{100, 64 << 10} {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		})
		tr := h1.New(h1.Config{Timeout: 5 * time.Second, CheckIdleAfter: -1})
		client := &http.Client{Transport: tr}
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("first"))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.CloseClientConnections()
		waitFor(t, "close", func() bool { return srv.closedConns.Load() == 1 })
		time.Sleep(20 * time.Millisecond)
		resp, err = client.Post(srv.URL, "text/plain", bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Errorf("%d-byte body on a connection the server closed while idle: %v (EPIPE? %v)", size, err, errors.Is(err, syscall.EPIPE))
		} else {
			resp.Body.Close()
		}
		tr.CloseIdleConnections()
	}
}

// A write that runs out of time inside the body copy.
func TestBodyWriteTimeoutClassification(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) })
	tr := h1.New(h1.Config{Timeout: 200 * time.Millisecond})
	defer tr.CloseIdleConnections()
	_, err := tr.RoundTrip(mustReq(t, srv.URL, 64<<20))
	var te *h1.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("body write past the Timeout: %v (%T); want *h1.TimeoutError", err, err)
	}
}

// The early-answer path for a body that does not fit the socket buffers.
func TestEarlyAnswerLargeBody(t *testing.T) {
	var got atomic.Int32
	url := rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		got.Add(1)
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	for name, rt := range map[string]http.RoundTripper{"h1": h1.New(h1.Config{}), "net/http": &http.Transport{}} {
		resp, err := rt.RoundTrip(mustReq(t, url, 32<<20))
		if err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		t.Logf("%s: %d", name, resp.StatusCode)
		resp.Body.Close()
	}
}

func mustReq(t *testing.T, u string, size int) *http.Request {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(make([]byte, size)))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
