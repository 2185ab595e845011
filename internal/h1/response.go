package h1

import (
	"bufio"
	"bytes"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// readResponse reads a response as http.ReadResponse does. The answer
// webhook receivers give most, an HTTP/1.1 status of 200 or more without a
// body whose whole head is already in br's buffer, is parsed in place by
// parseBodiless into the Response http.ReadResponse would return; every
// other response, and anything parseBodiless is unsure of, is left to
// http.ReadResponse, with nothing consumed.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodHead {
		buf, _ := br.Peek(br.Buffered())
		if resp, n := parseBodiless(buf, req); resp != nil {
			_, _ = br.Discard(n)
			return resp, nil
		}
	}
	return http.ReadResponse(br, req)
}

// parseBodiless parses the head at the start of buf if it is one of a
// response that http.ReadResponse would return without a body, and with
// nothing in its header to act on: the status line "HTTP/1.1", a status of
// 200 or more and an optional reason; header lines "Name: value", with no
// Transfer-Encoding, Connection, Trailer or Pragma, each ended by CRLF; and
// a 204 or 304 status or a single "Content-Length: 0". It returns the
// response and the length of its head, or nil for anything else, an
// incomplete head included. Names, values and status share one string.
func parseBodiless(buf []byte, req *http.Request) (*http.Response, int) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, 0
	}
	head := buf[:end+2] // every line with its CRLF
	lines := bytes.Count(head, []byte("\n"))
	// CR and LF only as line ends: no bare CR, no bare LF.
	if bytes.Count(head, []byte("\r")) != lines || bytes.Count(head, []byte("\r\n")) != lines {
		return nil, 0
	}
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(head, []byte(proto)) {
		return nil, 0
	}
	s := string(head)
	eol := indexCR(s)
	status := s[len(proto):eol]
	if len(status) < 3 || !isDigit(status[0]) || !isDigit(status[1]) || !isDigit(status[2]) ||
		len(status) > 3 && status[3] != ' ' || !validValue(status) {
		return nil, 0
	}
	code := int(status[0]-'0')*100 + int(status[1]-'0')*10 + int(status[2]-'0')
	if code < 200 {
		return nil, 0 // informational: its own rules
	}
	header := make(http.Header, lines-1)
	// One value per name in one slice, as net/textproto allocates them.
	strs := make([]string, lines-1)
	zeroLength := false
	for rest := s[eol+2:]; rest != ""; {
		eol := indexCR(rest)
		line := rest[:eol]
		rest = rest[eol+2:]
		name, value, found := cut(line, ':')
		if !found || !httpguts.ValidHeaderFieldName(name) {
			return nil, 0 // no colon, an invalid name or a folded line
		}
		value = trimSpace(value)
		if !validValue(value) {
			return nil, 0
		}
		key := http.CanonicalHeaderKey(name)
		switch key {
		case "Transfer-Encoding", "Connection", "Trailer", "Pragma":
			return nil, 0
		case "Content-Length":
			if zeroLength || value != "0" {
				return nil, 0
			}
			zeroLength = true
		}
		if vv, ok := header[key]; ok {
			header[key] = append(vv, value)
		} else {
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = value
			header[key] = vv
		}
	}
	if code != http.StatusNoContent && code != http.StatusNotModified && !zeroLength {
		return nil, 0 // a body, of a length or until the connection closes
	}
	return &http.Response{
		Status:     status,
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       http.NoBody,
		Request:    req,
	}, end + 4
}

// indexCR returns the index of the first CR in s, which has one.
func indexCR(s string) int {
	i := 0
	for s[i] != '\r' {
		i++
	}
	return i
}

// cut splits s around the first sep, as strings.Cut does.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// trimSpace trims the spaces and tabs around a header value, as
// net/textproto does.
func trimSpace(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// validValue reports whether s holds only bytes net/textproto accepts in a
// header value: visible ASCII, space, tab and obs-text (0x80 and up).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
