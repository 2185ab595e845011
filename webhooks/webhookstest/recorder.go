package webhookstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// DefaultWaitTimeout is how long WaitFor and WaitRequests wait when
// Recorder.Timeout is zero.
const DefaultWaitTimeout = 10 * time.Second

// ErrRecorderClosed reports a wait on a Recorder that was closed before
// enough requests arrived: none can arrive any more.
var ErrRecorderClosed = errors.New("webhookstest: recorder closed")

// Recorder is a webhook receiver for tests: an httptest.Server on the
// loopback interface that records every request it gets, verifies its
// signature, decodes its event, and answers as scripted.
//
// Each request is verified with a webhooks.Verifier holding the recorder's
// secrets and the default tolerance, then decoded as the event type its
// webhooks.HeaderEvent names. It is answered by the next Step of the script
// (see Script), or, once the script is exhausted, by the default step (see
// SetDefault). A step without a Status answers naturally: 204 when the
// request verified, 413 when its body is over
// webhooks.DefaultReceiverMaxBodyBytes, 401 otherwise.
//
// A Recorder is safe for concurrent use. Create one with NewRecorder in a
// test, or NewRecorderServer elsewhere; the zero Recorder is not usable.
type Recorder struct {
	// Timeout bounds WaitFor and WaitRequests. Zero means
	// DefaultWaitTimeout. Set it before waiting, from the goroutine that
	// waits.
	Timeout time.Duration

	srv      *httptest.Server
	verifier *webhooks.Verifier
	closed   chan struct{} // closed when Close starts
	shutdown sync.Once

	mu       sync.Mutex
	requests []RecordedRequest
	script   []Step
	fallback Step
	changed  chan struct{} // closed and replaced whenever requests change
	done     bool          // set once Close has stopped every handler
}

// RecordedRequest is one request a Recorder received, and how it answered.
// Its Header and Body are shared by every copy the Recorder returns: do not
// modify them.
type RecordedRequest struct {
	// Method is the request method.
	Method string
	// URL is the request target: path and query.
	URL string
	// Header holds the request headers.
	Header http.Header
	// Body is the request body, at most
	// webhooks.DefaultReceiverMaxBodyBytes of it.
	Body []byte
	// Received is when the request arrived.
	Received time.Time
	// VerifyError is nil when the signature is valid for the Recorder's
	// secrets; otherwise it wraps the webhooks.Verifier error (such as
	// webhooks.ErrNoMatchingSignature) or webhooks.ErrBodyTooLarge.
	VerifyError error
	// Event is the decoded event of a verified request, nil if the request
	// is not verified or its body does not decode.
	Event webhooks.Event
	// DecodeError says why a verified request has no Event: a missing
	// HeaderEvent, or an error of webhooks.DecodeEvent.
	DecodeError error
	// Status is the status answered; 0 while the answer is pending, and for
	// a request whose connection was dropped, that hung, or whose client
	// left during a Delay.
	Status int
}

// Succeeded reports whether the request was answered with a 2xx status.
func (r RecordedRequest) Succeeded() bool { return r.Status >= 200 && r.Status < 300 }

// NewRecorder starts a Recorder for the test t and closes it when the test
// and its subtests end (t.Cleanup). Requests are verified with secrets, or
// with Secret when none is given, so that it receives what a webhook made by
// NewWebhook sends. It calls t.Fatal if a secret is invalid.
func NewRecorder(t testing.TB, secrets ...string) *Recorder {
	t.Helper()
	r, err := NewRecorderServer(secrets...)
	if err != nil {
		t.Fatalf("webhookstest.NewRecorder: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// NewRecorderServer starts a Recorder outside of a test, as NewRecorder does;
// the caller must Close it. The error wraps webhooks.ErrInvalidSecret.
func NewRecorderServer(secrets ...string) (*Recorder, error) {
	if len(secrets) == 0 {
		secrets = []string{Secret}
	}
	v, err := webhooks.NewVerifier(secrets, webhooks.VerifierConfig{})
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		verifier: v,
		closed:   make(chan struct{}),
		changed:  make(chan struct{}),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r, nil
}

// URL returns the base URL of the Recorder, such as "http://127.0.0.1:41234".
// Every path under it is recorded alike.
func (r *Recorder) URL() string { return r.srv.URL }

// Close releases requests that hang or wait for a Delay (their connections
// are dropped), shuts the server down, and waits for its handlers to return.
// Waits in progress fail with ErrRecorderClosed unless enough requests
// arrived. Close may be called more than once.
func (r *Recorder) Close() {
	r.shutdown.Do(func() {
		close(r.closed)
		r.srv.Close()
		r.mu.Lock()
		r.done = true
		r.notifyLocked()
		r.mu.Unlock()
	})
}

// Requests returns every request received so far, in arrival order.
func (r *Recorder) Requests() []RecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedRequest(nil), r.requests...)
}

// Events returns the events of the verified requests answered with a 2xx
// status, in arrival order.
func (r *Recorder) Events() []webhooks.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var events []webhooks.Event
	for _, req := range r.requests {
		if req.Succeeded() && req.VerifyError == nil && req.Event != nil {
			events = append(events, req.Event)
		}
	}
	return events
}

