package webhooks

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/http/httpguts"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/internal/h1"
	"github.com/hookbus/hookbus/internal/ssrf"
)

// Defaults of the spec's limits and of the retry schedule.
const (
	// DefaultTimeout bounds one attempt: connecting, sending and reading the response.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxRetries is the number of retries after the first attempt.
	DefaultMaxRetries = 3
	// DefaultRetryWaitMin is the first backoff, doubled on each retry.
	DefaultRetryWaitMin = time.Second
	// DefaultRetryWaitMax caps every backoff, Retry-After included.
	DefaultRetryWaitMax = 30 * time.Second
	// DefaultMaxPayloadBytes is the largest body sent: the spec's 1 MB, read as
	// 1,000,000 bytes so that receivers enforcing either reading accept it.
	DefaultMaxPayloadBytes = 1_000_000
	// DefaultMaxIdleConnsPerHost keeps connections warm for busy receivers.
	DefaultMaxIdleConnsPerHost = 256
)

// Errors of a delivery. A failed Send returns a *DeliveryError whose chain
// holds one of these, a context error, or the transport's error.
var (
	// ErrPayloadTooLarge: the body exceeds the configured maximum; nothing was sent.
	ErrPayloadTooLarge = errors.New("webhooks: payload too large")
	// ErrInvalidEventID: the event id is one bus.CheckEventID refuses (empty,
	// not UTF-8, with a control character or spaces around it), which could
	// not be sent as the webhook-id its signature covers; nothing was sent.
	ErrInvalidEventID = errors.New("webhooks: invalid event id")
	// ErrGone: the receiver answered 410 Gone; the webhook should be disabled.
	ErrGone = errors.New("webhooks: receiver answered 410 Gone")
	// ErrRedirect: the receiver answered 3xx; redirects are never followed.
	ErrRedirect = errors.New("webhooks: receiver answered with a redirect")
	// ErrUnexpectedStatus: the receiver answered outside 2xx (other than 3xx and 410).
	ErrUnexpectedStatus = errors.New("webhooks: receiver answered a non-2xx status")
	// ErrAddressBlocked: the URL resolved to an address the SSRF policy refuses.
	// errors.As with *AddressBlockedError gives the address and the rule.
	ErrAddressBlocked = ssrf.ErrBlocked
)

// AddressBlockedError names the refused address and the rule that refused it.
type AddressBlockedError = ssrf.BlockedError

// DeliveryError reports a failed Send: the last status code (0 when no
// response arrived), the number of attempts made, and the cause.
type DeliveryError struct {
	StatusCode int
	Attempts   int
	Err        error
}

