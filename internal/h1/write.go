package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// defaultUserAgent is the User-Agent net/http sends when a request's header
// has none.
const defaultUserAgent = "Go-http-client/1.1"

var crlf = []byte("\r\n")

// maxSortedKeys is the most header fields writeRequest sorts on the stack.
const maxSortedKeys = 32

// writeRequest writes r to w, byte for byte as r.Write would, and closes
// r's body, with r.Write's errors. It writes itself the requests webhook
// deliveries make, of a known length with no trailer, in a fraction of
// r.Write's time; others, CONNECT requests and requests traced with
// httptrace it leaves to r.Write. r's header has passed Transport.check.
// The Fields of r's context, if any, are written among the Header's fields
// in the order of their names, as if the Header held them (see Fields).
// A Header field of the same name replaces one.
func writeRequest(w *bufio.Writer, r *http.Request) error {
	fields := fieldsOf(r)
	if r.ContentLength <= 0 || r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodConnect ||
		len(r.TransferEncoding) > 0 || r.Trailer != nil || len(r.Header) > maxSortedKeys ||
		httptrace.ContextClientTrace(r.Context()) != nil {
		if fields != nil {
			r = withFields(r, fields)
		}
		return r.Write(oneWrite{w})
	}
	if err := writeHead(w, r, fields); err != nil {
		_ = r.Body.Close()
		return err
	}
	// As net/http does: the declared length, then whatever the body has
	// beyond it, to report a body of the wrong length; then Close, whose
	// error comes first. An error of the copies, reading or writing, is
	// reported as the body's; Transport.roundTrip knows the connection's
	// own errors from connIO.
	var n int64
	var err error
	if m, ok := r.Body.(inMemory); ok && int64(m.Len()) == r.ContentLength {
		// Exactly the declared length, in memory: written as it is.
		n, err = m.WriteTo(w)
	} else {
		n, err = io.Copy(w, io.LimitReader(r.Body, r.ContentLength))
		if err == nil {
			var extra int64
			extra, err = io.Copy(io.Discard, r.Body)
			n += extra
		}
	}
	if err != nil {
		_ = r.Body.Close()
		return bodyReadError{err}
	}
	if err := r.Body.Close(); err != nil {
		return err
	}
	if n != r.ContentLength {
		return fmt.Errorf("http: ContentLength=%d with Body length %d", r.ContentLength, n)
	}
	return nil
}

// writeHead writes r's request line, its header merged with fields (if not
// nil) in the order of their names, and the blank line after.
func writeHead(w *bufio.Writer, r *http.Request, fields Fields) error {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	host, err := httpguts.PunycodeHostPort(host)
	if err != nil {
		return err
	}
	if !httpguts.ValidHostHeader(host) {
		host = ""
	}
	host = removeZone(host)
	ruri := r.URL.RequestURI()
	if containsCTL(ruri) {
		return errors.New("net/http: can't write control character in Request.URL")
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}

	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(ruri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	userAgent := defaultUserAgent
	if _, ok := r.Header["User-Agent"]; ok {
		userAgent = r.Header.Get("User-Agent")
	} else if fields != nil {
		userAgent = fields.UserAgent()
	}
	if userAgent != "" {
		writeField(w, "User-Agent", userAgent)
	}
	if r.Close && !hasToken(first(r.Header["Connection"]), "close") {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("Content-Length: ")
	// Appended to the buffer's free space: a slice of the stack would
	// escape through bufio.Writer.Write.
	w.Write(strconv.AppendInt(w.AvailableBuffer(), r.ContentLength, 10))
	w.WriteString("\r\n")

	var keyArray [maxSortedKeys]string
	keys := keyArray[:0]
	for k := range r.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		default:
			keys = append(keys, k)
		}
	}
	// Insertion sort: a few fields, no allocation.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	var lines []byte
	if fields != nil {
		lines = fields.Lines()
	}
	for _, k := range keys {
		// The fields named before k, then k's: the Header's values of a
		// name replace the fields'.
		for len(lines) > 0 {
			colon := bytes.IndexByte(lines, ':')
			if colon < 0 || string(lines[:colon]) > k {
				break
			}
			end := bytes.Index(lines, crlf)
			if end < 0 {
				break
			}
			end += len(crlf)
			if string(lines[:colon]) != k {
				w.Write(lines[:end])
			}
			lines = lines[end:]
		}
		for _, v := range r.Header[k] {
			writeField(w, k, v)
		}
	}
	w.Write(lines)
	_, err = w.WriteString("\r\n")
	return err
}

// inMemory is a body whose length is known, such as a *bytes.Reader (or a
// type embedding one, to be its own io.ReadCloser): what it holds is
// written in one call.
type inMemory interface {
	Len() int
	io.WriterTo
}

// bodyReadError is an error copying a request's body, which net/http
// reports without letting errors.Is see the cause.
type bodyReadError struct{ error }

// writeField writes one header field line. Values have passed
// httpguts.ValidHeaderFieldValue, so they hold no line breaks; like
// net/http, it trims the spaces and tabs around them.
func writeField(w *bufio.Writer, key, value string) {
	w.WriteString(key)
	w.WriteString(": ")
	w.WriteString(textproto.TrimString(value))
	w.WriteString("\r\n")
}

// first returns vs's first value, or "".
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// hasToken reports whether token, an ASCII lowercase word, is one of the
// words of v, as net/http decides whether a Connection header asks to close.
func hasToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		end := sp + len(token)
		if (sp == 0 || isTokenBoundary(v[sp-1])) && (end == len(v) || isTokenBoundary(v[end])) &&
			asciiFoldEqual(v[sp:end], token) {
			return true
		}
	}
	return false
}

// asciiFoldEqual reports whether s is lower, which holds only lowercase
// ASCII letters and dashes, ignoring the case of s's letters.
func asciiFoldEqual(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c, l := s[i], lower[i]; c != l && (c|0x20 != l || l < 'a' || l > 'z') {
			return false
		}
	}
	return true
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// removeZone removes the IPv6 zone from host, as RFC 6874 asks of clients.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}

// containsCTL reports whether s holds an ASCII control character.
func containsCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f {
			return true
		}
	}
	return false
}
