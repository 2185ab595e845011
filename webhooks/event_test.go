package webhooks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hookbus/hookbus/signals"
	"github.com/hookbus/hookbus/webhooks"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Pointers satisfy Event too, through the value receivers.
var (
	_ webhooks.Event = (*webhooks.MeetingStatusChanged)(nil)
	_ webhooks.Event = (*webhooks.MeetingNoteStatusChanged)(nil)
	_ webhooks.Event = (*webhooks.CommercialSignalDetected)(nil)
)

// goldenEvents are the fixed values whose wire form the golden files pin.
func goldenEvents() []webhooks.Event {
	return []webhooks.Event{
		webhooks.MeetingStatusChanged{MeetingID: "mtg_42", Status: webhooks.MeetingSummaryDone},
		webhooks.MeetingNoteStatusChanged{MeetingNoteID: "note_7", MeetingID: "mtg_42", Status: webhooks.MeetingNoteUpdated},
		webhooks.CommercialSignalDetected{
			Code:         signals.CompetitorComparisonFavorable,
			Description:  `The client compared us with "Acme" & preferred our <pricing>.`,
			ContactID:    "ct_9",
			CompanyID:    "co_3",
			Category:     signals.Positive,
			ActivityType: signals.ActivityCall,
			ActivityID:   "call_5",
			Evidence:     []string{"Your reporting is better than Acme's.", "Line one\nline two"},
			ChangeType:   signals.ChangeEscalated,
		},
	}
}

// TestGolden pins the wire shape of every event type: marshalling the fixed
// value gives the golden bytes (followed by a newline in the file), and
// decoding them gives the value back. Run with -update to rewrite the files.
func TestGolden(t *testing.T) {
	for _, e := range goldenEvents() {
		t.Run(e.EventName(), func(t *testing.T) {
			path := filepath.Join("testdata", e.EventName()+".json")
			got, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("Marshal = %v", err)
			}
			got = append(got, '\n')
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal =\n%s\nwant (%s)\n%s", got, path, want)
			}
			decoded, err := webhooks.DecodeEvent(e.EventType(), want)
			if err != nil {
				t.Fatalf("DecodeEvent(golden) = %v", err)
			}
			if !reflect.DeepEqual(decoded, e) {
				t.Errorf("DecodeEvent(golden) = %#v, want %#v", decoded, e)
			}
		})
	}
}

