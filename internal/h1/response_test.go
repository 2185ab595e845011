package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// responses are answers readResponse must read as http.ReadResponse does;
// inPlace marks those parseBodiless parses itself.
var responses = []struct {
	name    string
	raw     string
	inPlace bool
}{
	{"204 with Date", "HTTP/1.1 204 No Content\r\nDate: Fri, 27 Nov 2026 23:59:00 GMT\r\n\r\n", true},
	{"204 without header", "HTTP/1.1 204 No Content\r\n\r\n", true},
	{"204 without reason", "HTTP/1.1 204\r\n\r\n", true},
	{"200 with Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n", true},
	{"304", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true},
	{"repeated name, odd case, spaces", "HTTP/1.1 204 No Content\r\nx-a: 1\r\nX-A:2 \r\nset-COOKIE: \t a=b\t\r\nX-Empty:\r\n\r\n", true},
	{"obs-text", "HTTP/1.1 204 No Content\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n", true},
	{"next response buffered", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n", true},
	{"204 with a Content-Length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false},
	{"200 with a body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"200 chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"200 until close", "HTTP/1.1 200 OK\r\n\r\nrest", false},
	{"Content-Length twice", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", false},
	{"Content-Length 00", "HTTP/1.1 200 OK\r\nContent-Length: 00\r\n\r\n", false},
	{"Connection: close", "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", false},
	{"Pragma", "HTTP/1.1 204 No Content\r\nPragma: no-cache\r\n\r\n", false},
	{"Trailer", "HTTP/1.1 204 No Content\r\nTrailer: X\r\n\r\n", false},
	{"HTTP/1.0", "HTTP/1.0 204 No Content\r\n\r\n", false},
	{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", false},
	{"bare LF", "HTTP/1.1 204 No Content\nDate: x\n\n", false},
	{"bare LF in a header", "HTTP/1.1 204 No Content\r\nA: b\nC: d\r\n\r\n", false},
	{"bare CR", "HTTP/1.1 204 No Content\r\nA: b\rc\r\n\r\n", false},
	{"folded line", "HTTP/1.1 204 No Content\r\nA: b\r\n c\r\n\r\n", false},
	{"space before colon", "HTTP/1.1 204 No Content\r\nA : b\r\n\r\n", false},
	{"no colon", "HTTP/1.1 204 No Content\r\nAb\r\n\r\n", false},
	{"control byte in a value", "HTTP/1.1 204 No Content\r\nA: b\x01\r\n\r\n", false},
	{"four-digit status", "HTTP/1.1 2040 No Content\r\n\r\n", false},
	{"signed status", "HTTP/1.1 +20 No Content\r\n\r\n", false},
	{"two spaces", "HTTP/1.1  204 No Content\r\n\r\n", false},
	{"incomplete head", "HTTP/1.1 204 No Content\r\nDate: x\r\n", false},
}

func TestReadResponseMatchesNetHTTP(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://example.com/", nil)
	for _, tc := range responses {
		t.Run(tc.name, func(t *testing.T) {
			if resp, _ := parseBodiless([]byte(tc.raw), req); (resp != nil) != tc.inPlace {
				t.Errorf("parsed in place: %v, want %v", resp != nil, tc.inPlace)
			}
			compareWithNetHTTP(t, http.MethodPost, []byte(tc.raw))
			compareWithNetHTTP(t, http.MethodHead, []byte(tc.raw))
		})
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, tc := range responses {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		compareWithNetHTTP(t, http.MethodPost, raw)
	})
}

// TestBodilessResponseAllocations pins what the in-place parse spares:
// http.ReadResponse allocates 6 times for this response.
func TestBodilessResponseAllocations(t *testing.T) {
	const raw = "HTTP/1.1 204 No Content\r\nDate: Fri, 27 Nov 2026 23:59:00 GMT\r\n\r\n"
	req, _ := http.NewRequest(http.MethodPost, "http://example.com/", nil)
	r := strings.NewReader(raw)
	br := bufio.NewReader(r)
	n := testing.AllocsPerRun(100, func() {
		r.Reset(raw)
		br.Reset(r)
		if _, err := br.Peek(1); err != nil {
			t.Fatal(err)
		}
		if _, err := readResponse(br, req); err != nil {
			t.Fatal(err)
		}
	})
	if n > 5 {
		t.Errorf("readResponse allocates %v times, want at most 5", n)
	}
}

// compareWithNetHTTP reads raw, the answer to a request of method, with
// readResponse (after a first read, as in a round trip) and with
// http.ReadResponse, and fails if the results differ in a field, the body or
// what is left unread.
func compareWithNetHTTP(t *testing.T, method string, raw []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://example.com/", nil)
	br := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	_, _ = br.Peek(1)
	got, gotErr := readResponse(br, req)
	wantBR := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	want, wantErr := http.ReadResponse(wantBR, req)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("readResponse error %v, http.ReadResponse error %v", gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if got.Request != req {
		t.Errorf("Request not set")
	}
	type fields struct {
		Status                      string
		StatusCode                  int
		Proto                       string
		ProtoMajor, ProtoMinor      int
		Header, Trailer             http.Header
		ContentLength               int64
		TransferEncoding            []string
		Close, Uncompressed, NoBody bool
	}
	of := func(r *http.Response) fields {
		return fields{r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.Trailer,
			r.ContentLength, r.TransferEncoding, r.Close, r.Uncompressed, r.Body == http.NoBody}
	}
	if g, w := of(got), of(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("readResponse gives\n%+v\nhttp.ReadResponse gives\n%+v", g, w)
	}
	gotBody, gotBodyErr := io.ReadAll(got.Body)
	wantBody, wantBodyErr := io.ReadAll(want.Body)
	if !bytes.Equal(gotBody, wantBody) || (gotBodyErr == nil) != (wantBodyErr == nil) {
		t.Fatalf("body %q (%v), http.ReadResponse's %q (%v)", gotBody, gotBodyErr, wantBody, wantBodyErr)
	}
	gotRest, _ := io.ReadAll(br)
	wantRest, _ := io.ReadAll(wantBR)
	if !bytes.Equal(gotRest, wantRest) {
		t.Fatalf("left unread %q, http.ReadResponse leaves %q", gotRest, wantRest)
	}
}
