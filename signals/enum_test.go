package signals_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hookbus/hookbus/signals"
)

func TestCategories(t *testing.T) {
	constants := []signals.Category{signals.Positive, signals.Risk, signals.Neutral}
	checkValues(t, signals.Categories, constants, []string{"positive", "risk", "neutral"}, signals.ParseCategory)
}

func TestActivityTypes(t *testing.T) {
	constants := []signals.ActivityType{signals.ActivityMeeting, signals.ActivityCall, signals.ActivityMail}
	checkValues(t, signals.ActivityTypes, constants, []string{"meeting", "call", "mail"}, signals.ParseActivityType)
}

func TestChangeTypes(t *testing.T) {
	constants := []signals.ChangeType{
		signals.ChangeNew, signals.ChangeUnchanged, signals.ChangeEscalated,
		signals.ChangeImproved, signals.ChangeRecovered,
	}
	checkValues(t, signals.ChangeTypes, constants,
		[]string{"new", "unchanged", "escalated", "improved", "recovered"}, signals.ParseChangeType)
}

// value is the method set shared by the package's string types.
type value interface {
	~string
	Valid() bool
	String() string
	MarshalText() ([]byte, error)
}

// wrapped holds a value as a JSON struct field and as a JSON map key.
type wrapped[T comparable] struct {
	V T         `json:"v"`
	M map[T]int `json:"m"`
}

// checkValues checks that the list function returns exactly the constants,
// with the wire values want, in that order, as a fresh slice on each call; and
// that every value parses and round-trips through text and JSON.
func checkValues[T value, PT interface {
	*T
	UnmarshalText([]byte) error
}](t *testing.T, listFn func() []T, constants []T, want []string, parse func(string) (T, error)) {
	t.Helper()
	list := listFn()
	if !slices.Equal(list, constants) {
		t.Fatalf("list = %v, want constants %v", list, constants)
	}
	if len(list) != len(want) {
		t.Fatalf("len(list) = %d, want %d", len(list), len(want))
	}
	for i, v := range list {
		if v.String() != want[i] {
			t.Errorf("list[%d] = %q, want %q", i, v, want[i])
		}
		if !v.Valid() {
			t.Errorf("%q.Valid() = false", v)
		}
		if p, err := parse(want[i]); err != nil || p != v {
			t.Errorf("parse(%q) = %q, %v", want[i], p, err)
		}

		text, err := v.MarshalText()
		if err != nil {
			t.Fatalf("%q.MarshalText: %v", v, err)
		}
		var fromText T
		if err := PT(&fromText).UnmarshalText(text); err != nil || fromText != v {
			t.Errorf("text round trip of %q = %q, %v", v, fromText, err)
		}

		in := wrapped[T]{V: v, M: map[T]int{v: i}}
		body, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("json.Marshal(%q): %v", v, err)
		}
		var out wrapped[T]
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", body, err)
		}
		if out.V != v || len(out.M) != 1 || out.M[v] != i {
			t.Errorf("JSON round trip of %s = %+v", body, out)
		}
	}
	list[0] = "changed"
	if again := listFn(); !slices.Equal(again, constants) {
		t.Errorf("list after modifying an earlier result = %v, want %v", again, constants)
	}
}
