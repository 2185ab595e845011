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
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// TestWriteRequestMatchesNetHTTP writes thousands of random requests with
// writeRequest and with http.Request.Write, some with bodies that fail to
// read or to close, some to a connection that fails, and wants the same
// bytes, or the same error, from both.
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
		method := pick("POST", "PUT", "PATCH", "", "CONNECT")
		host := pick("", "", "", "override.example:81", "bad host", "ünï.example")
		closeConn := rng.IntN(4) == 0
		bodyKind := rng.IntN(6)
		failAt := rng.IntN(len(payload) + 1)
		var closeErr error
		if rng.IntN(8) == 0 {
			closeErr = errClose
		}
		writerLimit := -1 // bytes the connection takes before failing
		if rng.IntN(8) == 0 {
			writerLimit = rng.IntN(len(payload) + 200)
		}
		// Fields: some of the header's fields kept apart, and a User-Agent
		// (none, when empty) for a header without one; net/http gets them
		// all in the header.
		var fields *testFields
		wantHeader := header
		if rng.IntN(2) == 0 {
			fields = &testFields{ua: pick("", "hookbus/1.0", "ü agent")}
			kept := http.Header{}
			var names []string
			for k, vs := range header {
				movable := k == http.CanonicalHeaderKey(k) && !slices.Contains([]string{"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection"}, k)
				for _, v := range vs {
					movable = movable && v == textproto.TrimString(v)
				}
				if movable && rng.IntN(3) > 0 {
					names = append(names, k)
				} else {
					kept[k] = vs
				}
			}
			slices.Sort(names)
			for _, k := range names {
				for _, v := range header[k] {
					fields.lines = append(fields.lines, k+": "+v+"\r\n"...)
				}
			}
			wantHeader = header.Clone()
			if _, ok := wantHeader["User-Agent"]; !ok {
				wantHeader["User-Agent"] = []string{fields.ua}
			}
			if len(names) > 0 && rng.IntN(4) == 0 {
				// The header also has a field's name (set on a copy of
				// it, by trace propagation say): its value replaces the
				// field's.
				k := names[rng.IntN(len(names))]
				kept[k] = []string{"replaced"}
				wantHeader[k] = []string{"replaced"}
			}
			header = kept
		}
		build := func() *http.Request {
			var body io.ReadCloser
			switch bodyKind {
			case 0:
				body = io.NopCloser(bytes.NewReader(payload))
			case 1:
				body = io.NopCloser(strings.NewReader(string(payload)))
			case 2:
				body = io.NopCloser(iotest.HalfReader(bytes.NewReader(payload)))
			case 3:
				body = io.NopCloser(iotest.OneByteReader(bytes.NewReader(payload)))
			case 4:
				body = &memBody{Reader: *bytes.NewReader(payload)} // written in one call
			default:
				body = io.NopCloser(io.MultiReader(bytes.NewReader(payload[:failAt]), iotest.ErrReader(errRead)))
			}
			if closeErr != nil {
				body = failingClose{body, closeErr}
			}
			r := &http.Request{
				Method: method, URL: u, Host: host, Header: header.Clone(), Body: body,
				ContentLength: declared, Close: closeConn,
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			}
			if fields != nil {
				r = r.WithContext(context.WithValue(context.Background(), FieldsKey{}, Fields(fields)))
			}
			return r
		}
		write := func(f func(*bufio.Writer, *http.Request) error) (bytes.Buffer, error) {
			var out bytes.Buffer
			bw := bufio.NewWriter(&limitedWriter{w: &out, left: writerLimit})
			r := build()
			if fields != nil && f == nil {
				// net/http's writer, with every field in the header.
				r.Header = wantHeader.Clone()
				r = r.WithContext(context.Background())
			}
			if f == nil {
				f = func(w *bufio.Writer, r *http.Request) error { return r.Write(oneWrite{w}) }
			}
			err := f(bw, r)
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			return out, err
		}
		want, werr := write(nil)
		got, gerr := write(writeRequest)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("case %d: error %v, net/http's %v", i, gerr, werr)
		}
		for _, sentinel := range []error{errRead, errClose, errConn} {
			if errors.Is(gerr, sentinel) != errors.Is(werr, sentinel) {
				t.Fatalf("case %d: errors.Is(%v, %v) = %t, for net/http's error %t", i, gerr, sentinel, errors.Is(gerr, sentinel), errors.Is(werr, sentinel))
			}
		}
		if werr == nil && !bytes.Equal(got.Bytes(), want.Bytes()) {
			gotHead, gotBody, _ := bytes.Cut(got.Bytes(), []byte("\r\n\r\n"))
			wantHead, wantBody, _ := bytes.Cut(want.Bytes(), []byte("\r\n\r\n"))
			t.Fatalf("case %d: wrote\n%q\nand a body of %d bytes; net/http wrote\n%q\nand a body of %d bytes",
				i, gotHead, len(gotBody), wantHead, len(wantBody))
		}
	}
}

// testFields are Fields of the differential test.
type testFields struct {
	ua    string
	lines []byte
}

func (f *testFields) UserAgent() string { return f.ua }
func (f *testFields) Lines() []byte     { return f.lines }

// Errors of the differential tests' bodies and connections.
var (
	errRead  = errors.New("read failed")
	errClose = errors.New("close failed")
	errConn  = errors.New("connection failed")
)

// memBody is a body in memory that is its own io.ReadCloser, as a delivery's
// is.
type memBody struct{ bytes.Reader }

func (*memBody) Close() error { return nil }

// failingClose is a body whose Close fails.
type failingClose struct {
	io.ReadCloser
	err error
}

func (b failingClose) Close() error { _ = b.ReadCloser.Close(); return b.err }

// limitedWriter takes left bytes, then fails with errConn; a negative left
// takes everything.
type limitedWriter struct {
	w    io.Writer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.left < 0 {
		return l.w.Write(p)
	}
	if len(p) > l.left {
		n, _ := l.w.Write(p[:l.left])
		l.left = 0
		return n, errConn
	}
	l.left -= len(p)
	return l.w.Write(p)
}

// TestWriteRequestClosesBody: the body is closed once whatever happens; a
// failing Close is reported before a body of the wrong length, and a body
// that fails to read is reported with its error's text but, as by
// http.Request.Write, not as that error.
func TestWriteRequestClosesBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   io.Reader
		length int64
	}{
		{"whole", strings.NewReader("abc"), 3},
		{"short", strings.NewReader("ab"), 3},
		{"long", strings.NewReader("abcd"), 3},
		{"read error", iotest.ErrReader(errRead), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &closeCounter{Reader: tc.body, err: errClose}
			r, err := http.NewRequest(http.MethodPost, "http://example.com/", b)
			if err != nil {
				t.Fatal(err)
			}
			r.ContentLength = tc.length
			err = writeRequest(bufio.NewWriter(io.Discard), r)
			if tc.name == "read error" {
				if err == nil || err.Error() != errRead.Error() || errors.Is(err, errRead) {
					t.Errorf("writeRequest = %v, want %q that errors.Is does not see through", err, errRead)
				}
			} else if !errors.Is(err, errClose) {
				t.Errorf("writeRequest = %v, want %v", err, errClose)
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
