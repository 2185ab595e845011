package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookbus/hookbus/signals"
)

// EventType names the kind of event a webhook receives. The zero EventType is
// not valid.
type EventType string

// The event types of the wire contract.
const (
	// MeetingStatusChangedEvent is sent when a meeting's status changes; its
	// payload is MeetingStatusChanged.
	MeetingStatusChangedEvent EventType = "meeting_status_changed"
	// MeetingNoteStatusChangedEvent is sent once per note when notes of a
	// meeting change; its payload is MeetingNoteStatusChanged.
	MeetingNoteStatusChangedEvent EventType = "meeting_note_status_changed"
	// CommercialSignalDetectedEvent is sent when a commercial signal is
	// detected in an activity; its payload is CommercialSignalDetected.
	CommercialSignalDetectedEvent EventType = "commercial_signal_detected"
)

// Errors of the event model.
var (
	// ErrUnknownEventType reports a string that is not one of the event types,
	// including the empty string.
	ErrUnknownEventType = errors.New("webhooks: unknown event type")
	// ErrUnknownStatus reports a string that is not a MeetingStatus or a
	// MeetingNoteStatus (whichever was expected), including the empty
	// string.
	ErrUnknownStatus = errors.New("webhooks: unknown status")
	// ErrInvalidPayload reports an event payload that is not valid JSON, does
	// not have the documented shape, or fails validation. Every error of
	// Validate and DecodeEvent wraps it, together with the more specific
	// cause when there is one (ErrMissingField, ErrUnknownStatus,
	// signals.ErrUnknownCode and so on), each inside a *FieldError naming
	// the JSON field.
	ErrInvalidPayload = errors.New("webhooks: invalid payload")
	// ErrMissingField reports a required payload field that is empty or
	// whitespace only.
	ErrMissingField = errors.New("webhooks: required field is missing")
	// ErrFieldType reports a payload field, or a body, of the wrong JSON
	// type: a number where a string is expected, say.
	ErrFieldType = errors.New("webhooks: field has the wrong JSON type")
	// ErrDuplicateField reports a payload field that appears more than once
	// in one object: JSON parsers disagree on which value counts.
	ErrDuplicateField = errors.New("webhooks: field appears more than once")
)

// EventTypes returns every event type, in the order of the wire contract. It
// returns a new slice on each call.
func EventTypes() []EventType {
	return []EventType{MeetingStatusChangedEvent, MeetingNoteStatusChangedEvent, CommercialSignalDetectedEvent}
}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	switch t {
	case MeetingStatusChangedEvent, MeetingNoteStatusChangedEvent, CommercialSignalDetectedEvent:
		return true
	}
	return false
}

// String returns the wire value of t, valid or not.
func (t EventType) String() string { return string(t) }

// ParseEventType returns the EventType whose wire value is s. The error wraps
// ErrUnknownEventType. Matching is exact.
func ParseEventType(s string) (EventType, error) {
	if t := EventType(s); t.Valid() {
		return t, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownEventType, s)
}

// MarshalText implements encoding.TextMarshaler. It fails with
// ErrUnknownEventType if t is not valid.
func (t EventType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w %q", ErrUnknownEventType, string(t))
	}
	return []byte(t), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It fails with
