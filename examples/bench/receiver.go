package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// receiverEnv, set in the environment, makes the binary serve as the
// receiver process instead of measuring.
const receiverEnv = "HOOKBUS_BENCH_RECEIVER"

// Paths the receiver serves, on both of its ports.
const (
	// pathOK reads the body and answers 204.
	pathOK = "/ok"
	// pathHang reads the body and answers 204 only once released; until
	// then it holds the request until the client gives up.
	pathHang = "/hang"
	// pathRelease releases every held and future pathHang request.
	pathRelease = "/release"
)

// receiverMain runs the receiver process: two loopback ports serving the
// same paths (the second one stands for another host, so that its
// connections do not share a pool with the first), announced as
// "listening on http://A http://B" on stdout. It serves until stdin closes,
// which happens when the measuring process exits for whatever reason.
func receiverMain(stdin io.Reader, stdout, stderr io.Writer) int {
	released := make(chan struct{})
	var release sync.Once
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case pathOK:
			w.WriteHeader(http.StatusNoContent)
		case pathHang:
			select {
			case <-released:
				w.WriteHeader(http.StatusNoContent)
			case <-r.Context().Done():
			}
		case pathRelease:
			release.Do(func() { close(released) })
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "bench receiver:", err)
			return 1
		}
		addrs = append(addrs, "http://"+ln.Addr().String())
		go func() { _ = srv.Serve(ln) }()
	}
	fmt.Fprintln(stdout, "listening on", strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, stdin)
	_ = srv.Close()
	return 0
}

// receiver is the measuring process's handle on the receiver process.
type receiver struct {
	cmd   *exec.Cmd
	stdin io.Closer
	// base and other are the two ports' base URLs.
	base, other string
}

// startReceiver re-executes this binary as the receiver and waits until it
// listens.
func startReceiver(ctx context.Context, stderr io.Writer) (*receiver, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), receiverEnv+"=1")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &receiver{cmd: cmd, stdin: stdin}

	type result struct {
		line string
		err  error
	}
	first := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		first <- result{line, err}
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	var res result
	select {
	case res = <-first:
	case <-timeout.C:
		res.err = errors.New("no address within 30s")
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	if res.err == nil {
		urls := strings.Fields(strings.TrimPrefix(strings.TrimSpace(res.line), "listening on "))
		if len(urls) == 2 && strings.HasPrefix(urls[0], "http://") && strings.HasPrefix(urls[1], "http://") {
			r.base, r.other = urls[0], urls[1]
			return r, nil
		}
		res.err = fmt.Errorf("unexpected first line %q", res.line)
	}
	r.close()
	return nil, fmt.Errorf("receiver: %w", res.err)
}

func (r *receiver) pid() int { return r.cmd.Process.Pid }

// release makes every held pathHang request, and every later one, answer 204.
func (r *receiver) release(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+pathRelease, http.NoBody)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("release receiver: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("release receiver: status %d", resp.StatusCode)
	}
	return nil
}

// close stops the receiver process: closing its stdin asks it to exit; if
// it does not within a few seconds, it is killed.
func (r *receiver) close() {
	_ = r.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = r.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}
