// Package h1 is the HTTP/1.1 client transport of webhook deliveries.
//
// net/http's Transport serves each connection with two goroutines of its
// own: the caller hands every request to the connection's writer goroutine
// and waits for the response from its reader goroutine. That design lets it
// notice idle connections the server closed, and is needed for HTTP/2, but
// costs every request several goroutine hand-offs. Webhook deliveries are
// independent POSTs of a known, in-memory length, one at a time on each
// connection, so Transport writes the request and reads the response on the
// calling goroutine instead, over a pool of keep-alive connections. The wire
// format is net/http's own: requests of a known length without trailers
// (every delivery's) are written byte for byte as http.Request.Write writes
// them, by code of Transport's that spares Request.Write's generality and
// allocations; other requests by http.Request.Write itself. A caller that
// sends the same few fields on every request may keep them out of the
// request's Header (Fields, through the request's context): they are
// written among the Header's fields as if they were in it. Responses are
// read as http.ReadResponse reads them: the bodiless answers receivers give
// most (a 204, say) by code of Transport's, whose result a test compares
// with http.ReadResponse's on thousands of random inputs, others by
// http.ReadResponse itself.
//
// What net/http's reader goroutine learns in the background, Transport
// learns when it takes an idle connection from the pool: it looks at the
// socket without reading (MSG_PEEK, on Unix systems), one system call, and
// a connection the server closed, or sent something nobody asked for (a 408
// before closing, a second response to one request, a stray byte after a
// body), is closed instead of used. Bytes already read from the socket, into
// the connection's buffer or into a TLS record's decrypted rest, are looked
// at too. Config.CheckIdleAfter can spare busy connections the look, at the
// price of reading an unasked response that arrived meanwhile as the next
// request's. An unasked response that arrives after the look is read as the
// next request's, as it would be by net/http if it arrived just after that
// request was written. A request whose writing fails on a reused connection
// (the server closed it in between) is sent once more on a new connection,
// provided it can produce its body again (GetBody); a request written whole
// is never sent twice by Transport.
//
// Writing before reading has one cost: a server that answers early (413,
// say) and then stops reading is only heard once the whole request is in
// the connection's buffers. A request that cannot be written whole because
// the server closed the connection still gets the answer the server sent
// before closing, if it arrives. Webhook bodies are at most a megabyte,
// which the buffers of a connection usually hold.
package h1

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Defaults of a Config's zero fields.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultMaxIdleConnsPerHost = 256
	DefaultIdleConnTimeout     = 90 * time.Second
)

// Config configures a Transport. The zero value is usable.
type Config struct {
	// DialContext opens connections; nil means a net.Dialer's.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// TLSConfig is the base configuration of https connections; each
	// connection uses a copy with ServerName set to the URL's host unless it
	// is set here. nil means the defaults (the system's roots). Its
	// NextProtos are ignored: Transport speaks HTTP/1.1 only.
	TLSConfig *tls.Config
	// Timeout bounds each round trip: connecting, the TLS handshake,
	// writing the request, and reading the response until its body is
	// closed. Zero means DefaultTimeout. The request's context may end it
	// sooner.
	Timeout time.Duration
	// MaxIdleConnsPerHost is the number of idle connections kept per scheme
	// and host; zero means DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes connections idle this long; zero means
	// DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// CheckIdleAfter, when positive, is how long a connection must have
	// been idle for its socket to be looked at before it is used again;
	// zero or negative means every time. Skipping the look (a system call)
	// on connections used again at once reads whatever a server sent
	// meanwhile, a second response or a stray byte, as the next request's
	// answer, and sends requests into connections the server has closed.
	CheckIdleAfter time.Duration
}

// Transport is an http.RoundTripper for HTTP/1.1 over plain TCP and TLS that
// runs each round trip on the caller's goroutine. It is safe for concurrent
// use. It never uses a proxy.
type Transport struct {
	cfg  Config
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu      sync.Mutex
	idle    map[poolKey][]*conn // most recently used last
	sweeper *time.Timer         // armed while connections are idle
}

// poolKey identifies the connections a request may use. It holds the URL's
// own strings, so looking a request up allocates nothing.
type poolKey struct {
	https bool
	host  string // URL.Host: host, or host:port
}

