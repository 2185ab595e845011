package webhooks_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/webhooks"
)

// slowRetries is a service whose deliveries wait 400 ms between attempts,
// long enough for a test to change the webhook in between.
func slowRetries(t *testing.T, http2 bool) *webhooks.Service {
	return engService(t, webhooks.Config{DisableAfter: -1, Sender: webhooks.SenderConfig{
		RetryWaitMin: 400 * time.Millisecond, RetryWaitMax: 400 * time.Millisecond, MaxRetries: 3, HTTP2: http2,
	}})
}

// betweenAttempts publishes an event and returns once its first attempt
// has been answered, while the delivery waits for its retry.
func betweenAttempts(t *testing.T, s *webhooks.Service, hits *engHits) {
	t.Helper()
	if err := s.Publish(t.Context(), engEvent); err != nil {
		t.Fatal(err)
	}
	for len(hits.all()) == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
}

// after returns the requests received after ts.
func after(hits *engHits, ts time.Time) []engReq {
	var out []engReq
	for _, r := range hits.all() {
		if r.at.After(ts) {
			out = append(out, r)
		}
	}
	return out
}

// A change to a webhook holds for every attempt made after it returns,
// those of deliveries already retrying included: Delete and Disable end
// them as skipped, and an Update or a rotation sends the next attempt to
// the new URL, with the new headers and signatures.
func TestRetriesFollowTheWebhook(t *testing.T) {
	senderTransports(t, func(t *testing.T, http2 bool) {
		for _, tc := range []struct {
			name string
			says string // in the record's Error
			stop func(s *webhooks.Service, id string) error
		}{
			{"delete", "the webhook was deleted", func(s *webhooks.Service, id string) error { return s.Delete(t.Context(), id) }},
			{"disable", "webhook disabled: paused by the customer", func(s *webhooks.Service, id string) error {
				_, err := s.Disable(t.Context(), id, "paused by the customer")
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := slowRetries(t, http2)
				srv, hits := engServer(t, statusHandler(500))
				w := engCreate(t, s, "stopped", srv.URL, webhooks.MeetingStatusChangedEvent)
				betweenAttempts(t, s, hits)
				if err := tc.stop(s, w.ID); err != nil {
					t.Fatal(err)
				}
				stopped := time.Now()
				recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
				if n := len(after(hits, stopped)); n > 0 {
					t.Errorf("%d requests after %s returned", n, tc.name)
				}
				if recs[0].Outcome != webhooks.OutcomeSkipped || recs[0].Attempts != 1 {
					t.Errorf("outcome %s after %d attempts, want skipped after 1", recs[0].Outcome, recs[0].Attempts)
				}
				if !strings.Contains(recs[0].Error, tc.says) {
					t.Errorf("error %q does not say %q", recs[0].Error, tc.says)
				}
			})
		}

		t.Run("update", func(t *testing.T) {
			s := slowRetries(t, http2)
			old, oldHits := engServer(t, statusHandler(500))
			fresh, freshHits := engServer(t, statusHandler(204))
			w := engCreate(t, s, "moving", old.URL, webhooks.MeetingStatusChangedEvent)
			betweenAttempts(t, s, oldHits)
			newSecret, err := webhooks.GenerateSecret()
			if err != nil {
				t.Fatal(err)
			}
			w.URL, w.Secret, w.PreviousSecrets = fresh.URL, newSecret, nil
			w.Headers = map[string]string{"Authorization": "Bearer new"}
			if _, err := s.Update(t.Context(), w); err != nil {
				t.Fatal(err)
			}
			updated := time.Now()
			recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
			if n := len(after(oldHits, updated)); n > 0 {
				t.Errorf("the old URL got %d requests after Update returned", n)
			}
			got := freshHits.all()
			if recs[0].Outcome != webhooks.OutcomeDelivered || recs[0].Attempts != 2 || len(got) != 1 {
				t.Fatalf("outcome %s after %d attempts, %d at the new URL; want delivered at the second, there", recs[0].Outcome, recs[0].Attempts, len(got))
			}
			v, err := webhooks.NewVerifier([]string{newSecret}, webhooks.VerifierConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(got[0].header, got[0].body); err != nil {
				t.Errorf("the attempt after Update is not signed with the new secret: %v", err)
			}
			if a := got[0].header.Get("Authorization"); a != "Bearer new" {
				t.Errorf("Authorization %q, want the updated header", a)
			}
		})

		t.Run("rotate", func(t *testing.T) {
			s := slowRetries(t, http2)
			srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.WriteHeader(500)
					return
				}
				w.WriteHeader(204)
			})
			w := engCreate(t, s, "rotating", srv.URL, webhooks.MeetingStatusChangedEvent)
			betweenAttempts(t, s, hits)
			rotated, err := s.RotateSecret(t.Context(), w.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
			got := hits.all()
			for _, secret := range []string{w.Secret, rotated.Secret} {
				v, err := webhooks.NewVerifier([]string{secret}, webhooks.VerifierConfig{})
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Verify(got[1].header, got[1].body); err != nil {
					t.Errorf("the attempt after RotateSecret does not verify with the %s secret: %v", map[bool]string{true: "old", false: "new"}[secret == w.Secret], err)
				}
			}
		})
	})
}

