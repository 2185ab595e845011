package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

const (
	recvOldSecret     = "whsec_aG9va2J1cyByZWNlaXZlciBvbGQgc2lnbmluZyBrZXk="
	recvNewSecret     = "whsec_aG9va2J1cyByZWNlaXZlciBuZXcgc2lnbmluZyBrZXk="
	recvUnknownSecret = "whsec_aG9va2J1cyByZWNlaXZlciB1bmtub3duIGtleSEhISE="
	recvID            = "evt_01J0RECEIVER"
)

// recvNow is the receivers' clock in these tests.
var recvNow = time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC)

func recvClock() time.Time { return recvNow }

// recvReq is a webhook request under construction.
type recvReq struct {
	method string
	header http.Header
	body   []byte
	// chunked sends the body without a Content-Length.
	chunked bool
	ctx     context.Context
}

// recvValidReq returns a meeting_status_changed request, signed at recvNow
// with recvOldSecret, that recvValidConfig accepts; every case below changes
// one thing.
func recvValidReq(t testing.TB) recvReq {
	t.Helper()
	q := recvReq{
		method: http.MethodPost,
		header: http.Header{},
		body:   recvMarshal(t, webhooks.MeetingStatusChanged{MeetingID: "mtg_42", Status: webhooks.MeetingSummaryDone}),
	}
	q.header.Set("Content-Type", "application/json")
	q.header.Set(webhooks.HeaderEvent, string(webhooks.MeetingStatusChangedEvent))
	q.sign(t, recvID, recvNow, recvOldSecret)
	return q
}

// sign sets the id, timestamp and signature headers for q's body.
func (q *recvReq) sign(t testing.TB, id string, ts time.Time, secrets ...string) {
	t.Helper()
	s, err := webhooks.NewSigner(secrets...)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	q.header.Set(webhooks.HeaderID, id)
	q.header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	q.header.Set(webhooks.HeaderSignature, s.Sign(id, ts, q.body))
}

func (q recvReq) request() *http.Request {
	var body io.Reader = bytes.NewReader(q.body)
	if q.chunked {
		body = io.MultiReader(bytes.NewReader(q.body)) // hides the length
	}
	r := httptest.NewRequest(q.method, "/hooks", body)
	if q.chunked {
		r.ContentLength = -1
	}
	r.Header = q.header.Clone()
	if q.ctx != nil {
		r = r.WithContext(q.ctx)
	}
	return r
}

// serve runs h on q and returns the response.
func (q recvReq) serve(h http.Handler) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, q.request())
	return w.Result()
}

func recvMarshal(t testing.TB, e webhooks.Event) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", e, err)
	}
	return b
}

// recvErrors collects what a receiver reports to OnError.
type recvErrors struct {
	mu   sync.Mutex
	errs []error
}

func (c *recvErrors) onError(_ *http.Request, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *recvErrors) all() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// recvValidConfig accepts recvValidReq.
func recvValidConfig(c *recvErrors) webhooks.ReceiverConfig {
	return webhooks.ReceiverConfig{
		Secrets: []string{recvOldSecret},
		Now:     recvClock,
		OnError: c.onError,
	}
}

// recvCalls records the events a ReceiverFuncs receives.
type recvCalls struct {
	mu       sync.Mutex
	events   []webhooks.Event
	verified []webhooks.Verified
	fail     error
}

func (c *recvCalls) record(ctx context.Context, e webhooks.Event) error {
	v, ok := webhooks.VerifiedFromContext(ctx)
	if !ok {
		panic("callback context without Verified")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	c.verified = append(c.verified, v)
	return c.fail
}

func (c *recvCalls) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *recvCalls) funcs() webhooks.ReceiverFuncs {
	return webhooks.ReceiverFuncs{
		OnMeetingStatusChanged: func(ctx context.Context, e webhooks.MeetingStatusChanged) error {
			return c.record(ctx, e)
		},
		OnMeetingNoteStatusChanged: func(ctx context.Context, e webhooks.MeetingNoteStatusChanged) error {
			return c.record(ctx, e)
		},
		OnCommercialSignalDetected: func(ctx context.Context, e webhooks.CommercialSignalDetected) error {
			return c.record(ctx, e)
		},
	}
}