func TestEventType(t *testing.T) {
	types := webhooks.EventTypes()
	want := []webhooks.EventType{"meeting_status_changed", "meeting_note_status_changed", "commercial_signal_detected"}
	if !slices.Equal(types, want) {
		t.Fatalf("EventTypes() = %q, want %q", types, want)
	}
	types[0] = "mutated"
	if webhooks.EventTypes()[0] != webhooks.MeetingStatusChangedEvent {
		t.Error("EventTypes returns a shared slice")
	}
	for _, et := range want {
		if !et.Valid() || et.String() != string(et) {
			t.Errorf("%q: Valid = %v, String = %q", et, et.Valid(), et.String())
		}
		if got, err := webhooks.ParseEventType(string(et)); err != nil || got != et {
			t.Errorf("ParseEventType(%q) = %q, %v", et, got, err)
		}
		text, err := et.MarshalText()
		if err != nil || string(text) != string(et) {
			t.Errorf("MarshalText(%q) = %q, %v", et, text, err)
		}
		var back webhooks.EventType
		if err := back.UnmarshalText(text); err != nil || back != et {
			t.Errorf("UnmarshalText(%q) = %q, %v", text, back, err)
		}
		sample, err := webhooks.SampleEvent(et)
		if err != nil {
			t.Fatalf("SampleEvent(%q) = %v", et, err)
		}
		if sample.EventType() != et || sample.EventName() != string(et) {
			t.Errorf("SampleEvent(%q) is a %q named %q", et, sample.EventType(), sample.EventName())
		}
	}

	for _, s := range []string{"", "unknown", "Meeting_Status_Changed", " meeting_status_changed", "meeting_status_changed\n", "meeting_created"} {
		if _, err := webhooks.ParseEventType(s); !errors.Is(err, webhooks.ErrUnknownEventType) {
			t.Errorf("ParseEventType(%q) = %v, want ErrUnknownEventType", s, err)
		}
		if _, err := webhooks.EventType(s).MarshalText(); !errors.Is(err, webhooks.ErrUnknownEventType) {
			t.Errorf("MarshalText(%q) = %v, want ErrUnknownEventType", s, err)
		}
		et := webhooks.CommercialSignalDetectedEvent
		if err := et.UnmarshalText([]byte(s)); !errors.Is(err, webhooks.ErrUnknownEventType) || et != webhooks.CommercialSignalDetectedEvent {
			t.Errorf("UnmarshalText(%q) = %v and left %q, want ErrUnknownEventType and no change", s, err, et)
		}
		if _, err := webhooks.SampleEvent(webhooks.EventType(s)); !errors.Is(err, webhooks.ErrUnknownEventType) {
			t.Errorf("SampleEvent(%q) = %v, want ErrUnknownEventType", s, err)
		}
		if _, err := webhooks.DecodeEvent(webhooks.EventType(s), []byte(`{}`)); !errors.Is(err, webhooks.ErrUnknownEventType) {
			t.Errorf("DecodeEvent(%q) = %v, want ErrUnknownEventType", s, err)
		}
	}

	// As a JSON value, an unknown event type is refused too.
	var v struct{ T webhooks.EventType }
	if err := json.Unmarshal([]byte(`{"T":"nope"}`), &v); !errors.Is(err, webhooks.ErrUnknownEventType) {
		t.Errorf("json.Unmarshal of an unknown event type = %v, want ErrUnknownEventType", err)
	}
}

// statusType is what MeetingStatus and MeetingNoteStatus have in common.
type statusType interface {
	~string
	Valid() bool
	String() string
	MarshalText() ([]byte, error)
}

func testStatus[S statusType, P interface {
	*S
	UnmarshalText([]byte) error
}](t *testing.T, all []S, want []string, parse func(string) (S, error), unknown []string) {
	t.Helper()
	got := make([]string, len(all))
	for i, s := range all {
		got[i] = string(s)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	for _, s := range all {
		if !s.Valid() || s.String() != string(s) {
			t.Errorf("%q: Valid = %v, String = %q", s, s.Valid(), s.String())
		}
		if p, err := parse(string(s)); err != nil || p != s {
			t.Errorf("parse(%q) = %q, %v", s, p, err)
		}
		text, err := s.MarshalText()
		if err != nil || string(text) != string(s) {
			t.Errorf("MarshalText(%q) = %q, %v", s, text, err)
		}
		var back S
		if err := P(&back).UnmarshalText(text); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %q, %v", text, back, err)
		}
	}
	for _, u := range unknown {
		if _, err := parse(u); !errors.Is(err, webhooks.ErrUnknownStatus) {
			t.Errorf("parse(%q) = %v, want ErrUnknownStatus", u, err)
		}
		if S(u).Valid() {
			t.Errorf("%q is Valid", u)
		}
		if _, err := S(u).MarshalText(); !errors.Is(err, webhooks.ErrUnknownStatus) {
			t.Errorf("MarshalText(%q) = %v, want ErrUnknownStatus", u, err)
		}
		before := all[0]
		v := before
		if err := P(&v).UnmarshalText([]byte(u)); !errors.Is(err, webhooks.ErrUnknownStatus) || v != before {
			t.Errorf("UnmarshalText(%q) = %v and left %q, want ErrUnknownStatus and no change", u, err, v)
		}
	}
}

