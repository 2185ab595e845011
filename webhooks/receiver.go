package webhooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultReceiverMaxBodyBytes is the largest request body, in bytes, a
// receiver reads when ReceiverConfig.MaxBodyBytes is zero: the 1 MB payload
// limit of the wire contract.
const DefaultReceiverMaxBodyBytes = 1_000_000

// Errors of a receiver, besides those of a Verifier and of DecodeEvent. Every
// refusal is reported to ReceiverConfig.OnError wrapped with detail; match
// them with errors.Is.
var (
	// ErrInvalidReceiverConfig reports a ReceiverConfig or a ReceiverFuncs
	// that VerifyRequests or NewReceiver refuses. It is joined with the more
	// specific causes, such as ErrInvalidSecret or ErrInvalidTolerance.
	ErrInvalidReceiverConfig = errors.New("webhooks: invalid receiver config")
	// ErrMethodNotAllowed reports a request whose method is not POST; it is
	// answered 405.
	ErrMethodNotAllowed = errors.New("webhooks: method not allowed")
	// ErrBodyTooLarge reports a request body over the receiver's
	// MaxBodyBytes; it is answered 413 without the body being verified.
	ErrBodyTooLarge = errors.New("webhooks: request body too large")
	// ErrNoHandler reports a verified event of a type for which the
	// ReceiverFuncs has no callback; it is answered 404.
	ErrNoHandler = errors.New("webhooks: no handler for event type")
	// ErrHandlerFailed reports a callback of a ReceiverFuncs that returned an
	// error, which it wraps; it is answered 500 so that the sender retries.
	ErrHandlerFailed = errors.New("webhooks: event handler failed")
)

// ReceiverConfig configures VerifyRequests and NewReceiver. Secrets is
// required; every other zero field means the documented default.
type ReceiverConfig struct {
	// Secrets are the signing secrets a request may be signed with, at least
	// one, each passing ParseSecret. Give the old and the new secret while
	// the sender rotates: a request is accepted when it carries a signature
	// made with any of them.
	Secrets []string
	// Tolerance is the largest difference, either way, between a request's
	// timestamp and Now that is accepted. Zero means DefaultTolerance;
	// negative is an error.
	Tolerance time.Duration
	// Now returns the current time. Nil means time.Now; tests inject a clock.
	Now func() time.Time
	// MaxBodyBytes is the largest request body read, in bytes. A larger body
	// is refused with 413 and ErrBodyTooLarge. Zero means
	// DefaultReceiverMaxBodyBytes; negative is an error.
	MaxBodyBytes int64
	// EventType is the type of the events this endpoint receives when a
	// request has no (or an empty) HeaderEvent header. A request naming its
	// type in HeaderEvent is taken at its word, whatever EventType says. The
	// zero EventType means no default; any other value must be valid.
	EventType EventType
	// DedupeSize, when positive, makes the receiver remember the HeaderID of
	// the last DedupeSize requests handled successfully (the handler
	// answered 2xx) and answer a verified request carrying a remembered id
	// with 200 OK without calling the handler again: senders retry, and the
	// id is stable across retries. Ids are remembered as SHA-256 digests, so
	// memory is bounded by DedupeSize whatever their length; the oldest id
	// is forgotten first.
	//
	// The timestamp tolerance stops replays of old requests; deduplication
	// stops replays inside it only while the id is remembered. Size it to
	// hold every request of twice the tolerance (10 minutes by default) at
	// the endpoint's peak rate: an id forgotten sooner can be replayed, and
	// handled again, until its timestamp grows too old.
	//
	// A request whose id is being handled by another request at the same
	// moment waits for that one to finish: if it succeeded, the waiting
	// request is a duplicate; otherwise the waiting request is handled in its
	// turn. If the waiting request's context ends first, it is answered 503
	// with an error wrapping the context's error.
	//
	// Zero means no deduplication; negative is an error.
	DedupeSize int
	// OnError, if not nil, is called with the request and an error for every
	// request refused or failed, before the response is written: the error
	// wraps the sentinel that decided the status (ErrMethodNotAllowed,
	// ErrBodyTooLarge, the Verifier's errors, ErrUnknownEventType,
	// ErrInvalidPayload, ErrNoHandler, ErrHandlerFailed) or a read or context
	// error. It is meant for logs and metrics: the client only ever gets the
	// status text. It is not called for accepted requests nor duplicates. It
	// may be called concurrently.
	OnError func(r *http.Request, err error)
}

