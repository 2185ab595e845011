package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.uber.org/goleak"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/signals"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

var engLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// engService starts a service on a fresh in-memory bus. Loopback is
// allow-listed and plain http allowed unless the test sets its own.
func engService(t *testing.T, cfg webhooks.Config) *webhooks.Service {
	t.Helper()
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sender.AllowHTTP = true
	if cfg.Sender.AllowAddresses == nil {
		cfg.Sender.AllowAddresses = engLoopback
	}
	if cfg.Sender.RetryWaitMin == 0 {
		cfg.Sender.RetryWaitMin = time.Millisecond
		cfg.Sender.RetryWaitMax = 5 * time.Millisecond
	}
	s, err := webhooks.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	})
	return s
}

func engCreate(t *testing.T, s *webhooks.Service, name, url string, et webhooks.EventType) webhooks.Webhook {
	t.Helper()
	w, err := s.Create(t.Context(), webhooks.Webhook{Name: name, URL: url, EventType: et})
	if err != nil {
		t.Fatalf("Create(%s) = %v", name, err)
	}
	return w
}

// engWait polls the log until n deliveries match q.
func engWait(t *testing.T, s *webhooks.Service, q webhooks.DeliveryQuery, n int) []webhooks.DeliveryRecord {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, err := s.Log().Deliveries(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d deliveries matching %+v, have %d", n, q, len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// engEventually reports whether cond holds within 10 seconds: hooks run on
// delivery workers after the outcome they report is on record.
func engEventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// engHits records the requests a test server received.
type engHits struct {
	mu   sync.Mutex
	reqs []engReq
}

type engReq struct {
	header http.Header
	body   []byte
	at     time.Time
}

func (h *engHits) add(r *http.Request) engReq {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := engReq{header: r.Header.Clone(), body: body, at: time.Now()}
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	return req
}

func (h *engHits) all() []engReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

func engServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) (*httptest.Server, *engHits) {
	t.Helper()
	hits := &engHits{}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.add(r)
		handle(w, r, int(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func statusHandler(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

var engEvent = webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingSummaryDone}

// senderTransports runs f with each of the sender's transports: its own
// HTTP/1.1 one (the default) and net/http's (SenderConfig.HTTP2).
func senderTransports(t *testing.T, f func(t *testing.T, http2 bool)) {
	for _, http2 := range []bool{false, true} {
		name := "h1"
		if http2 {
			name = "net-http"
		}
		t.Run(name, func(t *testing.T) { f(t, http2) })
	}
}

func TestDeliverySignedRequest(t *testing.T) {
	senderTransports(t, func(t *testing.T, http2 bool) {
		s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{HTTP2: http2}})
		srv, hits := engServer(t, statusHandler(http.StatusNoContent))
		w, err := s.Create(t.Context(), webhooks.Webhook{
			Name: "CRM", URL: srv.URL + "/hooks", EventType: webhooks.MeetingStatusChangedEvent,
			Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Tenant": "acme"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(w.Secret, webhooks.SecretPrefix) {
			t.Fatalf("generated secret %q lacks the prefix", w.Secret)
		}
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
		recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
		if recs[0].Outcome != webhooks.OutcomeDelivered || recs[0].Attempts != 1 || recs[0].StatusCode != 204 {
			t.Fatalf("record = %+v", recs[0])
		}
		req := hits.all()[0]
		if got := string(req.body); got != `{"meetingId":"m-42","status":"meeting_summary_done"}` {
			t.Errorf("body = %s", got)
		}
		for k, want := range map[string]string{
			"Content-Type":    "application/json",
			"User-Agent":      "hookbus/" + webhooks.Version,
			"X-Webhook-Event": "meeting_status_changed",
			"Authorization":   "Bearer s3cret",
			"X-Tenant":        "acme",
			"Webhook-Id":      recs[0].EventID,
		} {
			if got := req.header.Get(k); got != want {
				t.Errorf("header %s = %q, want %q", k, got, want)
			}
		}
		if req.header.Get("Webhook-Signature") != req.header.Get("X-Webhook-Signature") {
			t.Errorf("X-Webhook-Signature differs from webhook-signature")
		}
		v, err := webhooks.NewVerifier([]string{w.Secret}, webhooks.VerifierConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(req.header, req.body); err != nil {
			t.Errorf("Verify = %v", err)
		}
		attempts, err := s.Log().Attempts(t.Context(), recs[0].ID)
		if err != nil || len(attempts) != 1 || attempts[0].StatusCode != 204 || attempts[0].Number != 1 {
			t.Errorf("attempts = %+v, %v", attempts, err)
		}
	})
}

func TestDeliveryRetriesThenDeadLetter(t *testing.T) {
	var dead atomic.Int64
	s := engService(t, webhooks.Config{OnDeadLetter: func(p webhooks.DeadLetterParams) {
		var de *webhooks.DeliveryError
		if errors.As(p.Err, &de) && de.StatusCode == 500 && de.Attempts == 4 {
			dead.Add(1)
		}
	}})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(500)
		io.WriteString(w, "boom")
	})
	w := engCreate(t, s, "failing", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
	if r := recs[0]; r.Outcome != webhooks.OutcomeDeadLettered || r.Attempts != 4 || r.StatusCode != 500 || len(r.Payload) == 0 {
		t.Fatalf("record = %+v", r)
	}
	if got := len(hits.all()); got != 4 {
		t.Errorf("receiver got %d requests, want 4", got)
	}
	// Hooks run after the outcome is recorded.
	if !engEventually(func() bool { return dead.Load() == 1 }) {
		t.Errorf("OnDeadLetter calls with a 4-attempt 500 DeliveryError = %d, want 1", dead.Load())
	}
	// Every attempt carries the same id, a valid signature and its own timestamp.
	v, _ := webhooks.NewVerifier([]string{w.Secret}, webhooks.VerifierConfig{})
	for i, r := range hits.all() {
		if r.header.Get("Webhook-Id") != recs[0].EventID {
			t.Errorf("attempt %d webhook-id = %q", i+1, r.header.Get("Webhook-Id"))
		}
		if err := v.Verify(r.header, r.body); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	attempts, _ := s.Log().Attempts(t.Context(), recs[0].ID)
	if len(attempts) != 4 {
		t.Fatalf("logged attempts = %d, want 4", len(attempts))
	}
	for i, a := range attempts {
		if a.Number != i+1 || a.StatusCode != 500 || string(a.ResponseBody) != "boom" || a.Error == "" {
			t.Errorf("attempt %d = %+v", i+1, a)
		}
	}
}

// engClock is a clock that moves one second every time it is read, so every
// attempt gets its own timestamp without waiting.
type engClock struct{ n atomic.Int64 }

func (c *engClock) now() time.Time {
	return time.Unix(1_800_000_000+c.n.Add(1), 0)
}

// stepClock is a clock that stands still until a test moves it.
type stepClock struct{ ns atomic.Int64 }

func newStepClock() *stepClock {
	c := &stepClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *stepClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *stepClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// heldServer is engServer answering 204, except that it holds its first
// request until release is called (at the latest when the test ends).
func heldServer(t *testing.T) (srv *httptest.Server, hits *engHits, release func()) {
	t.Helper()
	gate := make(chan struct{})
	release = sync.OnceFunc(func() { close(gate) })
	srv, hits = engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			<-gate
		}
		w.WriteHeader(204)
	})
	t.Cleanup(release) // before engServer's Close, which waits for the held request
	return srv, hits, release
}

func TestDeliveryFreshTimestampPerAttempt(t *testing.T) {
	clock := &engClock{}
	s := engService(t, webhooks.Config{Now: clock.now})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	w := engCreate(t, s, "flaky", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	reqs := hits.all()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3", len(reqs))
	}
	seen := map[string]bool{}
	for i, r := range reqs {
		ts := r.header.Get("Webhook-Timestamp")
		if seen[ts] {
			t.Errorf("attempt %d reuses timestamp %s", i+1, ts)
		}
		seen[ts] = true
		v, _ := webhooks.NewVerifier([]string{w.Secret}, webhooks.VerifierConfig{Now: func() time.Time {
			return time.Unix(1_800_000_000, 0)
		}})
		if err := v.Verify(r.header, r.body); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
}

func TestDeliveryGoneDisables(t *testing.T) {
	var disabled atomic.Value
	s := engService(t, webhooks.Config{OnDisabled: func(p webhooks.DisabledParams) { disabled.Store(p.Reason) }})
	srv, hits := engServer(t, statusHandler(http.StatusGone))
	w := engCreate(t, s, "gone", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
	if recs[0].Outcome != webhooks.OutcomeDeadLettered || recs[0].Attempts != 1 || recs[0].StatusCode != 410 {
		t.Fatalf("record = %+v", recs[0])
	}
	if !engEventually(func() bool { got, _ := disabled.Load().(string); return got == webhooks.DisabledGone }) {
		t.Fatalf("OnDisabled reason = %q", disabled.Load())
	}
	got, err := s.Get(t.Context(), w.ID)
	if err != nil || !got.Disabled || got.DisabledReason != webhooks.DisabledGone {
		t.Fatalf("webhook after 410 = %+v, %v", got, err)
	}
	// The next event is recorded as skipped, not sent.
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 1)
	if n := len(hits.all()); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
}

func TestDeliveryConsecutiveFailuresDisable(t *testing.T) {
	var calls atomic.Int64
	s := engService(t, webhooks.Config{
		DisableAfter: 3,
		Sender:       webhooks.SenderConfig{MaxRetries: -1},
		OnDisabled: func(p webhooks.DisabledParams) {
			if p.Reason == webhooks.DisabledFailing {
				calls.Add(1)
			}
		},
	})
	srv, _ := engServer(t, statusHandler(500))
	w := engCreate(t, s, "failing", srv.URL, webhooks.MeetingStatusChangedEvent)
	for i := range 3 {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, i+1)
	}
	engEventually(func() bool { return calls.Load() == 1 })
	got, _ := s.Get(t.Context(), w.ID)
	if !got.Disabled || calls.Load() != 1 {
		t.Fatalf("after 3 dead letters: disabled=%v, OnDisabled calls=%d", got.Disabled, calls.Load())
	}
	if _, err := s.Enable(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(t.Context(), w.ID)
	if got.Disabled {
		t.Fatal("Enable left the webhook disabled")
	}
}

func TestDeliveryTimeoutCutsAttempt(t *testing.T) {
	senderTransports(t, func(t *testing.T, http2 bool) {
		const timeout = 300 * time.Millisecond
		s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{Timeout: timeout, MaxRetries: -1, HTTP2: http2}})
		release := make(chan struct{})
		srv, _ := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		w := engCreate(t, s, "hanging", srv.URL, webhooks.MeetingStatusChangedEvent)
		start := time.Now()
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
		recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
		elapsed := time.Since(start)
		if recs[0].Outcome != webhooks.OutcomeDeadLettered || recs[0].Attempts != 1 || recs[0].StatusCode != 0 {
			t.Fatalf("record = %+v", recs[0])
		}
		if elapsed < timeout || elapsed > timeout+2*time.Second {
			t.Errorf("attempt took %v, want about %v", elapsed, timeout)
		}
		attempts, _ := s.Log().Attempts(t.Context(), recs[0].ID)
		if len(attempts) != 1 || attempts[0].Duration < timeout || attempts[0].Error == "" {
			t.Errorf("attempts = %+v", attempts)
		}
	})
}

func TestDeliveryRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter func() string
		waitMax    time.Duration
		minGap     time.Duration
		maxGap     time.Duration
	}{
		{"honoured", func() string { return "1" }, 5 * time.Second, 900 * time.Millisecond, 3 * time.Second},
		{"capped", func() string { return "3600" }, 300 * time.Millisecond, 250 * time.Millisecond, 2 * time.Second},
		{"beyond int64, capped", func() string { return "99999999999999999999" }, 300 * time.Millisecond, 250 * time.Millisecond, 2 * time.Second},
		{"http date", func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, 5 * time.Second, time.Second, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{
				RetryWaitMin: time.Millisecond, RetryWaitMax: tc.waitMax, MaxRetries: 1,
			}})
			srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.retryAfter())
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(200)
			})
			w := engCreate(t, s, "limited", srv.URL, webhooks.MeetingStatusChangedEvent)
			if err := s.Publish(t.Context(), engEvent); err != nil {
				t.Fatal(err)
			}
			engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
			reqs := hits.all()
			if len(reqs) != 2 {
				t.Fatalf("requests = %d", len(reqs))
			}
			if gap := reqs[1].at.Sub(reqs[0].at); gap < tc.minGap || gap > tc.maxGap {
				t.Errorf("gap between attempts = %v, want %v..%v", gap, tc.minGap, tc.maxGap)
			}
		})
	}
}