// WaitFor waits until at least n requests were answered with a 2xx status,
// and returns those requests, in arrival order. It fails the test with a
// summary of every request received when Timeout passes, the test's context
// ends, or the Recorder closes first. It must be called from the goroutine
// running the test, like t.Fatal.
func (r *Recorder) WaitFor(t testing.TB, n int) []RecordedRequest {
	t.Helper()
	return r.waitTB(t, n, RecordedRequest.Succeeded, "answered 2xx")
}

// WaitRequests waits until at least n requests arrived, whatever their
// answer (pending included), and returns every request received, in arrival
// order. It fails the test as WaitFor does.
func (r *Recorder) WaitRequests(t testing.TB, n int) []RecordedRequest {
	t.Helper()
	return r.waitTB(t, n, func(RecordedRequest) bool { return true }, "of any kind")
}

// WaitForContext is WaitFor for code without a testing.TB, bounded by ctx
// rather than Timeout. The error wraps ctx's error or ErrRecorderClosed and
// summarises the requests received.
func (r *Recorder) WaitForContext(ctx context.Context, n int) ([]RecordedRequest, error) {
	return r.wait(ctx, n, RecordedRequest.Succeeded, "answered 2xx")
}

// Script queues steps answering the next requests, one step per request in
// arrival order, after any steps queued before. Requests arriving once the
// queue is empty get the default step (see SetDefault). It panics if a
// step's Status is neither zero nor a final status (200 to 999).
func (r *Recorder) Script(steps ...Step) {
	for _, s := range steps {
		s.check()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, steps...)
}

// SetDefault sets the step answering requests when the script is empty. The
// initial default is the zero Step: the natural answer, at once. It panics
// as Script does.
func (r *Recorder) SetDefault(s Step) {
	s.check()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fallback = s
}

// Step is how a Recorder answers one request. The zero Step answers
// naturally (see Recorder) at once. The fields combine: after Delay, a
// request hangs if Hang is set, is dropped if Drop is set, and otherwise is
// answered Status with the Retry-After and Location headers set when
// RetryAfter and RedirectTo are.
type Step struct {
	// Status is the status to answer; zero means the natural answer, or 307
	// with RedirectTo.
	Status int
	// Delay waits before answering. A request whose client leaves during
	// the delay is not answered; one still waiting when the Recorder closes
	// is dropped.
	Delay time.Duration
	// RetryAfter, if not empty, is sent as the Retry-After header.
	RetryAfter string
	// RedirectTo, if not empty, is sent as the Location header.
	RedirectTo string
	// Drop closes the connection without answering.
	Drop bool
	// Hang holds the request until its client leaves or the Recorder closes,
	// then drops the connection.
	Hang bool
}

// Status returns a Step answering code at once.
func Status(code int) Step { return Step{Status: code} }

// Delay returns a Step answering naturally after d.
func Delay(d time.Duration) Step { return Step{Delay: d} }

// RetryAfter returns a Step answering code with the Retry-After header set to
// value, in seconds ("120") or as an HTTP date.
func RetryAfter(code int, value string) Step { return Step{Status: code, RetryAfter: value} }

// DropConnection returns a Step closing the connection without answering.
func DropConnection() Step { return Step{Drop: true} }

// Redirect returns a Step answering code with the Location header set to url.
func Redirect(code int, url string) Step { return Step{Status: code, RedirectTo: url} }

// Hang returns a Step that never answers: the request is held until its
// client gives up or the Recorder closes.
func Hang() Step { return Step{Hang: true} }

// check panics on a Status net/http cannot send as a final answer.
func (s Step) check() {
	if s.Status != 0 && (s.Status < 200 || s.Status > 999) {
		panic(fmt.Sprintf("webhookstest: invalid Step status %d", s.Status))
	}
}

// status is the code s answers a request with.
func (s Step) status(natural int) int {
	switch {
	case s.Status != 0:
		return s.Status
	case s.RedirectTo != "":
		return http.StatusTemporaryRedirect
	}
	return natural
}

