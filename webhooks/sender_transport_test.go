package webhooks_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// transportSend sends an empty JSON object to url with a sender on the
// chosen transport (two retries, millisecond backoff) and returns the
// result, the error and every attempt.
func transportSend(t *testing.T, http2 bool, url string, timeout time.Duration) (webhooks.SendResult, []webhooks.Attempt, error) {
	t.Helper()
	s, err := webhooks.NewSender(webhooks.SenderConfig{
		AllowHTTP: true, AllowAddresses: engLoopback, HTTP2: http2, Timeout: timeout,
		MaxRetries: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	tg, err := webhooks.NewTarget(webhooks.Webhook{ID: "wh_1", URL: url, Secret: secret, EventType: webhooks.MeetingStatusChangedEvent}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var attempts []webhooks.Attempt
	res, err := s.Send(t.Context(), webhooks.SendRequest{Target: tg, EventID: "evt_1", DeliveryID: "dlv_1", Payload: []byte("{}"),
		OnAttempt: func(a webhooks.Attempt) { attempts = append(attempts, a) }})
	return res, attempts, err
}

// A receiver whose certificate is not trusted is tried once: retrying
// cannot make it trusted.
func TestSenderUntrustedCertificateNotRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	srv.Config.ErrorLog = nil
	senderTransports(t, func(t *testing.T, http2 bool) {
		_, attempts, err := transportSend(t, http2, srv.URL, time.Second)
		if err == nil {
			t.Fatal("Send to an untrusted certificate succeeded")
		}
		if len(attempts) != 1 || !strings.Contains(attempts[0].Error, "certificate") {
			t.Errorf("%d attempts (first: %+v), want 1 naming the certificate", len(attempts), attempts)
		}
	})
}

// The per-attempt timeout also bounds a response body that trickles in: the
// receiver's 2xx counts, and the attempt ends at the timeout.
func TestSenderSlowResponseBodyBoundedByTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		for range 100 {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	senderTransports(t, func(t *testing.T, http2 bool) {
		start := time.Now()
		res, attempts, err := transportSend(t, http2, srv.URL, timeout)
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Errorf("Send took %v with a %v timeout", elapsed, timeout)
		}
		if err != nil || res.StatusCode != http.StatusOK || len(attempts) != 1 {
			t.Errorf("Send = %+v, %v after %d attempts; want the 200 at the first", res, err, len(attempts))
		}
	})
}

// A timed-out attempt is logged as a timeout, without the sender's own
// address and port (tenants may read the log).
func TestSenderTimeoutErrorText(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	senderTransports(t, func(t *testing.T, http2 bool) {
		_, attempts, err := transportSend(t, http2, srv.URL, 200*time.Millisecond)
		if err == nil || len(attempts) == 0 {
			t.Fatalf("Send = %v after %d attempts; want a timeout", err, len(attempts))
		}
		msg := attempts[0].Error
		if !strings.Contains(msg, "timed out") && !strings.Contains(msg, "deadline exceeded") {
			t.Errorf("attempt error %q does not say it timed out", msg)
		}
		if strings.Contains(msg, "->") {
			t.Errorf("attempt error %q names the sender's address", msg)
		}
	})
}