func TestDeliveryRedirectIsFailure(t *testing.T) {
	target, targetHits := engServer(t, statusHandler(200))
	s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{MaxRetries: 1}})
	srv, hits := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	w := engCreate(t, s, "redirecting", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
	if recs[0].Outcome != webhooks.OutcomeDeadLettered || recs[0].StatusCode != 307 || recs[0].Attempts != 2 {
		t.Fatalf("record = %+v", recs[0])
	}
	if len(hits.all()) != 2 || len(targetHits.all()) != 0 {
		t.Errorf("redirecting server got %d, target got %d", len(hits.all()), len(targetHits.all()))
	}
}

func TestDeliveryReservedHeadersRefused(t *testing.T) {
	s := engService(t, webhooks.Config{})
	for _, name := range []string{"webhook-id", "Webhook-Signature", "X-Webhook-Event", "content-type", "Traceparent", "User-Agent", "Host"} {
		_, err := s.Create(t.Context(), webhooks.Webhook{
			Name: "x", URL: "https://example.com/h", EventType: webhooks.MeetingStatusChangedEvent,
			Headers: map[string]string{name: "v"},
		})
		if !errors.Is(err, webhooks.ErrHeaderReserved) {
			t.Errorf("header %s: err = %v, want ErrHeaderReserved", name, err)
		}
	}
}

// paddedIDEvent is a meeting event whose host gave it an id of its own.
type paddedIDEvent struct {
	webhooks.MeetingStatusChanged
	id string
}

func (e paddedIDEvent) EventID() string { return e.id }

