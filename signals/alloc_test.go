package signals_test

import (
	"testing"

	"github.com/hookbus/hookbus/signals"
)

// These operations run for every webhook payload.
func TestHotPathAllocations(t *testing.T) {
	c := signals.ClientDrivesConversation
	text := []byte("client_drives_conversation")
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		{"Code.Valid", 0, func() { _ = c.Valid() }},
		{"Code.Valid unknown", 0, func() { _ = signals.Code("nope").Valid() }},
		{"Code.Group", 0, func() { _ = c.Group() }},
		{"Code.Description", 0, func() { _ = c.Description() }},
		{"Code.MarshalText", 1, func() { _, _ = c.MarshalText() }},
		{"Code.UnmarshalText", 0, func() { var d signals.Code; _ = d.UnmarshalText(text) }},
		{"ParseCode", 0, func() { _, _ = signals.ParseCode("churn_risk") }},
		{"Group.Valid", 0, func() { _ = signals.GroupRiskChurn.Valid() }},
		{"Group.MarshalText", 1, func() { _, _ = signals.GroupRiskChurn.MarshalText() }},
		{"Category.Valid", 0, func() { _ = signals.Neutral.Valid() }},
		{"Category.MarshalText", 1, func() { _, _ = signals.Neutral.MarshalText() }},
		{"ActivityType.Valid", 0, func() { _ = signals.ActivityMail.Valid() }},
		{"ActivityType.MarshalText", 1, func() { _, _ = signals.ActivityMail.MarshalText() }},
		{"ChangeType.Valid", 0, func() { _ = signals.ChangeRecovered.Valid() }},
		{"ChangeType.MarshalText", 1, func() { _, _ = signals.ChangeRecovered.MarshalText() }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
		}
	}
}
