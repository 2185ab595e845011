package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

// outageLog is a MemoryLog whose first failures writes of outcomes fail, as
// a database log's do while the database is down or its connection drops:
// before writing or, when written is set, after.
type outageLog struct {
	*webhooks.MemoryLog
	failures atomic.Int64 // writes still to fail
	failed   atomic.Int64
	tries    atomic.Int64
	written  bool
}

var errOutage = errors.New("log storage unavailable")

func (l *outageLog) write(write func() error) error {
	l.tries.Add(1)
	if l.failures.Add(-1) < 0 {
		return write()
	}
	l.failed.Add(1)
	if l.written {
		_ = write()
	}
	return errOutage
}

func (l *outageLog) RecordDelivery(ctx context.Context, d webhooks.DeliveryRecord) error {
	return l.write(func() error { return l.MemoryLog.RecordDelivery(ctx, d) })
}

func (l *outageLog) RecordOutcome(ctx context.Context, last webhooks.Attempt, d webhooks.DeliveryRecord) error {
	return l.write(func() error { return l.MemoryLog.RecordOutcome(ctx, last, d) })
}

// On a broker an event is acknowledged only once its outcomes are on
// record: an outcome the log failed to write, on every try, sends the event
// back to the bus, whose retry delivers it again and records it.
func TestBrokerRedeliversEventWhoseOutcomeWasNotRecorded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request, int)
		outcome webhooks.Outcome
	}{
		{"delivered", statusHandler(204), webhooks.OutcomeDelivered},
		{"dead-lettered", statusHandler(500), webhooks.OutcomeDeadLettered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pubsub := engBroker{gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)}
			b, err := bus.New(bus.Config{Publisher: pubsub, Subscriber: pubsub,
				Retry: bus.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			log := &outageLog{MemoryLog: webhooks.NewMemoryLog(0)}
			const tries = 4 // the write and its three new tries
			log.failures.Store(tries)
			s, err := webhooks.New(b, webhooks.Config{Log: log, Sender: webhooks.SenderConfig{
				AllowHTTP: true, AllowAddresses: engLoopback, MaxRetries: -1,
			}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			srv, hits := engServer(t, tc.handler)
			engCreate(t, s, "hook", srv.URL, webhooks.MeetingStatusChangedEvent)

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := s.Publish(ctx, engEvent); err != nil {
				t.Fatalf("Publish = %v", err)
			}
			if log.failed.Load() != tries {
				t.Fatalf("the log failed %d writes, want %d", log.failed.Load(), tries)
			}
			recs, err := log.Deliveries(t.Context(), webhooks.DeliveryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Outcome != tc.outcome {
				t.Fatalf("at acknowledgement the log holds %+v, want one %s delivery", recs, tc.outcome)
			}
			if got := hits.all(); len(got) != 2 || got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
				t.Errorf("receiver got %d requests, want the event twice under one webhook-id", len(got))
			}
		})
	}
}

// A webhook created under the id of a deleted one gets its deliveries.
func TestWebhookRecreatedUnderDeletedID(t *testing.T) {
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, statusHandler(204))
	w := webhooks.Webhook{ID: "wh_customer_42", Name: "crm", URL: srv.URL, EventType: webhooks.MeetingStatusChangedEvent}
	if _, err := s.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	if err := s.Delete(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 2)
	for _, r := range recs {
		if r.Outcome != webhooks.OutcomeDelivered {
			t.Errorf("delivery %s: outcome %s (%s), want delivered", r.ID, r.Outcome, r.Error)
		}
	}
	if n := len(hits.all()); n != 2 {
		t.Errorf("receiver got %d requests, want 2", n)
	}
}

// A hook that panics is logged and skipped: the worker goes on delivering.
func TestPanickingHooksDoNotStopDeliveries(t *testing.T) {
	var deadLetters, disabled atomic.Int64
	s := engService(t, webhooks.Config{
		Sender:       webhooks.SenderConfig{MaxRetries: -1},
		DisableAfter: 1,
		OnDeadLetter: func(webhooks.DeadLetterParams) { deadLetters.Add(1); panic("OnDeadLetter bug") },
		OnDisabled:   func(webhooks.DisabledParams) { disabled.Add(1); panic("OnDisabled bug") },
	})
	failing, _ := engServer(t, statusHandler(500))
	healthy, _ := engServer(t, statusHandler(204))
	bad := engCreate(t, s, "failing", failing.URL, webhooks.MeetingStatusChangedEvent)
	good := engCreate(t, s, "healthy", healthy.URL, webhooks.MeetingStatusChangedEvent)
	for range 3 {
		if err := s.Publish(t.Context(), engEvent); err != nil {
			t.Fatal(err)
		}
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: good.ID, Outcome: webhooks.OutcomeDelivered}, 3)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: bad.ID}, 3)
	// Deliveries in flight when the first dead letter disables the webhook
	// can be dead-lettered too.
	if !engEventually(func() bool { return deadLetters.Load() >= 1 && disabled.Load() == 1 }) {
		t.Errorf("hooks called: OnDeadLetter %d, OnDisabled %d; want at least 1 and 1", deadLetters.Load(), disabled.Load())
	}
	if w, err := s.Get(t.Context(), bad.ID); err != nil || !w.Disabled {
		t.Errorf("failing webhook after a panicking OnDisabled: disabled=%v, %v", w.Disabled, err)
	}
}