// An event id that would not reach the receiver as it was signed (trimmed,
// or refused by the transport) is refused before anything is sent.
func TestInvalidEventIDRefused(t *testing.T) {
	bad := []string{"order-42 ", " order-42", "order\t42 ", "order\n42", "order\x7f42"}
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "meetings", srv.URL, webhooks.MeetingStatusChangedEvent)
	for _, id := range bad {
		if err := s.Publish(t.Context(), paddedIDEvent{engEvent, id}); !errors.Is(err, bus.ErrInvalidEvent) {
			t.Errorf("Publish with id %q = %v, want bus.ErrInvalidEvent", id, err)
		}
	}
	for _, http2 := range []bool{false, true} {
		sender, err := webhooks.NewSender(webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback, HTTP2: http2})
		if err != nil {
			t.Fatal(err)
		}
		tg, err := webhooks.NewTarget(w, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range append(bad, "") {
			_, err := sender.Send(t.Context(), webhooks.SendRequest{Target: tg, EventID: id, Payload: []byte("{}")})
			var de *webhooks.DeliveryError
			if !errors.Is(err, webhooks.ErrInvalidEventID) || !errors.As(err, &de) || de.Attempts != 0 {
				t.Errorf("HTTP2 %t: Send with id %q = %v, want a DeliveryError with no attempt wrapping ErrInvalidEventID", http2, id, err)
			}
		}
		_ = sender.Close()
	}
	if n := len(hits.all()); n != 0 {
		t.Errorf("the receiver got %d requests, want none", n)
	}
	// The same id without the space is delivered, and verifies.
	if err := s.Publish(t.Context(), paddedIDEvent{engEvent, "order-42"}); err != nil {
		t.Fatal(err)
	}
	if rec := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)[0]; rec.Outcome != webhooks.OutcomeDelivered || rec.EventID != "order-42" {
		t.Errorf("record = %s of %q, want delivered order-42", rec.Outcome, rec.EventID)
	}
}

func TestDeliveryPayloadLimit(t *testing.T) {
	const limit = 300
	s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{MaxPayloadBytes: limit}})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "signals", srv.URL, webhooks.CommercialSignalDetectedEvent)
	signal := func(size int) webhooks.CommercialSignalDetected {
		e := webhooks.CommercialSignalDetected{
			Code: signals.BuyingIntent, Category: signals.Positive, ActivityType: signals.ActivityCall,
			ActivityID: "a-1", ChangeType: signals.ChangeNew,
		}
		base, _ := e.MarshalJSON()
		e.Description = strings.Repeat("x", size-len(base))
		if b, _ := e.MarshalJSON(); len(b) != size {
			t.Fatalf("built a %d-byte payload, want %d", len(b), size)
		}
		return e
	}
	over := signal(limit + 1)
	if err := s.Publish(t.Context(), over); !errors.Is(err, webhooks.ErrPayloadTooLarge) {
		t.Fatalf("Publish(limit+1) = %v, want ErrPayloadTooLarge", err)
	}
	// Published on the bus directly, it is refused at dispatch and recorded.
	b := s.Bus()
	if err := b.Publish(t.Context(), over); err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeRefused}, 1)
	if !strings.Contains(recs[0].Error, "too large") || len(recs[0].Payload) != limit+1 {
		t.Errorf("refused record = %+v", recs[0])
	}
	if err := s.Publish(t.Context(), signal(limit)); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	reqs := hits.all()
	if len(reqs) != 1 || len(reqs[0].body) != limit {
		t.Fatalf("receiver got %d requests (first %d bytes), want one of %d bytes", len(reqs), len(reqs[0].body), limit)
	}
}

func TestDeliverySSRF(t *testing.T) {
	srv, hits := engServer(t, statusHandler(204))
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, tc := range []struct {
		url  string
		rule string
	}{
		{srv.URL, "loopback"},
		{"http://localhost" + port, "loopback"},
		{"http://10.1.2.3" + port, "private"},
		{"http://192.168.0.10" + port, "private"},
		{"http://169.254.169.254/latest/meta-data", "cloud-metadata"},
		{"http://169.254.10.10" + port, "link-local"},
		{"http://100.64.0.1" + port, "cgnat"},
		{"http://[::1]" + port, "loopback"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			store := webhooks.NewMemoryStore()
			s := engService(t, webhooks.Config{Store: store, Sender: webhooks.SenderConfig{AllowAddresses: []netip.Prefix{}}})
			// Create refuses the address at once...
			_, err := s.Create(t.Context(), webhooks.Webhook{Name: "internal", URL: tc.url, EventType: webhooks.MeetingStatusChangedEvent})
			var blocked *webhooks.AddressBlockedError
			if !errors.Is(err, webhooks.ErrAddressBlocked) || !errors.As(err, &blocked) || string(blocked.Rule) != tc.rule {
				t.Errorf("Create = %v, want ErrAddressBlocked by rule %s", err, tc.rule)
			}
			// ...and the sender refuses it still in a webhook stored
			// otherwise (by a replica allowing it, say).
			w := storeWebhook(t, store, "internal", tc.url)
			if err := s.Publish(t.Context(), engEvent); err != nil {
				t.Fatal(err)
			}
			recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
			if recs[0].Outcome != webhooks.OutcomeDeadLettered || recs[0].Attempts != 1 {
				t.Fatalf("record = %+v", recs[0])
			}
			if !strings.Contains(recs[0].Error, "("+tc.rule) {
				t.Errorf("error %q does not name rule %s", recs[0].Error, tc.rule)
			}
		})
	}
	if n := len(hits.all()); n != 0 {
		t.Fatalf("a refused address was reached %d times", n)
	}
	t.Run("allow-listed", func(t *testing.T) {
		s := engService(t, webhooks.Config{})
		w := engCreate(t, s, "local", srv.URL, webhooks.MeetingStatusChangedEvent)
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	})
	t.Run("allow-listed host", func(t *testing.T) {
		s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{AllowAddresses: []netip.Prefix{}, AllowHosts: []string{"localhost"}}})
		w := engCreate(t, s, "local", "http://localhost"+port, webhooks.MeetingStatusChangedEvent)
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	})
}

