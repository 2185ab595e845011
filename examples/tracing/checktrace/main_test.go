package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

// testdata/trace.json is a meeting_status_changed trace as Jaeger v2 returned
// it: one delivery to "CRM meeting sync" (1 attempt) and one to "Legacy ERP
// (down)" (4 attempts, dead-lettered), each attempt answered by the receiver.
const (
	fixtureID   = "6dcd4ffef98021abf1f90a55e3643b08"
	fixtureLine = "trace_id=" + fixtureID + " event=meeting_status_changed deliveries=2"
)

var defaultRules = rules{service: "hookbus-quickstart", failing: "Legacy ERP (down)", minAttempts: 2}

func loadFixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/trace.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureTrace(t *testing.T) *jaegerTrace {
	t.Helper()
	var body struct{ Data []jaegerTrace }
	if err := json.Unmarshal(loadFixture(t), &body); err != nil {
		t.Fatal(err)
	}
	return &body.Data[0]
}

func fixtureWant() want {
	return want{traceID: fixtureID, event: "meeting_status_changed", deliveries: 2}
}

func TestCheckCompleteTrace(t *testing.T) {
	res := defaultRules.check(fixtureTrace(t), fixtureWant())
	if len(res.problems) > 0 {
		t.Fatalf("problems in a complete trace: %q", res.problems)
	}
	if !res.failingSeen {
		t.Error("failing webhook not seen")
	}
	for _, s := range []string{"CRM meeting sync: 1 attempt(s) delivered", "Legacy ERP (down): 4 attempt(s) dead_lettered"} {
		if !strings.Contains(res.summary, s) {
			t.Errorf("summary %q lacks %q", res.summary, s)
		}
	}
}

// TestCheckDetects starts from the complete trace and breaks one thing per
// case; each must be reported.
func TestCheckDetects(t *testing.T) {
	spanNamed := func(tr *jaegerTrace, name string) *jaegerSpan {
		for i := range tr.Spans {
			if tr.Spans[i].OperationName == name {
				return &tr.Spans[i]
			}
		}
		t.Fatalf("fixture has no span %q", name)
		return nil
	}
	drop := func(tr *jaegerTrace, name string) {
		i := slices.IndexFunc(tr.Spans, func(s jaegerSpan) bool { return s.OperationName == name })
		if i < 0 {
			t.Fatalf("fixture has no span %q", name)
		}
		tr.Spans = slices.Delete(tr.Spans, i, i+1)
	}
	dropTag := func(sp *jaegerSpan, key string) {
		sp.Tags = slices.DeleteFunc(sp.Tags, func(tg jaegerTag) bool { return tg.Key == key })
	}
	for _, tc := range []struct {
		name   string
		change func(tr *jaegerTrace, w *want, r *rules)
		report string
	}{
		{"host span missing", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "POST /meetings/{meetingId}/status") }, "root spans"},
		{"publish span missing", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "publish meeting_status_changed") }, "publish meeting_status_changed (producer)"},
		{"dispatch span missing", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "dispatch meeting_status_changed") }, "dispatch"},
		{"deliver span missing", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "deliver CRM meeting sync") }, "1 deliver spans"},
		{"receiver span missing", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "POST /crm") }, "receiver (server) spans"},
		{"client span missing", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "HTTP POST") }, "HTTP client spans"},
		{"deliver only follows from dispatch", func(tr *jaegerTrace, _ *want, _ *rules) {
			spanNamed(tr, "deliver CRM meeting sync").References[0].RefType = "FOLLOWS_FROM"
		}, "none CHILD_OF"},
		{"parent not in trace", func(tr *jaegerTrace, _ *want, _ *rules) { drop(tr, "deliver Legacy ERP (down)") }, "not in the trace"},
		{"dispatch is not a consumer", func(tr *jaegerTrace, _ *want, _ *rules) {
			dropTag(spanNamed(tr, "dispatch meeting_status_changed"), "span.kind")
		}, "dispatch"},
		{"failing delivery without error tag", func(tr *jaegerTrace, _ *want, _ *rules) {
			dropTag(spanNamed(tr, "deliver Legacy ERP (down)"), "error")
		}, "no error tag"},
		{"failing delivery without retries", func(_ *jaegerTrace, _ *want, r *rules) { r.minAttempts = 5 }, "want at least 5"},
		{"successful delivery with error tag", func(tr *jaegerTrace, _ *want, _ *rules) {
			sp := spanNamed(tr, "deliver CRM meeting sync")
			sp.Tags = append(sp.Tags, jaegerTag{Key: "error", Value: true})
		}, "has the error tag"},
		{"attempts tag missing", func(tr *jaegerTrace, _ *want, _ *rules) {
			dropTag(spanNamed(tr, "deliver CRM meeting sync"), "hookbus.delivery.attempts")
		}, "no hookbus.delivery.attempts"},
		{"another service", func(_ *jaegerTrace, _ *want, r *rules) { r.service = "other" }, "from service"},
		{"more deliveries reported", func(_ *jaegerTrace, w *want, _ *rules) { w.deliveries = 3 }, "want 3"},
		{"another event reported", func(_ *jaegerTrace, w *want, _ *rules) { w.event = "meeting_note_status_changed" }, "publish meeting_note_status_changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, w, r := fixtureTrace(t), fixtureWant(), defaultRules
			tc.change(tr, &w, &r)
			res := r.check(tr, w)
			if !slices.ContainsFunc(res.problems, func(p string) bool { return strings.Contains(p, tc.report) }) {
				t.Errorf("problems %q, want one containing %q", res.problems, tc.report)
			}
		})
	}
}

