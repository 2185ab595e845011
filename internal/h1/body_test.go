package h1_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
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
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) })
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
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) })
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