func TestDeliveryRedeliverAfterRecovery(t *testing.T) {
	var healthy atomic.Bool
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		if healthy.Load() {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(502)
	})
	w := engCreate(t, s, "recovering", srv.URL, webhooks.MeetingStatusChangedEvent)
	for range 3 {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
	dead := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 3)
	healthy.Store(true)
	id, err := s.Redeliver(t.Context(), dead[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	rec, err := s.Log().Delivery(t.Context(), id)
	if err != nil || rec.Outcome != webhooks.OutcomeDelivered || rec.RedeliveryOf != dead[0].ID || rec.EventID != dead[0].EventID {
		t.Fatalf("redelivery = %+v, %v", rec, err)
	}
	if last := hits.all()[len(hits.all())-1]; last.header.Get("Webhook-Id") != dead[0].EventID {
		t.Errorf("redelivery webhook-id = %q, want the original %q", last.header.Get("Webhook-Id"), dead[0].EventID)
	}
	// The other two in one call; the one already repaired is not sent again.
	ids, err := s.RedeliverFailed(t.Context(), w.ID, time.Time{})
	if err != nil || len(ids) != 2 {
		t.Fatalf("RedeliverFailed = %v, %v; want 2 ids", ids, err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 3)
	if _, err := s.Redeliver(t.Context(), id); !errors.Is(err, webhooks.ErrNotRedeliverable) {
		t.Errorf("Redeliver(delivered) = %v, want ErrNotRedeliverable", err)
	}
	// A mistyped id is an error, not nothing to redeliver.
	for _, unknown := range []string{"wh_nope", ""} {
		if ids, err := s.RedeliverFailed(t.Context(), unknown, time.Time{}); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("RedeliverFailed(%q) = %v, %v; want ErrNotFound", unknown, ids, err)
		}
	}
	if _, err := s.Disable(t.Context(), w.ID, "paused"); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.RedeliverFailed(t.Context(), w.ID, time.Time{}); !errors.Is(err, webhooks.ErrWebhookDisabled) {
		t.Errorf("RedeliverFailed of a disabled webhook = %v, %v; want ErrWebhookDisabled", ids, err)
	}
}

func TestDeliverySecretRotation(t *testing.T) {
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "rotating", srv.URL, webhooks.MeetingStatusChangedEvent)
	rotated, err := s.RotateSecret(t.Context(), w.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == w.Secret || len(rotated.PreviousSecrets) != 1 || rotated.PreviousSecrets[0].Secret != w.Secret {
		t.Fatalf("rotated = %+v", rotated)
	}
	if d := time.Until(rotated.PreviousSecrets[0].ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("previous secret expires in %v, want the 24 h default", d)
	}
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	req := hits.all()[0]
	if n := len(strings.Fields(req.header.Get("Webhook-Signature"))); n != 2 {
		t.Errorf("signatures = %d, want 2", n)
	}
	for _, secret := range []string{w.Secret, rotated.Secret} {
		v, _ := webhooks.NewVerifier([]string{secret}, webhooks.VerifierConfig{})
		if err := v.Verify(req.header, req.body); err != nil {
			t.Errorf("verify with one of the secrets: %v", err)
		}
	}
}

// TestRotationStopsAtMaxPreviousSecrets rotates until the signatures fill
// what a receiver reads: every secret still signs in a way a receiver
// holding only it accepts, and one more rotation is refused, changing
// nothing, rather than pushing a valid signature out of reach.
func TestRotationStopsAtMaxPreviousSecrets(t *testing.T) {
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, statusHandler(204))
	w := engCreate(t, s, "rotating", srv.URL, webhooks.MeetingStatusChangedEvent)
	secrets := []string{w.Secret}
	for range webhooks.MaxPreviousSecrets {
		var err error
		if w, err = s.RotateSecret(t.Context(), w.ID, ""); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, w.Secret)
	}
	if _, err := s.RotateSecret(t.Context(), w.ID, ""); !errors.Is(err, webhooks.ErrTooManySecrets) {
		t.Fatalf("rotation past MaxPreviousSecrets: %v, want ErrTooManySecrets", err)
	}
	if got, err := s.Get(t.Context(), w.ID); err != nil || got.Secret != w.Secret || len(got.PreviousSecrets) != webhooks.MaxPreviousSecrets {
		t.Fatalf("after the refused rotation: %d previous secrets, secret changed %v, %v", len(got.PreviousSecrets), got.Secret != w.Secret, err)
	}
	// A new secret set through Update brings its own previous secrets.
	fresh, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	w.Secret, w.PreviousSecrets = fresh, append(w.PreviousSecrets, w.PreviousSecrets[0])
	if _, err := s.Update(t.Context(), w); !errors.Is(err, webhooks.ErrTooManySecrets) {
		t.Errorf("Update with %d previous secrets: %v, want ErrTooManySecrets", len(w.PreviousSecrets), err)
	}
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	req := hits.all()[0]
	for i, secret := range secrets {
		v, _ := webhooks.NewVerifier([]string{secret}, webhooks.VerifierConfig{})
		if err := v.Verify(req.header, req.body); err != nil {
			t.Errorf("a receiver holding secret %d of %d: %v", i+1, len(secrets), err)
		}
	}
}

// TestUpdateDropsExpiredSecrets stores a webhook with more previous
// secrets than MaxPreviousSecrets, all expired (as a store written some
// other way may hold): Update drops them rather than refuse the webhook.
func TestUpdateDropsExpiredSecrets(t *testing.T) {
	store := webhooks.NewMemoryStore()
	s := engService(t, webhooks.Config{Store: store})
	w := engCreate(t, s, "rotated long ago", "http://127.0.0.1:1/hooks", webhooks.MeetingStatusChangedEvent)
	stored, err := store.Get(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range webhooks.MaxPreviousSecrets + 1 {
		stored.PreviousSecrets = append(stored.PreviousSecrets, webhooks.PreviousSecret{Secret: w.Secret, ExpiresAt: time.Now().Add(-time.Hour)})
	}
	if err := store.Update(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	stored.Name = "renamed"
	stored.Secret = "" // keep the secrets
	got, err := s.Update(t.Context(), stored)
	if err != nil || got.Name != "renamed" || len(got.PreviousSecrets) != 0 {
		t.Fatalf("Update = %d previous secrets, %v; want the expired ones dropped", len(got.PreviousSecrets), err)
	}
}

func TestSendTestEvent(t *testing.T) {
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, statusHandler(202))
	w := engCreate(t, s, "signals", srv.URL, webhooks.CommercialSignalDetectedEvent)
	res, err := s.SendTestEvent(t.Context(), w.ID)
	if err != nil || res.StatusCode != 202 || res.Attempts != 1 {
		t.Fatalf("SendTestEvent = %+v, %v", res, err)
	}
	req := hits.all()[0]
	if _, err := webhooks.DecodeEvent(webhooks.CommercialSignalDetectedEvent, req.body); err != nil {
		t.Errorf("sample payload does not decode: %v", err)
	}
	bad, _ := engServer(t, statusHandler(500))
	w2 := engCreate(t, s, "broken", bad.URL, webhooks.CommercialSignalDetectedEvent)
	_, err = s.SendTestEvent(t.Context(), w2.ID)
	var de *webhooks.DeliveryError
	if !errors.As(err, &de) || de.StatusCode != 500 || de.Attempts != 1 {
		t.Fatalf("SendTestEvent(500) = %v, want a one-attempt DeliveryError", err)
	}
}

type testSendResult struct {
	res webhooks.SendResult
	err error
}

// startTestSend calls SendTestEvent in a goroutine and waits until its
// request has reached the receiver, which has closed arrived.
func startTestSend(t *testing.T, s *webhooks.Service, id string, arrived <-chan struct{}) <-chan testSendResult {
	t.Helper()
	sent := make(chan testSendResult, 1)
	go func() {
		res, err := s.SendTestEvent(context.Background(), id)
		sent <- testSendResult{res, err}
	}()
	select {
	case <-arrived:
	case r := <-sent:
		t.Fatalf("SendTestEvent = %+v, %v before its request arrived", r.res, r.err)
	}
	return sent
}

// engUnstarted returns a service of cfg, not started, on a new in-memory
// bus (s.Bus()).
func engUnstarted(t *testing.T, cfg webhooks.Config) *webhooks.Service {
	t.Helper()
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A Start that failed (here, its context had ended) can be tried again.
func TestStartAgainAfterAFailure(t *testing.T) {
	s := engUnstarted(t, webhooks.Config{})
	defer func() { _ = s.Shutdown(context.Background()) }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Start(ctx); err == nil {
		t.Fatal("Start with an ended context = nil, want its error")
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start again = %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start once started = %v", err)
	}
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Errorf("Publish after the second Start = %v", err)
	}
}

// Publish on a bus that has been shut down (by the host, or by a Shutdown
// that began after Publish checked) reports the service's ErrClosed too.
func TestPublishOnAClosedBus(t *testing.T) {
	s := engService(t, webhooks.Config{})
	if err := s.Bus().Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := s.Publish(t.Context(), engEvent)
	if !errors.Is(err, webhooks.ErrClosed) || !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish = %v, want webhooks.ErrClosed and bus.ErrClosed", err)
	}
}