// Without an SDK, a trace context the publisher carries (sampled out here)
// still reaches the receiver, and on every attempt.
func TestUnsampledTraceContextReachesReceiver(t *testing.T) {
	s := engService(t, webhooks.Config{Sender: webhooks.SenderConfig{MaxRetries: 1}})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.WriteHeader(map[bool]int{true: 503, false: 204}[n == 1])
	})
	engCreate(t, s, "hook", srv.URL, webhooks.MeetingStatusChangedEvent)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{9}, Remote: true})
	if err := s.Publish(trace.ContextWithRemoteSpanContext(t.Context(), sc), engEvent); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered}, 1)
	got := hits.all()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	for i, r := range got {
		tp := r.header.Values("Traceparent")
		if len(tp) != 1 || !strings.HasPrefix(tp[0], "00-"+sc.TraceID().String()+"-") || !strings.HasSuffix(tp[0], "-00") {
			t.Errorf("attempt %d: traceparent %q, want one in trace %s, not sampled", i+1, tp, sc.TraceID())
		}
	}
}

// The meeting payloads encode exactly as encoding/json encodes their fields.
func TestMeetingPayloadsMarshalAsTheirFields(t *testing.T) {
	type plainStatus struct {
		MeetingID string `json:"meetingId"`
		Status    string `json:"status"`
	}
	type plainNote struct {
		MeetingNoteID string `json:"meetingNoteId"`
		MeetingID     string `json:"meetingId"`
		Status        string `json:"status"`
	}
	for _, id := range []string{"m-42", "", `quote " back \ slash`, "<b>&amp;</b>", "tab\tnl\nnul\x00", "caf\xc3\xa9 \u2028 \xff"} {
		got, err := json.Marshal(webhooks.MeetingStatusChanged{MeetingID: id, Status: webhooks.MeetingSummaryDone})
		want, _ := json.Marshal(plainStatus{id, string(webhooks.MeetingSummaryDone)})
		if err != nil || string(got) != string(want) {
			t.Errorf("MeetingStatusChanged{%q}: %s, %v; want %s", id, got, err, want)
		}
		got, err = json.Marshal(webhooks.MeetingNoteStatusChanged{MeetingNoteID: id, MeetingID: id + "x", Status: webhooks.MeetingNoteCreated})
		want, _ = json.Marshal(plainNote{id, id + "x", string(webhooks.MeetingNoteCreated)})
		if err != nil || string(got) != string(want) {
			t.Errorf("MeetingNoteStatusChanged{%q}: %s, %v; want %s", id, got, err, want)
		}
	}
	if _, err := json.Marshal(webhooks.MeetingStatusChanged{MeetingID: "m", Status: "done?"}); err == nil {
		t.Error("a status outside the contract was encoded")
	}
}

// hostEvent is how a host gives the bus its own event id: a payload
// embedded in a type of its own, whose other fields are its business.
type hostEvent struct {
	webhooks.MeetingStatusChanged
	TenantID string
}

func (e hostEvent) EventID() string { return "evt-" + e.TenantID }

// A type that embeds a payload sends exactly the payload: its own fields
// do not reach the receiver, while its event id does.
func TestEmbeddingTypeSendsOnlyThePayload(t *testing.T) {
	s := engService(t, webhooks.Config{})
	srv, hits := engServer(t, statusHandler(204))
	engCreate(t, s, "hook", srv.URL, webhooks.MeetingStatusChangedEvent)
	e := hostEvent{webhooks.MeetingStatusChanged{MeetingID: "m", Status: webhooks.MeetingCreated}, "tenant-7"}
	if err := s.Publish(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{Outcome: webhooks.OutcomeDelivered}, 1)
	got := hits.all()
	if len(got) != 1 || string(got[0].body) != `{"meetingId":"m","status":"meeting_created"}` || got[0].header.Get("webhook-id") != "evt-tenant-7" {
		t.Fatalf("receiver got %d requests; body %s, webhook-id %q", len(got), got[0].body, got[0].header.Get("webhook-id"))
	}
}