// Deliveries queued before an Update moved the webhook to another event
// type are skipped: its receiver no longer expects those events.
func TestQueuedDeliveriesOfAnotherTypeAreSkipped(t *testing.T) {
	s := engService(t, webhooks.Config{Workers: 1, MaxConcurrencyPerWebhook: 1})
	release := make(chan struct{})
	srv, hits := engServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			<-release
		}
		w.WriteHeader(204)
	})
	w := engCreate(t, s, "retyped", srv.URL, webhooks.MeetingStatusChangedEvent)
	publish(t, s, 3) // one in flight, two queued
	for len(hits.all()) == 0 {
		time.Sleep(time.Millisecond)
	}
	w.EventType, w.Secret = webhooks.MeetingNoteStatusChangedEvent, ""
	if _, err := s.Update(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	close(release)
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 3)
	skipped, _ := s.Log().Deliveries(t.Context(), webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeSkipped})
	if n := len(hits.all()); n != 1 || len(skipped) != 2 {
		t.Errorf("after the webhook moved to %s, its receiver got %d requests (want 1) and %d deliveries were skipped (want 2)",
			webhooks.MeetingNoteStatusChangedEvent, n, len(skipped))
	}
}

// The deliver span of a delivery that an Update sent to the webhook's new
// version between two attempts is named after, and describes, that
// version.
func TestDeliverSpanDescribesTheWebhookDeliveredTo(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := engService(t, webhooks.Config{DisableAfter: -1, TracerProvider: tp, Sender: webhooks.SenderConfig{
		RetryWaitMin: 300 * time.Millisecond, RetryWaitMax: 300 * time.Millisecond, MaxRetries: 2}})
	old, oldHits := engServer(t, statusHandler(500))
	fresh, _ := engServer(t, statusHandler(204))
	w := engCreate(t, s, "old name", old.URL, webhooks.MeetingStatusChangedEvent)
	betweenAttempts(t, s, oldHits)
	w.URL, w.Name, w.Secret = fresh.URL, "new name", ""
	if _, err := s.Update(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID, Outcome: webhooks.OutcomeDelivered}, 1)
	found := false
	for _, sp := range rec.Ended() {
		if sp.SpanKind() != trace.SpanKindInternal {
			continue
		}
		found = true
		if sp.Name() != "deliver new name" {
			t.Errorf("deliver span named %q, want %q", sp.Name(), "deliver new name")
		}
		for _, a := range sp.Attributes() {
			if a.Key == "hookbus.webhook.name" && a.Value.AsString() != "new name" {
				t.Errorf("hookbus.webhook.name %q, want %q", a.Value.AsString(), "new name")
			}
		}
	}
	if !found {
		t.Error("no deliver span ended")
	}
}
