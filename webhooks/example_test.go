package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookbus/hookbus/webhooks"
)

func ExampleWebhook_Validate() {
	w := webhooks.Webhook{
		Name:      "CRM sync",
		URL:       "http://crm.example.com/hooks",
		EventType: webhooks.MeetingStatusChangedEvent,
		Headers:   map[string]string{"Content-Type": "text/plain"},
	}
	err := w.Validate(webhooks.ValidateOptions{})
	fmt.Println(errors.Is(err, webhooks.ErrHTTPSRequired))
	fmt.Println(errors.Is(err, webhooks.ErrHeaderReserved))
	fmt.Println(err)

	w.URL = "https://crm.example.com/hooks"
	w.Headers = map[string]string{"Authorization": "Bearer 7f3c"}
	fmt.Println(w.Validate(webhooks.ValidateOptions{}))
	// Output:
	// true
	// true
	// URL: url must use https
	// Headers["Content-Type"]: header is reserved
	// <nil>
}

func ExampleMeetingStatusChanged() {
	body, err := json.Marshal(webhooks.MeetingStatusChanged{
		MeetingID: "mtg_42",
		Status:    webhooks.MeetingSummaryDone,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(body))
	// Output:
	// {"meetingId":"mtg_42","status":"meeting_summary_done"}
}

func ExampleDecodeEvent() {
	body := []byte(`{"meetingNoteId":"note_7","meetingId":"mtg_42","status":"meeting_note_created"}`)
	e, err := webhooks.DecodeEvent(webhooks.MeetingNoteStatusChangedEvent, body)
	if err != nil {
		panic(err)
	}
	note := e.(webhooks.MeetingNoteStatusChanged)
	fmt.Println(note.MeetingID, note.MeetingNoteID, note.Status)

	_, err = webhooks.DecodeEvent(webhooks.MeetingStatusChangedEvent, []byte(`{"status":"meeting_started"}`))
	fmt.Println(errors.Is(err, webhooks.ErrInvalidPayload), errors.Is(err, webhooks.ErrMissingField), errors.Is(err, webhooks.ErrUnknownStatus))
	// Output:
	// mtg_42 note_7 meeting_note_created
	// true true true
}

func ExampleMemoryStore() {
	ctx := context.Background()
	s := webhooks.NewMemoryStore()
	for _, w := range []webhooks.Webhook{
		{ID: "wh_1", Name: "CRM", EventType: webhooks.MeetingStatusChangedEvent},
		{ID: "wh_2", Name: "Paused", EventType: webhooks.MeetingStatusChangedEvent, Disabled: true},
		{ID: "wh_3", Name: "Signals", EventType: webhooks.CommercialSignalDetectedEvent},
	} {
		if err := s.Create(ctx, w); err != nil {
			panic(err)
		}
	}
	enabled, err := s.ListEnabled(ctx, webhooks.MeetingStatusChangedEvent)
	if err != nil {
		panic(err)
	}
	for _, w := range enabled {
		fmt.Println(w.ID, w.Name)
	}
	_, err = s.Get(ctx, "wh_9")
	fmt.Println(errors.Is(err, webhooks.ErrNotFound))
	// Output:
	// wh_1 CRM
	// true
}