// Error implements error.
func (e *DeliveryError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("webhooks: delivery failed after %d attempt(s), last status %d: %v", e.Attempts, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("webhooks: delivery failed after %d attempt(s): %v", e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// SenderConfig configures a Sender. The zero value means the spec's limits:
// 10 s per attempt, 3 retries, 1 MB bodies, https only, public addresses only.
// Requests go straight to the receiver, never through a proxy
// (HTTP_PROXY and HTTPS_PROXY are not read): the address check must see the
// receiver's own address.
type SenderConfig struct {
	// Timeout bounds each attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt; zero means
	// DefaultMaxRetries, a negative value means none.
	MaxRetries int
	// RetryWaitMin is the first backoff, doubled on each retry, and
	// RetryWaitMax caps every wait, Retry-After included; zero means
	// DefaultRetryWaitMin and DefaultRetryWaitMax. DefaultBackoff waits
	// between half and all of the doubled value (equal jitter), so the
	// first retry comes 0.5 to 1 RetryWaitMin after the first attempt.
	RetryWaitMin, RetryWaitMax time.Duration
	// RetryPolicy decides whether to retry; nil means DefaultRetryPolicy.
	// A policy of the caller's sees each response's request, whose header
	// map then holds every field sent, built for each request; the default
	// ones spare that map (README, Performance).
	RetryPolicy RetryPolicy
	// Backoff computes waits; nil means DefaultBackoff. As with RetryPolicy,
	// one of the caller's gets requests with header maps of their own.
	Backoff Backoff
	// MaxPayloadBytes is the largest body sent; zero means DefaultMaxPayloadBytes.
	MaxPayloadBytes int
	// AllowHTTP permits plain http URLs; by default only https is sent.
	AllowHTTP bool
	// AllowAddresses lists address ranges that may be dialed although the SSRF
	// rules refuse them (loopback for tests, an internal network).
	AllowAddresses []netip.Prefix
	// AllowHosts lists host names whose addresses are not checked.
	AllowHosts []string
	// MaxIdleConnsPerHost keeps idle connections per receiver; zero means
	// DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// HTTP2 sends through net/http's Transport, which negotiates HTTP/2 with
	// https receivers that offer it. By default requests go over HTTP/1.1
	// keep-alive connections that the sending goroutine writes and reads
	// itself, with none of the two goroutines per connection net/http's
	// Transport runs; to a loopback receiver that sends 1.2 to 1.5 times
	// as many requests per second (README, Performance). The requests
	// differ only in net/http's Accept-Encoding: gzip.
	HTTP2 bool
	// TracerProvider gives the tracer of the per-attempt client spans; nil
	// means the global provider.
	TracerProvider trace.TracerProvider
	// MeterProvider gives the meter of the HTTP client metrics of the
	// semantic conventions, http.client.request.duration and
	// http.client.request.body.size; nil means the global provider.
	MeterProvider metric.MeterProvider
	// Propagator injects the attempt's trace context; nil means W3C trace
	// context and baggage.
	Propagator propagation.TextMapPropagator
	// Now is the clock of timestamps and durations; nil means time.Now.
	Now func() time.Time
}

// Sender signs and POSTs webhook payloads with retries. It is safe for
// concurrent use; create one and share it. Close releases idle connections.
type Sender struct {
	cfg    SenderConfig
	policy ssrf.Policy
	// fieldsApart: requests may carry their fields apart from their
	// header (h1, and neither RetryPolicy nor Backoff is the caller's).
	fieldsApart bool
	transport   idleCloser
	client      *retryablehttp.Client // with retries
	once        *retryablehttp.Client // a single attempt, same connections
}

// idleCloser is a transport whose idle connections Sender.Close closes.
type idleCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

// SendRequest is one payload for one target.
type SendRequest struct {
	// Target is the prepared webhook; required.
	Target *Target
	// EventID is sent as webhook-id; it must stay the same across retries and
	// redeliveries so that receivers can dedupe. Required, and it must pass
	// bus.CheckEventID (ErrInvalidEventID).
	EventID string
	// EventType is sent as X-Webhook-Event; empty means the target webhook's
	// type.
	EventType EventType
	// DeliveryID identifies this delivery in the attempts reported to OnAttempt.
	DeliveryID string
	// Payload is the exact body; Send neither copies nor modifies it.
	Payload []byte
	// NoRetry makes a single attempt, as a "send test event" button wants.
	NoRetry bool
	// OnAttempt, if set, is called after every attempt, in order, from the
	// calling goroutine.
	OnAttempt func(Attempt)
	// OnRequest, if set, is called with each request just before it is sent,
	// signed, its header holding every field sent; it must not modify it.
	// Tools use it to show what was sent.
	OnRequest func(*http.Request)
}

// SendResult describes a successful Send.
type SendResult struct {
	// Attempts is the number of requests made.
	Attempts int
	// StatusCode is the 2xx status of the last attempt.
	StatusCode int
	// ResponseBody holds at most MaxLoggedResponseBytes of the response.
	ResponseBody []byte
}

// NewSender validates cfg and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	var errs []error
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative Timeout", ErrInvalidConfig))
	}
	if cfg.RetryWaitMin < 0 || cfg.RetryWaitMax < 0 {
		errs = append(errs, fmt.Errorf("%w: negative retry wait", ErrInvalidConfig))
	}
	if minWait := cmp.Or(cfg.RetryWaitMin, DefaultRetryWaitMin); cfg.RetryWaitMax > 0 && minWait > cfg.RetryWaitMax {
		errs = append(errs, fmt.Errorf("%w: RetryWaitMin %v above RetryWaitMax %v", ErrInvalidConfig, minWait, cfg.RetryWaitMax))
	}
	if cfg.MaxPayloadBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: negative MaxPayloadBytes", ErrInvalidConfig))
	}
	if cfg.MaxIdleConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("%w: negative MaxIdleConnsPerHost", ErrInvalidConfig))
	}
	policy := ssrf.Policy{AllowPrefixes: cfg.AllowAddresses, AllowHosts: cfg.AllowHosts}
	if err := policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	cfg.RetryWaitMin = cmp.Or(cfg.RetryWaitMin, DefaultRetryWaitMin)
	cfg.RetryWaitMax = max(cmp.Or(cfg.RetryWaitMax, DefaultRetryWaitMax), cfg.RetryWaitMin)
	cfg.MaxPayloadBytes = cmp.Or(cfg.MaxPayloadBytes, DefaultMaxPayloadBytes)
	cfg.MaxIdleConnsPerHost = cmp.Or(cfg.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
	ownHooks := cfg.RetryPolicy == nil && cfg.Backoff == nil
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = DefaultRetryPolicy
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Propagator == nil {
		cfg.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	dialer := &ssrf.Dialer{Policy: policy, Dialer: &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}}
	if cfg.TracerProvider == nil {
		// Resolved once. The global provider forwards to an SDK installed
		// later.
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	// Never a proxy: the SSRF check must see the receiver's own address.
	// Either transport bounds each attempt by cfg.Timeout.
	var base idleCloser
	if cfg.HTTP2 {
		base = deadlineTransport{Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.Timeout,
			ExpectContinueTimeout: time.Second,
		}, timeout: cfg.Timeout}
	} else {
		base = h1.New(h1.Config{
			DialContext:         dialer.DialContext,
			Timeout:             cfg.Timeout,
			MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:     90 * time.Second,
		})
	}
	attempt := &attemptTransport{
		base:   base,
		tracer: cfg.TracerProvider.Tracer(instrumentationName),
		prop:   cfg.Propagator,
	}
	var err error
	if attempt.duration, attempt.bodySize, err = newClientMetrics(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("webhooks: client metrics: %w", err)
	}
	httpClient := &http.Client{
		Transport: attempt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	s := &Sender{cfg: cfg, policy: policy, transport: base, fieldsApart: ownHooks && !cfg.HTTP2}
	s.client = s.newClient(httpClient, cfg.MaxRetries)
	s.once = s.newClient(httpClient, 0)
	return s, nil
}

func (s *Sender) newClient(hc *http.Client, retries int) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:     hc,
		Logger:         nil, // retryablehttp's default logger writes to stderr
		RetryWaitMin:   s.cfg.RetryWaitMin,
		RetryWaitMax:   s.cfg.RetryWaitMax,
		RetryMax:       retries,
		RequestLogHook: s.beforeAttempt,
		CheckRetry:     s.afterAttempt,
		Backoff:        s.cfg.Backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler, // keep the last response
		PrepareRetry:   s.resign,
	}
}

