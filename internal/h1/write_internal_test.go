package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
)

// TestWriteRequestMatchesNetHTTP writes thousands of random requests with
// writeRequest and with http.Request.Write, and wants the same bytes, or
// the same error, from both.
func TestWriteRequestMatchesNetHTTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	urls := []string{
		"http://example.com/hooks",
		"http://example.com",
		"https://example.com:8443/a/b?x=1&y=%20",
		"http://example.com/a%20b/c",
		"http://example.com/a%2Fb?",
		"http://[fe80::1%25en0]:8080/zone",
		"http://[::1]/v6",
		"http://bücher.example/idn",
		"http://127.0.0.1:9/p;q?r#frag",
	}
	keys := []string{"Content-Type", "Webhook-Id", "webhook-signature", "X-Custom", "Accept",
		"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "A", "Zz"}
	values := []string{"", "v", " padded\t", "a, b", "close", "Keep-Alive, CLOSE", "closed", "x\tclose", "v1,v2;q=0.5", "ünïcode"}
	for i := range 5000 {
		u, err := url.Parse(pick(urls...))
		if err != nil {
			t.Fatal(err)
		}
		header := http.Header{}
		for range rng.IntN(8) {
			k := pick(keys...)
			for range 1 + rng.IntN(2) {
				header[k] = append(header[k], pick(values...))
			}
		}
		payload := []byte(strings.Repeat("{}", 1+rng.IntN(3000)))
		declared := int64(len(payload))
		switch rng.IntN(20) {
		case 0:
			declared-- // a body longer than declared
		case 1:
			declared++ // shorter
		}
		method := pick("POST", "PUT", "PATCH", "")
		host := pick("", "", "", "override.example:81", "bad host", "ünï.example")
		closeConn := rng.IntN(4) == 0
		bodyKind := rng.IntN(4)
		build := func() *http.Request {
			var body io.ReadCloser
			switch bodyKind {
			case 0:
				body = io.NopCloser(bytes.NewReader(payload))
			case 1:
				body = io.NopCloser(strings.NewReader(string(payload)))
			case 2:
				body = io.NopCloser(iotest.HalfReader(bytes.NewReader(payload)))
			default:
				body = io.NopCloser(iotest.OneByteReader(bytes.NewReader(payload)))
			}
			return &http.Request{
				Method: method, URL: u, Host: host, Header: header.Clone(), Body: body,
				ContentLength: declared, Close: closeConn,
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			}
		}
		var want bytes.Buffer
		werr := build().Write(&want)
		var got bytes.Buffer
		bw := bufio.NewWriter(&got)
		gerr := writeRequest(bw, build())
		bw.Flush()
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("case %d: error %v, net/http's %v", i, gerr, werr)
		}
		if werr == nil && !bytes.Equal(got.Bytes(), want.Bytes()) {
			gotHead, gotBody, _ := bytes.Cut(got.Bytes(), []byte("\r\n\r\n"))
			wantHead, wantBody, _ := bytes.Cut(want.Bytes(), []byte("\r\n\r\n"))
			t.Fatalf("case %d: wrote\n%q\nand a body of %d bytes; net/http wrote\n%q\nand a body of %d bytes",
				i, gotHead, len(gotBody), wantHead, len(wantBody))
		}
	}
}

// TestWriteRequestClosesBody: the body is closed whatever happens, and a
// failing Close is reported, as by http.Request.Write.
func TestWriteRequestClosesBody(t *testing.T) {
	closeErr := errors.New("close failed")
	for _, tc := range []struct {
		name    string
		body    io.Reader
		length  int64
		wantErr error
	}{
		{"whole", strings.NewReader("abc"), 3, closeErr},
		{"read error", iotest.ErrReader(io.ErrUnexpectedEOF), 3, io.ErrUnexpectedEOF},
		{"short", strings.NewReader("ab"), 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &closeCounter{Reader: tc.body, err: closeErr}
			r, err := http.NewRequest(http.MethodPost, "http://example.com/", b)
			if err != nil {
				t.Fatal(err)
			}
			r.ContentLength = tc.length
			err = writeRequest(bufio.NewWriter(io.Discard), r)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("writeRequest = %v, want %v", err, tc.wantErr)
			}
			if b.closed != 1 {
				t.Errorf("body closed %d times, want once", b.closed)
			}
		})
	}
}

type closeCounter struct {
	io.Reader
	closed int
	err    error
}

func (c *closeCounter) Close() error { c.closed++; return c.err }

// TestWriteRequestTraced leaves a request traced with httptrace to net/http,
// which calls the trace's hooks.
func TestWriteRequestTraced(t *testing.T) {
	var fields []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteHeaderField: func(k string, _ []string) { fields = append(fields, k) },
	})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.com/", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeRequest(bufio.NewWriter(io.Discard), r); err != nil {
		t.Fatal(err)
	}
	if len(fields) == 0 {
		t.Error("the trace's WroteHeaderField was not called")
	}
}