// Verified is what VerifyRequests establishes about a request before calling
// the next handler; the handler gets it with VerifiedFromContext.
type Verified struct {
	// ID is the HeaderID value, which senders keep across retries.
	ID string
	// Timestamp is the signed HeaderTimestamp, in whole seconds, UTC.
	Timestamp time.Time
	// EventType is the type named by HeaderEvent, or ReceiverConfig.EventType
	// when that header is absent or empty. It is "" when HeaderEvent names an
	// unknown type or when neither gives one. HeaderEvent is not covered by
	// the signature: DecodeVerified validates Body against the type, so a
	// type swapped in transit fails to decode rather than being trusted.
	EventType EventType
	// Body is the exact request body the signature covers. The request body
	// the next handler reads holds the same bytes; neither may be modified.
	Body []byte
}

// VerifyRequests returns middleware that accepts only signed, fresh POST
// requests and calls next for each of them.
//
// For each request, it refuses a method other than POST (405, with an Allow
// header), reads at most cfg.MaxBodyBytes of the body (413 beyond), and
// verifies the signature as a Verifier does: Standard Webhooks headers, with
// the signature in HeaderSignature or, failing that, HeaderVendorSignature.
// A refused request is answered with the status below and its status text as
// a plain body, which helps an attacker with nothing; the detail goes to
// cfg.OnError.
//
//	missing HeaderID, HeaderTimestamp or signature   400  ErrMissingHeaders
//	timestamp not canonical Unix seconds             400  ErrInvalidTimestamp
//	timestamp outside the tolerance                  401  ErrTimestampTooOld, ErrTimestampTooNew
//	no signature made with one of the secrets        401  ErrNoMatchingSignature
//	body over MaxBodyBytes                           413  ErrBodyTooLarge
//	method other than POST                           405  ErrMethodNotAllowed
//
// A verified request reaches next with its body replaced by the verified
// bytes (which next may read in full) and its context carrying the Verified
// details. With cfg.DedupeSize positive, a request whose id was already
// handled with a 2xx answer gets 200 OK without reaching next; see
// ReceiverConfig.DedupeSize.
//
// Errors in cfg, or a nil next, are reported at once, joined, wrapped in
// ErrInvalidReceiverConfig. The returned handler is safe for concurrent use.
func VerifyRequests(cfg ReceiverConfig, next http.Handler) (http.Handler, error) {
	h, problems := newVerifyingHandler(cfg, next)
	if len(problems) > 0 {
		return nil, invalidReceiverConfig(problems)
	}
	return h, nil
}

// VerifiedFromContext returns the Verified details VerifyRequests put into
// the context of the request it passed on, and whether there are any.
func VerifiedFromContext(ctx context.Context) (Verified, bool) {
	v, ok := ctx.Value(verifiedKey{}).(Verified)
	return v, ok
}

// ReceiverFuncs are the callbacks of NewReceiver, one per event type. A nil
// callback means the receiver does not handle that type: such events are
// answered 404 with ErrNoHandler. A callback gets the request's context,
// which also carries the Verified details (see VerifiedFromContext), and the
// decoded, validated payload. Returning nil confirms the event (204);
// returning an error makes the sender retry (500). Callbacks may be called
// concurrently, and, without ReceiverConfig.DedupeSize, more than once for
// the same event: senders deliver at least once.
type ReceiverFuncs struct {
	// OnMeetingStatusChanged handles meeting_status_changed events.
	OnMeetingStatusChanged func(ctx context.Context, e MeetingStatusChanged) error
	// OnMeetingNoteStatusChanged handles meeting_note_status_changed events.
	OnMeetingNoteStatusChanged func(ctx context.Context, e MeetingNoteStatusChanged) error
	// OnCommercialSignalDetected handles commercial_signal_detected events.
	OnCommercialSignalDetected func(ctx context.Context, e CommercialSignalDetected) error
}

