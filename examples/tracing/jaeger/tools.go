//go:build tools

// Package jaeger pins the Jaeger v2 all-in-one binary that
// examples/tracing/e2e.sh builds and runs as the trace backend. It lives in
// its own module because Jaeger requires OpenTelemetry versions older than
// hookbus's; nothing in hookbus imports it.
package jaeger

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
