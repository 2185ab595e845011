package webhooks_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// recvFuzzMaxBody is the receiver's body limit in FuzzReceiverVerify, small
// enough for the fuzzer to cross it.
const recvFuzzMaxBody = 2048

// FuzzReceiverVerify sends arbitrary requests to a receiver. It checks that
// nothing panics, that every request gets one of the documented statuses
// with exactly one OnError report when refused, and above all that no forged
// request is accepted: an accepted request carries, among the entries the
// Verifier examines, the signature of its exact id, timestamp and body under
// the receiver's secret, with a fresh, canonical timestamp. When sign is
// set, the harness itself puts a valid signature first in the header, and
// the request must then pass verification whenever its headers are well
// formed, fresh and small enough: verification refuses no genuine request.
func FuzzReceiverVerify(f *testing.F) {
	ts := strconv.FormatInt(recvNow.Unix(), 10)
	sample := func(et webhooks.EventType) []byte {
		e, err := webhooks.SampleEvent(et)
		if err != nil {
			f.Fatal(err)
		}
		return recvMarshal(f, e)
	}
	sign := func(secret, id string, body []byte) string {
		s, err := webhooks.Sign(secret, id, recvNow, body)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	for _, et := range webhooks.EventTypes() {
		body := sample(et)
		f.Add(recvID, ts, sign(recvOldSecret, recvID, body), string(et), body, false)
		f.Add(recvID, ts, sign(recvNewSecret, recvID, body)+" "+sign(recvOldSecret, recvID, body), string(et), body, false)
		f.Add(recvID, ts, "v1a,bad v2,xyz", string(et), body, true)
	}
	body := sample(webhooks.MeetingStatusChangedEvent)
	f.Add(recvID, ts, sign(recvUnknownSecret, recvID, body), "meeting_status_changed", body, false)
	f.Add(recvID, ts, "", "meeting_status_changed", body, false)
	f.Add("", ts, "", "meeting_status_changed", body, true)
	f.Add(recvID, "0"+ts, "", "meeting_status_changed", body, true)
	f.Add(recvID, "+"+ts, "", "meeting_status_changed", body, true)
	f.Add(recvID, strconv.FormatInt(recvNow.Unix()-301, 10), "", "meeting_status_changed", body, true)
	f.Add(recvID, strconv.FormatInt(recvNow.Unix()+300, 10), "", "meeting_status_changed", body, true)
	f.Add(recvID, ts, "", "meeting_exploded", body, true)
	f.Add(recvID, ts, "", "", body, true)
	f.Add(recvID, ts, strings.Repeat("v1,x ", 20), "meeting_status_changed", body, true)
	f.Add(recvID, ts, "", "meeting_status_changed", []byte(`{"meetingId":" ","status":"meeting_created"}`), true)
	f.Add(recvID, ts, "", "commercial_signal_detected", make([]byte, recvFuzzMaxBody+1), true)

	f.Fuzz(func(t *testing.T, id, timestamp, signature, event string, body []byte, signIt bool) {
		if signIt {
			unix := recvNow.Unix()
			if u, err := strconv.ParseInt(timestamp, 10, 64); err == nil {
				unix = u
			}
			valid, err := webhooks.Sign(recvOldSecret, id, time.Unix(unix, 0), body)
			if err != nil {
				t.Fatal(err)
			}
			signature = strings.TrimSpace(valid + " " + signature)
		}

		var errs recvErrors
		var calls recvCalls
		cfg := recvValidConfig(&errs)
		cfg.MaxBodyBytes = recvFuzzMaxBody
		h := recvNewReceiver(t, cfg, calls.funcs())
		q := recvReq{method: http.MethodPost, header: http.Header{}, body: body}
		q.header.Set(webhooks.HeaderID, id)
		q.header.Set(webhooks.HeaderTimestamp, timestamp)
		q.header.Set(webhooks.HeaderSignature, signature)
		q.header.Set(webhooks.HeaderEvent, event)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, q.request())

		reported := errs.all()
		switch w.Code {
		case http.StatusNoContent:
			if len(reported) != 0 || calls.count() != 1 {
				t.Fatalf("accepted with OnError %v and %d callback calls", reported, calls.count())
			}
			recvFuzzCheckAuthentic(t, id, timestamp, signature, body)
			want, err := webhooks.DecodeEvent(webhooks.EventType(event), body)
			if err != nil || !reflect.DeepEqual(calls.events[0], want) {
				t.Fatalf("callback got %#v; DecodeEvent gives %#v, %v", calls.events[0], want, err)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			if len(reported) != 1 || calls.count() != 0 {
				t.Fatalf("status %d with OnError %v and %d callback calls", w.Code, reported, calls.count())
			}
		default:
			t.Fatalf("unexpected status %d, OnError %v", w.Code, reported)
		}

		if signIt && recvFuzzWellFormed(id, timestamp, signature, body) {
			for _, err := range reported {
				if !errors.Is(err, webhooks.ErrUnknownEventType) && !errors.Is(err, webhooks.ErrInvalidPayload) {
					t.Fatalf("genuine request refused: %v", err)
				}
			}
		}
	})
}

// recvFuzzCheckAuthentic fails t unless the request is one the holder of
// recvOldSecret signed for exactly these values, within the tolerance.
func recvFuzzCheckAuthentic(t *testing.T, id, timestamp, signature string, body []byte) {
	t.Helper()
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != timestamp || unix < 0 {
		t.Fatalf("accepted a non-canonical timestamp %q", timestamp)
	}
	if skew := recvNow.Sub(time.Unix(unix, 0)); skew > webhooks.DefaultTolerance || skew < -webhooks.DefaultTolerance {
		t.Fatalf("accepted a timestamp %v away", skew)
	}
	want, err := webhooks.Sign(recvOldSecret, id, time.Unix(unix, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	examined := 0
	for entry := range strings.SplitSeq(signature, " ") {
		if entry == "" {
			continue
		}
		if examined++; examined > webhooks.MaxSignatures {
			break
		}
		if entry == want {
			return
		}
	}
	t.Fatalf("accepted a request without the signature of its id %q, timestamp %q and body %q", id, timestamp, body)
}

// recvFuzzWellFormed reports whether a request whose signature header
// starts with the valid signature must pass verification.
func recvFuzzWellFormed(id, timestamp, signature string, body []byte) bool {
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != timestamp || unix < 0 || len(timestamp) > 18 {
		return false
	}
	skew := recvNow.Sub(time.Unix(unix, 0))
	return id != "" &&
		skew <= webhooks.DefaultTolerance && skew >= -webhooks.DefaultTolerance &&
		len(signature) <= webhooks.MaxSignatureHeaderLen &&
		len(body) <= recvFuzzMaxBody
}

// FuzzDecodeEvent decodes arbitrary bodies as every event type. It checks that
// nothing panics, that errors match ErrUnknownEventType for an unknown type
// and ErrInvalidPayload otherwise, and that a decoded event is valid and
// survives encoding and decoding again unchanged, through DecodeEvent and
// DecodeVerified alike.
func FuzzDecodeEvent(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSuffix(filepath.Base(path), ".json"), b)
	}
	for _, et := range webhooks.EventTypes() {
		e, err := webhooks.SampleEvent(et)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(et), recvMarshal(f, e))
	}
	f.Add("meeting_status_changed", []byte(`{"meetingId":"m","status":"meeting_created","extra":[1,{"a":null}]}`))
	f.Add("meeting_status_changed", []byte(`{"MEETINGID":"m","status":"meeting_created","meetingId":"n"}`))
	f.Add("meeting_note_status_changed", []byte(`{"meetingNoteId":"n","meetingId":"m","status":"meeting_note_deleted"}`))
	f.Add("meeting_note_status_changed", []byte(`{"meetingNoteId":1}`))
	f.Add("commercial_signal_detected", []byte(`{"code":"churn_risk","category":"risk","activityType":"call","activityId":"c\u2028\xff","changeType":"escalated","evidence":null}`))
	f.Add("commercial_signal_detected", []byte(`{"code":"not_a_code","evidence":"x"}`))
	f.Add("commercial_signal_detected", []byte(`null`))
	f.Add("", []byte(`{}`))
	f.Add("Meeting_Status_Changed", []byte(`{"meetingId":"m","status":"meeting_created"}`))

	f.Fuzz(func(t *testing.T, eventType string, body []byte) {
		et := webhooks.EventType(eventType)
		e, err := webhooks.DecodeEvent(et, body)
		ev, errVerified := webhooks.DecodeVerified(webhooks.Verified{ID: recvID, Timestamp: recvNow, EventType: et, Body: body})
		if (err == nil) != (errVerified == nil) || !reflect.DeepEqual(e, ev) {
			t.Fatalf("DecodeEvent = %#v, %v; DecodeVerified = %#v, %v", e, err, ev, errVerified)
		}
		if !et.Valid() {
			if e != nil || !errors.Is(err, webhooks.ErrUnknownEventType) {
				t.Fatalf("DecodeEvent(%q) = %#v, %v; want ErrUnknownEventType", eventType, e, err)
			}
			return
		}
		if err != nil {
			if e != nil || !errors.Is(err, webhooks.ErrInvalidPayload) || errors.Is(err, webhooks.ErrUnknownEventType) {
				t.Fatalf("DecodeEvent = %#v, %v; want only ErrInvalidPayload", e, err)
			}
			return
		}
		if e.EventType() != et {
			t.Fatalf("DecodeEvent(%s) returned a %s", et, e.EventType())
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded event does not validate: %v", err)
		}
		wire, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("encoding the decoded event: %v", err)
		}
		again, err := webhooks.DecodeEvent(et, wire)
		if err != nil {
			t.Fatalf("decoding %s again: %v", wire, err)
		}
		if !reflect.DeepEqual(recvNormalize(again), recvNormalize(e)) {
			t.Fatalf("round trip changed the event:\n got %#v\nwant %#v", again, e)
		}
		if wire2, err := json.Marshal(again); err != nil || string(wire2) != string(wire) {
			t.Fatalf("encoding is not stable: %s then %s (%v)", wire, wire2, err)
		}
	})
}

// recvNormalize makes a nil Evidence equal to an empty one: both are sent as [].
func recvNormalize(e webhooks.Event) webhooks.Event {
	if s, ok := e.(webhooks.CommercialSignalDetected); ok && len(s.Evidence) == 0 {
		s.Evidence = nil
		return s
	}
	return e
}
