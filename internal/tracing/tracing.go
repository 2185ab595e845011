// Package tracing starts OpenTelemetry spans without the cost of spans nobody
// can see.
//
// With no SDK installed, otel's global tracer still builds a non-recording
// span, a context holding it and an interface value per option: a few
// allocations per span that record nothing and, when the context carries no
// span context, propagate nothing either. A Tracer skips them in exactly that
// case and otherwise starts spans as usual, so an SDK installed later is
// picked up at the next span.
package tracing

import (
	"context"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracer starts spans with the tracer of a provider.
type Tracer struct {
	tracer trace.Tracer
	global bool // tp is otel's global provider, resolved at each span
	noop   bool // tp never records
}

// New returns a Tracer named name from tp; nil tp means otel's global
// provider.
func New(tp trace.TracerProvider, name string) Tracer {
	if tp == nil {
		return Tracer{tracer: otel.GetTracerProvider().Tracer(name), global: true}
	}
	_, isNoop := tp.(noop.TracerProvider)
	return Tracer{tracer: tp.Tracer(name), global: isUnsetGlobal(tp), noop: isNoop}
}

// Start starts a span as trace.Tracer.Start does. When the provider cannot
// record (no SDK installed globally, or a no-op provider) and ctx carries no
// span context to propagate, it returns ctx unchanged and a no-op span.
func (t Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if (t.noop || t.global && globalUnset()) && !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, noSpan
	}
	return t.tracer.Start(ctx, name, opts...)
}

// noSpan is the no-op span of a context without one.
var noSpan = trace.SpanFromContext(context.Background())

// defaultGlobal is otel's global provider as it was when this package was
// initialised, if that was still otel's own delegating default (no SDK set).
var defaultGlobal = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if isUnsetGlobal(tp) {
		return tp
	}
	return nil
}()

// isUnsetGlobal reports whether tp is otel's default global provider, which
// records nothing until an SDK provider is set.
func isUnsetGlobal(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// globalUnset reports whether no SDK provider has been set globally yet.
func globalUnset() bool {
	return defaultGlobal != nil && otel.GetTracerProvider() == defaultGlobal
}
