package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestQuickstart runs the whole program and checks its account: every
// delivery to a healthy endpoint delivered, the down endpoint's five events
// dead-lettered after four attempts each, then redelivered.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []struct {
		substr string
		count  int
	}{
		{"  ! dead letter: meeting_status_changed", 5},
		{"dead_lettered attempts=4 status=503", 5},
		{"delivered     attempts=1 status=204 (redelivery)", 5},
		{"15 answered 2xx, 15 distinct webhook-ids", 1},
	} {
		if got := strings.Count(text, want.substr); got != want.count {
			t.Errorf("%q appears %d times, want %d\n%s", want.substr, got, want.count, text)
		}
	}
}