// serve records req and answers it by the next step.
func (r *Recorder) serve(w http.ResponseWriter, req *http.Request) {
	rec := RecordedRequest{
		Method:   req.Method,
		URL:      req.URL.RequestURI(),
		Header:   req.Header.Clone(),
		Received: time.Now(),
	}
	natural := http.StatusNoContent
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, webhooks.DefaultReceiverMaxBodyBytes))
	rec.Body = body
	switch _, tooLarge := errors.AsType[*http.MaxBytesError](err); {
	case tooLarge:
		rec.VerifyError = fmt.Errorf("%w: over %d bytes", webhooks.ErrBodyTooLarge, webhooks.DefaultReceiverMaxBodyBytes)
		natural = http.StatusRequestEntityTooLarge
	case err != nil:
		rec.VerifyError = fmt.Errorf("webhookstest: read request body: %w", err)
		natural = http.StatusBadRequest
	default:
		rec.VerifyError = r.verifier.Verify(req.Header, body)
		if rec.VerifyError != nil {
			natural = http.StatusUnauthorized
		} else {
			rec.Event, rec.DecodeError = decode(req.Header, body)
		}
	}

	r.mu.Lock()
	i := len(r.requests)
	r.requests = append(r.requests, rec)
	step := r.fallback
	if len(r.script) > 0 {
		step = r.script[0]
		r.script = r.script[1:]
	}
	r.notifyLocked()
	r.mu.Unlock()

	r.answer(w, req, i, step, natural)
}

// answer carries out step for the request recorded at index i.
func (r *Recorder) answer(w http.ResponseWriter, req *http.Request, i int, step Step, natural int) {
	if step.Delay > 0 {
		timer := time.NewTimer(step.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-req.Context().Done():
			return
		case <-r.closed:
			dropConnection(w)
			return
		}
	}
	switch {
	case step.Hang:
		select {
		case <-req.Context().Done():
		case <-r.closed:
		}
		dropConnection(w)
		return
	case step.Drop:
		dropConnection(w)
		return
	}
	code := step.status(natural)
	if step.RetryAfter != "" {
		w.Header().Set("Retry-After", step.RetryAfter)
	}
	if step.RedirectTo != "" {
		w.Header().Set("Location", step.RedirectTo)
	}
	// Recorded before the answer is written, so that a client holding the
	// response sees its status in Requests.
	r.mu.Lock()
	r.requests[i].Status = code
	r.notifyLocked()
	r.mu.Unlock()
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	http.Error(w, http.StatusText(code), code)
}

// waitTB waits as wait does, within r.Timeout and t's context, and fails t
// on error.
func (r *Recorder) waitTB(t testing.TB, n int, keep func(RecordedRequest) bool, what string) []RecordedRequest {
	t.Helper()
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	got, err := r.wait(ctx, n, keep, what)
	if err != nil {
		t.Fatalf("webhookstest: after %v: %v", timeout, err)
	}
	return got
}

// wait returns the requests keep selects once there are at least n of them.
func (r *Recorder) wait(ctx context.Context, n int, keep func(RecordedRequest) bool, what string) ([]RecordedRequest, error) {
	for {
		r.mu.Lock()
		var kept []RecordedRequest
		for _, req := range r.requests {
			if keep(req) {
				kept = append(kept, req)
			}
		}
		changed, done := r.changed, r.done
		r.mu.Unlock()
		if len(kept) >= n {
			return kept, nil
		}

		var cause error
		if done {
			cause = ErrRecorderClosed
		} else {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				cause = ctx.Err()
			}
		}
		r.mu.Lock()
		summary := r.summaryLocked()
		all := len(r.requests)
		r.mu.Unlock()
		return nil, fmt.Errorf("waiting for %d requests %s, got %d (%d received): %w%s", n, what, len(kept), all, cause, summary)
	}
}

// maxSummaryLines bounds the requests listed in a wait's error.
const maxSummaryLines = 20

// summaryLocked lists the requests received, one per line. The caller holds
// r.mu.
func (r *Recorder) summaryLocked() string {
	var b strings.Builder
	for i, req := range r.requests {
		if i == maxSummaryLines {
			fmt.Fprintf(&b, "\n\t... and %d more", len(r.requests)-i)
			break
		}
		fmt.Fprintf(&b, "\n\t#%d %s %s %s=%q %s=%q status=%d", i+1, req.Method, req.URL,
			webhooks.HeaderID, req.Header.Get(webhooks.HeaderID), webhooks.HeaderEvent, req.Header.Get(webhooks.HeaderEvent), req.Status)
		switch {
		case req.VerifyError != nil:
			fmt.Fprintf(&b, " unverified: %v", req.VerifyError)
		case req.DecodeError != nil:
			fmt.Fprintf(&b, " undecoded: %v", req.DecodeError)
		}
	}
	return b.String()
}

// notifyLocked wakes the waiters. The caller holds r.mu.
func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// decode returns the event of a verified request, as its HeaderEvent names.
func decode(h http.Header, body []byte) (webhooks.Event, error) {
	name := h.Get(webhooks.HeaderEvent)
	if name == "" {
		return nil, fmt.Errorf("webhookstest: no %s header", webhooks.HeaderEvent)
	}
	return webhooks.DecodeEvent(webhooks.EventType(name), body)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// A connection that cannot be hijacked (HTTP/2) is reset by the
		// server when the handler aborts.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