// An Inline handler's error that wraps bus.ErrClosed (a bus of its own,
// closed) is the handler's: the service is not closed.
func TestPublishInlineErrorIsNotErrClosed(t *testing.T) {
	other, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = bus.HandleRaw(b, "audit", string(webhooks.MeetingStatusChangedEvent), func(ctx context.Context, _ bus.Message) error {
		return other.Publish(ctx, engEvent)
	}, bus.Inline())
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, webhooks.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Shutdown(context.Background()) }()
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	err = s.Publish(t.Context(), engEvent)
	if !errors.Is(err, bus.ErrInlineHandler) || errors.Is(err, webhooks.ErrClosed) {
		t.Errorf("Publish = %v, want the Inline handler's error, not webhooks.ErrClosed", err)
	}
}

func TestShutdownWaitsForSendTestEvent(t *testing.T) {
	s := engService(t, webhooks.Config{})
	arrived, release := make(chan struct{}), make(chan struct{})
	srv, _ := engServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		close(arrived)
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	w := engCreate(t, s, "slow", srv.URL, webhooks.CommercialSignalDetectedEvent)
	sent := startTestSend(t, s, w.ID, arrived)

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		close(release)
		t.Fatalf("Shutdown = %v while a test send was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := s.SendTestEvent(context.Background(), w.ID); !errors.Is(err, webhooks.ErrClosed) {
		t.Errorf("SendTestEvent during Shutdown = %v, want ErrClosed", err)
	}
	close(release)
	if r := <-sent; r.err != nil || r.res.StatusCode != http.StatusNoContent {
		t.Errorf("SendTestEvent = %+v, %v, want its 204", r.res, r.err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

func TestShutdownCancelsSendTestEvent(t *testing.T) {
	s := engService(t, webhooks.Config{})
	arrived := make(chan struct{})
	srv, _ := engServer(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		close(arrived)
		<-r.Context().Done()
	})
	w := engCreate(t, s, "hanging", srv.URL, webhooks.CommercialSignalDetectedEvent)
	sent := startTestSend(t, s, w.ID, arrived)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v; a test send cut off loses no delivery", err)
	}
	// Cancelled by Shutdown, it returns at once rather than at the
	// attempt's timeout (10 s).
	select {
	case r := <-sent:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("SendTestEvent = %+v, %v, want it cancelled", r.res, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SendTestEvent still running 2 s after Shutdown returned")
	}
}

// engRecorded is a host's own domain event, translated into webhook events.
type engRecorded struct {
	MeetingID string `json:"meetingId"`
	Notes     int    `json:"notes"`
}

func (engRecorded) EventName() string { return "billing.meeting_recorded" }

func TestTranslate(t *testing.T) {
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, webhooks.Config{Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback}})
	if err != nil {
		t.Fatal(err)
	}
	err = webhooks.Translate(s, "billing-to-webhooks", func(_ context.Context, e engRecorded) ([]webhooks.Event, error) {
		out := []webhooks.Event{webhooks.MeetingStatusChanged{MeetingID: e.MeetingID, Status: webhooks.MeetingNotesDone}}
		for i := range e.Notes {
			out = append(out, webhooks.MeetingNoteStatusChanged{MeetingNoteID: fmt.Sprintf("n-%d", i), MeetingID: e.MeetingID, Status: webhooks.MeetingNoteCreated})
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	srv, hits := engServer(t, statusHandler(204))
	engCreate(t, s, "meetings", srv.URL, webhooks.MeetingStatusChangedEvent)
	engCreate(t, s, "notes", srv.URL, webhooks.MeetingNoteStatusChangedEvent)
	if err := b.Publish(t.Context(), engRecorded{MeetingID: "m-7", Notes: 2}); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered}, 3)
	ids := map[string]bool{}
	for _, r := range hits.all() {
		ids[r.header.Get("Webhook-Id")] = true
	}
	if len(ids) != 3 {
		t.Errorf("distinct webhook-ids = %d, want 3", len(ids))
	}
}

// TestDeliveryIsolation checks that a webhook whose receiver hangs does not
// hold back a healthy webhook of the same event type, even once the hanging
// one's queue is full: after its first attempt times out, its overflow is
// recorded as undelivered instead of stalling the dispatcher.
func TestDeliveryIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("isolation measurement takes a few seconds")
	}
	const (
		timeout  = 300 * time.Millisecond
		warmup   = 150 // events published before measuring: past the first timeout
		measured = 200
	)
	measure := func(withHang bool) (p99 time.Duration, overflowed int) {
		s := engService(t, webhooks.Config{
			Workers: 8, MaxConcurrencyPerWebhook: 4, QueueSize: 8, DisableAfter: -1,
			Sender: webhooks.SenderConfig{Timeout: timeout, MaxRetries: -1},
		})
		release := make(chan struct{})
		defer close(release)
		hang, _ := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		var mu sync.Mutex
		var lat []time.Duration
		healthy, _ := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			var e struct{ MeetingID string }
			body, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(body, &e)
			if sent, err := time.Parse(time.RFC3339Nano, e.MeetingID); err == nil {
				mu.Lock()
				lat = append(lat, time.Since(sent))
				mu.Unlock()
			}
			w.WriteHeader(204)
		})
		h := engCreate(t, s, "healthy", healthy.URL, webhooks.MeetingStatusChangedEvent)
		var hung webhooks.Webhook
		if withHang {
			hung = engCreate(t, s, "hanging", hang.URL, webhooks.MeetingStatusChangedEvent)
		}
		for i := range warmup + measured {
			id := "warm-up"
			if i >= warmup {
				id = time.Now().Format(time.RFC3339Nano)
			}
			if err := s.Publish(t.Context(), webhooks.MeetingStatusChanged{MeetingID: id, Status: webhooks.MeetingCreated}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Millisecond)
		}
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: h.ID, Outcome: webhooks.OutcomeDelivered}, warmup+measured)
		if withHang {
			recs, _ := s.Log().Deliveries(t.Context(), webhooks.DeliveryQuery{WebhookID: hung.ID, Outcome: webhooks.OutcomeUndelivered})
			for _, r := range recs {
				if strings.Contains(r.Error, webhooks.ErrQueueFull.Error()) {
					overflowed++
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat[len(lat)*99/100], overflowed
	}
	alone, _ := measure(false)
	withHang, overflowed := measure(true)
	t.Logf("healthy webhook p99: alone %v, beside a hanging webhook %v; %d deliveries to the hanging one overflowed its queue", alone, withHang, overflowed)
	if overflowed == 0 {
		t.Errorf("the hanging webhook's queue never overflowed: the test did not exercise a full queue")
	}
	if withHang > 3*alone+50*time.Millisecond { // generous: a stall behind the hanging queue costs seconds
		t.Errorf("a hanging neighbour raised the healthy p99 from %v to %v", alone, withHang)
	}
}

func TestDeliveryFanOutUnderRandomFailures(t *testing.T) {
	events, hooks := 5000, 5
	if testing.Short() {
		events = 500
	}
	s := engService(t, webhooks.Config{
		Workers:      16,
		DisableAfter: -1,
		Log:          webhooks.NewMemoryLog(events * hooks),
		QueueSize:    events,
		Sender:       webhooks.SenderConfig{RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond},
	})
	var mu sync.Mutex
	delivered := map[string]int{} // webhook path + event id -> 2xx answers
	srv, _ := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if rand.IntN(100) < 30 {
			w.WriteHeader(500)
			return
		}
		mu.Lock()
		delivered[r.URL.Path+" "+r.Header.Get("Webhook-Id")]++
		mu.Unlock()
		w.WriteHeader(204)
	})
	for i := range hooks {
		engCreate(t, s, fmt.Sprintf("hook-%d", i), fmt.Sprintf("%s/h%d", srv.URL, i), webhooks.MeetingNoteStatusChangedEvent)
	}
	for i := range events {
		e := webhooks.MeetingNoteStatusChanged{MeetingNoteID: fmt.Sprintf("n-%d", i), MeetingID: "m-1", Status: webhooks.MeetingNoteUpdated}
		if err := s.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	total := events * hooks
	recs := engWait(t, s, webhooks.DeliveryQuery{}, total)
	var ok, dead int
	for _, r := range recs {
		switch r.Outcome {
		case webhooks.OutcomeDelivered:
			ok++
		case webhooks.OutcomeDeadLettered:
			dead++
		default:
			t.Errorf("unexpected outcome %+v", r)
		}
	}
	mu.Lock()
	received := len(delivered)
	mu.Unlock()
	t.Logf("%d deliveries: %d delivered, %d dead-lettered; receiver saw %d distinct (webhook, event) pairs", len(recs), ok, dead, received)
	if len(recs) != total || ok+dead != total {
		t.Fatalf("records = %d (delivered %d + dead %d), want %d", len(recs), ok, dead, total)
	}
	if received != ok {
		t.Errorf("receiver acknowledged %d pairs, log says %d delivered", received, ok)
	}
}