func recvNewReceiver(t testing.TB, cfg webhooks.ReceiverConfig, funcs webhooks.ReceiverFuncs) http.Handler {
	t.Helper()
	h, err := webhooks.NewReceiver(cfg, funcs)
	if err != nil {
		t.Fatalf("NewReceiver: %v", err)
	}
	return h
}

func recvAssertStatus(t testing.TB, resp *http.Response, want int) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("status = %d %q, want %d", resp.StatusCode, body, want)
	}
	if want >= 400 {
		// Refusals carry only the status text, nothing that helps an attacker.
		if got := strings.TrimSpace(string(body)); got != http.StatusText(want) {
			t.Errorf("body = %q, want %q", got, http.StatusText(want))
		}
	}
}

func TestReceiverRoundTrip(t *testing.T) {
	rotations := []struct {
		name     string
		signWith []string
		accept   []string
	}{
		{"sender new and old, receiver old", []string{recvNewSecret, recvOldSecret}, []string{recvOldSecret}},
		{"sender new and old, receiver new", []string{recvNewSecret, recvOldSecret}, []string{recvNewSecret}},
		{"sender new, receiver old and new", []string{recvNewSecret}, []string{recvOldSecret, recvNewSecret}},
		{"sender old, receiver new and old", []string{recvOldSecret}, []string{recvNewSecret, recvOldSecret}},
	}
	for _, et := range webhooks.EventTypes() {
		for _, rot := range rotations {
			t.Run(string(et)+"/"+rot.name, func(t *testing.T) {
				want, err := webhooks.SampleEvent(et)
				if err != nil {
					t.Fatal(err)
				}
				var errs recvErrors
				var calls recvCalls
				cfg := recvValidConfig(&errs)
				cfg.Secrets = rot.accept
				h := recvNewReceiver(t, cfg, calls.funcs())

				q := recvValidReq(t)
				q.body = recvMarshal(t, want)
				q.header.Set(webhooks.HeaderEvent, string(et))
				q.sign(t, recvID, recvNow.Add(-time.Minute), rot.signWith...)
				recvAssertStatus(t, q.serve(h), http.StatusNoContent)

				if got := errs.all(); len(got) != 0 {
					t.Fatalf("OnError called: %v", got)
				}
				if calls.count() != 1 {
					t.Fatalf("callback called %d times, want 1", calls.count())
				}
				if !reflect.DeepEqual(calls.events[0], want) {
					t.Errorf("event = %#v, want %#v", calls.events[0], want)
				}
				wantVerified := webhooks.Verified{ID: recvID, Timestamp: recvNow.Add(-time.Minute), EventType: et, Body: q.body}
				if !reflect.DeepEqual(calls.verified[0], wantVerified) {
					t.Errorf("Verified = %+v, want %+v", calls.verified[0], wantVerified)
				}
			})
		}
	}
}

func TestReceiverVendorSignatureHeader(t *testing.T) {
	var calls recvCalls
	h := recvNewReceiver(t, recvValidConfig(&recvErrors{}), calls.funcs())
	q := recvValidReq(t)
	q.header.Set(webhooks.HeaderVendorSignature, q.header.Get(webhooks.HeaderSignature))
	q.header.Del(webhooks.HeaderSignature)
	recvAssertStatus(t, q.serve(h), http.StatusNoContent)
	if calls.count() != 1 {
		t.Fatalf("callback called %d times, want 1", calls.count())
	}
}