// NewReceiver returns an http.Handler that verifies requests as
// VerifyRequests does, decodes each verified body as the event type of
// Verified.EventType and calls the matching callback of funcs. Besides the
// refusals of VerifyRequests, it answers:
//
//	callback returned nil                            204
//	no known event type (header or cfg.EventType)    400  ErrUnknownEventType
//	body not a valid payload of that type            422  ErrInvalidPayload
//	no callback for that type                        404  ErrNoHandler
//	callback returned an error                       500  ErrHandlerFailed
//
// It refuses, with ErrInvalidReceiverConfig, what VerifyRequests refuses, a
// funcs without any callback, and a cfg.EventType whose callback is nil. The
// returned handler is safe for concurrent use.
func NewReceiver(cfg ReceiverConfig, funcs ReceiverFuncs) (http.Handler, error) {
	var problems []error
	if !funcs.handles(MeetingStatusChangedEvent) && !funcs.handles(MeetingNoteStatusChangedEvent) && !funcs.handles(CommercialSignalDetectedEvent) {
		problems = append(problems, errors.New("webhooks: no callback in ReceiverFuncs"))
	} else if cfg.EventType.Valid() && !funcs.handles(cfg.EventType) {
		problems = append(problems, fmt.Errorf("webhooks: no callback for EventType %s", cfg.EventType))
	}
	h, verifyProblems := newVerifyingHandler(cfg, &dispatchingHandler{funcs: funcs, onError: cfg.OnError})
	if problems = append(problems, verifyProblems...); len(problems) > 0 {
		return nil, invalidReceiverConfig(problems)
	}
	return h, nil
}

// DecodeVerified decodes v.Body as the payload of v.EventType with
// DecodeEvent. An empty v.EventType fails with ErrUnknownEventType; an
// invalid body with ErrInvalidPayload.
func DecodeVerified(v Verified) (Event, error) {
	if v.EventType == "" {
		return nil, fmt.Errorf("%w: the request names no event type", ErrUnknownEventType)
	}
	return DecodeEvent(v.EventType, v.Body)
}

// verifiedKey is the context key of Verified.
type verifiedKey struct{}

// newVerifyingHandler checks cfg and next and builds the handler of
// VerifyRequests, or returns every problem found.
func newVerifyingHandler(cfg ReceiverConfig, next http.Handler) (*verifyingHandler, []error) {
	var problems []error
	if next == nil {
		problems = append(problems, errors.New("webhooks: nil next handler"))
	}
	v, err := NewVerifier(cfg.Secrets, VerifierConfig{Tolerance: cfg.Tolerance, Now: cfg.Now})
	if err != nil {
		problems = append(problems, err)
	}
	if cfg.MaxBodyBytes < 0 {
		problems = append(problems, fmt.Errorf("webhooks: negative MaxBodyBytes %d", cfg.MaxBodyBytes))
	}
	if cfg.DedupeSize < 0 {
		problems = append(problems, fmt.Errorf("webhooks: negative DedupeSize %d", cfg.DedupeSize))
	}
	if cfg.EventType != "" && !cfg.EventType.Valid() {
		problems = append(problems, fmt.Errorf("webhooks: EventType: %w %q", ErrUnknownEventType, string(cfg.EventType)))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	h := &verifyingHandler{
		next:      next,
		verifier:  v,
		maxBody:   cfg.MaxBodyBytes,
		eventType: cfg.EventType,
		onError:   cfg.OnError,
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultReceiverMaxBodyBytes
	}
	if cfg.DedupeSize > 0 {
		h.dedupe = newDedupeSet(cfg.DedupeSize)
	}
	return h, nil
}

// invalidReceiverConfig joins problems under ErrInvalidReceiverConfig.
func invalidReceiverConfig(problems []error) error {
	return fmt.Errorf("%w: %w", ErrInvalidReceiverConfig, errors.Join(problems...))
}

// verifyingHandler is the handler VerifyRequests returns.
type verifyingHandler struct {
	next      http.Handler
	verifier  *Verifier
	maxBody   int64
	eventType EventType
	onError   func(*http.Request, error)
	dedupe    *dedupeSet // nil without deduplication
}

func (h *verifyingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, r, h.onError, fmt.Errorf("%w: %s", ErrMethodNotAllowed, r.Method))
		return
	}
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		refuse(w, r, h.onError, err)
		return
	}
	if err := h.verifier.Verify(r.Header, body); err != nil {
		refuse(w, r, h.onError, err)
		return
	}
	// Verify accepted only the canonical form, so this cannot fail.
	unix, _ := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	v := Verified{
		ID:        r.Header.Get(HeaderID),
		Timestamp: time.Unix(unix, 0).UTC(),
		EventType: h.eventType,
		Body:      body,
	}
	if raw := r.Header.Get(HeaderEvent); raw != "" {
		v.EventType = EventType(raw)
		if !v.EventType.Valid() {
			v.EventType = ""
		}
	}
	next := r.WithContext(context.WithValue(r.Context(), verifiedKey{}, v))
	next.Body = io.NopCloser(bytes.NewReader(body))
	next.ContentLength = int64(len(body))

	if h.dedupe == nil {
		h.next.ServeHTTP(w, next)
		return
	}
	key := sha256.Sum256([]byte(v.ID))
	done, duplicate, err := h.dedupe.acquire(r.Context(), key)
	switch {
	case err != nil:
		refuse(w, r, h.onError, err)
		return
	case duplicate:
		writeStatus(w, http.StatusOK)
		return
	}
	sw := &statusRecorder{ResponseWriter: w}
	succeeded := false
	// Deferred so that a panicking handler releases waiting duplicates too.
	defer func() { done(succeeded) }()
	h.next.ServeHTTP(sw, next)
	succeeded = sw.succeeded()
}

