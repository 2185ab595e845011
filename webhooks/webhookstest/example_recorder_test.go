package webhookstest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// A Recorder stands in for a customer's endpoint. In a test, NewRecorder(t)
// starts one and closes it at cleanup, and WaitFor(t, n) waits for the
// deliveries; NewRecorderServer is the same outside of tests.
func ExampleRecorder() {
	rec, err := webhookstest.NewRecorderServer() // verifies with webhookstest.Secret
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rec.Close()
	// The first attempt fails, the retry succeeds.
	rec.Script(webhookstest.RetryAfter(http.StatusServiceUnavailable, "1"))

	body := []byte(`{"meetingId":"mtg_42","status":"meeting_summary_done"}`)
	for range 2 {
		now := time.Now()
		sig, err := webhooks.Sign(webhookstest.Secret, "evt_1", now, body)
		if err != nil {
			fmt.Println(err)
			return
		}
		req, err := http.NewRequest(http.MethodPost, rec.URL()+"/hooks", bytes.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		req.Header.Set(webhooks.HeaderID, "evt_1")
		req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhooks.HeaderSignature, sig)
		req.Header.Set(webhooks.HeaderEvent, string(webhooks.MeetingStatusChangedEvent))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	for _, r := range rec.Requests() {
		fmt.Println(r.Method, r.URL, r.Status, r.VerifyError)
	}
	fmt.Printf("%+v\n", rec.Events())
	// Output:
	// POST /hooks 503 <nil>
	// POST /hooks 204 <nil>
	// [{MeetingID:mtg_42 Status:meeting_summary_done}]
}
