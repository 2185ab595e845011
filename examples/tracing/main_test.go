package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestRunExportsEveryTrace runs the example against a fake OTLP/HTTP
// collector and checks that every span arrives, from the chosen service, in
// one of the traces the example printed.
func TestRunExportsEveryTrace(t *testing.T) {
	var (
		mu    sync.Mutex
		spans []*tracepb.Span
		svcs  = map[string]bool{}
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != "/v1/traces" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					svcs[kv.GetValue().GetStringValue()] = true
				}
			}
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(resp)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"-service", "tracing-test"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}

	traces := map[string]bool{}
	for line := range strings.Lines(out.String()) {
		if id, ok := strings.CutPrefix(line, "trace_id="); ok {
			traces[strings.Fields(id)[0]] = true
		}
	}
	if len(traces) != len(demoEvents()) {
		t.Errorf("%d trace ids printed, want %d:\n%s", len(traces), len(demoEvents()), &out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(svcs) != 1 || !svcs["tracing-test"] {
		t.Errorf("service names %v, want only tracing-test", svcs)
	}
	// Per meeting event: host, publish, dispatch, two delivers, one CRM
	// attempt and four to the failing endpoint, each with a receiver span.
	// Per other event: host, publish, dispatch, deliver, attempt, receiver.
	const want = 3*(5+2*1+2*4) + 2*6
	if len(spans) != want {
		t.Errorf("collector got %d spans, want %d", len(spans), want)
	}
	names := map[string]int{}
	for _, sp := range spans {
		names[sp.Name]++
		if id := hex.EncodeToString(sp.TraceId); !traces[id] {
			t.Errorf("span %q in trace %s, which was not printed", sp.Name, id)
		}
	}
	for name, n := range map[string]int{
		"publish meeting_status_changed":  3,
		"dispatch meeting_status_changed": 3,
		"deliver Legacy ERP (down)":       3,
		"POST /erp":                       12,
		"POST /crm":                       3,
	} {
		if names[name] != n {
			t.Errorf("%d spans named %q, want %d", names[name], name, n)
		}
	}
	if !strings.Contains(out.String(), "(0 failed)") {
		t.Errorf("output does not report the export:\n%s", &out)
	}
}