// dispatchingHandler is the handler NewReceiver puts behind VerifyRequests.
type dispatchingHandler struct {
	funcs   ReceiverFuncs
	onError func(*http.Request, error)
}

func (d *dispatchingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, _ := VerifiedFromContext(r.Context())
	if v.EventType == "" {
		err := fmt.Errorf("%w: no %s header and no default", ErrUnknownEventType, HeaderEvent)
		if raw := r.Header.Get(HeaderEvent); raw != "" {
			err = fmt.Errorf("%w %q in %s", ErrUnknownEventType, raw, HeaderEvent)
		}
		refuse(w, r, d.onError, err)
		return
	}
	e, err := DecodeVerified(v)
	if err != nil {
		refuse(w, r, d.onError, err)
		return
	}
	if err := d.funcs.call(r.Context(), e); err != nil {
		refuse(w, r, d.onError, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handles reports whether f has a callback for t.
func (f ReceiverFuncs) handles(t EventType) bool {
	switch t {
	case MeetingStatusChangedEvent:
		return f.OnMeetingStatusChanged != nil
	case MeetingNoteStatusChangedEvent:
		return f.OnMeetingNoteStatusChanged != nil
	case CommercialSignalDetectedEvent:
		return f.OnCommercialSignalDetected != nil
	}
	return false
}

// call passes e, as DecodeEvent returns it, to its callback. The error wraps
// ErrNoHandler when there is none and ErrHandlerFailed when it fails.
func (f ReceiverFuncs) call(ctx context.Context, e Event) error {
	if !f.handles(e.EventType()) {
		return fmt.Errorf("%w %s", ErrNoHandler, e.EventType())
	}
	var err error
	switch e := e.(type) {
	case MeetingStatusChanged:
		err = f.OnMeetingStatusChanged(ctx, e)
	case MeetingNoteStatusChanged:
		err = f.OnMeetingNoteStatusChanged(ctx, e)
	case CommercialSignalDetected:
		err = f.OnCommercialSignalDetected(ctx, e)
	default:
		return fmt.Errorf("%w %T", ErrNoHandler, e)
	}
	if err != nil {
		return fmt.Errorf("%w (%s): %w", ErrHandlerFailed, e.EventType(), err)
	}
	return nil
}

// readBody reads at most limit bytes of r's body. The error wraps
// ErrBodyTooLarge when the body is longer.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes declared, limit %d", ErrBodyTooLarge, r.ContentLength, limit)
	}
	// MaxBytesReader, given the server's writer, also makes the server close
	// the connection instead of draining an oversized body.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, fmt.Errorf("%w: over the limit of %d bytes", ErrBodyTooLarge, limit)
		}
		return nil, fmt.Errorf("webhooks: read request body: %w", err)
	}
	return body, nil
}

