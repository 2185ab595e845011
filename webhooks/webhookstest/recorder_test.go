package webhookstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// recOtherSecret is a valid secret the recorders below do not know.
const recOtherSecret = "whsec_aG9va2J1cyByZWNvcmRlciBvdGhlciBzaWduaW5nIGtleQ=="

// recClient returns a client that does not follow redirects and whose idle
// connections are closed when the test ends.
func recClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// recRequest returns a request posting e to url, signed with secret as the
// delivery engine signs, or unsigned when secret is empty.
func recRequest(t testing.TB, ctx context.Context, url, secret, id string, e webhooks.Event) *http.Request {
	t.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return recRawRequest(t, ctx, url, secret, id, e.EventType(), body)
}

// recRawRequest is recRequest for a body of event type et.
func recRawRequest(t testing.TB, ctx context.Context, url, secret, id string, et webhooks.EventType, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/hooks?x=1", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhooks.HeaderEvent, string(et))
	req.Header.Set(webhooks.HeaderID, id)
	if secret != "" {
		now := time.Now()
		sig, err := webhooks.Sign(secret, id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhooks.HeaderSignature, sig)
	}
	return req
}

// recSend sends req and returns the status, or fails the test.
func recSend(t testing.TB, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", req.URL, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func recSample(t testing.TB, et webhooks.EventType) webhooks.Event {
	t.Helper()
	e, err := webhooks.SampleEvent(et)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRecorderRecordsSignedRequests(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	c := recClient(t)
	var want []webhooks.Event
	for i, et := range webhooks.EventTypes() {
		e := recSample(t, et)
		want = append(want, e)
		before := time.Now()
		resp := recSend(t, c, recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_"+strconv.Itoa(i), e))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", resp.StatusCode)
		}
		got := rec.Requests()[i]
		if got.Received.Before(before.Add(-time.Second)) || got.Received.After(time.Now()) {
			t.Errorf("Received = %v, not during the request", got.Received)
		}
	}

	got := rec.WaitFor(t, 3)
	for i, r := range got {
		if r.Method != http.MethodPost || r.URL != "/hooks?x=1" || r.Status != http.StatusNoContent {
			t.Errorf("request %d: %s %s answered %d", i, r.Method, r.URL, r.Status)
		}
		if r.VerifyError != nil || r.DecodeError != nil {
			t.Errorf("request %d: VerifyError %v, DecodeError %v", i, r.VerifyError, r.DecodeError)
		}
		if r.Header.Get(webhooks.HeaderID) != "evt_"+strconv.Itoa(i) {
			t.Errorf("request %d: id %q", i, r.Header.Get(webhooks.HeaderID))
		}
		wantBody, _ := json.Marshal(want[i])
		if !bytes.Equal(r.Body, wantBody) {
			t.Errorf("request %d: body %s, want %s", i, r.Body, wantBody)
		}
	}
	if events := rec.Events(); !reflect.DeepEqual(events, want) {
		t.Errorf("Events = %#v, want %#v", events, want)
	}
}

func TestRecorderRotatedSecrets(t *testing.T) {
	rec := webhookstest.NewRecorder(t, recOtherSecret, webhookstest.Secret)
	c := recClient(t)
	e := recSample(t, webhooks.MeetingStatusChangedEvent)
	for _, secret := range []string{webhookstest.Secret, recOtherSecret} {
		if code := recSend(t, c, recRequest(t, t.Context(), rec.URL(), secret, "evt_1", e)).StatusCode; code != http.StatusNoContent {
			t.Errorf("signed with one of the secrets: status %d, want 204", code)
		}
	}
	if n := len(rec.Events()); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

func TestRecorderUnverifiedRequests(t *testing.T) {
	e := recSample(t, webhooks.MeetingStatusChangedEvent)
	tests := []struct {
		name   string
		secret string
		want   error
	}{
		{"unsigned", "", webhooks.ErrMissingHeaders},
		{"unknown secret", recOtherSecret, webhooks.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := webhookstest.NewRecorder(t)
			resp := recSend(t, recClient(t), recRequest(t, t.Context(), rec.URL(), tt.secret, "evt_1", e))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", resp.StatusCode)
			}
			got := rec.WaitRequests(t, 1)
			if len(got) != 1 || !errors.Is(got[0].VerifyError, tt.want) {
				t.Fatalf("recorded %+v, want one request with VerifyError matching %v", got, tt.want)
			}
			if got[0].Event != nil || got[0].Status != http.StatusUnauthorized {
				t.Errorf("recorded Event %v, Status %d; want nil, 401", got[0].Event, got[0].Status)
			}
			if len(rec.Events()) != 0 {
				t.Errorf("Events = %v, want none", rec.Events())
			}
		})
	}
}