// Send POSTs req.Payload to req.Target, retrying per the configuration, and
// returns the result of the successful attempt or a *DeliveryError. ctx bounds
// the whole delivery, backoff included; each attempt also has its own timeout.
func (s *Sender) Send(ctx context.Context, req SendRequest) (SendResult, error) {
	return s.send(&sendState{Context: ctx, req: req})
}

// send is Send with the state the caller made: st's context and request,
// and optionally an observer of attempts, called instead of OnAttempt.
func (s *Sender) send(st *sendState) (SendResult, error) {
	req := st.req
	t := req.Target
	if t == nil {
		return SendResult{}, &DeliveryError{Err: fmt.Errorf("%w: SendRequest without a Target", ErrInvalidConfig)}
	}
	if len(req.Payload) > s.cfg.MaxPayloadBytes {
		return SendResult{}, &DeliveryError{Err: fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(req.Payload), s.cfg.MaxPayloadBytes)}
	}
	if err := bus.CheckEventID(req.EventID); err != nil {
		return SendResult{}, &DeliveryError{Err: fmt.Errorf("%w: %w", ErrInvalidEventID, err)}
	}
	if err := s.checkScheme(t); err != nil {
		return SendResult{}, &DeliveryError{Err: err}
	}
	st.eventType = cmp.Or(req.EventType, t.webhook.EventType)
	var header http.Header
	// The event id, which bus.CheckEventID passed, can be written as it is.
	if s.fieldsApart && req.OnRequest == nil && t.staticFields != nil && plainFieldValue(string(st.eventType)) {
		// h1 writes every field from st (h1.Fields): the request's header
		// is empty, and shared. Nothing outside the sender sees the
		// request: OnRequest, a RetryPolicy or a Backoff of the caller's
		// would, and gets a request with a header map of its own instead.
		st.fields = t.appendFields(st.fieldsBuf[:0], st.eventType, req.EventID, s.cfg.Now(), req.Payload)
		header = noHeader
	} else {
		header = t.newHeader(st.eventType, req.EventID, s.cfg.Now(), req.Payload)
	}
	template := http.Request{
		Method:        http.MethodPost,
		URL:           t.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		ContentLength: int64(len(req.Payload)),
		// Host stays empty: the Host header is then URL.Host, and
		// http.Client does not copy the URL to look up cookies for it.
	}
	rreq := &st.rreq
	rreq.Request = template.WithContext(st)
	payload := req.Payload
	// Bodies are readers of the payload in memory, which h1 writes in one
	// write with the head. On h1 they are payloadReaders, which retryablehttp
	// takes as the request's io.ReadCloser as they are; net/http's Transport
	// (HTTP2) knows only a *bytes.Reader to be in memory (retryablehttp wraps
	// it in io.NopCloser, which net/http looks through). Before the first
	// attempt starts (st.n counts them), the function hands out one reader,
	// spared an allocation: SetBody's call, which only asks its length, and
	// the first attempt's; every later attempt gets its own.
	// An empty payload is no body at all: with an empty reader net/http
	// would send the request chunked, its length unknown, rather than with
	// Content-Length: 0.
	st.body.Reset(payload)
	http2 := s.cfg.HTTP2
	if len(payload) > 0 {
		if err := rreq.SetBody(retryablehttp.ReaderFunc(func() (io.Reader, error) {
			r := &st.body
			if st.n > 0 {
				r = new(payloadReader)
				r.Reset(payload)
			}
			if http2 {
				return &r.Reader, nil
			}
			return r, nil
		})); err != nil {
			return SendResult{}, &DeliveryError{Err: err}
		}
	}
	client := s.client
	if req.NoRetry {
		client = s.once
	}
	resp, err := client.Do(rreq)
	if resp != nil {
		drain(resp)
	}
	err = redactErr(err)
	switch {
	case err != nil:
		return SendResult{}, &DeliveryError{StatusCode: st.last.StatusCode, Attempts: st.n, Err: err}
	case !isSuccess(resp.StatusCode):
		return SendResult{}, &DeliveryError{StatusCode: resp.StatusCode, Attempts: st.n, Err: statusError(resp.StatusCode)}
	}
	return SendResult{Attempts: st.n, StatusCode: resp.StatusCode, ResponseBody: st.last.ResponseBody}, nil
}