// New returns a Transport with cfg's zero fields set to their defaults.
func New(cfg Config) *Transport {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	t := &Transport{cfg: cfg, dial: cfg.DialContext, idle: make(map[poolKey][]*conn)}
	if t.dial == nil {
		t.dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	return t
}

// TimeoutError reports a round trip that ran out of its Timeout. It matches
// context.DeadlineExceeded with errors.Is, as net/http's deadline errors do.
type TimeoutError struct {
	After time.Duration // the Transport's Timeout
	Err   error         // the connection's or the dialer's error
}

// Error implements error. It leaves out the connection's error, whose
// message names local addresses.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("request timed out after %v", e.After)
}

// Unwrap returns the connection's error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Is reports whether target is context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout reports true, as net.Error asks.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports true, as net.Error asks.
func (e *TimeoutError) Temporary() bool { return true }

// ErrUnsupported reports a request Transport cannot send: a scheme other
// than http or https, a URL without a host, or a protocol upgrade.
var ErrUnsupported = errors.New("unsupported request")

// RoundTrip implements http.RoundTripper. It sends r on an idle connection
// to r's host, or a new one, and returns the response once its headers have
// arrived. The connection goes back to the pool when the response body has
// been read to its end or, if it is empty, at once; closing a body before
// its end closes the connection.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	if err := cmp.Or(t.check(r), ctx.Err()); err != nil {
		closeBody(r)
		return nil, err
	}
	deadline := time.Now().Add(t.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = earliest(deadline, d)
	}
	key := poolKey{https: r.URL.Scheme == "https", host: r.URL.Host}
	if c := t.get(key); c != nil {
		resp, err := t.roundTrip(c, r, deadline)
		bodiless := r.Body == nil || r.Body == http.NoBody
		if err == nil || !c.replayable() || (!bodiless && r.GetBody == nil) {
			return resp, err
		}
		// The server closed the connection just as it was taken from the
		// pool; a new one gets the request.
		if !bodiless {
			body, gerr := r.GetBody()
			if gerr != nil {
				return nil, errors.Join(err, gerr)
			}
			r = r.Clone(ctx)
			r.Body = body
		}
	}
	c, err := t.connect(ctx, key, deadline)
	if err != nil {
		closeBody(r)
		return nil, err
	}
	return t.roundTrip(c, r, deadline)
}

// closeBody closes the body of a request that will not be written, as a
// RoundTripper must.
func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// check refuses what Transport does not send, with net/http's wording for
// invalid headers (retry policies recognise it).
func (t *Transport) check(r *http.Request) error {
	switch {
	case r.URL == nil:
		return fmt.Errorf("h1: %w: nil URL", ErrUnsupported)
	case r.URL.Scheme != "http" && r.URL.Scheme != "https":
		return fmt.Errorf("h1: %w: unsupported protocol scheme %q", ErrUnsupported, r.URL.Scheme)
	case r.URL.Host == "":
		return fmt.Errorf("h1: %w: no host in request URL", ErrUnsupported)
	}
	if r.Method != "" && !httpguts.ValidHeaderFieldName(r.Method) {
		return fmt.Errorf("net/http: invalid method %q", r.Method)
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if ascii, err := httpguts.PunycodeHostPort(host); err != nil || !httpguts.ValidHostHeader(ascii) {
		return fmt.Errorf("h1: invalid Host header %q", host)
	}
	for k, vs := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				// Don't include the value in the error: it may be sensitive.
				return fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") {
		return fmt.Errorf("h1: %w: protocol upgrade", ErrUnsupported)
	}
	return nil
}