func TestRecorderUndecodableRequests(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	c := recClient(t)

	noType := recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_1", recSample(t, webhooks.MeetingStatusChangedEvent))
	noType.Header.Del(webhooks.HeaderEvent)
	recSend(t, c, noType)
	invalid := recRawRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_2", webhooks.MeetingStatusChangedEvent, []byte(`{"meetingId":"m"}`))
	recSend(t, c, invalid)

	got := rec.WaitFor(t, 2)
	for i, r := range got {
		if r.VerifyError != nil || r.Event != nil || r.DecodeError == nil {
			t.Errorf("request %d: VerifyError %v, Event %v, DecodeError %v; want only a DecodeError", i, r.VerifyError, r.Event, r.DecodeError)
		}
	}
	if !errors.Is(got[1].DecodeError, webhooks.ErrInvalidPayload) {
		t.Errorf("DecodeError = %v, want ErrInvalidPayload", got[1].DecodeError)
	}
	if len(rec.Events()) != 0 {
		t.Errorf("Events = %v, want none", rec.Events())
	}
}

func TestRecorderBodyTooLarge(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	body := bytes.Repeat([]byte("x"), webhooks.DefaultReceiverMaxBodyBytes+1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rec.URL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if code := recSend(t, recClient(t), req).StatusCode; code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", code)
	}
	got := rec.WaitRequests(t, 1)
	if !errors.Is(got[0].VerifyError, webhooks.ErrBodyTooLarge) {
		t.Errorf("VerifyError = %v, want ErrBodyTooLarge", got[0].VerifyError)
	}
}

func TestRecorderScript(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	c := recClient(t)
	rec.Script(
		webhookstest.Status(http.StatusInternalServerError),
		webhookstest.RetryAfter(http.StatusServiceUnavailable, "7"),
		webhookstest.Redirect(http.StatusFound, "https://elsewhere.example/hooks"),
		webhookstest.Step{RedirectTo: "https://elsewhere.example/307"},
	)
	rec.Script(webhookstest.Delay(20 * time.Millisecond)) // queued after the others
	e := recSample(t, webhooks.MeetingStatusChangedEvent)

	tests := []struct {
		status   int
		header   string
		value    string
		minDelay time.Duration
	}{
		{status: http.StatusInternalServerError},
		{status: http.StatusServiceUnavailable, header: "Retry-After", value: "7"},
		{status: http.StatusFound, header: "Location", value: "https://elsewhere.example/hooks"},
		{status: http.StatusTemporaryRedirect, header: "Location", value: "https://elsewhere.example/307"},
		{status: http.StatusNoContent, minDelay: 20 * time.Millisecond},
		{status: http.StatusNoContent}, // script exhausted
	}
	for i, tt := range tests {
		start := time.Now()
		resp := recSend(t, c, recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_"+strconv.Itoa(i), e))
		if resp.StatusCode != tt.status {
			t.Errorf("request %d: status %d, want %d", i, resp.StatusCode, tt.status)
		}
		if tt.header != "" && resp.Header.Get(tt.header) != tt.value {
			t.Errorf("request %d: %s = %q, want %q", i, tt.header, resp.Header.Get(tt.header), tt.value)
		}
		if elapsed := time.Since(start); elapsed < tt.minDelay {
			t.Errorf("request %d: answered after %v, want at least %v", i, elapsed, tt.minDelay)
		}
	}
	if got := len(rec.WaitFor(t, 2)); got != 2 {
		t.Errorf("WaitFor returned %d requests answered 2xx, want 2", got)
	}
	if got := len(rec.Events()); got != 2 {
		t.Errorf("Events: %d, want 2", got)
	}

	rec.SetDefault(webhookstest.Status(http.StatusGone))
	if code := recSend(t, c, recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_x", e)).StatusCode; code != http.StatusGone {
		t.Errorf("after SetDefault: status %d, want 410", code)
	}
}

func TestRecorderScriptAppliesToUnverifiedRequests(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	c := recClient(t)
	e := recSample(t, webhooks.MeetingStatusChangedEvent)
	rec.Script(webhookstest.Status(http.StatusOK), webhookstest.Delay(time.Millisecond))
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusUnauthorized} {
		if code := recSend(t, c, recRequest(t, t.Context(), rec.URL(), "", "evt_1", e)).StatusCode; code != want {
			t.Errorf("request %d: status %d, want %d", i, code, want)
		}
	}
	// Answered 2xx but not verified: no event.
	if len(rec.Events()) != 0 {
		t.Errorf("Events = %v, want none", rec.Events())
	}
}

func TestRecorderDropConnection(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	c := recClient(t)
	rec.Script(webhookstest.DropConnection())
	e := recSample(t, webhooks.MeetingStatusChangedEvent)
	if resp, err := c.Do(recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_1", e)); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request got status %d", resp.StatusCode)
	}
	if code := recSend(t, c, recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_1", e)).StatusCode; code != http.StatusNoContent {
		t.Errorf("retry: status %d, want 204", code)
	}
	got := rec.WaitFor(t, 1)
	all := rec.Requests()
	if len(got) != 1 || len(all) != 2 || all[0].Status != 0 || all[0].VerifyError != nil {
		t.Errorf("requests = %+v, want a dropped verified request then a 204", all)
	}
}

func TestRecorderHangReleasedAtClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rec, err := webhookstest.NewRecorderServer()
	if err != nil {
		t.Fatal(err)
	}
	rec.Script(webhookstest.Hang(), webhookstest.Delay(time.Hour))
	c := recClient(t)
	e := recSample(t, webhooks.MeetingStatusChangedEvent)
	errs := make(chan error, 2)
	for i := range 2 {
		req := recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_"+strconv.Itoa(i), e)
		go func() {
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			errs <- err
		}()
	}
	rec.WaitRequests(t, 2)
	rec.Close()
	for range 2 {
		if err := <-errs; err == nil || strings.HasPrefix(err.Error(), "status") {
			t.Errorf("held request: %v, want a connection error", err)
		}
	}
	rec.Close() // a second Close is harmless
	c.CloseIdleConnections()
	for _, r := range rec.Requests() {
		if r.Status != 0 {
			t.Errorf("held request answered %d", r.Status)
		}
	}
}

func TestRecorderHangReleasedByClient(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	rec.Script(webhookstest.Hang())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	req := recRequest(t, ctx, rec.URL(), webhookstest.Secret, "evt_1", recSample(t, webhooks.MeetingStatusChangedEvent))
	c := recClient(t)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	rec.WaitRequests(t, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
	// The recorder keeps serving.
	resp := recSend(t, c, recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_2", recSample(t, webhooks.MeetingStatusChangedEvent)))
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d, want 204", resp.StatusCode)
	}
}

func TestRecorderWaitForConcurrentRequests(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	rec.Script(webhookstest.Delay(10*time.Millisecond), webhookstest.Status(http.StatusBadGateway))
	c := recClient(t)
	e := recSample(t, webhooks.MeetingNoteStatusChangedEvent)
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		req := recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_"+strconv.Itoa(i), e)
		wg.Go(func() {
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	got := rec.WaitFor(t, n-1)
	if len(got) < n-1 {
		t.Fatalf("WaitFor returned %d requests", len(got))
	}
	for _, r := range got {
		if !r.Succeeded() {
			t.Errorf("WaitFor returned a request answered %d", r.Status)
		}
	}
	wg.Wait()
	if all := rec.WaitRequests(t, n); len(all) != n {
		t.Errorf("WaitRequests returned %d requests, want %d", len(all), n)
	}
}

// recFakeTB records Fatalf instead of ending the test.
type recFakeTB struct {
	testing.TB
	fatal string
}

func (f *recFakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }
func (f *recFakeTB) Helper()                           {}

func TestRecorderWaitForTimeout(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	rec.Timeout = 50 * time.Millisecond
	recSend(t, recClient(t), recRequest(t, t.Context(), rec.URL(), "", "evt_unsigned", recSample(t, webhooks.MeetingStatusChangedEvent)))

	fake := &recFakeTB{TB: t}
	if got := rec.WaitFor(fake, 1); got != nil {
		t.Errorf("WaitFor returned %v after failing", got)
	}
	// The failure names what was awaited and lists what arrived.
	for _, want := range []string{"1 requests answered 2xx, got 0 (1 received)", "evt_unsigned", "status=401", "unverified"} {
		if !strings.Contains(fake.fatal, want) {
			t.Errorf("Fatalf message %q does not mention %q", fake.fatal, want)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := rec.WaitForContext(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForContext = %v, want context.DeadlineExceeded", err)
	}
}

func TestRecorderWaitAfterClose(t *testing.T) {
	rec, err := webhookstest.NewRecorderServer()
	if err != nil {
		t.Fatal(err)
	}
	recSend(t, recClient(t), recRequest(t, t.Context(), rec.URL(), webhookstest.Secret, "evt_1", recSample(t, webhooks.MeetingStatusChangedEvent)))
	rec.Close()
	if got, err := rec.WaitForContext(t.Context(), 1); err != nil || len(got) != 1 {
		t.Errorf("WaitForContext(1) after Close = %v, %v; want the request received", got, err)
	}
	if _, err := rec.WaitForContext(t.Context(), 2); !errors.Is(err, webhookstest.ErrRecorderClosed) {
		t.Errorf("WaitForContext(2) after Close = %v, want ErrRecorderClosed", err)
	}
}

func TestNewRecorderServerInvalidSecret(t *testing.T) {
	if _, err := webhookstest.NewRecorderServer("whsec_short"); !errors.Is(err, webhooks.ErrInvalidSecret) {
		t.Errorf("NewRecorderServer = %v, want ErrInvalidSecret", err)
	}
}

func TestRecorderScriptRefusesInvalidStatus(t *testing.T) {
	rec := webhookstest.NewRecorder(t)
	for _, s := range []webhookstest.Step{webhookstest.Status(100), webhookstest.Status(-1), webhookstest.Status(1000)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Script(%+v) did not panic", s)
				}
			}()
			rec.Script(s)
		}()
	}
}