func TestReceiverRefusals(t *testing.T) {
	errCallback := errors.New("database unavailable")
	tests := []struct {
		name   string
		change func(t *testing.T, q *recvReq, cfg *webhooks.ReceiverConfig, funcs *webhooks.ReceiverFuncs)
		status int
		want   error
	}{
		{
			name: "GET",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.method = http.MethodGet
			},
			status: http.StatusMethodNotAllowed, want: webhooks.ErrMethodNotAllowed,
		},
		{
			name: "missing id",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Del(webhooks.HeaderID)
			},
			status: http.StatusBadRequest, want: webhooks.ErrMissingHeaders,
		},
		{
			name: "missing timestamp",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Del(webhooks.HeaderTimestamp)
			},
			status: http.StatusBadRequest, want: webhooks.ErrMissingHeaders,
		},
		{
			name: "missing signature",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Del(webhooks.HeaderSignature)
			},
			status: http.StatusBadRequest, want: webhooks.ErrMissingHeaders,
		},
		{
			name: "malformed timestamp",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Set(webhooks.HeaderTimestamp, q.header.Get(webhooks.HeaderTimestamp)+"s")
			},
			status: http.StatusBadRequest, want: webhooks.ErrInvalidTimestamp,
		},
		{
			name: "too old",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.sign(t, recvID, recvNow.Add(-webhooks.DefaultTolerance-time.Second), recvOldSecret)
			},
			status: http.StatusUnauthorized, want: webhooks.ErrTimestampTooOld,
		},
		{
			name: "too new",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.sign(t, recvID, recvNow.Add(webhooks.DefaultTolerance+time.Second), recvOldSecret)
			},
			status: http.StatusUnauthorized, want: webhooks.ErrTimestampTooNew,
		},
		{
			name: "too old for a custom tolerance",
			change: func(t *testing.T, q *recvReq, cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				cfg.Tolerance = 30 * time.Second
				q.sign(t, recvID, recvNow.Add(-31*time.Second), recvOldSecret)
			},
			status: http.StatusUnauthorized, want: webhooks.ErrTimestampTooOld,
		},
		{
			name: "wrong secret",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.sign(t, recvID, recvNow, recvUnknownSecret)
			},
			status: http.StatusUnauthorized, want: webhooks.ErrNoMatchingSignature,
		},
		{
			name: "tampered body",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.body = bytes.Replace(q.body, []byte("mtg_42"), []byte("mtg_43"), 1)
			},
			status: http.StatusUnauthorized, want: webhooks.ErrNoMatchingSignature,
		},
		{
			name: "tampered id",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Set(webhooks.HeaderID, recvID+"x")
			},
			status: http.StatusUnauthorized, want: webhooks.ErrNoMatchingSignature,
		},
		{
			name: "body over the limit",
			change: func(t *testing.T, q *recvReq, cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				cfg.MaxBodyBytes = int64(len(q.body) - 1)
			},
			status: http.StatusRequestEntityTooLarge, want: webhooks.ErrBodyTooLarge,
		},
		{
			name: "chunked body over the limit",
			change: func(t *testing.T, q *recvReq, cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				cfg.MaxBodyBytes = int64(len(q.body) - 1)
				q.chunked = true
			},
			status: http.StatusRequestEntityTooLarge, want: webhooks.ErrBodyTooLarge,
		},
		{
			name: "unknown event type",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Set(webhooks.HeaderEvent, "meeting_exploded")
			},
			status: http.StatusBadRequest, want: webhooks.ErrUnknownEventType,
		},
		{
			name: "unknown event type beats the default",
			change: func(t *testing.T, q *recvReq, cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				cfg.EventType = webhooks.MeetingStatusChangedEvent
				q.header.Set(webhooks.HeaderEvent, "meeting_exploded")
			},
			status: http.StatusBadRequest, want: webhooks.ErrUnknownEventType,
		},
		{
			name: "no event type at all",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Del(webhooks.HeaderEvent)
			},
			status: http.StatusBadRequest, want: webhooks.ErrUnknownEventType,
		},
		{
			name: "invalid payload",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.body = []byte(`{"meetingId":"mtg_42","status":"meeting_exploded"}`)
				q.sign(t, recvID, recvNow, recvOldSecret)
			},
			status: http.StatusUnprocessableEntity, want: webhooks.ErrInvalidPayload,
		},
		{
			name: "missing payload field",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.body = []byte(`{"status":"meeting_created"}`)
				q.sign(t, recvID, recvNow, recvOldSecret)
			},
			status: http.StatusUnprocessableEntity, want: webhooks.ErrMissingField,
		},
		{
			name: "body not JSON",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.body = []byte(`meetingId=mtg_42`)
				q.sign(t, recvID, recvNow, recvOldSecret)
			},
			status: http.StatusUnprocessableEntity, want: webhooks.ErrInvalidPayload,
		},
		{
			name: "payload of another type",
			change: func(t *testing.T, q *recvReq, _ *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
				q.header.Set(webhooks.HeaderEvent, string(webhooks.MeetingNoteStatusChangedEvent))
			},
			status: http.StatusUnprocessableEntity, want: webhooks.ErrInvalidPayload,
		},
		{
			name: "no callback for the type",
			change: func(t *testing.T, _ *recvReq, _ *webhooks.ReceiverConfig, funcs *webhooks.ReceiverFuncs) {
				funcs.OnMeetingStatusChanged = nil
			},
			status: http.StatusNotFound, want: webhooks.ErrNoHandler,
		},
		{
			name: "callback error",
			change: func(t *testing.T, _ *recvReq, _ *webhooks.ReceiverConfig, funcs *webhooks.ReceiverFuncs) {
				funcs.OnMeetingStatusChanged = func(context.Context, webhooks.MeetingStatusChanged) error { return errCallback }
			},
			status: http.StatusInternalServerError, want: errCallback,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs recvErrors
			var calls recvCalls
			q := recvValidReq(t)
			cfg := recvValidConfig(&errs)
			funcs := calls.funcs()
			tt.change(t, &q, &cfg, &funcs)
			h := recvNewReceiver(t, cfg, funcs)

			resp := q.serve(h)
			recvAssertStatus(t, resp, tt.status)
			got := errs.all()
			if len(got) != 1 {
				t.Fatalf("OnError called %d times, want once: %v", len(got), got)
			}
			if !errors.Is(got[0], tt.want) {
				t.Errorf("OnError(%v), want an error matching %v", got[0], tt.want)
			}
			if calls.count() != 0 {
				t.Errorf("callback called %d times for a refused request", calls.count())
			}
			if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestReceiverRefusalSentinels(t *testing.T) {
	// The sentinels a receiver adds are distinct from one another and from
	// those it reports from a Verifier and from DecodeEvent.
	var errs recvErrors
	var calls recvCalls
	calls.fail = errors.New("boom")
	h := recvNewReceiver(t, recvValidConfig(&errs), calls.funcs())
	recvAssertStatus(t, recvValidReq(t).serve(h), http.StatusInternalServerError)
	err := errs.all()[0]
	if !errors.Is(err, webhooks.ErrHandlerFailed) || !errors.Is(err, calls.fail) {
		t.Errorf("OnError(%v), want ErrHandlerFailed wrapping the callback's error", err)
	}
	for _, other := range []error{webhooks.ErrNoHandler, webhooks.ErrInvalidPayload, webhooks.ErrBodyTooLarge, webhooks.ErrNoMatchingSignature} {
		if errors.Is(err, other) {
			t.Errorf("OnError(%v) also matches %v", err, other)
		}
	}
}

// TestReceiverCallbackErrorIsAlways500 gives the callback errors that wrap
// the sentinels of refusals (a callback that forwards the event to another
// signed endpoint may return one): the answer is still 500, so the sender
// retries, not a 4xx that a sender may not retry.
func TestReceiverCallbackErrorIsAlways500(t *testing.T) {
	for _, cause := range []error{webhooks.ErrMethodNotAllowed, webhooks.ErrBodyTooLarge, webhooks.ErrMissingHeaders,
		webhooks.ErrInvalidTimestamp, webhooks.ErrTimestampTooOld, webhooks.ErrNoMatchingSignature,
		webhooks.ErrUnknownEventType, webhooks.ErrInvalidPayload, webhooks.ErrNoHandler, context.Canceled} {
		var errs recvErrors
		var calls recvCalls
		calls.fail = fmt.Errorf("forwarding to the CRM: %w", cause)
		h := recvNewReceiver(t, recvValidConfig(&errs), calls.funcs())
		if code := recvValidReq(t).serve(h).StatusCode; code != http.StatusInternalServerError {
			t.Errorf("callback error wrapping %q: status %d, want 500", cause, code)
		}
	}
}

func TestReceiverDefaultEventType(t *testing.T) {
	note, err := webhooks.SampleEvent(webhooks.MeetingNoteStatusChangedEvent)
	if err != nil {
		t.Fatal(err)
	}
	signal, err := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header string
		event  webhooks.Event
	}{
		{"header absent", "", note},
		{"header wins", string(webhooks.CommercialSignalDetectedEvent), signal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls recvCalls
			cfg := recvValidConfig(&recvErrors{})
			cfg.EventType = webhooks.MeetingNoteStatusChangedEvent
			h := recvNewReceiver(t, cfg, calls.funcs())
			q := recvValidReq(t)
			q.body = recvMarshal(t, tt.event)
			q.header.Del(webhooks.HeaderEvent)
			if tt.header != "" {
				q.header.Set(webhooks.HeaderEvent, tt.header)
			}
			q.sign(t, recvID, recvNow, recvOldSecret)
			recvAssertStatus(t, q.serve(h), http.StatusNoContent)
			if calls.count() != 1 || !reflect.DeepEqual(calls.events[0], tt.event) {
				t.Fatalf("events = %#v, want %#v", calls.events, tt.event)
			}
		})
	}
}