// ErrUnknownEventType, leaving t unchanged, if text is not an event type.
func (t *EventType) UnmarshalText(text []byte) error {
	v, err := ParseEventType(string(text))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MeetingStatus is the status field of a meeting_status_changed payload. The
// zero MeetingStatus is not valid.
//
// Video processing and content processing run in parallel, so
// MeetingVideoDone may come before MeetingSummaryDone: receivers must not
// assume any order.
type MeetingStatus string

// The meeting statuses.
const (
	// MeetingCreated means a new meeting was created.
	MeetingCreated MeetingStatus = "meeting_created"
	// MeetingDeleted means a meeting was deleted.
	MeetingDeleted MeetingStatus = "meeting_deleted"
	// MeetingTranscriptDone means transcription completed.
	MeetingTranscriptDone MeetingStatus = "meeting_transcript_done"
	// MeetingSummaryDone means the summary completed: content processing
	// is complete.
	MeetingSummaryDone MeetingStatus = "meeting_summary_done"
	// MeetingVideoDone means video processing completed.
	MeetingVideoDone MeetingStatus = "meeting_video_done"
	// MeetingNotesDone means notes processing completed.
	MeetingNotesDone MeetingStatus = "meeting_notes_done"
)

// MeetingStatuses returns every MeetingStatus, in the order of the wire
// contract. It returns a new slice on each call.
func MeetingStatuses() []MeetingStatus {
	return []MeetingStatus{MeetingCreated, MeetingDeleted, MeetingTranscriptDone, MeetingSummaryDone, MeetingVideoDone, MeetingNotesDone}
}

// Valid reports whether s is a known meeting status.
func (s MeetingStatus) Valid() bool {
	switch s {
	case MeetingCreated, MeetingDeleted, MeetingTranscriptDone, MeetingSummaryDone, MeetingVideoDone, MeetingNotesDone:
		return true
	}
	return false
}

// String returns the wire value of s, valid or not.
func (s MeetingStatus) String() string { return string(s) }

// ParseMeetingStatus returns the MeetingStatus whose wire value is s. The
// error wraps ErrUnknownStatus. Matching is exact.
func ParseMeetingStatus(s string) (MeetingStatus, error) {
	if v := MeetingStatus(s); v.Valid() {
		return v, nil
	}
	return "", unknownStatus("meeting", s)
}

// MarshalText implements encoding.TextMarshaler. It fails with
// ErrUnknownStatus if s is not valid.
func (s MeetingStatus) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, unknownStatus("meeting", string(s))
	}
	return []byte(s), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It fails with