func TestMeetingStatus(t *testing.T) {
	testStatus[webhooks.MeetingStatus](t, webhooks.MeetingStatuses(),
		[]string{"meeting_created", "meeting_deleted", "meeting_transcript_done", "meeting_summary_done", "meeting_video_done", "meeting_notes_done"},
		webhooks.ParseMeetingStatus,
		[]string{"", "meeting_started", "MEETING_CREATED", "meeting_created ", "meeting_note_created", "meeting_note_done"})
}

func TestMeetingNoteStatus(t *testing.T) {
	testStatus[webhooks.MeetingNoteStatus](t, webhooks.MeetingNoteStatuses(),
		[]string{"meeting_note_created", "meeting_note_deleted", "meeting_note_updated"},
		webhooks.ParseMeetingNoteStatus,
		[]string{"", "meeting_note_archived", "Meeting_Note_Created", "meeting_created", "meeting_notes_done"})
}

// TestEventValidate starts from a valid payload of each type and breaks one
// field per case.
func TestEventValidate(t *testing.T) {
	msc := func(change func(e *webhooks.MeetingStatusChanged)) webhooks.Event {
		e := webhooks.MeetingStatusChanged{MeetingID: "mtg_1", Status: webhooks.MeetingCreated}
		change(&e)
		return e
	}
	mnsc := func(change func(e *webhooks.MeetingNoteStatusChanged)) webhooks.Event {
		e := webhooks.MeetingNoteStatusChanged{MeetingNoteID: "note_1", MeetingID: "mtg_1", Status: webhooks.MeetingNoteDeleted}
		change(&e)
		return e
	}
	csd := func(change func(e *webhooks.CommercialSignalDetected)) webhooks.Event {
		e := webhooks.CommercialSignalDetected{
			Code: signals.ChurnRisk, Category: signals.Risk, ActivityType: signals.ActivityMail,
			ActivityID: "mail_1", ChangeType: signals.ChangeUnchanged,
		}
		change(&e)
		return e
	}

	valid := []webhooks.Event{
		msc(func(*webhooks.MeetingStatusChanged) {}),
		mnsc(func(*webhooks.MeetingNoteStatusChanged) {}),
		csd(func(*webhooks.CommercialSignalDetected) {}),
		csd(func(e *webhooks.CommercialSignalDetected) { e.Evidence = []string{} }),
	}
	for _, e := range valid {
		if err := e.Validate(); err != nil {
			t.Errorf("%#v: Validate = %v", e, err)
		}
	}

	tests := []struct {
		name  string
		event webhooks.Event
		want  error
		field string
	}{
		{"meeting: no meetingId", msc(func(e *webhooks.MeetingStatusChanged) { e.MeetingID = "" }), webhooks.ErrMissingField, "meetingId"},
		{"meeting: blank meetingId", msc(func(e *webhooks.MeetingStatusChanged) { e.MeetingID = "  " }), webhooks.ErrMissingField, "meetingId"},
		{"meeting: no status", msc(func(e *webhooks.MeetingStatusChanged) { e.Status = "" }), webhooks.ErrMissingField, "status"},
		{"meeting: unknown status", msc(func(e *webhooks.MeetingStatusChanged) { e.Status = "meeting_started" }), webhooks.ErrUnknownStatus, "status"},
		{"meeting: note status", msc(func(e *webhooks.MeetingStatusChanged) { e.Status = "meeting_note_created" }), webhooks.ErrUnknownStatus, "status"},
		{"note: no meetingNoteId", mnsc(func(e *webhooks.MeetingNoteStatusChanged) { e.MeetingNoteID = "" }), webhooks.ErrMissingField, "meetingNoteId"},
		{"note: no meetingId", mnsc(func(e *webhooks.MeetingNoteStatusChanged) { e.MeetingID = "" }), webhooks.ErrMissingField, "meetingId"},
		{"note: no status", mnsc(func(e *webhooks.MeetingNoteStatusChanged) { e.Status = "" }), webhooks.ErrMissingField, "status"},
		{"note: unknown status", mnsc(func(e *webhooks.MeetingNoteStatusChanged) { e.Status = "meeting_note_archived" }), webhooks.ErrUnknownStatus, "status"},
		{"note: meeting status", mnsc(func(e *webhooks.MeetingNoteStatusChanged) { e.Status = "meeting_created" }), webhooks.ErrUnknownStatus, "status"},
		{"signal: no code", csd(func(e *webhooks.CommercialSignalDetected) { e.Code = "" }), webhooks.ErrMissingField, "code"},
		{"signal: unknown code", csd(func(e *webhooks.CommercialSignalDetected) { e.Code = "internal_misalignment" }), signals.ErrUnknownCode, "code"},
		{"signal: no category", csd(func(e *webhooks.CommercialSignalDetected) { e.Category = "" }), webhooks.ErrMissingField, "category"},
		{"signal: unknown category", csd(func(e *webhooks.CommercialSignalDetected) { e.Category = "negative" }), signals.ErrUnknownCategory, "category"},
		{"signal: no activityType", csd(func(e *webhooks.CommercialSignalDetected) { e.ActivityType = "" }), webhooks.ErrMissingField, "activityType"},
		{"signal: unknown activityType", csd(func(e *webhooks.CommercialSignalDetected) { e.ActivityType = "email" }), signals.ErrUnknownActivityType, "activityType"},
		{"signal: no activityId", csd(func(e *webhooks.CommercialSignalDetected) { e.ActivityID = "" }), webhooks.ErrMissingField, "activityId"},
		{"signal: blank activityId", csd(func(e *webhooks.CommercialSignalDetected) { e.ActivityID = "\t" }), webhooks.ErrMissingField, "activityId"},
		{"signal: no changeType", csd(func(e *webhooks.CommercialSignalDetected) { e.ChangeType = "" }), webhooks.ErrMissingField, "changeType"},
		{"signal: unknown changeType", csd(func(e *webhooks.CommercialSignalDetected) { e.ChangeType = "worsened" }), signals.ErrUnknownChangeType, "changeType"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.event.Validate()
			if !errors.Is(err, webhooks.ErrInvalidPayload) || !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidPayload and %v", err, tc.want)
			}
			fe, ok := errors.AsType[*webhooks.FieldError](err)
			if !ok || fe.Field != tc.field {
				t.Errorf("FieldError = %v, want field %q", fe, tc.field)
			}
		})
	}

	// Every problem at once.
	err := webhooks.CommercialSignalDetected{Code: "nope"}.Validate()
	for _, want := range []error{signals.ErrUnknownCode, webhooks.ErrMissingField, webhooks.ErrInvalidPayload} {
		if !errors.Is(err, want) {
			t.Errorf("Validate of a mostly empty signal = %v, want it to match %v", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("Validate of a mostly empty signal reports %d problems, want 5: %v", n, err)
	}
}

func TestDecodeEventEvidence(t *testing.T) {
	for body, want := range map[string][]string{
		`["x","y \"z\"",""]`: {"x", `y "z"`, ""},
		`[]`:                 {},
	} {
		e, err := webhooks.DecodeEvent(webhooks.CommercialSignalDetectedEvent, []byte(`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new","evidence":`+body+`}`))
		if err != nil {
			t.Fatalf("DecodeEvent(evidence %s) = %v", body, err)
		}
		if got := e.(webhooks.CommercialSignalDetected).Evidence; !slices.Equal(got, want) || got == nil {
			t.Errorf("evidence %s decoded as %q, want %q", body, got, want)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name  string
		et    webhooks.EventType
		body  string
		want  []error // nil: success
		field string  // FieldError.Field expected, if any
	}{
		{"unknown fields are ignored", webhooks.MeetingStatusChangedEvent,
			`{"meetingId":"m","status":"meeting_deleted","occurredAt":"2025-01-01T00:00:00Z","extra":{"a":[1]}}`, nil, ""},
		{"evidence omitted", webhooks.CommercialSignalDetectedEvent,
			`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new"}`, nil, ""},
		{"evidence", webhooks.CommercialSignalDetectedEvent,
			`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new","evidence":["x","y \"z\""]}`, nil, ""},
		{"evidence null", webhooks.CommercialSignalDetectedEvent,
			`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new","evidence":null}`, nil, ""},
		{"empty body", webhooks.MeetingStatusChangedEvent, ``, []error{webhooks.ErrInvalidPayload}, ""},
		{"truncated", webhooks.MeetingStatusChangedEvent, `{"meetingId":"m"`, []error{webhooks.ErrInvalidPayload}, ""},
		{"trailing data", webhooks.MeetingStatusChangedEvent, `{"meetingId":"m","status":"meeting_deleted"} {}`, []error{webhooks.ErrInvalidPayload}, ""},
		{"array body", webhooks.MeetingStatusChangedEvent, `[]`, []error{webhooks.ErrInvalidPayload, webhooks.ErrFieldType}, "(body)"},
		{"null body", webhooks.MeetingStatusChangedEvent, `null`, []error{webhooks.ErrInvalidPayload, webhooks.ErrMissingField}, "meetingId"},
		{"number for string", webhooks.MeetingStatusChangedEvent, `{"meetingId":42,"status":"meeting_deleted"}`, []error{webhooks.ErrInvalidPayload, webhooks.ErrFieldType}, "meetingId"},
		{"name in another case", webhooks.MeetingStatusChangedEvent, `{"MEETINGID":"m","status":"meeting_deleted"}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrMissingField}, "meetingId"},
		{"field twice", webhooks.MeetingStatusChangedEvent, `{"meetingId":"m1","status":"meeting_deleted","meetingId":"m2"}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrDuplicateField}, "meetingId"},
		{"null field", webhooks.MeetingStatusChangedEvent, `{"meetingId":null,"status":"meeting_deleted"}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrMissingField}, "meetingId"},
		{"number body", webhooks.MeetingStatusChangedEvent, `42`, []error{webhooks.ErrInvalidPayload, webhooks.ErrFieldType}, "(body)"},
		{"string for evidence", webhooks.CommercialSignalDetectedEvent,
			`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new","evidence":"x"}`,
			[]error{webhooks.ErrInvalidPayload}, "evidence"},
		{"null in evidence", webhooks.CommercialSignalDetectedEvent,
			`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new","evidence":["x",null]}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrFieldType}, "evidence"},
		{"number in evidence", webhooks.CommercialSignalDetectedEvent,
			`{"code":"pilot_success","category":"positive","activityType":"meeting","activityId":"a","changeType":"new","evidence":[1]}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrFieldType}, "evidence"},
		{"missing meetingNoteId", webhooks.MeetingNoteStatusChangedEvent, `{"meetingId":"m","status":"meeting_note_created"}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrMissingField}, "meetingNoteId"},
		{"unknown status", webhooks.MeetingStatusChangedEvent, `{"meetingId":"m","status":"meeting_started"}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrUnknownStatus}, "status"},
		{"unknown code", webhooks.CommercialSignalDetectedEvent,
			`{"code":"buying","category":"positive","activityType":"meeting","activityId":"a","changeType":"new"}`,
			[]error{webhooks.ErrInvalidPayload, signals.ErrUnknownCode}, "code"},
		{"payload of another type", webhooks.MeetingNoteStatusChangedEvent, `{"meetingId":"m","status":"meeting_created"}`,
			[]error{webhooks.ErrInvalidPayload, webhooks.ErrMissingField, webhooks.ErrUnknownStatus}, "meetingNoteId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := webhooks.DecodeEvent(tc.et, []byte(tc.body))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("DecodeEvent = %v", err)
				}
				if e.EventType() != tc.et {
					t.Errorf("DecodeEvent returned a %q", e.EventType())
				}
				return
			}
			if e != nil {
				t.Errorf("DecodeEvent returned %#v with an error", e)
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("DecodeEvent = %v, want it to match %v", err, want)
				}
			}
			if tc.field != "" {
				fe, ok := errors.AsType[*webhooks.FieldError](err)
				if !ok || fe.Field != tc.field {
					t.Errorf("FieldError = %v, want field %q", fe, tc.field)
				}
			}
		})
	}
}