// A Shutdown whose context ends records what it leaves, in flight or
// queued, as undelivered, and says so: with one delivery, the one cut off
// in flight; with three, two more left queued.
func TestShutdownRecordsUndelivered(t *testing.T) {
	for _, published := range []int{1, 3} {
		t.Run(fmt.Sprint(published), func(t *testing.T) {
			testShutdownRecordsUndelivered(t, published)
		})
	}
}

func testShutdownRecordsUndelivered(t *testing.T, published int) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, err := bus.New(bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, webhooks.Config{
		Workers: 1, MaxConcurrencyPerWebhook: 1,
		Sender: webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback, Timeout: 5 * time.Second, MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	w := engCreate(t, s, "slow", srv.URL, webhooks.MeetingStatusChangedEvent)
	for range published {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = s.Shutdown(ctx)
	if !errors.Is(err, webhooks.ErrDrainIncomplete) {
		t.Fatalf("Shutdown = %v, want ErrDrainIncomplete", err)
	}
	recs, _ := s.Log().Deliveries(context.Background(), webhooks.DeliveryQuery{WebhookID: w.ID})
	if len(recs) != published {
		t.Fatalf("records after shutdown = %d, want %d", len(recs), published)
	}
	for _, r := range recs {
		if r.Outcome != webhooks.OutcomeUndelivered {
			t.Errorf("outcome = %s, want undelivered", r.Outcome)
		}
	}
	if err := s.Publish(context.Background(), engEvent); !errors.Is(err, webhooks.ErrClosed) {
		t.Errorf("Publish after Shutdown = %v, want ErrClosed", err)
	}
	if err2 := s.Shutdown(context.Background()); !errors.Is(err2, webhooks.ErrDrainIncomplete) {
		t.Errorf("second Shutdown = %v, want the first result", err2)
	}
}

// engBroker hides a GoChannel's type, so the bus treats it as a broker and
// acknowledges a message only after its handler returned. With
// BlockPublishUntilSubscriberAck, Publish returns only once that happened.
type engBroker struct{ *gochannel.GoChannel }

func TestDeliveryOnBrokerAcksAfterOutcome(t *testing.T) {
	pubsub := engBroker{gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)}
	b, err := bus.New(bus.Config{Publisher: pubsub, Subscriber: pubsub})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhooks.New(b, webhooks.Config{Sender: webhooks.SenderConfig{
		AllowHTTP: true, AllowAddresses: engLoopback, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	const delay = 300 * time.Millisecond
	slow, _ := engServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		time.Sleep(delay)
		w.WriteHeader(204)
	})
	failing, _ := engServer(t, statusHandler(500))
	engCreate(t, s, "slow", slow.URL, webhooks.MeetingStatusChangedEvent)
	engCreate(t, s, "failing", failing.URL, webhooks.MeetingStatusChangedEvent)

	start := time.Now()
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("the event was acknowledged after %v, before its slow delivery (%v) ended", took, delay)
	}
	recs, err := s.Log().Deliveries(t.Context(), webhooks.DeliveryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[webhooks.Outcome]int{}
	for _, r := range recs {
		outcomes[r.Outcome]++
	}
	if outcomes[webhooks.OutcomeDelivered] != 1 || outcomes[webhooks.OutcomeDeadLettered] != 1 {
		t.Fatalf("outcomes on record at acknowledgement = %v, want one delivered and one dead-lettered", outcomes)
	}
}

// Update, like Create, refuses a URL naming an address the sender refuses.
func TestUpdateToABlockedAddress(t *testing.T) {
	s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{AllowAddresses: []netip.Prefix{}}})
	w := engCreate(t, s, "public", "http://93.184.216.34/hooks", webhooks.MeetingStatusChangedEvent)
	w.URL = "http://192.168.1.20/hooks"
	if _, err := s.Update(t.Context(), w); !errors.Is(err, webhooks.ErrAddressBlocked) {
		t.Errorf("Update to a private address = %v, want ErrAddressBlocked", err)
	}
	if got, _ := s.Get(t.Context(), w.ID); got.URL != "http://93.184.216.34/hooks" {
		t.Errorf("URL after the refused Update: %s", got.URL)
	}
}

func TestDeliveryErrorsDoNotLeakURLTokens(t *testing.T) {
	store := webhooks.NewMemoryStore()
	s := engService(t, webhooks.Config{Store: store, Sender: webhooks.SenderConfig{AllowAddresses: []netip.Prefix{}, MaxRetries: -1}})
	const url = "https://10.0.0.1/hooks/PathSecret?token=QuerySecret"
	_, err := s.Create(t.Context(), webhooks.Webhook{Name: "tokens", URL: url, EventType: webhooks.MeetingStatusChangedEvent})
	if !errors.Is(err, webhooks.ErrAddressBlocked) || strings.Contains(err.Error(), "Secret") {
		t.Errorf("Create = %v, want ErrAddressBlocked without the URL's tokens", err)
	}
	w := storeWebhook(t, store, "tokens", url)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
	attempts, _ := s.Log().Attempts(t.Context(), recs[0].ID)
	if len(attempts) != 1 {
		t.Fatalf("attempts = %d", len(attempts))
	}
	for _, text := range []string{recs[0].Error, attempts[0].Error} {
		if strings.Contains(text, "Secret") || !strings.Contains(text, "10.0.0.1") {
			t.Errorf("error %q leaks the URL's path or query, or lost its host", text)
		}
	}
}