func TestReceiverDedupe(t *testing.T) {
	var errs recvErrors
	var calls recvCalls
	cfg := recvValidConfig(&errs)
	cfg.DedupeSize = 2
	h := recvNewReceiver(t, cfg, calls.funcs())
	send := func(id string, want int) {
		t.Helper()
		q := recvValidReq(t)
		q.sign(t, id, recvNow, recvOldSecret)
		recvAssertStatus(t, q.serve(h), want)
	}

	send("a", http.StatusNoContent)
	send("a", http.StatusOK) // retried by the sender: not handled again
	if calls.count() != 1 {
		t.Fatalf("callback called %d times, want 1", calls.count())
	}

	calls.fail = errors.New("try again")
	send("b", http.StatusInternalServerError)
	calls.fail = nil
	send("b", http.StatusNoContent) // a failure is not remembered
	send("b", http.StatusOK)
	if calls.count() != 3 {
		t.Fatalf("callback called %d times, want 3", calls.count())
	}

	send("c", http.StatusNoContent) // the set holds 2 ids: "a" is forgotten
	send("a", http.StatusNoContent)
	send("c", http.StatusOK)
	if calls.count() != 5 {
		t.Fatalf("callback called %d times, want 5", calls.count())
	}
	if got := errs.all(); len(got) != 1 || !errors.Is(got[0], webhooks.ErrHandlerFailed) {
		t.Errorf("OnError got %v, want only the callback failure", got)
	}
}