// TestDecodeEventReportsEveryProblem checks that decoding problems and
// Validate's come together, and that a field that did not decode is not
// also reported missing.
func TestDecodeEventReportsEveryProblem(t *testing.T) {
	_, err := webhooks.DecodeEvent(webhooks.MeetingNoteStatusChangedEvent,
		[]byte(`{"meetingNoteId":["n"],"meetingNoteId":"n","meetingId":7,"status":"meeting_note_exploded"}`))
	for _, want := range []error{webhooks.ErrFieldType, webhooks.ErrDuplicateField, webhooks.ErrUnknownStatus} {
		if !errors.Is(err, want) {
			t.Errorf("DecodeEvent = %v, want it to match %v", err, want)
		}
	}
	if errors.Is(err, webhooks.ErrMissingField) {
		t.Errorf("DecodeEvent = %v: a field of the wrong type is also reported missing", err)
	}
	for _, body := range []string{`[]`, `42`, `"x"`, `true`} {
		_, err := webhooks.DecodeEvent(webhooks.MeetingStatusChangedEvent, []byte(body))
		if !errors.Is(err, webhooks.ErrFieldType) || errors.Is(err, webhooks.ErrMissingField) {
			t.Errorf("DecodeEvent(%s) = %v, want only the body's ErrFieldType", body, err)
		}
	}
	e, err := webhooks.DecodeEvent(webhooks.MeetingStatusChangedEvent,
		[]byte(`{"MeetingId":"other","meetingId":"m","Status":"meeting_deleted","status":"meeting_created"}`))
	if err != nil || e != (webhooks.MeetingStatusChanged{MeetingID: "m", Status: webhooks.MeetingCreated}) {
		t.Errorf("DecodeEvent = %+v, %v; want the exactly named fields only", e, err)
	}
}

