package h1_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A hostile receiver streams response headers: both transports stop reading
// them at their limit (h1.MaxResponseHeaderBytes) instead of buffering all
// the receiver sends until the timeout.
func TestUnboundedResponseHeaders(t *testing.T) {
	const total = 24 << 20
	u := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		bw := bufio.NewWriterSize(c, 64<<10)
		bw.WriteString("HTTP/1.1 200 OK\r\n")
		line := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
		for n := 0; n < total; n += len(line) {
			if _, err := bw.WriteString(line); err != nil {
				return
			}
		}
		bw.WriteString("Content-Length: 0\r\n\r\n")
		bw.Flush()
	})
	for name, mk := range bothTransports(t) {
		t.Run(name, func(t *testing.T) {
			resp, err := (&http.Client{Transport: mk(t)}).Post(u, "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			resp.Body.Close()
			t.Errorf("accepted %d MB of response headers (%d X-Pad values)", total>>20, len(resp.Header["X-Pad"]))
		})
	}
}