func TestRedeliverFailedOncePerEvent(t *testing.T) {
	s := engService(t, webhooks.Config{DisableAfter: -1, Sender: webhooks.SenderConfig{MaxRetries: -1}})
	srv, hits := engServer(t, statusHandler(503))
	w := engCreate(t, s, "down", srv.URL, webhooks.MeetingStatusChangedEvent)
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
	for round := 1; round <= 3; round++ {
		ids, err := s.RedeliverFailed(t.Context(), w.ID, time.Time{})
		if err != nil || len(ids) != 1 {
			t.Fatalf("round %d: RedeliverFailed = %v, %v; want one redelivery", round, ids, err)
		}
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDeadLettered}, 1+round)
	}
	if n := len(hits.all()); n != 4 {
		t.Errorf("receiver got %d requests, want 4 (the original and three redeliveries)", n)
	}
}

func TestDeletedWebhookIsNotSentTo(t *testing.T) {
	s := engService(t, webhooks.Config{Workers: 1, MaxConcurrencyPerWebhook: 1})
	release := make(chan struct{})
	srv, hits := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		<-release
		w.WriteHeader(204)
	})
	w := engCreate(t, s, "deleted", srv.URL, webhooks.MeetingStatusChangedEvent)
	for range 3 {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
	for len(hits.all()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	close(release)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped}, 2)
	if n := len(hits.all()); n != 1 {
		t.Errorf("receiver got %d requests after the delete, want only the one in flight", n)
	}
}

// TestDeliveryThroughScriptedRecorder drives one delivery through a
// scripted receiver: a dropped connection, a 503 with Retry-After and a 429,
// then success: four attempts of one delivery, the same webhook-id, each
// verified by the recorder.
func TestDeliveryThroughScriptedRecorder(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	rec.Script(
		webhookstest.DropConnection(),
		webhookstest.RetryAfter(http.StatusServiceUnavailable, "0"),
		webhookstest.Status(http.StatusTooManyRequests),
	)
	s := engService(t, webhooks.Config{})
	w := webhookstest.NewWebhook(webhooks.MeetingNoteStatusChangedEvent, rec.URL())
	w.ID = ""
	if _, err := s.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	note := webhooks.MeetingNoteStatusChanged{MeetingNoteID: "n-1", MeetingID: "m-42", Status: webhooks.MeetingNoteCreated}
	if err := s.Publish(t.Context(), note); err != nil {
		t.Fatal(err)
	}
	ok := rec.WaitFor(t, 1)
	reqs := rec.Requests()
	if len(reqs) != 4 {
		t.Fatalf("recorder got %d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		if r.VerifyError != nil {
			t.Errorf("attempt %d failed verification: %v", i+1, r.VerifyError)
		}
		if r.Header.Get(webhooks.HeaderID) != ok[0].Header.Get(webhooks.HeaderID) {
			t.Errorf("attempt %d has another webhook-id", i+1)
		}
	}
	if got, want := ok[0].Event, webhooks.Event(note); got != want {
		t.Errorf("recorded event = %#v, want %#v", got, want)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered}, 1)
	if recs[0].Attempts != 4 {
		t.Errorf("delivery record says %d attempts, want 4", recs[0].Attempts)
	}
}

func TestRunReturnsAfterShutdownElsewhere(t *testing.T) {
	s := engUnstarted(t, webhooks.Config{})
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	if err := s.Start(t.Context()); err != nil { // the same start as Run's: Start runs once
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		// nil when Run was waiting; ErrClosed when Shutdown won the race to
		// its start. Either way it returned.
		if err != nil && !errors.Is(err, webhooks.ErrClosed) {
			t.Errorf("Run = %v, want nil or ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
}

// TestDeliveryFullQueueBackpressure: on the in-process bus the dispatcher
// runs inside Publish, so a webhook's full queue is Publish's limit. With
// OverflowWait Publish waits for room until its context ends; with
// OverflowFail it refuses the event at once with bus.ErrFull, queueing and
// recording nothing for it, and accepts events again once there is room.
func TestDeliveryFullQueueBackpressure(t *testing.T) {
	for _, overflow := range []bus.Overflow{bus.OverflowWait, bus.OverflowFail} {
		t.Run(overflow.String(), func(t *testing.T) {
			gate := newEngGate()
			srv, hits := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				gate.wait()
				w.WriteHeader(http.StatusNoContent)
			})
			s := engStalledService(t, bus.Config{Overflow: overflow},
				webhooks.Config{Workers: 1, MaxConcurrencyPerWebhook: 1, QueueSize: 2}, gate, nil)
			w := engCreate(t, s, "stalled", srv.URL, webhooks.MeetingStatusChangedEvent)
			publish := func(ctx context.Context, id string) error {
				return s.Publish(ctx, webhooks.MeetingStatusChanged{MeetingID: id, Status: webhooks.MeetingCreated})
			}
			// One in flight, then two queued: the queue is full.
			if err := publish(t.Context(), "in-flight"); err != nil {
				t.Fatal(err)
			}
			if !engEventually(func() bool { return len(hits.all()) == 1 }) {
				t.Fatal("the first delivery never started")
			}
			for _, id := range []string{"queued-1", "queued-2"} {
				if err := publish(t.Context(), id); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			err := publish(ctx, "over")
			switch overflow {
			case bus.OverflowWait:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Publish on a full queue = %v; want it to wait until its context ends", err)
				}
			case bus.OverflowFail:
				if !errors.Is(err, bus.ErrFull) {
					t.Fatalf("Publish on a full queue = %v; want an error wrapping bus.ErrFull", err)
				}
				if ctx.Err() != nil {
					t.Fatal("Publish waited for its context to end; want an immediate refusal")
				}
			}
			gate.open()
			engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 3)
			if err := publish(t.Context(), "after"); err != nil {
				t.Fatalf("Publish once there is room = %v", err)
			}
			recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 4)
			if overflow == bus.OverflowFail && len(recs) != 4 {
				t.Errorf("%d deliveries on record; want 4: the refused event must leave no record", len(recs))
			}
		})
	}
}