// Close closes idle connections. Requests in flight are not affected.
func (s *Sender) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// sendState follows one Send through retryablehttp's hooks, which only see
// the request's context: it is that context, the caller's with the state as
// a value, in one allocation.
type sendState struct {
	context.Context
	req      SendRequest
	observer attemptObserver // if set, called after each attempt instead of req.OnAttempt

	rreq    retryablehttp.Request
	body    payloadReader // the payload, for the first attempt
	n       int           // attempts started
	started time.Time
	last    Attempt

	eventType EventType // sent as X-Webhook-Event
	// fields, when not nil, are the header fields of the attempt but
	// User-Agent (Target.appendFields), which h1 writes: the request's
	// Header is then noHeader. In fieldsBuf unless long custom headers or
	// signatures (many secrets) did not fit.
	fields    []byte
	fieldsBuf [fieldsRoom]byte
	// injectFailed: a field of the attempt's trace context could not go
	// among fields (fieldCarrier).
	injectFailed bool
}

// noHeader is the header of requests whose fields are all in their send
// state. Nothing writes to it: net/http and the sender copy a request's
// header before they change it.
var noHeader = http.Header{}

// fieldsRoom holds the fields of a request with one secret, ids and event
// type of up to about 64 bytes each, and a few short custom headers.
const fieldsRoom = 512