func TestSampleEventRoundTrip(t *testing.T) {
	for _, et := range webhooks.EventTypes() {
		sample, err := webhooks.SampleEvent(et)
		if err != nil {
			t.Fatalf("SampleEvent(%q) = %v", et, err)
		}
		if err := sample.Validate(); err != nil {
			t.Errorf("SampleEvent(%q) is invalid: %v", et, err)
		}
		body, err := json.Marshal(sample)
		if err != nil {
			t.Fatalf("Marshal(%q sample) = %v", et, err)
		}
		back, err := webhooks.DecodeEvent(et, body)
		if err != nil {
			t.Fatalf("DecodeEvent(%s) = %v", body, err)
		}
		if !reflect.DeepEqual(back, sample) {
			t.Errorf("round trip of %q sample = %#v, want %#v", et, back, sample)
		}
	}
	// Each call returns a value of its own.
	a, _ := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	a.(webhooks.CommercialSignalDetected).Evidence[0] = "mutated"
	b, _ := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if b.(webhooks.CommercialSignalDetected).Evidence[0] == "mutated" {
		t.Error("SampleEvent values share their Evidence")
	}
}

func TestMarshalRefusesUnknownValues(t *testing.T) {
	valid := webhooks.CommercialSignalDetected{
		Code: signals.BuyingIntent, Category: signals.Positive, ActivityType: signals.ActivityMeeting,
		ActivityID: "a", ChangeType: signals.ChangeNew,
	}
	tests := []struct {
		name  string
		event any
		want  error
	}{
		{"meeting status", webhooks.MeetingStatusChanged{MeetingID: "m", Status: "nope"}, webhooks.ErrUnknownStatus},
		{"meeting note status", &webhooks.MeetingNoteStatusChanged{MeetingNoteID: "n", MeetingID: "m", Status: "nope"}, webhooks.ErrUnknownStatus},
		{"code", func() any { e := valid; e.Code = "nope"; return e }(), signals.ErrUnknownCode},
		{"category", func() any { e := valid; e.Category = "nope"; return e }(), signals.ErrUnknownCategory},
		{"activity type", func() any { e := valid; e.ActivityType = "nope"; return &e }(), signals.ErrUnknownActivityType},
		{"change type", func() any { e := valid; e.ChangeType = ""; return e }(), signals.ErrUnknownChangeType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := json.Marshal(tc.event); !errors.Is(err, tc.want) {
				t.Errorf("json.Marshal = %v, want %v", err, tc.want)
			}
		})
	}
}