// refuse reports err to onError and answers with the status it maps to.
func refuse(w http.ResponseWriter, r *http.Request, onError func(*http.Request, error), err error) {
	if onError != nil {
		onError(r, err)
	}
	writeStatus(w, refusalStatus(err))
}

// refusalStatus maps the error of a refused request to its status code.
func refusalStatus(err error) int {
	switch {
	case errors.Is(err, ErrHandlerFailed):
		// First: the callback's own error may wrap any of the others (a
		// callback that forwards the event to another signed endpoint).
		return http.StatusInternalServerError
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMissingHeaders), errors.Is(err, ErrInvalidTimestamp):
		return http.StatusBadRequest
	case errors.Is(err, ErrTimestampTooOld), errors.Is(err, ErrTimestampTooNew), errors.Is(err, ErrNoMatchingSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrUnknownEventType):
		return http.StatusBadRequest
	case errors.Is(err, ErrInvalidPayload):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNoHandler):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// writeStatus answers with code and its status text as a plain body.
func writeStatus(w http.ResponseWriter, code int) {
	http.Error(w, http.StatusText(code), code)
}

// statusRecorder remembers the status the wrapped handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	// Informational answers may precede the final one.
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush lets handlers that stream their answer flush through the wrapper.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController access to the server's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// succeeded reports whether the handler answered 2xx. A handler that wrote
// nothing gets 200 from the server.
func (s *statusRecorder) succeeded() bool {
	return s.status == 0 || (s.status >= 200 && s.status < 300)
}

// dedupeSet remembers the digests of the last ids handled successfully, in a
// ring, and tracks the ids being handled.
type dedupeSet struct {
	mu       sync.Mutex
	size     int
	seen     map[[sha256.Size]byte]struct{}
	ring     [][sha256.Size]byte // grows to size, then oldest at next
	next     int
	inFlight map[[sha256.Size]byte]chan struct{} // closed when handled
}

func newDedupeSet(size int) *dedupeSet {
	return &dedupeSet{
		size:     size,
		seen:     make(map[[sha256.Size]byte]struct{}),
		inFlight: make(map[[sha256.Size]byte]chan struct{}),
	}
}

// acquire claims key for handling. It reports duplicate when key was handled
// successfully; otherwise the caller must call done with whether it succeeded.
// While another request holds key, acquire waits for it, or fails with an
// error wrapping ctx's when ctx ends first.
func (d *dedupeSet) acquire(ctx context.Context, key [sha256.Size]byte) (done func(succeeded bool), duplicate bool, err error) {
	for {
		d.mu.Lock()
		if _, ok := d.seen[key]; ok {
			d.mu.Unlock()
			return nil, true, nil
		}
		busy, ok := d.inFlight[key]
		if !ok {
			released := make(chan struct{})
			d.inFlight[key] = released
			d.mu.Unlock()
			return func(succeeded bool) { d.release(key, released, succeeded) }, false, nil
		}
		d.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("webhooks: waiting for a request with the same %s: %w", HeaderID, ctx.Err())
		}
	}
}

func (d *dedupeSet) release(key [sha256.Size]byte, released chan struct{}, succeeded bool) {
	d.mu.Lock()
	delete(d.inFlight, key)
	if succeeded {
		d.remember(key)
	}
	d.mu.Unlock()
	close(released)
}

// remember adds key, forgetting the oldest key when the set is full. The
// caller holds d.mu.
func (d *dedupeSet) remember(key [sha256.Size]byte) {
	if len(d.ring) < d.size {
		d.ring = append(d.ring, key)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = key
		d.next = (d.next + 1) % d.size
	}
	d.seen[key] = struct{}{}
}