var _ h1.Fields = (*sendState)(nil)

// UserAgent implements h1.Fields.
func (st *sendState) UserAgent() string { return userAgent }

// Lines implements h1.Fields.
func (st *sendState) Lines() []byte { return st.fields }

// plainFieldValue reports whether v can be written as a header field value
// as it is: valid, with nothing around it that net/http would trim.
func plainFieldValue(v string) bool {
	return v == textproto.TrimString(v) && httpguts.ValidHeaderFieldValue(v)
}

type sendStateKey struct{}

// payloadReader is a request body: the payload in memory, and its own
// io.ReadCloser.
type payloadReader struct{ bytes.Reader }

// Close implements io.Closer; there is nothing to release.
func (*payloadReader) Close() error { return nil }

// attemptObserver is told of each attempt; the delivery engine's run of a
// delivery is one, which spares it a closure per delivery.
type attemptObserver interface {
	observeAttempt(Attempt)
}

// retargeter is an attemptObserver that knows, before each retry, the
// target the delivery goes to now (its webhook may have been updated since
// the last attempt), or an error that ends the delivery instead.
type retargeter interface {
	retarget() (*Target, error)
}

// Value implements context.Context. Under h1.FieldsKey it gives the
// state itself when the signed fields are in it.
func (st *sendState) Value(key any) any {
	switch key {
	case sendStateKey{}:
		return st
	case h1.FieldsKey{}:
		// Never an enclosing send's fields (a Send made from a hook).
		if st.fields == nil {
			return nil
		}
		return st
	}
	return st.Context.Value(key)
}

func stateOf(ctx context.Context) *sendState {
	st, _ := ctx.Value(sendStateKey{}).(*sendState)
	return st
}

// beforeAttempt runs before every attempt, the first included.
func (s *Sender) beforeAttempt(_ retryablehttp.Logger, r *http.Request, _ int) {
	if st := stateOf(r.Context()); st != nil {
		st.n++
		st.started = s.cfg.Now()
		if st.req.OnRequest != nil {
			st.req.OnRequest(r)
		}
	}
}

// resign runs before every retry: a fresh timestamp and signature. Fields
// kept apart are rendered again in place, in the send state. Otherwise the
// request is retryablehttp's shallow copy, so the header map is copied before
// it is changed: the previous attempt's may still be in use by the transport.
func (s *Sender) resign(r *http.Request) error {
	st := stateOf(r.Context())
	if st == nil {
		return nil
	}
	if rt, ok := st.observer.(retargeter); ok {
		t, err := rt.retarget()
		if err != nil {
			return err
		}
		if t != st.req.Target {
			return s.retarget(r, st, t)
		}
	}
	if st.fields != nil {
		// The previous attempt's write is over: RoundTrip has returned.
		st.fields = st.req.Target.appendFields(st.fields[:0], st.eventType, st.req.EventID, s.cfg.Now(), st.req.Payload)
		return nil
	}
	h := r.Header.Clone()
	st.req.Target.sign(h, st.req.EventID, s.cfg.Now(), st.req.Payload)
	r.Header = h
	return nil
}