// ErrUnknownStatus, leaving s unchanged, if text is not a meeting status.
func (s *MeetingStatus) UnmarshalText(text []byte) error {
	v, err := ParseMeetingStatus(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MeetingNoteStatus is the status field of a meeting_note_status_changed
// payload. The zero MeetingNoteStatus is not valid.
type MeetingNoteStatus string

// The meeting note statuses.
const (
	// MeetingNoteCreated means a note was created.
	MeetingNoteCreated MeetingNoteStatus = "meeting_note_created"
	// MeetingNoteDeleted means a note was deleted.
	MeetingNoteDeleted MeetingNoteStatus = "meeting_note_deleted"
	// MeetingNoteUpdated means a note was updated.
	MeetingNoteUpdated MeetingNoteStatus = "meeting_note_updated"
)

// MeetingNoteStatuses returns every MeetingNoteStatus, in the order of the
// wire contract. It returns a new slice on each call.
func MeetingNoteStatuses() []MeetingNoteStatus {
	return []MeetingNoteStatus{MeetingNoteCreated, MeetingNoteDeleted, MeetingNoteUpdated}
}

// Valid reports whether s is a known meeting note status.
func (s MeetingNoteStatus) Valid() bool {
	switch s {
	case MeetingNoteCreated, MeetingNoteDeleted, MeetingNoteUpdated:
		return true
	}
	return false
}

// String returns the wire value of s, valid or not.
func (s MeetingNoteStatus) String() string { return string(s) }

// ParseMeetingNoteStatus returns the MeetingNoteStatus whose wire value is s.
// The error wraps ErrUnknownStatus. Matching is exact.
func ParseMeetingNoteStatus(s string) (MeetingNoteStatus, error) {
	if v := MeetingNoteStatus(s); v.Valid() {
		return v, nil
	}
	return "", unknownStatus("meeting note", s)
}

// MarshalText implements encoding.TextMarshaler. It fails with
// ErrUnknownStatus if s is not valid.
func (s MeetingNoteStatus) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, unknownStatus("meeting note", string(s))
	}
	return []byte(s), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It fails with
// ErrUnknownStatus, leaving s unchanged, if text is not a meeting note
// status.
func (s *MeetingNoteStatus) UnmarshalText(text []byte) error {
	v, err := ParseMeetingNoteStatus(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Event is a webhook payload: exactly the JSON body a receiver gets, flat
// camelCase without an envelope. MeetingStatusChanged,
// MeetingNoteStatusChanged and CommercialSignalDetected implement it, as
// values and as pointers.
type Event interface {
	// EventType returns the type of the event, which selects the webhooks
	// that receive it.
	EventType() EventType
	// EventName returns string(EventType()): the stable name the event goes
	// by on the bus.
	EventName() string
	// Validate reports whether the payload may be sent. Its error wraps
	// ErrInvalidPayload and one *FieldError per problem.
	Validate() error
}

var (
	_ Event = MeetingStatusChanged{}
	_ Event = MeetingNoteStatusChanged{}
	_ Event = CommercialSignalDetected{}
)

// MeetingStatusChanged is the payload of a meeting_status_changed event. Both
// fields are required.
type MeetingStatusChanged struct {
	// MeetingID identifies the meeting.
	MeetingID string `json:"meetingId"`
	// Status is the meeting's new status.
	Status MeetingStatus `json:"status"`
}

// EventType returns MeetingStatusChangedEvent.
func (MeetingStatusChanged) EventType() EventType { return MeetingStatusChangedEvent }

// MarshalJSON encodes e as encoding/json encodes its fields. As a method it
// is also the encoding of a type that embeds the payload, to give the bus
// an event id or time: that type's own fields never reach the body.
func (e MeetingStatusChanged) MarshalJSON() ([]byte, error) {
	status, err := e.Status.MarshalText()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(`{"meetingId":"","status":""}`)+len(e.MeetingID)+len(status)+8)
	b = append(b, `{"meetingId":`...)
	b = appendJSONString(b, e.MeetingID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(status))
	return append(b, '}'), nil
}

// EventName returns "meeting_status_changed".
func (MeetingStatusChanged) EventName() string { return string(MeetingStatusChangedEvent) }

// Validate reports a missing meetingId or status and an unknown status.
func (e MeetingStatusChanged) Validate() error {
	var v payloadValidator
	v.required("meetingId", e.MeetingID)
	if v.required("status", string(e.Status)) && !e.Status.Valid() {
		v.add("status", unknownStatus("meeting", string(e.Status)))
	}
	return v.err(MeetingStatusChangedEvent)
}

// MeetingNoteStatusChanged is the payload of a meeting_note_status_changed
// event, sent once per note. All fields are required.
type MeetingNoteStatusChanged struct {
	// MeetingNoteID identifies the note.
	MeetingNoteID string `json:"meetingNoteId"`
	// MeetingID identifies the meeting the note belongs to.
	MeetingID string `json:"meetingId"`
	// Status is what happened to the note.
	Status MeetingNoteStatus `json:"status"`
}

// EventType returns MeetingNoteStatusChangedEvent.
func (MeetingNoteStatusChanged) EventType() EventType { return MeetingNoteStatusChangedEvent }

// MarshalJSON encodes e as encoding/json encodes its fields; like
// MeetingStatusChanged's, it is also the encoding of a type embedding e.
func (e MeetingNoteStatusChanged) MarshalJSON() ([]byte, error) {
	status, err := e.Status.MarshalText()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(`{"meetingNoteId":"","meetingId":"","status":""}`)+len(e.MeetingNoteID)+len(e.MeetingID)+len(status)+8)
	b = append(b, `{"meetingNoteId":`...)
	b = appendJSONString(b, e.MeetingNoteID)
	b = append(b, `,"meetingId":`...)
	b = appendJSONString(b, e.MeetingID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(status))
	return append(b, '}'), nil
}

// EventName returns "meeting_note_status_changed".
func (MeetingNoteStatusChanged) EventName() string { return string(MeetingNoteStatusChangedEvent) }

// Validate reports a missing meetingNoteId, meetingId or status and an
// unknown status.
func (e MeetingNoteStatusChanged) Validate() error {
	var v payloadValidator
	v.required("meetingNoteId", e.MeetingNoteID)
	v.required("meetingId", e.MeetingID)
	if v.required("status", string(e.Status)) && !e.Status.Valid() {
		v.add("status", unknownStatus("meeting note", string(e.Status)))
	}
	return v.err(MeetingNoteStatusChangedEvent)
}

// CommercialSignalDetected is the payload of a commercial_signal_detected
// event. Code, Category, ActivityType, ActivityID and ChangeType are
// required; Description, ContactID and CompanyID may be empty (they are then
// sent as empty strings); Evidence may be empty and is always sent as a JSON
// array, [] when nil.
type CommercialSignalDetected struct {
	// Code names the signal.
	Code signals.Code `json:"code"`
	// Description describes the signal in detail.
	Description string `json:"description"`
	// ContactID identifies the related contact.
	ContactID string `json:"contactId"`
	// CompanyID identifies the related company.
	CompanyID string `json:"companyId"`
	// Category says whether the signal is positive, a risk or neutral.
	Category signals.Category `json:"category"`
	// ActivityType is the kind of activity the signal was detected in.
	ActivityType signals.ActivityType `json:"activityType"`
	// ActivityID identifies the activity the signal was detected in.
	ActivityID string `json:"activityId"`
	// Evidence quotes the text supporting the detection.
	Evidence []string `json:"evidence"`
	// ChangeType relates the signal to its previous detection.
	ChangeType signals.ChangeType `json:"changeType"`
}

// EventType returns CommercialSignalDetectedEvent.
func (CommercialSignalDetected) EventType() EventType { return CommercialSignalDetectedEvent }

// EventName returns "commercial_signal_detected".
func (CommercialSignalDetected) EventName() string { return string(CommercialSignalDetectedEvent) }

// Validate reports a missing required field and a code, category, activity
// type or change type outside the signals taxonomy; the latter match
// signals.ErrUnknownCode and its siblings as well as ErrInvalidPayload.
func (e CommercialSignalDetected) Validate() error {
	var v payloadValidator
	if v.required("code", string(e.Code)) && !e.Code.Valid() {
		_, err := signals.ParseCode(string(e.Code))
		v.add("code", err)
	}
	if v.required("category", string(e.Category)) && !e.Category.Valid() {
		_, err := signals.ParseCategory(string(e.Category))
		v.add("category", err)
	}
	if v.required("activityType", string(e.ActivityType)) && !e.ActivityType.Valid() {
		_, err := signals.ParseActivityType(string(e.ActivityType))
		v.add("activityType", err)
	}
	v.required("activityId", e.ActivityID)
	if v.required("changeType", string(e.ChangeType)) && !e.ChangeType.Valid() {
		_, err := signals.ParseChangeType(string(e.ChangeType))
		v.add("changeType", err)
	}
	return v.err(CommercialSignalDetectedEvent)
}

// MarshalJSON encodes e as encoding/json would encode its fields, except that
// a nil Evidence becomes [] rather than null. It fails, like the field types'
// MarshalText, on a code, category, activity type or change type outside the
// taxonomy. It writes the object directly, without reflection, in one
// allocation; json.Marshal adds its own pass over the output of any
// MarshalJSON method, so a sender holding a CommercialSignalDetected saves
// that work by calling MarshalJSON itself.
func (e CommercialSignalDetected) MarshalJSON() ([]byte, error) {
	if err := e.checkEnums(); err != nil {
		return nil, err
	}
	size := len(`{"code":"","description":"","contactId":"","companyId":"","category":"","activityType":"","activityId":"","evidence":[],"changeType":""}`) +
		len(e.Code) + len(e.Description) + len(e.ContactID) + len(e.CompanyID) +
		len(e.Category) + len(e.ActivityType) + len(e.ActivityID) + len(e.ChangeType)
	for _, s := range e.Evidence {
		size += len(s) + len(`"",`)
	}
	size += size / 16 // room for a few escapes

	b := make([]byte, 0, size)
	b = append(b, `{"code":`...)
	b = appendJSONString(b, string(e.Code))
	b = append(b, `,"description":`...)
	b = appendJSONString(b, e.Description)
	b = append(b, `,"contactId":`...)
	b = appendJSONString(b, e.ContactID)
	b = append(b, `,"companyId":`...)
	b = appendJSONString(b, e.CompanyID)
	b = append(b, `,"category":`...)
	b = appendJSONString(b, string(e.Category))
	b = append(b, `,"activityType":`...)
	b = appendJSONString(b, string(e.ActivityType))
	b = append(b, `,"activityId":`...)
	b = appendJSONString(b, e.ActivityID)
	b = append(b, `,"evidence":[`...)
	for i, s := range e.Evidence {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	b = append(b, `],"changeType":`...)
	b = appendJSONString(b, string(e.ChangeType))
	b = append(b, '}')
	return b, nil
}

// SampleEvent returns a realistic, valid payload of type t, as a value (not
// a pointer), for "send a test event" features and tools. Each call returns
// a new value. The error wraps ErrUnknownEventType.
func SampleEvent(t EventType) (Event, error) {
	switch t {
	case MeetingStatusChangedEvent:
		return MeetingStatusChanged{
			MeetingID: "mtg_01HZX3K9Q2",
			Status:    MeetingSummaryDone,
		}, nil
	case MeetingNoteStatusChangedEvent:
		return MeetingNoteStatusChanged{
			MeetingNoteID: "note_01HZX3M7B4",
			MeetingID:     "mtg_01HZX3K9Q2",
			Status:        MeetingNoteCreated,
		}, nil
	case CommercialSignalDetectedEvent:
		return CommercialSignalDetected{
			Code:         signals.BuyingIntent,
			Description:  "The client asked for a quote for 40 seats to start before the end of the quarter.",
			ContactID:    "ct_01HZX2A1C8",
			CompanyID:    "co_01HZWZ7T5R",
			Category:     signals.Positive,
			ActivityType: signals.ActivityMeeting,
			ActivityID:   "mtg_01HZX3K9Q2",
			Evidence: []string{
				"Could you send us a quote for 40 seats?",
				"We would like to be live before the end of Q3.",
			},
			ChangeType: signals.ChangeNew,
		}, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownEventType, string(t))
}

// DecodeEvent decodes body as the payload of event type t and validates it.
// It returns a value of the payload type (MeetingStatusChanged,
// MeetingNoteStatusChanged or CommercialSignalDetected), not a pointer.
//
// Field names match exactly, as the contract spells them. Other fields
// (unknown ones, and names that differ only in case) are ignored, so
// receivers keep working when the payload gains fields; a JSON null is an
// absent field. An unknown t fails with ErrUnknownEventType; every other
// error wraps ErrInvalidPayload: a body that is not one JSON object, or
// problems with its fields, each in a *FieldError naming the JSON field, all
// of them at once: a field of the wrong JSON type (ErrFieldType), a field
// that appears twice (ErrDuplicateField; parsers disagree on which one
// counts), and what Validate finds.
func DecodeEvent(t EventType, body []byte) (Event, error) {
	switch t {
	case MeetingStatusChangedEvent:
		var w struct{ meetingID, status string }
		return decodeValidated(t, body, map[string]any{"meetingId": &w.meetingID, "status": &w.status}, func() Event {
			return MeetingStatusChanged{MeetingID: w.meetingID, Status: MeetingStatus(w.status)}
		})
	case MeetingNoteStatusChangedEvent:
		var w struct{ meetingNoteID, meetingID, status string }
		return decodeValidated(t, body, map[string]any{"meetingNoteId": &w.meetingNoteID, "meetingId": &w.meetingID, "status": &w.status}, func() Event {
			return MeetingNoteStatusChanged{MeetingNoteID: w.meetingNoteID, MeetingID: w.meetingID, Status: MeetingNoteStatus(w.status)}
		})
	case CommercialSignalDetectedEvent:
		var w struct {
			code, description, contactID, companyID, category, activityType, activityID, changeType string
			evidence                                                                                stringArray
		}
		fields := map[string]any{
			"code": &w.code, "description": &w.description, "contactId": &w.contactID, "companyId": &w.companyID,
			"category": &w.category, "activityType": &w.activityType, "activityId": &w.activityID,
			"evidence": &w.evidence, "changeType": &w.changeType,
		}
		return decodeValidated(t, body, fields, func() Event {
			return CommercialSignalDetected{
				Code:         signals.Code(w.code),
				Description:  w.description,
				ContactID:    w.contactID,
				CompanyID:    w.companyID,
				Category:     signals.Category(w.category),
				ActivityType: signals.ActivityType(w.activityType),
				ActivityID:   w.activityID,
				Evidence:     []string(w.evidence),
				ChangeType:   signals.ChangeType(w.changeType),
			}
		})
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownEventType, string(t))
}

// decodeValidated decodes body into fields (plain strings: values outside
// an enumeration are left for Validate, which names them), then validates
// the event build makes of them. Validate's findings on a field that did
// not decode are left out: the decoding problem is the one to report.
func decodeValidated(t EventType, body []byte, fields map[string]any, build func() Event) (Event, error) {
	problems, err := decodeFields(body, fields)
	if err != nil {
		return nil, fmt.Errorf("%w (%s): %w", ErrInvalidPayload, t, err)
	}
	e := build()
	verr := e.Validate()
	if len(problems) == 0 {
		if verr != nil {
			return nil, verr
		}
		return e, nil
	}
	undecoded := make(map[string]bool, len(problems))
	for _, p := range problems {
		undecoded[p.(*FieldError).Field] = true
	}
	if undecoded[bodyField] {
		// Not an object: no field decoded, none is missing.
		return nil, fmt.Errorf("%w (%s): %w", ErrInvalidPayload, t, errors.Join(problems...))
	}
	for _, fe := range fieldErrors(verr) {
		name, _, _ := strings.Cut(fe.Field, "[")
		if !undecoded[name] {
			problems = append(problems, fe)
		}
	}
	return nil, fmt.Errorf("%w (%s): %w", ErrInvalidPayload, t, errors.Join(problems...))
}

// decodeFields decodes body, one JSON object, into the destination of each
// member named in fields, by exact name; other members are skipped, and
// null (for a member or the whole body) leaves a destination as it is. It
// returns a *FieldError for each member of the wrong JSON type and each one
// repeated, and for a body of another type, or an error when body is not
// JSON.
func decodeFields(body []byte, fields map[string]any) (problems []error, err error) {
	if !json.Valid(body) {
		// json.Unmarshal says where.
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
	case nil:
		return nil, nil // null: no fields
	default:
		return []error{&FieldError{Field: bodyField, Err: fmt.Errorf("%w: JSON %s where an object is expected", ErrFieldType, tokenKind(tok))}}, nil
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		dst, known := fields[name]
		if !known || seen[name] {
			if known {
				problems = append(problems, &FieldError{Field: name, Err: ErrDuplicateField})
			}
			dst = new(json.RawMessage)
		}
		seen[name] = true
		if err := dec.Decode(dst); err != nil {
			ute, ok := errors.AsType[*json.UnmarshalTypeError](err)
			if !ok {
				return nil, err
			}
			problems = append(problems, &FieldError{Field: name, Err: fmt.Errorf("%w: JSON %s where %s is expected", ErrFieldType, ute.Value, jsonKind(ute.Type))})
		}
	}
	return problems, nil
}

// stringArray is a JSON array of strings that refuses a null element, which
// encoding/json would decode as "", with the *json.UnmarshalTypeError of a
// value of the wrong type.
type stringArray []string

func (a *stringArray) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // a null member: left as it is, as for the other fields
	}
	var elems []*string
	if err := json.Unmarshal(b, &elems); err != nil {
		return err
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if e == nil {
			return &json.UnmarshalTypeError{Value: "null", Type: reflect.TypeFor[string](), Field: strconv.Itoa(i)}
		}
		out[i] = *e
	}
	*a = out
	return nil
}

