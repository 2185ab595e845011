package webhooks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// A receiver gets each event decoded and verified, in the callback of its
// type. Returning nil answers 204; an error answers 500 and the sender
// retries.
func ExampleNewReceiver() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	receiver, err := webhooks.NewReceiver(webhooks.ReceiverConfig{
		Secrets:    []string{secret},
		DedupeSize: 10_000,
		OnError: func(r *http.Request, err error) {
			fmt.Println("refused:", errors.Is(err, webhooks.ErrNoMatchingSignature))
		},
	}, webhooks.ReceiverFuncs{
		OnMeetingStatusChanged: func(ctx context.Context, e webhooks.MeetingStatusChanged) error {
			v, _ := webhooks.VerifiedFromContext(ctx)
			fmt.Printf("%s: meeting %s is now %s\n", v.ID, e.MeetingID, e.Status)
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	// What the sender does for every attempt.
	post := func(id string, sent, signed []byte) {
		now := time.Now()
		sig, err := webhooks.Sign(secret, id, now, signed)
		if err != nil {
			fmt.Println(err)
			return
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(sent))
		if err != nil {
			fmt.Println(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhooks.HeaderID, id)
		req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhooks.HeaderSignature, sig)
		req.Header.Set(webhooks.HeaderEvent, string(webhooks.MeetingStatusChangedEvent))
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
	}

	body := []byte(`{"meetingId":"mtg_42","status":"meeting_summary_done"}`)
	post("evt_1", body, body)
	post("evt_1", body, body) // a retry: answered without calling back again
	post("evt_2", []byte(`{"meetingId":"mtg_666","status":"meeting_deleted"}`), body)
	// Output:
	// evt_1: meeting mtg_42 is now meeting_summary_done
	// 204 No Content
	// 200 OK
	// refused: true
	// 401 Unauthorized
}

// VerifyRequests protects any handler: the handler runs only for verified
// requests and finds the verified details in its context.
func ExampleVerifyRequests() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h, err := webhooks.VerifyRequests(webhooks.ReceiverConfig{
		Secrets:   []string{secret},
		EventType: webhooks.MeetingStatusChangedEvent, // when X-Webhook-Event is absent
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := webhooks.VerifiedFromContext(r.Context())
		e, err := webhooks.DecodeVerified(v)
		if err != nil {
			http.Error(w, "invalid payload", http.StatusUnprocessableEntity)
			return
		}
		fmt.Printf("%s %s %+v\n", v.ID, v.EventType, e)
		w.WriteHeader(http.StatusAccepted)
	}))
	if err != nil {
		fmt.Println(err)
		return
	}

	body := []byte(`{"meetingId":"mtg_42","status":"meeting_created"}`)
	now := time.Now()
	sig, err := webhooks.Sign(secret, "evt_1", now, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(body))
	req.Header.Set(webhooks.HeaderID, "evt_1")
	req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhooks.HeaderVendorSignature, sig)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Println(w.Code)
	// Output:
	// evt_1 meeting_status_changed {MeetingID:mtg_42 Status:meeting_created}
	// 202
}