func TestReceiverDedupeRefusedRequestsAreNotRemembered(t *testing.T) {
	var calls recvCalls
	cfg := recvValidConfig(&recvErrors{})
	cfg.DedupeSize = 10
	h := recvNewReceiver(t, cfg, calls.funcs())

	// A forged request reusing a real id must not poison the id.
	forged := recvValidReq(t)
	forged.sign(t, recvID, recvNow, recvUnknownSecret)
	recvAssertStatus(t, forged.serve(h), http.StatusUnauthorized)
	// Nor may an invalid payload under a valid signature.
	invalid := recvValidReq(t)
	invalid.body = []byte(`{}`)
	invalid.sign(t, recvID, recvNow, recvOldSecret)
	recvAssertStatus(t, invalid.serve(h), http.StatusUnprocessableEntity)

	recvAssertStatus(t, recvValidReq(t).serve(h), http.StatusNoContent)
	if calls.count() != 1 {
		t.Fatalf("callback called %d times, want 1", calls.count())
	}
}

func TestReceiverDedupeConcurrentDuplicates(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		t.Run("first fails "+strconv.FormatBool(firstFails), func(t *testing.T) {
			entered := make(chan struct{})
			release := make(chan struct{})
			var calls atomic.Int32
			funcs := webhooks.ReceiverFuncs{
				OnMeetingStatusChanged: func(ctx context.Context, e webhooks.MeetingStatusChanged) error {
					if calls.Add(1) == 1 {
						close(entered)
						<-release
						if firstFails {
							return errors.New("first attempt fails")
						}
					}
					return nil
				},
			}
			cfg := recvValidConfig(&recvErrors{})
			cfg.DedupeSize = 10
			h := recvNewReceiver(t, cfg, funcs)

			first := make(chan *http.Response)
			q1, q2 := recvValidReq(t), recvValidReq(t)
			go func() { first <- q1.serve(h) }()
			<-entered

			// A duplicate whose context ends while the first is in flight
			// gives up without reaching the callback.
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			q := recvValidReq(t)
			q.ctx = cancelled
			recvAssertStatus(t, q.serve(h), http.StatusServiceUnavailable)

			second := make(chan *http.Response)
			go func() { second <- q2.serve(h) }()
			// Give the duplicate time to start waiting for the first. The
			// outcome is the same if it arrives after the first is done.
			time.Sleep(50 * time.Millisecond)
			close(release)

			want1, want2, wantCalls := http.StatusNoContent, http.StatusOK, int32(1)
			if firstFails {
				want1, want2, wantCalls = http.StatusInternalServerError, http.StatusNoContent, 2
			}
			recvAssertStatus(t, <-first, want1)
			recvAssertStatus(t, <-second, want2)
			if got := calls.Load(); got != wantCalls {
				t.Errorf("callback called %d times, want %d", got, wantCalls)
			}
		})
	}
}