func TestParseWants(t *testing.T) {
	in := "== publishing\n" + fixtureLine + "\ntrace_id=0123456789abcdef0123456789abcdef\n"
	got, err := parseWants(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantList := []want{fixtureWant(), {traceID: "0123456789abcdef0123456789abcdef", deliveries: -1}}
	if !slices.Equal(got, wantList) {
		t.Errorf("parseWants = %+v, want %+v", got, wantList)
	}
	for _, bad := range []string{"trace_id=xyz", "trace_id=" + fixtureID + " deliveries=two"} {
		if _, err := parseWants(strings.NewReader(bad)); err == nil {
			t.Errorf("parseWants(%q) accepted a malformed line", bad)
		}
	}
}

// TestRun checks run against a fake query service that knows only the
// fixture trace.
func TestRun(t *testing.T) {
	fixture := loadFixture(t)
	jaeger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/traces/"+fixtureID {
			http.NotFound(w, r)
			return
		}
		w.Write(fixture)
	}))
	defer jaeger.Close()
	args := []string{"-query", jaeger.URL, "-timeout", "300ms", "-interval", "10ms"}

	var out bytes.Buffer
	if err := run(context.Background(), args, strings.NewReader(fixtureLine+"\n"), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "all 1 traces complete") {
		t.Errorf("output lacks the verdict:\n%s", &out)
	}

	out.Reset()
	unknown := "trace_id=0123456789abcdef0123456789abcdef\n"
	err := run(context.Background(), args, strings.NewReader(fixtureLine+"\n"+unknown), &out)
	if !errors.Is(err, errIncomplete) {
		t.Fatalf("run with an unknown trace: %v, want errIncomplete", err)
	}
	if !strings.Contains(out.String(), "trace not found") {
		t.Errorf("output does not say what is missing:\n%s", &out)
	}

	out.Reset()
	err = run(context.Background(), append(args, "-failing", "Nobody"), strings.NewReader(fixtureLine+"\n"), &out)
	if !errors.Is(err, errIncomplete) {
		t.Fatalf("run without the failing webhook: %v, want errIncomplete", err)
	}
}