// roundTrip sends r on c and reads the response. It owns c: on error c is
// closed; on success c belongs to the response's body.
func (t *Transport) roundTrip(c *conn, r *http.Request, deadline time.Time) (*http.Response, error) {
	ctx := r.Context()
	if err := c.arm(ctx, deadline); err != nil {
		closeBody(r)
		return nil, t.fail(c, ctx, err, false)
	}
	c.io.werr = nil
	werr := writeRequest(c.bw, r)
	if werr == nil {
		werr = c.bw.Flush()
	}
	if werr != nil {
		if c.io.werr == nil || ctx.Err() != nil || errors.Is(c.io.werr, os.ErrDeadlineExceeded) {
			// Not the connection's failure (the body's, say), or out of time.
			return nil, t.fail(c, ctx, cmp.Or(c.io.werr, werr), false)
		}
		// The connection's own error: net/http hides it when the body was
		// being copied.
		werr = c.io.werr
		c.writeFailed = true
		// The server may have answered before it stopped reading (413,
		// say); its answer says more than the broken pipe. Wait for it
		// briefly.
		_ = c.SetReadDeadline(earliest(deadline, time.Now().Add(writeErrorWait)))
	}
	// Informational responses and the final one's head share one budget
	// of MaxResponseHeaderBytes, as in net/http: a server may send any
	// number of them (102 Processing as a heartbeat, say), not without end.
	c.io.limit = MaxResponseHeaderBytes
	for {
		// The first byte tells whether the server answered at all.
		if _, err := c.br.Peek(1); err != nil { // fail closes c, limit and all
			if werr != nil {
				return nil, t.fail(c, ctx, werr, false)
			}
			return nil, t.fail(c, ctx, err, true)
		}
		c.responded = true
		resp, err := readResponse(c.br, r)
		if err != nil {
			return nil, t.fail(c, ctx, err, true)
		}
		// 1xx responses (100 Continue, 103 Early Hints) precede the final
		// one; 101 Switching Protocols was refused in check.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		c.io.limit = -1
		if c.tls != nil {
			resp.TLS = c.tls
		}
		keep := werr == nil && !resp.Close && !r.Close && resp.StatusCode != http.StatusSwitchingProtocols
		if werr != nil {
			// The rest of the body, if any, arrives until the deadline.
			_ = c.SetReadDeadline(deadline)
		}
		if resp.Body == http.NoBody || resp.Body == nil {
			t.release(c, keep)
			return resp, nil
		}
		resp.Body = &body{rc: resp.Body, t: t, c: c, ctx: ctx, keep: keep}
		return resp, nil
	}
}

// MaxResponseHeaderBytes bounds what is read of a response before its body:
// status line and headers (of each informational response too).
const MaxResponseHeaderBytes = 1 << 20

// errHeadersTooLarge reports a response whose headers exceed
// MaxResponseHeaderBytes.
var errHeadersTooLarge = errors.New("h1: response headers exceed 1 MB")

// Limits of a round trip's response.
const (
	// writeErrorWait is how long a response is awaited after the request
	// could not be written whole.
	writeErrorWait = 500 * time.Millisecond
)

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// fail closes c after an error of its round trip and returns the error to
// report: the context's if it ended, a *TimeoutError if the deadline passed.
// reading tells whether the request had been written.
func (t *Transport) fail(c *conn, ctx context.Context, err error, reading bool) error {
	c.close()
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded // ctx's, which has not yet noticed
		}
		return &TimeoutError{After: t.cfg.Timeout, Err: err}
	}
	if reading && errors.Is(err, io.EOF) {
		return fmt.Errorf("h1: server closed the connection before responding: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// connect dials a new connection for key, with TLS for https.
func (t *Transport) connect(ctx context.Context, key poolKey, deadline time.Time) (*conn, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	addr, err := httpguts.PunycodeHostPort(key.host)
	if err != nil {
		return nil, fmt.Errorf("h1: invalid host %q: %w", key.host, err)
	}
	// No port, or an empty one ("host:"), is the scheme's.
	if host, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		if err != nil {
			host = strings.Trim(addr, "[]")
		}
		port = "80"
		if key.https {
			port = "443"
		}
		addr = net.JoinHostPort(host, port)
	}
	// An error after the round trip's own deadline, not the caller's
	// context, is a timeout.
	connectErr := func(err error) error {
		if ctx.Err() == nil && dctx.Err() == context.DeadlineExceeded {
			return &TimeoutError{After: t.cfg.Timeout, Err: err}
		}
		return err
	}
	raw, err := t.dial(dctx, "tcp", addr)
	if err != nil {
		return nil, connectErr(err)
	}
	c := &conn{Conn: raw, key: key}
	c.interrupt = c.interruptNow
	c.initAlive(raw)
	if key.https {
		cfg := &tls.Config{}
		if t.cfg.TLSConfig != nil {
			cfg = t.cfg.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host // in ASCII, as SNI wants it
		}
		cfg.NextProtos = nil // HTTP/1.1, the server's default
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = raw.Close()
			return nil, connectErr(err)
		}
		state := tc.ConnectionState()
		c.Conn, c.tls = tc, &state
	}
	c.io = connIO{c: c.Conn, limit: -1}
	c.br = bufio.NewReaderSize(&c.io, 4<<10)
	c.bw = bufio.NewWriterSize(&c.io, 4<<10)
	return c, nil
}