// plainSignal has the fields of CommercialSignalDetected as plain strings:
// encoding/json's own output for it is the reference for MarshalJSON.
type plainSignal struct {
	Code         string   `json:"code"`
	Description  string   `json:"description"`
	ContactID    string   `json:"contactId"`
	CompanyID    string   `json:"companyId"`
	Category     string   `json:"category"`
	ActivityType string   `json:"activityType"`
	ActivityID   string   `json:"activityId"`
	Evidence     []string `json:"evidence"`
	ChangeType   string   `json:"changeType"`
}

func signalWithText(text string, evidence []string) webhooks.CommercialSignalDetected {
	return webhooks.CommercialSignalDetected{
		Code: signals.PricingDiscussed, Description: text, ContactID: text, CompanyID: "co",
		Category: signals.Neutral, ActivityType: signals.ActivityMeeting, ActivityID: text,
		Evidence: evidence, ChangeType: signals.ChangeImproved,
	}
}

func assertMatchesEncodingJSON(t *testing.T, e webhooks.CommercialSignalDetected) {
	t.Helper()
	got, err := e.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON = %v", err)
	}
	evidence := e.Evidence
	if evidence == nil {
		evidence = []string{}
	}
	want, err := json.Marshal(plainSignal{
		string(e.Code), e.Description, e.ContactID, e.CompanyID, string(e.Category),
		string(e.ActivityType), e.ActivityID, evidence, string(e.ChangeType),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalJSON =\n%s\nencoding/json gives\n%s", got, want)
	}
	viaJSON, err := json.Marshal(e)
	if err != nil || !bytes.Equal(viaJSON, want) {
		t.Errorf("json.Marshal = %s, %v; want %s", viaJSON, err, want)
	}
}