func TestReceiverDedupeWaitingReportsContext(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var errs recvErrors
	cfg := recvValidConfig(&errs)
	cfg.DedupeSize = 1
	h, err := webhooks.VerifyRequests(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	first := recvValidReq(t)
	go func() {
		defer close(done)
		first.serve(h)
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	q := recvValidReq(t)
	q.ctx = ctx
	recvAssertStatus(t, q.serve(h), http.StatusServiceUnavailable)
	close(release)
	<-done
	if got := errs.all(); len(got) != 1 || !errors.Is(got[0], context.DeadlineExceeded) {
		t.Errorf("OnError got %v, want one error matching context.DeadlineExceeded", got)
	}
}

func TestVerifyRequests(t *testing.T) {
	var got struct {
		verified webhooks.Verified
		ok       bool
		body     []byte
		length   int64
	}
	h, err := webhooks.VerifyRequests(recvValidConfig(&recvErrors{}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.verified, got.ok = webhooks.VerifiedFromContext(r.Context())
		got.body, _ = io.ReadAll(r.Body)
		got.length = r.ContentLength
		w.WriteHeader(http.StatusAccepted)
	}))
	if err != nil {
		t.Fatal(err)
	}
	q := recvValidReq(t)
	q.chunked = true
	recvAssertStatus(t, q.serve(h), http.StatusAccepted)
	if !got.ok {
		t.Fatal("VerifiedFromContext found nothing")
	}
	want := webhooks.Verified{ID: recvID, Timestamp: recvNow, EventType: webhooks.MeetingStatusChangedEvent, Body: q.body}
	if !reflect.DeepEqual(got.verified, want) {
		t.Errorf("Verified = %+v, want %+v", got.verified, want)
	}
	if !bytes.Equal(got.body, q.body) || got.length != int64(len(q.body)) {
		t.Errorf("next read %q (ContentLength %d), want %q", got.body, got.length, q.body)
	}
}

func TestVerifyRequestsUnknownEventTypeReachesNext(t *testing.T) {
	var got webhooks.Verified
	h, err := webhooks.VerifyRequests(recvValidConfig(&recvErrors{}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = webhooks.VerifiedFromContext(r.Context())
	}))
	if err != nil {
		t.Fatal(err)
	}
	q := recvValidReq(t)
	q.header.Set(webhooks.HeaderEvent, "meeting_exploded")
	recvAssertStatus(t, q.serve(h), http.StatusOK)
	if got.ID != recvID || got.EventType != "" {
		t.Errorf("Verified = %+v, want ID %q and no event type", got, recvID)
	}
	if _, err := webhooks.DecodeVerified(got); !errors.Is(err, webhooks.ErrUnknownEventType) {
		t.Errorf("DecodeVerified = %v, want ErrUnknownEventType", err)
	}
}