// checkScheme refuses t's URL unless it is https, or http allowed by the
// configuration.
func (s *Sender) checkScheme(t *Target) error {
	if t.url.Scheme != "https" && !(t.url.Scheme == "http" && s.cfg.AllowHTTP) {
		return fmt.Errorf("%w: scheme %q", ErrHTTPSRequired, t.url.Scheme)
	}
	return nil
}

// retarget points the next attempt of st at t, a newer version of its
// webhook: its URL, and its fields or header rendered and signed anew.
func (s *Sender) retarget(r *http.Request, st *sendState, t *Target) error {
	if err := s.checkScheme(t); err != nil {
		return err
	}
	st.req.Target = t
	r.URL = t.url
	if st.fields != nil && t.staticFields != nil {
		st.fields = t.appendFields(st.fields[:0], st.eventType, st.req.EventID, s.cfg.Now(), st.req.Payload)
		return nil
	}
	st.fields = nil // h1 then writes the request's header
	r.Header = t.newHeader(st.eventType, st.req.EventID, s.cfg.Now(), st.req.Payload)
	return nil
}

// afterAttempt records the attempt, then asks the retry policy.
func (s *Sender) afterAttempt(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, perr := s.cfg.RetryPolicy(ctx, resp, err)
	st := stateOf(ctx)
	if st == nil {
		return retry, perr
	}
	a := Attempt{
		DeliveryID: st.req.DeliveryID,
		EventID:    st.req.EventID,
		WebhookID:  st.req.Target.webhook.ID,
		Number:     st.n,
		StartedAt:  st.started,
		Duration:   s.cfg.Now().Sub(st.started),
	}
	switch {
	case err != nil:
		a.Error = redactErr(err).Error()
	default:
		a.StatusCode = resp.StatusCode
		a.ResponseBody = peekBody(resp)
		if !isSuccess(resp.StatusCode) {
			a.Error = statusError(resp.StatusCode).Error()
		}
	}
	st.last = a
	switch {
	case st.observer != nil:
		st.observer.observeAttempt(a)
	case st.req.OnAttempt != nil:
		st.req.OnAttempt(a)
	}
	return retry, perr
}

// statusError classifies a non-2xx status.
func statusError(code int) error {
	switch {
	case code == http.StatusGone:
		return ErrGone
	case code >= 300 && code < 400:
		return fmt.Errorf("%w: status %d", ErrRedirect, code)
	}
	return fmt.Errorf("%w: status %d", ErrUnexpectedStatus, code)
}

// peekBody reads the first MaxLoggedResponseBytes of the body for the log
// and puts them back in front of the rest, so the body stays whole for
// whoever reads it next.
func peekBody(resp *http.Response) []byte {
	if resp.Body == nil || resp.Body == http.NoBody || resp.ContentLength == 0 {
		return nil
	}
	prefix, _ := io.ReadAll(io.LimitReader(resp.Body, MaxLoggedResponseBytes))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(prefix), resp.Body), resp.Body}
	if len(prefix) == 0 {
		return nil
	}
	return prefix
}

// drain reads a little of what is left of the response's body, unless it
// is known to be empty, so that the connection can be reused; then closes
// the body (which ends the attempt's client span).
func drain(resp *http.Response) {
	if resp.Body != http.NoBody && resp.ContentLength != 0 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	_ = resp.Body.Close()
}

// redactErr removes from the URL a *url.Error carries everything but scheme
// and host: paths and queries of webhook URLs often hold tokens, and these
// errors end up in the delivery log, in hooks and on spans.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	return err
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(webhook URL)"
	}
	return u.Scheme + "://" + u.Host
}