func TestCommercialSignalDetectedMarshalJSON(t *testing.T) {
	nilEvidence := signalWithText("x", nil)
	got, err := json.Marshal(nilEvidence)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"evidence":[]`)) {
		t.Errorf("nil Evidence marshals as %s, want []", got)
	}

	var allBytes strings.Builder
	for b := range 256 {
		allBytes.WriteByte(byte(b))
	}
	texts := []string{
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
		"\b\f\n\r\t\x00\x01\x1f\x7f", "é中文🙂", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82",
		allBytes.String(),
	}
	for _, text := range texts {
		assertMatchesEncodingJSON(t, signalWithText(text, nil))
		assertMatchesEncodingJSON(t, signalWithText("x", []string{text, text + "2"}))
	}
}

func FuzzCommercialSignalDetectedMarshalJSON(f *testing.F) {
	for _, seed := range []string{"", "a", "<&>", "\u2028", "\xff", "\"\\", "\x00\x1f"} {
		f.Add(seed, seed+"e")
	}
	f.Fuzz(func(t *testing.T, text, evidence string) {
		assertMatchesEncodingJSON(t, signalWithText(text, []string{evidence}))
	})
}

// BenchmarkCommercialSignalDetectedMarshal measures MarshalJSON alone and
// through json.Marshal, which adds its own validation and compaction pass
// over the output of every MarshalJSON method.
func BenchmarkCommercialSignalDetectedMarshal(b *testing.B) {
	sample, err := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if err != nil {
		b.Fatal(err)
	}
	e := sample.(webhooks.CommercialSignalDetected)
	b.Run("MarshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