// get takes the most recently used idle connection to key that is still
// usable, or returns nil.
func (t *Transport) get(key poolKey) *conn {
	for {
		c := t.pop(key)
		if c == nil {
			return nil
		}
		idle := time.Since(c.idleSince)
		if c.br.Buffered() == 0 && idle <= t.cfg.IdleConnTimeout && (idle < t.cfg.CheckIdleAfter || c.alive()) && !c.tlsPending() {
			c.reused = true
			return c
		}
		// Closed by the server, too old, or holding bytes nobody asked
		// for: not to be trusted.
		c.close()
	}
}

// pop removes the most recently used idle connection to key from the pool.
func (t *Transport) pop(key poolKey) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[key]
	n := len(list)
	if n == 0 {
		if list != nil {
			delete(t.idle, key)
		}
		return nil
	}
	c := list[n-1]
	list[n-1] = nil
	t.idle[key] = list[:n-1]
	return c
}

// release ends c's round trip: back to the pool if keep, closed otherwise.
func (t *Transport) release(c *conn, keep bool) {
	if !c.unhook() {
		keep = false
	}
	if keep {
		keep = c.SetDeadline(time.Time{}) == nil
	}
	if keep {
		c.idleSince = time.Now()
		t.mu.Lock()
		if list := t.idle[c.key]; len(list) < t.cfg.MaxIdleConnsPerHost {
			t.idle[c.key] = append(list, c)
			if t.sweeper == nil {
				t.sweeper = time.AfterFunc(t.cfg.IdleConnTimeout, t.sweep)
			}
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
	}
	c.close()
}

// sweep closes the connections idle longer than IdleConnTimeout, and runs
// again later while any remain.
func (t *Transport) sweep() {
	var stale []*conn
	remaining := 0
	t.mu.Lock()
	cutoff := time.Now().Add(-t.cfg.IdleConnTimeout)
	for key, list := range t.idle {
		// Oldest first: the stale ones are a prefix.
		n := 0
		for n < len(list) && !list[n].idleSince.After(cutoff) {
			n++
		}
		remaining += len(list) - n
		if n == 0 {
			continue
		}
		stale = append(stale, list[:n]...)
		if n == len(list) {
			delete(t.idle, key)
			continue
		}
		t.idle[key] = append(list[:0:0], list[n:]...)
	}
	switch {
	case remaining == 0:
		t.sweeper = nil
	case t.sweeper == nil: // CloseIdleConnections ran meanwhile
		t.sweeper = time.AfterFunc(t.cfg.IdleConnTimeout/2, t.sweep)
	default:
		t.sweeper.Reset(t.cfg.IdleConnTimeout / 2)
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

// CloseIdleConnections closes every idle connection. Round trips in flight
// are not affected; their connections are kept if they end well.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[poolKey][]*conn)
	if t.sweeper != nil {
		t.sweeper.Stop()
		t.sweeper = nil
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.close()
		}
	}
}

// oneWrite hides a *bufio.Writer from http.Request.Write, which flushes the
// headers on their own when it cannot tell that the body is in memory
// (otelhttp wraps bodies, for one): the request leaves in one write, when
// roundTrip flushes. It is still an io.ByteWriter, so Request.Write adds no
// buffer of its own.
type oneWrite struct{ *bufio.Writer }

// conn is one pooled connection.
type conn struct {
	net.Conn
	io        connIO
	key       poolKey
	br        *bufio.Reader
	bw        *bufio.Writer
	tls       *tls.ConnectionState
	idleSince time.Time

	reused      bool // taken from the pool for this round trip
	writeFailed bool // the connection refused (part of) the request
	responded   bool // a response (or part of one) arrived in this round trip

	// The round trip's context hook, and interruptNow as a func made once.
	// The hook only ever interrupts the round trip it was set for: if it
	// ran, the connection is closed rather than pooled.
	stop      func() bool // removes the hook; nil if none
	interrupt func()

	// What alive needs, made once: see alive_unix.go.
	rawConn syscall.RawConn
	peek    func(fd uintptr) bool
	peekBuf [1]byte
	peekOK  bool
}

// arm bounds the round trip by deadline and, if ctx can end, ends it when
// ctx does, through a hook on ctx that the round trip's end removes (a hook
// left in place would keep ctx, and all it holds, alive with the pooled
// connection). It returns ctx's error if ctx has already ended.
func (c *conn) arm(ctx context.Context, deadline time.Time) error {
	c.writeFailed, c.responded = false, false
	if ctx.Done() != nil {
		c.stop = context.AfterFunc(ctx, c.interrupt)
	}
	_ = c.SetDeadline(deadline)
	// A hook that ran before SetDeadline was undone by it; ctx's error is
	// set before hooks run, so checking it now closes that gap.
	return ctx.Err()
}

// tlsPending reports whether a TLS connection holds bytes nobody asked
// for in tls.Conn's own buffer: the rest of the record the last response
// ended in, which neither the bufio.Reader nor a look at the socket sees. A
// read whose deadline has passed returns such bytes, or fails at once
// without reading the socket; a timeout leaves tls.Conn usable.
func (c *conn) tlsPending() bool {
	if c.tls == nil {
		return false
	}
	_ = c.SetReadDeadline(time.Unix(1, 0))
	_, err := c.br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// interruptNow makes the connection's blocked reads and writes return.
func (c *conn) interruptNow() { _ = c.SetDeadline(time.Unix(1, 0)) }

// unhook removes the context hook, if any. It reports false if the hook has
// run or is running: the context ended the round trip, and the connection
// must not be used again.
func (c *conn) unhook() bool {
	if c.stop == nil {
		return true
	}
	stopped := c.stop()
	c.stop = nil
	return stopped
}

// close removes the context hook and closes the connection.
func (c *conn) close() {
	c.unhook()
	_ = c.Close()
}

// replayable reports whether the failed round trip on c may be sent again
// on a new connection: c was reused, writing the request to it failed, and
// no response arrived. The connection passed alive just before, so the
// server closed it in between and cannot have taken the whole request.
func (c *conn) replayable() bool {
	return c.reused && c.writeFailed && !c.responded
}

// connIO is what a connection's buffers read from and write to: it bounds
// reads while a response's headers are parsed, and keeps the first write
// error, which net/http's Request.Write does not always pass on.
type connIO struct {
	c     net.Conn
	limit int64 // bytes reads may still return; negative: no limit
	werr  error // the round trip's first write error
}

// Read implements io.Reader.
func (x *connIO) Read(p []byte) (int, error) {
	if x.limit == 0 {
		return 0, errHeadersTooLarge
	}
	if x.limit > 0 && int64(len(p)) > x.limit {
		p = p[:x.limit]
	}
	n, err := x.c.Read(p)
	if x.limit > 0 {
		x.limit -= int64(n)
	}
	return n, err
}

// Write implements io.Writer.
func (x *connIO) Write(p []byte) (int, error) {
	n, err := x.c.Write(p)
	if err != nil && x.werr == nil {
		x.werr = err
	}
	return n, err
}

// body is a response body whose end gives its connection back.
type body struct {
	rc   io.ReadCloser
	t    *Transport
	ctx  context.Context
	keep bool

	mu     sync.Mutex // not held while reading, so Close can interrupt a Read
	c      *conn      // nil once released or closed
	closed bool
	err    error // the first error, returned again by later reads
}

// errBodyClosed is what reading a closed body returns, as in net/http.
var errBodyClosed = errors.New("http: read on closed response body")

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return 0, errBodyClosed
	case b.err != nil:
		b.mu.Unlock()
		return 0, b.err
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return n, errBodyClosed
	}
	c := b.c
	b.c = nil
	if err == io.EOF {
		b.err = io.EOF
		b.t.release(c, b.keep)
		return n, io.EOF
	}
	b.err = b.t.fail(c, b.ctx, err, true)
	return n, b.err
}

// Close implements io.Closer; before the end of the body it closes the
// connection, which also ends a Read blocked in another goroutine.
func (b *body) Close() error {
	b.mu.Lock()
	c := b.c
	b.c, b.closed = nil, true
	b.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}
