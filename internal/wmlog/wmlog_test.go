package wmlog_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/hookbus/hookbus/internal/wmlog"
)

// dropTime keeps the example's output stable.
func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func ExampleAdapter() {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))
	wmlog.Adapter(l).Info("subscribed", watermill.LogFields{"topic": "orders"})
	fmt.Print(buf.String())
	// Output: level=DEBUG msg=subscribed topic=orders
}

func TestInfoIsHiddenAtInfoLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := wmlog.Adapter(l)
	a.Info("chatter", nil)
	a.Error("failed", fmt.Errorf("boom"), nil)
	out := buf.String()
	if strings.Contains(out, "chatter") {
		t.Errorf("Watermill's Info reached an Info-level logger: %q", out)
	}
	if !strings.Contains(out, "failed") || !strings.Contains(out, "boom") {
		t.Errorf("Watermill's Error is missing: %q", out)
	}
}

func TestNilDiscards(t *testing.T) {
	if _, ok := wmlog.Adapter(nil).(watermill.NopLogger); !ok {
		t.Error("Adapter(nil) is not a NopLogger")
	}
}