func TestVerifyRequestsDedupeFollowsNextStatus(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(w http.ResponseWriter)
		remember bool
	}{
		{"nothing written", func(http.ResponseWriter) {}, true},
		{"body only", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok") }, true},
		{"202", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }, true},
		{"flushed", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, true},
		{"103 then 204", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		}, true},
		{"503", func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }, false},
		{"302", func(w http.ResponseWriter) { w.WriteHeader(http.StatusFound) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			cfg := recvValidConfig(&recvErrors{})
			cfg.DedupeSize = 1
			h, err := webhooks.VerifyRequests(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tt.answer(w)
			}))
			if err != nil {
				t.Fatal(err)
			}
			recvValidReq(t).serve(h)
			second := recvValidReq(t).serve(h)
			wantCalls := int32(2)
			if tt.remember {
				wantCalls = 1
				recvAssertStatus(t, second, http.StatusOK)
			}
			if got := calls.Load(); got != wantCalls {
				t.Errorf("next called %d times, want %d", got, wantCalls)
			}
		})
	}
}

func TestVerifyRequestsPanicReleasesDuplicates(t *testing.T) {
	var calls atomic.Int32
	cfg := recvValidConfig(&recvErrors{})
	cfg.DedupeSize = 1
	h, err := webhooks.VerifyRequests(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			panic(http.ErrAbortHandler)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the handler's panic did not propagate")
			}
		}()
		recvValidReq(t).serve(h)
	}()
	recvAssertStatus(t, recvValidReq(t).serve(h), http.StatusOK)
	if calls.Load() != 2 {
		t.Errorf("next called %d times, want 2", calls.Load())
	}
}

func TestVerifiedFromContextEmpty(t *testing.T) {
	if v, ok := webhooks.VerifiedFromContext(context.Background()); ok {
		t.Errorf("VerifiedFromContext(Background) = %+v, true", v)
	}
}

func TestDecodeVerified(t *testing.T) {
	want, err := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if err != nil {
		t.Fatal(err)
	}
	v := webhooks.Verified{ID: recvID, Timestamp: recvNow, EventType: webhooks.CommercialSignalDetectedEvent, Body: recvMarshal(t, want)}
	got, err := webhooks.DecodeVerified(v)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeVerified = %#v, %v; want %#v", got, err, want)
	}
	v.EventType = ""
	if _, err := webhooks.DecodeVerified(v); !errors.Is(err, webhooks.ErrUnknownEventType) {
		t.Errorf("DecodeVerified without a type = %v, want ErrUnknownEventType", err)
	}
	v.EventType = webhooks.MeetingStatusChangedEvent
	if _, err := webhooks.DecodeVerified(v); !errors.Is(err, webhooks.ErrInvalidPayload) {
		t.Errorf("DecodeVerified of another type = %v, want ErrInvalidPayload", err)
	}
}

func TestReceiverInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(cfg *webhooks.ReceiverConfig, funcs *webhooks.ReceiverFuncs)
		want   error
	}{
		{"no secrets", func(cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) { cfg.Secrets = nil }, webhooks.ErrInvalidSecret},
		{"invalid secret", func(cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) {
			cfg.Secrets = append(cfg.Secrets, "whsec_short")
		}, webhooks.ErrInvalidSecret},
		{"negative tolerance", func(cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) { cfg.Tolerance = -time.Second }, webhooks.ErrInvalidTolerance},
		{"negative body limit", func(cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) { cfg.MaxBodyBytes = -1 }, nil},
		{"negative dedupe size", func(cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) { cfg.DedupeSize = -1 }, nil},
		{"unknown event type", func(cfg *webhooks.ReceiverConfig, _ *webhooks.ReceiverFuncs) { cfg.EventType = "meeting" }, webhooks.ErrUnknownEventType},
		{"no callback", func(_ *webhooks.ReceiverConfig, funcs *webhooks.ReceiverFuncs) { *funcs = webhooks.ReceiverFuncs{} }, nil},
		{"no callback for the default type", func(cfg *webhooks.ReceiverConfig, funcs *webhooks.ReceiverFuncs) {
			cfg.EventType = webhooks.CommercialSignalDetectedEvent
			funcs.OnCommercialSignalDetected = nil
		}, nil},
	}
	valid := func() (webhooks.ReceiverConfig, webhooks.ReceiverFuncs) {
		var calls recvCalls
		return recvValidConfig(&recvErrors{}), calls.funcs()
	}
	cfg, funcs := valid()
	if _, err := webhooks.NewReceiver(cfg, funcs); err != nil {
		t.Fatalf("NewReceiver(valid) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, funcs := valid()
			tt.change(&cfg, &funcs)
			h, err := webhooks.NewReceiver(cfg, funcs)
			if h != nil || !errors.Is(err, webhooks.ErrInvalidReceiverConfig) {
				t.Fatalf("NewReceiver = %v, %v; want ErrInvalidReceiverConfig", h, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("NewReceiver error %v does not match %v", err, tt.want)
			}
			for _, s := range cfg.Secrets {
				if strings.Contains(err.Error(), strings.TrimPrefix(s, webhooks.SecretPrefix)) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestVerifyRequestsInvalidConfig(t *testing.T) {
	next := http.NotFoundHandler()
	if _, err := webhooks.VerifyRequests(recvValidConfig(&recvErrors{}), next); err != nil {
		t.Fatalf("VerifyRequests(valid) = %v", err)
	}
	if _, err := webhooks.VerifyRequests(recvValidConfig(&recvErrors{}), nil); !errors.Is(err, webhooks.ErrInvalidReceiverConfig) {
		t.Errorf("VerifyRequests(nil next) = %v, want ErrInvalidReceiverConfig", err)
	}
	// Every problem is reported at once.
	_, err := webhooks.VerifyRequests(webhooks.ReceiverConfig{Tolerance: -1, MaxBodyBytes: -1}, next)
	if !errors.Is(err, webhooks.ErrInvalidSecret) || !errors.Is(err, webhooks.ErrInvalidTolerance) {
		t.Errorf("VerifyRequests = %v, want both ErrInvalidSecret and ErrInvalidTolerance", err)
	}
}

func TestReceiverOverHTTP(t *testing.T) {
	var errs recvErrors
	var calls recvCalls
	cfg := recvValidConfig(&errs)
	cfg.Now = nil // the real clock, as the sender's
	cfg.MaxBodyBytes = 1024
	srv := httptest.NewServer(recvNewReceiver(t, cfg, calls.funcs()))
	defer srv.Close()

	post := func(body []byte, ts time.Time) *http.Response {
		t.Helper()
		q := recvValidReq(t)
		q.body = body
		q.sign(t, recvID, ts, recvOldSecret)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = q.header
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := recvMarshal(t, webhooks.MeetingStatusChanged{MeetingID: "mtg_7", Status: webhooks.MeetingCreated})
	recvAssertStatus(t, post(body, time.Now()), http.StatusNoContent)

	large := append(bytes.Repeat([]byte(" "), 1024), body...) // valid JSON, over the limit
	recvAssertStatus(t, post(large, time.Now()), http.StatusRequestEntityTooLarge)
	if calls.count() != 1 {
		t.Errorf("callback called %d times, want 1", calls.count())
	}
	if got := errs.all(); len(got) != 1 || !errors.Is(got[0], webhooks.ErrBodyTooLarge) {
		t.Errorf("OnError got %v, want ErrBodyTooLarge", got)
	}
}

func TestReceiverConcurrentUse(t *testing.T) {
	var calls recvCalls
	cfg := recvValidConfig(&recvErrors{})
	cfg.DedupeSize = 8
	h := recvNewReceiver(t, cfg, calls.funcs())
	const workers, ids = 8, 32
	reqs := make([]recvReq, ids)
	for i := range reqs {
		reqs[i] = recvValidReq(t)
		reqs[i].sign(t, "evt_"+strconv.Itoa(i), recvNow, recvOldSecret)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range ids {
				if code := reqs[(i+w)%ids].serve(h).StatusCode; code != http.StatusNoContent && code != http.StatusOK {
					t.Errorf("status %d", code)
				}
			}
		})
	}
	wg.Wait()
	if n := calls.count(); n < ids || n > workers*ids {
		t.Errorf("callback called %d times, want between %d and %d", n, ids, workers*ids)
	}
}
