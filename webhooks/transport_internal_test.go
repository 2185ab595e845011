package webhooks

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/http/httpguts"

	"github.com/hookbus/hookbus/internal/h1"
)

// renderFields renders h as sorted "Name: value\r\n" lines.
func renderFields(h http.Header) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range h[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	return b.String()
}

// TestFieldCarrierSetsAsHeaderSet checks, on random fields and keys, that
// setting a field through fieldCarrier gives the lines a header would hold
// after Header.Set, or fails where the field cannot be written as it is.
func TestFieldCarrierSetsAsHeaderSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	names := []string{"Content-Type", "Traceparent", "Tracestate", "Baggage", "Webhook-Id", "X-A", "A", "Zz", "X-Webhook-Event"}
	keys := []string{"traceparent", "TRACESTATE", "baggage", "x-a", "a", "zz", "Zz", "uber-trace-id", "X-B3-TraceId",
		"content-type", "host", "User-Agent", "connection", "bad key", "", "\u00e9t\u00e9"}
	values := []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "v", "", " padded", "a\r\nb", "k=v,k2=v2"}
	for i := range 5000 {
		h := http.Header{}
		for range rng.IntN(6) {
			h.Set(names[rng.IntN(len(names))], values[rng.IntN(2)]+"x")
		}
		before := renderFields(h)
		st := &sendState{Context: context.Background()}
		st.fields = append(st.fieldsBuf[:0], before...)
		if rng.IntN(4) == 0 {
			st.fields = append([]byte(nil), before...) // no room to grow in place
		}
		key, value := keys[rng.IntN(len(keys))], values[rng.IntN(len(values))]
		(*fieldCarrier)(st).Set(key, value)

		canon := http.CanonicalHeaderKey(key)
		writable := key != "" && !strings.ContainsAny(key, " \u00e9") && value == strings.TrimSpace(value) && !strings.Contains(value, "\r") &&
			!slices.Contains([]string{"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection"}, canon)
		if st.injectFailed != !writable {
			t.Fatalf("case %d: Set(%q, %q) failed: %t, want %t", i, key, value, st.injectFailed, !writable)
		}
		if !writable {
			if string(st.fields) != before {
				t.Fatalf("case %d: a failed Set(%q, %q) changed the fields:\n%q\nto\n%q", i, key, value, before, st.fields)
			}
			continue
		}
		h.Set(key, value)
		if got, want := string(st.fields), renderFields(h); got != want {
			t.Fatalf("case %d: Set(%q, %q) on\n%q\ngave\n%q\nwant\n%q", i, key, value, before, got, want)
		}
	}
}

// TestTraceContextAmongFields checks that an attempt whose fields h1 writes
// from its send state gets its trace context among them, with no copy of
// the request, and keeps the copy with a header otherwise.
func TestTraceContextAmongFields(t *testing.T) {
	at := &attemptTransport{prop: propagation.TraceContext{}}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	want := "Traceparent: 00-01000000000000000000000000000000-0200000000000000-01\r\n"

	st := &sendState{Context: context.Background()}
	st.fields = append(st.fieldsBuf[:0], "Content-Type: application/json\r\nWebhook-Id: evt_1\r\n"...)
	r := (&http.Request{Header: noHeader}).WithContext(st)
	got, copied := at.inject(ctx, r)
	if copied || got != r || len(noHeader) != 0 {
		t.Fatalf("with fields in the state: copied %t, same request %t, shared header %v", copied, got == r, noHeader)
	}
	if f := string(st.fields); f != "Content-Type: application/json\r\n"+want+"Webhook-Id: evt_1\r\n" {
		t.Errorf("fields %q", f)
	}
	if fs, _ := r.Context().Value(h1.FieldsKey{}).(h1.Fields); fs == nil || !bytes.Contains(fs.Lines(), []byte(want)) {
		t.Errorf("h1 does not see the trace context among the fields")
	}

	// After an injection that could not go among the fields, the next
	// attempt's can.
	bad := &attemptTransport{prop: setPropagator{"tracestate": " padded "}}
	if _, copied := bad.inject(ctx, r); !copied {
		t.Error("a value net/http would trim went among the fields")
	}
	if _, copied := at.inject(ctx, r); copied {
		t.Error("an injection after a failed one copied the request")
	}

	plain := (&http.Request{Header: http.Header{}}).WithContext(&sendState{Context: context.Background()})
	got, copied = at.inject(ctx, plain)
	if !copied || got == plain || len(plain.Header) != 0 || got.Header.Get("Traceparent") == "" {
		t.Errorf("without fields in the state: copied %t, caller's header %v, copy's %v", copied, plain.Header, got.Header)
	}
}

// TestCanonicalFieldNameMatchesNetHTTP checks canonicalFieldName against
// http.CanonicalHeaderKey on random names, and that it refuses the names
// h1 does not take among a request's fields.
func TestCanonicalFieldNameMatchesNetHTTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ-_09.!~*'|^`#$%&+ :\x80"
	reserved := []string{"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection"}
	keys := []string{"content-length", "TRANSFER-ENCODING", "trailer", "HOST", "user-agent", "connection", "x-b3-traceid", "uberctx-k_v", "a1b-2c"}
	for range 100000 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	for _, key := range keys {
		got, ok := canonicalFieldName(nil, key)
		want := http.CanonicalHeaderKey(key)
		valid := httpguts.ValidHeaderFieldName(key) && !slices.Contains(reserved, want)
		if ok != valid || ok && string(got) != want {
			t.Fatalf("canonicalFieldName(%q) = %q, %t; want %q, %t", key, got, ok, want, valid)
		}
	}
}

// setPropagator injects its fields.
type setPropagator map[string]string

func (p setPropagator) Inject(_ context.Context, c propagation.TextMapCarrier) {
	for k, v := range p {
		c.Set(k, v)
	}
}

func (setPropagator) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}

func (setPropagator) Fields() []string { return nil }