// bodyField is the Field of a FieldError about the whole body.
const bodyField = "(body)"

// tokenKind names the JSON type of a value that starts with tok.
func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "array"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// fieldErrors returns the *FieldError values err joins, at any depth.
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// checkEnums returns the error MarshalText of the first invalid enumeration
// field returns, so that MarshalJSON fails exactly as the default encoding
// would.
func (e CommercialSignalDetected) checkEnums() error {
	if !e.Code.Valid() {
		_, err := e.Code.MarshalText()
		return err
	}
	if !e.Category.Valid() {
		_, err := e.Category.MarshalText()
		return err
	}
	if !e.ActivityType.Valid() {
		_, err := e.ActivityType.MarshalText()
		return err
	}
	if !e.ChangeType.Valid() {
		_, err := e.ChangeType.MarshalText()
		return err
	}
	return nil
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// payloadValidator collects the problems of one payload.
type payloadValidator struct {
	errs []error
}

func (v *payloadValidator) add(field string, err error) {
	v.errs = append(v.errs, &FieldError{Field: field, Err: err})
}

// required records ErrMissingField for an empty or whitespace-only value and
// reports whether the value is present.
func (v *payloadValidator) required(field, value string) bool {
	if strings.TrimSpace(value) == "" {
		v.add(field, ErrMissingField)
		return false
	}
	return true
}

func (v *payloadValidator) err(t EventType) error {
	if len(v.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s): %w", ErrInvalidPayload, t, errors.Join(v.errs...))
}

func unknownStatus(family, s string) error {
	return fmt.Errorf("%w %q for a %s", ErrUnknownStatus, s, family)
}

// jsonSafe holds the ASCII bytes a JSON string carries as they are: printable,
// and neither a quote, a backslash nor one of encoding/json's HTML escapes.
var jsonSafe = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		switch c {
		case '"', '\\', '<', '>', '&':
		default:
			t[c] = true
		}
	}
	return t
}()

// appendJSONString appends s as a JSON string exactly as encoding/json.Marshal
// writes it: HTML-sensitive characters (<, >, &), U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if jsonSafe[s[i]] {
			// The common case, in a tight loop: a run of bytes copied as they are.
			i++
			for i < len(s) && jsonSafe[s[i]] {
				i++
			}
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