// TestDeliveryOverflowFailShedsFailingWebhook: with OverflowFail, a full
// queue refuses the event only when its webhook is healthy; a failing
// webhook's full queue sheds its delivery (OutcomeUndelivered with
// ErrQueueFull) and the event still reaches every other webhook.
func TestDeliveryOverflowFailShedsFailingWebhook(t *testing.T) {
	gate := newEngGate()
	// The dead receiver fails its first request, then hangs.
	deadSrv, deadHits := engServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		gate.wait()
		w.WriteHeader(http.StatusNoContent)
	})
	healthySrv, _ := engServer(t, statusHandler(http.StatusNoContent))
	s := engStalledService(t, bus.Config{Overflow: bus.OverflowFail},
		webhooks.Config{Workers: 4, MaxConcurrencyPerWebhook: 1, QueueSize: 1}, gate, nil)
	dead := engCreate(t, s, "dead", deadSrv.URL, webhooks.MeetingStatusChangedEvent)
	healthy := engCreate(t, s, "healthy", healthySrv.URL, webhooks.MeetingStatusChangedEvent)
	published := 0
	publish := func(id string) {
		t.Helper()
		if err := s.Publish(t.Context(), webhooks.MeetingStatusChanged{MeetingID: id, Status: webhooks.MeetingCreated}); err != nil {
			t.Fatalf("Publish(%s) = %v; a failing webhook's full queue must not refuse the event", id, err)
		}
		// The healthy webhook's queue (of one) is empty again before the next.
		published++
		engWait(t, s, webhooks.DeliveryQuery{WebhookID: healthy.ID, Outcome: webhooks.OutcomeDelivered}, published)
	}
	publish("fails")
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: dead.ID, Outcome: webhooks.OutcomeDeadLettered}, 1)
	publish("hangs")
	if !engEventually(func() bool { return len(deadHits.all()) == 2 }) {
		t.Fatal("the second delivery to the dead receiver never started")
	}
	publish("queued")
	publish("shed-1")
	publish("shed-2")
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: healthy.ID, Outcome: webhooks.OutcomeDelivered}, 5)
	shed := engWait(t, s, webhooks.DeliveryQuery{WebhookID: dead.ID, Outcome: webhooks.OutcomeUndelivered}, 2)
	for _, r := range shed {
		if !strings.Contains(r.Error, webhooks.ErrQueueFull.Error()) {
			t.Errorf("shed delivery error = %q; want ErrQueueFull", r.Error)
		}
	}
}

// TestTranslateWaitsOnFullQueue: a translation runs on the bus's workers, not
// inside Publish, so a full queue makes it wait even with OverflowFail: the
// event is neither refused nor dead-lettered.
func TestTranslateWaitsOnFullQueue(t *testing.T) {
	var deadLetters atomic.Int64
	gate := newEngGate()
	srv, hits := engServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		gate.wait()
		w.WriteHeader(http.StatusNoContent)
	})
	bcfg := bus.Config{
		Overflow:     bus.OverflowFail,
		Retry:        bus.RetryPolicy{MaxRetries: 1, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
		OnDeadLetter: func(bus.DeadLetterParams) { deadLetters.Add(1) },
	}
	s := engStalledService(t, bcfg, webhooks.Config{Workers: 1, MaxConcurrencyPerWebhook: 1, QueueSize: 1}, gate, func(s *webhooks.Service) {
		err := webhooks.Translate(s, "recorded-to-webhooks", func(_ context.Context, e engRecorded) ([]webhooks.Event, error) {
			return []webhooks.Event{webhooks.MeetingStatusChanged{MeetingID: e.MeetingID, Status: webhooks.MeetingNotesDone}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	w := engCreate(t, s, "stalled", srv.URL, webhooks.MeetingStatusChangedEvent)
	for i := range 3 {
		if err := s.Bus().Publish(t.Context(), engRecorded{MeetingID: fmt.Sprintf("m-%d", i)}); err != nil {
			t.Fatal(err)
		}
		if i == 0 && !engEventually(func() bool { return len(hits.all()) == 1 }) {
			t.Fatal("the first delivery never started")
		}
	}
	time.Sleep(100 * time.Millisecond) // a refused translation would be dead-lettered by now
	if n := deadLetters.Load(); n != 0 {
		t.Fatalf("%d translations dead-lettered on a full queue; want them to wait", n)
	}
	gate.open()
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 3)
}

// engGate holds stalled receivers' requests until it opens.
type engGate struct {
	ch   chan struct{}
	once sync.Once
}

func newEngGate() *engGate { return &engGate{ch: make(chan struct{})} }

func (g *engGate) wait() { <-g.ch }

func (g *engGate) open() { g.once.Do(func() { close(g.ch) }) }

// engStalledService starts a service with a bus of bcfg, tight limits from
// cfg, loopback allowed and no retries; setup, if set, runs before Start.
// Call it after the receivers gated by gate exist: its cleanup, which opens
// the gate and shuts the service down, then runs before they close.
func engStalledService(t *testing.T, bcfg bus.Config, cfg webhooks.Config, gate *engGate, setup func(*webhooks.Service)) *webhooks.Service {
	t.Helper()
	b, err := bus.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DisableAfter = -1
	cfg.Sender = webhooks.SenderConfig{AllowHTTP: true, AllowAddresses: engLoopback, MaxRetries: -1}
	s, err := webhooks.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gate.open()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	})
	return s
}

// writeCountingLog is a MemoryLog that counts how the engine writes to it.
type writeCountingLog struct {
	*webhooks.MemoryLog
	attempts, outcomes atomic.Int64
}

func (l *writeCountingLog) RecordAttempt(ctx context.Context, a webhooks.Attempt) error {
	l.attempts.Add(1)
	return l.MemoryLog.RecordAttempt(ctx, a)
}

func (l *writeCountingLog) RecordOutcome(ctx context.Context, last webhooks.Attempt, d webhooks.DeliveryRecord) error {
	l.outcomes.Add(1)
	return l.MemoryLog.RecordOutcome(ctx, last, d)
}

// plainLog hides RecordOutcome: a DeliveryLog and nothing more.
type plainLog struct{ webhooks.DeliveryLog }

// TestDeliveryRecordsLastAttemptWithOutcome: with an OutcomeRecorder log the
// successful attempt that ends a delivery is recorded with its outcome, the
// failed ones before it as they happen; a plain DeliveryLog gets every
// attempt through RecordAttempt. Either way the log ends up the same.
func TestDeliveryRecordsLastAttemptWithOutcome(t *testing.T) {
	for _, outcomeRecorder := range []bool{true, false} {
		t.Run(fmt.Sprintf("OutcomeRecorder=%v", outcomeRecorder), func(t *testing.T) {
			counting := &writeCountingLog{MemoryLog: webhooks.NewMemoryLog(0)}
			var log webhooks.DeliveryLog = counting
			if !outcomeRecorder {
				log = plainLog{counting}
			}
			s := engService(t, webhooks.Config{Log: log})
			srv, _ := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			w := engCreate(t, s, "flaky", srv.URL, webhooks.MeetingStatusChangedEvent)
			if err := s.Publish(t.Context(), engEvent); err != nil {
				t.Fatal(err)
			}
			recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
			attempts, err := s.Log().Attempts(t.Context(), recs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts) != 2 || attempts[0].StatusCode != 503 || attempts[1].StatusCode != 204 {
				t.Fatalf("attempts on record = %+v; want the 503 then the 204", attempts)
			}
			wantAttempts, wantOutcomes := int64(1), int64(1)
			if !outcomeRecorder {
				wantAttempts, wantOutcomes = 2, 0
			}
			if a, o := counting.attempts.Load(), counting.outcomes.Load(); a != wantAttempts || o != wantOutcomes {
				t.Errorf("RecordAttempt called %d times, RecordOutcome %d; want %d and %d", a, o, wantAttempts, wantOutcomes)
			}
		})
	}
}

// storeWebhook puts a webhook to url for meeting status events straight into
// store, past the Service's checks, as another replica or an earlier
// configuration may have.
func storeWebhook(t *testing.T, store webhooks.Store, name, url string) webhooks.Webhook {
	t.Helper()
	secret, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	w := webhooks.Webhook{ID: "wh_" + name, Name: name, URL: url, EventType: webhooks.MeetingStatusChangedEvent,
		Secret: secret, CreatedAt: now, UpdatedAt: now}
	if err := store.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	return w
}
