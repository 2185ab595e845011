package signals_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hookbus/hookbus/signals"
)

// signalPayload carries one field of each of the package's types.
type signalPayload struct {
	Code         signals.Code         `json:"code"`
	Group        signals.Group        `json:"group"`
	Category     signals.Category     `json:"category"`
	ActivityType signals.ActivityType `json:"activityType"`
	ChangeType   signals.ChangeType   `json:"changeType"`
}

func validPayload() signalPayload {
	return signalPayload{
		Code:         signals.BuyingIntent,
		Group:        signals.GroupEngagementIntent,
		Category:     signals.Positive,
		ActivityType: signals.ActivityMeeting,
		ChangeType:   signals.ChangeNew,
	}
}

// invalidField describes one field of signalPayload set to a bad value.
type invalidField struct {
	name   string
	field  string // JSON name
	value  string
	kind   string
	target error
	set    func(*signalPayload, string)
	parse  func(string) error
}

func invalidFields() []invalidField {
	var fields []invalidField
	for _, value := range []string{"", "bogus", "buying_intnet", "Positive", "new "} {
		fields = append(fields,
			invalidField{
				field: "code", value: value, kind: "code", target: signals.ErrUnknownCode,
				set:   func(p *signalPayload, s string) { p.Code = signals.Code(s) },
				parse: func(s string) error { _, err := signals.ParseCode(s); return err },
			},
			invalidField{
				field: "group", value: value, kind: "group", target: signals.ErrUnknownGroup,
				set:   func(p *signalPayload, s string) { p.Group = signals.Group(s) },
				parse: func(s string) error { _, err := signals.ParseGroup(s); return err },
			},
			invalidField{
				field: "category", value: value, kind: "category", target: signals.ErrUnknownCategory,
				set:   func(p *signalPayload, s string) { p.Category = signals.Category(s) },
				parse: func(s string) error { _, err := signals.ParseCategory(s); return err },
			},
			invalidField{
				field: "activityType", value: value, kind: "activity type", target: signals.ErrUnknownActivityType,
				set:   func(p *signalPayload, s string) { p.ActivityType = signals.ActivityType(s) },
				parse: func(s string) error { _, err := signals.ParseActivityType(s); return err },
			},
			invalidField{
				field: "changeType", value: value, kind: "change type", target: signals.ErrUnknownChangeType,
				set:   func(p *signalPayload, s string) { p.ChangeType = signals.ChangeType(s) },
				parse: func(s string) error { _, err := signals.ParseChangeType(s); return err },
			},
		)
	}
	for i := range fields {
		fields[i].name = fields[i].field + "=" + fields[i].value
	}
	return fields
}

// checkUnknown checks that err reports value as an unknown kind.
func checkUnknown(t *testing.T, err error, f invalidField) {
	t.Helper()
	if !errors.Is(err, f.target) {
		t.Fatalf("err = %v, want errors.Is %v", err, f.target)
	}
	var uv *signals.UnknownValueError
	if !errors.As(err, &uv) {
		t.Fatalf("err = %v (%T), want *UnknownValueError", err, err)
	}
	if uv.Kind != f.kind || uv.Value != f.value {
		t.Errorf("UnknownValueError{Kind: %q, Value: %q}, want {Kind: %q, Value: %q}", uv.Kind, uv.Value, f.kind, f.value)
	}
}

func TestUnmarshalJSONRefusesUnknownValues(t *testing.T) {
	body, err := json.Marshal(validPayload())
	if err != nil {
		t.Fatalf("json.Marshal(valid): %v", err)
	}
	var ok signalPayload
	if err := json.Unmarshal(body, &ok); err != nil || ok != validPayload() {
		t.Fatalf("valid payload: got %+v, %v", ok, err)
	}

	for _, f := range invalidFields() {
		t.Run(f.name, func(t *testing.T) {
			var fields map[string]string
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatal(err)
			}
			fields[f.field] = f.value
			bad, err := json.Marshal(fields)
			if err != nil {
				t.Fatal(err)
			}
			var p signalPayload
			checkUnknown(t, json.Unmarshal(bad, &p), f)
		})
	}
}

func TestParseRefusesUnknownValues(t *testing.T) {
	for _, f := range invalidFields() {
		t.Run(f.name, func(t *testing.T) {
			checkUnknown(t, f.parse(f.value), f)
		})
	}
}

func TestMarshalJSONRefusesUnknownValues(t *testing.T) {
	if _, err := json.Marshal(validPayload()); err != nil {
		t.Fatalf("json.Marshal(valid): %v", err)
	}
	for _, f := range invalidFields() {
		t.Run(f.name, func(t *testing.T) {
			p := validPayload()
			f.set(&p, f.value)
			body, err := json.Marshal(p)
			if err == nil {
				t.Fatalf("json.Marshal = %s, want error", body)
			}
			checkUnknown(t, err, f)
		})
	}
}

func TestUnmarshalTextKeepsValueOnError(t *testing.T) {
	c := signals.ChurnRisk
	if err := c.UnmarshalText([]byte("churn")); !errors.Is(err, signals.ErrUnknownCode) {
		t.Errorf("Code.UnmarshalText: err = %v, want ErrUnknownCode", err)
	}
	g := signals.GroupRiskChurn
	if err := g.UnmarshalText(nil); !errors.Is(err, signals.ErrUnknownGroup) {
		t.Errorf("Group.UnmarshalText: err = %v, want ErrUnknownGroup", err)
	}
	cat := signals.Risk
	if err := cat.UnmarshalText([]byte("RISK")); !errors.Is(err, signals.ErrUnknownCategory) {
		t.Errorf("Category.UnmarshalText: err = %v, want ErrUnknownCategory", err)
	}
	a := signals.ActivityCall
	if err := a.UnmarshalText([]byte("email")); !errors.Is(err, signals.ErrUnknownActivityType) {
		t.Errorf("ActivityType.UnmarshalText: err = %v, want ErrUnknownActivityType", err)
	}
	ch := signals.ChangeImproved
	if err := ch.UnmarshalText([]byte("worse")); !errors.Is(err, signals.ErrUnknownChangeType) {
		t.Errorf("ChangeType.UnmarshalText: err = %v, want ErrUnknownChangeType", err)
	}
	if c != signals.ChurnRisk || g != signals.GroupRiskChurn || cat != signals.Risk ||
		a != signals.ActivityCall || ch != signals.ChangeImproved {
		t.Errorf("values changed by failed UnmarshalText: %q %q %q %q %q", c, g, cat, a, ch)
	}
}

func TestUnknownValueErrorSentinels(t *testing.T) {
	sentinels := []error{
		signals.ErrUnknownCode, signals.ErrUnknownGroup, signals.ErrUnknownCategory,
		signals.ErrUnknownActivityType, signals.ErrUnknownChangeType,
	}
	kinds := []string{"code", "group", "category", "activity type", "change type"}
	for i, kind := range kinds {
		err := &signals.UnknownValueError{Kind: kind, Value: "x"}
		for j, s := range sentinels {
			if got := errors.Is(err, s); got != (i == j) {
				t.Errorf("errors.Is(kind %q, %v) = %v, want %v", kind, s, got, i == j)
			}
		}
	}
	if got := (&signals.UnknownValueError{Kind: "colour", Value: "x"}).Unwrap(); got != nil {
		t.Errorf("Unwrap of an undefined kind = %v, want nil", got)
	}
}
